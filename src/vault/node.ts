/**
 * The HSM application: the vault's step functions over explicit state (spec ch. 5). Each handler
 * takes the node state, one input and the environment, and returns the next state, the frames to
 * send, and the commands to propose. Commands change records only once committed: the driver (the
 * single replica, or the replicated fleet) commits them and calls `onCommitted`, which applies the
 * command with `applyCommand` and completes whatever was waiting for it. This is how G1 holds by
 * construction: a KE2 is computed in `onCommitted(ConsumeGuess)`, never before.
 *
 *   handleFrame(Handshake1)        opens a Noise NK channel; its payload is RegisterStart,
 *                                  RecoverStart or Delete
 *   handleFrame(Transport)         RegisterFinish, RecoverFinish or RecoverAbort on an open channel
 *   handleRegisterStart            -> RegistrationResponse (no command)
 *   handleRegisterFinish           -> propose Register; on commit: RegisterDone
 *   handleRecoverStart             -> propose ConsumeGuess; on commit: KE2 (or fake KE2, or refusal)
 *   handleRecoverFinish            valid KE3 -> propose Reset; on commit: payload released
 *                                  invalid KE3 -> propose EndSession(failed); reply with tries left
 *   handleRecoverAbort             -> propose EndSession(abort)
 *   handleDelete                   -> propose Delete; on commit: Done
 *   handleSessionExpiry            -> propose EndSession(expired) for pending sessions past the TTL;
 *                                  Alert(SessionExpired) on the channels past it, which close
 *
 * Bad input (undecryptable frames, malformed messages, wrong phase) is answered with a VaultError
 * code and changes neither the records nor any channel's phase. A request is decoded whole, the
 * OPAQUE message it carries included (`decodeVaultRequest`), before it is dispatched: the handlers
 * act only on decoded messages, so no command is proposed for bytes a decoder refuses, and the
 * apply of a committed command (`onCommitted`) never meets a client's bytes (spec ch. 5 §5.7).
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Bytes, type Rng, concat, toHex, utf8 } from '../crypto/bytes.ts';
import { aeadSeal } from '../crypto/aead.ts';
import {
  type NkResponderState,
  type NoiseSuite,
  type Transport,
  responderReceive,
  responderRespond,
} from '../crypto/noise.ts';
import type { OpaqueParams } from '../crypto/opaque-client.ts';
import {
  type KE1,
  type KE3,
  type RegistrationRecord,
  type RegistrationRequest,
  decodeKE1,
  decodeKE3,
  decodeRegistrationRecord,
  decodeRegistrationRequest,
  encodeKE2,
  encodeRegistrationResponse,
} from '../crypto/opaque-messages.ts';
import type { Suite } from '../crypto/suite.ts';
import {
  type ServerLoginState,
  createFakeRecord,
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLogin,
} from '../crypto/opaque-server.ts';
import { type ErrorCode, VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import {
  fakeRecordSecrets,
  hsmChannelKey,
  hsmServerKeys,
  type KeyLabels,
  OPRF_SALT_BYTES,
  oprfCredentialIdentifier,
} from './keys.ts';
import { type Frame, type Request, type Response, decodeRequest, encodeResponse } from './protocol.ts';
import {
  type Command,
  type Hex,
  type Outcome,
  type VaultState,
  DEFAULT_GUESS_LIMIT,
  EMPTY_VAULT,
  applyCommand,
  isGuessLimitValid,
  pendingRecords,
  triesRemaining,
} from './records.ts';

export interface VaultConfig {
  readonly params: OpaqueParams;
  readonly noise: NoiseSuite;
  readonly labels: KeyLabels;
  /** RFC 9807 server_identity; default: the server public key. */
  readonly serverIdentity?: Bytes;
  /** Noise prologue, bound into the handshake hash. */
  readonly prologue: Bytes;
  /** A pending session ends (its guess stays spent) after this long without KE3. */
  readonly sessionTtlMs: number;
}

export const DEFAULT_SESSION_TTL_MS = 60_000;
export const PROLOGUE = utf8('bkv/1');

