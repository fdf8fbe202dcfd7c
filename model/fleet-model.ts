/**
 * The fleet as one pure state-transition system (spec ch. 10, "The fleet model"), for exhaustive
 * exploration: N replicas running leader-based consensus in the style of Raft (terms, votes, logs,
 * commit at a majority), the vault's record rules applied to the committed log (as
 * `model/record-machine.ts` states them), clients running recovery sessions, and a network that
 * loses messages, partitions replicas and crashes them. It abstracts `src/replication/` and
 * `src/vault/`; the XState machines tie each part to the implementation.
 *
 * A state is a small byte array (layout below), so that states hash and compare as bytes. Every
 * action is one protocol action of one party, or a fault, named as in the spec and the machines:
 *
 *   ElectionTimeout(i)         i becomes a candidate of the next term, votes for itself
 *   RequestVote(i, j)          candidate i asks j; j's answer arrives (j may adopt i's term, vote)
 *   AppendEntries(i, j)        leader i sends its log; j keeps its longest matching prefix, takes
 *                              the rest and the commit index; the answer arrives: i counts j's
 *                              match, commits what a majority holds of its own term, applies it
 *   AppendEntriesLost(i, j)    the same, the answer lost                          (drops)
 *   Restart(i)                 i crashes and restarts: role, votes, commit index, channels lost;
 *                              term, vote and log kept (sealed + HSM ballot)       (crashes)
 *   Partition(i) / Heal        i is cut off from the other replicas / reconnected  (explicit partitions)
 *   RecoverStart(k, c)         session k of credential c starts: its KE1 is in flight
 *   HandleRecoverStart(i, k)   leader i appends ConsumeGuess(k); the KE2 leaves on its commit
 *   OnRecoverResponse(k, pw)   the client reads KE2 with the right password (-> KE3) or a wrong
 *                              one (-> RecoverAbort); nothing before depends on which
 *   HandleRecoverFinish(i, k)  leader i verifies KE3, appends Reset(k); K leaves on its commit
 *   HandleRecoverAbort(i, k)   leader i appends EndSession(k)
 *   SessionExpiry(i, k)        leader i ends pending session k (its TTL passed), closing its channel
 *   DropMessage(k)             the KE3 or RecoverAbort of session k is lost       (drops)
 *
 * Abstractions, each sound for the invariants checked (spec ch. 10 argues them): a vote request
 * and an AppendEntries are delivered atomically with their answer (an AppendEntries' answer may
 * be lost; a lost vote only removes elections); AppendEntries carries the leader's whole log
 * (prevLogIndex 0); a crash is a restart (a replica that stays down is one no message reaches);
 * partitions are folded unless `partitions: 'explicit'` (they only disable deliveries, each of
 * which is optional); the vault's final answers (Released, Locked, Done) end the session when they
 * leave. Only a leader keeps a commit index: a follower applies nothing anyone sees, and a new
 * leader starts from 0 and applies its committed prefix again when its first entry commits (the
 * ghost state tells a first commit from a repeated one). A new leader appends no no-op: its first
 * command commits the earlier terms' entries (Raft §5.4.2, which the commit rule keeps). States no
 * future tells apart are merged (`#normalizeSessions`).
 *
 * Bounds: terms <= maxTerm, log length <= maxLog, `sessions` sessions in all (any of them at once).
 * Ghost (proof-only) state: the KE2s spent per credential since its last success, which terms
 * have had a leader, the committed prefix with each entry's commit term, and three flags set when
 * a KE2 or K leaves against its rule, or a term gets a second leader. Registrations are not
 * modelled: every credential starts registered with `limit` guesses.
 * @module
 */
import { ACTION, CMD, CMD_NAMES, FLAG, FleetLayout, type FleetModelConfig, MSG, MSG_NAMES, OP, OP_NAMES, PW, ROLE, ROLE_NAMES, Records, encodeAction, entryCommand, entryTerm } from './fleet-state.ts';

// ---------------------------------------------------------------------------------------------
// The transition function

export function initialState(layout: FleetLayout): Uint8Array {
  return new Uint8Array(layout.size);
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}

