/**
 * The argument rules both HSM backends share, so that `memory` and `softhsm` refuse the same
 * inputs with the same `VaultError` codes (the contract suite in `test/hsm.test.ts` runs against
 * both). What each `KeyKind` holds, how long its secret is, which operation it allows.
 *
 * | kind           | secret held                           | generated | importable            | operations        |
 * |----------------|---------------------------------------|-----------|-----------------------|-------------------|
 * | `ed25519`      | 32-byte seed (RFC 8032 §5.1.5)        | 32 bytes  | 32 bytes              | sign              |
 * | `x25519`       | 32-byte scalar (RFC 7748 §5, clamped) | 32 bytes  | 32 bytes              | dh, unwrap        |
 * | `ristretto255` | 32-byte LE scalar in [1, n-1]         | 32 bytes  | 32 bytes, canonical   | dh                |
 * | `p256`         | 32-byte BE scalar in [1, n-1]         | 32 bytes  | 32 bytes, valid       | dh                |
 * | `hmac-sha256`  | HMAC key                              | 32 bytes  | >= 32 bytes           | hmac, hkdfExpand  |
 * | `hmac-sha512`  | HMAC key                              | 64 bytes  | >= 64 bytes           | hmac, hkdfExpand  |
 * | `aes256gcm`    | AES-256 key                           | 32 bytes  | 32 bytes              | seal, unseal      |
 *
 * The HMAC minimums are SoftHSM 2.6.1's (`CKR_KEY_SIZE_RANGE` below 32 bytes for
 * `CKM_SHA256_HMAC`, below 64 for `CKM_SHA512_HMAC`); the memory backend enforces the same ones.
 *
 * Codes: a malformed argument (label, length, nonce, counter value, a key of the wrong kind for
 * the operation, a label already in use) is `InvalidParameter`; an unknown label is `KeyNotFound`;
 * a peer public key that does not decode, is the identity or gives an all-zero/low-order result is
 * `InvalidPoint`; a sealed or wrapped blob that fails authentication is `SealBroken`; a counter
 * asked to go backwards is `StaleState`; anything the device refuses is `HsmError`.
 *
 * Spec: spec/04-hsm.md.
 * @module
 */
import type { Bytes } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import { toHex } from '../crypto/bytes.ts';
import type { GenerateOptions, KeyKind } from './hsm.ts';

export const KEY_KINDS: readonly KeyKind[] = [
  'ed25519',
  'x25519',
  'ristretto255',
  'p256',
  'hmac-sha256',
  'hmac-sha512',
  'aes256gcm',
];

/** Asymmetric kinds: they have a public key. */
export const ASYMMETRIC_KINDS: readonly KeyKind[] = ['ed25519', 'x25519', 'ristretto255', 'p256'];

/** Bytes of a freshly generated secret of each kind. */
export const GENERATED_SECRET_BYTES: Readonly<Record<KeyKind, number>> = {
  ed25519: 32,
  x25519: 32,
  ristretto255: 32,
  p256: 32,
  'hmac-sha256': 32,
  'hmac-sha512': 64,
  aes256gcm: 32,
};

/** Minimum HMAC key length per kind (SoftHSM 2.6.1's limits, enforced by both backends). */
export const HMAC_MIN_KEY_BYTES = { 'hmac-sha256': 32, 'hmac-sha512': 64 } as const;

/** Output length of the hash behind an HMAC kind (RFC 5869 HashLen). */
export const HMAC_HASH_BYTES = { 'hmac-sha256': 32, 'hmac-sha512': 64 } as const;

/** AES-256-GCM nonce and tag lengths (NIST SP 800-38D, 96-bit nonce, 128-bit tag). */
export const SEAL_NONCE_BYTES = 12;
export const SEAL_TAG_BYTES = 16;

/** Largest value a counter can hold: it is stored as 8 bytes big-endian. */
export const COUNTER_MAX = (1n << 64n) - 1n;

const LABEL_MAX = 128;

export function isKeyKind(x: unknown): x is KeyKind {
  return typeof x === 'string' && (KEY_KINDS as readonly string[]).includes(x);
}

export function checkKind(kind: unknown): KeyKind {
  if (!isKeyKind(kind)) {
    throw new VaultError('InvalidParameter', `"kind" expected one of ${KEY_KINDS.join(', ')}, got ${String(kind)}`);
  }
  return kind;
}

