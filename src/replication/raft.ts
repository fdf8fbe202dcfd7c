/**
 * Consensus among the replicas of a fleet (spec ch. 6): a minimal leader-based protocol in the
 * style of Raft (Ongaro & Ousterhout 2014, §5), written as pure step functions over one replica's
 * explicit state, in the manner of ongardie/raft.tla. Each function is one action of replica i:
 *
 *   handleRequestVoteRequest(s, j, m)      i receives a vote request from candidate j
 *   handleRequestVoteResponse(s, j, m)     i (a candidate) counts j's answer
 *   handleAppendEntriesRequest(s, j, m)    i receives entries (or a heartbeat) from leader j
 *   handleAppendEntriesResponse(s, j, m)   i (the leader) learns how far j's log matches
 *   onElectionTimeout(s)                   i hears no leader: it becomes a candidate
 *   onHeartbeat(s)                         i (the leader) sends AppendEntries to every peer; a
 *                                          candidate asks again for the votes it lacks
 *   proposeCommands(s, commands)           i (the leader) appends commands to its log
 *   handleInstallSnapshotRequest(s, j, m)  i receives a chunk of leader j's snapshot (its log before it was
 *                                          compacted), and installs it at the last chunk
 *   handleInstallSnapshotResponse(s, j, m) i (the leader) learns how many bytes of its snapshot j holds
 *   compactLog(s, index, state)            i replaces its log up to a committed, applied index by a snapshot
 *   restartRaft(config, durable, nonce)    i restarts from its durable state
 *
 * Each returns the next state, the messages to send, and the entries that became committed (in
 * log order). The caller (the replica, then the fleet driver) persists `state.durable` whenever it
 * changed, and only then releases messages and applies committed entries: a vote, an
 * acknowledgement or a commit is never visible before the state behind it is durable.
 *
 * Generic over the command type C: the vault's `Command`s in the fleet, anything in unit tests.
 *
 * Two additions to Raft, both for untrusted host storage (spec ch. 6, "Rollback"):
 * - `durable.recovering`: a replica whose sealed state was rolled back or lost restarts with an
 *   empty log and neither votes nor campaigns until it has caught up with a leader's whole log;
 * - the recovery nonce: a fresh value the recovering replica puts in its AppendEntries responses
 *   and that a leader echoes back, so that only a leader log sent *after* the restart (never a
 *   delayed or replayed old message) ends the recovery.
 *
 * Flow control and batching: a leader keeps at most one AppendEntries in flight per follower and
 * sends the next as soon as the previous one is answered, carrying every entry appended meanwhile
 * (up to `maxBatch`): under load, one round carries many records' operations.
 * @module
 */
import { type Bytes, concat } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';

/**
 * A log entry. `command: null` is the no-op a new leader appends to commit earlier terms' entries
 * (Raft §5.4.2, §8).
 */
export interface Entry<C> {
  readonly term: number;
  readonly command: C | null;
}

/**
 * The applied state at a committed index (spec ch. 6, "Snapshots"): it stands for the log up to
 * `index`, whose last entry had term `term`. `state` is the application's (the vault's records),
 * opaque to consensus.
 */
export interface RaftSnapshot {
  readonly index: number;
  readonly term: number;
  readonly state: unknown;
}

/**
 * What survives a restart: sealed to host storage after every change, and `currentTerm` and
 * `votedFor` also kept in the HSM (the ballot counter, durable.ts), where no host can roll them back.
 */
export interface Durable<C> {
  readonly currentTerm: number;
  readonly votedFor: number | null;
  /** log[0] has index `snapshot.index + 1` (1 without a snapshot): read it through `entryAt`, `termOf`. */
  readonly log: readonly Entry<C>[];
  /** Lost or rolled-back state: no vote, no candidacy, until caught up with a leader. */
  readonly recovering: boolean;
  /** The compacted prefix of the log (absent: none). */
  readonly snapshot?: RaftSnapshot;
}

export type Role = 'follower' | 'candidate' | 'leader';

/** Volatile state of a candidate. */
export interface CandidateState {
  readonly votesGranted: readonly number[];
}

/** Volatile state of a leader, per peer (indexed by replica id; the leader's own slot is unused). */
export interface LeaderState {
  readonly nextIndex: readonly number[];
  readonly matchIndex: readonly number[];
  /** An AppendEntries to this peer is unanswered: wait (the heartbeat re-sends regardless). */
  readonly inflight: readonly boolean[];
  /** The recovery nonce this peer last reported (null: not recovering), echoed in AppendEntries. */
  readonly peerNonce: readonly (string | null)[];
  /** Index of the first entry of this term (its no-op): the leader serves clients once it is applied. */
  readonly termStart: number;
  /** Where the next chunk of the snapshot sent to this peer starts (null: none being sent). */
  readonly chunkCursor: readonly (ChunkCursor | null)[];
}

/** The snapshot (by its index) a leader is sending a peer, and the offset of the next chunk. */
export interface ChunkCursor {
  readonly index: number;
  readonly offset: number;
}

/**
 * A follower's volatile store of the chunks received of one snapshot (Raft §7): the leader's term,
 * the snapshot's index and term, and the bytes from offset 0 on, in order.
 */
export interface IncomingSnapshot {
  readonly term: number;
  readonly index: number;
  readonly snapshotTerm: number;
  readonly parts: readonly Bytes[];
  /** Total bytes of `parts`: the offset of the next chunk this follower takes. */
  readonly length: number;
}

