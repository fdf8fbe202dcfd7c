/**
 * The client side of the vault protocol as pure steps (spec ch. 3): each step takes the session
 * state and the frame the vault answered with, and returns the next frame to send or the result.
 * `client.ts` drives them over a relay; the model-based tests and the simulator drive them directly.
 *
 *   registration: startRegistration -> Handshake1(RegisterStart)
 *                 onRegisterResponse(Handshake2) -> Transport(RegisterFinish)
 *                 onRegisterDone(Transport) -> { ok }
 *   recovery:     startRecovery -> Handshake1(RecoverStart(KE1))
 *                 onRecoverResponse(Handshake2: KE2) -> Transport(RecoverFinish(KE3))
 *                                                     | Transport(RecoverAbort) + WrongPassword
 *                 onReleased(Transport) -> K
 *   deletion:     startDeletion -> Handshake1(Delete); onDeleted(Handshake2) -> { ok }
 *                 (authorized by the relay's account authentication, spec ch. 5)
 * @module
 */
import { type Bytes, type Rng, ctEqual, toHex } from '../crypto/bytes.ts';
import { aeadOpen, aeadSeal } from '../crypto/aead.ts';
import {
  type NkInitiatorState,
  type NoiseSuite,
  type Transport,
  initiatorFinish,
  initiatorStart,
} from '../crypto/noise.ts';
import {
  type ClientLoginState,
  type ClientRegistrationState,
  type OpaqueParams,
  clientFinishLogin,
  clientStartLogin,
  createRegistrationRequest,
  finalizeRegistrationRequest,
} from '../crypto/opaque-client.ts';
import {
  decodeKE2,
  decodeRegistrationResponse,
  encodeKE1,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
} from '../crypto/opaque-messages.ts';
import { ERROR_CODES, type ErrorCode, VaultError, isVaultError } from '../errors.ts';
import { type Frame, type Request, type Response, decodeResponse, encodeRequest } from '../vault/protocol.ts';

/** What the client knows of the fleet (pinned, or from a validated bundle) and of the protocol. */
export interface ClientContext {
  readonly params: OpaqueParams;
  readonly noise: NoiseSuite;
  readonly prologue: Bytes;
  /** The fleet's Noise channel key. */
  readonly channelKey: Bytes;
  /** The fleet's OPAQUE server key; a registration response with another key is refused. */
  readonly opaqueServerKey: Bytes;
  readonly serverIdentity?: Bytes;
}

/** How a recovery or registration ended, from the client's point of view. */
export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  /** The password was wrong: a guess was spent. */
  | { readonly ok: false; readonly kind: 'WrongPassword'; readonly triesRemaining: number }
  /** No guess left: K is gone. */
  | { readonly ok: false; readonly kind: 'Locked' }
  /** Not a password verdict: a refusal, a lost or tampered message, an expired session. */
  | { readonly ok: false; readonly kind: 'Fault'; readonly code: ErrorCode };

export const fault = (code: ErrorCode): Outcome<never> => ({ ok: false, kind: 'Fault', code });

/** An outcome in words, for demos and logs. */
export function describeOutcome<T>(o: Outcome<T>): string {
  if (o.ok) return 'ok';
  if (o.kind === 'WrongPassword')
    return `wrong password: ${o.triesRemaining} ${o.triesRemaining === 1 ? 'try' : 'tries'} remaining`;
  if (o.kind === 'Locked') return 'locked: no guess left, the backup key is gone';
  return `fault: ${o.code}`;
}

/** Reads the vault's answer on the open channel; the session keeps the returned transport. */
function openResponse(
  ctx: ClientContext,
  transport: Transport,
  frame: Frame,
): { response: Response; transport: Transport } {
  if (frame.kind === 'Alert') throw new VaultError(alertCode(frame), 'vault alert');
  if (frame.kind !== 'Transport') throw new VaultError('ChannelStateError', `expected Transport, got ${frame.kind}`);
  const received = transport.receive(frame.bytes);
  return { response: decodeResponse(ctx.params.suite, received.payload), transport: received.transport };
}

/** Sends `request` on the open channel and keeps the next transport in `s`. */
function sendRequest(
  s: { readonly channel: string; transport?: Transport },
  transport: Transport,
  request: Request,
): Frame {
  const sent = transport.send(encodeRequest(request));
  s.transport = sent.transport;
  return { channel: s.channel, kind: 'Transport', bytes: sent.message };
}

/**
 * An Alert is plaintext and unauthenticated: its code is taken only if it is one of ERROR_CODES, and is only ever a
 * fault.
 */
