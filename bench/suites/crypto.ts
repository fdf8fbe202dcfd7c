/**
 * Bench suite `crypto`: the crypto core, operation by operation (issue 2 item 4, issue 9).
 *
 * - OPRF (RFC 9497 mode 0) Blind / BlindEvaluate / Finalize, for the two OPRFs the suites use.
 * - OPAQUE (RFC 9807) per suite of `SUITE_IDS`, KSF Identity: the three registration stages, the
 *   four login stages (KE1 = GenerateKE1, KE2 = GenerateKE2, KE3 = GenerateKE3, server finish =
 *   ServerFinish), and one whole login with the messages encoded and decoded as on the wire.
 * - The same whole ristretto255 login with Argon2id(t=1, m=8 KiB, p=1): the lightest KSF
 *   @serenity-kit/opaque accepts, so that peer comparison is like for like.
 * - Argon2id at ARGON2ID_DEFAULT (19 MiB, t=2), a few calls only.
 * - Noise NK (rev. 34): the whole handshake (both sides, software static key), and one transport
 *   round trip of 1 KiB, for AESGCM and ChaChaPoly.
 * - RFC 9162 Merkle proofs (the witness log, src/fleet/merkle.ts) over a log of 4096 entries:
 *   an inclusion proof made and verified, a consistency proof made and verified.
 * (Validation bundles: the `bundles` suite.)
 * @module
 */
import { type Bytes, type Rng, utf8 } from '../../src/crypto/bytes.ts';
import { ARGON2ID_DEFAULT, argon2idKsf, IDENTITY_KSF, type Ksf } from '../../src/crypto/ksf.ts';
import {
  initiatorFinish,
  initiatorStart,
  NOISE_NK_25519_AESGCM_SHA256,
  NOISE_NK_25519_CHACHAPOLY_SHA256,
  type NoiseSuite,
  responderReceive,
  responderRespond,
  x25519KeyFromPrivate,
} from '../../src/crypto/noise.ts';
import {
  clientFinishLogin,
  clientStartLogin,
  createRegistrationRequest,
  finalizeRegistrationRequest,
  type OpaqueParams,
} from '../../src/crypto/opaque-client.ts';
import {
  decodeKE1,
  decodeKE2,
  decodeKE3,
  decodeRegistrationRecord,
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  type RegistrationRecord,
} from '../../src/crypto/opaque-messages.ts';
import {
  createRegistrationResponse,
  type ServerKeys,
  serverFinishLogin,
  serverStartLogin,
  softwareServerKeys,
} from '../../src/crypto/opaque-server.ts';
import { getSuite, SUITE_IDS, type Suite, type SuiteId } from '../../src/crypto/suite.ts';
import { MerkleLog, verifyConsistency, verifyInclusion } from '../../src/fleet/merkle.ts';
import { type BenchSuite, type BenchTask, check, equalBytes } from '../harness.ts';

/** The lightest Argon2id the Rust `argon2` crate (hence @serenity-kit/opaque) accepts: m >= 8p KiB. */
export const ARGON2ID_MIN = Object.freeze({ t: 1, m: 8, p: 1 });

const PASSWORD = utf8('correct horse battery staple');
const CREDENTIAL_ID = utf8('alice@example');
const CONTEXT = utf8('bkv bench');

/** A registered credential: the server's keys, the record, and the parameters both sides share. */
export interface OpaqueFixture {
  readonly p: OpaqueParams;
  readonly keys: ServerKeys;
  readonly record: RegistrationRecord;
}

export function registerFixture(suite: Suite, rng: Rng): OpaqueFixture {
  const p: OpaqueParams = { suite, context: CONTEXT };
  const kp = suite.group.deriveDiffieHellmanKeyPair(rng(suite.Nseed));
  const keys = softwareServerKeys(suite, {
    serverPrivateKey: kp.privateKey,
    serverPublicKey: kp.publicKey,
    oprfSeed: rng(suite.Nh),
  });
  const req = createRegistrationRequest(p, PASSWORD, rng);
  const res = createRegistrationResponse(p, keys, req.request, CREDENTIAL_ID);
  const { record } = finalizeRegistrationRequest(p, req.state, res, {}, rng);
  return { p, keys, record };
}

/**
 * One whole login, messages encoded and decoded as on the wire, and the record read from its
 * stored encoding as a server reads it per login (the vault does, src/vault/node.ts); checks both
 * sides agree.
 */
