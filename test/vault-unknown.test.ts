/**
 * Unknown credentials (spec ch. 5 "Unknown credentials"; RFC 9807 §6.3.2.2, §10.9), on both HSM
 * backends: the vault answers a KE1 for a credential it has no record of with a fake KE2 built from
 * a fake record derived from the OPRF seed. Without the password, a probe of an unknown credential
 * looks like a wrong password against a record with the default limit: the same frames with the
 * same sizes, the same client outcomes and tries, one commit each, and repeated probes of one
 * identifier are consistent with each other.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Bytes, toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { clientStartLogin } from '../src/crypto/opaque-client.ts';
import { decodeKE2, encodeKE1 } from '../src/crypto/opaque-messages.ts';
import { generateBackupKey } from '../src/client/client.ts';
import { fakeRecordSecrets, hsmServerKeys } from '../src/vault/keys.ts';
import { DEFAULT_GUESS_LIMIT } from '../src/vault/records.ts';
import { encodeRequest, type Frame } from '../src/vault/protocol.ts';
import { brokenRules } from '../src/broken/catalog.ts';
import {
  ALICE,
  BACKENDS,
  type Backend,
  handshake1,
  memoryBackend,
  readHandshake2,
  readTransport,
  VaultWorld,
} from './support/vault-world.ts';

const MALLORY = utf8('mallory@examp'); // as long as ALICE: the id travels in KE1
const PASSWORD = utf8('correct horse battery staple');

/** Kind and size of every frame of `run`, both ways, as the relay sees them. */
async function transcriptShape(world: VaultWorld, run: () => Promise<unknown>): Promise<string[]> {
  const from = world.log.length;
  await run();
  return world.log.slice(from).map((f: Frame) => `${f.kind}:${f.bytes.length}`);
}

/**
 * `guesses` wrong passwords against the record `realId` and the unknown `fakeId`, side by side:
 * what differs between the two (client outcome, frames as the relay sees them, sealed commits).
 */
async function probeDifferences(world: VaultWorld, realId: Bytes, fakeId: Bytes, guesses: number): Promise<string[]> {
  const differences: string[] = [];
  for (let i = 1; i <= guesses; i++) {
    const wrong = utf8(`guess ${i}`);
    const probe = async (id: Bytes) => {
      const saves = world.storage.history.length;
      let outcome: unknown;
      const shape = await transcriptShape(world, async () => (outcome = await world.client.recover(id, wrong)));
      return { outcome, shape, saves: world.storage.history.length - saves };
    };
    const real = await probe(realId);
    const fake = await probe(fakeId);
    const expected =
      i <= DEFAULT_GUESS_LIMIT
        ? { ok: false, kind: 'WrongPassword', triesRemaining: DEFAULT_GUESS_LIMIT - i }
        : { ok: false, kind: 'Locked' };
    if (JSON.stringify(real.outcome) !== JSON.stringify(expected))
      differences.push(`guess ${i}: the record answered ${JSON.stringify(real.outcome)}`);
    if (JSON.stringify(fake.outcome) !== JSON.stringify(real.outcome))
      differences.push(`guess ${i}: outcome ${JSON.stringify(fake.outcome)} vs ${JSON.stringify(real.outcome)}`);
    if (fake.shape.join() !== real.shape.join())
      differences.push(`guess ${i}: frames ${fake.shape.join()} vs ${real.shape.join()}`);
    // each commit is sealed to host storage, refused or not: a fake KE2 leaves after the same work
    if (fake.saves !== real.saves) differences.push(`guess ${i}: ${fake.saves} sealed commits vs ${real.saves}`);
  }
  return differences;
}

