/**
 * Consensus as pure step functions (src/replication/raft.ts), the sealed durable state and the
 * ballot (durable.ts), authenticated peer messages (peer-auth.ts), and the safety monitor
 * (safety.ts): each rule on a worked example, the edge cases, and each check shown able to fail.
 */
import { describe, expect, test } from 'vitest';
import { seededRng } from '../src/crypto/rng.ts';
import { concat, utf8 } from '../src/crypto/bytes.ts';
import { isVaultError } from '../src/errors.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { initialNode } from '../src/vault/node.ts';
import type { Command, VaultState } from '../src/vault/records.ts';
import { MemoryHostStorage, type Version } from '../src/vault/storage.ts';
import {
  type Persistence,
  SEALED_PERSISTENCE,
  decodeBallot,
  encodeBallot,
  persistDurable,
  readAnchor,
} from '../src/replication/durable.ts';
import { TRUST_HOST_STORAGE, VERSION_REUSE, VOTE_NOT_PERSISTED } from '../src/broken/persistence.ts';
import { commitAtHalf } from '../src/broken/replica.ts';
import { hsmView } from '../src/hsm/hsm.ts';
import { VAULT_STEPS } from '../src/vault/node.ts';
import { type PeerEnvelope, openPeerMessage, readVaultCommand, sealPeerMessage } from '../src/replication/peer-auth.ts';
import {
  type Durable,
  type Entry,
  type RaftConfig,
  type RaftMessage,
  type RaftState,
  type RaftStep,
  EMPTY_DURABLE,
  checkFleetSize,
  handleAppendEntriesRequest,
  handleAppendEntriesResponse,
  handleRaftMessage,
  handleRequestVoteRequest,
  handleRequestVoteResponse,
  initialRaftState,
  majority,
  onElectionTimeout,
  onHeartbeat,
  proposeCommands,
  restartRaft,
} from '../src/replication/raft.ts';
import { handleClientFrame, isRedirect, restartReplica } from '../src/replication/replica.ts';
import { InvariantViolation, entryKey } from '../src/check/invariants.ts';
import { SafetyMonitor } from '../src/sim/monitor.ts';

type S = RaftState<string>;
type M = RaftMessage<string>;
const cfg = (id: number, n = 3, maxBatch = 64): RaftConfig => ({ id, n, maxBatch });
const msg = <T extends M['type']>(step: RaftStep<string>, to: number, type: T): Extract<M, { type: T }> => {
  const out = step.messages.find((o) => o.to === to && o.message.type === type);
  if (!out) throw new Error(`no ${type} to ${to}`);
  return out.message as Extract<M, { type: T }>;
};
const entries = (...terms: number[]): Entry<string>[] => terms.map((term, i) => ({ term, command: `c${i + 1}` }));
const withLog = (s: S, log: readonly Entry<string>[], term = log.at(-1)?.term ?? 0): S => ({
  ...s,
  durable: { ...s.durable, log, currentTerm: term },
});

/** Elects replica 0 of an n-fleet by delivering RequestVote and the answers; returns every state. */
function elect(n: number): S[] {
  const states = Array.from({ length: n }, (_, i) => initialRaftState<string>(cfg(i, n)));
  let t = onElectionTimeout(states[0]!);
  states[0] = t.state;
  for (let j = 1; j < n; j++) {
    const v = handleRequestVoteRequest(states[j]!, 0, msg(t, j, 'RequestVoteRequest'));
    states[j] = v.state;
    const r: RaftStep<string> = handleRequestVoteResponse(states[0]!, j, msg(v, 0, 'RequestVoteResponse'));
    states[0] = r.state;
  }
  return states;
}

