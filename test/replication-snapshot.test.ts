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
import { type Hosted, type HostIo, RULES, raftConfig, startHosted, stepHosted } from '../src/replication/host.ts';
import {
  VAULT_SNAPSHOT_CODEC,
  openPeerMessage,
  readVaultCommand,
  sealPeerMessage,
} from '../src/replication/peer-auth.ts';
import {
  type Durable,
  type Entry,
  type RaftConfig,
  type RaftMessage,
  type RaftState,
  EMPTY_DURABLE,
  compactLog,
  entryAt,
  handleAppendEntriesRequest,
  handleAppendEntriesResponse,
  handleInstallSnapshotRequest,
  handleInstallSnapshotResponse,
  handleRaftMessage,
  JSON_SNAPSHOT_CODEC,
  lastIndexOf,
  restartRaft,
  snapshotIndex,
  termOf,
} from '../src/replication/raft.ts';
import { persistDurable, readDurable } from '../src/replication/durable.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { snapshotChunkUnchecked } from '../src/broken/replica.ts';
import { checkSnapshot } from '../src/check/invariants.ts';
import { canonicalJson } from '../src/crypto/canonical.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import type { Command, VaultState } from '../src/vault/records.ts';
import { MemoryChainStorage } from '../src/vault/storage.ts';
import {
  REPLICA_STEPS,
  SNAPSHOT_BYTES_PER_RECORD,
  entryBytes,
  isSnapshotDue,
  restartReplica,
} from '../src/replication/replica.ts';
import { tableSize } from '../src/vault/record-table.ts';
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
const encoded = (state: unknown) => JSON_SNAPSHOT_CODEC.encode(state);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
/** The chunks of the snapshot (index, term 2) of `state`, `size` bytes each, as leader `m` sends them. */
const chunks = (m: typeof LEADER_4_5, index: number, state: unknown, size: number): Install[] => {
  const bytes = encoded(state);
  const out: Install[] = [];
  for (let offset = 0; offset === 0 || offset < bytes.length; offset += size) {
    const data = b64(bytes.subarray(offset, offset + size));
    const done = offset + size >= bytes.length;
    out.push({ ...m, snapshotIndex: index, snapshotTerm: 2, offset, data, done, recoveryNonce: null });
  }
  return out;
};
/** The whole snapshot (index, term 2) of `state` in one chunk. */
const install = (m: typeof LEADER_4_5, index: number, state: unknown = 'x'): Install =>
  chunks(m, index, state, 1e6)[0]!;
/** Delivers chunks to a follower in turn; the state after the last, and each answer. */
const feed = (f: S, ms: readonly Install[]) => {
  const answers: RaftMessage<string>[] = [];
  let st = f;
  let installed: unknown;
  for (const m of ms) {
    const r = handleInstallSnapshotRequest(st, 0, m);
    st = r.state;
    answers.push(r.messages[0]!.message);
    if (r.installed) installed = r.installed.state;
  }
  return { state: st, answers, installed };
};
const nextOffsets = (answers: readonly RaftMessage<string>[]) =>
  answers.map((a) => (a.type === 'InstallSnapshotResponse' ? a.nextOffset : a.type));

