/**
 * The state invariants of the replicated vault (spec ch. 12), each one predicate, stated once and
 * used by every runtime's checker: the simulator's monitor after every step (src/sim/monitor.ts),
 * the explorer in every state (src/explore/fleet.ts), and the model tests. A violation throws
 * `InvariantViolation` naming the invariant.
 *
 * Some invariants need proof-only ("ghost") state that no replica can see: every leader ever
 * elected per term, every entry ever committed with the term it was committed in, every command
 * ever applied per index. It is an immutable value (`ConsensusGhost`): each check returns the next
 * one, so that an explorer can branch on it and a simulator can keep the latest.
 *
 *   INV-3   a KE2 leaves only once its ConsumeGuess entry was sealed by a majority (G1): each holds
 *           it in its sealed log, or held it there until its host rolled it back
 *   INV-4   a record at its limit with no pending session is Exhausted, its secrets erased (G4)
 *   INV-7   0 <= attemptsUsed <= guessLimit, and pending sessions <= attemptsUsed
 *   INV-8   election safety: at most one leader per term
 *   INV-9   log matching: two logs with an entry of the same index and term agree up to it
 *   INV-10  leader completeness: an entry committed in term T is in the log of every leader of a term > T
 *   INV-11  state machine safety: no two replicas commit or apply different entries at one index;
 *           a snapshot stands only for committed entries
 * @module
 */
import { canonicalJson } from '../crypto/canonical.ts';
import type { Command, VaultState } from '../vault/records.ts';
import {
  type Durable,
  type Entry,
  type RaftState,
  entryAt,
  lastIndexOf,
  majority,
  snapshotIndex,
  termOf,
} from '../replication/raft.ts';

export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant} violated: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** Names a log entry by its index and term (by Log Matching, INV-9, these determine it). */
export const entryKey = (index: number, term: number): string => `${index}/${term}`;

/** How entries are compared: a name per entry, equal for equal entries (canonical JSON by default). */
export type EntryName = (e: Entry<Command>) => string | number;

const byJson: EntryName = (e) => canonicalJson(e);

/** A log as the checks read it: a plain log (log[0] at index 1), or a durable state (its snapshot a prefix). */
export type LogView = readonly Entry<Command>[] | Durable<Command>;

function viewOf(x: LogView): Durable<Command> {
  return Array.isArray(x) ? { currentTerm: 0, votedFor: null, log: x, recovering: false } : (x as Durable<Command>);
}

/**
 * Does `x` hold the entry (index, term): in its log, or compacted into its snapshot? A snapshot
 * stands only for committed entries (checked by INV-11), and one index commits one entry.
 */
export function sealsEntry(x: LogView, index: number, term: number): boolean {
  const d = viewOf(x);
  return index <= snapshotIndex(d) || termOf(d, index) === term;
}

export interface CommittedGhost {
  readonly term: number;
  readonly name: string | number;
  /** The term of the leader that committed it. */
  readonly inTerm: number;
}

/** Ghost state of the consensus invariants. */
export interface ConsensusGhost {
  /** term -> the replica that became leader in it (INV-8). */
  readonly leaders: ReadonlyMap<number, number>;
  /** index - 1 -> the committed entry (INV-10, INV-11). */
  readonly committed: readonly CommittedGhost[];
  /** index - 1 -> name of the entry applied there (INV-11). */
  readonly applied: readonly (string | number)[];
}

export const EMPTY_GHOST: ConsensusGhost = Object.freeze({ leaders: new Map(), committed: [], applied: [] });

