/**
 * The processing-rule objects of the Noise Protocol Framework (revision 34, §5.1 and §5.2):
 * `CipherState` (a key `k` and a 64-bit nonce `n`) and `SymmetricState` (chaining key `ck`,
 * handshake hash `h`, and a CipherState), with HKDF from §4.3.
 *
 *   InitializeSymmetric(protocol_name) -> MixHash(prologue) -> MixHash / MixKey per token
 *   -> EncryptAndHash / DecryptAndHash(payload) -> ... -> Split() -> (c1, c2) for transport
 *
 * CipherState is an immutable value (the transport after Split is made of two); SymmetricState
 * is mutable, owned by the one handshake (§5.3, `noise-handshake.ts`) that drives it.
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

/**
 * §5.1: a cipher key (possibly empty) and the nonce counter `n`, as an immutable value: each
 * operation returns the next CipherState, so a state once handed out (a transport held in a vault
 * node or a client session) never changes. The next state shares this one's key, which is copied
 * once, in `initializeKey`, and never written.
 */
export class CipherState {
  readonly #cipher: NoiseCipher;
  readonly #k: Bytes | undefined;
  readonly #n: bigint;
  private constructor(cipher: NoiseCipher, k: Bytes | undefined, n: bigint) {
    this.#cipher = cipher;
    this.#k = k;
    this.#n = n;
  }

  /** InitializeKey(key) (§5.1): k = key (`undefined`: empty), n = 0. */
  static initializeKey(cipher: NoiseCipher, key: Bytes | undefined): CipherState {
    return new CipherState(cipher, key === undefined ? undefined : Uint8Array.from(key), 0n);
  }
  /** HasKey() (§5.1) */
  hasKey(): boolean {
    return this.#k !== undefined;
  }
  /**
   * SetNonce(nonce) (§5.1), as a new state: for §11.4-style out-of-order protocols and tests; this project's
   * transport never calls it.
   */
  setNonce(nonce: bigint): CipherState {
    if (nonce < 0n || nonce > MAX_NONCE)
      throw new VaultError('InvalidParameter', `nonce expected 0..2^64-1, got ${nonce}`);
    return new CipherState(this.#cipher, this.#k, nonce);
  }
  /** The next nonce to use: the count of messages encrypted or decrypted with this key. */
  get nonce(): bigint {
    return this.#n;
  }

  /** EncryptWithAd(ad, plaintext) (§5.1): returns the plaintext unchanged, and this state, while k is empty. */
  encryptWithAd(ad: Bytes, plaintext: Bytes): { ciphertext: Bytes; next: CipherState } {
    if (this.#k === undefined) return { ciphertext: plaintext, next: this };
    this.#checkNonce();
    const ciphertext = this.#cipher.encrypt(this.#k, this.#n, ad, plaintext);
    return { ciphertext, next: new CipherState(this.#cipher, this.#k, this.#n + 1n) };
  }
  /**
   * DecryptWithAd(ad, ciphertext) (§5.1). On an authentication failure it throws
   * `ChannelDecryptFailed`, so, as §5.1 says, n is not incremented: a forged message does not
   * desynchronise the channel.
   */
  decryptWithAd(ad: Bytes, ciphertext: Bytes): { plaintext: Bytes; next: CipherState } {
    if (this.#k === undefined) return { plaintext: ciphertext, next: this };
    this.#checkNonce();
    if (ciphertext.length < TAG_LEN)
      throw new VaultError(
        'MalformedMessage',
        `ciphertext expected at least ${TAG_LEN} bytes, got ${ciphertext.length}`,
      );
    const plaintext = this.#cipher.decrypt(this.#k, this.#n, ad, ciphertext);
    return { plaintext, next: new CipherState(this.#cipher, this.#k, this.#n + 1n) };
  }
  #checkNonce(): void {
    // §5.1: "If incrementing n results in 2^64-1, then any further EncryptWithAd() or
    // DecryptWithAd() calls will signal an error to the caller."
    if (this.#n >= MAX_NONCE) throw new VaultError('ChannelStateError', 'nonce space exhausted (n = 2^64-1)');
  }
}

/** §5.2: chaining key `ck`, handshake hash `h`, and the handshake CipherState; mutable, used by one handshake. */
export class SymmetricState {
  #ck: Bytes;
  #h: Bytes;
  #cs: CipherState;

  /** InitializeSymmetric(protocol_name) (§5.2). */
  constructor(private readonly suite: NoiseSuite) {
    const name = new TextEncoder().encode(suite.protocolName);
    const { hashLen } = suite.hash;
    // §5.2: if protocol_name fits in HASHLEN bytes, h = protocol_name zero-padded; else HASH(name)
    this.#h = name.length <= hashLen ? concat(name, new Uint8Array(hashLen - name.length)) : suite.hash.hash(name);
    this.#ck = this.#h;
    this.#cs = CipherState.initializeKey(suite.cipher, undefined);
  }

  /** MixKey(input_key_material) (§5.2). */
  mixKey(inputKeyMaterial: Bytes): void {
    const [ck, tempK] = noiseHkdf(this.suite.hash, this.#ck, inputKeyMaterial, 2) as [Bytes, Bytes];
    this.#ck = ck;
    // §5.2: if HASHLEN is 64, truncate temp_k to 32 bytes
    this.#cs = CipherState.initializeKey(this.suite.cipher, tempK.subarray(0, 32));
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
    const { ciphertext, next } = this.#cs.encryptWithAd(this.#h, plaintext);
    this.#cs = next;
    this.mixHash(ciphertext);
    return ciphertext;
  }
  /** DecryptAndHash(ciphertext) (§5.2): plaintext = DecryptWithAd(h, ciphertext); MixHash(ciphertext). */
  decryptAndHash(ciphertext: Bytes): Bytes {
    const { plaintext, next } = this.#cs.decryptWithAd(this.#h, ciphertext);
    this.#cs = next;
    this.mixHash(ciphertext);
    return plaintext;
  }
  /** Split() (§5.2): two CipherStates, c1 for initiator -> responder, c2 for responder -> initiator. */
  split(): [c1: CipherState, c2: CipherState] {
    const [k1, k2] = noiseHkdf(this.suite.hash, this.#ck, EMPTY, 2) as [Bytes, Bytes];
    return [
      CipherState.initializeKey(this.suite.cipher, k1.subarray(0, 32)),
      CipherState.initializeKey(this.suite.cipher, k2.subarray(0, 32)),
    ];
  }
}
