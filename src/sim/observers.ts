/**
 * What watches the simulated fleet (spec ch. 6 §6.8, §6.9): the counters of a run, its logs
 * (leaders, faults, lives, the logical clock), the readable trace, and the safety monitor's hook
 * `afterStep`, which runs after every replica step with the states before and after it. Nothing
 * here changes what the fleet does: an observer only reads, counts and checks (a violated invariant
 * throws `InvariantViolation`, which ends the run).
 * @module
 */
import type { Command, VaultState } from '../vault/records.ts';
import type { Frame } from '../vault/protocol.ts';
import type { Entry, RaftMessage } from '../replication/raft.ts';
import { type GhostEvent, type ReplicaState, isRedirect } from '../replication/replica.ts';
import type { Fault } from './faults.ts';
import { SafetyMonitor } from './monitor.ts';

export interface FleetStats {
  steps: number;
  peerMessages: number;
  /** AppendEntries requests that carried entries, and how many entries they carried in all (batching). */
  appendsWithEntries: number;
  entriesShipped: number;
  dropped: number;
  duplicated: number;
  replayed: number;
  tampered: number;
  refused: number;
  lostToPartition: number;
  lostToCrash: number;
  clientFrames: number;
  persists: number;
  elections: number;
  crashes: number;
  restarts: number;
  rollbacksDetected: number;
  /** Snapshots a replica took of its own records (log compactions), and leaders' snapshots installed. */
  snapshots: number;
  snapshotsInstalled: number;
  /** InstallSnapshot chunks sent (a snapshot installed took one or more). */
  snapshotChunks: number;
}

export function emptyStats(): FleetStats {
  return {
    steps: 0,
    peerMessages: 0,
    appendsWithEntries: 0,
    entriesShipped: 0,
    dropped: 0,
    duplicated: 0,
    replayed: 0,
    tampered: 0,
    refused: 0,
    lostToPartition: 0,
    lostToCrash: 0,
    clientFrames: 0,
    persists: 0,
    elections: 0,
    crashes: 0,
    restarts: 0,
    rollbacksDetected: 0,
    snapshots: 0,
    snapshotsInstalled: 0,
    snapshotChunks: 0,
  };
}

/** Every replica's state (null: down), in replica order. */
export type FleetStates = () => readonly (ReplicaState | null)[];

export class Observers {
  readonly stats: FleetStats = emptyStats();
  /** Every leader elected: [time, replica, term]. */
  readonly leaderLog: { at: number; replica: number; term: number }[] = [];
  /** Every fault as it struck (a crash armed inside a save strikes later: see `lifeLog`). */
  readonly faultLog: { at: number; fault: Fault }[] = [];
  /** Every replica crash (`up: false`) and successful start (`up: true`), as it happened. */
  readonly lifeLog: { at: number; replica: number; up: boolean }[] = [];
  readonly trace: string[] = [];
  /** With `trace`: each trace line's time and every replica's state then (null: down), for reports. */
  readonly traceStates: { at: number; replicas: readonly (ReplicaState | null)[] }[] = [];
  readonly monitor: SafetyMonitor | null;
  readonly #tracing: boolean;
  readonly #now: () => number;
  readonly #states: FleetStates;

  constructor(n: number, o: { checks?: boolean; trace?: boolean }, now: () => number, states: FleetStates) {
    this.monitor = o.checks === false ? null : new SafetyMonitor(n);
    this.#tracing = o.trace === true;
    this.#now = now;
    this.#states = states;
  }

