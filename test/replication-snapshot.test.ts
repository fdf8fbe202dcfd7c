/**
 * Snapshots, log compaction and InstallSnapshot (spec ch. 6, "Snapshots"): the Raft rules on
 * worked examples (raft.ts `compactLog`, `handleInstallSnapshotRequest`, the AppendEntries check
 * against the snapshot's term), the sealed snapshot under the persistence rule (durable.ts: a new
 * snapshot is a base, rollback across it detected), and three hosted replicas of the vault
 * (replica.ts: a snapshot every 2 entries) whose messages travel MACed and decoded
 * (peer-auth.ts): a pending session's spent guess survives a snapshot, a restart and an
 * InstallSnapshot; a follower behind the snapshot, and one rolled back, catch up from it.
 */
import { describe, expect, test } from 'vitest';
import { seededRng } from '../src/crypto/rng.ts';
import { isVaultError } from '../src/errors.ts';
import { type Hosted, type HostIo, RULES, startHosted, stepHosted } from '../src/replication/host.ts';
import { openPeerMessage, readVaultCommand, sealPeerMessage } from '../src/replication/peer-auth.ts';
import {
  type Durable,
  type Entry,
  type RaftConfig,
  type RaftMessage,
  type RaftState,
  compactLog,
  entryAt,
  handleAppendEntriesRequest,
  handleAppendEntriesResponse,
  handleInstallSnapshotRequest,
  lastIndexOf,
  restartRaft,
  snapshotIndex,
  termOf,
} from '../src/replication/raft.ts';
import { persistDurable, readDurable } from '../src/replication/durable.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import type { Command, VaultState } from '../src/vault/records.ts';
import { MemoryChainStorage } from '../src/vault/storage.ts';
import { entryBytes, restartReplica } from '../src/replication/replica.ts';
import { settleAmong } from './support/peer-queue.ts';

type S = RaftState<string>;
const cfg = (id: number, n = 3): RaftConfig => ({ id, n, maxBatch: 64 });
const entries = (...terms: number[]): Entry<string>[] => terms.map((term, i) => ({ term, command: `c${i + 1}` }));
const durable = (log: Entry<string>[], term = log.at(-1)?.term ?? 0): Durable<string> => ({
  currentTerm: term,
  votedFor: null,
  log,
  recovering: false,
});
/** A replica with `log` of which the first `commit` entries are committed. */
const withCommit = (id: number, log: Entry<string>[], commit: number): S => ({
  ...restartRaft<string>(cfg(id), durable(log), null),
  commitIndex: commit,
});

describe('log compaction (raft.ts compactLog)', () => {
  test('drops the prefix up to a committed index and remembers its term for the consistency check', () => {
    const s = compactLog(withCommit(0, entries(1, 1, 2, 2), 3), 3, 'state@3');
    expect(s.durable.snapshot).toEqual({ index: 3, term: 2, state: 'state@3' });
    expect(s.durable.log).toEqual([{ term: 2, command: 'c4' }]);
    expect([snapshotIndex(s.durable), lastIndexOf(s.durable)]).toEqual([3, 4]);
    expect([termOf(s.durable, 3), termOf(s.durable, 4), termOf(s.durable, 2), termOf(s.durable, 5)]).toEqual([
      2, 2, -1, -1,
    ]);
    expect(entryAt(s.durable, 4)?.command).toBe('c4');
    expect(entryAt(s.durable, 3)).toBeUndefined();
    // a second compaction goes on from the first
    const t = compactLog({ ...s, commitIndex: 4 }, 4, 'state@4');
    expect([t.durable.log.length, t.durable.snapshot?.index, t.durable.snapshot?.term]).toEqual([0, 4, 2]);
  });

  test('never beyond the commit index, never backwards', () => {
    const s = withCommit(0, entries(1, 1, 2, 2), 2);
    for (const bad of [3, 4, 5, 0, 1.5]) {
      expect(() => compactLog(s, bad, 'x')).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
    }
    const c = compactLog(s, 2, 'x');
    expect(() => compactLog(c, 2, 'y')).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
    expect(() => compactLog(c, 1, 'y')).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
  });

  test('a restart from a snapshot knows its index committed', () => {
    const c = compactLog(withCommit(0, entries(1, 1, 2), 2), 2, 'x');
    expect(restartRaft(cfg(0), c.durable, null).commitIndex).toBe(2);
  });
});

