/**
 * The crypto functions of the Noise Protocol Framework (revision 34, §4 and §12) and the
 * ciphersuites of the NK channel built from them. A suite is one protocol name (§8):
 *
 *   Noise_NK_25519_<cipher>_<hash>,  cipher ∈ {AESGCM, ChaChaPoly},  hash ∈ {SHA256, SHA512, BLAKE2s, BLAKE2b}
 *
 * - DH (§4.1, §12.1): X25519. A key pair is a `DhKey`, `{ publicKey, dh(peerPublic) }`, so that a
 *   private key can live inside an HSM and only the DH operation is exposed.
 * - Cipher (§4.2, §12.3, §12.4): AEAD with a 12-byte nonce built from the 64-bit counter `n`.
 * - Hash (§4.3, §12.5-§12.8): HASH and HMAC-HASH; HKDF is in `noise-state.ts`.
 *
 * The handshake and transport are in `noise.ts`.
 * @module
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2b, blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';
import type { Bytes, Rng } from './bytes.ts';
import { VaultError, isVaultError } from '../errors.ts';
import { checkX25519PublicKey } from './x25519.ts';

// ---------------------------------------------------------------------------------------------
// DH functions (§4.1, §12.1)

/**
 * A Diffie-Hellman key pair as Noise uses it: the public key, and DH with the private key.
 * The private key may be in memory (`x25519KeyFromPrivate`) or in an HSM
 * (`{ publicKey: hsm.keyInfo(label).publicKey, dh: (p) => hsm.dh(label, p) }`).
 */
export interface DhKey {
  readonly publicKey: Bytes;
  dh(peerPublic: Bytes): Bytes;
}

export interface NoiseDh {
  readonly name: '25519';
  /** DHLEN (§4.1) */
  readonly dhLen: 32;
  /** GENERATE_KEYPAIR() (§4.1): `dhLen` bytes from `rng` become the private key. */
  generateKeyPair(rng: Rng): DhKey;
  /** A key pair from known private key bytes (test vectors, fixtures). */
  keyPairFromPrivate(privateKey: Bytes): DhKey;
}

/**
 * Checks a byte-array argument (not a received message): `InvalidParameter` naming it, with expected and actual sizes.
 */
export function checkBytesParam(x: unknown, length: number | undefined, name: string): Bytes {
  if (!(x instanceof Uint8Array))
    throw new VaultError('InvalidParameter', `"${name}" expected Uint8Array, got ${typeof x}`);
  if (length !== undefined && x.length !== length)
    throw new VaultError('InvalidParameter', `"${name}" expected ${length} bytes, got ${x.length}`);
  return x;
}

/** An in-memory X25519 key pair (RFC 7748 §5; the scalar is clamped by X25519 itself). */
export function x25519KeyFromPrivate(privateKey: Bytes): DhKey {
  const sk = Uint8Array.from(checkBytesParam(privateKey, 32, 'privateKey'));
  return Object.freeze({
    publicKey: x25519.getPublicKey(sk),
    dh: (peerPublic: Bytes) => x25519.getSharedSecret(sk, peerPublic),
  });
}

/**
 * DH(key_pair, public_key) with the checks this project adds (§4.1 lets a DH function signal an
 * error for invalid public keys; §12.1 lets X25519 signal one where it would output all zeros).
 *
 * Choice: we REJECT, with `InvalidPoint`, (a) a peer public key that the one X25519 rule of
 * `x25519.ts` refuses (of low order, or not canonical: u >= p, bit 255 set), before the private key
 * is used (so an HSM never runs its long-term key against it), and (b) any all-zero output,
 * whatever backend computed it. §12.1 discourages this but allows it. Our reasons: §14 ("Misusing
 * public keys as secrets") notes that a `Noise_NK_25519` initiator can force an all-zero `es` with
 * an invalid ephemeral; refusing gives one behaviour across the memory and PKCS#11 backends
 * (§14, "Implementation fingerprinting"); and every X25519 key bkv receives, in Noise or in
 * OPAQUE, follows one rule (spec ch. 2 §2.6). No honest peer sends a key the rule refuses.
 */
