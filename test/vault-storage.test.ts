/**
 * The replica's keys and durable state (spec ch. 4 "The vault's keys", ch. 5 "Restarts and host
 * storage"), on both HSM backends, SoftHSM on token `bkv-4`: the vault's private keys are
 * generated inside the HSM and report local, never-extractable and sensitive; records survive a
 * restart of the replica (a new HSM handle over the same token, and on SoftHSM a C_Finalize /
 * C_Initialize of the PKCS#11 module in between, as a process restart does) and the sealed host
 * storage; a host that rolls its storage back, empties it, alters it or swaps in another
 * replica's is refused; a guess is in sealed storage before its KE2 leaves (G1 at one replica).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { utf8 } from '../src/crypto/bytes.ts';
import { generateBackupKey } from '../src/client/client.ts';
import { onRecoverResponse, startRecovery } from '../src/client/session.ts';
import { finalizeSoftHsm } from '../src/hsm/softhsm.ts';
import type { Durable } from '../src/replication/raft.ts';
import { type Command, type VaultState, EMPTY_VAULT, applyCommand, encodeVaultState } from '../src/vault/records.ts';
import { SingleReplicaVault } from '../src/vault/single.ts';
import { loadSealed, MemoryHostStorage } from '../src/vault/storage.ts';
import { hsmView } from '../src/hsm/hsm.ts';
import { ALICE, BACKENDS, type Backend, codeOf, TTL_MS, VaultWorld } from './support/vault-world.ts';

const PASSWORD = utf8('correct horse battery staple');

describe.each(BACKENDS)('keys and durable state: $name', ({ make }) => {
  let backend: Backend;
  const worlds: VaultWorld[] = [];
  beforeAll(() => void (backend = make()));
  afterAll(() => {
    for (const w of worlds) w.dispose();
    backend.teardown();
  });
  const world = async (name: string, limit = 10) => {
    const w = new VaultWorld({ backend, token: 'bkv-4', seed: `vault-storage ${backend.name} ${name}` });
    worlds.push(w);
    const K = generateBackupKey(w.rng);
    expect((await w.client.register(ALICE, PASSWORD, K, limit)).ok).toBe(true);
    return { w, K };
  };
  /**
   * A new HSM handle on the same token; on SoftHSM, after a C_Finalize of the PKCS#11 module (what a process restart
   * does).
   */
  const reopenHsm = (w: VaultWorld) => {
    w.hsm.close();
    if (backend.name === 'softhsm') finalizeSoftHsm();
    w.reopenHsm();
  };
  /** A restart of the replica: a new HSM handle, and the vault reopened from host storage. */
  const restart = (w: VaultWorld) => {
    reopenHsm(w);
    w.restart();
  };

  test("the vault's private keys were generated inside the HSM: local, never extractable, sensitive", async () => {
    const { w } = await world('keys');
    const { identity, seal, channel, opaqueServer, oprfSeed } = w.config.labels;
    for (const label of [identity, seal, channel, opaqueServer, oprfSeed]) {
      expect(w.hsm.keyInfo(label), label).toMatchObject({
        local: true,
        neverExtractable: true,
        extractable: false,
        sensitive: true,
      });
    }
    expect(w.hsm.keyInfo(identity).kind).toBe('ed25519');
    expect(w.hsm.keyInfo(seal).kind).toBe('aes256gcm');
    // the host's blob is sealed: neither the record nor the credential id is readable in it
    const blob = Buffer.from(w.storage.load()!).toString('latin1');
    expect(blob).not.toContain(Buffer.from(ALICE).toString('hex'));
    expect(blob).not.toContain('attemptsUsed');
  });

  test('records, attempts and pending sessions survive a restart of the replica', async () => {
    const { w, K } = await world('restart');
    expect(await w.client.recover(ALICE, utf8('wrong 1'))).toMatchObject({ triesRemaining: 9 });
    const abandoned = startRecovery(w.ctx, ALICE, PASSWORD, w.rng);
    await w.relay.exchange(abandoned.frame);
    const before = encodeVaultState(w.vault.state);
    expect(w.record()).toMatchObject({ attemptsUsed: 2 });
    expect(Object.keys(w.record()!.pending)).toHaveLength(1);

    restart(w);
    // the restarted replica leads anew: the session opened before the restart, whose channel was
    // volatile, can never finish, so it ends at once, its guess still spent; the rest is as it was
    const ended = JSON.parse(before) as VaultState;
    for (const r of Object.values(ended.records)) Object.assign(r, { pending: {} });
    expect(encodeVaultState(w.vault.state)).toBe(encodeVaultState(ended));
    expect(w.vault.node.channels.size).toBe(0);
    // the budget goes on where it was
    expect(await w.client.recover(ALICE, utf8('wrong 2'))).toMatchObject({ triesRemaining: 7 });
    w.expire(TTL_MS);
    expect(w.record()).toMatchObject({ attemptsUsed: 3, pending: {} });

    restart(w);
    const r = await w.client.recover(ALICE, PASSWORD);
    expect(r.ok && Buffer.from(r.value).equals(Buffer.from(K))).toBe(true);
    expect(w.record()).toMatchObject({ attemptsUsed: 0 });
  });

  test('an Exhausted record stays erased across restarts', async () => {
    const { w } = await world('exhausted', 2);
    for (const i of [1, 2]) await w.client.recover(ALICE, utf8(`wrong ${i}`));
    expect(w.record()).toMatchObject({ status: 'Exhausted', registrationRecord: null, sealedPayload: null });
    restart(w);
    expect(w.record()).toMatchObject({ status: 'Exhausted', registrationRecord: null, sealedPayload: null });
    expect(await w.client.recover(ALICE, PASSWORD)).toEqual({ ok: false, kind: 'Locked' });
  });

  test(
    'a rolled-back, emptied, altered or foreign host ' + 'storage is refused (StaleState, SealBroken), for good',
    async () => {
      const open = (w: VaultWorld, storage = w.storage) =>
        SingleReplicaVault.open({ hsm: w.hsm, config: w.config, storage, rng: w.rng, clock: () => w.now });
      const guessed = async (name: string) => {
        const { w } = await world(name, 3);
        await w.client.recover(ALICE, utf8('wrong 1'));
        await w.client.recover(ALICE, utf8('wrong 2'));
        expect(w.record()).toMatchObject({ attemptsUsed: 2 });
        reopenHsm(w);
        return w;
      };
      // the host rolls back one commit (to before the last abort) and restarts the replica: refused
      const back1 = await guessed('rollback 1');
      back1.storage.rollback(1);
      expect(codeOf(() => open(back1))).toBe('StaleState');
      // a fleet of one cannot catch up: it stays refused, even when the host gives the latest blob back
      back1.storage.present(back1.storage.history.length - 2);
      expect(codeOf(() => open(back1))).toBe('StaleState');
      // rolled back to before the wrong guesses: refused
      const back2 = await guessed('rollback 2');
      back2.storage.rollback(back2.storage.history.length - 2);
      expect(codeOf(() => open(back2))).toBe('StaleState');
      // emptied: refused (the anchor says there was state)
      const emptied = await guessed('emptied');
      expect(codeOf(() => open(emptied, new MemoryHostStorage()))).toBe('StaleState');
      // altered: refused
      const altered = await guessed('altered');
      const last = altered.storage.load()!.slice();
      last[last.length - 5]! ^= 1;
      altered.storage.save(last);
      expect(codeOf(() => open(altered))).toBe('SealBroken');
      // another replica's storage (sealed under another key): refused
      const foreign = await guessed('foreign');
      const { w: other } = await world('rollback other');
      expect(codeOf(() => open(foreign, other.storage))).toBe('SealBroken');
    },
  );

  test(
    'a crash between the save and the anchor: the blob one ' +
      'ahead of the anchor is taken, and the anchor catches up',
    async () => {
      const { w } = await world('crash window');
      // the host kills the replica right after the blob of the next save is written, before the anchor moves
      let dying = false;
      const crashing = hsmView(w.hsm, {
        advanceCounter: (name, value) => {
          if (dying) throw new Error('crash before the anchor moved');
          w.hsm.advanceCounter(name, value);
        },
      });
      w.vault = SingleReplicaVault.open({
        hsm: crashing,
        config: w.config,
        storage: w.storage,
        rng: w.rng,
        clock: () => w.now,
      });
      dying = true;
      const { frame } = startRecovery(w.ctx, ALICE, utf8('wrong'), w.rng);
      const before = w.storage.history.length;
      expect(() => w.vault.deliver(frame)).toThrow('crash before the anchor moved');
      // no KE2 left; the guess is in the saved blob (one ahead of the anchor), which the restarted replica takes
      expect(w.storage.history.length).toBe(before + 1);
      restart(w);
      expect(w.record()).toMatchObject({ attemptsUsed: 1 });
      w.storage.present(before - 1); // the blob the anchor named before the crash: now behind it
      expect(
        codeOf(() =>
          SingleReplicaVault.open({ hsm: w.hsm, config: w.config, storage: w.storage, rng: w.rng, clock: () => w.now }),
        ),
      ).toBe('StaleState');
    },
  );

  test(
    'G1 at one replica (INV-3 with N = 1): when a KE2 leaves, ' + 'its guess is already in sealed host storage',
    async () => {
      const { w } = await world('G1');
      const { frame, session } = startRecovery(w.ctx, ALICE, PASSWORD, w.rng);
      const [ke2] = w.deliver(frame);
      const sealed = loadSealed<Durable<Command>>(w.hsm, w.config.labels.seal, w.storage)!.state;
      const guess = sealed.log.at(-1)?.command;
      expect(guess).toMatchObject({ type: 'ConsumeGuess', credentialId: Buffer.from(ALICE).toString('hex') });
      // the sealed log applies to the record the replica holds: the guess spent, its session pending
      let records = EMPTY_VAULT;
      for (const e of sealed.log) if (e.command !== null) records = applyCommand(records, e.command).state;
      expect(records.records[Buffer.from(ALICE).toString('hex')]).toMatchObject({ attemptsUsed: 1 });
      expect(Object.keys(records.records[Buffer.from(ALICE).toString('hex')]!.pending)).toHaveLength(1);
      expect('frame' in onRecoverResponse(w.ctx, session, ke2!)).toBe(true);
    },
  );
});