export interface VaultEnv {
  readonly hsm: Hsm;
  readonly rng: Rng;
  /** Milliseconds, from the driver's clock. */
  readonly now: number;
  readonly config: VaultConfig;
}

/** What a channel is doing. Held only by the replica that serves it (volatile, never replicated). */
export type ChannelOp =
  | {
      readonly type: 'AwaitRegisterFinish';
      readonly credentialId: Hex;
      readonly oprfSalt: Bytes;
      readonly transcript: Bytes;
    }
  /** `transcriptHash`: its Register's, which only that registration has (another channel may register the id too). */
  | { readonly type: 'Registering'; readonly credentialId: Hex; readonly transcriptHash: Hex }
  | { readonly type: 'ConsumingGuess'; readonly credentialId: Hex; readonly sessionId: Hex; readonly ke1: KE1 }
  | {
      readonly type: 'AwaitKE3';
      readonly credentialId: Hex;
      readonly sessionId: Hex;
      /** The login state of a real KE2 and the registration it was computed from (null: a fake KE2). */
      readonly login: { readonly state: ServerLoginState; readonly registration: Hex } | null;
      readonly triesRemaining: number;
    }
  | {
      readonly type: 'Resetting';
      readonly credentialId: Hex;
      readonly sessionId: Hex;
      /** Its Reset's: a session id can wait on two channels, for two registrations (§5.6). */
      readonly registration: Hex;
      readonly sessionKey: Bytes;
    }
  | { readonly type: 'Ending'; readonly credentialId: Hex; readonly sessionId: Hex; readonly reply: Response }
  | { readonly type: 'Deleting'; readonly credentialId: Hex }
  | { readonly type: 'Idle' };

export type Channel =
  | {
      readonly stage: 'Handshaking';
      readonly responder: NkResponderState;
      readonly op: ChannelOp;
      readonly since: number;
    }
  | { readonly stage: 'Open'; readonly transport: Transport; readonly op: ChannelOp; readonly since: number };

export interface VaultNode {
  /** The records: replicated and durable. */
  readonly vault: VaultState;
  /** Volatile: lost on restart (their sessions' guesses stay spent, G2). */
  readonly channels: ReadonlyMap<string, Channel>;
  /** Volatile replay cache of Handshake1 digests (spec ch. 5, "Replays"). */
  readonly seenHandshakes: ReadonlyMap<Hex, number>;
  /** Volatile tries count of fake records (spec ch. 5, "Unknown credentials"). */
  readonly fakeAttempts: ReadonlyMap<Hex, number>;
}

export function initialNode(vault: VaultState = EMPTY_VAULT): VaultNode {
  return { vault, channels: new Map(), seenHandshakes: new Map(), fakeAttempts: new Map() };
}

export interface Step {
  readonly node: VaultNode;
  readonly frames: readonly Frame[];
  readonly proposals: readonly Command[];
  /** Proof-only: the session whose KE3 MAC this step verified (the G3 checker's evidence, spec ch. 12). */
  readonly verified?: { readonly credentialId: Hex; readonly sessionId: Hex; readonly registration: Hex };
}

const unchanged = (node: VaultNode, frames: Frame[] = []): Step => ({ node, frames, proposals: [] });

function setChannel(node: VaultNode, id: string, ch: Channel | null): VaultNode {
  const channels = new Map(node.channels);
  if (ch === null) channels.delete(id);
  else channels.set(id, ch);
  return { ...node, channels };
}

function errorResponse(code: ErrorCode, tries: number | null = null): Response {
  return { type: 'Error', code, triesRemaining: tries };
}

function alert(channel: string, code: ErrorCode): Frame {
  return { channel, kind: 'Alert', bytes: utf8(code) };
}

