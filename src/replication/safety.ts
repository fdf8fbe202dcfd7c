/**
 * The safety invariants of the replicated vault, checked after every simulated step (spec ch. 6 and
 * ch. 12). The monitor keeps proof-only ("ghost") state that no replica can see: every leader ever
 * elected per term, every entry ever committed with the term it was committed in, every command
 * ever applied per index. A violation throws `InvariantViolation` naming the invariant.
 *
 *   INV-3   a KE2 leaves only once its ConsumeGuess entry was sealed by a majority (G1): each holds
 *           it in its sealed log, or held it there until its host rolled it back
 *   INV-4   a record at its limit with no pending session is Exhausted, its secrets erased (G4)
 *   INV-7   0 <= attemptsUsed <= guessLimit, and pending sessions <= attemptsUsed, in every replica
 *   INV-8   election safety: at most one leader per term
 *   INV-9   log matching: two logs with an entry of the same index and term agree up to it
 *   INV-10  leader completeness: an entry committed in term T is in the log of every leader of a term > T
 *   INV-11  state machine safety: no two replicas commit or apply different entries at one index
 * @module
 */
import type { VaultState } from '../vault/records.ts';
import { canonicalJson, type Command } from '../vault/records.ts';
import { type Entry, type RaftState, majority, termAt } from './raft.ts';

/** Names a log entry by its index and term (by Log Matching, INV-9, these determine it). */
export const entryKey = (index: number, term: number): string => `${index}/${term}`;

export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant} violated: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/**
 * Names entries by small integers: equal entries (same canonical JSON) get equal ids, cached per
 * entry object (logs share entry objects across versions), so comparing logs compares integers.
 */
export class EntryNames {
  readonly #ids = new WeakMap<object, number>();
  readonly #interned = new Map<string, number>();
  readonly #names: string[] = [];

  id(e: Entry<Command>): number {
    let id = this.#ids.get(e);
    if (id === undefined) {
      const key = canonicalJson(e);
      id = this.#interned.get(key);
      if (id === undefined) {
        id = this.#names.length;
        this.#names.push(key);
        this.#interned.set(key, id);
      }
      this.#ids.set(e, id);
    }
    return id;
  }

  describe(id: number): string {
    const key = this.#names[id] ?? '?';
    return key.length > 120 ? `${key.slice(0, 117)}...` : key;
  }
}

interface CommittedGhost {
  readonly term: number;
  readonly key: number;
  /** The term of the leader that committed it. */
  readonly inTerm: number;
}

export class SafetyMonitor {
  /** term -> the replica that became leader in it (ghost). */
  readonly leaders = new Map<number, number>();
  /** index - 1 -> the committed entry (ghost). */
  readonly committed: CommittedGhost[] = [];
  /** index - 1 -> key of the entry applied there (ghost). */
  readonly applied: number[] = [];

  readonly names = new EntryNames();

  constructor(readonly n: number) {}

