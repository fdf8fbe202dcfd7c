/**
 * Issue 15 §2: a client-controlled X25519 key that is of low order or not canonical (spec ch. 3,
 * "Element validation") is refused before any command is proposed, on one replica and in a fleet,
 * in the suite whose 3DH group is Curve25519 (`ristretto255-SHA512+Curve25519`):
 *
 * - a KE1 whose client_public_keyshare is u = 1 (order 4), u = p (a non-canonical 0), or an honest
 *   key with its top bit set: answered with `InvalidPoint`, no entry committed (nothing sealed,
 *   no log entry), no guess spent, and the same leader then serves an honest client;
 * - a RegistrationRecord whose client_public_key is such a key: refused at RegisterFinish with
 *   `InvalidPoint`, nothing committed, and the credential can then be registered honestly.
 *
 * At 6ee2d9d these keys passed the decoder (it refused only 32 zero bytes): u = 1 and u = p threw a
 * plain Error out of the apply of a committed ConsumeGuess (the leader's step), and the top-bit key
 * was served a KE2.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { numberToBytesLE } from '@noble/curves/utils.js';
import { type Bytes, toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import {
  clientStartLogin,
  createRegistrationRequest,
  finalizeRegistrationRequest,
} from '../src/crypto/opaque-client.ts';
import {
  decodeRegistrationResponse,
  encodeKE1,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
} from '../src/crypto/opaque-messages.ts';
import { BkvClient, type Relay } from '../src/client/client.ts';
import type { ClientContext } from '../src/client/session.ts';
import { MemoryHsm, MemoryToken } from '../src/hsm/memory.ts';
import { SimFleet } from '../src/sim/fleet.ts';
import { deployReplicatedFleet } from '../src/replication/provision.ts';
import { FleetRelay } from '../src/sim/relay.ts';
import { keyBytes } from '../src/sim/client.ts';
import { vaultConfig } from '../src/vault/setup.ts';
import { ALICE, memoryBackend, VaultWorld } from './support/vault-world.ts';
import { type Answer, refusal, WireChannel } from './support/wire-client.ts';

const SUITE = getSuite('ristretto255-SHA512+Curve25519');
const P = 2n ** 255n - 19n;
const PASSWORD = utf8('correct horse');
const CAROL = utf8('carol@example');

/** The bad client keys: each replaces an honest key (`honest`, from the client's own derivation). */
const BAD_KEYS: readonly { readonly name: string; readonly key: (honest: Bytes) => Bytes }[] = [
  { name: 'u = 1 (order 4)', key: () => numberToBytesLE(1n, 32) },
  { name: 'u = p (a non-canonical 0)', key: () => numberToBytesLE(P, 32) },
  {
    name: 'an honest key with its top bit set',
    key: (honest) => Uint8Array.from(honest, (b, i) => (i === 31 ? b | 0x80 : b)),
  },
];

/** What the vault shows of its durable progress: it must not move on a refusal. */
interface Vault {
  readonly ctx: ClientContext;
  readonly relay: Relay;
  readonly rng: () => (n: number) => Bytes;
  /** Sealed saves (one replica), or the leader's log length (fleet). */
  progress(): number;
  /** ALICE's attempts, on every replica (once every replica has applied what is committed). */
  attempts(): (number | undefined)[];
  /** Which replica serves (the fleet's leader); null for one replica. */
  server(): number | null;
}

function ke1With(ctx: ClientContext, rng: (n: number) => Bytes, key: (honest: Bytes) => Bytes): Bytes {
  const { ke1 } = clientStartLogin(ctx.params, PASSWORD, rng);
  const clientPublicKeyshare = key(ke1.authRequest.clientPublicKeyshare);
  return encodeKE1({ ...ke1, authRequest: { ...ke1.authRequest, clientPublicKeyshare } });
}

function expectRefused(answer: Answer, what: string): void {
  expect(refusal(answer), what).toBe('InvalidPoint');
}

