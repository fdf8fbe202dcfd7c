/**
 * Bench suite `floor`: the group operations no implementation of one login can avoid, measured in
 * the same run, so that bkv's time can be read as a ratio over them (issue 9, "the floor").
 *
 * Counted from RFC 9807 (§6.2, §6.4.3-§6.4.4, §4.1 envelope Recover) and RFC 9497 (§3.3.1):
 *
 * | party  | step                              | operation                                   |
 * |--------|-----------------------------------|---------------------------------------------|
 * | client | Blind                             | HashToGroup(password); blind * H            |
 * | client | client keyshare                   | DeriveDiffieHellmanKeyPair: base mult        |
 * | server | BlindEvaluate                     | oprf_key * blinded                          |
 * | server | server keyshare                   | base mult                                   |
 * | server | 3DH (§6.4.4)                      | 3 mults (eskS*epkC, skS*epkC, eskS*pkC)      |
 * | client | Finalize                          | blind^-1 * evaluated (a scalar inversion)   |
 * | client | Recover (client key pair)         | base mult                                   |
 * | client | 3DH (§6.4.3)                      | 3 mults (eskC*epkS, eskC*pkS, skC*epkS)      |
 *
 * One login: 1 hash-to-group, 9 variable-base and 3 fixed-base multiplications, 1 inversion, and
 * 6 element decodes (`FLOOR_COUNTS`): RFC 9497 §3.3 and RFC 9807 §6.4 require every element a
 * party receives to be validated, and validating a ristretto255 or P-256 encoding is decoding it
 * (a square root); each is decoded once, and the decoded point serves every multiplication by it.
 * The server decodes blinded, epkC and pkC (read from the stored record), the client evaluated,
 * epkS and pkS (from the envelope). With the Curve25519 3DH, the 3 OPRF multiplications and 2
 * decodes stay on ristretto255 and the 9 AKE operations (6 DH, 3 public keys) are X25519, whose
 * decoding is free. A bkv recovery also opens a Noise NK channel: 6 X25519 more (initiator: e,
 * es, ee; responder: es, e, ee).
 *
 * Each floor task runs that data flow on real encodings (decode each received element once,
 * multiply, encode: what any wire protocol does), with nothing else (no hash, KDF, MAC, AEAD), and
 * checks that both sides computed the same shared values. It is measured with @noble/curves (bkv's own
 * group arithmetic) and with libsodium's ristretto255 and X25519 (wasm, libsodium-wrappers-sumo):
 * what a well-kept faster implementation of the same groups gives. The `server-side` rows time the
 * server's share only (4 variable + 1 fixed multiplications and 3 decodes, plus 3 X25519 with Noise).
 * @module
 */
import { ristretto255, ristretto255_hasher, x25519 } from '@noble/curves/ed25519.js';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { p256, p256_hasher } from '@noble/curves/nist.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { type Bytes, type Rng, utf8 } from '../../src/crypto/bytes.ts';
import { getSuite } from '../../src/crypto/suite.ts';
import { type BenchSuite, type BenchTask, check, equalBytes } from '../harness.ts';
import { installedVersion } from '../machine.ts';
import { registerFixture, wholeLogin } from './crypto.ts';

/** The unavoidable operations of one OPAQUE login and of the Noise NK channel around it. */
export const FLOOR_COUNTS = Object.freeze({
  login: { hashToGroup: 1, variableBase: 9, fixedBase: 3, inversion: 1, decode: 6 },
  loginServer: { hashToGroup: 0, variableBase: 4, fixedBase: 1, inversion: 0, decode: 3 },
  noiseNk: { x25519: 6, x25519Server: 3 },
});

/**
 * What a group's `decode` returns and its multiplications take: a noble point, decoded (and so
 * validated) once per received element; libsodium's API has no decoded form, so its elements stay
 * bytes, decoded inside each multiplication.
 */
type Element = unknown;

/** A Diffie-Hellman group: the 3DH group of a suite, X25519 for Noise, or the OPRF's group. */
interface Dh {
  readonly name: string;
  secret(rng: Rng): Bytes;
  /** secret * G, encoded */
  base(secret: Bytes): Bytes;
  /** A received element, decoded and validated (the one unavoidable decode of each). */
  decode(element: Bytes): Element;
  /** secret * element, encoded */
  dh(secret: Bytes, element: Element): Bytes;
}

/** A prime-order group as the OPRF uses it. */
interface Group extends Dh {
  hashToGroup(msg: Bytes): Element;
  invert(scalar: Bytes): Bytes;
  /** Whether `decode` is a separate step (noble) whose cost the unit tasks measure. */
  readonly decodesApart: boolean;
}