/** Sends `reply` on channel `id`: as Handshake2 if the handshake is pending, else as Transport. */
function reply(
  node: VaultNode,
  id: string,
  ch: Channel,
  response: Response,
  nextOp: ChannelOp | null,
  env: VaultEnv,
): Step {
  const payload = encodeResponse(response);
  if (ch.stage === 'Handshaking') {
    const { message, transport } = responderRespond(ch.responder, { payload, rng: env.rng });
    const next: Channel | null = nextOp === null ? null : { stage: 'Open', transport, op: nextOp, since: env.now };
    return {
      node: setChannel(node, id, next),
      frames: [{ channel: id, kind: 'Handshake2', bytes: message }],
      proposals: [],
    };
  }
  const { message, transport } = ch.transport.send(payload);
  const next: Channel | null = nextOp === null ? null : { ...ch, transport, op: nextOp };
  return {
    node: setChannel(node, id, next),
    frames: [{ channel: id, kind: 'Transport', bytes: message }],
    proposals: [],
  };
}

function propose(node: VaultNode, id: string, ch: Channel, op: ChannelOp, cmd: Command): Step {
  return { node: setChannel(node, id, { ...ch, op }), frames: [], proposals: [cmd] };
}

// ----------------------------------------------------------------------------------------------
// Requests, decoded whole

type Carrying<T extends Request['type'], M> = Extract<Request, { type: T }> & { readonly message: M };

/** A request with the OPAQUE message it carries decoded (`message`): what the handlers act on. */
export type DecodedRequest =
  | Carrying<'RegisterStart', RegistrationRequest>
  | Carrying<'RegisterFinish', RegistrationRecord>
  | Carrying<'RecoverStart', KE1>
  | Carrying<'RecoverFinish', KE3>
  | Extract<Request, { type: 'RecoverAbort' | 'Delete' }>;

/**
 * Decodes a request as the vault does before anything else (spec ch. 3 §3.3): the framing and
 * lengths (`decodeRequest`), then the OPAQUE message with the decoders of `opaque-messages.ts`,
 * which refuse every invalid, non-canonical, identity or low-order element (ch. 2 §2.6).
 */
export function decodeVaultRequest(suite: Suite, bytes: Bytes): DecodedRequest {
  const m = decodeRequest(suite, bytes);
  switch (m.type) {
    case 'RegisterStart':
      return { ...m, message: decodeRegistrationRequest(suite, m.request) };
    case 'RegisterFinish':
      return { ...m, message: decodeRegistrationRecord(suite, m.record) };
    case 'RecoverStart':
      return { ...m, message: decodeKE1(suite, m.ke1) };
    case 'RecoverFinish':
      return { ...m, message: decodeKE3(suite, m.ke3) };
    default:
      return m;
  }
}

// ----------------------------------------------------------------------------------------------
// Frames from the relay

export function handleFrame(node: VaultNode, frame: Frame, env: VaultEnv): Step {
  try {
    if (frame.kind === 'Handshake1') return handleHandshake(node, frame, env);
    if (frame.kind === 'Transport') return handleTransport(node, frame, env);
    throw new VaultError('UnknownMessageType', `frame kind ${frame.kind}`);
  } catch (e) {
    if (e instanceof VaultError) return unchanged(node, [alert(frame.channel, e.code)]);
    throw e;
  }
}

function handleHandshake(node: VaultNode, frame: Frame, env: VaultEnv): Step {
  // a replay is named as such even while the original channel is still open
  const digest = toHex(sha256(frame.bytes));
  if (node.seenHandshakes.has(digest)) throw new VaultError('SessionReplayed', 'Handshake1 replayed');
  if (node.channels.has(frame.channel))
    throw new VaultError('ChannelStateError', `channel ${frame.channel} already open`);
  const { config } = env;
  const { payload, state: responder } = responderReceive(config.noise, {
    staticKey: hsmChannelKey(env.hsm, config.labels),
    prologue: config.prologue,
    message: frame.bytes,
  });
  const ch: Channel = { stage: 'Handshaking', responder, op: { type: 'Idle' }, since: env.now };
  let request: DecodedRequest;
  try {
    request = decodeVaultRequest(config.params.suite, payload);
  } catch (e) {
    if (e instanceof VaultError) return reply(node, frame.channel, ch, errorResponse(e.code), null, env);
    throw e;
  }
  const seen = new Map(node.seenHandshakes).set(digest, env.now);
  const opened = { ...node, seenHandshakes: seen };
  const sessionId = digest.slice(0, 32);
  switch (request.type) {
    case 'RegisterStart':
      return handleRegisterStart(opened, frame.channel, ch, request, env);
    case 'RecoverStart':
      return handleRecoverStart(opened, frame.channel, ch, request, sessionId, env);
    case 'Delete':
      return handleDelete(opened, frame.channel, ch, request);
    default: // RegisterFinish, RecoverFinish, RecoverAbort: known requests, out of phase
      return reply(node, frame.channel, ch, errorResponse('ChannelStateError'), null, env);
  }
}

