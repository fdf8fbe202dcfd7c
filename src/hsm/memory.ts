/**
 * The memory HSM backend: every operation of `Hsm` in pure @noble, with keys held in a
 * `MemoryToken` that no caller can read. It is the embedded default, runs every suite (it has
 * ristretto255 and P-256, which PKCS#11 lacks), and is deterministic: all randomness comes from
 * the `rng` given to the constructor (key generation) or to `wrapKey` (ephemeral key, nonce).
 *
 * Token and HSM are separate objects so that a replica can "restart": the token (keys and
 * counters) outlives the `MemoryHsm` over it, as a PKCS#11 token outlives the process that had it
 * open. `new MemoryHsm(token, rng)` after `close()` sees the same keys and counters.
 *
 * Key wrapping (ECIES-style, to the recipient's X25519 key-transport key):
 *   e      = rng(32);  E = X25519(e, 9)
 *   Z      = X25519(e, R)                     (R: recipient public key; all-zero Z -> InvalidPoint)
 *   kek    = HKDF-SHA256(IKM = Z, salt = "", info = "bkv/hsm/wrap/memory/v1" || E || R, L = 32)
 *   nonce  = rng(12)
 *   wrapped = E || nonce || AES-256-GCM(kek, nonce, aad = kind, secret)
 * The recipient recomputes Z with its private key; a wrong key, kind or any altered byte fails
 * the GCM tag (`SealBroken`). This format is the memory backend's own; SoftHSM has its own
 * (see softhsm.ts), and the two do not interoperate.
 *
 * Spec: spec/04-hsm.md.
 * @module
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, ristretto255, x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { expand, hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concat, type Bytes, fromHex, type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { GenerateOptions, Hsm, KeyInfo, KeyKind } from './hsm.ts';
import {
  checkBytes,
  checkCounterValue,
  checkHkdfLength,
  checkKind,
  checkLabel,
  checkNonce,
  checkSecretLength,
  GENERATED_SECRET_BYTES,
  refuseDecrease,
  requireKind,
  SEAL_NONCE_BYTES,
  SEAL_TAG_BYTES,
  WRAP_CONTEXT,
  exportPolicy,
  refuseOutsidePolicy,
} from './kinds.ts';

interface StoredKey {
  readonly kind: KeyKind;
  readonly secret: Bytes;
  readonly publicKey: Bytes | undefined;
  readonly local: boolean;
  readonly neverExtractable: boolean;
  readonly extractable: boolean;
  readonly imported: boolean;
  /** The export policy (GenerateOptions.wrapTo), hex; undefined: any recipient. */
  readonly wrapTo: readonly string[] | undefined;
  /** Wraps done so far (mutable inside the token only). */
  wrapCount: number;
}

interface TokenState {
  readonly keys: Map<string, StoredKey>;
  readonly counters: Map<string, bigint>;
}

/** Token contents, reachable only from this module (a WeakMap keyed by the token handle). */
const STATES = new WeakMap<MemoryToken, TokenState>();

function stateOf(token: MemoryToken): TokenState {
  const s = STATES.get(token);
  if (s === undefined) throw new VaultError('HsmError', 'not a MemoryToken');
  return s;
}

/**
 * The durable part of a memory HSM: its keys and monotonic counters. An opaque handle: nothing
 * outside this module can read the keys. It survives `MemoryHsm.close()`, as a PKCS#11 token
 * survives a process restart.
 */
export class MemoryToken {
  readonly label: string;
  constructor(label: string) {
    this.label = checkLabel(label, 'token label');
    STATES.set(this, { keys: new Map(), counters: new Map() });
  }

  /**
   * An independent deep copy (same keys and counters, optionally another label). For simulations
   * that fork a whole world, such as model exploration. It is not a host capability: no host can
   * copy or roll back a real HSM token, and the vault's rollback argument relies on that.
   */
  clone(label: string = this.label): MemoryToken {
    const copy = new MemoryToken(label);
    const from = stateOf(this);
    const to = stateOf(copy);
    for (const [k, v] of from.keys) {
      to.keys.set(k, { ...v, secret: v.secret.slice(), publicKey: v.publicKey?.slice() });
    }
    for (const [k, v] of from.counters) to.counters.set(k, v);
    return copy;
  }
}