/** The checks of issue 15 §2 on one vault (`make` builds it with ALICE registered). */
function lowOrderSuite(name: string, make: () => Promise<Vault & { dispose(): void }>) {
  describe(name, () => {
    let v: Vault & { dispose(): void };
    afterAll(() => v?.dispose());

    const ke1Title = 'a KE1 whose client keyshare is $name is refused before proposing; the same server serves next';
    test.each(BAD_KEYS)(ke1Title, async ({ name: what, key }) => {
      v ??= await make();
      const rng = v.rng();
      const [progress, attempts, server] = [v.progress(), v.attempts(), v.server()];
      const ke1 = ke1With(v.ctx, rng, key);
      const start = { type: 'RecoverStart', credentialId: ALICE, ke1 } as const;
      const { answer } = await WireChannel.open(v.ctx, v.relay, start, rng);
      expectRefused(answer, what);
      expect(v.progress(), 'nothing committed').toBe(progress);
      expect(v.attempts(), 'no guess spent').toEqual(attempts);
      expect(v.server(), 'the same server').toBe(server);
      const honest = await new BkvClient(v.ctx, v.relay, rng).recover(ALICE, PASSWORD);
      expect(honest.ok && toHex(honest.value)).toBe(toHex(keyBytes('K')));
      expect(v.server()).toBe(server);
    });

    const recordTitle = 'a RegistrationRecord whose client public key is $name is refused at RegisterFinish';
    test.each(BAD_KEYS)(recordTitle, async ({ name: what, key }) => {
      v ??= await make();
      const rng = v.rng();
      const progress = v.progress();
      const reg = createRegistrationRequest(v.ctx.params, PASSWORD, rng);
      const request = encodeRegistrationRequest(reg.request);
      const start = { type: 'RegisterStart', credentialId: CAROL, request } as const;
      const { channel, answer } = await WireChannel.open(v.ctx, v.relay, start, rng);
      if (answer.kind !== 'response' || answer.response.type !== 'RegisterResponse') {
        throw new Error(`RegisterStart: ${JSON.stringify(answer)}`);
      }
      const response = decodeRegistrationResponse(SUITE, answer.response.response);
      const { record } = finalizeRegistrationRequest(v.ctx.params, reg.state, response, {}, rng);
      const bad = encodeRegistrationRecord({ ...record, clientPublicKey: key(record.clientPublicKey) });
      const finish = { type: 'RegisterFinish', guessLimit: 5, record: bad, sealedPayload: new Uint8Array(60) } as const;
      expectRefused(await channel.send(finish), what);
      expect(v.progress(), 'nothing committed').toBe(progress);
      // the credential is still free: an honest registration of it, then its recovery
      const client = new BkvClient(v.ctx, v.relay, rng);
      expect((await client.register(CAROL, PASSWORD, keyBytes('K-carol'), 3)).ok).toBe(true);
      const back = await client.recover(CAROL, PASSWORD);
      expect(back.ok && toHex(back.value)).toBe(toHex(keyBytes('K-carol')));
    });
  });
}

lowOrderSuite('one replica (memory HSM)', async () => {
  const world = new VaultWorld({ backend: memoryBackend(SUITE.id), seed: 'low-order single' });
  expect((await world.client.register(ALICE, PASSWORD, keyBytes('K'), 10)).ok).toBe(true);
  let n = 0;
  return {
    ctx: world.ctx,
    relay: world.relay,
    rng: () => seededRng(`low-order single client ${n++}`),
    progress: () => world.storage.history.length,
    attempts: () => [world.record()?.attemptsUsed],
    server: () => null,
    dispose: () => world.dispose(),
  };
});

lowOrderSuite('a fleet of 3 (memory HSMs)', async () => {
  const rng = seededRng('low-order fleet keys');
  const tokens = Array.from({ length: 3 }, (_, i) => new MemoryToken(`low-order-${i}`));
  const hsms = tokens.map((t) => new MemoryHsm(t, rng));
  const { labels } = deployReplicatedFleet(hsms, SUITE, 'low-order', rng);
  const config = vaultConfig({ suite: SUITE, labels, sessionTtlMs: 3000 });
  const fleet = new SimFleet({ hsms, labels, config, seed: 'low-order fleet' });
  expect(fleet.runUntil(() => fleet.leader() !== null, 5000)).toBe(true);
  const relay = new FleetRelay(fleet);
  let n = 0;
  const client = new BkvClient(fleet.clientContext, relay, seededRng('low-order fleet owner'));
  expect((await client.register(ALICE, PASSWORD, keyBytes('K'), 10)).ok).toBe(true);
  fleet.runFor(200); // followers learn the commit index
  const leader = () => fleet.leader()!;
  return {
    ctx: fleet.clientContext,
    relay,
    rng: () => seededRng(`low-order fleet client ${n++}`),
    progress: () => fleet.replica(leader()).state!.raft.durable.log.length,
    attempts: () => {
      fleet.runFor(200); // every replica learns the commit index first
      return fleet.replicas().map((r) => r.state?.node.vault.records[toHex(ALICE)]?.attemptsUsed);
    },
    server: () => fleet.leader(),
    dispose: () => {},
  };
});