export function computeDh(key: DhKey, peerPublic: Bytes): Bytes {
  checkX25519PublicKey(peerPublic, 'X25519 public key');
  let out: Bytes;
  try {
    out = key.dh(peerPublic);
  } catch (e) {
    if (isVaultError(e)) throw e; // e.g. HsmError from the HSM boundary
    throw new VaultError('InvalidPoint', `X25519 failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!(out instanceof Uint8Array) || out.length !== 32)
    throw new VaultError('InvalidParameter', 'DH callback expected to return 32 bytes');
  if (out.every((b) => b === 0)) throw new VaultError('InvalidPoint', 'X25519 output is all zeros');
  return out;
}

export const DH_25519: NoiseDh = Object.freeze({
  name: '25519',
  dhLen: 32,
  generateKeyPair(rng: Rng): DhKey {
    return x25519KeyFromPrivate(checkBytesParam(rng(32), 32, 'rng(32)'));
  },
  keyPairFromPrivate: x25519KeyFromPrivate,
});

// ---------------------------------------------------------------------------------------------
// Cipher functions (§4.2, §12.3, §12.4)

export interface NoiseCipher {
  readonly name: 'AESGCM' | 'ChaChaPoly';
  /** ENCRYPT(k, n, ad, plaintext): ciphertext || 16-byte tag. */
  encrypt(k: Bytes, n: bigint, ad: Bytes, plaintext: Bytes): Bytes;
  /** DECRYPT(k, n, ad, ciphertext): throws `ChannelDecryptFailed` on authentication failure. */
  decrypt(k: Bytes, n: bigint, ad: Bytes, ciphertext: Bytes): Bytes;
}

/** Length of the AEAD tag, for both ciphers (§4.2: "16 bytes of authentication data"). */
export const TAG_LEN = 16;

function nonce96(n: bigint, littleEndian: boolean): Bytes {
  const out = new Uint8Array(12); // 32 bits of zeros, then the 64-bit counter
  new DataView(out.buffer).setBigUint64(4, n, littleEndian);
  return out;
}

type Aead = (key: Bytes, nonce: Bytes, aad: Bytes) => { encrypt(p: Bytes): Bytes; decrypt(c: Bytes): Bytes };

function aeadCipher(name: NoiseCipher['name'], aead: Aead, littleEndian: boolean): NoiseCipher {
  return Object.freeze({
    name,
    encrypt: (k: Bytes, n: bigint, ad: Bytes, plaintext: Bytes) =>
      aead(k, nonce96(n, littleEndian), ad).encrypt(plaintext),
    decrypt(k: Bytes, n: bigint, ad: Bytes, ciphertext: Bytes): Bytes {
      try {
        return aead(k, nonce96(n, littleEndian), ad).decrypt(ciphertext);
      } catch {
        throw new VaultError('ChannelDecryptFailed', `${name}: authentication failed (n = ${n})`);
      }
    },
  });
}

/** §12.4: AES-256-GCM, nonce = 4 zero bytes || big-endian n. */
export const CIPHER_AESGCM = aeadCipher('AESGCM', gcm, false);
/** §12.3: ChaCha20-Poly1305 (RFC 8439), nonce = 4 zero bytes || little-endian n. */
export const CIPHER_CHACHAPOLY = aeadCipher('ChaChaPoly', chacha20poly1305, true);

// ---------------------------------------------------------------------------------------------
// Hash functions (§4.3, §12.5-§12.8)

export interface NoiseHash {
  readonly name: 'SHA256' | 'SHA512' | 'BLAKE2s' | 'BLAKE2b';
  /** HASHLEN */
  readonly hashLen: 32 | 64;
  /** BLOCKLEN */
  readonly blockLen: 64 | 128;
  hash(data: Bytes): Bytes;
  /** HMAC-HASH(key, data) (RFC 2104), used by HKDF (§4.3). */
  hmac(key: Bytes, data: Bytes): Bytes;
}

function noiseHash(name: NoiseHash['name'], h: CHash, hashLen: 32 | 64, blockLen: 64 | 128): NoiseHash {
  if (h.outputLen !== hashLen || h.blockLen !== blockLen) throw new Error(`${name}: unexpected lengths`);
  return Object.freeze({
    name,
    hashLen,
    blockLen,
    hash: (data: Bytes) => h(data),
    hmac: (key: Bytes, data: Bytes) => hmac(h, key, data),
  });
}

export const HASH_SHA256 = noiseHash('SHA256', sha256, 32, 64); // §12.5
export const HASH_SHA512 = noiseHash('SHA512', sha512, 64, 128); // §12.6
export const HASH_BLAKE2S = noiseHash('BLAKE2s', blake2s, 32, 64); // §12.7
export const HASH_BLAKE2B = noiseHash('BLAKE2b', blake2b, 64, 128); // §12.8

// ---------------------------------------------------------------------------------------------
// Suites (§8)

export interface NoiseSuite {
  /** The full protocol name (§8), e.g. `Noise_NK_25519_AESGCM_SHA256`; it seeds `h` (§5.2). */
  readonly protocolName: string;
  readonly pattern: 'NK';
  readonly dh: NoiseDh;
  readonly cipher: NoiseCipher;
  readonly hash: NoiseHash;
}

function nkSuite(cipher: NoiseCipher, hash: NoiseHash): NoiseSuite {
  return Object.freeze({
    protocolName: `Noise_NK_${DH_25519.name}_${cipher.name}_${hash.name}`,
    pattern: 'NK',
    dh: DH_25519,
    cipher,
    hash,
  });
}

/** All eight NK suites, by protocol name. */
export const NOISE_NK_SUITES: Readonly<Record<string, NoiseSuite>> = Object.freeze(
  Object.fromEntries(
    [CIPHER_AESGCM, CIPHER_CHACHAPOLY]
      .flatMap((c) => [HASH_SHA256, HASH_SHA512, HASH_BLAKE2S, HASH_BLAKE2B].map((h) => nkSuite(c, h)))
      .map((s) => [s.protocolName, s]),
  ),
);

/** The suite named `protocolName`; throws `InvalidParameter` for any other name. */
export function getNoiseSuite(protocolName: string): NoiseSuite {
  const suite = Object.hasOwn(NOISE_NK_SUITES, protocolName) ? NOISE_NK_SUITES[protocolName] : undefined;
  if (suite === undefined) {
    throw new VaultError(
      'InvalidParameter',
      `unknown Noise protocol "${protocolName}", expected one of ${Object.keys(NOISE_NK_SUITES).join(', ')}`,
    );
  }
  return suite;
}

/** The channel's default suite (DESIGN §3.1). */
export const NOISE_NK_25519_AESGCM_SHA256 = getNoiseSuite('Noise_NK_25519_AESGCM_SHA256');
export const NOISE_NK_25519_CHACHAPOLY_SHA256 = getNoiseSuite('Noise_NK_25519_ChaChaPoly_SHA256');