export function wholeLogin(f: OpaqueFixture, rng: Rng): Bytes {
  const s = f.p.suite;
  const c1 = clientStartLogin(f.p, PASSWORD, rng);
  const ke1 = decodeKE1(s, encodeKE1(c1.ke1));
  const record = decodeRegistrationRecord(s, encodeRegistrationRecord(f.record));
  const s2 = serverStartLogin(f.p, f.keys, record, CREDENTIAL_ID, ke1, {}, rng);
  const ke2 = decodeKE2(s, encodeKE2(s2.ke2));
  const c3 = clientFinishLogin(f.p, c1.state, ke2, {});
  const serverKey = serverFinishLogin(s2.state, decodeKE3(s, encodeKE3(c3.ke3)));
  check(equalBytes(serverKey, c3.sessionKey), `${s.id}: client and server session keys differ`);
  return serverKey;
}

function oprfTasks(suite: Suite, rng: Rng): BenchTask[] {
  const o = suite.oprf;
  const key = o.deriveKeyPair(rng(32), utf8('bench')).privateKey;
  const blind = o.randomScalar(rng);
  const blinded = o.blind(PASSWORD, blind);
  const evaluated = o.blindEvaluate(key, blinded);
  const output = o.finalize(PASSWORD, blind, evaluated);
  // the OPRF is a function of the input: another blind must give the same output
  const blind2 = o.randomScalar(rng);
  check(
    equalBytes(o.finalize(PASSWORD, blind2, o.blindEvaluate(key, o.blind(PASSWORD, blind2))), output),
    `${o.name}: OPRF output depends on the blind`,
  );
  const id = `crypto/oprf/${o.name}`;
  return [
    {
      id: `${id}/blind`,
      name: `OPRF ${o.name} Blind`,
      fn: () => check(o.blind(PASSWORD, o.randomScalar(rng)).length === o.Noe, 'blinded element size'),
    },
    {
      id: `${id}/blindEvaluate`,
      name: `OPRF ${o.name} BlindEvaluate`,
      fn: () => check(equalBytes(o.blindEvaluate(key, blinded), evaluated), 'BlindEvaluate output'),
    },
    {
      id: `${id}/finalize`,
      name: `OPRF ${o.name} Finalize`,
      fn: () => check(equalBytes(o.finalize(PASSWORD, blind, evaluated), output), 'Finalize output'),
    },
  ];
}

function opaqueTasks(suiteId: SuiteId, ksf: Ksf, rng: Rng): BenchTask[] {
  const suite = getSuite(suiteId, ksf);
  const f = registerFixture(suite, rng);
  const id = `crypto/opaque/${suiteId}/${ksf.name}`;
  const tag = `${suiteId} ${ksf.name}`;
  const whole: BenchTask = {
    id: `${id}/login`,
    name: `OPAQUE ${tag} whole login (client + server, wire encoded)`,
    fn: () => wholeLogin(f, rng),
    note:
      'KE1, KE2, KE3 and ServerFinish, each message encoded and decoded (points validated), ' +
      'the record decoded from storage',
  };
  if (ksf !== IDENTITY_KSF) return [whole];
  // registration stages, on fixed inputs
  const req = createRegistrationRequest(f.p, PASSWORD, rng);
  const res = createRegistrationResponse(f.p, f.keys, req.request, CREDENTIAL_ID);
  // login stages, on fixed inputs (each stage is a pure function of its inputs and rng)
  const c1 = clientStartLogin(f.p, PASSWORD, rng);
  const s2 = serverStartLogin(f.p, f.keys, f.record, CREDENTIAL_ID, c1.ke1, {}, rng);
  const c3 = clientFinishLogin(f.p, c1.state, s2.ke2, {});
  return [
    {
      id: `${id}/registration/request`,
      name: `OPAQUE ${tag} CreateRegistrationRequest`,
      fn: () => createRegistrationRequest(f.p, PASSWORD, rng),
    },
    {
      id: `${id}/registration/response`,
      name: `OPAQUE ${tag} CreateRegistrationResponse`,
      fn: () =>
        check(
          equalBytes(
            createRegistrationResponse(f.p, f.keys, req.request, CREDENTIAL_ID).evaluatedMessage,
            res.evaluatedMessage,
          ),
          'registration response',
        ),
    },
    {
      id: `${id}/registration/finalize`,
      name: `OPAQUE ${tag} FinalizeRegistrationRequest`,
      fn: () => finalizeRegistrationRequest(f.p, req.state, res, {}, rng),
    },
    { id: `${id}/login/ke1`, name: `OPAQUE ${tag} KE1 (client start)`, fn: () => clientStartLogin(f.p, PASSWORD, rng) },
    {
      id: `${id}/login/ke2`,
      name: `OPAQUE ${tag} KE2 (server start)`,
      fn: () => serverStartLogin(f.p, f.keys, f.record, CREDENTIAL_ID, c1.ke1, {}, rng),
    },
    {
      id: `${id}/login/ke3`,
      name: `OPAQUE ${tag} KE3 (client finish)`,
      fn: () =>
        check(
          equalBytes(clientFinishLogin(f.p, c1.state, s2.ke2, {}).sessionKey, s2.state.sessionKey),
          'client session key',
        ),
    },
    {
      id: `${id}/login/serverFinish`,
      name: `OPAQUE ${tag} ServerFinish`,
      fn: () => check(equalBytes(serverFinishLogin(s2.state, c3.ke3), c3.sessionKey), 'server session key'),
    },
    whole,
  ];
}