describe('elections (Raft §5.2)', () => {
  test('a timeout makes a follower a candidate of the next term that votes for itself and asks every peer', () => {
    const s = initialRaftState<string>(cfg(1, 5));
    const t = onElectionTimeout(s);
    expect(t.state.role).toBe('candidate');
    expect(t.state.durable).toMatchObject({ currentTerm: 1, votedFor: 1 });
    expect(t.messages.map((m) => m.to).sort()).toEqual([0, 2, 3, 4]);
    expect(msg(t, 0, 'RequestVoteRequest')).toEqual({
      type: 'RequestVoteRequest',
      term: 1,
      lastLogIndex: 0,
      lastLogTerm: 0,
    });
  });

  test('a fleet of one elects itself at once and commits its no-op', () => {
    const t = onElectionTimeout(initialRaftState<string>(cfg(0, 1)));
    expect(t.state.role).toBe('leader');
    expect(t.committed).toEqual([{ index: 1, entry: { term: 1, command: null } }]);
  });

  test('a vote is granted once per term: again to the same candidate (a duplicate), never to another', () => {
    const v = initialRaftState<string>(cfg(1));
    const ask: Extract<M, { type: 'RequestVoteRequest' }> = {
      type: 'RequestVoteRequest',
      term: 1,
      lastLogIndex: 0,
      lastLogTerm: 0,
    };
    const a = handleRequestVoteRequest(v, 0, ask);
    expect(msg(a, 0, 'RequestVoteResponse').voteGranted).toBe(true);
    expect(a.state.durable.votedFor).toBe(0);
    expect(msg(handleRequestVoteRequest(a.state, 0, ask), 0, 'RequestVoteResponse').voteGranted).toBe(true);
    const b = handleRequestVoteRequest(a.state, 2, ask);
    expect(msg(b, 2, 'RequestVoteResponse').voteGranted).toBe(false);
    expect(b.state.durable.votedFor).toBe(0);
  });

  test('no vote for a stale term, nor for a log less up-to-date than the voter (§5.4.1)', () => {
    const voter = withLog(initialRaftState<string>(cfg(1)), entries(1, 2), 2);
    const stale = handleRequestVoteRequest(voter, 0, {
      type: 'RequestVoteRequest',
      term: 1,
      lastLogIndex: 9,
      lastLogTerm: 1,
    });
    expect(msg(stale, 0, 'RequestVoteResponse')).toEqual({ type: 'RequestVoteResponse', term: 2, voteGranted: false });
    const olderTerm = handleRequestVoteRequest(voter, 0, {
      type: 'RequestVoteRequest',
      term: 3,
      lastLogIndex: 9,
      lastLogTerm: 1,
    });
    expect(msg(olderTerm, 0, 'RequestVoteResponse').voteGranted).toBe(false);
    expect(olderTerm.state.durable).toMatchObject({ currentTerm: 3, votedFor: null }); // the term is adopted anyway
    const shorter = handleRequestVoteRequest(voter, 0, {
      type: 'RequestVoteRequest',
      term: 3,
      lastLogIndex: 1,
      lastLogTerm: 2,
    });
    expect(msg(shorter, 0, 'RequestVoteResponse').voteGranted).toBe(false);
    const asGood = handleRequestVoteRequest(voter, 0, {
      type: 'RequestVoteRequest',
      term: 3,
      lastLogIndex: 2,
      lastLogTerm: 2,
    });
    expect(msg(asGood, 0, 'RequestVoteResponse').voteGranted).toBe(true);
  });

  test('a recovering replica never votes, but adopts the newer term', () => {
    const r = restartRaft<string>(cfg(1), { ...EMPTY_DURABLE, currentTerm: 4, recovering: true }, 'n1');
    const t = handleRequestVoteRequest(r, 0, { type: 'RequestVoteRequest', term: 5, lastLogIndex: 9, lastLogTerm: 4 });
    expect(msg(t, 0, 'RequestVoteResponse').voteGranted).toBe(false);
    expect(t.state.durable).toMatchObject({ currentTerm: 5, votedFor: null, recovering: true });
    expect(onElectionTimeout(r).state.role).toBe('follower'); // nor does it campaign
  });

  test('a majority of votes makes a leader, which appends a no-op and sends it; a duplicate vote counts once', () => {
    const n = 5;
    let c = onElectionTimeout(initialRaftState<string>(cfg(0, n))).state;
    const yes: Extract<M, { type: 'RequestVoteResponse' }> = {
      type: 'RequestVoteResponse',
      term: 1,
      voteGranted: true,
    };
    c = handleRequestVoteResponse(c, 1, yes).state;
    c = handleRequestVoteResponse(c, 1, yes).state;
    expect(c.role).toBe('candidate'); // 2 distinct votes of 5: not yet
    const won = handleRequestVoteResponse(c, 2, yes);
    expect(won.state.role).toBe('leader');
    expect(won.state.durable.log).toEqual([{ term: 1, command: null }]);
    expect(won.messages).toHaveLength(n - 1);
    expect(msg(won, 3, 'AppendEntriesRequest')).toMatchObject({
      term: 1,
      prevLogIndex: 0,
      entries: [{ term: 1, command: null }],
    });
  });

  test('a higher term in any message makes a leader or candidate step down', () => {
    const [leader] = elect(3);
    const t = handleAppendEntriesResponse(leader!, 1, {
      type: 'AppendEntriesResponse',
      term: 7,
      success: false,
      matchIndex: 0,
      lastLogIndex: 0,
      recoveryNonce: null,
    });
    expect(t.state).toMatchObject({ role: 'follower', leader: null, durable: { currentTerm: 7, votedFor: null } });
  });

  test('a candidate asks again, on its heartbeat, the peers that have not granted', () => {
    let c = onElectionTimeout(initialRaftState<string>(cfg(0, 5))).state;
    c = handleRequestVoteResponse(c, 3, { type: 'RequestVoteResponse', term: 1, voteGranted: true }).state;
    expect(
      onHeartbeat(c)
        .messages.map((m) => m.to)
        .sort(),
    ).toEqual([1, 2, 4]);
  });

  test('fleet sizes: odd, 1..9', () => {
    for (const n of [1, 3, 5, 7, 9]) expect(checkFleetSize(n)).toBe(n);
    for (const n of [0, 2, 4, 10, 11, 1.5]) expect(() => checkFleetSize(n)).toThrow(/fleet size/);
    expect(majority(5)).toBe(3);
  });
});

