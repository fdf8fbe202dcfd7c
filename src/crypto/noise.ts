/**
 * The client <-> HSM channel: the Noise Protocol Framework (revision 34) with handshake pattern NK
 * (§7, §7.3), DH 25519, cipher AESGCM or ChaChaPoly, hash SHA256, SHA512, BLAKE2s or BLAKE2b (§12).
 * The responder (the HSM) has a static key the initiator (the client) has pinned; the responder's
 * private key is only ever used through `DhKey.dh`, so it can stay inside the HSM.
 *
 *   NK:  <- s                     (pre-message: both MixHash(rs))
 *        ...
 *        -> e, es                 initiatorStart    -> message 1 (32 + payload + 16 bytes)
 *        <- e, ee                 responderReceive  -> payload 1; responderRespond -> message 2
 *                                 initiatorFinish   -> payload 2
 *   then Split() (§5.2): each side holds a `Transport` with two CipherStates (send, receive),
 *   implicit 64-bit nonces, and the handshake hash `h` for channel binding (§11.2). A Transport
 *   is an immutable value: `send` and `receive` return the next one.
 *
 * Sections: §3 message format, §5.1 CipherState, §5.2 SymmetricState, §5.3 HandshakeState,
 * §6 prologue, §7.3 NK, §7.4 payload properties, §8 names, §11.2 channel binding, §11.4 (not
 * used: no out-of-order delivery), §12 functions, §14 (invalid public keys). The crypto functions
 * and suites are in `noise-suite.ts`, CipherState and SymmetricState in `noise-state.ts`, the
 * HandshakeState in `noise-handshake.ts`.
 *
 * The typestate API follows opaque-ke: each step returns a message and the next state, and each
 * state can be used once (a second use, or a use after a failure, throws `ChannelStateError`).
 * @module
 */
import type { Bytes, Rng } from './bytes.ts';
import { HandshakeState, MAX_MESSAGE_LEN, MAX_TRANSPORT_PAYLOAD, type HandshakeResult } from './noise-handshake.ts';
import type { CipherState } from './noise-state.ts';
import { TAG_LEN, checkBytesParam as checkBytes, type DhKey, type NoiseSuite } from './noise-suite.ts';
import { VaultError } from '../errors.ts';

export { HandshakeState, MAX_MESSAGE_LEN, MAX_TRANSPORT_PAYLOAD } from './noise-handshake.ts';

export {
  NOISE_NK_25519_AESGCM_SHA256,
  NOISE_NK_25519_CHACHAPOLY_SHA256,
  NOISE_NK_SUITES,
  getNoiseSuite,
  x25519KeyFromPrivate,
  type DhKey,
  type NoiseSuite,
} from './noise-suite.ts';

const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// Transport (§5.2 Split; §5: EncryptWithAd / DecryptWithAd "with zero-length associated data")

/**
 * The channel after the handshake: two CipherStates with implicit nonces, one per direction. An
 * immutable value: `send` and `receive` return the transport to use next and leave this one as it
 * was, so a vault node or client session that holds a transport is never changed by a later step
 * (and can be replayed or branched). Each message costs one new CipherState (a shared key and a
 * nonce) and one new Transport.
 */
export class Transport {
  readonly #send: CipherState;
  readonly #receive: CipherState;
  readonly #h: Bytes;

  private constructor(
    readonly role: 'initiator' | 'responder',
    send: CipherState,
    receive: CipherState,
    h: Bytes,
  ) {
    this.#send = send;
    this.#receive = receive;
    this.#h = h;
  }

  /** From Split()'s (c1, c2): the initiator sends with c1, the responder with c2 (§5.2). */
  static fromSplit(
    role: 'initiator' | 'responder',
    split: readonly [c1: CipherState, c2: CipherState],
    handshakeHash: Bytes,
  ): Transport {
    const [send, receive] = role === 'initiator' ? split : [split[1], split[0]];
    return new Transport(role, send, receive, Uint8Array.from(handshakeHash));
  }