/**
 * How a snapshot's state travels (spec ch. 6.6.2): the bytes the leader cuts into chunks, and the
 * follower's reading of them once whole (a `MalformedMessage` if they are not a state).
 */
export interface SnapshotCodec {
  encode(state: unknown): Bytes;
  decode(bytes: Bytes): unknown;
}

/** A JSON codec: the state's JSON text (UTF-8), read back by `read` (which checks its shape). */
export function jsonSnapshotCodec(read: (x: unknown, path: string) => unknown): SnapshotCodec {
  return {
    encode: (state) => new TextEncoder().encode(JSON.stringify(state)),
    decode: (bytes) => {
      let x: unknown;
      try {
        x = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        throw new VaultError('MalformedMessage', 'snapshot: not UTF-8 JSON');
      }
      return read(x, 'snapshot');
    },
  };
}

/** Any JSON value as the state (unit tests, whose states are strings). */
export const JSON_SNAPSHOT_CODEC: SnapshotCodec = jsonSnapshotCodec((x) => x);

/** Most bytes of snapshot per InstallSnapshotRequest, unless configured (spec ch. 6.6.2). */
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 32 * 1024;

export interface RaftConfig {
  /** This replica's id, 0..n-1. */
  readonly id: number;
  /** Fleet size: odd, 1..9. */
  readonly n: number;
  /** Most entries per AppendEntries. */
  readonly maxBatch: number;
  /**
   * Most bytes of entries (their JSON) per AppendEntries, past its first entry, which is always sent
   * (absent: no bound but `maxBatch`). A served replica sets it from its peer body limit (spec ch. 15.4).
   */
  readonly maxBatchBytes?: number;
  /** A replica compacts its log once it has applied this many entries past its snapshot (absent: never). */
  readonly snapshotEvery?: number;
  /** ... or once the entries it applied past its snapshot take this many bytes as JSON (absent: no byte trigger). */
  readonly snapshotEveryBytes?: number;
  /**
   * ... and, for either trigger, at least this many entries (and KiB) per record the state holds
   * (absent: no such floor): a snapshot costs in proportion to the state, so it comes in proportion too.
   */
  readonly snapshotGrowth?: number;
  /** Most bytes of the snapshot's encoding in one InstallSnapshotRequest (default DEFAULT_SNAPSHOT_CHUNK_BYTES). */
  readonly snapshotChunkBytes?: number;
  /** How a snapshot's state is encoded for InstallSnapshot (default JSON_SNAPSHOT_CODEC). */
  readonly snapshotCodec?: SnapshotCodec;
  /**
   * Replicas (the leader included) that must hold an entry of the leader's term for it to commit;
   * default a majority. Spec ch. 6 argues safety for a majority only: a smaller value is how the
   * broken variant `commit-at-half` is handed to a runtime (src/broken/).
   */
  readonly commitQuorum?: number;
}

export interface RaftState<C> {
  readonly config: RaftConfig;
  readonly durable: Durable<C>;
  readonly role: Role;
  /** Highest index known committed (volatile: relearned from the leader after a restart). */
  readonly commitIndex: number;
  /** Who this replica believes leads (for client redirects). */
  readonly leaderHint: number | null;
  /** Volatile: set at restart while `durable.recovering`. */
  readonly recoveryNonce: string | null;
  readonly candidate: CandidateState | null;
  readonly leader: LeaderState | null;
  /** Volatile: the chunks of a leader's snapshot received so far (null: none). */
  readonly incoming: IncomingSnapshot | null;
}

export type RaftMessage<C> =
  | {
      readonly type: 'RequestVoteRequest';
      readonly term: number;
      readonly lastLogIndex: number;
      readonly lastLogTerm: number;
    }
  | { readonly type: 'RequestVoteResponse'; readonly term: number; readonly voteGranted: boolean }
  | {
      readonly type: 'AppendEntriesRequest';
      readonly term: number;
      readonly prevLogIndex: number;
      readonly prevLogTerm: number;
      readonly entries: readonly Entry<C>[];
      readonly leaderCommit: number;
      /** The leader's last index when it sent this: a recovering follower must reach it. */
      readonly leaderLastIndex: number;
      /** The follower's recovery nonce, echoed (null when it reported none). */
      readonly recoveryNonce: string | null;
    }
  /**
   * A chunk of the leader's snapshot (Raft §7), for a follower whose next entry it has compacted:
   * bytes [offset, offset + |data|) of the snapshot's encoding (`data` in base64), `done` on the
   * last. A chunk taken but not the last is answered with an InstallSnapshotResponse; the last
   * (the snapshot installed) with an AppendEntriesResponse (matchIndex: the snapshot's index), so
   * the leader's bookkeeping is one.
   */
  | {
      readonly type: 'InstallSnapshotRequest';
      readonly term: number;
      readonly snapshotIndex: number;
      readonly snapshotTerm: number;
      readonly offset: number;
      readonly data: string;
      readonly done: boolean;
      readonly leaderCommit: number;
      readonly leaderLastIndex: number;
      readonly recoveryNonce: string | null;
    }
  /** How many bytes of the snapshot (index, term) the follower holds: where the next chunk starts (0: over). */
  | {
      readonly type: 'InstallSnapshotResponse';
      readonly term: number;
      readonly snapshotIndex: number;
      readonly snapshotTerm: number;
      readonly nextOffset: number;
      readonly recoveryNonce: string | null;
    }
  | {
      readonly type: 'AppendEntriesResponse';
      readonly term: number;
      readonly success: boolean;
      /** On success: the index up to which the follower's log now matches the leader's. */
      readonly matchIndex: number;
      /** On failure: where the leader should try next (a hint for fast backtracking). */
      readonly lastLogIndex: number;
      /** Non-null while the follower is recovering. */
      readonly recoveryNonce: string | null;
    };