describe('log replication and commitment (Raft §5.3, §5.4)', () => {
  test(
    'a follower refuses an AppendEntries whose previous entry it lacks, with a hint; ' + 'a stale term is refused',
    () => {
      const f = withLog(initialRaftState<string>(cfg(1)), entries(1, 1), 1);
      const gap = handleAppendEntriesRequest(f, 0, {
        type: 'AppendEntriesRequest',
        term: 1,
        prevLogIndex: 5,
        prevLogTerm: 1,
        entries: [],
        leaderCommit: 0,
        leaderLastIndex: 5,
        recoveryNonce: null,
      });
      expect(msg(gap, 0, 'AppendEntriesResponse')).toMatchObject({ success: false, lastLogIndex: 2 });
      const mismatch = handleAppendEntriesRequest(f, 0, {
        type: 'AppendEntriesRequest',
        term: 2,
        prevLogIndex: 2,
        prevLogTerm: 2,
        entries: [],
        leaderCommit: 0,
        leaderLastIndex: 2,
        recoveryNonce: null,
      });
      expect(msg(mismatch, 0, 'AppendEntriesResponse')).toMatchObject({ success: false, lastLogIndex: 1 });
      const newer = withLog(f, f.durable.log, 3);
      const stale = handleAppendEntriesRequest(newer, 0, {
        type: 'AppendEntriesRequest',
        term: 2,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: entries(2),
        leaderCommit: 1,
        leaderLastIndex: 1,
        recoveryNonce: null,
      });
      expect(msg(stale, 0, 'AppendEntriesResponse')).toMatchObject({ term: 3, success: false });
      expect(stale.state).toBe(newer);
    },
  );

  test('a conflicting suffix is replaced; an old, duplicated AppendEntries removes nothing', () => {
    const f = withLog(initialRaftState<string>(cfg(1)), [...entries(1, 1), { term: 1, command: 'stale' }], 1);
    const leaderEntries: Entry<string>[] = [
      { term: 2, command: 'new3' },
      { term: 2, command: 'new4' },
    ];
    const t = handleAppendEntriesRequest(f, 0, {
      type: 'AppendEntriesRequest',
      term: 2,
      prevLogIndex: 2,
      prevLogTerm: 1,
      entries: leaderEntries,
      leaderCommit: 3,
      leaderLastIndex: 4,
      recoveryNonce: null,
    });
    expect(t.state.durable.log.map((e) => e.command)).toEqual(['c1', 'c2', 'new3', 'new4']);
    expect(t.committed.map((c) => c.index)).toEqual([1, 2, 3]); // min(leaderCommit, last new entry)
    const old = handleAppendEntriesRequest(t.state, 0, {
      type: 'AppendEntriesRequest',
      term: 2,
      prevLogIndex: 2,
      prevLogTerm: 1,
      entries: leaderEntries.slice(0, 1),
      leaderCommit: 1,
      leaderLastIndex: 3,
      recoveryNonce: null,
    });
    expect(old.state.durable.log).toBe(t.state.durable.log);
    expect(old.committed).toEqual([]);
  });

  test('an entry commits at a majority, not before', () => {
    const n = 5;
    let L = elect(n)[0]!;
    L = proposeCommands(L, ['x']).state;
    const ack = (match: number): Extract<M, { type: 'AppendEntriesResponse' }> => ({
      type: 'AppendEntriesResponse',
      term: 1,
      success: true,
      matchIndex: match,
      lastLogIndex: match,
      recoveryNonce: null,
    });
    const one = handleAppendEntriesResponse(L, 1, ack(2));
    expect(one.state.commitIndex).toBe(0); // 2 of 5
    const two = handleAppendEntriesResponse(one.state, 2, ack(2));
    expect(two.state.commitIndex).toBe(2); // 3 of 5
    expect(two.committed.map((c) => c.entry.command)).toEqual([null, 'x']);
    const again = handleAppendEntriesResponse(two.state, 2, ack(1)); // a replayed, older answer
    expect(again.state.leader!.matchIndex[2]).toBe(2);
    expect(again.committed).toEqual([]);
  });

  test('the broken variant commit-at-half (a commit quorum one short of a majority) commits on 2 of 5', () => {
    let L = elect(5)[0]!;
    L = { ...L, config: { ...L.config, commitQuorum: commitAtHalf(5) } };
    L = proposeCommands(L, ['x']).state;
    const one = handleAppendEntriesResponse(L, 1, {
      type: 'AppendEntriesResponse',
      term: 1,
      success: true,
      matchIndex: 2,
      lastLogIndex: 2,
      recoveryNonce: null,
    });
    expect(one.state.commitIndex).toBe(2);
  });

  test('an entry of an earlier term is not committed by counting replicas (Raft §5.4.2, figure 8)', () => {
    // leader of term 3 whose log holds an entry of term 2 at index 2, replicated on a majority
    let L = withLog(initialRaftState<string>(cfg(0, 3)), entries(1, 2), 2);
    L = onElectionTimeout(L).state; // term 3
    L = handleRequestVoteResponse(L, 1, { type: 'RequestVoteResponse', term: 3, voteGranted: true }).state;
    expect(L.durable.log.map((e) => e.term)).toEqual([1, 2, 3]); // the no-op of term 3 at index 3
    const partial = handleAppendEntriesResponse(L, 1, {
      type: 'AppendEntriesResponse',
      term: 3,
      success: true,
      matchIndex: 2,
      lastLogIndex: 2,
      recoveryNonce: null,
    });
    expect(partial.state.commitIndex).toBe(0); // index 2 is on 2 of 3, but of term 2
    const full = handleAppendEntriesResponse(partial.state, 1, {
      type: 'AppendEntriesResponse',
      term: 3,
      success: true,
      matchIndex: 3,
      lastLogIndex: 3,
      recoveryNonce: null,
    });
    expect(full.state.commitIndex).toBe(3);
  });

  test('batching: while an AppendEntries is in flight, proposals wait and then leave together', () => {
    let L = elect(3)[0]!;
    expect(L.leader!.inflight[1]).toBe(true);
    const p1 = proposeCommands(L, ['a']);
    expect(p1.messages.filter((m) => m.to === 1)).toEqual([]); // busy: waits
    L = proposeCommands(proposeCommands(p1.state, ['b', 'c']).state, ['d']).state;
    const answered = handleAppendEntriesResponse(L, 1, {
      type: 'AppendEntriesResponse',
      term: 1,
      success: true,
      matchIndex: 1,
      lastLogIndex: 1,
      recoveryNonce: null,
    });
    expect(msg(answered, 1, 'AppendEntriesRequest').entries.map((e) => e.command)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a follower whose log was rolled back below what it acknowledged no longer counts for it', () => {
    let L = elect(3)[0]!;
    L = handleAppendEntriesResponse(L, 1, {
      type: 'AppendEntriesResponse',
      term: 1,
      success: true,
      matchIndex: 1,
      lastLogIndex: 1,
      recoveryNonce: null,
    }).state;
    expect(L.leader!.matchIndex[1]).toBe(1);
    const t = handleAppendEntriesResponse(L, 1, {
      type: 'AppendEntriesResponse',
      term: 1,
      success: false,
      matchIndex: 0,
      lastLogIndex: 0,
      recoveryNonce: 'n',
    });
    expect(t.state.leader!).toMatchObject({ matchIndex: [0, 0, 0], nextIndex: [1, 1, 1] });
    expect(msg(t, 1, 'AppendEntriesRequest')).toMatchObject({ prevLogIndex: 0, recoveryNonce: 'n' });
  });
});

describe('recovery after a rollback: the recovery nonce', () => {
  const leaderLog = entries(1, 1, 1);
  const recovering = () =>
    restartRaft<string>(cfg(1), { currentTerm: 1, votedFor: 0, log: [], recovering: true }, 'fresh');
  const append = (nonce: string | null, last = 3): Extract<M, { type: 'AppendEntriesRequest' }> => ({
    type: 'AppendEntriesRequest',
    term: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: leaderLog,
    leaderCommit: 3,
    leaderLastIndex: last,
    recoveryNonce: nonce,
  });

  test('a recovering replica reports its nonce in every answer', () => {
    const t = handleAppendEntriesRequest(recovering(), 0, append(null));
    expect(msg(t, 0, 'AppendEntriesResponse').recoveryNonce).toBe('fresh');
  });

  test(
    'an old or replayed AppendEntries (without the fresh nonce) ' +
      'does not end the recovery, even with the whole log',
    () => {
      expect(handleAppendEntriesRequest(recovering(), 0, append(null)).state.durable.recovering).toBe(true);
      expect(handleAppendEntriesRequest(recovering(), 0, append('an older nonce')).state.durable.recovering).toBe(true);
    },
  );

  test('the echoed nonce with the leader whole log ends it; a partial batch does not', () => {
    expect(handleAppendEntriesRequest(recovering(), 0, append('fresh', 4)).state.durable.recovering).toBe(true);
    const done = handleAppendEntriesRequest(recovering(), 0, append('fresh'));
    expect(done.state.durable.recovering).toBe(false);
    expect(msg(done, 0, 'AppendEntriesResponse').recoveryNonce).toBeNull();
  });

  test('a recovering replica must be given a nonce', () => {
    expect(() => restartRaft(cfg(1), { ...EMPTY_DURABLE, recovering: true }, null)).toThrow(/nonce/);
  });
});

describe('sealed durable state and the ballot (durable.ts)', () => {
  function store(persistence: Persistence = SEALED_PERSISTENCE) {
    const rng = seededRng('durable');
    const hsm = MemoryHsm.create('d', rng);
    hsm.generateKey('seal', 'aes256gcm');
    const s = { hsm, sealLabel: 'seal', storage: new MemoryHostStorage() };
    return {
      rng,
      s,
      load: () => persistence.load<string>(s, rng),
      persist: (v: Version, d: Durable<string>) => persistence.persist(s, v, d, rng),
    };
  }
  const d1: Durable<string> = { currentTerm: 3, votedFor: 2, log: entries(1, 3), recovering: false };
  const d2: Durable<string> = { currentTerm: 4, votedFor: null, log: entries(1, 3, 4), recovering: false };
  const LIFE = 1n << 32n;

  test('the ballot holds term and vote, and only grows', () => {
    expect(decodeBallot(encodeBallot(7, null))).toEqual({ term: 7, votedFor: null });
    expect(decodeBallot(encodeBallot(7, 8))).toEqual({ term: 7, votedFor: 8 });
    expect(encodeBallot(7, null) < encodeBallot(7, 0)).toBe(true);
    expect(encodeBallot(7, 8) < encodeBallot(8, null)).toBe(true);
  });

  test('a restart reads back what was sealed, in a new life; the host sees ciphertext only', () => {
    const { s, load, persist } = store();
    // a start seals what it resumes from as its life's first save (the reseal)
    expect(load()).toEqual({ durable: EMPTY_DURABLE, version: LIFE + 1n, rolledBack: false });
    const v = persist(persist(LIFE + 1n, d1), d2);
    expect(v).toBe(LIFE + 3n);
    expect(load()).toEqual({ durable: d2, version: 2n * LIFE + 1n, rolledBack: false });
    expect(readAnchor(s)).toBe(2n * LIFE + 1n); // the reseal is anchored: every earlier blob is now refused
    expect(persist(2n * LIFE + 1n, d2)).toBe(2n * LIFE + 2n); // the next life numbers its saves anew
    expect(new TextDecoder().decode(s.storage.load()!)).not.toContain('currentTerm');
  });

  test('a rolled-back or lost blob is detected: the replica restarts recovering, term and vote from the ballot', () => {
    const { s, load, persist } = store();
    persist(persist(LIFE, d1), { ...d2, votedFor: 1 });
    s.storage.rollback(1);
    expect(load()).toMatchObject({
      rolledBack: true,
      durable: { currentTerm: 4, votedFor: 1, log: [], recovering: true },
    });
    s.storage.rollback(s.storage.history.length);
    expect(s.storage.load()).toBeNull();
    expect(load()).toMatchObject({ rolledBack: true, durable: { currentTerm: 4, votedFor: 1, recovering: true } });
  });

  test('no version is reused: an orphan written before a crash is refused once a later life has saved', () => {
    const { s, load, persist } = store();
    const life1 = load().version;
    persist(life1, d1); // (1.1), anchored
    // (1.2) is written, then the host kills the replica before the anchor moves: an orphan
    const anchor = hsmView(s.hsm, { advanceCounter: () => void 0 });
    SEALED_PERSISTENCE.persist({ ...s, hsm: anchor }, life1 + 1n, { ...d2, votedFor: 0 }, seededRng('orphan'));
    const orphan = s.storage.history.length - 1;
    s.storage.present(orphan - 1); // the host restarts it on (1.1), which the anchor names: accepted
    const life2 = load();
    expect(life2).toMatchObject({ rolledBack: false, durable: d1 });
    persist(life2.version, { ...d2, votedFor: 2 }); // (2.1): another vote in term 4, anchored
    s.storage.present(orphan); // the host swaps the orphan back in
    expect(load()).toMatchObject({
      rolledBack: true,
      durable: { currentTerm: 4, votedFor: 2, log: [], recovering: true },
    });
  });

  test('the broken variant version-reuse lets the host choose between two blobs of one version', () => {
    const { s, load, persist } = store(VERSION_REUSE);
    persist(load().version, d1);
    const anchor = hsmView(s.hsm, { advanceCounter: () => void 0 });
    VERSION_REUSE.persist({ ...s, hsm: anchor }, readAnchor(s), { ...d2, votedFor: 0 }, seededRng('orphan'));
    const orphan = s.storage.history.length - 1;
    s.storage.present(orphan - 1);
    persist(load().version, d2); // numbered like the orphan
    s.storage.present(orphan);
    expect(load()).toMatchObject({ rolledBack: false, durable: { currentTerm: 4, votedFor: 0 } });
  });

  test(
    'an altered or foreign blob is treated as lost: ' +
      'recovering, term and vote from the ballot, the anchor moves on',
    () => {
      const { rng, s, load, persist } = store();
      persist(persist(load().version, d1), { ...d2, votedFor: 1 });
      const blob = s.storage.load()!;
      s.storage.save(Uint8Array.from(blob, (b, i) => (i === blob.length - 1 ? b ^ 1 : b)));
      expect(load()).toMatchObject({
        rolledBack: true,
        durable: { currentTerm: 4, votedFor: 1, log: [], recovering: true },
      });
      // the recovering state is resealed as life 2's first save: the anchor moves past every earlier blob
      expect(readAnchor(s)).toBe(2n * LIFE + 1n);
      const foreign = MemoryHsm.create('d', seededRng('another replica'));
      foreign.generateKey('seal', 'aes256gcm');
      const theirs = { hsm: foreign, sealLabel: 'seal', storage: new MemoryHostStorage() };
      // ahead of ours
      persistDurable(theirs, persistDurable(theirs, persistDurable(theirs, 9n * LIFE, d1, rng), d1, rng), d2, rng);
      s.storage.save(theirs.storage.load()!); // sealed under another replica's key
      expect(load()).toMatchObject({ rolledBack: true, durable: { currentTerm: 4, votedFor: 1, recovering: true } });
      expect(readAnchor(s)).toBe(3n * LIFE + 1n);
    },
  );

  test('the broken variant trust-host-storage takes the rolled-back blob as it comes', () => {
    const { s, load, persist } = store(TRUST_HOST_STORAGE);
    persist(persist(LIFE, d1), d2);
    s.storage.rollback(1);
    expect(load()).toMatchObject({ durable: d1, rolledBack: false });
  });

  test('the broken variant vote-not-persisted forgets the vote across a restart', () => {
    const { load, persist } = store(VOTE_NOT_PERSISTED);
    persist(LIFE, d1);
    expect(load().durable.votedFor).toBeNull();
  });

  test('a vote that is not persisted lets a restarted voter elect two leaders in one term (INV-8 catches it)', () => {
    // The minimal trace, step by step: r0 and r2 campaign in term 1; r1 votes for r0; r1 restarts;
    // r1 votes for r2. With the ballot, r1 refuses; with the broken variant, two leaders of term 1.
    for (const persistence of [SEALED_PERSISTENCE, VOTE_NOT_PERSISTED]) {
      const { load, persist } = store(persistence);
      const monitor = new SafetyMonitor(3);
      const c = (i: number) => cfg(i, 3);
      const a = onElectionTimeout(initialRaftState<string>(c(0)));
      const b = onElectionTimeout(initialRaftState<string>(c(2)));
      const vote1 = handleRequestVoteRequest(initialRaftState<string>(c(1)), 0, msg(a, 1, 'RequestVoteRequest'));
      persist(LIFE, vote1.state.durable);
      const leaderA = handleRequestVoteResponse(a.state, 1, msg(vote1, 0, 'RequestVoteResponse')).state;
      monitor.onBecameLeader(0, leaderA.durable.currentTerm);
      const restarted = restartRaft<string>(c(1), load().durable, null); // r1 crashes and restarts
      const vote2 = handleRequestVoteRequest(restarted, 2, msg(b, 1, 'RequestVoteRequest'));
      const leaderB = handleRequestVoteResponse(b.state, 1, msg(vote2, 2, 'RequestVoteResponse')).state;
      if (persistence === SEALED_PERSISTENCE) {
        expect(leaderB.role).toBe('candidate');
      } else {
        expect(leaderB.role).toBe('leader');
        expect(() => monitor.onBecameLeader(2, leaderB.durable.currentTerm)).toThrow(/INV-8/);
      }
    }
  });
});

describe('authenticated peer messages (peer-auth.ts)', () => {
  const rng = seededRng('mac');
  const hsm = MemoryHsm.create('m', rng);
  hsm.generateKey('mac', 'hmac-sha256');
  const other = MemoryHsm.create('o', rng);
  other.generateKey('mac', 'hmac-sha256');
  const m: RaftMessage<Command> = { type: 'RequestVoteResponse', term: 3, voteGranted: true };
  const open = (me: number, e: PeerEnvelope) => openPeerMessage(hsm, 'mac', me, e, readVaultCommand);
  const refusedWith = (code: 'PeerAuthenticationFailed' | 'MalformedMessage', f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return isVaultError(err, code);
    }
    return false;
  };

  test('a sealed message opens at its addressee', () => {
    expect(open(2, sealPeerMessage(hsm, 'mac', 1, 2, m))).toEqual(m);
    const append: RaftMessage<Command> = {
      type: 'AppendEntriesRequest',
      term: 2,
      prevLogIndex: 1,
      prevLogTerm: 1,
      leaderCommit: 1,
      leaderLastIndex: 3,
      recoveryNonce: null,
      entries: [
        { term: 2, command: null },
        { term: 2, command: { type: 'ConsumeGuess', credentialId: 'ab', sessionId: '01', at: 12.5 } },
      ],
    };
    expect(open(2, sealPeerMessage(hsm, 'mac', 1, 2, append))).toEqual(append);
  });

  test('altered, misdirected, re-attributed or foreign messages are refused with PeerAuthenticationFailed', () => {
    const e = sealPeerMessage(hsm, 'mac', 1, 2, m);
    const refused = (f: () => unknown) => refusedWith('PeerAuthenticationFailed', f);
    expect(refused(() => open(2, { ...e, body: e.body.replace('true', 'false') }))).toBe(true);
    expect(refused(() => open(2, { ...e, body: `${e.body} ` }))).toBe(true);
    expect(refused(() => open(0, { ...e, to: 0 }))).toBe(true); // redirected: a vote for 2 is not a vote for 0
    expect(refused(() => open(0, e))).toBe(true);
    expect(refused(() => open(2, { ...e, from: 0 }))).toBe(true);
    expect(refused(() => open(2, sealPeerMessage(other, 'mac', 1, 2, m)))).toBe(true);
  });

  test('an authentic body that is not a RaftMessage of vault commands is refused with MalformedMessage', () => {
    // what a key holder with a bug could send: any body, with a valid MAC (spec ch. 6 §6.5)
    const sealBody = (body: string): PeerEnvelope => ({
      from: 1,
      to: 2,
      body,
      mac: hsm.hmac('mac', concat(utf8('bkv/raft/v1'), Uint8Array.of(1), Uint8Array.of(2), utf8(body))),
    });
    expect(open(2, sealBody(JSON.stringify(m)))).toEqual(m); // the test's own MAC input is the real one
    const bad = [
      'not json',
      'null',
      JSON.stringify({ ...m, extra: 1 }),
      JSON.stringify({ ...m, term: -1 }),
      JSON.stringify({ ...m, voteGranted: 'yes' }),
      JSON.stringify({ type: 'Gossip', term: 1 }),
      JSON.stringify({
        type: 'AppendEntriesRequest',
        term: 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        leaderCommit: 0,
        leaderLastIndex: 0,
        recoveryNonce: null,
        entries: [{ term: 1, command: { type: 'Reset', credentialId: 'ab' } }],
      }),
      JSON.stringify({
        type: 'AppendEntriesRequest',
        term: 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        leaderCommit: 0,
        leaderLastIndex: 0,
        recoveryNonce: null,
        entries: [{ term: 1, command: { type: 'Delete', credentialId: 'AB' } }],
      }),
      JSON.stringify({
        type: 'AppendEntriesResponse',
        term: 1,
        success: true,
        matchIndex: 0,
        lastLogIndex: 0,
        recoveryNonce: 7,
      }),
    ];
    for (const body of bad)
      expect(
        refusedWith('MalformedMessage', () => open(2, sealBody(body))),
        body,
      ).toBe(true);
  });
});