  /** GetHandshakeHash() (§5.2) at the end of the handshake; equal on both sides (§11.2 channel binding). */
  get handshakeHash(): Bytes {
    return Uint8Array.from(this.#h);
  }
  /** Messages sent so far (the next send nonce). */
  get sendNonce(): bigint {
    return this.#send.nonce;
  }
  /** Messages received so far (the next receive nonce). */
  get receiveNonce(): bigint {
    return this.#receive.nonce;
  }

  /**
   * Encrypts the next message: EncryptWithAd(empty, payload) with the next nonce; `transport` sends with the one after.
   */
  send(payload: Bytes): { message: Bytes; transport: Transport } {
    checkBytes(payload, undefined, 'payload');
    if (payload.length > MAX_TRANSPORT_PAYLOAD)
      throw new VaultError(
        'InvalidParameter',
        `"payload" expected at most ${MAX_TRANSPORT_PAYLOAD} bytes, got ${payload.length}`,
      );
    const { ciphertext, next } = this.#send.encryptWithAd(EMPTY, payload);
    return { message: ciphertext, transport: new Transport(this.role, next, this.#receive, this.#h) };
  }

  /**
   * Decrypts the next message: DecryptWithAd(empty, message) with the next nonce; `transport`
   * expects the one after. Messages must arrive in order, each once: the nonce is implicit (§11.4
   * is not used), so a replayed, dropped or reordered message fails with `ChannelDecryptFailed`.
   * A failure throws and so leaves the receiver with this transport, whose nonce is unchanged
   * (§5.1): the channel stays usable (§5: the input message is discarded; the application may go on).
   */
  receive(message: Bytes): { payload: Bytes; transport: Transport } {
    checkBytes(message, undefined, 'message');
    if (message.length > MAX_MESSAGE_LEN)
      throw new VaultError(
        'MalformedMessage',
        `transport message expected at most ${MAX_MESSAGE_LEN} bytes, got ${message.length}`,
      );
    if (message.length < TAG_LEN)
      throw new VaultError(
        'MalformedMessage',
        `transport message expected at least ${TAG_LEN} bytes, got ${message.length}`,
      );
    const { plaintext, next } = this.#receive.decryptWithAd(EMPTY, message);
    return { payload: plaintext, transport: new Transport(this.role, this.#send, next, this.#h) };
  }
}

// ---------------------------------------------------------------------------------------------
// Typestate API

/** Where an ephemeral key comes from: `rng` (32 bytes -> X25519 private key), or fixed (vectors). */
export type EphemeralSource =
  | { readonly rng: Rng; readonly ephemeralPrivateKey?: never }
  | { readonly ephemeralPrivateKey: Bytes; readonly rng?: never };

/** The initiator after `initiatorStart`, waiting for message 2. Opaque; usable once. */
export interface NkInitiatorState {
  readonly stage: 'NkInitiatorAwaitingResponse';
  readonly protocolName: string;
}
/** The responder after `responderReceive`, ready to write message 2. Opaque; usable once. */
export interface NkResponderState {
  readonly stage: 'NkResponderReadyToRespond';
  readonly protocolName: string;
}

const pending = new WeakMap<NkInitiatorState | NkResponderState, HandshakeState>();

function newState<S extends NkInitiatorState | NkResponderState>(stage: S['stage'], hs: HandshakeState): S {
  const state = Object.freeze({ stage, protocolName: hs.suite.protocolName }) as S;
  pending.set(state, hs);
  return state;
}

/** Takes the HandshakeState out of `state`: a state can be used once, even if the step then fails. */
function consume(state: NkInitiatorState | NkResponderState, stage: string): HandshakeState {
  const hs = pending.get(state);
  if (hs === undefined || state.stage !== stage)
    throw new VaultError('ChannelStateError', `expected an unused ${stage} state`);
  pending.delete(state);
  return hs;
}

function ephemeralKey(suite: NoiseSuite, source: EphemeralSource): DhKey {
  const { rng, ephemeralPrivateKey } = source as { rng?: Rng; ephemeralPrivateKey?: Bytes };
  if ((rng === undefined) === (ephemeralPrivateKey === undefined)) {
    throw new VaultError('InvalidParameter', 'expected exactly one of "rng" and "ephemeralPrivateKey"');
  }
  return rng !== undefined ? suite.dh.generateKeyPair(rng) : suite.dh.keyPairFromPrivate(ephemeralPrivateKey!);
}

export interface InitiatorStartOptions {
  /** The responder's static public key, pinned by the initiator (Noise `rs`). */
  readonly responderStatic: Bytes;
  /** §6; must equal the responder's. Default: empty. */
  readonly prologue?: Bytes;
  /**
   * Encrypted to the responder's static key only (§7.4, confidentiality property 2: no forward
   * secrecy against the responder's key, and REPLAYABLE, since the responder has not contributed yet).
   */
  readonly payload?: Bytes;
}

/** Initiator, step 1: writes `-> e, es` (§7.3). */
export function initiatorStart(
  suite: NoiseSuite,
  options: InitiatorStartOptions & EphemeralSource,
): { message: Bytes; state: NkInitiatorState } {
  const hs = new HandshakeState(suite, {
    initiator: true,
    prologue: options.prologue ?? EMPTY,
    rs: options.responderStatic,
  });
  const { message } = hs.writeMessage(options.payload ?? EMPTY, ephemeralKey(suite, options));
  return { message, state: newState<NkInitiatorState>('NkInitiatorAwaitingResponse', hs) };
}

export interface ResponderReceiveOptions {
  /** The responder's static key: its private half may live in an HSM. */
  readonly staticKey: DhKey;
  /** §6; must equal the initiator's. Default: empty. */
  readonly prologue?: Bytes;
  /** Message 1, from `initiatorStart`. */
  readonly message: Bytes;
}

/** Responder, step 1: reads `-> e, es` and returns the initiator's payload. */
export function responderReceive(
  suite: NoiseSuite,
  options: ResponderReceiveOptions,
): { payload: Bytes; state: NkResponderState } {
  const hs = new HandshakeState(suite, { initiator: false, prologue: options.prologue ?? EMPTY, s: options.staticKey });
  const { payload } = hs.readMessage(options.message);
  return { payload, state: newState<NkResponderState>('NkResponderReadyToRespond', hs) };
}

/** Responder, step 2: writes `<- e, ee` (§7.3); the handshake is complete on this side. */
export function responderRespond(
  state: NkResponderState,
  options: { readonly payload?: Bytes } & EphemeralSource,
): { message: Bytes; transport: Transport } {
  const hs = consume(state, 'NkResponderReadyToRespond');
  const { message, split } = hs.writeMessage(options.payload ?? EMPTY, ephemeralKey(hs.suite, options));
  return { message, transport: Transport.fromSplit('responder', mustSplit(split), hs.handshakeHash) };
}

/** Initiator, step 2: reads `<- e, ee` and returns the responder's payload and the transport. */
export function initiatorFinish(state: NkInitiatorState, message: Bytes): { payload: Bytes; transport: Transport } {
  const hs = consume(state, 'NkInitiatorAwaitingResponse');
  const { payload, split } = hs.readMessage(message);
  return { payload, transport: Transport.fromSplit('initiator', mustSplit(split), hs.handshakeHash) };
}

function mustSplit(split: HandshakeResult['split']): readonly [CipherState, CipherState] {
  if (split === undefined) throw new VaultError('ChannelStateError', 'handshake not complete');
  return split;
}