const describeName = (n: string | number) => {
  const s = String(n);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

/** INV-8: replica `id` became leader of `term`. */
export function onBecameLeader(g: ConsensusGhost, id: number, term: number): ConsensusGhost {
  const other = g.leaders.get(term);
  if (other !== undefined && other !== id)
    throw new InvariantViolation('INV-8', `r${other} and r${id} both became leader in term ${term}`);
  return other === id ? g : { ...g, leaders: new Map(g.leaders).set(term, id) };
}

/**
 * INV-11 (commit side): a replica's commit index moved from `from` to its current value.
 * `compacted`: the entries this very step committed and then compacted into a snapshot (the
 * replica's log before the step, or what it applied).
 */
export function onCommit(
  g: ConsensusGhost,
  id: number,
  raft: RaftState<Command>,
  from: number,
  name: EntryName = byJson,
  compacted: (index: number) => Entry<Command> | undefined = () => undefined,
): ConsensusGhost {
  const d = raft.durable;
  let committed: CommittedGhost[] | null = null;
  for (let i = from + 1; i <= raft.commitIndex; i++) {
    const e = entryAt(d, i) ?? (i <= snapshotIndex(d) ? compacted(i) : undefined);
    const list = committed ?? g.committed;
    if (e === undefined && i <= snapshotIndex(d)) {
      // installed with a leader's snapshot: what it stands for must have been committed
      if (list[i - 1] === undefined)
        throw new InvariantViolation('INV-11', `r${id}'s snapshot stands for index ${i}, never committed`);
      continue;
    }
    if (e === undefined)
      throw new InvariantViolation('INV-11', `r${id} committed index ${i} beyond its log (length ${lastIndexOf(d)})`);
    const known = list[i - 1];
    const n = name(e);
    if (known === undefined) {
      if (i - 1 !== list.length)
        throw new InvariantViolation(
          'INV-11',
          `r${id} committed index ${i} while index ${list.length + 1} was never committed`,
        );
      (committed ??= [...g.committed]).push({ term: e.term, name: n, inTerm: raft.durable.currentTerm });
    } else if (known.name !== n) {
      throw new InvariantViolation(
        'INV-11',
        `index ${i} committed as ${describeName(known.name)} earlier, now as ${describeName(n)} by r${id}`,
      );
    }
  }
  return committed === null ? g : { ...g, committed };
}

/** INV-11 (apply side). */
export function onApplied(
  g: ConsensusGhost,
  id: number,
  index: number,
  entry: Entry<Command>,
  name: EntryName = byJson,
): ConsensusGhost {
  const n = name(entry);
  const prev = g.applied[index - 1];
  if (prev === undefined) {
    const applied = [...g.applied];
    applied[index - 1] = n;
    return { ...g, applied };
  }
  if (prev !== n)
    throw new InvariantViolation(
      'INV-11',
      `r${id} applied ${describeName(n)} at index ${index}, another replica applied ${describeName(prev)}`,
    );
  return g;
}

/** INV-11: the committed prefix of a replica's log never changes. */
export function checkCommittedPrefix(
  g: ConsensusGhost,
  id: number,
  raft: RaftState<Command>,
  name: EntryName = byJson,
): void {
  const d = raft.durable;
  const snap = snapshotIndex(d);
  if (snap > g.committed.length) {
    throw new InvariantViolation(
      'INV-11',
      `r${id}'s snapshot stands for entries up to ${snap}; only ${g.committed.length} were committed`,
    );
  }
  const upTo = Math.min(raft.commitIndex, g.committed.length);
  for (let i = snap + 1; i <= upTo; i++) {
    const e = entryAt(d, i);
    if (e === undefined || name(e) !== g.committed[i - 1]!.name) {
      throw new InvariantViolation(
        'INV-11',
        `r${id}'s log no longer holds committed entry ${i} (its commit index is ${raft.commitIndex})`,
      );
    }
  }
}

/**
 * INV-9: the log of replica `id` against every other log (null: a replica that is down), over the
 * indexes both still hold (a snapshot's are committed: INV-11 checks them).
 */
export function checkLogMatching(id: number, logs: readonly (LogView | null)[], name: EntryName = byJson): void {
  const ax = logs[id];
  if (!ax) return;
  const a = viewOf(ax);
  logs.forEach((bx, j) => {
    if (j === id || !bx) return;
    const b = viewOf(bx);
    const low = Math.max(snapshotIndex(a), snapshotIndex(b));
    const m = Math.min(lastIndexOf(a), lastIndexOf(b));
    for (let i = m; i > low; i--) {
      if (termOf(a, i) !== termOf(b, i)) continue;
      // the highest index with equal terms: the prefixes up to it must be equal
      for (let k = i; k > low; k--) {
        const x = entryAt(a, k)!;
        const y = entryAt(b, k)!;
        if (x !== y && name(x) !== name(y))
          throw new InvariantViolation(
            'INV-9',
            `r${id} and r${j} agree on the term of index ${i} (${termOf(a, i)}) but differ at index ${k}`,
          );
      }
      return;
    }
  });
}

/** INV-10: a current leader holds every entry committed in an earlier term. */
export function checkLeaderCompleteness(
  g: ConsensusGhost,
  id: number,
  raft: RaftState<Command>,
  name: EntryName = byJson,
): void {
  if (raft.role !== 'leader') return;
  const d = raft.durable;
  const term = d.currentTerm;
  g.committed.forEach((c, k) => {
    if (c.inTerm >= term || k + 1 <= snapshotIndex(d)) return; // a snapshot's are checked by INV-11
    const e = entryAt(d, k + 1);
    if (e === undefined || name(e) !== c.name) {
      throw new InvariantViolation(
        'INV-10',
        `leader r${id} of term ${term} lacks entry ${k + 1} (term ${c.term}), committed in term ${c.inTerm}`,
      );
    }
  });
}

/**
 * INV-3: at the moment a KE2 leaves, its entry was sealed by a majority of the `n` replicas: it is
 * in their sealed logs, or it was until a host rollback erased it (`lost[i]`: the entries
 * `entryKey` names that replica i's host rolled back). An acknowledgement sent before a rollback
 * and delivered after it counts, as it must: no leader can tell it from one delivered just before
 * (spec ch. 12.4); the entry still survives, since the rolled-back replica neither votes nor
 * campaigns until it has caught up again (INV-10 and the budget INV-1 check that).
 */
export function checkKe2(
  n: number,
  index: number,
  term: number,
  sealedLogs: readonly LogView[],
  lost: readonly ReadonlySet<string>[] = [],
): void {
  const key = entryKey(index, term);
  const sealed = sealedLogs.filter((log) => sealsEntry(log, index, term)).length;
  const erased = sealedLogs.filter((log, i) => !sealsEntry(log, index, term) && lost[i]?.has(key)).length;
  if (sealed + erased < majority(n)) {
    const also = erased > 0 ? ` (and rolled back on ${erased})` : '';
    throw new InvariantViolation(
      'INV-3',
      `a KE2 left while its ConsumeGuess entry (index ${index}, term ${term}) ` +
        `was sealed on ${sealed}${also} of ${n} replicas (a majority is ${majority(n)})`,
    );
  }
}

/** What INV-4 and INV-7 read of a record: a replica's (`checkRecords`) or a model's (model/record-machine.ts). */
export interface RecordView {
  readonly status: 'Registered' | 'Exhausted';
  readonly attemptsUsed: number;
  readonly guessLimit: number;
  readonly pending: number;
  /** Its OPAQUE record and sealed payload are gone. */
  readonly erased: boolean;
}

/** INV-7 and INV-4 on one record: each invariant it breaks and how (none: empty). */
export function recordViolations(r: RecordView): { readonly invariant: 'INV-4' | 'INV-7'; readonly detail: string }[] {
  const { attemptsUsed: used, guessLimit: limit, pending } = r;
  const out: { invariant: 'INV-4' | 'INV-7'; detail: string }[] = [];
  if (used < 0 || used > limit || pending > used)
    out.push({ invariant: 'INV-7', detail: `has attempts ${used}/${limit} with ${pending} pending` });
  if (r.status === 'Registered' && used >= limit && pending === 0) {
    out.push({
      invariant: 'INV-4',
      detail: `has used ${used}/${limit} attempts with no pending session, yet is not Exhausted`,
    });
  }
  if (r.status === 'Exhausted' && (used < limit || pending > 0)) {
    out.push({ invariant: 'INV-4', detail: `is Exhausted with attempts ${used}/${limit} and ${pending} pending` });
  }
  if (r.status === 'Exhausted' && !r.erased) {
    out.push({ invariant: 'INV-4', detail: 'is Exhausted but keeps its OPAQUE record or sealed payload' });
  }
  return out;
}

/** INV-4 and INV-7, in a replica's applied records. */
export function checkRecords(id: number, vault: VaultState): void {
  for (const [cid, r] of Object.entries(vault.records)) {
    const erased = r.registrationRecord === null && r.sealedPayload === null;
    const [v] = recordViolations({ ...r, pending: Object.keys(r.pending).length, erased });
    if (v !== undefined) throw new InvariantViolation(v.invariant, `r${id}: record ${cid.slice(0, 12)} ${v.detail}`);
  }
}

/**
 * INV-1 (G5): what is wrong when `spent` KE2s left for a record with `limit` since its last success; null when nothing.
 */
export function ke2BudgetViolation(spent: number, limit: number): string | null {
  return spent > limit
    ? `KE2 number ${spent} left the fleet for a record with limit ${limit} since its last success`
    : null;
}

/** INV-1 (G5), checked as a KE2 leaves. */
export function checkKe2Budget(credential: string, spent: number, limit: number): void {
  const v = ke2BudgetViolation(spent, limit);
  if (v !== null) throw new InvariantViolation('INV-1', `${v} (${credential.slice(0, 12)})`);
}

/**
 * INV-11 (snapshots): a snapshot is the records applied at its index. `applied`: the records the
 * replica applied up to that index, when the step that took the snapshot has them (null for a
 * leader's snapshot installed); `known`: the records of an earlier snapshot at the same index (by
 * canonical JSON), which every snapshot at that index must equal. Returns the snapshot's.
 */
export function checkSnapshot(
  id: number,
  index: number,
  state: VaultState,
  applied: VaultState | null,
  known: string | undefined,
): string {
  const sealed = canonicalJson(state);
  if (applied !== null && canonicalJson(applied) !== sealed)
    throw new InvariantViolation('INV-11', `r${id}'s snapshot at ${index} is not the records it applied up to it`);
  if (known !== undefined && known !== sealed)
    throw new InvariantViolation('INV-11', `r${id}'s snapshot at ${index} differs from another snapshot at ${index}`);
  return sealed;
}
