/**
 * Broken replicas and consensus: each undoes one rule of spec ch. 6 from outside, by wrapping a
 * step of replica.ts's `ReplicaSteps` or by handing the runtime another commit quorum.
 * @module
 */
import { entryAt, lastIndexOf, majority, snapshotIndex, termOf } from '../replication/raft.ts';
import { type VaultRecord, type VaultState, applyCommand } from '../vault/records.ts';
import { type ReplicaState, type ReplicaStep, type ReplicaSteps, committedGhosts } from '../replication/replica.ts';

/**
 * ke2-before-commit: the leader applies a ConsumeGuess (and sends its KE2) as soon as the entry is
 * in its own log, not once a majority holds it (G1, INV-3). Applying it again at commit is then a
 * refused no-op (the session is already pending).
 */
export function ke2BeforeCommit(r: ReplicaSteps): ReplicaSteps {
  return {
    ...r,
    handleClientFrame(s, frame, env) {
      const step = r.handleClientFrame(s, frame, env);
      const first = lastIndexOf(s.raft.durable) + 1; // the first entry this step appended
      let node = step.state.node;
      const frames = [...step.frames];
      const ghost = [...step.ghost];
      for (let index = first; index <= lastIndexOf(step.state.raft.durable); index++) {
        const entry = entryAt(step.state.raft.durable, index);
        const cmd = entry?.command;
        if (cmd?.type !== 'ConsumeGuess' || index <= step.state.lastApplied) continue;
        const early = env.vault.onCommitted(node, cmd, env);
        ghost.push(...committedGhosts(node, cmd, index, entry!.term, early));
        node = early.node;
        frames.push(...early.frames);
      }
      return { ...step, state: { ...step.state, node }, frames, ghost };
    },
  };
}

/** commit-at-half: an entry counts as committed on floor(N/2) replicas, one short of a majority. */
export function commitAtHalf(n: number): number {
  return Math.max(1, majority(n) - 1);
}

/**
 * vote-without-log-check: a voter grants its vote without checking that the candidate's log is at
 * least as up to date as its own (Raft §5.4.1; INV-10). From outside: the voter is shown the
 * request of a candidate whose log is as long and as recent as any.
 */
export function voteWithoutLogCheck(r: ReplicaSteps): ReplicaSteps {
  return {
    ...r,
    handlePeerMessage(s, from, m, env) {
      if (m.type !== 'RequestVoteRequest') return r.handlePeerMessage(s, from, m, env);
      const blind = { ...m, lastLogIndex: Number.MAX_SAFE_INTEGER, lastLogTerm: Number.MAX_SAFE_INTEGER };
      return r.handlePeerMessage(s, from, blind, env);
    },
  };
}

/**
 * snapshot-beyond-commit: a replica that receives entries compacts its whole log, those not yet
 * committed included, into a snapshot of the records as they would be once applied (spec ch. 6,
 * "Snapshots": a snapshot stands only for committed entries; INV-11). From outside: the snapshot
 * is written into the durable state after the step, as `compactLog` would refuse it.
 */
export function snapshotBeyondCommit(r: ReplicaSteps): ReplicaSteps {
  return {
    ...r,
    handlePeerMessage(s, from, m, env) {
      const step = r.handlePeerMessage(s, from, m, env);
      const st = step.state;
      const d = st.raft.durable;
      const every = st.raft.config.snapshotEvery ?? 1;
      const last = lastIndexOf(d);
      if (last <= st.raft.commitIndex || last - snapshotIndex(d) < every) return step;
      let vault = st.node.vault;
      for (let index = st.lastApplied + 1; index <= last; index++) {
        const cmd = entryAt(d, index)?.command;
        if (cmd) vault = applyCommand(vault, cmd).state;
      }
      const snapshot = { index: last, term: termOf(d, last), state: vault };
      return { ...step, state: { ...st, raft: { ...st.raft, durable: { ...d, log: [], snapshot } } } };
    },
  };
}

/** The records with every pending session dropped and its guess given back. */
function withoutPending(vault: VaultState): VaultState {
  const records: Record<string, VaultRecord> = {};
  for (const [id, r] of Object.entries(vault.records)) {
    const spent = Object.keys(r.pending).length;
    records[id] = spent === 0 ? r : { ...r, attemptsUsed: r.attemptsUsed - spent, pending: {} };
  }
  return { records };
}

/**
 * snapshot-drops-pending: a replica's snapshot leaves out its pending sessions and gives their
 * guesses back (G2, G5): a replica restarted from it, or a follower that installs it, counts fewer
 * guesses than were spent. From outside: the snapshot a step took is rewritten before it is sealed.
 */
export function snapshotDropsPending(r: ReplicaSteps): ReplicaSteps {
  const wrap =
    <A extends unknown[]>(step: (s: ReplicaState, ...a: A) => ReplicaStep) =>
    (s: ReplicaState, ...a: A): ReplicaStep => {
      const out = step(s, ...a);
      const d = out.state.raft.durable;
      const snap = d.snapshot;
      if (snap === undefined || snap === s.raft.durable.snapshot) return out;
      const snapshot = { ...snap, state: withoutPending(snap.state as VaultState) };
      return { ...out, state: { ...out.state, raft: { ...out.state.raft, durable: { ...d, snapshot } } } };
    };
  return {
    handleClientFrame: wrap(r.handleClientFrame),
    handlePeerMessage: wrap(r.handlePeerMessage),
    onElectionTimeout: wrap(r.onElectionTimeout),
    onHeartbeat: wrap(r.onHeartbeat),
    onSessionExpiry: wrap(r.onSessionExpiry),
    proposeCommand: wrap(r.proposeCommand),
  };
}

/**
 * snapshot-chunk-unchecked: a follower takes an InstallSnapshot chunk at the offset where the
 * bytes it holds end, without checking that they are of the chunk's snapshot (spec ch. 6.6.2):
 * when the leader compacts again in the middle of a transfer, its new snapshot's chunks go on from
 * the old one's bytes, and a splice of the two is installed as the new one. From outside: the
 * bytes held are relabelled as the arriving chunk's snapshot before the step.
 */
export function snapshotChunkUnchecked(r: ReplicaSteps): ReplicaSteps {
  return {
    ...r,
    handlePeerMessage(s, from, m, env) {
      const held = s.raft.incoming;
      if (m.type !== 'InstallSnapshotRequest' || held === null) return r.handlePeerMessage(s, from, m, env);
      const incoming = { ...held, term: m.term, index: m.snapshotIndex, snapshotTerm: m.snapshotTerm };
      return r.handlePeerMessage({ ...s, raft: { ...s.raft, incoming } }, from, m, env);
    },
  };
}