/** Key labels and counter names: 1..128 printable ASCII characters. */
export function checkLabel(label: unknown, name = 'label'): string {
  if (typeof label !== 'string' || label.length === 0 || label.length > LABEL_MAX || !/^[\x21-\x7e]+$/.test(label)) {
    throw new VaultError(
      'InvalidParameter',
      `"${name}" expected 1..${LABEL_MAX} printable ASCII characters without spaces, got ${JSON.stringify(label)}`,
    );
  }
  return label;
}

export function checkBytes(x: unknown, name: string): Bytes {
  if (!(x instanceof Uint8Array))
    throw new VaultError('InvalidParameter', `"${name}" expected Uint8Array, got ${typeof x}`);
  return x;
}

/** Checks the length of an imported or unwrapped secret of `kind` (the scalar ranges are checked by the backend). */
export function checkSecretLength(kind: KeyKind, secret: Bytes): void {
  if (kind === 'hmac-sha256' || kind === 'hmac-sha512') {
    const min = HMAC_MIN_KEY_BYTES[kind];
    if (secret.length < min)
      throw new VaultError('InvalidParameter', `${kind} key expected at least ${min} bytes, got ${secret.length}`);
    return;
  }
  const expected = GENERATED_SECRET_BYTES[kind];
  if (secret.length !== expected)
    throw new VaultError('InvalidParameter', `${kind} secret expected ${expected} bytes, got ${secret.length}`);
}

/** Refuses a key whose kind does not allow the operation. */
export function requireKind(label: string, kind: KeyKind, allowed: readonly KeyKind[], operation: string): void {
  if (!allowed.includes(kind)) {
    throw new VaultError(
      'InvalidParameter',
      `${operation}: key "${label}" is ${kind}, expected ${allowed.join(' or ')}`,
    );
  }
}

/** RFC 5869 §2.3: L <= 255 * HashLen. */
export function checkHkdfLength(kind: 'hmac-sha256' | 'hmac-sha512', length: unknown): number {
  const max = 255 * HMAC_HASH_BYTES[kind];
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > max) {
    throw new VaultError(
      'InvalidParameter',
      `hkdfExpand: "length" expected an integer in 0..${max}, got ${String(length)}`,
    );
  }
  return length;
}

export function checkNonce(nonce: unknown): Bytes {
  const n = checkBytes(nonce, 'nonce');
  if (n.length !== SEAL_NONCE_BYTES)
    throw new VaultError('InvalidParameter', `seal: "nonce" expected ${SEAL_NONCE_BYTES} bytes, got ${n.length}`);
  return n;
}

export function checkCounterValue(value: unknown): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > COUNTER_MAX) {
    throw new VaultError(
      'InvalidParameter',
      `advanceCounter: "value" expected a bigint in 0..2^64-1, got ${String(value)}`,
    );
  }
  return value;
}

/** `advanceCounter` refuses to go backwards: the anchor against rollback of host storage. */
export function refuseDecrease(name: string, current: bigint, value: bigint): void {
  if (value < current) {
    throw new VaultError(
      'StaleState',
      `advanceCounter: counter "${name}" is at ${current}, refusing to move back to ${value}`,
    );
  }
}

/** Domain-separation strings of the key-wrapping formats (see memory.ts and softhsm.ts). */
export const WRAP_CONTEXT = {
  memory: 'bkv/hsm/wrap/memory/v1',
  softhsm: 'bkv/hsm/wrap/softhsm/v1',
} as const;

/** GenerateOptions.wrapTo as hex (checked: 32-byte keys, at least one), or undefined. */
export function exportPolicy(options: GenerateOptions): string[] | undefined {
  if (options.wrapTo === undefined) return undefined;
  if (options.wrappable !== true) {
    throw new VaultError('InvalidParameter', '"wrapTo" is an export policy: only for a wrappable key');
  }
  if (!Array.isArray(options.wrapTo) || options.wrapTo.length === 0) {
    throw new VaultError('InvalidParameter', '"wrapTo" expected at least one X25519 public key');
  }
  return options.wrapTo.map((k, i) => {
    const b = checkBytes(k, `wrapTo[${i}]`);
    if (b.length !== 32) throw new VaultError('InvalidParameter', `"wrapTo[${i}]" expected 32 bytes, got ${b.length}`);
    return toHex(b);
  });
}

/** The HSM's side of the export policy: a recipient the policy does not name is refused. */
export function refuseOutsidePolicy(label: string, wrapTo: readonly string[] | undefined, recipient: Bytes): void {
  if (wrapTo !== undefined && !wrapTo.includes(toHex(recipient))) {
    throw new VaultError('HsmError', `wrapKey: key "${label}" may be wrapped only to the keys its export policy names`);
  }
}
