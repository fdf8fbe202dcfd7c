/**
 * The one authenticated-encryption construction bkv uses at the application layer:
 * key = HKDF-SHA256(ikm, salt = "", info = label, 32), then AES-256-GCM with a 12-byte nonce from
 * `rng`; output nonce || ciphertext || tag. Three labels use it (spec ch. 3):
 *   "bkv sealed payload"  K wrapped by the client under export_key (stored in the vault)
 *   "bkv release"         the sealed payload as released to the client under the OPAQUE session_key
 *   "backup encryption"   the backup itself, under K
 * @module
 */
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Bytes, type Rng, utf8 } from './bytes.ts';
import { VaultError } from '../errors.ts';

export type AeadLabel = 'bkv sealed payload' | 'bkv release' | 'backup encryption';
const NONCE = 12;
const TAG = 16;

function key(ikm: Bytes, label: AeadLabel): Bytes {
  return hkdf(sha256, ikm, new Uint8Array(0), utf8(label), 32);
}

export function aeadSeal(ikm: Bytes, label: AeadLabel, plaintext: Bytes, aad: Bytes, rng: Rng): Bytes {
  const nonce = rng(NONCE);
  const ct = gcm(key(ikm, label), nonce, aad).encrypt(plaintext);
  const out = new Uint8Array(NONCE + ct.length);
  out.set(nonce);
  out.set(ct, NONCE);
  return out;
}

/** Throws VaultError(code) when the key, label, aad or ciphertext do not match. */
export function aeadOpen(
  ikm: Bytes,
  label: AeadLabel,
  sealed: Bytes,
  aad: Bytes,
  code: 'ChannelDecryptFailed' | 'MalformedMessage' = 'MalformedMessage',
): Bytes {
  if (sealed.length < NONCE + TAG)
    throw new VaultError(
      'MalformedMessage',
      `"${label}" sealed data expected at least ${NONCE + TAG} bytes, got ${sealed.length}`,
    );
  try {
    return gcm(key(ikm, label), sealed.subarray(0, NONCE), aad).decrypt(sealed.subarray(NONCE));
  } catch {
    throw new VaultError(code, `"${label}" authentication failed`);
  }
}
