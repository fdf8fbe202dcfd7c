/**
 * The HandshakeState of the Noise Protocol Framework (revision 34, §5.3) for the one pattern this
 * project uses, NK (§7.3):
 *
 *   NK(rs):  <- s  ...  -> e, es  <- e, ee
 *
 *   Initialize: InitializeSymmetric(protocol_name); MixHash(prologue); MixHash(rs)   (pre-message)
 *   message 1 (initiator writes): e -> MixHash(e.pub); es -> MixKey(DH); EncryptAndHash(payload)
 *   message 2 (responder writes): e -> MixHash(e.pub); ee -> MixKey(DH); EncryptAndHash(payload)
 *   after message 2: Split() -> (c1, c2)
 *
 * Low-level; the typestate API and the transport are in `noise.ts`.
 * @module
 */
import { Reader, concat, type Bytes } from './bytes.ts';
import { SymmetricState, type CipherState } from './noise-state.ts';
import { TAG_LEN, checkBytesParam as checkBytes, computeDh, type DhKey, type NoiseSuite } from './noise-suite.ts';
import { VaultError } from '../errors.ts';

/** §3: "All Noise messages are less than or equal to 65535 bytes in length." */
export const MAX_MESSAGE_LEN = 65535;
/** The largest transport payload: a message is payload || 16-byte tag. */
export const MAX_TRANSPORT_PAYLOAD = MAX_MESSAGE_LEN - TAG_LEN;

type Token = 'e' | 'ee' | 'es';
/** §7.3: `NK(rs):  <- s  ...  -> e, es  <- e, ee`. Message i is written by the initiator when i is even. */
const NK_MESSAGES: readonly (readonly Token[])[] = [
  ['e', 'es'],
  ['e', 'ee'],
];

export interface HandshakeOptions {
  readonly initiator: boolean;
  readonly prologue: Bytes;
  /** The responder's static key pair (responder only). */
  readonly s?: DhKey;
  /** The responder's static public key, pinned (initiator only). */
  readonly rs?: Bytes;
}

export interface HandshakeResult {
  /** Set after the last handshake message: Split() (§5.2), c1 for initiator -> responder. */
  readonly split?: [c1: CipherState, c2: CipherState];
}

/**
 * HandshakeState (§5.3) for pattern NK. Low-level: most callers want the typestate functions of
 * `noise.ts`. After any error the object is poisoned: §5, "If any error is signaled by the
 * DECRYPT() or DH() functions then the handshake has failed and the HandshakeState is deleted".
 */
export class HandshakeState {
  readonly #ss: SymmetricState;
  readonly #initiator: boolean;
  readonly #s: DhKey | undefined;
  readonly #rs: Bytes | undefined;
  #e: DhKey | undefined;
  #re: Bytes | undefined;
  #index = 0;
  #failed = false;

  /** Initialize(handshake_pattern, initiator, prologue, s, e, rs, re) (§5.3). */
  constructor(
    readonly suite: NoiseSuite,
    options: HandshakeOptions,
  ) {
    const { initiator, prologue, s, rs } = options;
    checkBytes(prologue, undefined, 'prologue');
    this.#initiator = initiator;
    this.#ss = new SymmetricState(suite); // InitializeSymmetric(protocol_name)
    this.#ss.mixHash(prologue); // §6: the prologue is hashed first
    // Pre-message `<- s` (§7, §5.3 Initialize): both parties MixHash the responder's static public key.
    if (initiator) {
      this.#rs = Uint8Array.from(checkBytes(rs, suite.dh.dhLen, 'responderStatic'));
      this.#ss.mixHash(this.#rs);
    } else {
      if (s === undefined) throw new VaultError('InvalidParameter', '"staticKey" is required for the responder');
      this.#s = s;
      this.#ss.mixHash(checkBytes(s.publicKey, suite.dh.dhLen, 'staticKey.publicKey'));
    }
  }

  get handshakeHash(): Bytes {
    return this.#ss.handshakeHash;
  }