function handleTransport(node: VaultNode, frame: Frame, env: VaultEnv): Step {
  const open = node.channels.get(frame.channel);
  if (!open || open.stage !== 'Open') throw new VaultError('UnknownSession', `no open channel ${frame.channel}`);
  // `node` keeps the channel as it was: the handlers below store `ch`, with the advanced receive
  // nonce, in the state they return; a step that throws (ChannelDecryptFailed included) returns `node`
  const { payload, transport } = open.transport.receive(frame.bytes);
  const ch: Channel = { ...open, transport };
  let request: DecodedRequest;
  try {
    request = decodeVaultRequest(env.config.params.suite, payload);
  } catch (e) {
    if (e instanceof VaultError) return reply(node, frame.channel, ch, errorResponse(e.code), ch.op, env);
    throw e;
  }
  switch (request.type) {
    case 'RegisterFinish':
      return handleRegisterFinish(node, frame.channel, ch, request, env);
    case 'RecoverFinish':
      return handleRecoverFinish(node, frame.channel, ch, request, env);
    case 'RecoverAbort':
      return handleRecoverAbort(node, frame.channel, ch, env);
    default:
      return reply(node, frame.channel, ch, errorResponse('ChannelStateError'), ch.op, env);
  }
}

// ----------------------------------------------------------------------------------------------
// Registration

/** The decoded request of type `T`. */
type Decoded<T extends DecodedRequest['type']> = Extract<DecodedRequest, { type: T }>;

export function handleRegisterStart(
  node: VaultNode,
  id: string,
  ch: Channel,
  m: Decoded<'RegisterStart'>,
  env: VaultEnv,
): Step {
  const { params, labels } = env.config;
  try {
    // a fresh OPRF key for this registration: never an existing record's (spec ch. 5)
    const oprfSalt = env.rng(OPRF_SALT_BYTES);
    const keys = hsmServerKeys(env.hsm, labels);
    const oprfId = oprfCredentialIdentifier(m.credentialId, oprfSalt);
    const response = encodeRegistrationResponse(createRegistrationResponse(params, keys, m.message, oprfId));
    const op: ChannelOp = {
      type: 'AwaitRegisterFinish',
      credentialId: toHex(m.credentialId),
      oprfSalt,
      transcript: concat(m.credentialId, m.request, response),
    };
    return reply(node, id, ch, { type: 'RegisterResponse', response }, op, env);
  } catch (e) {
    if (e instanceof VaultError) return reply(node, id, ch, errorResponse(e.code), null, env);
    throw e;
  }
}

export function handleRegisterFinish(
  node: VaultNode,
  id: string,
  ch: Channel,
  m: Decoded<'RegisterFinish'>,
  env: VaultEnv,
): Step {
  if (ch.op.type !== 'AwaitRegisterFinish') return reply(node, id, ch, errorResponse('ChannelStateError'), ch.op, env);
  // the record was decoded strictly with the request (`decodeVaultRequest`): its client public key
  // is one a later KE2 can use, whoever serves it (spec ch. 5 §5.7)
  if (!isGuessLimitValid(m.guessLimit)) return reply(node, id, ch, errorResponse('InvalidParameter'), ch.op, env);
  const cmd: Command = {
    type: 'Register',
    credentialId: ch.op.credentialId,
    registrationRecord: toHex(m.record),
    sealedPayload: toHex(m.sealedPayload),
    transcriptHash: toHex(sha256(concat(ch.op.transcript, m.record, m.sealedPayload))),
    oprfSalt: toHex(ch.op.oprfSalt),
    guessLimit: m.guessLimit,
  };
  const op: ChannelOp = { type: 'Registering', credentialId: ch.op.credentialId, transcriptHash: cmd.transcriptHash };
  return propose(node, id, ch, op, cmd);
}

