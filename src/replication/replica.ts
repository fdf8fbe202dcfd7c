/**
 * One replica of the replicated vault (spec ch. 6): the vault node of `src/vault/node.ts` over the
 * consensus of `raft.ts`. The vault's step functions are used as they are: their proposals become
 * log entries, and each committed entry is applied with `onCommitted`, on every replica, in log
 * order. There is no second copy of the record rules here, only the wiring:
 *
 *   handleClientFrame(s, frame)     the serving leader runs `handleFrame`; its proposals are
 *                                   appended; anyone else answers Alert NotLeader (with a hint)
 *                                   or, a leader not yet serving, Alert Unavailable
 *   handlePeerMessage(s, j, m)      consensus; entries it commits are applied (`onCommitted`)
 *   onElectionTimeout, onHeartbeat  consensus timers
 *   onSessionExpiry(s)              the serving leader ends sessions past the TTL
 *   proposeCommand(s, command)      synthetic load: the serving leader appends a command
 *   restartReplica(config, durable) empty channels; the records of the snapshot, then of the log
 *
 * Snapshots (spec ch. 6, "Snapshots"): once a replica has applied `snapshotEvery` entries past its
 * snapshot, or `snapshotEveryBytes` bytes of them, the next step that applies entries first
 * compacts its log up to the last applied index (`compactLog`): the snapshot is the vault's
 * records as they are after that entry, pending sessions and their spent guesses included.
 * A follower given a leader's snapshot (`installed`) takes its records and applies what follows.
 *
 * G1 by construction: a KE2 is computed in `onCommitted(ConsumeGuess)`, which runs only for an
 * entry committed at a majority, and the fleet driver releases it only after this step's state
 * is durable. A leader that loses its leadership drops its channels (they are volatile); the
 * sessions they served stay pending (their guesses stay spent, G2) until the next leader ends
 * them: a leader starts serving once it has applied the first entry of its term, and at that
 * moment it proposes EndSession(expired) for every pending session, since no channel of a
 * previous leader survives a change of leader.
 * @module
 */
import { utf8 } from '../crypto/bytes.ts';
import type { ErrorCode } from '../errors.ts';
import { type Step, type VaultEnv, type VaultNode, type VaultSteps, initialNode } from '../vault/node.ts';
import type { Frame } from '../vault/protocol.ts';
import { type Command, type Hex, type Outcome, type VaultState, EMPTY_VAULT } from '../vault/records.ts';
import { pendingRecords, withRecordTable } from '../vault/records.ts';
import { tableSize } from '../vault/record-table.ts';
import {
  type Committed,
  type Durable,
  type Entry,
  type Outbound,
  type RaftConfig,
  type RaftState,
  type RaftStep,
  compactLog,
  handleRaftMessage,
  snapshotIndex,
  onElectionTimeout as raftElectionTimeout,
  onHeartbeat as raftHeartbeat,
  proposeCommands,
  restartRaft,
  type RaftMessage,
} from './raft.ts';

export interface ReplicaState {
  readonly raft: RaftState<Command>;
  /** The vault node: records = the applied prefix of the log; channels (volatile) only on the serving leader. */
  readonly node: VaultNode;
  readonly lastApplied: number;
  /**
   * A leader serves clients once it has applied the first entry of its term (all earlier terms'
   * entries are then applied).
   */
  readonly serving: boolean;
  /**
   * Bytes (JSON) of the entries applied past the snapshot, for the byte trigger of a compaction:
   * volatile, a function of the log and `lastApplied` (0 after a restart, which applies them again).
   */
  readonly appliedBytes: number;
}

/**
 * Proof-only ("ghost") events: what left the HSM and what was applied, recorded for the checkers
 * (INV-1..3, INV-11). They change nothing in the replica.
 */
export type GhostEvent =
  /** An entry applied here; `ok`: the record rules accepted its command (a no-op is accepted). */
  | { readonly type: 'Applied'; readonly index: number; readonly entry: Entry<Command>; readonly ok: boolean }
  | {
      readonly type: 'Registered';
      readonly credential: Hex;
      /** The registration's `transcriptHash`: what a KE3 proves the password of. */
      readonly registration: Hex;
      readonly limit: number;
      readonly index: number;
    }
  /** `registration`: the record's the KE2 was computed from (a stale leader's may be older than the fleet's). */
  | {
      readonly type: 'Ke2Sent';
      readonly credential: Hex;
      readonly registration: Hex;
      readonly session: Hex;
      readonly index: number;
      readonly term: number;
    }
  /** The vault checked the session's KE3 MAC and it was right (node.ts `Step.verified`). */
  /** `registration`: the one its KE2 was computed from, whose password the KE3 proved. */
  | { readonly type: 'Ke3Verified'; readonly credential: Hex; readonly session: Hex; readonly registration: Hex }
  /** The records up to `index` became this replica's snapshot: its own (a compaction), or a leader's (installed). */
  | { readonly type: 'Snapshot'; readonly index: number; readonly installed: boolean }
  /** A Reset entry took effect here (attempts back to 0); `released`: K left on the session's channel. */
  | {
      readonly type: 'Reset';
      readonly credential: Hex;
      /** The registration it reset (the one its command names: it is applied only to that one). */
      readonly registration: Hex;
      readonly session: Hex;
      readonly index: number;
      readonly released: boolean;
    };