type Install = Extract<RaftMessage<string>, { type: 'InstallSnapshotRequest' }>;
/** A leader of term 2 whose log ends at 5, committed up to 4. */
const LEADER_4_5 = { type: 'InstallSnapshotRequest' as const, term: 2, leaderCommit: 4, leaderLastIndex: 5 };
const install = (m: Omit<Install, 'snapshot' | 'recoveryNonce'>, index: number): Install => ({
  ...m,
  snapshot: { index, term: 2, state: 'x' },
  recoveryNonce: null,
});

describe('AppendEntries and InstallSnapshot against a snapshot (Raft §7)', () => {
  // the leader (r0, term 2) has compacted up to 3; its log after it: entries 4, 5
  const leader = (): S => {
    const s = compactLog(withCommit(0, entries(1, 1, 2, 2, 2), 4), 3, 'leader@3');
    const led: S = {
      ...s,
      role: 'leader',
      leader: {
        nextIndex: [6, 6, 6],
        matchIndex: [0, 0, 0],
        inflight: [false, false, false],
        peerNonce: [null, null, null],
        termStart: 3,
      },
    };
    return led;
  };

  test('a follower behind the snapshot gets it, then the entries after it', () => {
    let l = leader();
    // r1 holds only entry 1: it refuses entry 5's AppendEntries and the leader backs up to 2
    const f0 = { ...withCommit(1, entries(1), 1), durable: durable(entries(1), 2) };
    const refused = handleAppendEntriesRequest(f0, 0, {
      type: 'AppendEntriesRequest',
      term: 2,
      prevLogIndex: 5,
      prevLogTerm: 2,
      entries: [],
      leaderCommit: 4,
      leaderLastIndex: 5,
      recoveryNonce: null,
    });
    const back = handleAppendEntriesResponse(l, 1, refused.messages[0]!.message as never);
    l = back.state;
    expect(l.leader!.nextIndex[1]).toBe(2);
    const install = back.messages[0]!.message;
    expect(install).toMatchObject({
      type: 'InstallSnapshotRequest',
      snapshot: { index: 3, term: 2, state: 'leader@3' },
      leaderCommit: 4,
      leaderLastIndex: 5,
    });
    const got = handleInstallSnapshotRequest(f0, 0, install as never);
    expect(got.installed).toEqual({ index: 3, term: 2, state: 'leader@3' });
    expect(got.state.durable.snapshot?.index).toBe(3);
    expect(got.state.durable.log).toEqual([]); // it did not hold entry 3: its whole log goes
    expect(got.state.commitIndex).toBe(3);
    const ack = got.messages[0]!.message;
    expect(ack).toMatchObject({ type: 'AppendEntriesResponse', success: true, matchIndex: 3 });
    const next = handleAppendEntriesResponse(l, 1, ack as never);
    // the next AppendEntries starts after the snapshot, checked against the snapshot's term
    expect(next.messages[0]!.message).toMatchObject({
      type: 'AppendEntriesRequest',
      prevLogIndex: 3,
      prevLogTerm: 2,
      entries: entries(1, 1, 2, 2, 2).slice(3),
    });
    const caught = handleAppendEntriesRequest(got.state, 0, next.messages[0]!.message as never);
    expect(caught.messages[0]!.message).toMatchObject({ success: true, matchIndex: 5 });
    expect(caught.committed.map((c) => c.index)).toEqual([4]);
    expect(lastIndexOf(caught.state.durable)).toBe(5);
  });

  test('a follower that holds the snapshot’s last entry keeps its log after it', () => {
    const f = { ...withCommit(1, entries(1, 1, 2, 2), 1), durable: durable(entries(1, 1, 2, 2), 2) };
    const m = LEADER_4_5;
    const got = handleInstallSnapshotRequest(f, 0, install(m, 3));
    expect(got.state.durable.log).toEqual(entries(1, 1, 2, 2).slice(3));
    expect(got.state.commitIndex).toBe(3); // not 4: entry 4 of its own log is not yet known to match
  });

  test('a snapshot of what the follower has committed changes nothing; an older term is refused', () => {
    const f = withCommit(1, entries(1, 1, 2, 2), 4);
    const m = LEADER_4_5;
    const same = handleInstallSnapshotRequest(f, 0, install(m, 3));
    expect(same.installed).toBeUndefined();
    expect(same.state.durable).toBe(f.durable);
    expect(same.messages[0]!.message).toMatchObject({ success: true, matchIndex: 3 });
    const old = handleInstallSnapshotRequest(f, 0, install({ ...m, term: 1 }, 4));
    expect(old.state).toBe(f);
    expect(old.messages[0]!.message).toMatchObject({ success: false });
  });

  test('a follower with a snapshot takes entries that overlap it, skipping what it compacted', () => {
    const f = compactLog(withCommit(1, entries(1, 1, 2), 3), 3, 'x');
    const r = handleAppendEntriesRequest(f, 0, {
      type: 'AppendEntriesRequest',
      term: 2,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: entries(1, 1, 2, 2).slice(1),
      leaderCommit: 4,
      leaderLastIndex: 4,
      recoveryNonce: null,
    });
    expect(r.messages[0]!.message).toMatchObject({ success: true, matchIndex: 4 });
    expect(r.state.durable.log).toEqual(entries(1, 1, 2, 2).slice(3));
    expect(r.committed.map((c) => [c.index, c.entry.command])).toEqual([[4, 'c4']]);
    // a wrong term at the snapshot's index is a refusal, as at any other index
    const bad = handleAppendEntriesRequest(f, 0, {
      type: 'AppendEntriesRequest',
      term: 2,
      prevLogIndex: 3,
      prevLogTerm: 1,
      entries: [],
      leaderCommit: 4,
      leaderLastIndex: 4,
      recoveryNonce: null,
    });
    expect(bad.messages[0]!.message).toMatchObject({ success: false });
  });

  test('a recovering follower ends its recovery only on its own nonce and the leader’s whole log', () => {
    const f = restartRaft<string>(cfg(1), { ...durable([], 2), recovering: true }, 'n1');
    const m = { ...install(LEADER_4_5, 3), recoveryNonce: null };
    const old = handleInstallSnapshotRequest(f, 0, { ...m, leaderLastIndex: 3, recoveryNonce: 'n0' });
    expect(old.state.durable.recovering).toBe(true);
    const partial = handleInstallSnapshotRequest(f, 0, { ...m, leaderLastIndex: 5, recoveryNonce: 'n1' });
    expect(partial.state.durable.recovering).toBe(true);
    const whole = handleInstallSnapshotRequest(f, 0, { ...m, leaderLastIndex: 3, recoveryNonce: 'n1' });
    expect(whole.state.durable.recovering).toBe(false);
    expect(whole.state.recoveryNonce).toBeNull();
  });
});