export interface Outbound<C> {
  readonly to: number;
  readonly message: RaftMessage<C>;
}

export interface Committed<C> {
  readonly index: number;
  readonly entry: Entry<C>;
}

export interface RaftStep<C> {
  readonly state: RaftState<C>;
  readonly messages: readonly Outbound<C>[];
  /** Entries newly committed by this step, in log order, contiguous from the old commitIndex + 1. */
  readonly committed: readonly Committed<C>[];
  /** The replica heard from a current leader or granted a vote: its election timer restarts. */
  readonly resetTimer: boolean;
  /** A leader's snapshot this step installed: the application's state is now its `state` (before `committed`). */
  readonly installed?: RaftSnapshot;
}

// ----------------------------------------------------------------------------------------------
// Helpers (pure)

export const MAX_REPLICAS = 9;

/** Replicas needed for a vote or a commit: a majority. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

function commitQuorum(c: RaftConfig): number {
  return c.commitQuorum ?? majority(c.n);
}

export function lastLogIndex<C>(log: readonly Entry<C>[]): number {
  return log.length;
}

/** The index of the last entry compacted into the snapshot (0: none). */
export function snapshotIndex<C>(d: Durable<C>): number {
  return d.snapshot?.index ?? 0;
}

/** The index of the last entry, compacted or not. */
export function lastIndexOf<C>(d: Durable<C>): number {
  return snapshotIndex(d) + d.log.length;
}

/** The entry at `index` if the log still holds it (undefined: compacted, or beyond the log). */
export function entryAt<C>(d: Durable<C>, index: number): Entry<C> | undefined {
  const k = index - snapshotIndex(d);
  return k >= 1 ? d.log[k - 1] : undefined;
}

/** Term of the entry at `index`: the snapshot's at its index, 0 at 0, -1 if compacted before it or beyond the log. */
export function termOf<C>(d: Durable<C>, index: number): number {
  const snap = snapshotIndex(d);
  if (index === snap) return d.snapshot?.term ?? 0;
  return index < snap ? -1 : (d.log[index - snap - 1]?.term ?? -1);
}

/** Term of the last entry (the snapshot's if the log after it is empty). */
export function lastTermOf<C>(d: Durable<C>): number {
  return termOf(d, lastIndexOf(d));
}

/** Term of the entry at `index` (0 for index 0, the empty prefix). */
export function termAt<C>(log: readonly Entry<C>[], index: number): number {
  return index === 0 ? 0 : (log[index - 1]?.term ?? -1);
}

export function lastLogTerm<C>(log: readonly Entry<C>[]): number {
  return termAt(log, log.length);
}

export function checkFleetSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS || n % 2 === 0) {
    throw new VaultError('InvalidParameter', `fleet size expected an odd integer in 1..${MAX_REPLICAS}, got ${n}`);
  }
  return n;
}

export const EMPTY_DURABLE: Durable<never> = Object.freeze({
  currentTerm: 0,
  votedFor: null,
  log: Object.freeze([]) as readonly Entry<never>[],
  recovering: false,
});

/**
 * How a log was made from another: its first `kept` entries, then new ones (read by
 * `logDerivation`). The base is held weakly: a log never keeps the logs before it alive.
 */
type Derivation = { readonly base: WeakRef<readonly unknown[]>; readonly kept: number };
const derivations = new WeakMap<readonly unknown[], Derivation>();

/** `base[0 .. kept-1]` followed by `added`, remembering how it was made. */
function extended<C>(base: readonly Entry<C>[], kept: number, added: readonly Entry<C>[]): Entry<C>[] {
  const log = [...base.slice(0, kept), ...added];
  derivations.set(log, { base: new WeakRef(base), kept });
  return log;
}

/**
 * If `log` was made by this module from `from` (in one or more steps), how many of `from`'s first
 * entries it kept (null: unknown). It lets a save write only what changed without comparing the
 * two logs entry by entry (durable.ts `durableDelta`).
 */
export function logDerivation<C>(log: readonly Entry<C>[], from: readonly Entry<C>[]): number | null {
  let kept = log.length;
  let x: readonly unknown[] | undefined = log;
  for (let hops = 0; x !== from; hops++) {
    const d: Derivation | undefined = x === undefined || hops >= 16 ? undefined : derivations.get(x);
    if (d === undefined) return null;
    kept = Math.min(kept, d.kept);
    x = d.base.deref();
  }
  return Math.min(kept, from.length);
}

function peers(c: RaftConfig): number[] {
  const out: number[] = [];
  for (let j = 0; j < c.n; j++) if (j !== c.id) out.push(j);
  return out;
}

function result<C>(
  state: RaftState<C>,
  messages: Outbound<C>[] = [],
  committed: Committed<C>[] = [],
  resetTimer = false,
): RaftStep<C> {
  return { state, messages, committed, resetTimer };
}

function committedBetween<C>(d: Durable<C>, from: number, to: number): Committed<C>[] {
  const out: Committed<C>[] = [];
  for (let i = from + 1; i <= to; i++) out.push({ index: i, entry: entryAt(d, i)! });
  return out;
}