export interface ReplicaStep {
  readonly state: ReplicaState;
  readonly messages: readonly Outbound<Command>[];
  /** Frames to clients (on the channels they name). */
  readonly frames: readonly Frame[];
  readonly ghost: readonly GhostEvent[];
  readonly resetTimer: boolean;
}

/**
 * What a replica step runs with: the vault's environment, and the vault's rules (node.ts's
 * `VAULT_STEPS`, or a wrapped variant handed in from outside by a test or a checker).
 */
export interface ReplicaEnv extends VaultEnv {
  readonly vault: VaultSteps;
}

/** A follower's answer to a client frame: who leads, if it knows (the relay may use the hint). */
export interface RedirectFrame extends Frame {
  readonly leaderHint: number | null;
}

export function isRedirect(f: Frame): f is RedirectFrame {
  return f.kind === 'Alert' && 'leaderHint' in f;
}

function alert(channel: string, code: ErrorCode): Frame {
  return { channel, kind: 'Alert', bytes: utf8(code) };
}

export function notLeader(channel: string, leaderHint: number | null): RedirectFrame {
  return { channel, kind: 'Alert', bytes: utf8('NotLeader'), leaderHint };
}

export function restartReplica(config: RaftConfig, durable: Durable<Command>, nonce: string | null): ReplicaState {
  const vault = withRecordTable((durable.snapshot?.state as VaultState | undefined) ?? EMPTY_VAULT);
  const raft = restartRaft(config, durable, nonce);
  return { raft, node: initialNode(vault), lastApplied: snapshotIndex(durable), serving: false, appliedBytes: 0 };
}

/** What the byte trigger's growth floor counts per record held: about a record's JSON. */
export const SNAPSHOT_BYTES_PER_RECORD = 1024;

/**
 * Whether a replica has applied enough past its snapshot for the next: `snapshotEvery` entries or
 * `snapshotEveryBytes` bytes, and, with `snapshotGrowth` g, at least g entries (g KiB) per record
 * held. A snapshot seals every record, so with n records one every g·n entries costs O(1/g) an entry
 * however large n grows, and the log it leaves is never longer than g times the state.
 */
export function isSnapshotDue(s: ReplicaState): boolean {
  const { snapshotEvery: every, snapshotEveryBytes: bytes, snapshotGrowth: growth } = s.raft.config;
  const applied = s.lastApplied - snapshotIndex(s.raft.durable);
  const floor = growth === undefined ? 0 : growth * tableSize(s.node.vault.records);
  const byCount = every !== undefined && applied >= Math.max(every, floor);
  const byBytes = bytes !== undefined && s.appliedBytes >= Math.max(bytes, floor * SNAPSHOT_BYTES_PER_RECORD);
  return applied > 0 && (byCount || byBytes);
}

/** The size of an entry for the byte trigger: its JSON, as a segment seals it (hex and ASCII: a byte a character). */
export function entryBytes(entry: Entry<Command>): number {
  return JSON.stringify(entry).length;
}

/**
 * Compacts the log up to the last applied entry once it is due (`isSnapshotDue`), when a step is
 * about to apply more: the records are those applied at `lastApplied`, the commit index as the
 * step began, which an earlier step made known (released): never an index only this step
 * committed, whose outputs a kill inside its save may withhold.
 */
function maybeSnapshot(s: ReplicaState, out: Out): ReplicaState {
  if (!isSnapshotDue(s)) return s;
  out.ghost.push({ type: 'Snapshot', index: s.lastApplied, installed: false });
  return { ...s, raft: compactLog(s.raft, s.lastApplied, s.node.vault), appliedBytes: 0 };
}

/** What one step accumulates. */
interface Out {
  messages: Outbound<Command>[];
  frames: Frame[];
  ghost: GhostEvent[];
  /** This step applied entries already (its compaction, if any, came before the first). */
  applied?: boolean;
}

