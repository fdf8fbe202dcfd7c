/**
 * Ghost bookkeeping of the simulated fleet (spec ch. 6 §6.9, ch. 12): what the replicas' steps
 * report beside their effects (`GhostEvent`) becomes the events the budget checker reads
 * (src/check/budget.ts: registrations, KE2s sent, KE3s verified, resets, releases), once per log
 * entry however many replicas apply it, and every KE2 that leaves is checked for INV-3 against the
 * sealed logs at that instant. Nothing here is visible to a replica.
 * @module
 */
import type { VaultEvent } from '../check/budget.ts';
import type { Durable, Entry } from '../replication/raft.ts';
import { sealsEntry } from '../check/invariants.ts';
import type { GhostEvent } from '../replication/replica.ts';
import type { Command } from '../vault/records.ts';
import type { SafetyMonitor } from './monitor.ts';

/** What the ghosts read of a replica's host: the durable state it holds, what rollbacks erased. */
export interface GhostHost {
  readonly storage: { readonly current: Durable<Command> };
  readonly lostToRollback: ReadonlySet<string>;
}

export interface GhostContext {
  readonly hosts: readonly GhostHost[];
  readonly monitor: SafetyMonitor | null;
  now(): number;
  /** The fleet's logical clock (one tick per event recorded). */
  tick(): number;
  log(line: () => string): void;
}

export class Ghosts {
  /** Ghost events for the budget checker (src/check/budget.ts): what left the HSMs, when. */
  readonly events: VaultEvent[] = [];
  /** Every KE2 that left, with how many sealed logs held its ConsumeGuess entry at that moment. */
  readonly ke2Log: { at: number; replica: number; session: string; index: number; sealedOn: number }[] = [];
  readonly #once: OncePerEntry = { registered: new Set(), resets: new Set() };
  readonly #c: GhostContext;

  constructor(context: GhostContext) {
    this.#c = context;
  }

  /** A ghost event of replica `id`'s step. */
  record(id: number, g: GhostEvent): void {
    const c = this.#c;
    if (g.type === 'Applied') c.monitor?.onApplied(id, g.index, g.entry);
    if (g.type === 'Ke2Sent') {
      const sealedLogs = c.hosts.map((x) => x.storage.current as Durable<Command>);
      const sealedOn = sealedLogs.filter((log) => sealsEntry(log, g.index, g.term)).length;
      this.ke2Log.push({ at: c.now(), replica: id, session: g.session, index: g.index, sealedOn });
      c.monitor?.checkKe2(
        g.index,
        g.term,
        sealedLogs,
        c.hosts.map((x) => x.lostToRollback),
      );
      c.log(() => `r${id} KE2 leaves for session ${g.session.slice(0, 6)} (ConsumeGuess at index ${g.index})`);
    }
    if (g.type === 'Reset' && g.released) c.log(() => `r${id} K released in session ${g.session.slice(0, 6)}`);
    this.events.push(...budgetEvents(g, () => c.tick(), this.#once));
  }
}

/** The log entries whose registration and reset were already counted (every replica applies them). */
export interface OncePerEntry {
  readonly registered: Set<number>;
  readonly resets: Set<number>;
}

/**
 * The budget checker's events (src/check/budget.ts) of one ghost event, each at `at()`: a
 * registration and a reset once per log entry, however many replicas apply it; a KE2, a verified
 * KE3 and a release as they happen. The one mapping, for the simulator and for the chaos run of
 * real processes (src/serve/chaos.ts).
 */
export function budgetEvents(g: GhostEvent, at: () => number, once: OncePerEntry): VaultEvent[] {
  switch (g.type) {
    case 'Applied':
    case 'Snapshot':
      return [];
    case 'Registered':
      if (once.registered.has(g.index)) return [];
      once.registered.add(g.index);
      return [{ type: 'Registered', credential: g.credential, registration: g.registration, limit: g.limit, at: at() }];
    case 'Ke2Sent': {
      const { credential, registration, session, index } = g;
      return [{ type: 'Ke2Sent', credential, registration, session, index, at: at() }];
    }
    case 'Ke3Verified':
      return [
        { type: 'Ke3Verified', credential: g.credential, registration: g.registration, session: g.session, at: at() },
      ];
    case 'Reset': {
      // The budget restarts when the Reset first takes effect, whether or not K reached the client
      // (spec ch. 6). `Released`: K left an HSM. Both must follow a verified KE3 of their session (G3).
      const { credential, registration, session, index } = g;
      const out: VaultEvent[] = [];
      if (!once.resets.has(index)) {
        once.resets.add(index);
        out.push({ type: 'Reset', credential, registration, session, index, at: at() });
      }
      if (g.released) out.push({ type: 'Released', credential, registration, session, at: at() });
      return out;
    }
  }
}
