/**
 * Ed25519 signers and signed documents for the fleet (spec ch. 7).
 *
 * A `Signer` is a public key and a signing function; every signer of the fleet is an HSM key
 * (`hsmSigner`): the vendor's root and attestation keys, the witness key, the operator's
 * counter-signing key. A signed document is `{ body, signature }` with the Ed25519 signature
 * (RFC 8032 §5.1.6) over the UTF-8 bytes of `canonicalJson(body)`; every body carries a `type`
 * member naming what it is, so a signature over one kind of document is never valid as another.
 *
 * Verification is RFC 8032 §5.1.7 in its strict form (`zip215: false`: canonical encodings of R,
 * A and S, cofactorless equation), so a signature has one valid encoding.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { type Bytes, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
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
  if (info.kind !== 'ed25519' || info.publicKey === undefined) throw new VaultError('InvalidParameter', `key "${label}" is ${info.kind}, expected ed25519`);
  const publicKey = info.publicKey;
  return { publicKey, sign: (message) => hsm.sign(label, message) };
}

/** RFC 8032 §5.1.7, strict; false for any malformed input instead of an exception. */
export function isValidSignature(signature: Bytes, message: Bytes, publicKey: Bytes): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
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
  return { body: readBody(o.body, `${path}.body`), signature: readHex(o.signature, `${path}.signature`, ED25519_SIGNATURE_BYTES) };
}