describe('a sealed snapshot under the persistence rule (durable.ts)', () => {
  function store() {
    const rng = seededRng('snapshot store');
    const hsm = MemoryHsm.create('d', rng);
    hsm.generateKey('seal', 'aes256gcm');
    return { rng, s: { hsm, sealLabel: 'seal', storage: new MemoryChainStorage() } };
  }

  test('a new snapshot is written as a base, later saves as segments after it; a restart reads both', () => {
    const { rng, s } = store();
    let v = readDurable<string>(s).version;
    const d0 = durable(entries(1, 1, 1));
    v = persistDurable(s, v, d0, rng);
    const c = compactLog({ ...restartRaft<string>(cfg(0), d0, null), commitIndex: 2 }, 2, { at: 2 }).durable;
    v = persistDurable(s, v, c, rng, d0);
    expect(s.storage.parents.at(-1)).toBe(-1); // a base: the host may forget the chain before it
    const d2 = { ...c, log: [...c.log, { term: 1, command: 'c4' }] };
    v = persistDurable(s, v, d2, rng, c);
    expect(s.storage.parents.at(-1)).toBe(s.storage.history.length - 2); // a segment
    expect(s.storage.loadChain()).toHaveLength(2);
    const back = readDurable<string>(s);
    expect(back.rolledBack).toBe(false);
    expect(back.durable).toEqual(d2);
    expect(lastIndexOf(back.durable)).toBe(4);
  });

  test('rolled back to before the snapshot, or to the old chain: detected, the replica restarts recovering', () => {
    const { rng, s } = store();
    let v = readDurable<string>(s).version;
    const d0 = durable(entries(1, 1, 1));
    v = persistDurable(s, v, d0, rng);
    const c = compactLog({ ...restartRaft<string>(cfg(0), d0, null), commitIndex: 3 }, 3, 'x').durable;
    persistDurable(s, v, c, rng, d0);
    s.storage.rollback(1); // the chain before the snapshot
    const r = readDurable<string>(s);
    expect(r.rolledBack).toBe(true);
    expect(isVaultError(r.refusal, 'StaleState')).toBe(true);
    expect(r.durable).toMatchObject({ log: [], recovering: true });
    expect(r.durable.snapshot).toBeUndefined();
  });
});