/** Adopts a newer term (forgetting the vote) or just the leader hint; any role becomes follower. */
function becomeFollower<C>(s: RaftState<C>, term: number, leaderHint: number | null): RaftState<C> {
  const d = s.durable;
  const durable = term > d.currentTerm ? { ...d, currentTerm: term, votedFor: null } : d;
  return { ...s, durable, role: 'follower', candidate: null, leader: null, leaderHint };
}

/** Is a log ending at (lastTerm, lastIndex) at least as up-to-date as `log` (Raft §5.4.1)? */
export function isUpToDate<C>(lastTerm: number, lastIndex: number, d: Durable<C>): boolean {
  const myTerm = lastTermOf(d);
  return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= lastIndexOf(d));
}

// ----------------------------------------------------------------------------------------------
// Restart

export function initialRaftState<C>(config: RaftConfig): RaftState<C> {
  return restartRaft<C>(config, EMPTY_DURABLE, null);
}

/** Replica i restarts from its durable state; a recovering one gets a fresh nonce (never reused). */
export function restartRaft<C>(config: RaftConfig, durable: Durable<C>, nonce: string | null): RaftState<C> {
  checkFleetSize(config.n);
  if (durable.recovering && nonce === null)
    throw new VaultError('InvalidParameter', 'a recovering replica needs a fresh recovery nonce');
  return {
    config,
    durable,
    role: 'follower',
    commitIndex: snapshotIndex(durable), // a snapshot holds committed entries only
    leaderHint: null,
    recoveryNonce: durable.recovering ? nonce : null,
    candidate: null,
    leader: null,
    incoming: null,
  };
}

// ----------------------------------------------------------------------------------------------
// Elections

/** Replica i hears no leader within its timeout: it becomes a candidate of the next term. */
export function onElectionTimeout<C>(s: RaftState<C>): RaftStep<C> {
  if (s.role === 'leader' || s.durable.recovering) return result(s, [], [], true);
  const d = s.durable;
  const term = d.currentTerm + 1;
  const candidate: RaftState<C> = {
    ...s,
    durable: { ...d, currentTerm: term, votedFor: s.config.id },
    role: 'candidate',
    candidate: { votesGranted: [s.config.id] },
    leader: null,
    leaderHint: null,
  };
  if (majority(s.config.n) === 1) return becomeLeader(candidate);
  const message: RaftMessage<C> = {
    type: 'RequestVoteRequest',
    term,
    lastLogIndex: lastIndexOf(d),
    lastLogTerm: lastTermOf(d),
  };
  return result(
    candidate,
    peers(s.config).map((to) => ({ to, message })),
    [],
    true,
  );
}

/** Replica i receives a vote request from candidate j. */
export function handleRequestVoteRequest<C>(
  s0: RaftState<C>,
  from: number,
  m: Extract<RaftMessage<C>, { type: 'RequestVoteRequest' }>,
): RaftStep<C> {
  let s = s0;
  if (m.term > s.durable.currentTerm) s = becomeFollower(s, m.term, null);
  const d = s.durable;
  const grant =
    m.term === d.currentTerm &&
    !d.recovering &&
    (d.votedFor === null || d.votedFor === from) &&
    isUpToDate(m.lastLogTerm, m.lastLogIndex, d);
  if (grant && d.votedFor === null) s = { ...s, durable: { ...d, votedFor: from } };
  const reply: RaftMessage<C> = { type: 'RequestVoteResponse', term: s.durable.currentTerm, voteGranted: grant };
  return result(s, [{ to: from, message: reply }], [], grant);
}

/** Replica i, a candidate, counts the answer of j; a majority makes it leader. */
export function handleRequestVoteResponse<C>(
  s: RaftState<C>,
  from: number,
  m: Extract<RaftMessage<C>, { type: 'RequestVoteResponse' }>,
): RaftStep<C> {
  if (m.term > s.durable.currentTerm) return result(becomeFollower(s, m.term, null));
  if (s.role !== 'candidate' || s.candidate === null || m.term !== s.durable.currentTerm || !m.voteGranted)
    return result(s);
  if (s.candidate.votesGranted.includes(from)) return result(s); // a duplicate
  const votesGranted = [...s.candidate.votesGranted, from];
  const next = { ...s, candidate: { votesGranted } };
  return votesGranted.length >= majority(s.config.n) ? becomeLeader(next) : result(next);
}

/** A new leader appends a no-op of its term and sends it to every peer (Raft §8). */
function becomeLeader<C>(s: RaftState<C>): RaftStep<C> {
  const d = s.durable;
  const termStart = lastIndexOf(d) + 1;
  const log = extended(d.log, d.log.length, [{ term: d.currentTerm, command: null }]);
  const n = s.config.n;
  const leader: LeaderState = {
    nextIndex: new Array<number>(n).fill(termStart),
    matchIndex: new Array<number>(n).fill(0),
    inflight: new Array<boolean>(n).fill(false),
    peerNonce: new Array<string | null>(n).fill(null),
    termStart,
    chunkCursor: new Array<ChunkCursor | null>(n).fill(null),
  };
  const led: RaftState<C> = {
    ...s,
    durable: { ...d, log },
    role: 'leader',
    candidate: null,
    leader,
    leaderHint: s.config.id,
  };
  const sent = sendToPeers(led, peers(s.config));
  const commit = advanceCommit(sent.state);
  return result(commit.state, sent.messages, commit.committed, true);
}