// ----------------------------------------------------------------------------------------------
// Recovery

export function handleRecoverStart(
  node: VaultNode,
  id: string,
  ch: Channel,
  m: Decoded<'RecoverStart'>,
  sessionId: Hex,
  env: VaultEnv,
): Step {
  const credentialId = toHex(m.credentialId);
  // Unknown credentials propose too (and are refused at apply time): the fake KE2 then leaves
  // after the same commit delay as a real one. The guess is spent on the record as it is when the
  // ConsumeGuess commits (a re-registration committed in between included): a KE1 depends on no
  // record, and its KE2 is computed from that one (spec ch. 5, "A recovery that races a registration").
  const cmd: Command = { type: 'ConsumeGuess', credentialId, sessionId, at: env.now };
  // the channel keeps the KE1 as decoded (strictly, before this proposal): its KE2 is computed from it
  return propose(node, id, ch, { type: 'ConsumingGuess', credentialId, sessionId, ke1: m.message }, cmd);
}

export function handleRecoverFinish(
  node: VaultNode,
  id: string,
  ch: Channel,
  m: Decoded<'RecoverFinish'>,
  env: VaultEnv,
): Step {
  const op = ch.op;
  if (op.type !== 'AwaitKE3') return reply(node, id, ch, errorResponse('ChannelStateError'), ch.op, env);
  const { login } = op;
  let sessionKey: Bytes | null = null;
  if (login !== null) {
    try {
      sessionKey = serverFinishLogin(login.state, m.message);
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
    }
  }
  if (login === null || sessionKey === null) {
    // A fake session (login null) proposes too, refused at apply (the credential has no such
    // pending session): its answer leaves after the same commit as a real one.
    const failed = errorResponse('ClientAuthenticationFailed', op.triesRemaining);
    const cmd: Command = {
      type: 'EndSession',
      credentialId: op.credentialId,
      sessionId: op.sessionId,
      reason: 'failed',
    };
    return propose(
      node,
      id,
      ch,
      { type: 'Ending', credentialId: op.credentialId, sessionId: op.sessionId, reply: failed },
      cmd,
    );
  }
  const { registration } = login;
  const cmd: Command = { type: 'Reset', credentialId: op.credentialId, sessionId: op.sessionId, registration };
  const step = propose(
    node,
    id,
    ch,
    { type: 'Resetting', credentialId: op.credentialId, sessionId: op.sessionId, registration, sessionKey },
    cmd,
  );
  // the KE3 MAC verified: the G3 checker's evidence, for the registration it proved
  return { ...step, verified: { credentialId: op.credentialId, sessionId: op.sessionId, registration } };
}

export function handleRecoverAbort(node: VaultNode, id: string, ch: Channel, env: VaultEnv): Step {
  const op = ch.op;
  if (op.type !== 'AwaitKE3') return reply(node, id, ch, errorResponse('ChannelStateError'), ch.op, env);
  // a fake session proposes too (refused at apply), as in handleRecoverFinish
  const cmd: Command = { type: 'EndSession', credentialId: op.credentialId, sessionId: op.sessionId, reason: 'abort' };
  return propose(
    node,
    id,
    ch,
    { type: 'Ending', credentialId: op.credentialId, sessionId: op.sessionId, reply: { type: 'Done' } },
    cmd,
  );
}

export function handleDelete(node: VaultNode, id: string, ch: Channel, m: Decoded<'Delete'>): Step {
  const credentialId = toHex(m.credentialId);
  return propose(node, id, ch, { type: 'Deleting', credentialId }, { type: 'Delete', credentialId });
}

/**
 * Session expiry, an explicit event: ends pending sessions older than the TTL (their guesses stay
 * spent) and closes the channels older than the TTL, telling each one's client with an
 * `Alert(SessionExpired)`, so that an expired session is told apart from a wrong password.
 */