function emptyOut(): Out {
  return { messages: [], frames: [], ghost: [] };
}

function done(state: ReplicaState, out: Out, resetTimer = false): ReplicaStep {
  return { state, messages: out.messages, frames: out.frames, ghost: out.ghost, resetTimer };
}

/** Applies committed entries in log order with the vault's `onCommitted`. */
function applyCommitted(
  s0: ReplicaState,
  committed: readonly Committed<Command>[],
  env: ReplicaEnv,
  out: Out,
): ReplicaState {
  if (committed.length === 0) return s0;
  let s = out.applied ? s0 : maybeSnapshot(s0, out);
  out.applied = true;
  for (const { index, entry } of committed) {
    if (index !== s.lastApplied + 1)
      throw new Error(`replica ${s.raft.config.id}: entry ${index} committed out of order (applied ${s.lastApplied})`);
    let node = s.node;
    const cmd = entry.command;
    if (cmd === null) out.ghost.push({ type: 'Applied', index, entry, ok: true });
    else {
      const r = env.vault.onCommitted(node, cmd, env);
      out.ghost.push({ type: 'Applied', index, entry, ok: r.outcome.ok });
      node = r.node;
      out.frames.push(...r.frames);
      out.ghost.push(...committedGhosts(s.node, cmd, index, entry.term, r));
    }
    s = { ...s, node, lastApplied: index, appliedBytes: s.appliedBytes + entryBytes(entry) };
  }
  return s;
}

/**
 * The ghost events of one committed command, applied by `onCommitted` to the vault node `before`
 * (`r`: its step): a registration, a KE2 that left, a reset and whether K left with it. Each names
 * the registration it touched as the records were, not as the command says: a Reset is labelled
 * with the record it was applied to (the same as its command's, unless a vault applies a Reset to
 * another registration, which the G3 checker must then see).
 */
export function committedGhosts(
  before: VaultNode,
  cmd: Command,
  index: number,
  term: number,
  r: { readonly outcome: Outcome; readonly frames: readonly Frame[] },
): GhostEvent[] {
  if (!r.outcome.ok) return [];
  const credential = cmd.credentialId;
  switch (cmd.type) {
    case 'Register':
      return [{ type: 'Registered', credential, registration: cmd.transcriptHash, limit: cmd.guessLimit, index }];
    case 'ConsumeGuess': {
      const record = r.outcome.record;
      if (!record || r.frames.length === 0) return [];
      return [
        { type: 'Ke2Sent', credential, registration: record.transcriptHash, session: cmd.sessionId, index, term },
      ];
    }
    case 'Reset': {
      const registration = before.vault.records[credential]?.transcriptHash ?? cmd.registration;
      return [
        { type: 'Reset', credential, registration, session: cmd.sessionId, index, released: r.frames.length > 0 },
      ];
    }
    default:
      return [];
  }
}

/** The ghost event of a KE3 whose MAC a vault step verified (`Step.verified`, node.ts). */
export function verifiedGhost(v: NonNullable<Step['verified']>): GhostEvent {
  return { type: 'Ke3Verified', credential: v.credentialId, session: v.sessionId, registration: v.registration };
}

/**
 * A ghost event that reports what an HSM did inside the step, not what the step releases: a KE3
 * verified. It is recorded before the step's persist (`stepHosted`'s `beforePersist`), since a
 * crash inside the persist does not undo it: the Reset the step proposed may be durable already
 * (an orphan save, taken at the next start) and take effect later. The others are released after.
 */
export function isHsmFact(g: GhostEvent): boolean {
  return g.type === 'Ke3Verified';
}

/** The leader appends commands; with one replica they commit at once. */
function propose(s: ReplicaState, commands: readonly Command[], env: ReplicaEnv, out: Out): ReplicaState {
  const r = proposeCommands(s.raft, commands);
  out.messages.push(...r.messages);
  return applyCommitted({ ...s, raft: r.state }, r.committed, env, out);
}

/** A leader starts serving once its no-op is applied, and ends every session orphaned by earlier leaders. */
function startServing(s: ReplicaState, env: ReplicaEnv, out: Out): ReplicaState {
  const L = s.raft.leader;
  if (s.serving || s.raft.role !== 'leader' || L === null || s.lastApplied < L.termStart) return s;
  const orphans: Command[] = [];
  for (const [credentialId, r] of pendingRecords(s.node.vault)) {
    for (const sessionId of Object.keys(r.pending))
      orphans.push({ type: 'EndSession', credentialId, sessionId, reason: 'expired' });
  }
  const serving = { ...s, serving: true };
  return orphans.length > 0 ? propose(serving, orphans, env, out) : serving;
}