// ----------------------------------------------------------------------------------------------
// Log replication

/**
 * Builds the AppendEntries for peer j from its nextIndex (an InstallSnapshot if the leader has
 * compacted the entry before it), and (unless a heartbeat) marks it in flight.
 */
function appendEntriesFor<C>(s: RaftState<C>, j: number, heartbeat = false): { state: RaftState<C>; out: Outbound<C> } {
  const L = s.leader!;
  const d = s.durable;
  const prev = Math.min(L.nextIndex[j]! - 1, lastIndexOf(d));
  const snap = snapshotIndex(d);
  const message: RaftMessage<C> =
    prev < snap
      ? snapshotChunkFor(s, j)
      : {
          type: 'AppendEntriesRequest',
          term: d.currentTerm,
          prevLogIndex: prev,
          prevLogTerm: termOf(d, prev),
          entries: batchFrom(s.config, d.log, prev - snap),
          leaderCommit: s.commitIndex,
          leaderLastIndex: lastIndexOf(d),
          recoveryNonce: L.peerNonce[j]!,
        };
  if (heartbeat) return { state: s, out: { to: j, message } };
  const inflight = L.inflight.slice();
  inflight[j] = true;
  return { state: { ...s, leader: { ...L, inflight } }, out: { to: j, message } };
}

/** The bytes of an entry's JSON, once per entry object. */
const entrySizes = new WeakMap<object, number>();

function entryBytes<C>(e: Entry<C>): number {
  let n = entrySizes.get(e);
  if (n === undefined) entrySizes.set(e, (n = JSON.stringify(e).length));
  return n;
}

/** The entries of `log` from position k on that one AppendEntries carries: `maxBatch`, `maxBatchBytes`. */
function batchFrom<C>(c: RaftConfig, log: readonly Entry<C>[], k: number): Entry<C>[] {
  const batch = log.slice(k, k + c.maxBatch);
  if (c.maxBatchBytes === undefined) return batch;
  let bytes = 0;
  for (let i = 0; i < batch.length; i++) {
    bytes += entryBytes(batch[i]!);
    if (i > 0 && bytes > c.maxBatchBytes) return batch.slice(0, i);
  }
  return batch;
}

/** The snapshot's encoding, once per snapshot object and codec. */
const encodings = new WeakMap<SnapshotCodec, WeakMap<RaftSnapshot, Bytes>>();

export function snapshotCodecOf(c: RaftConfig): SnapshotCodec {
  return c.snapshotCodec ?? JSON_SNAPSHOT_CODEC;
}

/** The bytes of `snapshot` that InstallSnapshot carries, under the configured codec. */
export function encodeSnapshot(c: RaftConfig, snapshot: RaftSnapshot): Bytes {
  const codec = snapshotCodecOf(c);
  let byCodec = encodings.get(codec);
  if (byCodec === undefined) encodings.set(codec, (byCodec = new WeakMap()));
  let bytes = byCodec.get(snapshot);
  if (bytes === undefined) byCodec.set(snapshot, (bytes = codec.encode(snapshot.state)));
  return bytes;
}

/** The chunk of the leader's snapshot that peer j gets next: from its cursor if it is of this snapshot, else from 0. */
function snapshotChunkFor<C>(s: RaftState<C>, j: number): RaftMessage<C> {
  const cursor = s.leader!.chunkCursor[j];
  const offset = cursor?.index === s.durable.snapshot!.index ? cursor.offset : 0;
  return snapshotChunk(s, offset, s.leader!.peerNonce[j]!);
}

/** The InstallSnapshotRequest of replica s's snapshot at `offset` (0 if that is not within it). */
export function snapshotChunk<C>(
  s: RaftState<C>,
  at: number,
  recoveryNonce: string | null,
): Extract<RaftMessage<C>, { type: 'InstallSnapshotRequest' }> {
  const d = s.durable;
  const snapshot = d.snapshot!;
  const bytes = encodeSnapshot(s.config, snapshot);
  const offset = at < bytes.length ? at : 0;
  const data = bytes.subarray(offset, offset + (s.config.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES));
  return {
    type: 'InstallSnapshotRequest',
    term: d.currentTerm,
    snapshotIndex: snapshot.index,
    snapshotTerm: snapshot.term,
    offset,
    data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
    done: offset + data.length >= bytes.length,
    leaderCommit: s.commitIndex,
    leaderLastIndex: lastIndexOf(d),
    recoveryNonce,
  };
}

function sendToPeers<C>(
  s0: RaftState<C>,
  targets: readonly number[],
  heartbeat = false,
): { state: RaftState<C>; messages: Outbound<C>[] } {
  let s = s0;
  const messages: Outbound<C>[] = [];
  for (const j of targets) {
    const r = appendEntriesFor(s, j, heartbeat);
    s = r.state;
    messages.push(r.out);
  }
  return { state: s, messages };
}

/** The leader commits the highest entry of its own term stored on a quorum (Raft §5.3, §5.4.2). */
function advanceCommit<C>(s: RaftState<C>): { state: RaftState<C>; committed: Committed<C>[] } {
  if (s.role !== 'leader' || s.leader === null) return { state: s, committed: [] };
  const d = s.durable;
  const quorum = commitQuorum(s.config);
  for (let index = lastIndexOf(d); index > s.commitIndex; index--) {
    if (termOf(d, index) !== d.currentTerm) break; // terms never decrease along a log
    let count = 1; // the leader itself: its log is durable before anything of this step is released
    for (let j = 0; j < s.config.n; j++) if (j !== s.config.id && s.leader.matchIndex[j]! >= index) count++;
    if (count >= quorum)
      return { state: { ...s, commitIndex: index }, committed: committedBetween(d, s.commitIndex, index) };
  }
  return { state: s, committed: [] };
}