export function handleSessionExpiry(node: VaultNode, env: VaultEnv): Step {
  const ttl = env.config.sessionTtlMs;
  const proposals: Command[] = [];
  for (const [credentialId, r] of pendingRecords(node.vault)) {
    for (const [sessionId, at] of Object.entries(r.pending)) {
      if (env.now - at >= ttl) proposals.push({ type: 'EndSession', credentialId, sessionId, reason: 'expired' });
    }
  }
  let channels: Map<string, Channel> | null = null;
  const frames: Frame[] = [];
  for (const [id, ch] of node.channels) {
    if (env.now - ch.since < ttl) continue;
    (channels ??= new Map(node.channels)).delete(id);
    frames.push(alert(id, 'SessionExpired'));
  }
  // The replay cache keeps a Handshake1 for one TTL: by then its session has ended, and a replay
  // could only spend a guess (spec ch. 5, "Replays"). This bounds the cache by the load of one TTL.
  let seen: Map<Hex, number> | null = null;
  for (const [digest, at] of node.seenHandshakes) {
    if (env.now - at >= ttl) (seen ??= new Map(node.seenHandshakes)).delete(digest);
  }
  if (!channels && !seen) return { node, frames, proposals };
  return { node: { ...node, ...(channels && { channels }), ...(seen && { seenHandshakes: seen }) }, frames, proposals };
}

// ----------------------------------------------------------------------------------------------
// Commit

function findWaiting(node: VaultNode, match: (op: ChannelOp) => boolean): [string, Channel] | undefined {
  for (const entry of node.channels) if (match(entry[1].op)) return entry;
  return undefined;
}

/**
 * A command has been committed (at a majority, in the replicated vault): apply it, then complete
 * the channel waiting for it, if this replica holds one.
 *
 * Total over what clients send: every client byte it uses (the KE1 a channel keeps, the record a
 * Register stored) was decoded strictly before its command was proposed, so the KE2 computation
 * has no client input left to refuse (a valid X25519 key never gives an all-zero DH, spec ch. 2
 * §2.6). What can still throw is the HSM itself (`HsmError`), which the host sees as its crash.
 */
export function onCommitted(node0: VaultNode, cmd: Command, env: VaultEnv): Step & { outcome: Outcome } {
  const { state: vault, outcome } = applyCommand(node0.vault, cmd);
  const node: VaultNode = { ...node0, vault };
  const done = (s: Step) => ({ ...s, outcome });
  switch (cmd.type) {
    case 'Register': {
      // the channel of this registration, not another one of the same id still waiting for its commit
      const w = findWaiting(node, (op) => op.type === 'Registering' && op.transcriptHash === cmd.transcriptHash);
      if (!w) return done(unchanged(node));
      return done(
        reply(node, w[0], w[1], outcome.ok ? { type: 'RegisterDone' } : errorResponse(outcome.code), null, env),
      );
    }
    case 'ConsumeGuess': {
      const w = findWaiting(node, (op) => op.type === 'ConsumingGuess' && op.sessionId === cmd.sessionId);
      if (!w) return done(unchanged(node));
      return done(completeRecoverStart(node, w[0], w[1], cmd.credentialId, outcome, env));
    }
    case 'Reset': {
      const ofThis = (op: ChannelOp) =>
        op.type === 'Resetting' && op.sessionId === cmd.sessionId && op.registration === cmd.registration;
      const w = findWaiting(node, ofThis);
      if (!w || w[1].op.type !== 'Resetting') return done(unchanged(node));
      if (!outcome.ok || outcome.record?.sealedPayload == null)
        return done(reply(node, w[0], w[1], errorResponse('UnknownSession'), null, env));
      // G3: the sealed payload leaves only now, encrypted under the OPAQUE session key
      const payload = aeadSeal(
        w[1].op.sessionKey,
        'bkv release',
        fromHexBytes(outcome.record.sealedPayload),
        fromHexBytes(cmd.credentialId),
        env.rng,
      );
      return done(reply(node, w[0], w[1], { type: 'Released', payload }, null, env));
    }
    case 'EndSession': {
      const w = findWaiting(node, (op) => op.type === 'Ending' && op.sessionId === cmd.sessionId);
      if (!w || w[1].op.type !== 'Ending') return done(unchanged(node));
      return done(reply(node, w[0], w[1], w[1].op.reply, null, env));
    }
    case 'Delete': {
      const w = findWaiting(node, (op) => op.type === 'Deleting' && op.credentialId === cmd.credentialId);
      if (!w) return done(unchanged(node));
      return done(reply(node, w[0], w[1], outcome.ok ? { type: 'Done' } : errorResponse(outcome.code), null, env));
    }
  }
}