describe('AppendEntries and InstallSnapshot against a snapshot (Raft §7)', () => {
  // the leader (r0, term 2) has compacted up to 3; its log after it: entries 4, 5; chunks of 4 bytes
  const leader = (): S => {
    const s = compactLog(withCommit(0, entries(1, 1, 2, 2, 2), 4), 3, 'leader@3');
    const led: S = {
      ...s,
      config: { ...s.config, snapshotChunkBytes: 4 },
      role: 'leader',
      leader: {
        nextIndex: [6, 6, 6],
        matchIndex: [0, 0, 0],
        inflight: [false, false, false],
        peerNonce: [null, null, null],
        termStart: 3,
        chunkCursor: [null, null, null],
      },
    };
    return led;
  };

  test('a follower behind the snapshot gets it in chunks, one at a time, then the entries after it', () => {
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
    // the snapshot's encoding, `"leader@3"` (10 bytes), goes in chunks of 4: at 0, 4, 8 (the last)
    const whole = encoded('leader@3');
    let f = f0;
    let out = back.messages;
    const sent: Install[] = [];
    let installed: unknown;
    while (out[0]?.message.type === 'InstallSnapshotRequest') {
      const chunk = out[0].message;
      sent.push(chunk);
      expect(l.leader!.inflight[1]).toBe(true); // one chunk in flight to r1
      const got = handleInstallSnapshotRequest(f, 0, chunk);
      f = got.state;
      if (got.installed) installed = got.installed.state;
      const answered = handleRaftMessage(l, 1, got.messages[0]!.message);
      l = answered.state;
      out = answered.messages;
    }
    expect(sent.map((c) => [c.offset, c.done, Buffer.from(c.data, 'base64').length])).toEqual([
      [0, false, 4],
      [4, false, 4],
      [8, true, 2],
    ]);
    expect(sent.every((c) => c.snapshotIndex === 3 && c.snapshotTerm === 2 && c.leaderCommit === 4)).toBe(true);
    expect(Buffer.concat(sent.map((c) => Buffer.from(c.data, 'base64')))).toEqual(Buffer.from(whole));
    expect(installed).toBe('leader@3');
    expect(f.durable.snapshot).toEqual({ index: 3, term: 2, state: 'leader@3' });
    expect(f.durable.log).toEqual([]); // it did not hold entry 3: its whole log goes
    expect([f.commitIndex, f.incoming]).toEqual([3, null]);
    // the next AppendEntries starts after the snapshot, checked against the snapshot's term
    expect(out[0]!.message).toMatchObject({
      type: 'AppendEntriesRequest',
      prevLogIndex: 3,
      prevLogTerm: 2,
      entries: entries(1, 1, 2, 2, 2).slice(3),
    });
    expect(l.leader!.chunkCursor[1]).toBeNull();
    const caught = handleAppendEntriesRequest(f, 0, out[0]!.message as never);
    expect(caught.messages[0]!.message).toMatchObject({ success: true, matchIndex: 5 });
    expect(caught.committed.map((c) => c.index)).toEqual([4]);
    expect(lastIndexOf(caught.state.durable)).toBe(5);
  });

  test('the leader resends from the offset the follower names, and from 0 for a snapshot it no longer has', () => {
    const l = leader();
    const ask = (snapshotIndex: number, nextOffset: number) =>
      handleInstallSnapshotResponse({ ...l, leader: { ...l.leader!, nextIndex: [6, 2, 6] } }, 1, {
        type: 'InstallSnapshotResponse',
        term: 2,
        snapshotIndex,
        snapshotTerm: 2,
        nextOffset,
        recoveryNonce: null,
      }).messages[0]!.message;
    expect(ask(3, 8)).toMatchObject({ offset: 8, done: true });
    expect(ask(3, 4)).toMatchObject({ offset: 4, done: false });
    expect(ask(3, 10)).toMatchObject({ offset: 0 }); // not within the snapshot: from the start
    expect(ask(2, 8)).toMatchObject({ offset: 0, snapshotIndex: 3 }); // another snapshot's answer
  });

  test("a duplicate's answer starts no second stream of chunks; a follower that lost its chunks starts again", () => {
    const l = leader();
    // the chunk at 4 is in flight to peer 1 (sent on the answer naming 4)
    const busy = {
      ...l,
      leader: {
        ...l.leader!,
        nextIndex: [6, 2, 6],
        inflight: [false, true, false],
        chunkCursor: [null, { index: 3, offset: 4 }, null],
      },
    };
    const answer = (st: typeof busy, nextOffset: number) =>
      handleInstallSnapshotResponse(st, 1, {
        type: 'InstallSnapshotResponse',
        term: 2,
        snapshotIndex: 3,
        snapshotTerm: 2,
        nextOffset,
        recoveryNonce: null,
      }).messages.map((o) => o.message);
    // a heartbeat re-sent the chunk at 0 and the follower refused it, naming 4: the chunk at 4 is on its way
    expect(answer(busy, 4)).toEqual([]);
    // the follower restarted and holds nothing: from 0 again
    expect(answer(busy, 0)).toEqual([expect.objectContaining({ offset: 0 })]);
    // nothing in flight (the chunk at 4 was lost, the answer is a heartbeat's): the chunk at 4 again
    expect(answer({ ...busy, leader: { ...busy.leader, inflight: [false, false, false] } }, 4)).toEqual([
      expect.objectContaining({ offset: 4 }),
    ]);
  });

  test('chunks reordered or duplicated are refused without a change, naming the offset expected', () => {
    const f = { ...withCommit(1, entries(1), 1), durable: durable(entries(1), 2) };
    const [c0, c4, c8] = chunks(LEADER_4_5, 3, 'leader@3', 4) as [Install, Install, Install];
    const late = handleInstallSnapshotRequest(f, 0, c4);
    expect([late.state.durable, late.state.incoming, late.state.commitIndex]).toEqual([f.durable, null, 1]);
    expect(nextOffsets(late.messages.map((o) => o.message))).toEqual([0]);
    const r = feed(f, [c8, c0, c0, c8, c4, c4, c0, c8]);
    expect(nextOffsets(r.answers)).toEqual([0, 4, 4, 4, 8, 8, 8, 'AppendEntriesResponse']);
    expect(r.installed).toBe('leader@3');
    expect(r.state.durable.snapshot).toEqual({ index: 3, term: 2, state: 'leader@3' });
    // the last chunk again, once installed: answered as an AppendEntries up to 3, nothing changes
    const again = handleInstallSnapshotRequest(r.state, 0, c8);
    expect(again.state.durable).toBe(r.state.durable);
    expect(again.messages[0]!.message).toMatchObject({ type: 'AppendEntriesResponse', success: true, matchIndex: 3 });
  });

  test('chunks of two snapshots mixed never install a state that is neither', () => {
    const f = { ...withCommit(1, entries(1), 1), durable: durable(entries(1), 2) };
    // two snapshots of the same length: (3, term 2) by the leader of term 2, and (4, term 2)
    const a = chunks(LEADER_4_5, 3, 'aaaaaaaaaa', 4);
    const b = chunks(LEADER_4_5, 4, 'bbbbbbbbbb', 4);
    // a's first chunk, then b's later ones: refused (b's store starts only at 0)
    const mixed = feed(f, [a[0]!, b[1]!, b[2]!, a[1]!, a[2]!]);
    expect(nextOffsets(mixed.answers)).toEqual([4, 0, 0, 8, 'AppendEntriesResponse']);
    expect(mixed.installed).toBe('aaaaaaaaaa');
    // b restarts at 0 in the middle of a: a's later chunks are refused, b is installed whole
    const switched = feed(f, [a[0]!, a[1]!, b[0]!, a[2]!, b[1]!, b[2]!]);
    expect(nextOffsets(switched.answers)).toEqual([4, 8, 4, 0, 8, 'AppendEntriesResponse']);
    expect(switched.installed).toBe('bbbbbbbbbb');
    // the same snapshot from the leader of another term is another store: the term names it too
    const t3 = chunks({ ...LEADER_4_5, term: 3 }, 3, 'cccccccccc', 4);
    const terms = feed(f, [a[0]!, a[1]!, t3[2]!, t3[0]!, a[2]!, t3[1]!, t3[2]!]);
    expect(nextOffsets(terms.answers)).toEqual([4, 8, 0, 4, 'AppendEntriesResponse', 8, 'AppendEntriesResponse']);
    expect(terms.installed).toBe('cccccccccc'); // a's last chunk is of an older term: refused
    expect(terms.answers[4]).toMatchObject({ success: false, term: 3 });
  });

  test('a follower that holds the snapshot’s last entry keeps its log after it', () => {
    const f = { ...withCommit(1, entries(1, 1, 2, 2), 1), durable: durable(entries(1, 1, 2, 2), 2) };
    const got = handleInstallSnapshotRequest(f, 0, install(LEADER_4_5, 3));
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

  test('bytes that are not a state are refused at the last chunk (MalformedMessage), nothing installed', () => {
    const f = { ...withCommit(1, entries(1), 1), durable: durable(entries(1), 2) };
    const vault = { ...f, config: { ...f.config, snapshotCodec: VAULT_SNAPSHOT_CODEC } };
    const half = (bytes: string): Install[] => {
      const [x, y] = [bytes.slice(0, 4), bytes.slice(4)];
      const m = { ...LEADER_4_5, snapshotIndex: 3, snapshotTerm: 2, recoveryNonce: null };
      return [
        { ...m, offset: 0, data: b64(new TextEncoder().encode(x)), done: false },
        { ...m, offset: 4, data: b64(new TextEncoder().encode(y)), done: true },
      ];
    };
    for (const bad of ['{"records":', '"leader@3"', '{"records":{},"x":1}', '\u00ff\u00fe']) {
      const [first, last] = half(bad) as [Install, Install];
      const held = handleInstallSnapshotRequest(vault, 0, first).state;
      expect(() => handleInstallSnapshotRequest(held, 0, last)).toThrow(
        expect.objectContaining({ code: 'MalformedMessage' }),
      );
    }
    const [first, last] = half('{"records":{}}') as [Install, Install];
    const ok = handleInstallSnapshotRequest(handleInstallSnapshotRequest(vault, 0, first).state, 0, last);
    expect(ok.installed?.state).toEqual({ records: {} });
  });

  test(
    'a recovering follower ends its recovery only at a last chunk with its nonce, ' + 'covering the leader’s log',
    () => {
      const f = restartRaft<string>(cfg(1), { ...durable([], 2), recovering: true }, 'n1');
      const cs = chunks({ ...LEADER_4_5, leaderLastIndex: 3 }, 3, 'leader@3', 4);
      const withNonce = (nonce: string, more: Partial<Install> = {}) =>
        cs.map((c) => ({ ...c, recoveryNonce: nonce, ...more }));
      // a transfer echoing the nonce of an earlier life (replayed): installed, still recovering
      const old = feed(f, withNonce('n0'));
      expect(old.installed).toBe('leader@3');
      expect(old.state.durable.recovering).toBe(true);
      // its own nonce, but the leader's log went on past the snapshot: still recovering
      const partial = feed(f, withNonce('n1', { leaderLastIndex: 5 }));
      expect(partial.state.durable.recovering).toBe(true);
      // the nonce on chunks before the last ends nothing: the last one, an old life's, is refused
      const mixed = feed(f, [...withNonce('n1').slice(0, 2), withNonce('n0')[2]!]);
      expect(mixed.installed).toBe('leader@3');
      expect(mixed.state.durable.recovering).toBe(true);
      // an old life's last chunk replayed on the installed snapshot ends nothing either
      expect(feed(old.state, withNonce('n0').slice(2)).state.durable.recovering).toBe(true);
      const whole = feed(f, withNonce('n1'));
      expect(whole.state.durable.recovering).toBe(false);
      expect(whole.state.recoveryNonce).toBeNull();
      // once installed, the last chunk with the right nonce ends it (the snapshot is already held)
      expect(feed(old.state, withNonce('n1').slice(2)).state.durable.recovering).toBe(false);
    },
  );
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

function hostedFleet(name: string, snapshotEvery = 2, snapshotEveryBytes?: number, snapshotGrowth?: number) {
  const fleet = memoryFleets(name);
  const hsms = fleet.hsms(3);
  // the vault's codec, chunks of 64 bytes: a record's snapshot travels in several
  const config = (i: number): RaftConfig => ({
    ...raftConfig(RULES, i, 3, 16, snapshotEvery, 64, snapshotEveryBytes),
    snapshotGrowth, // none unless asked: these worked examples hold a record or two
  });
  const nodes = hsms.map((hsm, i) => {
    const storage = new MemoryChainStorage();
    const rng = seededRng(`${name} r${i}`);
    const io: HostIo = { hsm, storage, sealLabel: fleet.labels.seal, rng, sealRng: rng };
    return { io, storage, hosted: startHosted(RULES, io, config(i)).hosted as Hosted };
  });
  /** The replicas that installed a leader's snapshot, in order; the chunks sent. */
  const installs: number[] = [];
  const sentChunks: Extract<RaftMessage<Command>, { type: 'InstallSnapshotRequest' }>[] = [];
  const run = (i: number, action: Parameters<typeof stepHosted>[3]): Out[] => {
    const n = nodes[i]!;
    const r = stepHosted(RULES, n.io, n.hosted, action, 0, fleet.config);
    n.hosted = r.hosted;
    installs.push(...r.step.ghost.filter((g) => g.type === 'Snapshot' && g.installed).map(() => i));
    // every message crosses the host network sealed, and is opened (MAC, then a defensive decoder)
    return r.step.messages.map((o) => {
      const e = sealPeerMessage(n.io.hsm, fleet.labels.peerMac, i, o.to, o.message);
      const m = openPeerMessage(hsms[o.to]!, fleet.labels.peerMac, o.to, e, readVaultCommand);
      if (m.type === 'InstallSnapshotRequest') sentChunks.push(m);
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
  return { nodes, restart, state, installs, sentChunks, elect, heartbeat, propose };
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

  test(
    'snapshotGrowth: no snapshot before the log past it ' + 'is as large as the state (g entries, g KiB a record)',
    () => {
      // one record and g = 1/2: the byte floor is half a KiB, more than the no-op and the Register
      const applied = entryBytes({ term: 1, command: null }) + entryBytes({ term: 1, command: register });
      expect(applied).toBeLessThan(SNAPSHOT_BYTES_PER_RECORD / 2);
      const f = hostedFleet('snapshot-growth', 1000, 1, 0.5);
      f.elect();
      f.propose(register);
      f.propose(guess(1)); // with no growth floor, the byte trigger (1 byte) would compact the Register here
      // the no-op alone was compacted (no record then: no floor), the Register not yet
      expect(snapshotIndex(f.state(0).raft.durable)).toBe(1);
      let k = 2;
      while (snapshotIndex(f.state(0).raft.durable) === 1 && k < 10) f.propose(guess(k++));
      // compacted by the step after the one that brought the applied bytes to a record's KiB
      const s = f.state(0);
      expect(snapshotIndex(s.raft.durable)).toBeGreaterThan(2);
      const before = s.raft.durable.snapshot!.index;
      expect(before).toBeLessThan(k + 2);
      // each trigger has its floor: with one record and g = 2, two entries or 2 KiB past the snapshot
      const config = { ...s.raft.config, snapshotEvery: 1, snapshotEveryBytes: 1, snapshotGrowth: 2 };
      const at = (entries: number, bytes: number) =>
        isSnapshotDue({ ...s, raft: { ...s.raft, config }, lastApplied: before + entries, appliedBytes: bytes });
      expect(tableSize(s.node.vault.records)).toBe(1);
      expect([
        at(1, 0),
        at(2, 0),
        at(1, 2 * SNAPSHOT_BYTES_PER_RECORD - 1),
        at(1, 2 * SNAPSHOT_BYTES_PER_RECORD),
      ]).toEqual([false, true, false, true]);
      expect(
        isSnapshotDue({
          ...s,
          raft: { ...s.raft, config: { ...config, snapshotGrowth: undefined } },
          lastApplied: before + 1,
        }),
      ).toBe(true);
    },
  );

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
    // several chunks of at most 64 bytes, the last one `done`, sealed and opened like any message
    expect(f.sentChunks.length).toBeGreaterThan(1);
    expect(f.sentChunks.every((c) => Buffer.from(c.data, 'base64').length <= 64)).toBe(true);
    expect(f.sentChunks.filter((c) => c.done).length).toBeGreaterThan(0);
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

  test('InstallSnapshot chunks with malformed records are refused by the decoder at the last (closed code)', () => {
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
    const follower = restartRaft<Command>(raftConfig(RULES, 1, 3, 16, 2, 32), EMPTY_DURABLE, null);
    /** The chunks of `state` as leader r0 of term 1 sends them, sealed, then opened by r1. */
    const carried = (state: unknown) => {
      const bytes = new TextEncoder().encode(JSON.stringify(state));
      const out: Extract<RaftMessage<Command>, { type: 'InstallSnapshotRequest' }>[] = [];
      for (let offset = 0; offset < bytes.length; offset += 32) {
        const data = Buffer.from(bytes.subarray(offset, offset + 32)).toString('base64');
        const common = { term: 1, snapshotIndex: 3, snapshotTerm: 1, leaderCommit: 3, leaderLastIndex: 3 };
        const m = { type: 'InstallSnapshotRequest' as const, ...common, offset, data, recoveryNonce: null };
        const e = sealPeerMessage(a!, fleet.labels.peerMac, 0, 1, { ...m, done: offset + 32 >= bytes.length });
        const opened = openPeerMessage(b!, fleet.labels.peerMac, 1, e, readVaultCommand);
        if (opened.type !== 'InstallSnapshotRequest') throw new Error('not a chunk');
        out.push(opened);
      }
      return out;
    };
    for (const state of bad) {
      const cs = carried(state);
      let s = follower;
      for (const c of cs.slice(0, -1)) s = handleInstallSnapshotRequest(s, 0, c).state;
      expect(s.incoming?.length ?? 0).toBe(32 * (cs.length - 1));
      expect(() => handleInstallSnapshotRequest(s, 0, cs.at(-1)!)).toThrow(
        expect.objectContaining({ code: 'MalformedMessage' }),
      );
    }
    const erased = { registrationRecord: null, sealedPayload: null };
    const good = one({ ...record, ...erased, status: 'Exhausted', attemptsUsed: 3 });
    let s = follower;
    let installed: unknown;
    for (const c of carried(good)) {
      const r = handleInstallSnapshotRequest(s, 0, c);
      s = r.state;
      installed ??= r.installed?.state;
    }
    expect(installed).toEqual(good);
    // on the wire: a chunk beyond the leader's commit index, or whose data is not base64, is refused
    const [first] = carried(good);
    for (const wrong of [{ snapshotIndex: 4 }, { data: 'not base64!' }, { data: 'QQ' }, { done: 1 }]) {
      const e = sealPeerMessage(a!, fleet.labels.peerMac, 0, 1, { ...first!, ...wrong } as never);
      expect(() => openPeerMessage(b!, fleet.labels.peerMac, 1, e, readVaultCommand)).toThrow(
        expect.objectContaining({ code: 'MalformedMessage' }),
      );
    }
  });
});

describe('the broken variant snapshot-chunk-unchecked (src/broken/replica.ts)', () => {
  // two snapshots of one record, of one length: A at 3 (guess 01 pending), B at 5 (01 ended, 02 pending)
  const rec = (attemptsUsed: number, session: string) => ({
    status: 'Registered' as const,
    generation: 1,
    registrationRecord: 'bb',
    sealedPayload: 'cc',
    transcriptHash: 'dd',
    guessLimit: 3,
    attemptsUsed,
    pending: { [session]: 0 },
  });
  const A: VaultState = { records: { aa: rec(1, '01') } };
  const B: VaultState = { records: { aa: rec(2, '02') } };
  const leader = { type: 'InstallSnapshotRequest' as const, term: 2, leaderCommit: 5, leaderLastIndex: 5 };
  // chunks that end just before "pending": A's first holds its attemptsUsed, B's next its pending
  const cut = new TextDecoder().decode(encoded(A)).indexOf('"pending"');
  const of = (index: number, state: VaultState) =>
    chunks(leader, index, state, cut).map((c) => ({ ...c, snapshotTerm: 2 }) as RaftMessage<Command>);
  const config = memoryFleets('chunk-unchecked').config;
  const hsm = memoryFleets('chunk-unchecked').hsms(1)[0]!;
  /** The leader compacted from A to B after A's first chunk: B's chunks go on from where A's ended. */
  const run = (steps: typeof REPLICA_STEPS) => {
    let f = restartReplica(raftConfig(RULES, 1, 3, 16, 8, 128), EMPTY_DURABLE as Durable<Command>, null);
    const [a0] = of(3, A);
    const b = of(5, B);
    let installed: VaultState | undefined;
    for (const m of [a0!, ...b.slice(1)]) {
      const step = steps.handlePeerMessage(f, 0, m, { vault: RULES.vault, hsm, rng: seededRng('x'), now: 0, config });
      f = step.state;
      if (step.ghost.some((g) => g.type === 'Snapshot' && g.installed)) installed = f.node.vault;
    }
    return installed;
  };

  test('it installs a splice of two snapshots, which INV-11 refuses; the correct follower refuses the chunks', () => {
    expect(encoded(A).length).toBe(encoded(B).length);
    expect(of(5, B).length).toBeGreaterThan(1);
    const spliced = run(snapshotChunkUnchecked(REPLICA_STEPS));
    expect(spliced).toBeDefined();
    expect(canonicalJson(spliced)).not.toBe(canonicalJson(A));
    expect(canonicalJson(spliced)).not.toBe(canonicalJson(B));
    expect(spliced!.records.aa).toMatchObject({ attemptsUsed: 1, pending: { '02': 0 } }); // neither A nor B
    // INV-11: the leader's snapshot at 5 is B; the one installed at 5 differs
    expect(() => checkSnapshot(1, 5, spliced!, null, canonicalJson(B))).toThrow(
      expect.objectContaining({ invariant: 'INV-11' }),
    );
    // the same chunks to the correct follower: B's are refused (they are not of the snapshot it holds)
    expect(run(REPLICA_STEPS)).toBeUndefined();
  });
});