const DST_RISTRETTO = utf8('HashToGroup-OPRFV1-\x00-ristretto255-SHA512');
const DST_P256 = utf8('HashToGroup-OPRFV1-\x00-P256-SHA256');

type NoblePoint = InstanceType<typeof ristretto255.Point>;

function nobleGroup(
  name: string,
  P: typeof ristretto255.Point | typeof p256.Point,
  h2g: (msg: Bytes) => Element,
): Group {
  const Fn = P.Fn;
  const encode = (p: { toBytes(compressed?: boolean): Bytes }) => p.toBytes(true);
  return {
    name,
    hashToGroup: h2g,
    base: (k) => encode(P.BASE.multiply(Fn.fromBytes(k))),
    invert: (k) => Fn.toBytes(Fn.inv(Fn.fromBytes(k))),
    decode: (b) => (P as typeof ristretto255.Point).fromBytes(b),
    decodesApart: true,
    secret: (rng) => Fn.toBytes(Fn.create(bigFrom(rng(48)) + 1n)),
    dh: (k, e) => encode((e as NoblePoint).multiply(Fn.fromBytes(k))),
  };
}

function bigFrom(b: Bytes): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

const NOBLE_RISTRETTO = nobleGroup('ristretto255', ristretto255.Point, (m) =>
  ristretto255_hasher.hashToCurve(m, { DST: DST_RISTRETTO }),
);
const NOBLE_P256 = nobleGroup('P-256', p256.Point, (m) => p256_hasher.hashToCurve(m, { DST: DST_P256 }));
const asBytes = (e: Element) => e as Bytes;
const NOBLE_X25519: Dh = {
  name: 'X25519',
  secret: (rng) => rng(32),
  base: (k) => x25519.getPublicKey(k),
  decode: (b) => b,
  dh: (k, e) => x25519.getSharedSecret(k, asBytes(e)),
};

type Sodium = typeof import('libsodium-wrappers-sumo').default;

function sodiumGroups(sodium: Sodium): { ristretto: Group; x25519: Dh } {
  return {
    ristretto: {
      name: 'ristretto255',
      // RFC 9380 hash_to_ristretto255: expand_message_xmd (a hash, kept identical: noble's), then the one-way map
      hashToGroup: (m) => sodium.crypto_core_ristretto255_from_hash(expand_message_xmd(m, DST_RISTRETTO, 64, sha512)),
      base: (k) => sodium.crypto_scalarmult_ristretto255_base(k),
      invert: (k) => sodium.crypto_core_ristretto255_scalar_invert(k),
      decode: (b) => b,
      decodesApart: false,
      secret: (rng) => NOBLE_RISTRETTO.secret(rng),
      dh: (k, e) => sodium.crypto_scalarmult_ristretto255(k, asBytes(e)),
    },
    x25519: {
      name: 'X25519',
      secret: (rng) => rng(32),
      base: (k) => sodium.crypto_scalarmult_base(k),
      decode: (b) => b,
      dh: (k, e) => sodium.crypto_scalarmult(k, asBytes(e)),
    },
  };
}

/** The fixed inputs of a floor run: the password, the long-term keys, the per-login secrets. */
interface FloorFixture {
  readonly password: Bytes;
  readonly oprfKey: Bytes;
  readonly skS: Bytes;
  readonly pkS: Bytes;
  readonly skC: Bytes;
  readonly pkC: Bytes;
  readonly blind: Bytes;
  readonly eskC: Bytes;
  readonly eskS: Bytes;
  readonly noiseS: Bytes;
  readonly noiseSPub: Bytes;
  readonly noiseEC: Bytes;
  readonly noiseES: Bytes;
  /** oprfKey * HashToGroup(password), what Finalize must unblind to */
  readonly expectedUnblinded: Bytes;
}

function fixture(oprf: Group, ake: Dh, rng: Rng): FloorFixture {
  const password = utf8('correct horse battery staple');
  const oprfKey = oprf.secret(rng);
  const skS = ake.secret(rng);
  const skC = ake.secret(rng);
  const noiseS = NOBLE_X25519.secret(rng);
  return {
    password,
    oprfKey,
    skS,
    pkS: ake.base(skS),
    skC,
    pkC: ake.base(skC),
    blind: oprf.secret(rng),
    eskC: ake.secret(rng),
    eskS: ake.secret(rng),
    noiseS,
    noiseSPub: NOBLE_X25519.base(noiseS),
    noiseEC: NOBLE_X25519.secret(rng),
    noiseES: NOBLE_X25519.secret(rng),
    expectedUnblinded: oprf.dh(oprfKey, oprf.hashToGroup(password)),
  };
}