// ----------------------------------------------------------------------------------------------
// Three hosted replicas of the vault, a snapshot every 2 entries, messages MACed and decoded

type Out = { to: number; from: number; m: RaftMessage<Command> };

function hostedFleet(name: string, snapshotEvery = 2, snapshotEveryBytes?: number) {
  const fleet = memoryFleets(name);
  const hsms = fleet.hsms(3);
  const bytes = snapshotEveryBytes === undefined ? {} : { snapshotEveryBytes };
  const config = (i: number): RaftConfig => ({ id: i, n: 3, maxBatch: 16, snapshotEvery, ...bytes });
  const nodes = hsms.map((hsm, i) => {
    const storage = new MemoryChainStorage();
    const rng = seededRng(`${name} r${i}`);
    const io: HostIo = { hsm, storage, sealLabel: fleet.labels.seal, rng, sealRng: rng };
    return { io, storage, hosted: startHosted(RULES, io, config(i)).hosted as Hosted };
  });
  /** The replicas that installed a leader's snapshot, in order. */
  const installs: number[] = [];
  const run = (i: number, action: Parameters<typeof stepHosted>[3]): Out[] => {
    const n = nodes[i]!;
    const r = stepHosted(RULES, n.io, n.hosted, action, 0, fleet.config);
    n.hosted = r.hosted;
    installs.push(...r.step.ghost.filter((g) => g.type === 'Snapshot' && g.installed).map(() => i));
    // every message crosses the host network sealed, and is opened (MAC, then a defensive decoder)
    return r.step.messages.map((o) => {
      const e = sealPeerMessage(n.io.hsm, fleet.labels.peerMac, i, o.to, o.message);
      const m = openPeerMessage(hsms[o.to]!, fleet.labels.peerMac, o.to, e, readVaultCommand);
      return { to: o.to, from: i, m };
    });
  };
  const deliver = (o: Out) => run(o.to, (steps, s, env) => steps.handlePeerMessage(s, o.from, o.m, env));
  const settle = (outs: Out[], among: number[]) => settleAmong(outs, among, deliver);
  const restart = (i: number) => {
    const started = startHosted(RULES, nodes[i]!.io, config(i));
    nodes[i]!.hosted = started.hosted;
    return started;
  };
  const state = (i: number) => nodes[i]!.hosted.state;
  const ALL = [0, 1, 2];
  /** r0 acts, and the messages that follow are delivered among `among`. */
  const r0 = (action: Parameters<typeof stepHosted>[3], among = ALL) => settle(run(0, action), among);
  const elect = () => r0((steps, s, env) => steps.onElectionTimeout(s, env));
  const heartbeat = (among = ALL) => r0((steps, s, env) => steps.onHeartbeat(s, env), among);
  const propose = (cmd: Command | Command[], among = ALL) =>
    r0((steps, s, env) => steps.proposeCommand(s, cmd, env), among);
  return { nodes, restart, state, installs, elect, heartbeat, propose };
}

