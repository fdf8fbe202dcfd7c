/**
 * The HSM boundary. Everything the vault keeps secret lives behind this interface: long-term
 * private keys never leave it (they are generated inside, non-extractable), and callers hold
 * labels, never key bytes. Two backends implement it: `memory` (pure @noble, the embedded
 * default) and `softhsm` (PKCS#11 through graphene-pk11 against SoftHSM2 tokens).
 *
 * The interface is synchronous on purpose: the vault's step functions are pure functions over
 * explicit state, and an HSM call is one deterministic operation from their point of view.
 *
 * Spec: spec/04-hsm.md.
 * @module
 */
import type { Bytes, Rng } from '../crypto/bytes.ts';

/**
 * What a key is for, which fixes its algorithm:
 * - `ed25519`: signatures (replica identity, operator counter-signature, attestation).
 * - `x25519`: Diffie-Hellman (Noise channel key, OPAQUE server key in the Curve25519 3DH suite,
 *   key-transport key that other HSMs wrap fleet secrets to).
 * - `ristretto255`, `p256`: OPAQUE server AKE keys of those suites (memory backend only: PKCS#11
 *   has no ristretto255, and its P-256 ECDH returns the x-coordinate only, while RFC 9807 needs the
 *   whole compressed point).
 * - `hmac-sha256`, `hmac-sha512`: keyed PRFs (the OPRF seed; HKDF-Expand is built from them).
 * - `aes256gcm`: sealing of host state.
 */
export type KeyKind = 'ed25519' | 'x25519' | 'ristretto255' | 'p256' | 'hmac-sha256' | 'hmac-sha512' | 'aes256gcm';

/** The attributes an HSM reports about a key (PKCS#11 names), used in attestations. */
export interface KeyInfo {
  readonly label: string;
  readonly kind: KeyKind;
  /** Public key bytes for asymmetric kinds (raw 32 bytes for 25519, SEC1 compressed for P-256). */
  readonly publicKey?: Bytes;
  /** Generated inside this HSM (CKA_LOCAL). False for imported or unwrapped keys. */
  readonly local: boolean;
  /** CKA_NEVER_EXTRACTABLE */
  readonly neverExtractable: boolean;
  /** CKA_EXTRACTABLE: may leave the HSM wrapped (fleet secrets); false for identity keys. */
  readonly extractable: boolean;
  /** CKA_SENSITIVE: never leaves in plaintext. */
  readonly sensitive: boolean;
  /**
   * Created from key bytes the host supplied (`importKey`, PKCS#11 C_CreateObject): the secret has
   * been in host memory. False for generated and unwrapped keys.
   */
  readonly imported: boolean;
  /**
   * The export policy of an extractable key, fixed when it was generated: the only X25519
   * key-transport public keys `wrapKey` accepts (PKCS#11 CKA_WRAP_WITH_TRUSTED with the trusted
   * wrapping keys). Undefined: no policy (any recipient), as for a key generated without `wrapTo`.
   */
  readonly wrapTo?: readonly Bytes[];
  /** How many times this HSM has wrapped the key (a counter the HSM keeps; 0 if never). */
  readonly wrapCount: number;
}

export interface GenerateOptions {
  /** Fleet secrets are generated wrappable (extractable but sensitive) so they can reach other HSMs wrapped. */
  readonly wrappable?: boolean;
  /**
   * With `wrappable`: the export policy, fixed for the key's life. `wrapKey` refuses any recipient
   * not in this list (`HsmError`), and `keyInfo` reports the list (spec ch. 4, "Export policy").
   */
  readonly wrapTo?: readonly Bytes[];
}

export interface Hsm {
  readonly backend: 'memory' | 'softhsm';
  /** The token label (one token per replica). */
  readonly label: string;

  /** Generates a key inside the HSM. Refuses a label already in use. */
  generateKey(label: string, kind: KeyKind, options?: GenerateOptions): KeyInfo;
  /** Imports known key material (test vectors, deterministic fixtures); reported `local: false`. */
  importKey(label: string, kind: KeyKind, secret: Bytes, options?: GenerateOptions): KeyInfo;
  hasKey(label: string): boolean;
  keyInfo(label: string): KeyInfo;
  deleteKey(label: string): void;

  /** Ed25519 signature. */
  sign(label: string, message: Bytes): Bytes;
  /** Diffie-Hellman with the labelled private key: X25519, ristretto255 (encoded point) or P-256 (compressed point). */
  dh(label: string, peerPublicKey: Bytes): Bytes;
  /** HMAC with the labelled secret (hash fixed by its kind). */
  hmac(label: string, message: Bytes): Bytes;
  /** HKDF-Expand (RFC 5869 §2.3) with the labelled secret as PRK, built from in-HSM HMAC. */
  hkdfExpand(label: string, info: Bytes, length: number): Bytes;

  /**
   * AES-256-GCM with the labelled key; the 12-byte nonce is the caller's (from its rng).
   * Output: nonce || ciphertext || tag.
   */
  seal(label: string, plaintext: Bytes, aad: Bytes, nonce: Bytes): Bytes;
  /** Inverse of `seal`; a forged or altered blob throws `VaultError('SealBroken')`. */
  unseal(label: string, sealed: Bytes, aad: Bytes): Bytes;

  /**
   * Exports a wrappable secret encrypted to another HSM's X25519 key-transport public key; refused
   * (`HsmError`) if the key's export policy (`wrapTo`) does not name the recipient. Counts the wrap.
   */
  wrapKey(label: string, recipientPublicKey: Bytes, rng: Rng): Bytes;
  /** Imports a wrapped secret with this HSM's X25519 key-transport key `unwrapWith`; the result is sensitive. */
  unwrapKey(label: string, kind: KeyKind, wrapped: Bytes, unwrapWith: string): KeyInfo;

  /**
   * A monotonic counter kept inside the HSM (a token object), the anchor against rollback of
   * host storage: `advanceCounter` refuses to go backwards.
   */
  readCounter(name: string): bigint;
  advanceCounter(name: string, value: bigint): void;

  /** Releases sessions and handles. The token and its objects persist. */
  close(): void;
}

/** Every operation of the interface, by name (a type check below keeps the list complete). */
export const HSM_OPERATIONS = [
  'generateKey',
  'importKey',
  'hasKey',
  'keyInfo',
  'deleteKey',
  'sign',
  'dh',
  'hmac',
  'hkdfExpand',
  'seal',
  'unseal',
  'wrapKey',
  'unwrapKey',
  'readCounter',
  'advanceCounter',
  'close',
] as const satisfies readonly (keyof Hsm)[];

type Operation = (typeof HSM_OPERATIONS)[number];
type Unlisted = Exclude<
  { [K in keyof Hsm]: Hsm[K] extends (...a: never[]) => unknown ? K : never }[keyof Hsm],
  Operation
>;
const complete: [Unlisted] extends [never] ? true : Unlisted = true;
void complete;

/**
 * The same HSM, seen through a runtime that watches or replaces some of its operations: the
 * simulator counts durable writes to crash a replica between two of them; a deliberately broken
 * variant (src/broken/) replaces the counters. The view delegates every other operation.
 */
export function hsmView(inner: Hsm, overrides: Partial<Pick<Hsm, Operation>>): Hsm {
  const view: Record<string, unknown> = { backend: inner.backend, label: inner.label };
  for (const op of HSM_OPERATIONS) view[op] = overrides[op] ?? (inner[op] as (...a: unknown[]) => unknown).bind(inner);
  return Object.freeze(view) as unknown as Hsm;
}
