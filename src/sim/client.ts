/**
 * Clients of the simulated fleet (spec ch. 6, "Simulation"): each runs a script of operations
 * with the client's pure protocol steps (`src/client/session.ts`), over the simulated network,
 * and records every operation in a Jepsen-style history (`src/check/history.ts`): invoked, then
 * `ok` (with what the client saw), `fail` (certainly had no effect) or `info` (unknown). A
 * recovery whose KE2 opened the envelope also records that KE2 as it sends its KE3 (`opened`).
 *
 *   open stage    Handshake1 (RegisterStart or RecoverStart) to the replica it believes leads;
 *                 Alert NotLeader -> the same Handshake1 to the hinted leader (nothing happened yet)
 *                 Alert Unavailable (a leader not yet serving) -> the same, a little later
 *   finish stage  RegisterFinish or KE3 on the channel, to the replica that answered (a forger,
 *                 who cannot open the envelope, sends a KE3 of its own making: a random MAC)
 *   timeout       the operation ends: `fail` when nothing can have happened (no RegisterFinish
 *                 sent), else `info` (a recovery whose KE1 arrived may have spent a guess)
 *
 * Passwords and keys are names in the history; their bytes are derived from the names.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Bytes, type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import type { History, OpInput, OpOutput } from '../check/history.ts';
import {
  type ClientContext,
  type DeletionSession,
  type RecoverySession,
  type RegistrationSession,
  onDeleted,
  onRecoverResponse,
  onRegisterDone,
  onRegisterResponse,
  onReleased,
  startDeletion,
  startRecovery,
  startRegistration,
} from '../client/session.ts';
import { initiatorFinish } from '../crypto/noise.ts';
import { isVaultError } from '../errors.ts';
import { type Frame, decodeResponse, encodeRequest } from '../vault/protocol.ts';
import type { ClientEndpoint, SimFleet } from './fleet.ts';
import { randomBetween } from './network.ts';
import { isRedirect } from '../replication/replica.ts';

export type ClientOp =
  | { readonly kind: 'register'; readonly password: string; readonly key: string; readonly limit: number }
  | { readonly kind: 'recover'; readonly password: string }
  /** KE1, then the session is abandoned after KE2 (no KE3): a spent guess without a verdict. */
  | { readonly kind: 'probe' }
  /** A guess whose KE2 is answered with a forged KE3 (a random MAC) instead of RecoverAbort. */
  | { readonly kind: 'forge'; readonly password: string }
  /** The credential's record deleted (`Deleted`, or `NotFound` when it has none). */
  | { readonly kind: 'delete' };

export interface ClientScript {
  readonly name: string;
  readonly credential: string;
  readonly ops: readonly ClientOp[];
  /** Simulated time of the first operation. */
  readonly startAt: number;
}

export interface ClientTiming {
  readonly timeoutMs: number;
  readonly thinkMinMs: number;
  readonly thinkMaxMs: number;
  readonly retryMs: number;
  readonly maxRedirects: number;
}

export const DEFAULT_CLIENT_TIMING: ClientTiming = Object.freeze({
  timeoutMs: 1500,
  thinkMinMs: 10,
  thinkMaxMs: 200,
  retryMs: 25,
  maxRedirects: 40,
});

/** K of a key name (32 bytes). */
export function keyBytes(name: string): Bytes {
  return sha256(utf8(`bkv sim key/${name}`));
}

const PROBE_PASSWORD = 'probe';

interface Running {
  readonly historyId: number;
  readonly op: ClientOp;
  readonly channel: string;
  readonly hello: Frame;
  stage: 'open' | 'finish';
  target: number;
  redirects: number;
  readonly reg?: RegistrationSession;
  readonly rec?: RecoverySession;
  readonly del?: DeletionSession;
}

type TimerPurpose = 'next' | 'timeout' | 'resend';

/** Records of one operation's life, for liveness checks. */
export interface OpRecord {
  readonly historyId: number;
  readonly op: ClientOp;
  readonly invokedAt: number;
  completedAt: number | null;
  completion: 'ok' | 'fail' | 'info' | null;
}

export class ScriptedClient implements ClientEndpoint {
  readonly name: string;
  readonly credential: string;
  readonly records: OpRecord[] = [];
  readonly #ctx: ClientContext;
  readonly #history: History;
  readonly #rng: Rng;
  readonly #timing: ClientTiming;
  readonly #keyNames: ReadonlyMap<string, string>;
  readonly #ops: ClientOp[];
  #next = 0;
  #current: Running | null = null;
  #token = 0;
  #purpose: TimerPurpose = 'next';
  #leaderGuess = 0;
  #idle = true;