/** Replica i, the leader, appends client commands; idle peers get them at once, busy ones after their answer. */
export function proposeCommands<C>(s: RaftState<C>, commands: readonly C[]): RaftStep<C> {
  if (s.role !== 'leader' || s.leader === null)
    throw new VaultError('NotLeader', `replica ${s.config.id} is not the leader`);
  if (commands.length === 0) return result(s);
  const d = s.durable;
  const log = extended(
    d.log,
    d.log.length,
    commands.map((command) => ({ term: d.currentTerm, command })),
  );
  const appended: RaftState<C> = { ...s, durable: { ...d, log } };
  const idle = peers(s.config).filter((j) => !s.leader!.inflight[j]);
  const sent = sendToPeers(appended, idle);
  const commit = advanceCommit(sent.state);
  return result(commit.state, sent.messages, commit.committed);
}

/**
 * The periodic heartbeat. A leader sends an AppendEntries to every peer, whether one is in flight
 * or not (this also re-sends lost ones); a candidate asks again the peers that have not granted their vote
 * (Raft retries RPCs that get no answer).
 */
export function onHeartbeat<C>(s: RaftState<C>): RaftStep<C> {
  if (s.role === 'candidate' && s.candidate !== null) {
    const d = s.durable;
    const message: RaftMessage<C> = {
      type: 'RequestVoteRequest',
      term: d.currentTerm,
      lastLogIndex: lastIndexOf(d),
      lastLogTerm: lastTermOf(d),
    };
    return result(
      s,
      peers(s.config)
        .filter((j) => !s.candidate!.votesGranted.includes(j))
        .map((to) => ({ to, message })),
    );
  }
  if (s.role !== 'leader') return result(s);
  // A heartbeat does not count as in flight: the next proposal leaves at once, not after its answer.
  const sent = sendToPeers(s, peers(s.config), true);
  return result(sent.state, sent.messages);
}

type AppendReply<C> = (st: RaftState<C>, success: boolean, matchIndex: number, lastIndex: number) => Outbound<C>;

function replyTo<C>(from: number): AppendReply<C> {
  return (st, success, matchIndex, lastIndex) => ({
    to: from,
    message: {
      type: 'AppendEntriesResponse',
      term: st.durable.currentTerm,
      success,
      matchIndex,
      lastLogIndex: lastIndex,
      recoveryNonce: st.durable.recovering ? st.recoveryNonce : null,
    },
  });
}

/**
 * Replica i hears leader j of term `term` (an AppendEntries or an InstallSnapshot): the whole
 * step if the message is refused (an older term) or ignored (i itself leads this term); else i as
 * j's follower.
 */
function followLeader<C>(
  s0: RaftState<C>,
  from: number,
  term: number,
): { step: RaftStep<C> } | { s: RaftState<C> } {
  if (term < s0.durable.currentTerm) {
    return { step: result(s0, [replyTo<C>(from)(s0, false, 0, lastIndexOf(s0.durable))]) };
  }
  // Two leaders of one term cannot exist (election safety); if one did, ignore rather than obey.
  if (s0.role === 'leader' && term === s0.durable.currentTerm) return { step: result(s0) };
  if (s0.role !== 'follower' || term > s0.durable.currentTerm) return { s: becomeFollower(s0, term, from) };
  return { s: s0.leaderHint === from ? s0 : { ...s0, leaderHint: from } };
}

/**
 * A recovering replica that now holds everything up to `lastNew` ends its recovery if the leader's
 * message echoed its nonce (sent after its restart) and covered the leader's whole log (spec ch. 6).
 */
function endRecovery<C>(
  s: RaftState<C>,
  m: { readonly recoveryNonce: string | null; readonly leaderLastIndex: number },
  lastNew: number,
): RaftState<C> {
  const d = s.durable;
  if (!d.recovering || m.recoveryNonce === null || m.recoveryNonce !== s.recoveryNonce) return s;
  if (lastNew < m.leaderLastIndex) return s;
  return { ...s, durable: { ...d, recovering: false }, recoveryNonce: null };
}

