/**
 * OPAQUE configurations (RFC 9807 §7): one object binds the OPRF (RFC 9497, mode 0, from
 * @noble/curves), the hash and its HKDF and HMAC, the 3DH group and the KSF. Everything in
 * `opaque-*.ts` is generic over this object, in the manner of opaque-ke's `CipherSuite`.
 *
 * | suite id                          | OPRF                | 3DH group  | hash    | Npk | Nh |
 * |-----------------------------------|---------------------|------------|---------|-----|----|
 * | `ristretto255-SHA512` (default)   | ristretto255-SHA512 | ristretto255 | SHA-512 | 32 | 64 |
 * | `ristretto255-SHA512+Curve25519`  | ristretto255-SHA512 | Curve25519 (X25519) | SHA-512 | 32 | 64 |
 * | `P256-SHA256`                     | P256-SHA256         | P-256      | SHA-256 | 33 | 32 |
 *
 * The SoftHSM-backed fleet runs `ristretto255-SHA512+Curve25519`: PKCS#11 does X25519 inside the
 * token, but has no ristretto255 and returns only the x-coordinate of a P-256 ECDH (spec ch. 2).
 * @module
 */
import { ristretto255, ristretto255_hasher, ristretto255_oprf, x25519 } from '@noble/curves/ed25519.js';
import { p256, p256_hasher, p256_oprf } from '@noble/curves/nist.js';
import { mapHashToField, getMinHashLength } from '@noble/curves/abstract/modular.js';
import { numberToBytesBE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import type { CHash } from '@noble/hashes/utils.js';
import { type Bytes, type Rng, concat, ctEqual, i2osp, lengthPrefixed, utf8 } from './bytes.ts';
import { IDENTITY_KSF, type Ksf } from './ksf.ts';
import { checkX25519PublicKey } from './x25519.ts';
import { VaultError } from '../errors.ts';

export const SUITE_IDS = ['ristretto255-SHA512', 'ristretto255-SHA512+Curve25519', 'P256-SHA256'] as const;
export type SuiteId = (typeof SUITE_IDS)[number];

export interface KeyPair {
  readonly privateKey: Bytes;
  readonly publicKey: Bytes;
}

/** The 3DH group (RFC 9807 §6.4.1 and §7). */
export interface AkeGroup {
  readonly name: 'ristretto255' | 'curve25519' | 'P256';
  readonly Npk: number;
  readonly Nsk: number;
  /** DeriveDiffieHellmanKeyPair(seed), seed of Nseed bytes. */
  deriveDiffieHellmanKeyPair(seed: Bytes): KeyPair;
  /** DiffieHellman(k, B) in software (the client side, and ephemeral server shares). */
  diffieHellman(privateKey: Bytes, publicKey: Bytes): Bytes;
  /**
   * Throws VaultError('InvalidPoint') unless `publicKey` is a valid, canonical, non-identity element
   * (X25519: canonical and not of low order); 'MalformedMessage' for a wrong length (spec ch. 2 §2.6).
   */
  checkPublicKey(publicKey: Bytes, name: string): void;
}

type NobleOprfApi = (typeof ristretto255_oprf)['oprf'];

/** The OPRF of RFC 9497 mode 0 as used by OPAQUE; thin wrapper over @noble/curves. */
export interface Oprf {
  readonly name: string;
  /** Noe: size of a serialized element; Nok: size of a serialized scalar. */
  readonly Noe: number;
  readonly Nok: number;
  /** A blind scalar drawn from `rng` (RFC 9497 §2.1 RandomScalar). */
  randomScalar(rng: Rng): Bytes;
  /** Blind(input) with a given blind scalar (the scalar comes from `randomScalar` or a vector). */
  blind(input: Bytes, blind: Bytes): Bytes;
  blindEvaluate(oprfKey: Bytes, blinded: Bytes): Bytes;
  finalize(input: Bytes, blind: Bytes, evaluated: Bytes): Bytes;
  /** DeriveKeyPair(seed, info) (RFC 9497 §3.2.1). */
  deriveKeyPair(seed: Bytes, info: Bytes): KeyPair;
  /** The secret half of DeriveKeyPair alone: OPAQUE's OPRF key needs no public key. */
  deriveSecretKey(seed: Bytes, info: Bytes): Bytes;
  /** Throws VaultError('InvalidPoint') unless `element` decodes to a non-identity group element. */
  checkElement(element: Bytes, name: string): void;
}

export interface Suite {
  readonly id: SuiteId;
  readonly oprf: Oprf;
  readonly group: AkeGroup;
  readonly ksf: Ksf;
  readonly hashName: 'SHA256' | 'SHA512';
  /** Nh = Nm = Nx: output size of the hash, MAC and KDF. */
  readonly Nh: number;
  readonly Nm: number;
  readonly Nx: number;
  /** Nn: nonce size; Nseed: key-derivation seed size (RFC 9807 §7). */
  readonly Nn: 32;
  readonly Nseed: 32;
  hash(msg: Bytes): Bytes;
  mac(key: Bytes, msg: Bytes): Bytes;
  extract(salt: Bytes, ikm: Bytes): Bytes;
  expand(prk: Bytes, info: Bytes, length: number): Bytes;
}

type HashToScalar = (msg: Bytes, options: { DST: Bytes }) => bigint;

/** A decoded element of a prime-order group, as @noble/curves has it (ristretto255, P-256). */
interface GroupPoint<P> {
  equals(other: P): boolean;
  multiply(scalar: bigint): P;
  /** The element's encoding (P-256: SEC1 compressed). */
  toBytes(): Bytes;
}

interface PrimeOrderField {
  readonly ORDER: bigint;
  readonly isLE: boolean;
  readonly BYTES: number;
  toBytes(x: bigint): Bytes;
  fromBytes(b: Bytes): bigint;
}

/** The OPRF, and the decoding it shares with its 3DH group. */
interface PrimeOrderOprf<P> extends Oprf {
  /** The element `bytes` encodes, checked as `checkElement` does; each encoding is decoded once. */
  decodeElement(bytes: Bytes, what: string): P;
  readonly Fn: PrimeOrderField;
}

function nobleOprf<P extends GroupPoint<P>>(
  noble: NobleOprfApi,
  name: string,
  Fn: PrimeOrderField,
  Noe: number,
  fromBytes: (b: Bytes) => P,
  zero: P,
  hashToScalar: HashToScalar,
): PrimeOrderOprf<P> {
  const { ORDER, isLE, BYTES } = Fn;
  const seedLength = getMinHashLength(ORDER);
  // RFC 9497 §3.2.1: DST = "DeriveKeyPair" || contextString,
  // contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier
  const deriveDst = concat(utf8('DeriveKeyPair'), utf8('OPRFV1-'), Uint8Array.of(0), utf8('-' + name));
  // A decoder's output is decoded and checked once, then its point is reused by every operation on
  // it (a 3DH multiplication, another check). Keyed by the array, and used only while the array
  // still holds the bytes that were decoded.
  const decoded = new WeakMap<Bytes, { readonly bytes: Bytes; readonly point: P }>();
  const decodeElement = (element: Bytes, what: string): P => {
    const known = decoded.get(element);
    if (known !== undefined && ctEqual(known.bytes, element)) return known.point;
    if (element.length !== Noe)
      throw new VaultError('MalformedMessage', `"${what}" expected ${Noe} bytes, got ${element.length}`);
    let p;
    try {
      p = fromBytes(element);
    } catch (e) {
      throw new VaultError('InvalidPoint', `"${what}" is not a valid ${name} element: ${(e as Error).message}`);
    }
    if (p.equals(zero)) throw new VaultError('InvalidPoint', `"${what}" is the identity element`);
    decoded.set(element, { bytes: element.slice(), point: p });
    return p;
  };
  const checkElement = (element: Bytes, what: string): void => void decodeElement(element, what);
  const mapped = (f: () => Bytes, what: string) => {
    try {
      return f();
    } catch (e) {
      if (e instanceof VaultError) throw e;
      throw new VaultError('InvalidPoint', `${what}: ${(e as Error).message}`);
    }
  };
  return Object.freeze({
    name,
    Noe,
    Nok: BYTES,
    Fn,
    randomScalar: (rng: Rng) => mapHashToField(rng(seedLength), ORDER, isLE),
    blind(input: Bytes, blind: Bytes): Bytes {
      // noble draws its blind through an rng and maps it with mapHashToField: x -> (x mod (n-1)) + 1.
      // Feeding it the pre-image of `blind` makes it use exactly this scalar.
      const s = isLE ? bytesToNumberLE(blind) : bytesToNumberBE(blind);
      if (s <= 0n || s >= ORDER) throw new VaultError('InvalidParameter', `blind scalar out of range`);
      const preimage = isLE ? numberToBytesLE(s - 1n, seedLength) : numberToBytesBE(s - 1n, seedLength);
      return noble.blind(input, () => preimage).blinded;
    },
    // noble's BlindEvaluate and Finalize take the encoded element and decode it again
    blindEvaluate: (oprfKey: Bytes, blinded: Bytes) => {
      checkElement(blinded, 'blinded_message');
      return mapped(() => noble.blindEvaluate(oprfKey, blinded), 'BlindEvaluate');
    },
    finalize: (input: Bytes, blind: Bytes, evaluated: Bytes) => {
      checkElement(evaluated, 'evaluated_message');
      return mapped(() => noble.finalize(input, blind, evaluated), 'Finalize');
    },
    deriveKeyPair: (seed: Bytes, info: Bytes) => {
      const { secretKey, publicKey } = noble.deriveKeyPair(seed, info);
      return { privateKey: secretKey, publicKey };
    },
    deriveSecretKey(seed: Bytes, info: Bytes): Bytes {
      // RFC 9497 §3.2.1 DeriveKeyPair, without the public key: the same hashToScalar as noble's
      if (seed.length !== 32) throw new VaultError('InvalidParameter', `"seed" expected 32 bytes, got ${seed.length}`);
      for (let counter = 0; counter <= 255; counter++) {
        const sk = hashToScalar(concat(seed, lengthPrefixed(info), i2osp(counter, 1)), { DST: deriveDst });
        if (sk !== 0n) return Fn.toBytes(sk);
      }
      throw new VaultError('InvalidParameter', 'DeriveKeyPair: no key after 256 counters');
    },
    checkElement,
    decodeElement,
  });
}

function bytesToNumberLE(b: Bytes): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}
function bytesToNumberBE(b: Bytes): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