/**
 * One login's unavoidable group operations (and the Noise NK ones when `noise` is given), in
 * protocol order; checks both sides agree. Each party decodes each element it receives once: the
 * server the blinded element, the client's keyshare and the client's public key (read from the
 * stored record); the client the evaluated element, the server's keyshare and the server's public
 * key (from the envelope). Returns the milliseconds spent on the server's share.
 */
function floorLogin(oprf: Group, ake: Dh, noise: Dh | null, f: FloorFixture): number {
  // client: Noise message 1 (e, es) carrying KE1
  const noiseEC = noise?.base(f.noiseEC);
  const esC = noise?.dh(f.noiseEC, noise.decode(f.noiseSPub));
  const blinded = oprf.dh(f.blind, oprf.hashToGroup(f.password));
  const epkC = ake.base(f.eskC);
  // server: Noise es, e, ee; BlindEvaluate; keyshare; 3DH
  const t = performance.now();
  const noiseECs = noise?.decode(noiseEC!);
  const esS = noise?.dh(f.noiseS, noiseECs);
  const noiseES = noise?.base(f.noiseES);
  const eeS = noise?.dh(f.noiseES, noiseECs);
  const evaluated = oprf.dh(f.oprfKey, oprf.decode(blinded));
  const epkS = ake.base(f.eskS);
  const [epkCs, pkCs] = [ake.decode(epkC), ake.decode(f.pkC)];
  const s1 = ake.dh(f.eskS, epkCs);
  const s2 = ake.dh(f.skS, epkCs);
  const s3 = ake.dh(f.eskS, pkCs);
  const serverMs = performance.now() - t;
  // client: Noise ee; Finalize; Recover's key pair; 3DH
  const eeC = noise?.dh(f.noiseEC, noise.decode(noiseES!));
  const unblinded = oprf.dh(oprf.invert(f.blind), oprf.decode(evaluated));
  const pkC = ake.base(f.skC);
  const [epkSc, pkSc] = [ake.decode(epkS), ake.decode(f.pkS)];
  const c1 = ake.dh(f.eskC, epkSc);
  const c2 = ake.dh(f.eskC, pkSc);
  const c3 = ake.dh(f.skC, epkSc);
  check(
    equalBytes(unblinded, f.expectedUnblinded),
    `floor ${oprf.name}: unblinded element is not oprfKey * H(password)`,
  );
  check(
    equalBytes(pkC, f.pkC) && equalBytes(s1, c1) && equalBytes(s2, c2) && equalBytes(s3, c3),
    `floor ${ake.name}: 3DH shares differ`,
  );
  if (noise) check(equalBytes(esC!, esS!) && equalBytes(eeC!, eeS!), 'floor: Noise NK shares differ');
  return serverMs;
}

interface FloorConfig {
  readonly suite: string;
  readonly oprf: Group;
  readonly ake: Dh;
  readonly x25519: Dh;
}

/** The floor's tasks for one configuration; `beside` is measured right after the login's floor. */
function floorTasks(lib: string, c: FloorConfig, rng: Rng, beside: readonly BenchTask[] = []): BenchTask[] {
  const f = fixture(c.oprf, c.ake, rng);
  const id = `floor/${lib}/${c.suite}`;
  const tag = `floor ${lib} ${c.suite}`;
  return [
    { id: `${id}/login`, name: `${tag}: one login's group operations`, fn: () => floorLogin(c.oprf, c.ake, null, f) },
    ...beside,
    {
      id: `${id}/login-server-side`,
      name: `${tag}: the server's share of them`,
      fn: () => ({ overriddenDuration: floorLogin(c.oprf, c.ake, null, f) }),
    },
    {
      id: `${id}/recovery`,
      name: `${tag}: one recovery's (login + Noise NK)`,
      fn: () => floorLogin(c.oprf, c.ake, c.x25519, f),
    },
    {
      id: `${id}/recovery-server-side`,
      name: `${tag}: the server's share of them`,
      fn: () => ({ overriddenDuration: floorLogin(c.oprf, c.ake, c.x25519, f) }),
    },
  ];
}

