/**
 * `bkv demo`: the single-replica story (spec ch. 1), on the memory HSM or on a SoftHSM token in a
 * private token directory. Create the vault, register K under a password, encrypt a backup, three
 * wrong passwords (tries remaining shown), the right one recovers K and decrypts the backup, then
 * the budget is exhausted and K is shown to be gone.
 * @module
 */
import { toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng, systemRng } from '../crypto/rng.ts';
import { getSuite } from '../crypto/suite.ts';
import { BkvClient, backupKeyToDigits, decryptBackup, encryptBackup, generateBackupKey } from '../client/client.ts';
import { directRelay } from '../client/relay.ts';
import { type Outcome, describeOutcome } from '../client/session.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { createSingleReplicaVault } from '../vault/setup.ts';

export interface DemoOptions {
  readonly hsm: 'memory' | 'softhsm';
  readonly seed?: string;
  readonly print: (line: string) => void;
}

export async function demo(o: DemoOptions): Promise<number> {
  const { print } = o;
  const rng = o.seed !== undefined ? seededRng(o.seed) : systemRng;
  let hsm: Hsm;
  let dispose = () => {};
  // PKCS#11 has no ristretto255: a SoftHSM vault runs the ristretto255 OPRF with a Curve25519 3DH
  const suite = getSuite(o.hsm === 'softhsm' ? 'ristretto255-SHA512+Curve25519' : 'ristretto255-SHA512');
  if (o.hsm === 'softhsm') {
    const { createPrivateTokens } = await import('../hsm/private-tokens.ts');
    const tokens = createPrivateTokens(['bkv-demo']);
    print(`SoftHSM: private token directory ${tokens.dir}`);
    try {
      hsm = tokens.open('bkv-demo');
    } catch (e) {
      tokens.dispose(); // a failed start leaves no directory behind
      throw e;
    }
    dispose = () => {
      hsm.close();
      tokens.dispose();
    };
  } else {
    hsm = MemoryHsm.create('bkv-demo', rng);
  }
  try {
    const t0 = performance.now();
    const { vault, client: ctx, config } = createSingleReplicaVault(hsm, rng, () => Date.now(), { suite });
    print(
      `1. The vault: one HSM replica (${hsm.backend}), suite ${suite.id}, channel Noise ${config.noise.protocolName}`,
    );
    print(
      `   keys generated inside the HSM; the client pins the channel key ${toHex(ctx.channelKey).slice(0, 16)}… ` +
        `and the OPAQUE server key ${toHex(ctx.opaqueServerKey).slice(0, 16)}…`,
    );
    const relay = directRelay((f) => vault.deliver(f));
    const client = new BkvClient(ctx, relay, rng);
    const user = utf8('alice@example');
    const password = utf8('correct horse battery staple');

    const K = generateBackupKey(rng);
    print(`2. The device generates the backup key K (its 64-digit form: ${backupKeyToDigits(K)})`);
    const reg = await client.register(user, password, K);
    print(`   register K under the password, guess limit 10: ${describeOutcome(reg)}`);
    const backup = utf8('chat history: "see you at 8"');
    const encrypted = encryptBackup(K, backup, rng);
    print(`3. The backup is encrypted under K: ${encrypted.length} bytes, ${toHex(encrypted).slice(0, 32)}…`);

    print('4. A new phone: the user types three wrong passwords');
    for (const wrong of ['123456', 'password', 'correct horse']) {
      print(`   "${wrong}": ${describeOutcome(await client.recover(user, utf8(wrong)))}`);
    }
    const right = await client.recover(user, password);
    print(`5. The right password: ${describeOutcome(right)}`);
    if (!right.ok) return 1;
    print(`   K recovered: ${toHex(right.value) === toHex(K) ? 'identical to the original' : 'DIFFERENT (bug)'}`);
    print(`   the backup decrypts: ${new TextDecoder().decode(decryptBackup(right.value, encrypted))}`);
    print('   (a successful recovery resets the attempts to 0)');

    print('6. An attacker tries passwords until the budget is spent');
    let last: Outcome<unknown> | undefined;
    for (let i = 1; i <= 11; i++) {
      last = await client.recover(user, utf8(`guess-${i}`));
      print(`   guess ${String(i).padStart(2)}: ${describeOutcome(last)}`);
    }
    const after = await client.recover(user, password);
    print(`7. Even the right password now: ${describeOutcome(after)}`);
    const record = vault.state.records[toHex(user)];
    print(
      `   the record is ${record?.status}: ` +
        `OPAQUE record ${record?.registrationRecord === null ? 'erased' : 'present'}, ` +
        `sealed K ${record?.sealedPayload === null ? 'erased' : 'present'}`,
    );
    print(`done in ${(performance.now() - t0).toFixed(0)} ms`);
    return !after.ok && after.kind === 'Locked' && last && !last.ok ? 0 : 1;
  } finally {
    dispose();
  }
}
