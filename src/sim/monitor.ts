/**
 * The simulator's safety monitor (spec ch. 6 §6.9): the invariants of src/check/invariants.ts,
 * checked after every simulated step, with their ghost state kept here between steps. It adds no
 * rule of its own: each method is one predicate of that module. Entries are named by small
 * integers (equal entries, equal names), cached per entry object, so that comparing logs compares
 * integers.
 * @module
 */
import { canonicalJson } from '../crypto/canonical.ts';
import * as inv from '../check/invariants.ts';
import type { Entry, RaftState } from '../replication/raft.ts';
import type { Command, VaultState } from '../vault/records.ts';

export class EntryNames {
  readonly #ids = new WeakMap<object, number>();
  readonly #interned = new Map<string, number>();

  readonly id = (e: Entry<Command>): number => {
    let id = this.#ids.get(e);
    if (id === undefined) {
      const key = canonicalJson(e);
      id = this.#interned.get(key) ?? this.#interned.size;
      this.#interned.set(key, id);
      this.#ids.set(e, id);
    }
    return id;
  };
}

export class SafetyMonitor {
  ghost: inv.ConsensusGhost = inv.EMPTY_GHOST;
  readonly names = new EntryNames();

  /** Ghost: the records of the snapshots seen, by index (canonical JSON). */
  readonly #snapshots = new Map<number, string>();

  constructor(readonly n: number) {}

  checkSnapshot(id: number, index: number, state: VaultState, applied: VaultState | null): void {
    this.#snapshots.set(index, inv.checkSnapshot(id, index, state, applied, this.#snapshots.get(index)));
  }

  get committed(): readonly inv.CommittedGhost[] {
    return this.ghost.committed;
  }

  onBecameLeader(id: number, term: number): void {
    this.ghost = inv.onBecameLeader(this.ghost, id, term);
  }
  onCommit(
    id: number,
    raft: RaftState<Command>,
    from: number,
    compacted?: (index: number) => Entry<Command> | undefined,
  ): void {
    this.ghost = inv.onCommit(this.ghost, id, raft, from, this.names.id, compacted);
  }
  onApplied(id: number, index: number, entry: Entry<Command>): void {
    this.ghost = inv.onApplied(this.ghost, id, index, entry, this.names.id);
  }
  checkCommittedPrefix(id: number, raft: RaftState<Command>): void {
    inv.checkCommittedPrefix(this.ghost, id, raft, this.names.id);
  }
  checkLogMatching(id: number, logs: readonly (inv.LogView | null)[]): void {
    inv.checkLogMatching(id, logs, this.names.id);
  }
  checkLeaderCompleteness(id: number, raft: RaftState<Command>): void {
    inv.checkLeaderCompleteness(this.ghost, id, raft, this.names.id);
  }
  checkKe2(
    index: number,
    term: number,
    sealedLogs: readonly inv.LogView[],
    lost: readonly ReadonlySet<string>[] = [],
  ): void {
    inv.checkKe2(this.n, index, term, sealedLogs, lost);
  }
  checkRecords(id: number, vault: VaultState): void {
    inv.checkRecords(id, vault);
  }
}