  /**
   * WriteMessage(payload, message_buffer) (§5.3). `e` is the key pair for the `e` token: Noise's
   * GENERATE_KEYPAIR(), done by the caller so that it comes from the caller's `rng` (or a vector).
   */
  writeMessage(payload: Bytes, e: DhKey): { message: Bytes } & HandshakeResult {
    const tokens = this.#begin(true);
    checkBytes(payload, undefined, 'payload');
    const maxPayload = MAX_MESSAGE_LEN - this.#overhead(tokens);
    if (payload.length > maxPayload)
      throw new VaultError('InvalidParameter', `"payload" expected at most ${maxPayload} bytes, got ${payload.length}`);
    return this.#guard(() => {
      const parts: Bytes[] = [];
      for (const token of tokens) {
        if (token === 'e') {
          this.#e = e; // §5.3 "e": e = GENERATE_KEYPAIR(); append e.public_key; MixHash(e.public_key)
          parts.push(checkBytes(e.publicKey, this.suite.dh.dhLen, 'ephemeral publicKey'));
          this.#ss.mixHash(e.publicKey);
        } else this.#mixDh(token);
      }
      parts.push(this.#ss.encryptAndHash(payload)); // §5.3: EncryptAndHash(payload)
      return { message: concat(...parts), ...this.#end() };
    });
  }

  /** ReadMessage(message, payload_buffer) (§5.3). */
  readMessage(message: Bytes): { payload: Bytes } & HandshakeResult {
    const tokens = this.#begin(false);
    checkBytes(message, undefined, 'message');
    const min = this.#overhead(tokens);
    if (message.length < min || message.length > MAX_MESSAGE_LEN) {
      this.#failed = true;
      throw new VaultError(
        'MalformedMessage',
        `handshake message ${this.#index + 1} expected ${min}..${MAX_MESSAGE_LEN} bytes, got ${message.length}`,
      );
    }
    return this.#guard(() => {
      const reader = new Reader(message, `handshake message ${this.#index + 1}`);
      for (const token of tokens) {
        if (token === 'e') {
          this.#re = reader.take(this.suite.dh.dhLen, 'e'); // §5.3 "e": re = next DHLEN bytes; MixHash(re)
          this.#ss.mixHash(this.#re);
        } else this.#mixDh(token);
      }
      // §5.3: DecryptAndHash(rest)
      const payload = this.#ss.decryptAndHash(message.subarray(consumed(tokens, this.suite)));
      return { payload, ...this.#end() };
    });
  }

  /** Checks whose turn it is and returns the message's tokens. */
  #begin(writing: boolean): readonly Token[] {
    if (this.#failed) throw new VaultError('ChannelStateError', 'handshake already failed');
    const tokens = NK_MESSAGES[this.#index];
    if (tokens === undefined) throw new VaultError('ChannelStateError', 'handshake already complete');
    const initiatorWrites = this.#index % 2 === 0;
    if (writing !== (initiatorWrites === this.#initiator)) {
      throw new VaultError(
        'ChannelStateError',
        `handshake message ${this.#index + 1}: not this party's turn to ${writing ? 'write' : 'read'}`,
      );
    }
    return tokens;
  }

  /** Bytes a message carries besides the payload: DHLEN per `e`, and a tag once a key is mixed in. */
  #overhead(tokens: readonly Token[]): number {
    const keyed = this.#ss.hasKey() || tokens.some((t) => t !== 'e');
    return consumed(tokens, this.suite) + (keyed ? TAG_LEN : 0);
  }

  /** §5.3 "ee": MixKey(DH(e, re)); "es": MixKey(DH(e, rs)) if initiator, MixKey(DH(s, re)) if responder. */
  #mixDh(token: 'ee' | 'es'): void {
    const need = <T>(x: T | undefined, what: string): T => {
      if (x === undefined) throw new VaultError('ChannelStateError', `"${token}" needs ${what}`);
      return x;
    };
    if (token === 'ee') this.#ss.mixKey(computeDh(need(this.#e, 'e'), need(this.#re, 're')));
    else if (this.#initiator) this.#ss.mixKey(computeDh(need(this.#e, 'e'), need(this.#rs, 'rs')));
    else this.#ss.mixKey(computeDh(need(this.#s, 's'), need(this.#re, 're')));
  }

  #end(): HandshakeResult {
    this.#index++;
    return this.#index === NK_MESSAGES.length ? { split: this.#ss.split() } : {};
  }

  #guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      this.#failed = true;
      throw e;
    }
  }
}

/** The bytes the tokens read off a message before the payload (DHLEN per `e`). */
function consumed(tokens: readonly Token[], suite: NoiseSuite): number {
  return tokens.filter((t) => t === 'e').length * suite.dh.dhLen;
}