function unitTasks(lib: string, g: Group, x: Dh, rng: Rng): BenchTask[] {
  const k = g.secret(rng);
  const e = g.base(g.secret(rng));
  const xk = x.secret(rng);
  const xe = x.base(x.secret(rng));
  const msg = utf8('correct horse battery staple');
  const id = `floor/${lib}/unit`;
  return [
    { id: `${id}/${g.name}/hashToGroup`, name: `${lib} ${g.name} HashToGroup`, fn: () => g.hashToGroup(msg) },
    ...(g.decodesApart
      ? [{ id: `${id}/${g.name}/decode`, name: `${lib} ${g.name} decode (validate an element)`, fn: () => g.decode(e) }]
      : []),
    {
      id: `${id}/${g.name}/variableBase`,
      name: `${lib} ${g.name} decode, k * P, encode`,
      fn: () => g.dh(k, g.decode(e)),
    },
    { id: `${id}/${g.name}/fixedBase`, name: `${lib} ${g.name} k * G, encode`, fn: () => g.base(k) },
    { id: `${id}/${x.name}/dh`, name: `${lib} X25519 DH`, fn: () => x.dh(xk, x.decode(xe)) },
  ];
}

export const floorSuite: BenchSuite = {
  id: 'floor',
  title: "the floor: one login's unavoidable group operations (noble, libsodium)",
  async open(ctx) {
    const rng = ctx.rngFor('floor');
    const opaque = registerFixture(getSuite('ristretto255-SHA512'), rng);
    const tasks: BenchTask[] = [
      ...unitTasks('noble', NOBLE_RISTRETTO, NOBLE_X25519, rng),
      ...unitTasks('noble', NOBLE_P256, NOBLE_X25519, rng).slice(0, 3),
      ...floorTasks(
        'noble',
        { suite: 'ristretto255-SHA512', oprf: NOBLE_RISTRETTO, ake: NOBLE_RISTRETTO, x25519: NOBLE_X25519 },
        rng,
        [
          {
            id: 'floor/noble/ristretto255-SHA512/opaque-login',
            name: 'OPAQUE ristretto255-SHA512 Identity whole login, beside its floor',
            fn: () => wholeLogin(opaque, rng),
            note:
              "the crypto suite's whole login again, measured right after its floor: " +
              'the overhead ratio is not moved by the load of the 20 s between the suites',
          },
        ],
      ),
      ...floorTasks(
        'noble',
        { suite: 'ristretto255-SHA512+Curve25519', oprf: NOBLE_RISTRETTO, ake: NOBLE_X25519, x25519: NOBLE_X25519 },
        rng,
      ),
      ...floorTasks(
        'noble',
        { suite: 'P256-SHA256', oprf: NOBLE_P256, ake: NOBLE_P256, x25519: NOBLE_X25519 },
        rng,
      ).slice(0, 2),
    ];
    const info: Record<string, unknown> = { counts: FLOOR_COUNTS, noble: installedVersion('@noble/curves') };
    try {
      const sodium = (await import('libsodium-wrappers-sumo')).default;
      await sodium.ready;
      const s = sodiumGroups(sodium);
      // the two implementations must compute the same elements, or the comparison means nothing
      const k = NOBLE_RISTRETTO.secret(rng);
      const msg = utf8('cross-check');
      check(
        equalBytes(
          s.ristretto.dh(k, s.ristretto.hashToGroup(msg)),
          NOBLE_RISTRETTO.dh(k, NOBLE_RISTRETTO.hashToGroup(msg)),
        ),
        'libsodium and noble k * HashToGroup differ',
      );
      check(equalBytes(s.ristretto.base(k), NOBLE_RISTRETTO.base(k)), 'libsodium and noble ristretto255 k * G differ');
      check(equalBytes(s.x25519.base(k), NOBLE_X25519.base(k)), 'libsodium and noble X25519 differ');
      tasks.push(
        ...unitTasks('libsodium', s.ristretto, s.x25519, rng),
        ...floorTasks(
          'libsodium',
          { suite: 'ristretto255-SHA512', oprf: s.ristretto, ake: s.ristretto, x25519: s.x25519 },
          rng,
        ),
        ...floorTasks(
          'libsodium',
          { suite: 'ristretto255-SHA512+Curve25519', oprf: s.ristretto, ake: s.x25519, x25519: s.x25519 },
          rng,
        ),
      );
      info.libsodium = {
        package: 'libsodium-wrappers-sumo',
        version: installedVersion('libsodium-wrappers-sumo'),
        sodium: sodium.sodium_version_string(),
      };
    } catch (e) {
      info.skipped = { libsodium: (e as Error).message };
      ctx.log(`floor: libsodium skipped: ${(e as Error).message}`);
    }
    return { tasks, info, dispose: () => {} };
  },
};