describe.each(BACKENDS)('unknown credentials: $name', ({ make }) => {
  let backend: Backend;
  let world: VaultWorld;
  beforeAll(async () => {
    backend = make();
    world = new VaultWorld({ backend, token: 'bkv-3', seed: `vault-unknown ${backend.name}` });
    expect(ALICE.length).toBe(MALLORY.length);
    expect((await world.client.register(ALICE, PASSWORD, generateBackupKey(world.rng))).ok).toBe(true);
  });
  afterAll(() => {
    world.dispose();
    backend.teardown();
  });

  test(
    'a probe of an unknown id looks like a wrong password ' + 'against a default-limit record, until both are locked',
    async () => {
      expect(await probeDifferences(world, ALICE, MALLORY, 11)).toEqual([]);
      expect(world.record(ALICE)?.status).toBe('Exhausted');
      expect(world.record(MALLORY)).toBeUndefined();
    },
  );

  test(
    'repeated probes of one id are consistent: ' + 'the same OPRF evaluation, one guess each; another id differs',
    async () => {
      const probe = (id: Bytes, ke1Seed: string) => {
        // the same KE1 (same blind, same key share) each time, in a fresh Noise channel
        const { ke1 } = clientStartLogin(world.config.params, PASSWORD, seededRng(ke1Seed));
        const { frame, state } = handshake1(
          world,
          encodeRequest({ type: 'RecoverStart', credentialId: id, ke1: encodeKE1(ke1) }),
        );
        const [answer] = world.deliver(frame);
        const { response, transport } = readHandshake2(world, state, answer!);
        if (response.type !== 'RecoverResponse') throw new Error(`expected a KE2, got ${JSON.stringify(response)}`);
        // a KE3 of the right length but made up: refused as a wrong password is, with the same tries
        const ke3 = transport.send(
          encodeRequest({ type: 'RecoverFinish', ke3: new Uint8Array(world.config.params.suite.Nm) }),
        );
        const bad = readTransport(
          world,
          ke3.transport,
          world.deliver({ channel: frame.channel, kind: 'Transport', bytes: ke3.message })[0]!,
        ).response;
        expect(bad).toEqual({
          type: 'Error',
          code: 'ClientAuthenticationFailed',
          triesRemaining: response.triesRemaining,
        });
        return { tries: response.triesRemaining, ke2: decodeKE2(world.config.params.suite, response.ke2) };
      };
      const unknown = utf8('nobody@example');
      const p1 = probe(unknown, 'ke1 a');
      const p2 = probe(unknown, 'ke1 a');
      expect([p1.tries, p2.tries]).toEqual([9, 8]);
      expect(toHex(p2.ke2.credentialResponse.evaluatedMessage)).toBe(toHex(p1.ke2.credentialResponse.evaluatedMessage));
      expect(toHex(p2.ke2.credentialResponse.maskingNonce)).not.toBe(toHex(p1.ke2.credentialResponse.maskingNonce));
      // a registered id behaves the same way: deterministic OPRF per id, fresh nonces per KE2
      const bob = utf8('bob@example');
      expect((await world.client.register(bob, PASSWORD, generateBackupKey(world.rng))).ok).toBe(true);
      const r1 = probe(bob, 'ke1 a');
      const r2 = probe(bob, 'ke1 a');
      expect([r1.tries, r2.tries]).toEqual([9, 8]);
      expect(toHex(r2.ke2.credentialResponse.evaluatedMessage)).toBe(toHex(r1.ke2.credentialResponse.evaluatedMessage));
      // and another unknown id gets another evaluation
      expect(toHex(probe(utf8('nobody2@example'), 'ke1 a').ke2.credentialResponse.evaluatedMessage)).not.toBe(
        toHex(p1.ke2.credentialResponse.evaluatedMessage),
      );
    },
  );

  test('the fake record is a function of the OPRF seed and the id', () => {
    const keys = hsmServerKeys(world.hsm, world.config.labels);
    const suite = world.config.params.suite;
    const a = fakeRecordSecrets(suite, keys, MALLORY);
    expect(fakeRecordSecrets(suite, keys, MALLORY)).toEqual(a);
    const b = fakeRecordSecrets(suite, keys, ALICE);
    expect(toHex(b.clientPublicKey)).not.toBe(toHex(a.clientPublicKey));
    expect(toHex(b.maskingKey)).not.toBe(toHex(a.maskingKey));
    expect(a.maskingKey.length).toBe(suite.Nh);
  });

  test(
    'the fake tries are volatile: a restart starts them ' + 'again (documented limit of enumeration resistance)',
    async () => {
      const id = utf8('restart@example');
      expect(await world.client.recover(id, PASSWORD)).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 9 });
      world.restart();
      expect(await world.client.recover(id, PASSWORD)).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 9 });
    },
  );
});

describe('the side-by-side comparison catches a vault that gives unknown credentials away', () => {
  const backend = memoryBackend('ristretto255-SHA512+Curve25519');
  test.each(['fake-tries-constant', 'no-commit-for-unknown'])('%s', async (name) => {
    const world = new VaultWorld({ backend, seed: `vault-unknown broken ${name}`, rules: brokenRules(name) });
    expect((await world.client.register(ALICE, PASSWORD, generateBackupKey(world.rng))).ok).toBe(true);
    const differences = await probeDifferences(world, ALICE, MALLORY, 11);
    expect(differences.length).toBeGreaterThan(0);
    console.log(`[vault-unknown] "${name}" caught: ${differences[0]}`);
  });
});