/** Replica i receives entries (or a heartbeat) from leader j. */
export function handleAppendEntriesRequest<C>(
  s0: RaftState<C>,
  from: number,
  m: Extract<RaftMessage<C>, { type: 'AppendEntriesRequest' }>,
): RaftStep<C> {
  const reply = replyTo<C>(from);
  const followed = followLeader(s0, from, m.term);
  if ('step' in followed) return followed.step;
  let s = followed.s;
  const d = s.durable;
  const snap = snapshotIndex(d);
  // Entries up to our snapshot are committed, so any current leader holds them as we did (Raft
  // §5.4 Leader Completeness): they match, and only those after the snapshot are compared.
  const skip = Math.min(Math.max(0, snap - m.prevLogIndex), m.entries.length);
  const prevIndex = m.prevLogIndex + skip;
  const entries = skip > 0 ? m.entries.slice(skip) : m.entries;
  if (m.prevLogIndex >= snap && (m.prevLogIndex > lastIndexOf(d) || termOf(d, m.prevLogIndex) !== m.prevLogTerm)) {
    // Log inconsistency (Raft §5.3): the leader backs up; our last index bounds where it retries.
    return result(s, [reply(s, false, 0, Math.min(lastIndexOf(d), m.prevLogIndex - 1))], [], true);
  }
  let log = d.log;
  for (let k = 0; k < entries.length; k++) {
    const index = prevIndex + 1 + k;
    if (log[index - snap - 1]?.term === entries[k]!.term) continue; // already there
    // a conflict (or the end of our log): drop our suffix from here, take the leader's
    log = extended(log, index - 1 - snap, entries.slice(k));
    break;
  }
  const lastNew = m.prevLogIndex + m.entries.length;
  if (log !== d.log) s = { ...s, durable: { ...d, log } };
  s = endRecovery(s, m, lastNew);
  const commitIndex = Math.max(s.commitIndex, Math.min(m.leaderCommit, lastNew));
  const committed = committedBetween(s.durable, s.commitIndex, commitIndex);
  if (commitIndex !== s.commitIndex) s = { ...s, commitIndex };
  return result(s, [reply(s, true, lastNew, lastIndexOf(s.durable))], committed, true);
}

/** Does `x` hold chunks of the snapshot (index, term) that the leader of `m.term` sends? */
function isSameSnapshot(
  x: IncomingSnapshot | null,
  m: { readonly term: number; readonly snapshotIndex: number; readonly snapshotTerm: number },
): x is IncomingSnapshot {
  return x !== null && x.term === m.term && x.index === m.snapshotIndex && x.snapshotTerm === m.snapshotTerm;
}

function chunkReply<C>(
  from: number,
  st: RaftState<C>,
  m: Extract<RaftMessage<C>, { type: 'InstallSnapshotRequest' }>,
  nextOffset: number,
): Outbound<C> {
  const { snapshotIndex, snapshotTerm } = m;
  const recoveryNonce = st.durable.recovering ? st.recoveryNonce : null;
  const term = st.durable.currentTerm;
  return {
    to: from,
    message: { type: 'InstallSnapshotResponse', term, snapshotIndex, snapshotTerm, nextOffset, recoveryNonce },
  };
}

/**
 * Replica i receives a chunk of leader j's snapshot (Raft §7, spec ch. 6.6.2). It keeps the chunks
 * of one snapshot, named by (leader term, index, term of index), in order: a chunk of another
 * snapshot restarts the store only at offset 0, any chunk not at the store's end is refused (no
 * change; the answer names the offset to send). At the last chunk (`done`) the bytes are decoded
 * whole (bad bytes: `MalformedMessage`, no change) and, if the snapshot stands for more than i has
 * committed, i takes it: its log after the snapshot is kept if it holds the snapshot's last entry,
 * dropped otherwise; the application's state becomes the snapshot's (`installed`), and the
 * recovery nonce rule applies (`endRecovery`). A snapshot of no more than i has committed is
 * answered at once as an AppendEntries matching up to its index.
 */
export function handleInstallSnapshotRequest<C>(
  s0: RaftState<C>,
  from: number,
  m: Extract<RaftMessage<C>, { type: 'InstallSnapshotRequest' }>,
): RaftStep<C> {
  const reply = replyTo<C>(from);
  const followed = followLeader(s0, from, m.term);
  if ('step' in followed) return followed.step;
  let s = followed.s;
  if (m.snapshotIndex <= s.commitIndex) {
    if (s.incoming !== null) s = { ...s, incoming: null };
    if (m.done) s = endRecovery(s, m, m.snapshotIndex);
    return result(s, [reply(s, true, m.snapshotIndex, lastIndexOf(s.durable))], [], true);
  }
  const { term, snapshotIndex: index, snapshotTerm } = m;
  const fresh: IncomingSnapshot = { term, index, snapshotTerm, parts: [], length: 0 };
  const held = isSameSnapshot(s.incoming, m) ? s.incoming : m.offset === 0 ? fresh : null;
  if (held === null || m.offset !== held.length) {
    return result(s, [chunkReply(from, s, m, held?.length ?? 0)], [], true);
  }
  const data = Uint8Array.from(Buffer.from(m.data, 'base64'));
  const incoming: IncomingSnapshot = { ...held, parts: [...held.parts, data], length: held.length + data.length };
  if (!m.done) {
    s = { ...s, incoming };
    return result(s, [chunkReply(from, s, m, incoming.length)], [], true);
  }
  const snapshot: RaftSnapshot = {
    index,
    term: snapshotTerm,
    state: snapshotCodecOf(s.config).decode(concat(...incoming.parts)),
  };
  const d = s.durable;
  const holds = termOf(d, index) === snapshotTerm;
  const log = holds ? d.log.slice(index - snapshotIndex(d)) : [];
  s = { ...s, durable: { ...d, log, snapshot }, commitIndex: index, incoming: null };
  s = endRecovery(s, m, index);
  return { ...result(s, [reply(s, true, index, lastIndexOf(s.durable))], [], true), installed: snapshot };
}

/**
 * Replica i, the leader, learns how many bytes of a snapshot j holds: if it is its current
 * snapshot, the next chunk starts there (at 0 if that is not within it), else at 0 of its current
 * one; it sends that chunk (one in flight per peer, as for AppendEntries).
 */
