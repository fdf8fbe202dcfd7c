/**
 * Ed25519 signers and signed documents for the fleet (spec ch. 7).
 *
 * A `Signer` is a public key and a signing function; every signer of the fleet is an HSM key
 * (`hsmSigner`): the vendor's root and attestation keys, the witness key, the operator's
 * counter-signing key. A signed document is `{ body, signature }` with the Ed25519 signature
 * (RFC 8032 §5.1.6) over the UTF-8 bytes of `canonicalJson(body)`; every body carries a `type`
 * member naming what it is, so a signature over one kind of document is never valid as another.
 *
 * Verification (`isValidSignature`) is ed25519-dalek's `verify_strict`, the check Cloudflare's
 * auditor (plexi) runs on its own signatures, built on @noble/curves' points (spec ch. 7 §7.7):
 *   1. S < L (RFC 8032 §5.1.7 step 1)                            a signature has one S
 *   2. A and R decode canonically (y < p, no negative zero)      noble's strict decoding
 *   3. neither A nor R is of small order                         noble refuses a small-order A
 *                                                                in strict mode, not a small R
 *   4. [S]B - [k]A encodes to exactly R's bytes, k = SHA-512(R || A || M) mod L
 *                                                                cofactorless, as dalek; noble's
 *                                                                verify checks the cofactored
 *                                                                equation [8][S]B = [8]R + [8][k]A
 * So a signature has one valid encoding, and nothing dalek's verify_strict refuses is accepted;
 * non-canonical A encodings (which dalek accepts) are refused too.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { type Bytes, concat, ctEqual, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { readHex, readObject } from './json.ts';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

export interface Signer {
  readonly publicKey: Bytes;
  sign(message: Bytes): Bytes;
}

/** The Ed25519 key `label` of `hsm` as a signer, generated inside the HSM if it is not there yet. */
export function hsmSigner(hsm: Hsm, label: string): Signer {
  const info = hsm.hasKey(label) ? hsm.keyInfo(label) : hsm.generateKey(label, 'ed25519');
  if (info.kind !== 'ed25519' || info.publicKey === undefined)
    throw new VaultError('InvalidParameter', `key "${label}" is ${info.kind}, expected ed25519`);
  const publicKey = info.publicKey;
  return { publicKey, sign: (message) => hsm.sign(label, message) };
}

const { Point } = ed25519;

/** ed25519-dalek's verify_strict (see the module header); false for any malformed input instead of an exception. */
export function isValidSignature(signature: Bytes, message: Bytes, publicKey: Bytes): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  const rBytes = signature.subarray(0, 32);
  const s = bytesToNumberLE(signature.subarray(32));
  if (s >= Point.Fn.ORDER) return false; // 1. S canonical
  let A: InstanceType<typeof Point>;
  let R: InstanceType<typeof Point>;
  try {
    A = Point.fromBytes(publicKey, false); // 2. canonical encodings (zip215: false)
    R = Point.fromBytes(rBytes, false);
  } catch {
    return false;
  }
  if (A.isSmallOrder() || R.isSmallOrder()) return false; // 3.
  const k = Point.Fn.create(bytesToNumberLE(sha512(concat(rBytes, publicKey, message)))); // RFC 8032 §5.1.7 step 2
  const expected = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k)); // 4. [S]B - [k]A
  return ctEqual(expected.toBytes(), rBytes);
}

/** A document and the Ed25519 signature over the canonical JSON of its body (hex). */
export interface Signed<T> {
  readonly body: T;
  readonly signature: string;
}

export function encodeSigningInput(body: unknown): Bytes {
  return utf8(canonicalJson(body));
}

export function signDocument<T>(signer: Signer, body: T): Signed<T> {
  return { body, signature: toHex(signer.sign(encodeSigningInput(body))) };
}

/** Whether `doc.signature` is a valid signature by `publicKey` over `doc.body`. */
export function isSignedBy(doc: Signed<unknown>, publicKey: Bytes): boolean {
  return isValidSignature(fromHex(doc.signature), encodeSigningInput(doc.body), publicKey);
}

/** The shape `{ body, signature }`, with the body read by `readBody`. */
export function decodeSigned<T>(x: unknown, path: string, readBody: (body: unknown, path: string) => T): Signed<T> {
  const o = readObject(x, path, ['body', 'signature']);
  return {
    body: readBody(o.body, `${path}.body`),
    signature: readHex(o.signature, `${path}.signature`, ED25519_SIGNATURE_BYTES),
  };
}