  /** INV-8 */
  onBecameLeader(id: number, term: number): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) throw new InvariantViolation('INV-8', `r${other} and r${id} both became leader in term ${term}`);
    this.leaders.set(term, id);
  }

  /** INV-11 (commit side): a replica's commit index moved from `from` to its current value. */
  onCommit(id: number, raft: RaftState<Command>, from: number): void {
    const log = raft.durable.log;
    for (let i = from + 1; i <= raft.commitIndex; i++) {
      const e = log[i - 1];
      if (e === undefined) throw new InvariantViolation('INV-11', `r${id} committed index ${i} beyond its log (length ${log.length})`);
      const g = this.committed[i - 1];
      const key = this.names.id(e);
      if (g === undefined) {
        if (i - 1 !== this.committed.length) throw new InvariantViolation('INV-11', `r${id} committed index ${i} while index ${this.committed.length + 1} was never committed`);
        this.committed.push({ term: e.term, key, inTerm: raft.durable.currentTerm });
      } else if (g.key !== key) {
        throw new InvariantViolation('INV-11', `index ${i} committed as ${this.names.describe(g.key)} earlier, now as ${this.names.describe(key)} by r${id}`);
      }
    }
  }

  /** INV-11 (apply side). */
  onApplied(id: number, index: number, entry: Entry<Command>): void {
    const key = this.names.id(entry);
    const prev = this.applied[index - 1];
    if (prev === undefined) this.applied[index - 1] = key;
    else if (prev !== key) throw new InvariantViolation('INV-11', `r${id} applied ${this.names.describe(key)} at index ${index}, another replica applied ${this.names.describe(prev)}`);
  }

  /** INV-11: the committed prefix of a replica's log never changes. */
  checkCommittedPrefix(id: number, raft: RaftState<Command>): void {
    const log = raft.durable.log;
    const upTo = Math.min(raft.commitIndex, this.committed.length);
    for (let i = 1; i <= upTo; i++) {
      const e = log[i - 1];
      if (e === undefined || this.names.id(e) !== this.committed[i - 1]!.key) {
        throw new InvariantViolation('INV-11', `r${id}'s log no longer holds committed entry ${i} (its commit index is ${raft.commitIndex})`);
      }
    }
  }

  /** INV-9: the log of replica `id` against every other log. */
  checkLogMatching(id: number, logs: readonly (readonly Entry<Command>[] | null)[]): void {
    const a = logs[id];
    if (!a) return;
    logs.forEach((b, j) => {
      if (j === id || !b) return;
      const m = Math.min(a.length, b.length);
      for (let i = m; i >= 1; i--) {
        if (a[i - 1]!.term !== b[i - 1]!.term) continue;
        // the highest index with equal terms: the prefixes up to it must be equal
        for (let k = i; k >= 1; k--) {
          const x = a[k - 1]!;
          const y = b[k - 1]!;
          if (x !== y && this.names.id(x) !== this.names.id(y)) throw new InvariantViolation('INV-9', `r${id} and r${j} agree on the term of index ${i} (${a[i - 1]!.term}) but differ at index ${k}`);
        }
        return;
      }
    });
  }

  /** INV-10: every current leader holds every entry committed in an earlier term. */
  checkLeaderCompleteness(id: number, raft: RaftState<Command>): void {
    if (raft.role !== 'leader') return;
    const log = raft.durable.log;
    const term = raft.durable.currentTerm;
    this.committed.forEach((g, k) => {
      if (g.inTerm >= term) return;
      const e = log[k];
      if (e === undefined || this.names.id(e) !== g.key) {
        throw new InvariantViolation('INV-10', `leader r${id} of term ${term} lacks entry ${k + 1} (term ${g.term}), committed in term ${g.inTerm}`);
      }
    });
  }

  /**
   * INV-3: at the moment a KE2 leaves, its entry was sealed by a majority: it is in their sealed
   * logs, or it was until a host rollback erased it (`lost[i]`: the entries `entryKey` names that
   * replica i's host rolled back). An acknowledgement sent before a rollback and delivered after
   * it counts, as it must: no leader can tell it from one delivered just before (spec ch. 12);
   * the entry still survives, since the rolled-back replica neither votes nor campaigns until it
   * has caught up again (INV-10 and the budget INV-1 check that).
   */
  checkKe2(index: number, term: number, sealedLogs: readonly (readonly Entry<Command>[])[], lost: readonly ReadonlySet<string>[] = []): void {
    const key = entryKey(index, term);
    const sealed = sealedLogs.filter((log) => termAt(log, index) === term).length;
    const erased = sealedLogs.filter((log, i) => termAt(log, index) !== term && lost[i]?.has(key)).length;
    if (sealed + erased < majority(this.n)) {
      const also = erased > 0 ? ` (and rolled back on ${erased})` : '';
      throw new InvariantViolation('INV-3', `a KE2 left while its ConsumeGuess entry (index ${index}, term ${term}) was sealed on ${sealed}${also} of ${this.n} replicas (a majority is ${majority(this.n)})`);
    }
  }

  /** INV-4 and INV-7, in a replica's applied records. */
  checkRecords(id: number, vault: VaultState): void {
    for (const [cid, r] of Object.entries(vault.records)) {
      const pending = Object.keys(r.pending).length;
      const name = `r${id}: record ${cid.slice(0, 12)}`;
      if (r.attemptsUsed < 0 || r.attemptsUsed > r.guessLimit || pending > r.attemptsUsed) {
        throw new InvariantViolation('INV-7', `${name} has attempts ${r.attemptsUsed}/${r.guessLimit} with ${pending} pending`);
      }
      if (r.status === 'Registered' && r.attemptsUsed >= r.guessLimit && pending === 0) {
        throw new InvariantViolation('INV-4', `${name} has used ${r.attemptsUsed}/${r.guessLimit} attempts with no pending session, yet is not Exhausted`);
      }
      if (r.status === 'Exhausted' && (r.registrationRecord !== null || r.sealedPayload !== null)) {
        throw new InvariantViolation('INV-4', `${name} is Exhausted but keeps its ${r.registrationRecord !== null ? 'OPAQUE record' : 'sealed payload'}`);
      }
    }
  }
}