const RISTRETTO_OPRF = nobleOprf(
  ristretto255_oprf.oprf,
  'ristretto255-SHA512',
  ristretto255.Point.Fn,
  32,
  (b) => ristretto255.Point.fromBytes(b),
  ristretto255.Point.ZERO,
  ristretto255_hasher.hashToScalar,
);
const P256_OPRF = nobleOprf(
  p256_oprf.oprf,
  'P256-SHA256',
  p256.Point.Fn,
  33,
  (b) => p256.Point.fromBytes(b),
  p256.Point.ZERO,
  p256_hasher.hashToScalar,
);

const DERIVE_DH_INFO = utf8('OPAQUE-DeriveDiffieHellmanKeyPair');

/**
 * A prime-order 3DH group that reuses the OPRF's DeriveKeyPair (RFC 9807 §7: ristretto255, P-256).
 * DiffieHellman(k, B) = k·B encoded, on the point the OPRF decoded (and checked) once.
 */
function primeOrderGroup<P extends GroupPoint<P>>(name: 'ristretto255' | 'P256', oprf: PrimeOrderOprf<P>): AkeGroup {
  return Object.freeze({
    name,
    Npk: oprf.Noe,
    Nsk: oprf.Nok,
    deriveDiffieHellmanKeyPair: (seed: Bytes) => oprf.deriveKeyPair(seed, DERIVE_DH_INFO),
    diffieHellman: (privateKey: Bytes, publicKey: Bytes): Bytes =>
      oprf.decodeElement(publicKey, 'public key').multiply(oprf.Fn.fromBytes(privateKey)).toBytes(),
    checkPublicKey: (publicKey: Bytes, what: string) => oprf.checkElement(publicKey, what),
  });
}