  /** A trace line (built only when tracing). */
  log(line: () => string): void {
    if (!this.#tracing) return;
    const now = this.#now();
    this.trace.push(`${String(now).padStart(6)} ms  ${line()}`);
    this.traceStates.push({ at: now, replicas: this.#states() });
  }

  /**
   * The hook after every step of replica `id` (its durable state already persisted, nothing yet
   * released): counts the save and the election, logs the new leader, and checks Raft safety and
   * the record invariants on the monitor. True when the step made `id` leader of a new term.
   */
  afterStep(id: number, before: ReplicaState, after: ReplicaState, ghost: readonly GhostEvent[] = []): boolean {
    if (after.raft.durable !== before.raft.durable) this.stats.persists++;
    for (const g of ghost) {
      if (g.type !== 'Snapshot') continue;
      if (g.installed) this.stats.snapshotsInstalled++;
      else this.stats.snapshots++;
      const snap = after.raft.durable.snapshot;
      if (this.monitor && snap?.index === g.index) {
        const applied = !g.installed && after.lastApplied === g.index ? after.node.vault : null;
        this.monitor.checkSnapshot(id, g.index, snap.state as VaultState, applied);
      }
      this.log(() => `r${id} ${g.installed ? 'installs a leader snapshot' : 'takes a snapshot'} up to ${g.index}`);
    }

    const r = after.raft;
    const b = before.raft;
    const m = this.monitor;
    const term = r.durable.currentTerm;
    const becameLeader = r.role === 'leader' && (b.role !== 'leader' || b.durable.currentTerm !== term);
    if (becameLeader) {
      this.stats.elections++;
      this.leaderLog.push({ at: this.#now(), replica: id, term });
      this.log(() => `r${id} becomes leader of term ${term}`);
      m?.onBecameLeader(id, term);
    }
    if (m) {
      const committedBefore = m.committed.length;
      if (r.commitIndex > b.commitIndex) {
        // entries this step committed, applied and compacted: what it applied
        const applied = new Map<number, Entry<Command>>();
        for (const g of ghost) if (g.type === 'Applied') applied.set(g.index, g.entry);
        m.onCommit(id, r, b.commitIndex, (i) => applied.get(i));
      }
      const states = this.#states();
      if (r.durable.log !== b.durable.log || r.commitIndex !== b.commitIndex) {
        m.checkCommittedPrefix(id, r);
        m.checkLogMatching(
          id,
          states.map((x) => x?.raft.durable ?? null),
        );
      }
      if (becameLeader || m.committed.length > committedBefore) {
        states.forEach((x, k) => {
          if (x) m.checkLeaderCompleteness(k, x.raft);
        });
      }
      if (after.lastApplied !== before.lastApplied) m.checkRecords(id, after.node.vault);
    }
    return becameLeader;
  }
}

// ----------------------------------------------------------------------------------------------
// Readable descriptions (traces)

export function describeMessage(m: RaftMessage<Command>): string {
  switch (m.type) {
    case 'RequestVoteRequest':
      return `RequestVote(term ${m.term}, last ${m.lastLogIndex}/${m.lastLogTerm})`;
    case 'RequestVoteResponse':
      return `Vote(term ${m.term}, ${m.voteGranted ? 'granted' : 'refused'})`;
    case 'AppendEntriesRequest': {
      const entries = m.entries.length
        ? `+${m.entries.length} [${m.entries.map(describeEntry).join(', ')}]`
        : 'heartbeat';
      const nonce = m.recoveryNonce ? `, nonce ${m.recoveryNonce.slice(0, 6)}` : '';
      const prev = `${m.prevLogIndex}/${m.prevLogTerm}`;
      return `AppendEntries(term ${m.term}, prev ${prev}, ${entries}, commit ${m.leaderCommit}${nonce})`;
    }
    case 'InstallSnapshotRequest': {
      const nonce = m.recoveryNonce ? `, nonce ${m.recoveryNonce.slice(0, 6)}` : '';
      const chunk = `bytes ${m.offset}+${(m.data.length / 4) * 3}${m.done ? ', done' : ''}`;
      return `InstallSnapshot(term ${m.term}, up to ${m.snapshotIndex}/${m.snapshotTerm}, ${chunk}${nonce})`;
    }
    case 'InstallSnapshotResponse': {
      const nonce = m.recoveryNonce ? `, recovering ${m.recoveryNonce.slice(0, 6)}` : '';
      return `InstallSnapshotAck(term ${m.term}, ${m.snapshotIndex}/${m.snapshotTerm}, next ${m.nextOffset}${nonce})`;
    }
    case 'AppendEntriesResponse': {
      const result = m.success ? `match ${m.matchIndex}` : `refused, last ${m.lastLogIndex}`;
      const nonce = m.recoveryNonce ? `, recovering ${m.recoveryNonce.slice(0, 6)}` : '';
      return `AppendEntriesAck(term ${m.term}, ${result}${nonce})`;
    }
  }
}

export function describeEntry(e: Entry<Command>): string {
  const c = e.command;
  if (c === null) return `t${e.term}:no-op`;
  const who = c.credentialId.slice(0, 6);
  const session = 'sessionId' in c ? ` ${c.sessionId.slice(0, 6)}` : '';
  const reason = c.type === 'EndSession' ? ` ${c.reason}` : '';
  return `t${e.term}:${c.type}(${who}${session}${reason})`;
}

export function describeFrame(f: Frame): string {
  if (f.kind === 'Alert') {
    const hint = isRedirect(f) && f.leaderHint !== null ? ` (leader r${f.leaderHint})` : '';
    return `Alert ${new TextDecoder().decode(f.bytes)}${hint}`;
  }
  return `${f.kind} ${f.channel.slice(0, 6)} (${f.bytes.length} bytes)`;
}