export function handleInstallSnapshotResponse<C>(
  s: RaftState<C>,
  from: number,
  m: Extract<RaftMessage<C>, { type: 'InstallSnapshotResponse' }>,
): RaftStep<C> {
  if (m.term > s.durable.currentTerm) return result(becomeFollower(s, m.term, null));
  if (s.role !== 'leader' || s.leader === null || m.term !== s.durable.currentTerm) return result(s);
  const L = s.leader;
  const snapshot = s.durable.snapshot;
  const current = snapshot !== undefined && snapshot.index === m.snapshotIndex && snapshot.term === m.snapshotTerm;
  // An answer that names the offset the chunk in flight already starts at is a duplicate's (a
  // heartbeat re-sent the chunk): answering it too would start a second stream of chunks beside
  // the first, one more at every heartbeat until the install ends.
  const cursor = L.chunkCursor[from];
  const duplicate = current && cursor?.index === snapshot.index && cursor.offset === m.nextOffset;
  if (L.inflight[from] && duplicate) return result(s);
  const size = current ? encodeSnapshot(s.config, snapshot).length : 0;
  const chunkCursor = L.chunkCursor.slice();
  chunkCursor[from] = { index: snapshot?.index ?? 0, offset: m.nextOffset < size ? m.nextOffset : 0 };
  const inflight = L.inflight.slice();
  inflight[from] = false;
  const peerNonce = L.peerNonce.slice();
  peerNonce[from] = m.recoveryNonce;
  const st: RaftState<C> = { ...s, leader: { ...L, chunkCursor, inflight, peerNonce } };
  if (L.nextIndex[from]! > lastIndexOf(st.durable)) return result(st);
  const r = appendEntriesFor(st, from);
  return result(r.state, [r.out]);
}

/**
 * Replica i compacts its log: the entries up to `index` are replaced by `state`, the application's
 * state once it has applied exactly them. Only a committed index (a snapshot is never of entries a
 * new leader could replace), and the caller's state must be the one applied at `index`.
 */
export function compactLog<C>(s: RaftState<C>, index: number, state: unknown): RaftState<C> {
  const d = s.durable;
  const snap = snapshotIndex(d);
  if (!Number.isInteger(index) || index <= snap || index > s.commitIndex) {
    throw new VaultError('InvalidParameter', `snapshot index expected in ${snap + 1}..${s.commitIndex}, got ${index}`);
  }
  const snapshot: RaftSnapshot = { index, term: termOf(d, index), state };
  return { ...s, durable: { ...d, log: d.log.slice(index - snap), snapshot } };
}

/** Replica i, the leader, learns how far j's log matches; commits what a quorum holds; sends j what it lacks. */
export function handleAppendEntriesResponse<C>(
  s: RaftState<C>,
  from: number,
  m: Extract<RaftMessage<C>, { type: 'AppendEntriesResponse' }>,
): RaftStep<C> {
  if (m.term > s.durable.currentTerm) return result(becomeFollower(s, m.term, null));
  if (s.role !== 'leader' || s.leader === null || m.term !== s.durable.currentTerm) return result(s);
  const L = s.leader;
  const nextIndex = L.nextIndex.slice();
  const matchIndex = L.matchIndex.slice();
  const inflight = L.inflight.slice();
  const peerNonce = L.peerNonce.slice();
  const chunkCursor = L.chunkCursor.slice();
  const newNonce = m.recoveryNonce !== null && m.recoveryNonce !== L.peerNonce[from];
  chunkCursor[from] = null; // j answers as to an AppendEntries: a snapshot sent again starts at 0
  inflight[from] = false;
  peerNonce[from] = m.recoveryNonce;
  if (m.success) {
    // max: a delayed or replayed answer never moves a follower back
    matchIndex[from] = Math.max(matchIndex[from]!, m.matchIndex);
    nextIndex[from] = Math.max(nextIndex[from]!, matchIndex[from]! + 1);
  } else {
    // Back up (Raft §5.3). The follower's last index may be below what it once acknowledged: its
    // host rolled its log back. Then it no longer counts for those entries (matchIndex drops).
    nextIndex[from] = Math.max(1, Math.min(nextIndex[from]! - 1, m.lastLogIndex + 1));
    matchIndex[from] = Math.min(matchIndex[from]!, nextIndex[from]! - 1);
  }
  let st: RaftState<C> = { ...s, leader: { ...L, nextIndex, matchIndex, inflight, peerNonce, chunkCursor } };
  const commit = advanceCommit(st);
  st = commit.state;
  const messages: Outbound<C>[] = [];
  if (nextIndex[from]! <= lastIndexOf(st.durable) || newNonce) {
    const r = appendEntriesFor(st, from);
    st = r.state;
    messages.push(r.out);
  }
  return result(st, messages, commit.committed);
}

/** Dispatches a message from replica `from` to its handler. */
export function handleRaftMessage<C>(s: RaftState<C>, from: number, m: RaftMessage<C>): RaftStep<C> {
  switch (m.type) {
    case 'RequestVoteRequest':
      return handleRequestVoteRequest(s, from, m);
    case 'RequestVoteResponse':
      return handleRequestVoteResponse(s, from, m);
    case 'AppendEntriesRequest':
      return handleAppendEntriesRequest(s, from, m);
    case 'AppendEntriesResponse':
      return handleAppendEntriesResponse(s, from, m);
    case 'InstallSnapshotRequest':
      return handleInstallSnapshotRequest(s, from, m);
    case 'InstallSnapshotResponse':
      return handleInstallSnapshotResponse(s, from, m);
  }
}
