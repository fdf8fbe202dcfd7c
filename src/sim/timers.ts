/**
 * The replicas' timers in the simulated fleet (spec ch. 6 §6.8): the election timeout (uniform in
 * [electionMinMs, electionMaxMs], drawn from the fleet's timer rng, re-armed lazily: a timer event
 * that finds its deadline moved on sleeps again), a heartbeat chain per term in which a replica
 * campaigns or leads, and the serving leader's session-expiry tick. A timer belongs to one life of
 * its replica: a crash or a restart bumps the life, and the timers of an earlier life are ignored.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import type { ReplicaAction } from '../replication/host.ts';
import type { ReplicaState } from '../replication/replica.ts';
import { randomBetween } from './network.ts';

export interface Timing {
  readonly heartbeatMs: number;
  readonly electionMinMs: number;
  readonly electionMaxMs: number;
  /** How often the serving leader runs session expiry. */
  readonly expiryTickMs: number;
}

export const DEFAULT_TIMING: Timing = Object.freeze({
  heartbeatMs: 50,
  electionMinMs: 150,
  electionMaxMs: 300,
  expiryTickMs: 500,
});

export interface TimerEvent {
  readonly type: 'Timer';
  readonly replica: number;
  readonly timer: 'election' | 'heartbeat' | 'expiry';
  /** The life of the replica the timer belongs to. */
  readonly gen: number;
  /** A heartbeat's term. */
  readonly term?: number;
}

/** What the timers keep of a replica's host. */
export interface TimedHost {
  readonly id: number;
  readonly state: ReplicaState | null;
  /** Bumped at each crash and restart: timers of an earlier life are ignored. */
  readonly life: number;
  electionDeadline: number;
  electionPending: boolean;
}

export class Timers {
  readonly timing: Timing;
  readonly #rng: Rng;
  readonly #push: (at: number, e: TimerEvent) => void;
  readonly #now: () => number;

  constructor(timing: Timing, rng: Rng, push: (at: number, e: TimerEvent) => void, now: () => number) {
    this.timing = timing;
    this.#rng = rng;
    this.#push = push;
    this.#now = now;
  }

  /** A new election deadline for h (one pending timer event per replica, re-armed lazily). */
  armElection(h: TimedHost): void {
    h.electionDeadline = this.#now() + randomBetween(this.#rng, this.timing.electionMinMs, this.timing.electionMaxMs);
    if (!h.electionPending) {
      h.electionPending = true;
      this.#push(h.electionDeadline, { type: 'Timer', replica: h.id, timer: 'election', gen: h.life });
    }
  }

  /** h starts a new life: its election timer and its session-expiry tick. */
  started(h: TimedHost): void {
    h.electionPending = false;
    this.armElection(h);
    this.#push(this.#now() + this.timing.expiryTickMs, { type: 'Timer', replica: h.id, timer: 'expiry', gen: h.life });
  }

  /** h campaigns or leads in `term`: the heartbeat chain of that term (it re-asks votes, then sends AppendEntries). */
  heartbeats(h: TimedHost, term: number): void {
    this.#push(this.#now() + this.timing.heartbeatMs, {
      type: 'Timer',
      replica: h.id,
      timer: 'heartbeat',
      gen: h.life,
      term,
    });
  }

  /** Timer `e` of replica h fires: `run` steps the replica; false when it was stale or idle. */
  fire(e: TimerEvent, h: TimedHost, run: (action: ReplicaAction) => void, log: (line: () => string) => void): boolean {
    if (h.state === null || e.gen !== h.life) return false;
    const now = this.#now();
    switch (e.timer) {
      case 'election':
        if (now < h.electionDeadline) {
          this.#push(h.electionDeadline, e); // the deadline moved on: sleep again (lazy timer)
          return false;
        }
        h.electionPending = false;
        if (h.state.raft.role === 'leader') {
          this.armElection(h); // a leader ignores it, but keeps it armed for when it steps down
          return false;
        }
        log(() => `r${h.id} election timeout (term ${h.state!.raft.durable.currentTerm})`);
        run((steps, s, env) => steps.onElectionTimeout(s, env));
        this.armElection(h);
        return true;
      case 'heartbeat': {
        // one chain per term in which h leads or campaigns
        const { role, durable } = h.state.raft;
        if (role === 'follower' || e.term !== durable.currentTerm) return false;
        run((steps, s, env) => steps.onHeartbeat(s, env));
        this.#push(now + this.timing.heartbeatMs, e);
        return true;
      }
      case 'expiry':
        this.#push(now + this.timing.expiryTickMs, e);
        if (!h.state.serving) return false;
        run((steps, s, env) => steps.onSessionExpiry(s, env));
        return true;
    }
  }
}