/**
 * A token's contents as text (keys in hex, counters in decimal): the non-volatile memory of the
 * simulated HSM when a real replica process keeps it in a file (src/serve/files.ts, spec ch. 15).
 * It is the memory backend's stand-in for a token's flash, for tests and local fleets only: the
 * file holds the secrets in plaintext, as nothing but the operating system protects it.
 */
export function serializeToken(token: MemoryToken): string {
  const s = stateOf(token);
  const hex = (b: Bytes) => Buffer.from(b).toString('hex');
  const keys = [...s.keys].map(([label, k]) => ({
    label,
    kind: k.kind,
    secret: hex(k.secret),
    local: k.local,
    neverExtractable: k.neverExtractable,
    extractable: k.extractable,
    imported: k.imported,
    ...(k.wrapTo !== undefined && { wrapTo: k.wrapTo }),
    wrapCount: k.wrapCount,
  }));
  const counters = [...s.counters].map(([name, v]) => [name, v.toString()]);
  return JSON.stringify({ label: token.label, keys, counters });
}

/** The token `serializeToken` wrote (its public keys recomputed); a damaged text is `SealBroken`. */
export function restoreToken(text: string): MemoryToken {
  type KeyDoc = Omit<StoredKey, 'secret' | 'publicKey'> & { readonly label: string; readonly secret: string };
  let doc: { label: string; keys: KeyDoc[]; counters: [string, string][] };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new VaultError('SealBroken', 'memory token file: not JSON');
  }
  const token = new MemoryToken(doc.label);
  const s = stateOf(token);
  for (const k of doc.keys) {
    const secret = new Uint8Array(Buffer.from(k.secret, 'hex'));
    checkKind(k.kind);
    const { local, neverExtractable, extractable, imported, wrapTo, wrapCount } = k;
    const flags = [local, neverExtractable, extractable, imported];
    const policy = wrapTo === undefined || (Array.isArray(wrapTo) && wrapTo.every((x) => typeof x === 'string'));
    if (!flags.every((f) => typeof f === 'boolean') || !policy || !Number.isSafeInteger(wrapCount) || wrapCount < 0) {
      throw new VaultError('SealBroken', `memory token file: key ${JSON.stringify(k.label)} has malformed attributes`);
    }
    const publicKey = publicKeyOf(k.kind, secret);
    const key = { kind: k.kind, secret, publicKey, local, neverExtractable, extractable, imported, wrapTo, wrapCount };
    s.keys.set(checkLabel(k.label), key);
  }
  for (const [name, v] of doc.counters) s.counters.set(checkLabel(name, 'name'), checkCounterValue(BigInt(v)));
  return token;
}

const RISTRETTO_ORDER = ristretto255.Point.Fn.ORDER;

function bytesToNumberLE(b: Bytes): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

