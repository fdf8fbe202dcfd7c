/**
 * Review of issue 15: the recovery nonce must be fresh at every start (durable.ts freshNonce), or a
 * replayed AppendEntries of an earlier recovery ends a later one on an older log. No check of the
 * project exercises this (with freshNonce returning a constant, bkv explore and bkv check
 * --suite consensus|attack|guess-limit all pass); this test does. One compromised host of 3 (r0),
 * two rollbacks, a replayed message:
 *   1. r1 leads term 1; r0's host rolls it back to nothing: r0 recovers from r1 (message M kept)
 *   2. entry g is committed by r1 + r0 (r2 misses it)
 *   3. r0's host rolls it back again (to the blob before g): r0 recovers... and M is replayed to it
 *   4. r2 campaigns in term 2; r0 must not help it win without g
 */
import { describe, expect, test } from 'vitest';
import { seededRng } from '../src/crypto/rng.ts';
import { type Hosted, type HostIo, RULES, startHosted, stepHosted } from '../src/replication/host.ts';
import type { RaftMessage } from '../src/replication/raft.ts';
import { SafetyMonitor } from '../src/sim/monitor.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import type { Command } from '../src/vault/records.ts';
import { MemoryHostStorage } from '../src/vault/storage.ts';
import { settleAmong } from './support/peer-queue.ts';

type Out = { to: number; from: number; m: RaftMessage<Command> };

describe('a replayed recovery message', () => {
  test('does not end a later recovery of r0 on an older log (no committed entry lost)', () => {
    const fleet = memoryFleets('recovery-nonce');
    const hsms = fleet.hsms(3);
    const nodes = hsms.map((hsm, i) => {
      const storage = new MemoryHostStorage();
      const rng = seededRng(`recovery nonce r${i}`);
      const io: HostIo = { hsm, storage, sealLabel: fleet.labels.seal, rng, sealRng: rng };
      return { io, storage, hosted: startHosted(RULES, io, { id: i, n: 3, maxBatch: 16 }).hosted as Hosted };
    });
    const monitor = new SafetyMonitor(3);
    const violations: string[] = [];
    const seen: Out[] = [];
    const run = (i: number, action: Parameters<typeof stepHosted>[3]): Out[] => {
      const n = nodes[i]!;
      const before = n.hosted.state.raft;
      const r = stepHosted(RULES, n.io, n.hosted, action, 0, fleet.config);
      n.hosted = r.hosted;
      const raft = r.hosted.state.raft;
      try {
        if (raft.role === 'leader' && before.role !== 'leader') monitor.onBecameLeader(i, raft.durable.currentTerm);
        if (raft.commitIndex > before.commitIndex) monitor.onCommit(i, raft, before.commitIndex);
        monitor.checkCommittedPrefix(i, raft);
        monitor.checkLeaderCompleteness(i, raft);
      } catch (e) {
        violations.push(String(e));
      }
      const outs = r.step.messages.map((o) => ({ to: o.to, from: i, m: o.message }));
      seen.push(...outs);
      return outs;
    };
    const deliver = (o: Out) => run(o.to, (steps, s, env) => steps.handlePeerMessage(s, o.from, o.m, env));
    const settle = (outs: Out[], among: number[]) => settleAmong(outs, among, deliver);
    const rollback = (i: number, present: (s: MemoryHostStorage) => void) => {
      const n = nodes[i]!;
      present(n.storage);
      const started = startHosted(RULES, n.io, { id: i, n: 3, maxBatch: 16 });
      n.hosted = started.hosted;
      return started.rolledBack;
    };
    const heartbeat = (among: number[]) =>
      settle(
        run(1, (steps, s, env) => steps.onHeartbeat(s, env)),
        among,
      );
    const cmd = (k: number): Command => ({
      type: 'EndSession',
      credentialId: '00',
      sessionId: `0${k}`,
      reason: 'expired',
    });

    // 1. r1 leads term 1 over all; some entries; r0 rolled back to nothing and recovers from r1
    settle(
      run(1, (steps, s, env) => steps.onElectionTimeout(s, env)),
      [0, 1, 2],
    );
    settle(
      run(1, (steps, s, env) => steps.proposeCommand(s, cmd(1), env)),
      [0, 1, 2],
    );
    heartbeat([0, 1, 2]);
    expect(rollback(0, (s) => s.rollback(s.history.length))).toBe(true);
    seen.length = 0;
    heartbeat([0, 1]);
    heartbeat([0, 1]);
    expect(nodes[0]!.hosted.state.raft.durable.recovering).toBe(false);
    const M = seen
      .filter((o) => o.to === 0 && o.m.type === 'AppendEntriesRequest' && o.m.recoveryNonce !== null)
      .at(-1)!;
    expect(M).toBeDefined();
    const beforeG = nodes[0]!.storage.history.length - 1;

    // 2. g committed by r1 + r0 (r2 cut off)
    settle(
      run(1, (steps, s, env) => steps.proposeCommand(s, cmd(2), env)),
      [0, 1],
    );
    heartbeat([0, 1]);
    const gIndex = nodes[1]!.hosted.state.raft.commitIndex;
    expect(nodes[1]!.hosted.state.raft.durable.log[gIndex - 1]!.command).toMatchObject({ sessionId: '02' });

    // 3. r0 rolled back again, to the blob before g; M (the first recovery's last message) is replayed to it
    expect(rollback(0, (s) => s.present(beforeG))).toBe(true);
    deliver(M);
    const r0 = nodes[0]!.hosted.state.raft;
    console.log(
      `[review] after the replay: r0 recovering=${r0.durable.recovering}, ` +
        `log ${r0.durable.log.length}, g at ${gIndex}`,
    );

    // 4. r1 cut off; r2 campaigns; r0 answers
    settle(
      run(2, (steps, s, env) => steps.onElectionTimeout(s, env)),
      [0, 2],
    );
    settle(
      run(2, (steps, s, env) => steps.onHeartbeat(s, env)),
      [0, 2],
    );
    console.log(`[review] r2 role ${nodes[2]!.hosted.state.raft.role}; violations: ${violations[0] ?? 'none'}`);
    expect(violations).toEqual([]);
  });
});