function noiseTasks(noise: NoiseSuite, rng: Rng): BenchTask[] {
  const responderStatic = x25519KeyFromPrivate(rng(32));
  const prologue = utf8('bkv/1');
  const handshake = () => {
    const m1 = initiatorStart(noise, { responderStatic: responderStatic.publicKey, prologue, rng });
    const r1 = responderReceive(noise, { staticKey: responderStatic, prologue, message: m1.message });
    const r2 = responderRespond(r1.state, { rng });
    const i2 = initiatorFinish(m1.state, r2.message);
    check(equalBytes(i2.transport.handshakeHash, r2.transport.handshakeHash), 'handshake hashes differ');
    return { initiator: i2.transport, responder: r2.transport };
  };
  const { initiator, responder } = handshake();
  const payload = rng(1024);
  return [
    {
      id: `crypto/noise/${noise.protocolName}/handshake`,
      name: `${noise.protocolName} handshake (both sides)`,
      fn: handshake,
    },
    {
      id: `crypto/noise/${noise.protocolName}/transport-1KiB`,
      name: `${noise.protocolName} transport 1 KiB (send + receive)`,
      fn: () =>
        check(equalBytes(responder.receive(initiator.send(payload).message).payload, payload), 'transport payload'),
    },
  ];
}

const MERKLE_LOG_SIZE = 4096;

function merkleTasks(rng: Rng): BenchTask[] {
  const log = new MerkleLog();
  for (let i = 0; i < MERKLE_LOG_SIZE; i++) log.append(rng(64));
  const root = log.getRoot();
  const index = 2741;
  const leaf = log.getLeafHash(index);
  const first = 1000;
  const firstRoot = log.getRoot(first);
  // the verifiers throw VaultError on a proof that does not prove: they are the self-check
  return [
    {
      id: `crypto/merkle/inclusion-${MERKLE_LOG_SIZE}`,
      name: `RFC 9162 inclusion proof, log of ${MERKLE_LOG_SIZE}: make + verify`,
      fn: () => verifyInclusion(leaf, index, MERKLE_LOG_SIZE, log.getInclusionProof(index), root),
    },
    {
      id: `crypto/merkle/consistency-${first}-${MERKLE_LOG_SIZE}`,
      name: `RFC 9162 consistency proof ${first} -> ${MERKLE_LOG_SIZE}: make + verify`,
      fn: () => verifyConsistency(first, MERKLE_LOG_SIZE, log.getConsistencyProof(first), firstRoot, root),
    },
  ];
}

export const cryptoSuite: BenchSuite = {
  id: 'crypto',
  title: 'crypto core (OPRF, OPAQUE per suite, KSF, Noise NK)',
  async open(ctx) {
    const rng = ctx.rngFor('crypto');
    const argon = argon2idKsf(ARGON2ID_DEFAULT);
    const argonMin = argon2idKsf(ARGON2ID_MIN);
    const oprfInput = rng(64);
    const tasks: BenchTask[] = [
      ...oprfTasks(getSuite('ristretto255-SHA512'), rng),
      ...oprfTasks(getSuite('P256-SHA256'), rng),
      ...SUITE_IDS.flatMap((id) => opaqueTasks(id, IDENTITY_KSF, rng)),
      ...opaqueTasks('ristretto255-SHA512', argonMin, rng),
      {
        id: `crypto/ksf/${argonMin.name}`,
        name: `KSF ${argonMin.name} (Nh = 64)`,
        fn: () => check(argonMin.stretch(oprfInput, 64).length === 64, 'Argon2id output length'),
      },
      {
        id: `crypto/ksf/${argon.name}`,
        name: `KSF ${argon.name} (Nh = 64), default parameters`,
        fn: () => check(argon.stretch(oprfInput, 64).length === 64, 'Argon2id output length'),
        iterations: 3,
        time: 0,
        note: 'a few calls only: 19 MiB of memory, t = 2 (the Rust argon2 crate default, opaque-ke with Ksf = Argon2)',
      },
      ...noiseTasks(NOISE_NK_25519_AESGCM_SHA256, rng),
      ...noiseTasks(NOISE_NK_25519_CHACHAPOLY_SHA256, rng),
      ...merkleTasks(rng),
    ];
    return {
      tasks,
      info: { suites: SUITE_IDS, argon2idDefault: ARGON2ID_DEFAULT, argon2idMin: ARGON2ID_MIN },
      dispose: () => {},
    };
  },
};