function numberToBytesLE(x: bigint, n: number): Bytes {
  const out = new Uint8Array(n);
  for (let i = 0, v = x; i < n; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** Decodes a ristretto255 private key: 32-byte little-endian scalar in [1, n-1] (canonical). */
function ristrettoScalar(secret: Bytes): bigint {
  const s = bytesToNumberLE(secret);
  if (secret.length !== 32 || s === 0n || s >= RISTRETTO_ORDER) {
    throw new VaultError(
      'InvalidParameter',
      'ristretto255 secret expected a canonical 32-byte little-endian scalar in [1, n-1]',
    );
  }
  return s;
}

/** Checks a secret of `kind` (length and scalar range) and returns its public key, if any. */
function publicKeyOf(kind: KeyKind, secret: Bytes): Bytes | undefined {
  checkSecretLength(kind, secret);
  switch (kind) {
    case 'ed25519':
      return ed25519.getPublicKey(secret);
    case 'x25519':
      return x25519.getPublicKey(secret);
    case 'ristretto255':
      return ristretto255.Point.BASE.multiply(ristrettoScalar(secret)).toBytes();
    case 'p256':
      if (!p256.utils.isValidSecretKey(secret)) {
        throw new VaultError('InvalidParameter', 'p256 secret expected a 32-byte big-endian scalar in [1, n-1]');
      }
      return p256.getPublicKey(secret, true);
    default:
      return undefined;
  }
}

function takeRandom(rng: Rng, n: number): Bytes {
  const out = rng(n);
  if (!(out instanceof Uint8Array) || out.length !== n) {
    throw new VaultError(
      'HsmError',
      `rng expected to return ${n} bytes, got ${out instanceof Uint8Array ? out.length : typeof out}`,
    );
  }
  return out;
}

/** Fresh secret of `kind` from `rng`, already in range. */
function generateSecret(kind: KeyKind, rng: Rng): Bytes {
  switch (kind) {
    case 'ristretto255':
      // Wide reduction of 64 bytes (bias < 2^-250), retried on the negligible zero.
      for (;;) {
        const s = bytesToNumberLE(takeRandom(rng, 64)) % RISTRETTO_ORDER;
        if (s !== 0n) return numberToBytesLE(s, 32);
      }
    case 'p256':
      // FIPS 186-5 A.4.1-style: 48 bytes reduced into [1, n-1] (noble's mapHashToField).
      return p256.utils.randomSecretKey(takeRandom(rng, 48));
    default:
      return takeRandom(rng, GENERATED_SECRET_BYTES[kind]).slice();
  }
}

function x25519Shared(secret: Bytes, peer: Bytes): Bytes {
  if (peer.length !== 32)
    throw new VaultError('InvalidPoint', `x25519 public key expected 32 bytes, got ${peer.length}`);
  try {
    return x25519.getSharedSecret(secret, peer);
  } catch {
    throw new VaultError('InvalidPoint', 'x25519: low-order public key (all-zero shared secret)');
  }
}

function wrapKek(z: Bytes, ephemeralPublic: Bytes, recipientPublic: Bytes): Bytes {
  return hkdf(sha256, z, undefined, concat(utf8(WRAP_CONTEXT.memory), ephemeralPublic, recipientPublic), 32);
}

/** Pure-noble `Hsm` over a `MemoryToken`; `rng` drives key generation. */
export class MemoryHsm implements Hsm {
  readonly backend = 'memory' as const;
  readonly label: string;
  readonly #token: TokenState;
  readonly #rng: Rng;
  #closed = false;

  constructor(token: MemoryToken, rng: Rng) {
    if (typeof rng !== 'function') throw new VaultError('InvalidParameter', '"rng" expected a function');
    this.#token = stateOf(token);
    this.label = token.label;
    this.#rng = rng;
  }

  /** A MemoryHsm over a fresh, empty token. */
  static create(label: string, rng: Rng): MemoryHsm {
    return new MemoryHsm(new MemoryToken(label), rng);
  }

  generateKey(label: string, kind: KeyKind, options: GenerateOptions = {}): KeyInfo {
    this.#checkFree(label);
    checkKind(kind);
    const wrappable = options.wrappable === true;
    const wrapTo = exportPolicy(options);
    const secret = generateSecret(kind, this.#rng);
    const policy = { imported: false, wrapTo, wrapCount: 0 };
    const pub = publicKeyOf(kind, secret);
    const flags = { local: true, neverExtractable: !wrappable, extractable: wrappable };
    return this.#store(label, { kind, secret, publicKey: pub, ...flags, ...policy });
  }

  importKey(label: string, kind: KeyKind, secret: Bytes, options: GenerateOptions = {}): KeyInfo {
    this.#checkFree(label);
    checkKind(kind);
    const copy = checkBytes(secret, 'secret').slice();
    const wrappable = options.wrappable === true;
    const policy = { imported: true, wrapTo: exportPolicy(options), wrapCount: 0 };
    const pub = publicKeyOf(kind, copy);
    const flags = { local: false, neverExtractable: false, extractable: wrappable };
    return this.#store(label, { kind, secret: copy, publicKey: pub, ...flags, ...policy });
  }

  hasKey(label: string): boolean {
    this.#checkOpen();
    return this.#token.keys.has(checkLabel(label));
  }

  keyInfo(label: string): KeyInfo {
    return this.#info(label, this.#key(label));
  }

  deleteKey(label: string): void {
    this.#key(label);
    this.#token.keys.delete(label);
  }

  sign(label: string, message: Bytes): Bytes {
    const k = this.#key(label);
    requireKind(label, k.kind, ['ed25519'], 'sign');
    return ed25519.sign(checkBytes(message, 'message'), k.secret);
  }

  dh(label: string, peerPublicKey: Bytes): Bytes {
    const k = this.#key(label);
    requireKind(label, k.kind, ['x25519', 'ristretto255', 'p256'], 'dh');
    const peer = checkBytes(peerPublicKey, 'peerPublicKey');
    if (k.kind === 'x25519') return x25519Shared(k.secret, peer);
    if (k.kind === 'ristretto255') {
      let point;
      try {
        point = ristretto255.Point.fromBytes(peer);
      } catch {
        throw new VaultError('InvalidPoint', 'ristretto255 public key does not decode (RFC 9496 §4.3.1)');
      }
      if (point.equals(ristretto255.Point.ZERO))
        throw new VaultError('InvalidPoint', 'ristretto255 public key is the identity');
      return point.multiply(ristrettoScalar(k.secret)).toBytes();
    }
    // p256: SEC1 compressed or uncompressed peer; result is the compressed shared point
    // (RFC 9807 §6.4.1 SerializeElement).
    if (peer.length !== 33 && peer.length !== 65)
      throw new VaultError('InvalidPoint', `p256 public key expected 33 or 65 bytes, got ${peer.length}`);
    try {
      p256.Point.fromBytes(peer).assertValidity();
      return p256.getSharedSecret(k.secret, peer, true);
    } catch {
      throw new VaultError('InvalidPoint', 'p256 public key is not a valid curve point');
    }
  }

  hmac(label: string, message: Bytes): Bytes {
    const k = this.#key(label);
    requireKind(label, k.kind, ['hmac-sha256', 'hmac-sha512'], 'hmac');
    return hmac(k.kind === 'hmac-sha256' ? sha256 : sha512, k.secret, checkBytes(message, 'message'));
  }

  hkdfExpand(label: string, info: Bytes, length: number): Bytes {
    const k = this.#key(label);
    requireKind(label, k.kind, ['hmac-sha256', 'hmac-sha512'], 'hkdfExpand');
    const kind = k.kind as 'hmac-sha256' | 'hmac-sha512';
    const len = checkHkdfLength(kind, length);
    if (len === 0) return new Uint8Array(0);
    return expand(kind === 'hmac-sha256' ? sha256 : sha512, k.secret, checkBytes(info, 'info'), len);
  }

  seal(label: string, plaintext: Bytes, aad: Bytes, nonce: Bytes): Bytes {
    const k = this.#key(label);
    requireKind(label, k.kind, ['aes256gcm'], 'seal');
    const n = checkNonce(nonce);
    const ct = gcm(k.secret, n, checkBytes(aad, 'aad')).encrypt(checkBytes(plaintext, 'plaintext'));
    return concat(n, ct);
  }

  unseal(label: string, sealed: Bytes, aad: Bytes): Bytes {
    const k = this.#key(label);
    requireKind(label, k.kind, ['aes256gcm'], 'unseal');
    const blob = checkBytes(sealed, 'sealed');
    const a = checkBytes(aad, 'aad');
    if (blob.length < SEAL_NONCE_BYTES + SEAL_TAG_BYTES) {
      throw new VaultError(
        'SealBroken',
        `sealed blob expected at least ${SEAL_NONCE_BYTES + SEAL_TAG_BYTES} bytes, got ${blob.length}`,
      );
    }
    try {
      return gcm(k.secret, blob.subarray(0, SEAL_NONCE_BYTES), a).decrypt(blob.subarray(SEAL_NONCE_BYTES));
    } catch {
      throw new VaultError('SealBroken', 'AES-256-GCM tag mismatch');
    }
  }

  wrapKey(label: string, recipientPublicKey: Bytes, rng: Rng): Bytes {
    const k = this.#key(label);
    if (!k.extractable)
      throw new VaultError('HsmError', `wrapKey: key "${label}" is not extractable (not generated wrappable)`);
    const recipient = checkBytes(recipientPublicKey, 'recipientPublicKey');
    refuseOutsidePolicy(label, k.wrapTo, recipient);
    const e = takeRandom(rng, 32);
    const ephemeralPublic = x25519.getPublicKey(e);
    const kek = wrapKek(x25519Shared(e, recipient), ephemeralPublic, recipient);
    const nonce = takeRandom(rng, SEAL_NONCE_BYTES);
    const wrapped = concat(ephemeralPublic, nonce, gcm(kek, nonce, utf8(k.kind)).encrypt(k.secret));
    k.wrapCount += 1;
    return wrapped;
  }

  unwrapKey(label: string, kind: KeyKind, wrapped: Bytes, unwrapWith: string): KeyInfo {
    this.#checkFree(label);
    checkKind(kind);
    const t = this.#key(unwrapWith);
    requireKind(unwrapWith, t.kind, ['x25519'], 'unwrapKey');
    const blob = checkBytes(wrapped, 'wrapped');
    if (blob.length < 32 + SEAL_NONCE_BYTES + SEAL_TAG_BYTES) {
      throw new VaultError(
        'SealBroken',
        `wrapped key expected at least ${32 + SEAL_NONCE_BYTES + SEAL_TAG_BYTES} bytes, got ${blob.length}`,
      );
    }
    const ephemeralPublic = blob.subarray(0, 32);
    const kek = wrapKek(x25519Shared(t.secret, ephemeralPublic), ephemeralPublic, t.publicKey!);
    let secret: Bytes;
    try {
      secret = gcm(kek, blob.subarray(32, 32 + SEAL_NONCE_BYTES), utf8(kind)).decrypt(
        blob.subarray(32 + SEAL_NONCE_BYTES),
      );
    } catch {
      throw new VaultError(
        'SealBroken',
        'wrapped key failed authentication (wrong recipient, wrong kind or altered bytes)',
      );
    }
    // Unwrapped secrets are sensitive and terminal: they do not move on to a further HSM.
    const flags = { local: false, neverExtractable: false, extractable: false };
    const key = { kind, secret, publicKey: publicKeyOf(kind, secret), ...flags };
    return this.#store(label, { ...key, imported: false, wrapTo: undefined, wrapCount: 0 });
  }

  readCounter(name: string): bigint {
    this.#checkOpen();
    return this.#token.counters.get(checkLabel(name, 'name')) ?? 0n;
  }

  advanceCounter(name: string, value: bigint): void {
    this.#checkOpen();
    checkLabel(name, 'name');
    const v = checkCounterValue(value);
    refuseDecrease(name, this.#token.counters.get(name) ?? 0n, v);
    this.#token.counters.set(name, v);
  }

  close(): void {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new VaultError('HsmError', `memory HSM "${this.label}" is closed`);
  }

  #key(label: string): StoredKey {
    this.#checkOpen();
    const k = this.#token.keys.get(checkLabel(label));
    if (k === undefined) throw new VaultError('KeyNotFound', `no key "${label}" in token "${this.label}"`);
    return k;
  }

  #checkFree(label: string): void {
    this.#checkOpen();
    if (this.#token.keys.has(checkLabel(label)))
      throw new VaultError('InvalidParameter', `label "${label}" already in use in token "${this.label}"`);
  }

  #store(label: string, key: StoredKey): KeyInfo {
    this.#token.keys.set(label, key);
    return this.#info(label, key);
  }

  #info(label: string, k: StoredKey): KeyInfo {
    return {
      label,
      kind: k.kind,
      ...(k.publicKey !== undefined ? { publicKey: k.publicKey.slice() } : {}),
      local: k.local,
      neverExtractable: k.neverExtractable,
      extractable: k.extractable,
      sensitive: true,
      imported: k.imported,
      ...(k.wrapTo !== undefined ? { wrapTo: k.wrapTo.map(fromHex) } : {}),
      wrapCount: k.wrapCount,
    };
  }
}