describe('the replica answers clients only when it serves (replica.ts)', () => {
  test('a follower redirects with its leader hint, a leader not yet serving says Unavailable; nothing changes', () => {
    const hsm = MemoryHsm.create('x', seededRng('x'));
    const env = { hsm, rng: seededRng('e'), now: 0, config: {} as never, vault: VAULT_STEPS };
    const follower = { ...restartReplica(cfg(1), EMPTY_DURABLE as Durable<Command>, null) };
    const withHint = { ...follower, raft: { ...follower.raft, leaderHint: 2 } };
    const frame = { channel: 'c1', kind: 'Handshake1' as const, bytes: utf8('hello') };
    const t = handleClientFrame(withHint, frame, env);
    expect(t.state).toBe(withHint);
    const alert = t.frames[0]!;
    expect(isRedirect(alert) && alert.leaderHint).toBe(2);
    expect(new TextDecoder().decode(alert.bytes)).toBe('NotLeader');
    const notServing = { ...follower, raft: { ...follower.raft, role: 'leader' as const } };
    expect(new TextDecoder().decode(handleClientFrame(notServing, frame, env).frames[0]!.bytes)).toBe('Unavailable');
  });
});

describe('the safety monitor catches each violation (safety.ts)', () => {
  const e = (term: number, command: Command | null = null): Entry<Command> => ({ term, command });
  const del = (id: string): Command => ({ type: 'Delete', credentialId: id });
  const raftOf = (
    log: Entry<Command>[],
    commitIndex: number,
    role: 'leader' | 'follower' = 'follower',
    term = log.at(-1)?.term ?? 0,
  ): RaftState<Command> =>
    ({
      ...initialRaftState<Command>(cfg(0)),
      role,
      commitIndex,
      durable: { currentTerm: term, votedFor: null, log, recovering: false },
    }) as RaftState<Command>;

  test('INV-8: two leaders of one term', () => {
    const m = new SafetyMonitor(3);
    m.onBecameLeader(0, 1);
    m.onBecameLeader(0, 1); // the same leader, again: fine
    m.onBecameLeader(1, 2);
    expect(() => m.onBecameLeader(2, 2)).toThrow(InvariantViolation);
  });

  test('INV-9: two logs agreeing on a term at an index but not before it', () => {
    const m = new SafetyMonitor(3);
    m.checkLogMatching(0, [[e(1, del('aa')), e(2)], [e(1, del('aa')), e(2), e(2)], null]);
    expect(() => m.checkLogMatching(0, [[e(1, del('aa')), e(2)], [e(1, del('bb')), e(2)], null])).toThrow(/INV-9/);
  });

  test('INV-10: a leader lacking an entry committed in an earlier term', () => {
    const m = new SafetyMonitor(3);
    m.onCommit(1, raftOf([e(1), e(1, del('aa'))], 2), 0);
    m.checkLeaderCompleteness(0, raftOf([e(1), e(1, del('aa')), e(2)], 0, 'leader'));
    expect(() => m.checkLeaderCompleteness(0, raftOf([e(1), e(2)], 0, 'leader'))).toThrow(/INV-10/);
  });

  test('INV-11: different entries committed or applied at one index, or a committed entry removed', () => {
    const m = new SafetyMonitor(3);
    m.onCommit(0, raftOf([e(1, del('aa'))], 1), 0);
    expect(() => m.onCommit(1, raftOf([e(1, del('bb'))], 1), 0)).toThrow(/INV-11/);
    m.onApplied(0, 1, e(1, del('aa')));
    expect(() => m.onApplied(2, 1, e(1, del('bb')))).toThrow(/INV-11/);
    expect(() => m.checkCommittedPrefix(2, raftOf([e(2)], 1))).toThrow(/INV-11/);
  });

  test('INV-3: a KE2 whose ConsumeGuess entry is sealed on a minority', () => {
    const m = new SafetyMonitor(5);
    const log = [e(1), e(1, del('aa'))];
    m.checkKe2(2, 1, [log, log, log, [], []]);
    expect(() => m.checkKe2(2, 1, [log, log, [], [], []])).toThrow(/INV-3/);
    // sealed on two and rolled back on a third: sealed by a majority when acknowledged
    const lost = (...keys: string[]) => new Set(keys);
    m.checkKe2(2, 1, [log, log, [], [], []], [lost(), lost(), lost(entryKey(2, 1)), lost(), lost()]);
    // a replica that lost it and holds it again counts once; an entry of another term does not count
    expect(() =>
      m.checkKe2(2, 1, [log, log, [], [], []], [lost(entryKey(2, 1)), lost(), lost(entryKey(2, 2)), lost(), lost()]),
    ).toThrow(/INV-3/);
  });

  test('INV-7: attempts beyond the limit, or more pending sessions than attempts', () => {
    const m = new SafetyMonitor(3);
    const record = {
      status: 'Registered' as const,
      generation: 1,
      registrationRecord: 'aa',
      sealedPayload: 'bb',
      transcriptHash: 'cc',
      guessLimit: 2,
      attemptsUsed: 1,
      pending: { s1: 0 },
    };
    const ok: VaultState = { records: { aa: record } };
    m.checkRecords(0, ok);
    m.checkRecords(0, initialNode().vault);
    expect(() => m.checkRecords(0, { records: { aa: { ...record, attemptsUsed: 3 } } })).toThrow(/INV-7/);
    expect(() => m.checkRecords(0, { records: { aa: { ...record, pending: { s1: 0, s2: 0 } } } })).toThrow(/INV-7/);
  });

  test('handleRaftMessage dispatches every message type', () => {
    const [L, f] = elect(3);
    const req = handleRaftMessage(f!, 0, {
      type: 'AppendEntriesRequest',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: L!.durable.log,
      leaderCommit: 0,
      leaderLastIndex: 1,
      recoveryNonce: null,
    });
    expect(req.state.durable.log).toEqual(L!.durable.log);
    expect(handleRaftMessage(L!, 1, msg(req, 0, 'AppendEntriesResponse')).state.leader!.matchIndex[1]).toBe(1);
  });
});