const cred = 'aa';
const register: Command = {
  type: 'Register',
  credentialId: cred,
  registrationRecord: 'bb',
  sealedPayload: 'cc',
  transcriptHash: 'dd',
  guessLimit: 3,
};
const guess = (k: number): Command => ({ type: 'ConsumeGuess', credentialId: cred, sessionId: `0${k}`, at: 0 });
const records = (st: { node: { vault: VaultState } }) => st.node.vault.records[cred];

describe('snapshots in a fleet of hosted replicas (replica.ts)', () => {
  test('a pending session’s spent guess is in the snapshot and survives a restart from it', () => {
    const f = hostedFleet('snapshot-pending');
    f.elect();
    f.propose([register, guess(1)]);
    expect(f.state(0).lastApplied).toBe(3);
    expect(snapshotIndex(f.state(0).raft.durable)).toBe(0); // compaction comes before a step's applies
    f.propose(guess(2));
    const l = f.state(0);
    expect(l.lastApplied).toBe(4);
    expect(snapshotIndex(l.raft.durable)).toBe(3); // no-op, Register, ConsumeGuess: compacted
    const snap = l.raft.durable.snapshot!.state as VaultState;
    expect(snap.records[cred]).toMatchObject({ attemptsUsed: 1, pending: { '01': 0 } });
    // r0 restarts from its sealed snapshot: the guess is still spent, the session still pending
    f.restart(0);
    expect(f.state(0).lastApplied).toBe(3);
    expect(records(f.state(0))).toMatchObject({ attemptsUsed: 1, pending: { '01': 0 } });
    expect(f.state(0).raft.commitIndex).toBe(3);
  });

  test('a snapshot is also due after snapshotEveryBytes bytes of applied entries, before snapshotEvery entries', () => {
    // the bytes of what is applied before the third step: the leader's no-op and the Register
    const applied = entryBytes({ term: 1, command: null }) + entryBytes({ term: 1, command: register });
    const third = (bytes: number | undefined) => {
      const f = hostedFleet(`snapshot-bytes-${bytes}`, 1000, bytes);
      f.elect();
      f.propose(register);
      expect(f.state(0).appliedBytes).toBe(applied);
      f.propose(guess(1));
      return f.state(0);
    };
    // at the threshold: the third step compacts the no-op and the Register first, and counts afresh
    const due = third(applied);
    expect([snapshotIndex(due.raft.durable), due.lastApplied]).toEqual([2, 3]);
    expect(due.appliedBytes).toBe(entryBytes(due.raft.durable.log[0]!));
    // a byte short, or no byte trigger (1000 entries alone): no snapshot yet
    for (const s of [third(applied + 1), third(undefined)]) expect(snapshotIndex(s.raft.durable)).toBe(0);
    // a restart counts again from its snapshot, the byte trigger as the entry trigger
    expect(restartReplica(due.raft.config, due.raft.durable, null).appliedBytes).toBe(0);
  });

  test('a follower behind the snapshot catches up by InstallSnapshot and applies what follows', () => {
    const f = hostedFleet('snapshot-install');
    f.elect();
    // r2 is cut off while 3 guesses are committed by r0 and r1: both compact past what r2 holds
    for (const k of [1, 2, 3]) {
      f.propose(k === 1 ? [register, guess(k)] : guess(k), [0, 1]);
    }
    expect(snapshotIndex(f.state(0).raft.durable)).toBeGreaterThan(lastIndexOf(f.state(2).raft.durable));
    expect(records(f.state(2))).toBeUndefined();
    f.heartbeat();
    expect(f.installs).toContain(2);
    expect(f.state(2).lastApplied).toBe(f.state(0).lastApplied);
    expect(records(f.state(2))).toEqual(records(f.state(0)));
    expect(records(f.state(2))).toMatchObject({ attemptsUsed: 3 });
    // the budget holds on r2 as on r0: a fourth guess is refused everywhere
    expect(f.state(2).raft.commitIndex).toBe(f.state(0).raft.commitIndex);
    // r2's sealed state holds the snapshot: it restarts from it, not from an empty log, and
    // relearns the commit of the entries after it from the leader
    const installed = snapshotIndex(f.state(2).raft.durable);
    f.restart(2);
    expect(installed).toBeGreaterThan(0);
    expect(f.state(2).lastApplied).toBe(installed);
    expect(records(f.state(2))).toBeDefined();
    f.heartbeat();
    expect(records(f.state(2))).toMatchObject({ attemptsUsed: 3 });
  });

  test('a replica rolled back across a snapshot restarts recovering and catches up from the leader’s', () => {
    const f = hostedFleet('snapshot-rollback');
    f.elect();
    f.propose([register, guess(1)]);
    f.propose([guess(2), guess(3)]);
    f.heartbeat();
    expect(records(f.state(1))).toMatchObject({ attemptsUsed: 3 });
    // r1's host presents its first blob: detected; r1 neither votes nor campaigns
    f.nodes[1]!.storage.present(0);
    const started = f.restart(1);
    expect(started.rolledBack).toBe(true);
    expect(f.state(1).raft.durable.recovering).toBe(true);
    expect(records(f.state(1))).toBeUndefined();
    // its answer to a heartbeat carries its nonce; the leader sends its snapshot, echoing it
    f.heartbeat();
    expect(f.installs).toContain(1);
    expect(f.state(1).raft.durable.recovering).toBe(false);
    expect(records(f.state(1))).toEqual(records(f.state(0)));
  });

  test('an InstallSnapshot with malformed records is refused by the decoder (closed code)', () => {
    const fleet = memoryFleets('snapshot-decode');
    const [a, b] = fleet.hsms(2);
    const record = {
      status: 'Registered',
      generation: 1,
      registrationRecord: 'bb',
      sealedPayload: 'cc',
      transcriptHash: 'dd',
      guessLimit: 3,
      attemptsUsed: 0,
      pending: {},
    };
    const one = (r: object) => ({ records: { aa: r } });
    const bad: unknown[] = [
      one({ ...register, status: 'Registered' }),
      { records: { zz: record } },
      { records: [] },
      { records: {}, extra: 1 },
      one({ ...record, registrationRecord: null }), // erased only when Exhausted
      one({ ...record, attemptsUsed: 4 }),
      one({ ...record, guessLimit: 0 }),
      one({ ...record, pending: { '01': -1 } }),
      one({ ...record, pending: { xx: 1 } }),
      one({ ...record, attemptsUsed: 1, pending: { '01': 1, '02': 1 } }), // INV-7
    ];
    const message = (state: unknown, index = 3): RaftMessage<Command> => ({
      type: 'InstallSnapshotRequest',
      term: 1,
      snapshot: { index, term: 1, state },
      leaderCommit: 3,
      leaderLastIndex: 3,
      recoveryNonce: null,
    });
    for (const state of bad) {
      const e = sealPeerMessage(a!, fleet.labels.peerMac, 0, 1, message(state));
      expect(() => openPeerMessage(b!, fleet.labels.peerMac, 1, e, readVaultCommand)).toThrow(
        expect.objectContaining({ code: 'MalformedMessage' }),
      );
    }
    const erased = { registrationRecord: null, sealedPayload: null };
    const good = one({ ...record, ...erased, status: 'Exhausted', attemptsUsed: 3 });
    const ok = sealPeerMessage(a!, fleet.labels.peerMac, 0, 1, message(good));
    expect(openPeerMessage(b!, fleet.labels.peerMac, 1, ok, readVaultCommand)).toEqual(message(good));
    // a snapshot beyond the leader's commit index is refused as well
    const beyond = sealPeerMessage(a!, fleet.labels.peerMac, 0, 1, message(good, 4));
    expect(() => openPeerMessage(b!, fleet.labels.peerMac, 1, beyond, readVaultCommand)).toThrow(
      expect.objectContaining({ code: 'MalformedMessage' }),
    );
  });
});