function alertCode(frame: Frame): ErrorCode {
  const text = new TextDecoder().decode(frame.bytes);
  return (ERROR_CODES as readonly string[]).includes(text) ? (text as ErrorCode) : 'MalformedMessage';
}

function finishHandshake(
  ctx: ClientContext,
  state: NkInitiatorState,
  frame: Frame,
): { response: Response; transport: Transport } {
  if (frame.kind === 'Alert') throw new VaultError(alertCode(frame), 'vault alert');
  if (frame.kind !== 'Handshake2') throw new VaultError('ChannelStateError', `expected Handshake2, got ${frame.kind}`);
  const { payload, transport } = initiatorFinish(state, frame.bytes);
  return { response: decodeResponse(ctx.params.suite, payload), transport };
}

function refusal(r: Response): Outcome<never> {
  if (r.type !== 'Error') return fault('UnknownMessageType');
  if (r.code === 'GuessLimitExceeded') return { ok: false, kind: 'Locked' };
  if (r.code === 'ClientAuthenticationFailed' && r.triesRemaining !== null)
    return { ok: false, kind: 'WrongPassword', triesRemaining: r.triesRemaining };
  return fault(r.code);
}

function open(
  ctx: ClientContext,
  channel: string,
  payload: Bytes,
  rng: Rng,
): { frame: Frame; state: NkInitiatorState } {
  const { message, state } = initiatorStart(ctx.noise, {
    responderStatic: ctx.channelKey,
    prologue: ctx.prologue,
    payload,
    rng,
  });
  return { frame: { channel, kind: 'Handshake1', bytes: message }, state };
}

export function newChannelId(rng: Rng): string {
  return toHex(rng(16));
}

// ----------------------------------------------------------------------------------------------
// Registration

export interface RegistrationSession {
  readonly channel: string;
  readonly credentialId: Bytes;
  readonly key: Bytes;
  readonly guessLimit: number;
  readonly opaque: ClientRegistrationState;
  readonly noise: NkInitiatorState;
  /** Set by the step that finishes the handshake, then replaced by each send or receive (a Transport is a value). */
  transport?: Transport;
}

export function startRegistration(
  ctx: ClientContext,
  credentialId: Bytes,
  password: Bytes,
  key: Bytes,
  guessLimit: number,
  rng: Rng,
) {
  const { request, state } = createRegistrationRequest(ctx.params, password, rng);
  const channel = newChannelId(rng);
  const o = open(
    ctx,
    channel,
    encodeRequest({ type: 'RegisterStart', credentialId, request: encodeRegistrationRequest(request) }),
    rng,
  );
  const session: RegistrationSession = { channel, credentialId, key, guessLimit, opaque: state, noise: o.state };
  return { frame: o.frame, session };
}

/** Handshake2(RegisterResponse) -> Transport(RegisterFinish), or the refusal. */
export function onRegisterResponse(
  ctx: ClientContext,
  s: RegistrationSession,
  frame: Frame,
  rng: Rng,
): { frame: Frame } | { outcome: Outcome<never> } {
  try {
    const { response, transport } = finishHandshake(ctx, s.noise, frame);
    s.transport = transport;
    if (response.type !== 'RegisterResponse') return { outcome: refusal(response) };
    const decoded = decodeRegistrationResponse(ctx.params.suite, response.response);
    if (!ctEqual(decoded.serverPublicKey, ctx.opaqueServerKey)) return { outcome: fault('KeyNotPinned') };
    const ids = ctx.serverIdentity ? { serverIdentity: ctx.serverIdentity } : {};
    const { record, exportKey } = finalizeRegistrationRequest(ctx.params, s.opaque, decoded, ids, rng);
    const sealedPayload = aeadSeal(exportKey, 'bkv sealed payload', s.key, s.credentialId, rng);
    return {
      frame: sendRequest(s, transport, {
        type: 'RegisterFinish',
        guessLimit: s.guessLimit,
        record: encodeRegistrationRecord(record),
        sealedPayload,
      }),
    };
  } catch (e) {
    if (isVaultError(e)) return { outcome: fault(e.code) };
    throw e;
  }
}

export function onRegisterDone(ctx: ClientContext, s: RegistrationSession, frame: Frame): Outcome<true> {
  try {
    if (!s.transport) return fault('ChannelStateError');
    const { response: r, transport } = openResponse(ctx, s.transport, frame);
    s.transport = transport;
    return r.type === 'RegisterDone' ? { ok: true, value: true } : refusal(r);
  } catch (e) {
    if (isVaultError(e)) return fault(e.code);
    throw e;
  }
}