/** After a consensus step: drop channels on losing leadership, apply what committed, maybe start serving. */
function afterConsensus(prev: ReplicaState, r: RaftStep<Command>, env: ReplicaEnv, out: Out = emptyOut()): ReplicaStep {
  const leads = r.state.role === 'leader';
  const node = prev.raft.role === 'leader' && !leads ? { ...prev.node, channels: new Map() } : prev.node;
  out.messages.push(...r.messages);
  let s: ReplicaState = { ...prev, raft: r.state, node, serving: prev.serving && leads };
  if (r.installed) {
    // a leader's snapshot: its records replace ours, which were of an earlier index
    const vault = withRecordTable(r.installed.state as VaultState);
    s = { ...s, node: { ...s.node, vault }, lastApplied: r.installed.index, appliedBytes: 0 };
    out.ghost.push({ type: 'Snapshot', index: r.installed.index, installed: true });
  }
  s = applyCommitted(s, r.committed, env, out);
  s = startServing(s, env, out);
  return done(s, out, r.resetTimer);
}

// ----------------------------------------------------------------------------------------------
// Actions

/** Replica i receives a client frame from the relay. */
export function handleClientFrame(s: ReplicaState, frame: Frame, env: ReplicaEnv): ReplicaStep {
  const out = emptyOut();
  if (!s.serving) {
    out.frames.push(
      s.raft.role === 'leader' ? alert(frame.channel, 'Unavailable') : notLeader(frame.channel, s.raft.leaderHint),
    );
    return done(s, out);
  }
  const step = env.vault.handleFrame(s.node, frame, env);
  out.frames.push(...step.frames);
  if (step.verified) out.ghost.push(verifiedGhost(step.verified));
  let next: ReplicaState = { ...s, node: step.node };
  if (step.proposals.length === 0) return done(next, out);
  return done(propose(next, step.proposals, env, out), out);
}

/**
 * Work arriving at replica i outside a client channel (synthetic load for consensus-only runs, model
 * checkers, and the bulk registrations of the `scale` bench): a serving leader appends it (one
 * command or several in one step), anyone else ignores it.
 */
export function proposeCommand(s: ReplicaState, command: Command | readonly Command[], env: ReplicaEnv): ReplicaStep {
  const out = emptyOut();
  const commands = Array.isArray(command) ? (command as readonly Command[]) : [command as Command];
  return done(s.serving ? propose(s, commands, env, out) : s, out);
}

/** Replica i receives an (authenticated) consensus message from replica j. */
export function handlePeerMessage(
  s: ReplicaState,
  from: number,
  m: RaftMessage<Command>,
  env: ReplicaEnv,
): ReplicaStep {
  return afterConsensus(s, handleRaftMessage(s.raft, from, m), env);
}

export function onElectionTimeout(s: ReplicaState, env: ReplicaEnv): ReplicaStep {
  return afterConsensus(s, raftElectionTimeout(s.raft), env);
}

export function onHeartbeat(s: ReplicaState, env: ReplicaEnv): ReplicaStep {
  return afterConsensus(s, raftHeartbeat(s.raft), env);
}

/** The serving leader ends pending sessions older than the TTL (their guesses stay spent) and drops stale channels. */
export function onSessionExpiry(s: ReplicaState, env: ReplicaEnv): ReplicaStep {
  const out = emptyOut();
  if (!s.serving) return done(s, out);
  const step = env.vault.handleSessionExpiry(s.node, env);
  out.frames.push(...step.frames); // clients of closed channels are told (Alert SessionExpired)
  const next = { ...s, node: step.node };
  return done(step.proposals.length > 0 ? propose(next, step.proposals, env, out) : next, out);
}

/** A replica's actions, as a runtime drives them: this module's. A broken variant wraps one (src/broken/). */
export interface ReplicaSteps {
  readonly handleClientFrame: typeof handleClientFrame;
  readonly handlePeerMessage: typeof handlePeerMessage;
  readonly onElectionTimeout: typeof onElectionTimeout;
  readonly onHeartbeat: typeof onHeartbeat;
  readonly onSessionExpiry: typeof onSessionExpiry;
  readonly proposeCommand: typeof proposeCommand;
}

export const REPLICA_STEPS: ReplicaSteps = Object.freeze({
  handleClientFrame,
  handlePeerMessage,
  onElectionTimeout,
  onHeartbeat,
  onSessionExpiry,
  proposeCommand,
});