const RISTRETTO_GROUP = primeOrderGroup('ristretto255', RISTRETTO_OPRF);
const P256_GROUP = primeOrderGroup('P256', P256_OPRF);

/**
 * Curve25519 (RFC 9807 §7, RFC 7748): the seed is the private key; DH is X25519. A public key is
 * checked by the one X25519 rule of `x25519.ts` (canonical, not of low order), so DH never runs
 * on a key the decoders would refuse, and its output is never all zeros.
 */
export const CURVE25519_GROUP: AkeGroup = Object.freeze({
  name: 'curve25519',
  Npk: 32,
  Nsk: 32,
  deriveDiffieHellmanKeyPair: (seed: Bytes) => ({ privateKey: seed, publicKey: x25519.getPublicKey(seed) }),
  diffieHellman(privateKey: Bytes, publicKey: Bytes): Bytes {
    checkX25519PublicKey(publicKey, 'public key');
    let shared: Bytes;
    try {
      shared = x25519.getSharedSecret(privateKey, publicKey);
    } catch (e) {
      throw new VaultError('InvalidPoint', `X25519: ${(e as Error).message}`);
    }
    // RFC 7748 §6.1: unreachable after the check above, kept as the RFC's own test of the output
    if (shared.every((b) => b === 0))
      throw new VaultError('InvalidPoint', 'X25519 output is all zero (low-order point)');
    return shared;
  },
  checkPublicKey: checkX25519PublicKey,
});

function hashFunctions(hash: CHash) {
  return {
    hash: (msg: Bytes) => hash(msg),
    mac: (key: Bytes, msg: Bytes) => hmac(hash, key, msg),
    extract: (salt: Bytes, ikm: Bytes) => extract(hash, ikm, salt),
    expand: (prk: Bytes, info: Bytes, length: number) => expand(hash, prk, info, length),
  };
}

/** The suite object for `id`, with the KSF `ksf` (default Identity). */
export function getSuite(id: SuiteId = 'ristretto255-SHA512', ksf: Ksf = IDENTITY_KSF): Suite {
  if (!(SUITE_IDS as readonly string[]).includes(id))
    throw new VaultError('InvalidParameter', `unknown suite "${id}", expected one of ${SUITE_IDS.join(', ')}`);
  const sha =
    id === 'P256-SHA256'
      ? { hashName: 'SHA256' as const, fns: hashFunctions(sha256), N: 32 }
      : { hashName: 'SHA512' as const, fns: hashFunctions(sha512), N: 64 };
  const oprf = id === 'P256-SHA256' ? P256_OPRF : RISTRETTO_OPRF;
  const group = id === 'P256-SHA256' ? P256_GROUP : id === 'ristretto255-SHA512' ? RISTRETTO_GROUP : CURVE25519_GROUP;
  return Object.freeze({
    id,
    oprf,
    group,
    ksf,
    hashName: sha.hashName,
    Nh: sha.N,
    Nm: sha.N,
    Nx: sha.N,
    Nn: 32,
    Nseed: 32,
    ...sha.fns,
  });
}