  constructor(
    fleet: SimFleet,
    script: ClientScript,
    o: { history: History; rng: Rng; keyNames: ReadonlyMap<string, string>; timing?: Partial<ClientTiming> },
  ) {
    this.name = script.name;
    this.credential = script.credential;
    this.#ctx = fleet.clientContext;
    this.#history = o.history;
    this.#rng = o.rng;
    this.#timing = { ...DEFAULT_CLIENT_TIMING, ...o.timing };
    this.#keyNames = o.keyNames;
    this.#ops = [...script.ops];
    this.#leaderGuess = randomBetween(this.#rng, 0, fleet.n - 1);
    fleet.addClient(this.name, this);
    this.#idle = false;
    this.#setTimer(fleet, 'next', script.startAt);
  }

  /** Every operation of the script has completed. */
  get done(): boolean {
    return this.#current === null && this.#next >= this.#ops.length;
  }

  /** Adds operations (the scenario's final phase); an idle client starts them after a think time. */
  append(fleet: SimFleet, ops: readonly ClientOp[]): void {
    this.#ops.push(...ops);
    if (this.#idle) {
      this.#idle = false;
      this.#setTimer(fleet, 'next', fleet.now + this.#think());
    }
  }

  onWake(fleet: SimFleet, token: number): void {
    if (token !== this.#token) return;
    switch (this.#purpose) {
      case 'next':
        this.#startNext(fleet);
        return;
      case 'resend': {
        const c = this.#current;
        if (!c) return;
        fleet.sendFrame(this.name, c.target, c.hello);
        this.#setTimer(fleet, 'timeout', fleet.now + this.#timing.timeoutMs);
        return;
      }
      case 'timeout': {
        const c = this.#current;
        if (!c) return;
        // A registration whose RegisterFinish was never sent changed nothing; anything else may have.
        this.#complete(fleet, c.op.kind === 'register' && c.stage === 'open' ? 'fail' : 'info');
        return;
      }
    }
  }

  onFrame(fleet: SimFleet, frame: Frame, from: number): void {
    const c = this.#current;
    if (!c || frame.channel !== c.channel) return; // a late answer to an operation that has ended
    if (c.stage === 'open') this.#onOpen(fleet, c, frame, from);
    else this.#onFinish(fleet, c, frame);
  }

  #onOpen(fleet: SimFleet, c: Running, frame: Frame, from: number): void {
    if (frame.kind === 'Alert') {
      const code = new TextDecoder().decode(frame.bytes);
      if (code !== 'NotLeader' && code !== 'Unavailable') return this.#complete(fleet, 'info');
      if (++c.redirects > this.#timing.maxRedirects) return this.#complete(fleet, 'fail');
      if (code === 'NotLeader') {
        const hint = isRedirect(frame) ? frame.leaderHint : null;
        this.#leaderGuess =
          hint !== null && hint !== from ? hint : (from + 1 + randomBetween(this.#rng, 0, fleet.n - 2)) % fleet.n;
        c.target = this.#leaderGuess;
      }
      this.#setTimer(fleet, 'resend', fleet.now + this.#timing.retryMs);
      return;
    }
    this.#leaderGuess = from;
    c.target = from;
    if (c.reg) {
      const r = onRegisterResponse(this.#ctx, c.reg, frame, this.#rng);
      if ('outcome' in r) return this.#complete(fleet, 'fail'); // refused at RegisterStart: nothing happened
      c.stage = 'finish';
      fleet.sendFrame(this.name, from, r.frame);
      this.#setTimer(fleet, 'timeout', fleet.now + this.#timing.timeoutMs);
      return;
    }
    if (c.del) return this.#onDeleted(fleet, c.del, frame);
    if (c.op.kind === 'forge') return this.#forge(fleet, c, frame, from);
    const r = onRecoverResponse(this.#ctx, c.rec!, frame);
    const outcome = r.outcome;
    if (c.op.kind === 'probe') {
      if (outcome && !outcome.ok && outcome.kind === 'WrongPassword')
        return this.#complete(fleet, 'ok', { kind: 'Ke2', triesRemaining: outcome.triesRemaining });
      if (outcome && !outcome.ok && outcome.kind === 'Locked') return this.#complete(fleet, 'ok', { kind: 'Locked' });
      return this.#complete(fleet, 'info');
    }
    if ('frame' in r && !outcome) {
      c.stage = 'finish'; // the envelope opened: KE3 (the end of ConsumeGuess, the start of Reset: spec ch. 12)
      this.#history.opened(c.historyId, fleet.tick(), r.triesRemaining!);
      fleet.sendFrame(this.name, from, r.frame);
      this.#setTimer(fleet, 'timeout', fleet.now + this.#timing.timeoutMs);
      return;
    }
    if ('frame' in r) fleet.sendFrame(this.name, from, r.frame); // RecoverAbort: the vault ends the session now
    if (outcome && !outcome.ok && outcome.kind === 'WrongPassword')
      return this.#complete(fleet, 'ok', { kind: 'WrongPassword', triesRemaining: outcome.triesRemaining });
    if (outcome && !outcome.ok && outcome.kind === 'Locked') return this.#complete(fleet, 'ok', { kind: 'Locked' });
    this.#complete(fleet, 'info');
  }

  #onFinish(fleet: SimFleet, c: Running, frame: Frame): void {
    if (c.reg) {
      const o = onRegisterDone(this.#ctx, c.reg, frame);
      return o.ok ? this.#complete(fleet, 'ok', { kind: 'Registered' }) : this.#complete(fleet, 'info');
    }
    const o = onReleased(this.#ctx, c.rec!, frame);
    if (o.ok)
      return this.#complete(fleet, 'ok', {
        kind: 'Recovered',
        key: this.#keyNames.get(toHex(o.value)) ?? `unknown:${toHex(o.value).slice(0, 8)}`,
      });
    // a forged KE3, refused
    if (o.kind === 'WrongPassword')
      return this.#complete(fleet, 'ok', { kind: 'WrongPassword', triesRemaining: o.triesRemaining });
    this.#complete(fleet, 'info');
  }

  #onDeleted(fleet: SimFleet, d: DeletionSession, frame: Frame): void {
    const o = onDeleted(this.#ctx, d, frame);
    if (o.ok) return this.#complete(fleet, 'ok', { kind: 'Deleted' });
    if (o.kind === 'Fault' && o.code === 'RecordNotFound') return this.#complete(fleet, 'ok', { kind: 'NotFound' });
    this.#complete(fleet, 'info');
  }

  /**
   * A forger's KE2: where an honest client with a wrong password aborts, it sends a KE3 with a
   * random MAC, and made-up keys to read the answer with (it learns its verdict from the vault).
   */
  #forge(fleet: SimFleet, c: Running, frame: Frame, from: number): void {
    const suite = this.#ctx.params.suite;
    let finished;
    try {
      if (frame.kind !== 'Handshake2') return this.#complete(fleet, 'info');
      finished = initiatorFinish(c.rec!.noise, frame.bytes);
      if (decodeResponse(suite, finished.payload).type !== 'RecoverResponse') return this.#complete(fleet, 'info');
    } catch (e) {
      if (!isVaultError(e)) throw e;
      return this.#complete(fleet, 'info');
    }
    const { transport } = finished;
    Object.assign(c.rec!, { transport, sessionKey: this.#rng(32), exportKey: this.#rng(32) });
    c.stage = 'finish';
    const sent = transport.send(encodeRequest({ type: 'RecoverFinish', ke3: this.#rng(suite.Nm) }));
    c.rec!.transport = sent.transport;
    fleet.sendFrame(this.name, from, { channel: c.channel, kind: 'Transport', bytes: sent.message });
    this.#setTimer(fleet, 'timeout', fleet.now + this.#timing.timeoutMs);
  }

  #startNext(fleet: SimFleet): void {
    const op = this.#ops[this.#next];
    if (op === undefined) {
      this.#idle = true;
      return;
    }
    this.#next++;
    const credentialId = utf8(this.credential);
    const input: OpInput = op.kind === 'forge' ? { kind: 'recover', password: op.password } : op;
    const historyId = this.#history.invoke(this.name, this.credential, input, fleet.tick());
    this.records.push({ historyId, op, invokedAt: fleet.now, completedAt: null, completion: null });
    let running: Running;
    // what every operation's session starts from: its first frame, to the replica believed to lead
    const opening = (frame: Frame) => ({
      historyId,
      op,
      channel: frame.channel,
      hello: frame,
      stage: 'open' as const,
      target: this.#leaderGuess,
      redirects: 0,
    });
    if (op.kind === 'register') {
      const { frame, session } = startRegistration(
        this.#ctx,
        credentialId,
        utf8(op.password),
        keyBytes(op.key),
        op.limit,
        this.#rng,
      );
      running = { ...opening(frame), reg: session };
    } else if (op.kind === 'delete') {
      const { frame, session } = startDeletion(this.#ctx, credentialId, this.#rng);
      running = { ...opening(frame), del: session };
    } else {
      const password = op.kind === 'probe' ? PROBE_PASSWORD : op.password;
      const { frame, session } = startRecovery(this.#ctx, credentialId, utf8(password), this.#rng);
      running = { ...opening(frame), rec: session };
    }
    this.#current = running;
    fleet.sendFrame(this.name, running.target, running.hello);
    this.#setTimer(fleet, 'timeout', fleet.now + this.#timing.timeoutMs);
  }

  #complete(fleet: SimFleet, completion: 'ok' | 'fail' | 'info', output?: OpOutput): void {
    const c = this.#current!;
    this.#current = null;
    this.#history.complete(c.historyId, completion, fleet.tick(), output);
    const rec = this.records.find((r) => r.historyId === c.historyId)!;
    rec.completedAt = fleet.now;
    rec.completion = completion;
    this.#setTimer(fleet, 'next', fleet.now + this.#think());
  }

  #setTimer(fleet: SimFleet, purpose: TimerPurpose, at: number): void {
    this.#purpose = purpose;
    fleet.wake(this.name, at, ++this.#token);
  }

  #think(): number {
    return randomBetween(this.#rng, this.#timing.thinkMinMs, this.#timing.thinkMaxMs);
  }
}