/**
 * The fleet model: `expand(state, emit)` calls `emit(action, next)` for every enabled action
 * (`next` is a scratch buffer: copy it to keep it).
 */
export class FleetModel {
  readonly layout: FleetLayout;
  readonly cfg: FleetModelConfig;
  readonly #next: Uint8Array;
  readonly #rec: Records;
  /** When not null, each action's visible effects (a KE2 or K leaving, a commit) are listed here. */
  effects: string[] | null = null;

  constructor(cfg: FleetModelConfig) {
    this.layout = new FleetLayout(cfg);
    this.cfg = cfg;
    this.#next = new Uint8Array(this.layout.size);
    this.#rec = new Records(this.layout);
  }

  initial(): Uint8Array {
    return initialState(this.layout);
  }

  #connected(s: Uint8Array, i: number, j: number): boolean {
    const p = s[this.layout.partition]!;
    return p === 0 || (p - 1 !== i && p - 1 !== j);
  }

  /** Every session whose channel is at replica i loses it (a restart, or a leader stepping down). */
  #dropChannels(s: Uint8Array, i: number): void {
    const L = this.layout;
    for (let k = 0; k < this.cfg.sessions; k++) {
      const b = L.s(k);
      if (s[b + FleetLayout.CHANNEL] === i + 1) {
        s[b + FleetLayout.CHANNEL] = 0;
        s[b + FleetLayout.OP] = OP.None;
      }
    }
  }

  /** Replica i adopts `term` (if higher: no vote) and becomes a follower. */
  #becomeFollower(s: Uint8Array, i: number, term: number): void {
    const r = this.layout.r(i);
    if (term > s[r + FleetLayout.TERM]!) {
      s[r + FleetLayout.TERM] = term;
      s[r + FleetLayout.VOTED] = 0;
    }
    if (s[r + FleetLayout.ROLE] === ROLE.Leader) this.#dropChannels(s, i);
    s[r + FleetLayout.ROLE] = ROLE.Follower;
    s[r + FleetLayout.VOTES] = 0;
    s[r + FleetLayout.COMMIT] = 0; // only a leader's commit index is kept (see the module comment)
    for (let j = 0; j < this.layout.n; j++) s[r + FleetLayout.MATCH + j] = 0;
  }

  #becomeLeader(s: Uint8Array, i: number): void {
    const L = this.layout;
    const r = L.r(i);
    s[r + FleetLayout.ROLE] = ROLE.Leader;
    s[r + FleetLayout.VOTES] = 0; // no longer needed: fewer states
    for (let j = 0; j < L.n; j++) s[r + FleetLayout.MATCH + j] = 0;
    const term = s[r + FleetLayout.TERM]!;
    // a replica leads a term at most once (it must campaign, in a new term, to lead again),
    // so a second leader of a term is a term whose bit is already set
    const bit = 1 << (term - 1);
    if ((s[L.ledTerms]! & bit) !== 0) s[L.flags]! |= FLAG.SecondLeader;
    s[L.ledTerms]! |= bit;
  }

  /** Raft §5.4.1: is a log ending (lastTerm, lastIndex) at least as up to date as replica j's? */
  #isUpToDate(s: Uint8Array, i: number, j: number): boolean {
    const L = this.layout;
    const ri = L.r(i);
    const rj = L.r(j);
    const li = s[ri + FleetLayout.LEN]!;
    const lj = s[rj + FleetLayout.LEN]!;
    const ti = li === 0 ? 0 : entryTerm(s[ri + L.logOffset + li - 1]!);
    const tj = lj === 0 ? 0 : entryTerm(s[rj + L.logOffset + lj - 1]!);
    return ti > tj || (ti === tj && li >= lj);
  }

  /**
   * Candidate i asks j for its vote, and j's answer reaches i. (A lost answer is not an action of
   * its own: j's vote is then spent on a candidate that never counts it, which only removes
   * elections; spec ch. 10.)
   */
  #requestVote(s: Uint8Array, i: number, j: number): void {
    const L = this.layout;
    const ri = L.r(i);
    const rj = L.r(j);
    const term = s[ri + FleetLayout.TERM]!;
    if (s[rj + FleetLayout.TERM]! > term) {
      this.#becomeFollower(s, i, s[rj + FleetLayout.TERM]!);
      return;
    }
    if (s[rj + FleetLayout.TERM]! < term) this.#becomeFollower(s, j, term);
    const voted = s[rj + FleetLayout.VOTED]!;
    const logOk = this.cfg.mutant === 'vote-without-log-check' || this.#isUpToDate(s, i, j);
    const grant = (voted === 0 || voted === i + 1) && logOk;
    if (!grant) return;
    s[rj + FleetLayout.VOTED] = i + 1;
    const votes = s[ri + FleetLayout.VOTES]! | (1 << j);
    s[ri + FleetLayout.VOTES] = votes;
    if (popcount(votes) >= L.majority) this.#becomeLeader(s, i);
  }

  /** Leader i sends its whole log to j; `answered`: j's answer reaches i. */
  #appendEntries(s: Uint8Array, i: number, j: number, answered: boolean): void {
    const L = this.layout;
    const ri = L.r(i);
    const rj = L.r(j);
    const term = s[ri + FleetLayout.TERM]!;
    if (s[rj + FleetLayout.TERM]! > term) {
      if (answered) this.#becomeFollower(s, i, s[rj + FleetLayout.TERM]!);
      return;
    }
    this.#becomeFollower(s, j, term);
    const li = s[ri + FleetLayout.LEN]!;
    const lj = s[rj + FleetLayout.LEN]!;
    const logI = ri + L.logOffset;
    const logJ = rj + L.logOffset;
    let conflict = -1;
    for (let x = 0; x < Math.min(li, lj); x++) {
      if (entryTerm(s[logI + x]!) !== entryTerm(s[logJ + x]!)) {
        conflict = x;
        break;
      }
    }
    if (conflict >= 0 || lj < li) {
      for (let x = 0; x < L.cfg.maxLog; x++) s[logJ + x] = x < li ? s[logI + x]! : 0;
      s[rj + FleetLayout.LEN] = li;
    }
    if (!answered) return;
    if (li > s[ri + FleetLayout.MATCH + j]!) s[ri + FleetLayout.MATCH + j] = li;
    this.#normalizeMatch(s, i);
    this.#advanceCommit(s, i);
  }

  /**
   * A leader counts matches only at entries of its own term (the commit rule), so a match below its
   * first entry of this term says nothing it will use: it is kept as 0, one state instead of many.
   */
  #normalizeMatch(s: Uint8Array, i: number): void {
    const L = this.layout;
    const ri = L.r(i);
    const term = s[ri + FleetLayout.TERM]!;
    const len = s[ri + FleetLayout.LEN]!;
    let first = len + 1;
    for (let x = len; x >= 1 && entryTerm(s[ri + L.logOffset + x - 1]!) === term; x--) first = x;
    for (let j = 0; j < L.n; j++) if (s[ri + FleetLayout.MATCH + j]! < first) s[ri + FleetLayout.MATCH + j] = 0;
  }

  /** Leader i commits the highest entry of its term that a majority holds (Raft §5.3, §5.4.2). */
  #advanceCommit(s: Uint8Array, i: number): void {
    const L = this.layout;
    const ri = L.r(i);
    const term = s[ri + FleetLayout.TERM]!;
    const len = s[ri + FleetLayout.LEN]!;
    const commit = s[ri + FleetLayout.COMMIT]!;
    const quorum = this.cfg.mutant === 'commit-without-majority' ? 1 : L.majority;
    for (let idx = len; idx > commit; idx--) {
      if (entryTerm(s[ri + L.logOffset + idx - 1]!) !== term) break;
      let count = 1;
      for (let j = 0; j < L.n; j++) if (j !== i && s[ri + FleetLayout.MATCH + j]! >= idx) count++;
      if (count >= quorum) {
        this.#commit(s, i, idx);
        return;
      }
    }
  }

  /** How many replicas hold `entry` at `idx` (for INV-3, at the moment a KE2 leaves). */
  #holders(s: Uint8Array, idx: number, entry: number): number {
    const L = this.layout;
    let n = 0;
    for (let j = 0; j < L.n; j++) if (s[L.r(j) + FleetLayout.LEN]! >= idx && s[L.r(j) + L.logOffset + idx - 1] === entry) n++;
    return n;
  }

  /** Leader i's commit index moves to `to`: it applies the entries and answers the sessions it holds. */
  #commit(s: Uint8Array, i: number, to: number): void {
    const L = this.layout;
    const ri = L.r(i);
    const from = s[ri + FleetLayout.COMMIT]!;
    const rec = this.#rec.load(s, i, from);
    const term = s[ri + FleetLayout.TERM]!;
    for (let idx = from + 1; idx <= to; idx++) {
      const e = s[ri + L.logOffset + idx - 1]!;
      const ok = rec.apply(s, e);
      const { type, session } = entryCommand(e, this.cfg.sessions);
      const sb = L.s(session);
      const c = s[sb + FleetLayout.CRED]!;
      const first = idx > s[L.committedLength]!;
      if (first) {
        s[L.committedBase + idx - 1] = e;
        s[L.commitTermBase + idx - 1] = term;
        s[L.committedLength] = idx;
        if (type === CMD.Reset && ok) s[L.spentBase + c] = 0; // a success: the budget starts again
      }
      if (s[sb + FleetLayout.CHANNEL] !== i + 1) continue;
      const op = s[sb + FleetLayout.OP]!;
      if (type === CMD.ConsumeGuess && op === OP.ConsumingGuess) {
        if (ok) {
          // G1: the KE2 leaves now
          this.effects?.push(`the KE2 of s${session} leaves r${i}`);
          s[sb + FleetLayout.MSG] = MSG.Ke2;
          s[sb + FleetLayout.OP] = OP.AwaitKE3;
          s[L.spentBase + c]! += 1;
          if (this.#holders(s, idx, e) < L.majority) s[L.flags]! |= FLAG.Ke2WithoutMajority;
        } else {
          this.effects?.push(`r${i} answers s${session}: Locked`);
          this.#endSession(s, sb);
        }
      } else if (type === CMD.Reset && op === OP.Resetting) {
        if (ok && s[sb + FleetLayout.PASSWORD] !== PW.Right) s[L.flags]! |= FLAG.ReleaseWithoutKe3;
        this.effects?.push(ok ? `K leaves r${i} for s${session}` : `r${i} answers s${session}: UnknownSession`);
        this.#endSession(s, sb);
      } else if (type === CMD.EndSession && op === OP.Ending) {
        this.effects?.push(`r${i} answers s${session}: Done`);
        this.#endSession(s, sb);
      }
    }
    this.effects?.unshift(`r${i} commits up to ${to}`);
    s[ri + FleetLayout.COMMIT] = to;
  }

  /**
   * Merges states that no future tells apart. A KE3 or RecoverAbort whose channel is gone can only
   * be lost (the vault answers it with an alert): it is lost now. A channel waiting for a KE3 that
   * is no longer in flight answers nothing: it is closed now. A session with nothing in flight and
   * no channel is over: its password no longer matters, so it is kept as Right.
   */
  #normalizeSessions(s: Uint8Array): void {
    const L = this.layout;
    for (let k = 0; k < this.cfg.sessions; k++) {
      const b = L.s(k);
      const pw = s[b + FleetLayout.PASSWORD]!;
      if (pw === PW.NotStarted) continue;
      const msg = s[b + FleetLayout.MSG]!;
      const awaiting = s[b + FleetLayout.OP] === OP.AwaitKE3;
      if ((msg === MSG.Ke2 || msg === MSG.Ke3 || msg === MSG.Abort) && !awaiting) s[b + FleetLayout.MSG] = MSG.None;
      if (awaiting && s[b + FleetLayout.MSG] === MSG.None) {
        s[b + FleetLayout.CHANNEL] = 0;
        s[b + FleetLayout.OP] = OP.None;
      }
      if (s[b + FleetLayout.MSG] === MSG.None && s[b + FleetLayout.CHANNEL] === 0) s[b + FleetLayout.PASSWORD] = PW.Unused;
    }
  }

  #endSession(s: Uint8Array, sb: number): void {
    s[sb + FleetLayout.MSG] = MSG.None;
    s[sb + FleetLayout.CHANNEL] = 0;
    s[sb + FleetLayout.OP] = OP.None;
  }

  /** Leader i appends commands for session k; with the broken commit rule they commit at once. */
  #append(s: Uint8Array, i: number, types: readonly number[], k: number): void {
    const L = this.layout;
    const ri = L.r(i);
    const current = s[ri + FleetLayout.TERM]!;
    const term = this.cfg.mutant === 'stale-entry-term' ? Math.max(1, current - 1) : current;
    for (const type of types) {
      const len = s[ri + FleetLayout.LEN]!;
      s[ri + L.logOffset + len] = L.entry(term, type, k);
      s[ri + FleetLayout.LEN] = len + 1;
    }
    this.#normalizeMatch(s, i);
    if (this.cfg.mutant === 'commit-without-majority') this.#advanceCommit(s, i);
  }

  /** Is an entry (type, k) in replica i's log above its commit index? (no second proposal) */
  #hasUncommitted(s: Uint8Array, i: number, type: number, k: number): boolean {
    const L = this.layout;
    const ri = L.r(i);
    const len = s[ri + FleetLayout.LEN]!;
    for (let x = s[ri + FleetLayout.COMMIT]!; x < len; x++) {
      const { type: t, session } = entryCommand(s[ri + L.logOffset + x]!, this.cfg.sessions);
      if (t === type && session === k) return true;
    }
    return false;
  }

  expand(s: Uint8Array, emit: (action: number, next: Uint8Array) => void): void {
    const L = this.layout;
    const cfg = this.cfg;
    const n = L.n;
    const next = this.#next;
    const step = (action: number, f: (t: Uint8Array) => void) => {
      next.set(s);
      if (this.effects !== null) this.effects.length = 0;
      f(next);
      this.#normalizeSessions(next);
      emit(action, next);
    };
    for (let i = 0; i < n; i++) {
      const ri = L.r(i);
      const role = s[ri + FleetLayout.ROLE]!;
      const term = s[ri + FleetLayout.TERM]!;
      const full = s[ri + FleetLayout.LEN]! >= cfg.maxLog;
      if (role !== ROLE.Leader && term < cfg.maxTerm) {
        step(encodeAction(ACTION.ElectionTimeout, i), (t) => {
          t[ri + FleetLayout.TERM] = term + 1;
          t[ri + FleetLayout.VOTED] = i + 1;
          t[ri + FleetLayout.ROLE] = ROLE.Candidate;
          t[ri + FleetLayout.VOTES] = 1 << i;
          if (L.majority === 1) this.#becomeLeader(t, i);
        });
      }
      for (let j = 0; j < n; j++) {
        if (j === i || !this.#connected(s, i, j)) continue;
        if (role === ROLE.Candidate) step(encodeAction(ACTION.RequestVote, i, j), (t) => this.#requestVote(t, i, j));
        if (role === ROLE.Leader) {
          step(encodeAction(ACTION.AppendEntries, i, j), (t) => this.#appendEntries(t, i, j, true));
          if (cfg.drops) step(encodeAction(ACTION.AppendEntriesLost, i, j), (t) => this.#appendEntries(t, i, j, false));
        }
      }
      if (cfg.crashes) {
        step(encodeAction(ACTION.Restart, i), (t) => {
          if (t[ri + FleetLayout.ROLE] === ROLE.Leader) this.#dropChannels(t, i);
          t[ri + FleetLayout.ROLE] = ROLE.Follower;
          t[ri + FleetLayout.VOTES] = 0;
          t[ri + FleetLayout.COMMIT] = 0;
          for (let j = 0; j < n; j++) t[ri + FleetLayout.MATCH + j] = 0;
          if (cfg.mutant === 'no-vote-persist') t[ri + FleetLayout.VOTED] = 0;
        });
      }
      if (cfg.partitions === 'explicit' && s[L.partition] === 0) step(encodeAction(ACTION.Partition, i), (t) => void (t[L.partition] = i + 1));
      if (role !== ROLE.Leader) continue;
      // the leader's side of the sessions
      for (let k = 0; k < cfg.sessions; k++) {
        const sb = L.s(k);
        const msg = s[sb + FleetLayout.MSG]!;
        const holds = s[sb + FleetLayout.CHANNEL] === i + 1 && s[sb + FleetLayout.OP] === OP.AwaitKE3;
        if (msg === MSG.Ke1 && (!full || cfg.mutant === 'count-after-ke3')) {
          step(encodeAction(ACTION.HandleRecoverStart, i, k), (t) => {
            t[sb + FleetLayout.CHANNEL] = i + 1;
            if (cfg.mutant === 'count-after-ke3') {
              t[sb + FleetLayout.MSG] = MSG.Ke2;
              t[sb + FleetLayout.OP] = OP.AwaitKE3;
              t[L.spentBase + t[sb + FleetLayout.CRED]!]! += 1;
              t[L.flags]! |= FLAG.Ke2WithoutMajority;
              return;
            }
            t[sb + FleetLayout.MSG] = MSG.None;
            t[sb + FleetLayout.OP] = OP.ConsumingGuess;
            this.#append(t, i, [CMD.ConsumeGuess], k);
          });
        }
        const counted = cfg.mutant === 'count-after-ke3' ? 1 : 0;
        const room = s[ri + FleetLayout.LEN]! + 1 + counted <= cfg.maxLog;
        if (msg === MSG.Ke3 && holds && room) {
          step(encodeAction(ACTION.HandleRecoverFinish, i, k), (t) => {
            t[sb + FleetLayout.MSG] = MSG.None;
            t[sb + FleetLayout.OP] = OP.Resetting;
            this.#append(t, i, counted ? [CMD.ConsumeGuess, CMD.Reset] : [CMD.Reset], k);
          });
        }
        if (msg === MSG.Abort && holds && room) {
          step(encodeAction(ACTION.HandleRecoverAbort, i, k), (t) => {
            t[sb + FleetLayout.MSG] = MSG.None;
            const release = cfg.mutant === 'release-on-abort';
            t[sb + FleetLayout.OP] = release ? OP.Resetting : OP.Ending;
            const end = release ? CMD.Reset : CMD.EndSession;
            this.#append(t, i, counted ? [CMD.ConsumeGuess, end] : [end], k);
          });
        }
      }
      if (!full) {
        const rec = this.#rec.load(s, i, s[ri + FleetLayout.COMMIT]!);
        for (let k = 0; k < cfg.sessions; k++) {
          const c = s[L.s(k) + FleetLayout.CRED]!;
          if (s[L.s(k) + FleetLayout.PASSWORD] === PW.NotStarted || (rec.pending(c) & (1 << k)) === 0) continue;
          if (this.#hasUncommitted(s, i, CMD.EndSession, k) || this.#hasUncommitted(s, i, CMD.Reset, k)) continue;
          step(encodeAction(ACTION.SessionExpiry, i, k), (t) => {
            const sb = L.s(k);
            if (t[sb + FleetLayout.CHANNEL] === i + 1) {
              t[sb + FleetLayout.CHANNEL] = 0;
              t[sb + FleetLayout.OP] = OP.None;
            }
            this.#append(t, i, [CMD.EndSession], k);
          });
        }
      }
    }
    if (cfg.partitions === 'explicit' && s[L.partition] !== 0) step(encodeAction(ACTION.Heal), (t) => void (t[L.partition] = 0));
    // the clients' side
    for (let k = 0; k < cfg.sessions; k++) {
      const sb = L.s(k);
      const pw = s[sb + FleetLayout.PASSWORD]!;
      const msg = s[sb + FleetLayout.MSG]!;
      if (pw === PW.NotStarted) {
        if (k > 0 && s[L.s(k - 1) + FleetLayout.PASSWORD] === PW.NotStarted) continue; // sessions start in order
        for (let c = 0; c < cfg.credentials; c++) {
          step(encodeAction(ACTION.RecoverStart, k, c), (t) => {
            t[sb + FleetLayout.CRED] = c;
            t[sb + FleetLayout.PASSWORD] = PW.Unused;
            t[sb + FleetLayout.MSG] = MSG.Ke1;
          });
        }
        continue;
      }
      if (msg === MSG.Ke2) {
        for (const p of [PW.Right, PW.Wrong]) {
          step(encodeAction(ACTION.OnRecoverResponse, k, p), (t) => {
            t[sb + FleetLayout.PASSWORD] = p;
            t[sb + FleetLayout.MSG] = p === PW.Right ? MSG.Ke3 : MSG.Abort;
          });
        }
      }
      // a lost KE1 is a KE1 never delivered, a lost KE2 is a KE3 lost: nothing else to add
      if ((msg === MSG.Ke3 || msg === MSG.Abort) && cfg.drops) step(encodeAction(ACTION.DropMessage, k), (t) => void (t[sb + FleetLayout.MSG] = MSG.None));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reading a state

  replica(s: Uint8Array, i: number) {
    const L = this.layout;
    const r = L.r(i);
    const len = s[r + FleetLayout.LEN]!;
    return {
      term: s[r + FleetLayout.TERM]!,
      votedFor: s[r + FleetLayout.VOTED]! - 1,
      role: s[r + FleetLayout.ROLE]!,
      votes: s[r + FleetLayout.VOTES]!,
      commitIndex: s[r + FleetLayout.COMMIT]!,
      log: Array.from(s.subarray(r + L.logOffset, r + L.logOffset + len)),
    };
  }

  /** The records replica i has applied (its committed prefix). */
  records(s: Uint8Array, i: number): { attempts: number; pending: number; exhausted: boolean }[] {
    const rec = new Records(this.layout).load(s, i, s[this.layout.r(i) + FleetLayout.COMMIT]!);
    return Array.from({ length: this.cfg.credentials }, (_, c) => ({ attempts: rec.attempts(c), pending: rec.pending(c), exhausted: rec.exhausted(c) }));
  }

  describeEntry(e: number): string {
    const { type, session } = entryCommand(e, this.cfg.sessions);
    return `${entryTerm(e)}:${CMD_NAMES[type]}(s${session})`;
  }

  /** One line per replica, then the sessions and the ghost state. */
  describeState(s: Uint8Array): string {
    const L = this.layout;
    const lines: string[] = [];
    for (let i = 0; i < L.n; i++) {
      const r = this.replica(s, i);
      const recs = this.records(s, i)
        .map((x, c) => `c${c}:${x.exhausted ? 'Exhausted' : `${x.attempts}/${this.cfg.limit}`}${x.pending ? ` pending{${[...Array(this.cfg.sessions).keys()].filter((k) => x.pending & (1 << k)).map((k) => `s${k}`).join(',')}}` : ''}`)
        .join(' ');
      const cut = s[L.partition] === i + 1 ? ' (partitioned)' : '';
      lines.push(`    r${i}${cut}: term ${r.term} ${ROLE_NAMES[r.role]}${r.votedFor >= 0 ? ` voted r${r.votedFor}` : ''} log [${r.log.map((e) => this.describeEntry(e)).join(', ')}] commit ${r.commitIndex}; ${recs}`);
    }
    const sessions: string[] = [];
    for (let k = 0; k < this.cfg.sessions; k++) {
      const b = L.s(k);
      const pw = s[b + FleetLayout.PASSWORD]!;
      if (pw === PW.NotStarted) continue;
      const ch = s[b + FleetLayout.CHANNEL]!;
      sessions.push(`s${k}(c${s[b + FleetLayout.CRED]}${pw === PW.Right ? ', right password' : pw === PW.Wrong ? ', wrong password' : ''}, in flight ${MSG_NAMES[s[b + FleetLayout.MSG]!]}${ch ? `, channel r${ch - 1} ${OP_NAMES[s[b + FleetLayout.OP]!]}` : ''})`);
    }
    if (sessions.length > 0) lines.push(`    sessions: ${sessions.join('; ')}`);
    const spent = Array.from({ length: this.cfg.credentials }, (_, c) => `c${c}:${s[L.spentBase + c]}`).join(' ');
    lines.push(`    ghost: KE2s since last success ${spent}; committed [${Array.from(s.subarray(L.committedBase, L.committedBase + s[L.committedLength]!)).map((e) => this.describeEntry(e)).join(', ')}]`);
    return lines.join('\n');
  }
}
