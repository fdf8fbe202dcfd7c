/**
 * The processing-rule objects of the Noise Protocol Framework (revision 34, §5.1 and §5.2):
 * `CipherState` (a key `k` and a 64-bit nonce `n`) and `SymmetricState` (chaining key `ck`,
 * handshake hash `h`, and a CipherState), with HKDF from §4.3.
 *
 *   InitializeSymmetric(protocol_name) -> MixHash(prologue) -> MixHash / MixKey per token
 *   -> EncryptAndHash / DecryptAndHash(payload) -> ... -> Split() -> (c1, c2) for transport
 *
 * The handshake (§5.3) that drives them is in `noise.ts`.
 * @module
 */
import { concat, type Bytes } from './bytes.ts';
import type { NoiseSuite, NoiseHash, NoiseCipher } from './noise-suite.ts';
import { TAG_LEN } from './noise-suite.ts';
import { VaultError } from '../errors.ts';

const EMPTY = new Uint8Array(0);
/** §5.1: the nonce 2^64-1 is reserved; a CipherState that reaches it refuses to work. */
export const MAX_NONCE = 2n ** 64n - 1n;

/**
 * HKDF(chaining_key, input_key_material, num_outputs) (§4.3):
 *   temp_key = HMAC-HASH(chaining_key, input_key_material)
 *   output1  = HMAC-HASH(temp_key, 0x01)
 *   output2  = HMAC-HASH(temp_key, output1 || 0x02)
 *   output3  = HMAC-HASH(temp_key, output2 || 0x03)
 */
export function noiseHkdf(hash: NoiseHash, chainingKey: Bytes, inputKeyMaterial: Bytes, numOutputs: 2 | 3): Bytes[] {
  const tempKey = hash.hmac(chainingKey, inputKeyMaterial);
  const outputs: Bytes[] = [];
  let prev: Bytes = EMPTY;
  for (let i = 1; i <= numOutputs; i++) {
    prev = hash.hmac(tempKey, concat(prev, Uint8Array.of(i)));
    outputs.push(prev);
  }
  return outputs;
}

/** §5.1: a cipher key (possibly empty) and the nonce counter `n`. */
export class CipherState {
  #k: Bytes | undefined;
  #n = 0n;
  constructor(private readonly cipher: NoiseCipher) {}

  /** InitializeKey(key): k = key, n = 0 (§5.1). */
  initializeKey(key: Bytes | undefined): void {
    this.#k = key === undefined ? undefined : Uint8Array.from(key);
    this.#n = 0n;
  }
  /** HasKey() (§5.1) */
  hasKey(): boolean {
    return this.#k !== undefined;
  }
  /** SetNonce(nonce) (§5.1): for §11.4-style out-of-order protocols and tests; this project's transport never calls it. */
  setNonce(nonce: bigint): void {
    if (nonce < 0n || nonce > MAX_NONCE) throw new VaultError('InvalidParameter', `nonce expected 0..2^64-1, got ${nonce}`);
    this.#n = nonce;
  }
  /** The next nonce to use: the count of messages encrypted or decrypted with this key. */
  get nonce(): bigint {
    return this.#n;
  }

  /** EncryptWithAd(ad, plaintext) (§5.1): returns the plaintext unchanged while k is empty. */
  encryptWithAd(ad: Bytes, plaintext: Bytes): Bytes {
    if (this.#k === undefined) return plaintext;
    this.#checkNonce();
    const out = this.cipher.encrypt(this.#k, this.#n, ad, plaintext);
    this.#n++;
    return out;
  }
  /**
   * DecryptWithAd(ad, ciphertext) (§5.1). On an authentication failure it throws
   * `ChannelDecryptFailed` and, as §5.1 says, does NOT increment n: a forged message does not
   * desynchronise the channel.
   */
  decryptWithAd(ad: Bytes, ciphertext: Bytes): Bytes {
    if (this.#k === undefined) return ciphertext;
    this.#checkNonce();
    if (ciphertext.length < TAG_LEN) throw new VaultError('MalformedMessage', `ciphertext expected at least ${TAG_LEN} bytes, got ${ciphertext.length}`);
    const out = this.cipher.decrypt(this.#k, this.#n, ad, ciphertext);
    this.#n++;
    return out;
  }
  #checkNonce(): void {
    // §5.1: "If incrementing n results in 2^64-1, then any further EncryptWithAd() or
    // DecryptWithAd() calls will signal an error to the caller."
    if (this.#n >= MAX_NONCE) throw new VaultError('ChannelStateError', 'nonce space exhausted (n = 2^64-1)');
  }
}

/** §5.2: chaining key `ck`, handshake hash `h`, and the handshake CipherState. */
export class SymmetricState {
  #ck: Bytes;
  #h: Bytes;
  readonly #cs: CipherState;

  /** InitializeSymmetric(protocol_name) (§5.2). */
  constructor(private readonly suite: NoiseSuite) {
    const name = new TextEncoder().encode(suite.protocolName);
    const { hashLen } = suite.hash;
    // §5.2: if protocol_name fits in HASHLEN bytes, h = protocol_name zero-padded; else HASH(name)
    this.#h = name.length <= hashLen ? concat(name, new Uint8Array(hashLen - name.length)) : suite.hash.hash(name);
    this.#ck = this.#h;
    this.#cs = new CipherState(suite.cipher);
    this.#cs.initializeKey(undefined);
  }

  /** MixKey(input_key_material) (§5.2). */
  mixKey(inputKeyMaterial: Bytes): void {
    const [ck, tempK] = noiseHkdf(this.suite.hash, this.#ck, inputKeyMaterial, 2) as [Bytes, Bytes];
    this.#ck = ck;
    this.#cs.initializeKey(tempK.slice(0, 32)); // §5.2: if HASHLEN is 64, truncate temp_k to 32 bytes
  }
  /** MixHash(data) (§5.2): h = HASH(h || data). */
  mixHash(data: Bytes): void {
    this.#h = this.suite.hash.hash(concat(this.#h, data));
  }
  /** GetHandshakeHash() (§5.2) */
  get handshakeHash(): Bytes {
    return Uint8Array.from(this.#h);
  }
  /** Whether a key has been mixed in (so payloads are encrypted and carry a tag). */
  hasKey(): boolean {
    return this.#cs.hasKey();
  }
  /** EncryptAndHash(plaintext) (§5.2): ciphertext = EncryptWithAd(h, plaintext); MixHash(ciphertext). */
  encryptAndHash(plaintext: Bytes): Bytes {
    const ciphertext = this.#cs.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }
  /** DecryptAndHash(ciphertext) (§5.2): plaintext = DecryptWithAd(h, ciphertext); MixHash(ciphertext). */
  decryptAndHash(ciphertext: Bytes): Bytes {
    const plaintext = this.#cs.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }
  /** Split() (§5.2): two CipherStates, c1 for initiator -> responder, c2 for responder -> initiator. */
  split(): [c1: CipherState, c2: CipherState] {
    const [k1, k2] = noiseHkdf(this.suite.hash, this.#ck, EMPTY, 2) as [Bytes, Bytes];
    const c1 = new CipherState(this.suite.cipher);
    const c2 = new CipherState(this.suite.cipher);
    c1.initializeKey(k1.slice(0, 32));
    c2.initializeKey(k2.slice(0, 32));
    return [c1, c2];
  }
}