function fromHexBytes(hex: string): Bytes {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** After ConsumeGuess is committed: the KE2 (real or fake), or the refusal. */
function completeRecoverStart(
  node: VaultNode,
  id: string,
  ch: Channel,
  credentialId: Hex,
  outcome: Outcome,
  env: VaultEnv,
): Step {
  if (ch.op.type !== 'ConsumingGuess') return unchanged(node);
  const { params, labels, serverIdentity } = env.config;
  const suite = params.suite;
  const keys = hsmServerKeys(env.hsm, labels);
  const ke1 = ch.op.ke1;
  const credentialBytes = fromHexBytes(credentialId);
  const ids = serverIdentity ? { serverIdentity } : {};
  if (outcome.ok && outcome.record?.registrationRecord) {
    // decoded strictly once already, when its Register was proposed; the same bytes decode the same way
    const record = decodeRegistrationRecord(suite, fromHexBytes(outcome.record.registrationRecord));
    const salt = outcome.record.oprfSalt;
    const oprfId = salt === undefined ? credentialBytes : oprfCredentialIdentifier(credentialBytes, fromHexBytes(salt));
    const { ke2, state } = serverStartLogin(params, keys, record, oprfId, ke1, ids, env.rng);
    const tries = triesRemaining(outcome.record);
    const op: ChannelOp = {
      type: 'AwaitKE3',
      credentialId,
      sessionId: ch.op.sessionId,
      login: { state, registration: outcome.record.transcriptHash },
      triesRemaining: tries,
    };
    return reply(node, id, ch, { type: 'RecoverResponse', triesRemaining: tries, ke2: encodeKE2(ke2) }, op, env);
  }
  if (!outcome.ok && outcome.code === 'RecordNotFound') {
    // RFC 9807 §10.9: a fake KE2, indistinguishable from a real one without the password
    const used = (node.fakeAttempts.get(credentialId) ?? 0) + 1;
    const tries = DEFAULT_GUESS_LIMIT - used;
    if (tries < 0) return reply(node, id, ch, errorResponse('GuessLimitExceeded', 0), null, env);
    const fake = fakeRecordSecrets(suite, keys, credentialBytes);
    const record = createFakeRecord(suite, fake.clientPublicKey, fake.maskingKey);
    const { ke2 } = serverStartLogin(
      params,
      keys,
      record,
      oprfCredentialIdentifier(credentialBytes, fake.oprfSalt),
      ke1,
      ids,
      env.rng,
    );
    const next = { ...node, fakeAttempts: new Map(node.fakeAttempts).set(credentialId, used) };
    const op: ChannelOp = {
      type: 'AwaitKE3',
      credentialId,
      sessionId: ch.op.sessionId,
      login: null,
      triesRemaining: tries,
    };
    return reply(next, id, ch, { type: 'RecoverResponse', triesRemaining: tries, ke2: encodeKE2(ke2) }, op, env);
  }
  const code = outcome.ok ? 'GuessLimitExceeded' : outcome.code;
  return reply(node, id, ch, errorResponse(code, code === 'GuessLimitExceeded' ? 0 : null), null, env);
}

/**
 * The vault's entry points, as a driver runs them: the rules of this module. Every runtime takes
 * them as a parameter (the replica, through its environment), so a deliberately broken vault is
 * built from outside by wrapping one of them (src/broken/), never by a switch in here.
 */
export interface VaultSteps {
  readonly handleFrame: typeof handleFrame;
  readonly onCommitted: typeof onCommitted;
  readonly handleSessionExpiry: typeof handleSessionExpiry;
}

export const VAULT_STEPS: VaultSteps = Object.freeze({ handleFrame, onCommitted, handleSessionExpiry });