// ----------------------------------------------------------------------------------------------
// Recovery

export interface RecoverySession {
  readonly channel: string;
  readonly credentialId: Bytes;
  readonly opaque: ClientLoginState;
  readonly noise: NkInitiatorState;
  /** Set by the step that finishes the handshake, then replaced by each send or receive (a Transport is a value). */
  transport?: Transport;
  sessionKey?: Bytes;
  exportKey?: Bytes;
}

export function startRecovery(ctx: ClientContext, credentialId: Bytes, password: Bytes, rng: Rng) {
  const { ke1, state } = clientStartLogin(ctx.params, password, rng);
  const channel = newChannelId(rng);
  const o = open(ctx, channel, encodeRequest({ type: 'RecoverStart', credentialId, ke1: encodeKE1(ke1) }), rng);
  const session: RecoverySession = { channel, credentialId, opaque: state, noise: o.state };
  return { frame: o.frame, session };
}

/**
 * Handshake2(KE2) -> Transport(KE3). On a wrong password the client learns it here (the envelope
 * does not open): it tells the vault it aborts, and reports the tries the vault said remain.
 */
export function onRecoverResponse(
  ctx: ClientContext,
  s: RecoverySession,
  frame: Frame,
): { frame: Frame; outcome?: Outcome<never>; triesRemaining?: number } | { outcome: Outcome<never> } {
  try {
    const { response, transport } = finishHandshake(ctx, s.noise, frame);
    s.transport = transport;
    if (response.type !== 'RecoverResponse') return { outcome: refusal(response) };
    const ids = ctx.serverIdentity ? { serverIdentity: ctx.serverIdentity } : {};
    try {
      const fin = clientFinishLogin(ctx.params, s.opaque, decodeKE2(ctx.params.suite, response.ke2), ids);
      if (!ctEqual(fin.serverPublicKey, ctx.opaqueServerKey))
        throw new VaultError('KeyNotPinned', 'OPAQUE server key is not the pinned one');
      s.sessionKey = fin.sessionKey;
      s.exportKey = fin.exportKey;
      return {
        frame: sendRequest(s, transport, { type: 'RecoverFinish', ke3: encodeKE3(fin.ke3) }),
        triesRemaining: response.triesRemaining,
      };
    } catch (e) {
      if (!isVaultError(e, 'EnvelopeRecoveryFailed')) throw e;
      return {
        frame: sendRequest(s, transport, { type: 'RecoverAbort' }),
        outcome: { ok: false, kind: 'WrongPassword', triesRemaining: response.triesRemaining },
      };
    }
  } catch (e) {
    if (isVaultError(e)) return { outcome: fault(e.code) };
    throw e;
  }
}

/** Transport(Released) -> K. */
export function onReleased(ctx: ClientContext, s: RecoverySession, frame: Frame): Outcome<Bytes> {
  try {
    if (!s.transport || !s.sessionKey || !s.exportKey) return fault('ChannelStateError');
    const { response: r, transport } = openResponse(ctx, s.transport, frame);
    s.transport = transport;
    if (r.type !== 'Released') return refusal(r);
    const sealed = aeadOpen(s.sessionKey, 'bkv release', r.payload, s.credentialId);
    return { ok: true, value: aeadOpen(s.exportKey, 'bkv sealed payload', sealed, s.credentialId) };
  } catch (e) {
    if (isVaultError(e)) return fault(e.code);
    throw e;
  }
}

// ----------------------------------------------------------------------------------------------
// Deletion

export interface DeletionSession {
  readonly channel: string;
  readonly noise: NkInitiatorState;
}

export function startDeletion(
  ctx: ClientContext,
  credentialId: Bytes,
  rng: Rng,
): { frame: Frame; session: DeletionSession } {
  const channel = newChannelId(rng);
  const o = open(ctx, channel, encodeRequest({ type: 'Delete', credentialId }), rng);
  return { frame: o.frame, session: { channel, noise: o.state } };
}

/** Handshake2(Done) -> { ok }, or the refusal (`RecordNotFound` for a credential with no record). */
export function onDeleted(ctx: ClientContext, s: DeletionSession, frame: Frame): Outcome<true> {
  try {
    const { response } = finishHandshake(ctx, s.noise, frame);
    return response.type === 'Done' ? { ok: true, value: true } : refusal(response);
  } catch (e) {
    if (isVaultError(e)) return fault(e.code);
    throw e;
  }
}
