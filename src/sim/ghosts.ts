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
import { termAt } from '../replication/raft.ts';
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
  readonly #registered = new Set<number>();
  readonly #resets = new Set<number>();
  readonly #c: GhostContext;

  constructor(context: GhostContext) {
    this.#c = context;
  }

  /** A ghost event of replica `id`'s step. */
  record(id: number, g: GhostEvent): void {
    const c = this.#c;
    switch (g.type) {
      case 'Applied':
        c.monitor?.onApplied(id, g.index, g.entry);
        return;
      case 'Registered':
        if (this.#registered.has(g.index)) return; // one registration, applied on every replica
        this.#registered.add(g.index);
        this.events.push({
          type: 'Registered',
          credential: g.credential,
          registration: g.registration,
          limit: g.limit,
          at: c.tick(),
        });
        return;
      case 'Ke2Sent': {
        const sealedLogs = c.hosts.map((x) => x.storage.current.log as readonly Entry<Command>[]);
        const sealedOn = sealedLogs.filter((log) => termAt(log, g.index) === g.term).length;
        this.ke2Log.push({ at: c.now(), replica: id, session: g.session, index: g.index, sealedOn });
        c.monitor?.checkKe2(
          g.index,
          g.term,
          sealedLogs,
          c.hosts.map((x) => x.lostToRollback),
        );
        c.log(() => `r${id} KE2 leaves for session ${g.session.slice(0, 6)} (ConsumeGuess at index ${g.index})`);
        this.events.push({
          type: 'Ke2Sent',
          credential: g.credential,
          registration: g.registration,
          session: g.session,
          index: g.index,
          at: c.tick(),
        });
        return;
      }
      case 'Ke3Verified':
        this.events.push({
          type: 'Ke3Verified',
          credential: g.credential,
          session: g.session,
          registration: g.registration,
          at: c.tick(),
        });
        return;
      case 'Reset':
        // The budget restarts when the Reset first takes effect, whether or not K reached the
        // client (spec ch. 6): the checker's `Reset`, once per entry. `Released`: K left an HSM.
        // Both must follow a verified KE3 of their session (G3).
        if (!this.#resets.has(g.index)) {
          this.#resets.add(g.index);
          const { credential, registration, session } = g;
          this.events.push({ type: 'Reset', credential, registration, session, at: c.tick() });
        }
        if (g.released) {
          c.log(() => `r${id} K released in session ${g.session.slice(0, 6)}`);
          const { credential, registration, session } = g;
          this.events.push({ type: 'Released', credential, registration, session, at: c.tick() });
        }
        return;
    }
  }
}
