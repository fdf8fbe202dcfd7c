/**
 * Bench suite `scale`: the cost of one recovery as the number of registered credentials grows
 * (issue 19). 3 replicas in the simulator, memory HSMs, every message DELAY_MS of simulated time.
 *
 *   a run      a fresh fleet (`SimFleet`, the monitor off); a serving leader; CLIENTS simulated
 *              clients register with OPAQUE (untimed); then the fleet is filled up to SIZE
 *              credentials by copies of the first client's Register entry under other credential
 *              ids, proposed to the leader in one step (untimed: no OPAQUE, the log and the records
 *              grow exactly as with real clients); then every client recovers ROUNDS times, all at
 *              once, and each recovery must release that client's K.
 *   timed      the wall clock of the simulation of the recoveries over their number (ms per recovery).
 *   bytes      the bytes the replicas' HSMs sealed for host storage during the recoveries, over their
 *              number (bytes written per recovery; every sealed byte is written to a host).
 *
 * Beside them, from each size's run: the time of the fill, sealed saves per recovery, the resident
 * memory (heap) per credential after the fill, the leader's last index and snapshot index, and
 * (after the recoveries, untimed by the table) the time of a snapshot and of an InstallSnapshot of
 * the whole records (`measureSnapshot`). The replicas snapshot every DEFAULT_SNAPSHOT_EVERY
 * entries, as served ones do. Sizes: 10^2, 10^3, 10^4 (`--quick`: 10^2 and 10^3); BKV_DEEP=1 adds 10^5.
 * @module
 */
import { History } from '../../src/check/history.ts';
import { toHex } from '../../src/crypto/bytes.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import type { Command } from '../../src/vault/records.ts';
import { ScriptedClient, keyBytes } from '../../src/sim/client.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import { type FleetFactory, memoryFleets } from '../../src/scenarios/fleets.ts';
import { DEFAULT_SNAPSHOT_EVERY, RULES, replicaEnv } from '../../src/replication/host.ts';
import { persistDurable } from '../../src/replication/durable.ts';
import { openPeerMessage, readVaultCommand, sealPeerMessage } from '../../src/replication/peer-auth.ts';
import {
  type Durable,
  type RaftMessage,
  EMPTY_DURABLE,
  compactLog,
  lastIndexOf,
  snapshotIndex,
} from '../../src/replication/raft.ts';
import { handlePeerMessage, restartReplica } from '../../src/replication/replica.ts';
import { MemoryChainStorage } from '../../src/vault/storage.ts';
import { type BenchSuite, type BenchTask, check, perUnit } from '../harness.ts';

const DELAY_MS = 2;
const REPLICAS = 3;
const CLIENTS = 4;
const ROUNDS = 2;
const CLIENT_TIMING = { thinkMinMs: 0, thinkMaxMs: 2 };

/** An HSM that counts the bytes it seals (what its host is then given to store). */
export function countingHsm(hsm: Hsm): { hsm: Hsm; sealed: { bytes: number; calls: number } } {
  const sealed = { bytes: 0, calls: 0 };
  const wrapped = new Proxy(hsm, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop !== 'seal') return (v as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const out = (v as (...a: unknown[]) => Uint8Array).apply(target, args);
        sealed.bytes += out.length;
        sealed.calls += 1;
        return out;
      };
    },
  });
  return { hsm: wrapped, sealed };
}

export interface ScaleRun {
  readonly credentials: number;
  readonly recoveries: number;
  readonly wallMs: number;
  /** The process's CPU time (user + system) over the recoveries: steadier than the wall clock on a shared machine. */
  readonly cpuMsPerRecovery: number;
  readonly bytesPerRecovery: number;
  readonly savesPerRecovery: number;
  readonly fillMs: number;
  readonly heapBytesPerCredential: number;
  readonly logLength: number;
  readonly snapshotIndex: number;
  readonly snapshotMs: number;
  readonly snapshotBytes: number;
  readonly installSnapshotMs: number;
}

/** One run at `size` credentials (see the module header); throws unless every recovery released its K. */
export function runScale(size: number, seed: string, beforeRecoveries?: () => void): ScaleRun {
  const fleets = memoryFleets('bkv-bench');
  const counted = fleets.hsms(REPLICAS).map(countingHsm);
  const heap0 = process.memoryUsage().heapUsed;
  const fleet = new SimFleet({
    hsms: counted.map((c) => c.hsm),
    labels: fleets.labels,
    config: fleets.config,
    seed,
    network: { minDelayMs: DELAY_MS, maxDelayMs: DELAY_MS },
    checks: false,
    snapshotEvery: DEFAULT_SNAPSHOT_EVERY,
  });
  const id = `scale/${size}`;
  const leaderServing = () => {
    const l = fleet.leader();
    return l !== null && fleet.replica(l).state!.serving;
  };
  check(fleet.runUntil(leaderServing, 10_000), `${id}: no serving leader after 10 s of simulated time`);
  const history = new History();
  const keyNames = new Map(Array.from({ length: CLIENTS }, (_, i) => [toHex(keyBytes(`K-${i}`)), `K-${i}`] as const));
  const clients = Array.from({ length: CLIENTS }, (_, i) => {
    const ops = [{ kind: 'register', password: `pw-${i}`, key: `K-${i}`, limit: 10 }] as const;
    const script = { name: `client-${i}`, credential: `alice-${i}`, startAt: fleet.now, ops };
    const rng = seededRng(`${seed}/${script.name}`);
    return new ScriptedClient(fleet, script, { history, keyNames, rng, timing: CLIENT_TIMING });
  });
  check(
    fleet.runUntil(() => clients.every((x) => x.done), 60_000),
    `${id}: registrations did not complete`,
  );

  // the fill: copies of a real Register entry under other credential ids, in one proposal
  const t0 = performance.now();
  const leader = fleet.leader()!;
  const template = fleet.replica(leader).state!.raft.durable.log.find((e) => e.command?.type === 'Register')!
    .command as Extract<Command, { type: 'Register' }>;
  const fill: Command[] = [];
  for (let k = CLIENTS; k < size; k++) fill.push({ ...template, credentialId: `f${k.toString(16).padStart(31, '0')}` });
  fleet.proposeAt(fleet.now, leader, fill);
  const caughtUp = () => {
    const l = fleet.leader();
    if (l === null) return false;
    const last = lastIndexOf(fleet.replica(l).state!.raft.durable);
    return Array.from({ length: REPLICAS }, (_, i) => fleet.replica(i).state!.lastApplied >= last).every(Boolean);
  };
  check(fleet.runUntil(caughtUp, 600_000), `${id}: the fill did not reach every replica`);
  const fillMs = performance.now() - t0;
  const records = Object.keys(fleet.replica(fleet.leader()!).state!.node.vault.records).length;
  check(records === size, `${id}: ${records} records after the fill, expected ${size}`);
  const heapBytesPerCredential = Math.max(0, process.memoryUsage().heapUsed - heap0) / size;

  const bytes0 = counted.reduce((a, c) => a + c.sealed.bytes, 0);
  const saves0 = counted.reduce((a, c) => a + c.sealed.calls, 0);
  beforeRecoveries?.();
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  clients.forEach((x, i) =>
    x.append(
      fleet,
      Array.from({ length: ROUNDS }, () => ({ kind: 'recover', password: `pw-${i}` }) as const),
    ),
  );
  const done = fleet.runUntil(() => clients.every((x) => x.done), 600_000);
  const wallMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu1);
  check(done, `${id}: recoveries did not complete`);
  const recoveries = history.ops.filter((o) => o.input.kind === 'recover');
  check(recoveries.length === CLIENTS * ROUNDS, `${id}: ${recoveries.length} recoveries, expected ${CLIENTS * ROUNDS}`);
  for (const o of recoveries) {
    const key = `K-${o.client.slice('client-'.length)}`;
    check(
      o.completion === 'ok' && o.output?.kind === 'Recovered' && o.output.key === key,
      `${id}: ${o.client} got no ${key}`,
    );
  }
  const bytes = counted.reduce((a, c) => a + c.sealed.bytes, 0) - bytes0;
  const saves = counted.reduce((a, c) => a + c.sealed.calls, 0) - saves0;
  const snap = measureSnapshot(fleet, counted.map((c) => c.hsm), fleets, size, seed);
  const d = fleet.replica(fleet.leader()!).state!.raft.durable;
  return {
    credentials: size,
    recoveries: recoveries.length,
    wallMs,
    cpuMsPerRecovery: Math.round(((cpu.user + cpu.system) / 1000 / recoveries.length) * 100) / 100,
    bytesPerRecovery: Math.round(bytes / recoveries.length),
    savesPerRecovery: Math.round((saves / recoveries.length) * 100) / 100,
    fillMs: Math.round(fillMs),
    heapBytesPerCredential: Math.round(heapBytesPerCredential),
    logLength: lastIndexOf(d),
    snapshotIndex: snapshotIndex(d),
    ...snap,
  };
}

export interface SnapshotCost {
  /** A snapshot of the leader's records: compaction, then its base sealed for the host (ms). */
  readonly snapshotMs: number;
  readonly snapshotBytes: number;
  /**
   * An InstallSnapshot of it to an empty follower: the message MACed, opened and decoded, the
   * records taken, the follower's base sealed (ms).
   */
  readonly installSnapshotMs: number;
}

/**
 * The cost of a snapshot and of an InstallSnapshot at this size, on the fleet's HSMs once its run
 * is over (their anchors move: the fleet is not used again). Throws unless the follower ends with
 * every record.
 */
export function measureSnapshot(
  fleet: SimFleet,
  hsms: readonly Hsm[],
  fleets: Pick<FleetFactory, 'labels' | 'config'>,
  size: number,
  seed: string,
): SnapshotCost {
  const l = fleet.leader()!;
  const f = (l + 1) % REPLICAS;
  const st = fleet.replica(l).state!;
  const rng = seededRng(`${seed}/snapshot`);
  const version = 1n << 50n; // past every version of the run
  const t0 = performance.now();
  const fresh = snapshotIndex(st.raft.durable) < st.lastApplied;
  const raft = fresh ? compactLog(st.raft, st.lastApplied, st.node.vault) : st.raft;
  const leaderStore = { hsm: hsms[l]!, sealLabel: fleets.labels.seal, storage: new MemoryChainStorage() };
  persistDurable(leaderStore, version, raft.durable, rng);
  const snapshotMs = performance.now() - t0;
  const snapshotBytes = leaderStore.storage.history[0]!.length;

  const t1 = performance.now();
  const message: RaftMessage<Command> = {
    type: 'InstallSnapshotRequest',
    term: raft.durable.currentTerm,
    snapshot: raft.durable.snapshot!,
    leaderCommit: raft.commitIndex,
    leaderLastIndex: lastIndexOf(raft.durable),
    recoveryNonce: null,
  };
  const envelope = sealPeerMessage(hsms[l]!, fleets.labels.peerMac, l, f, message);
  const opened = openPeerMessage(hsms[f]!, fleets.labels.peerMac, f, envelope, readVaultCommand);
  const config = { id: f, n: REPLICAS, maxBatch: 256, snapshotEvery: DEFAULT_SNAPSHOT_EVERY };
  const empty = restartReplica(config, EMPTY_DURABLE as Durable<Command>, null);
  const step = handlePeerMessage(empty, l, opened, replicaEnv(RULES, hsms[f]!, rng, 0, fleets.config));
  const followerStore = { hsm: hsms[f]!, sealLabel: fleets.labels.seal, storage: new MemoryChainStorage() };
  persistDurable(followerStore, version, step.state.raft.durable, rng);
  const installSnapshotMs = performance.now() - t1;
  const records = Object.keys(step.state.node.vault.records).length;
  check(records === size, `scale/${size}: ${records} records after an InstallSnapshot, expected ${size}`);
  const round = (x: number) => Math.round(x * 10) / 10;
  return { snapshotMs: round(snapshotMs), snapshotBytes, installSnapshotMs: round(installSnapshotMs) };
}

export function scaleSizes(quick: boolean, deep = process.env.BKV_DEEP === '1'): number[] {
  return quick ? [100, 1000] : deep ? [100, 1000, 10_000, 100_000] : [100, 1000, 10_000];
}

export const scaleSuite: BenchSuite = {
  id: 'scale',
  title: 'cost per recovery as the credentials grow (3 replicas, memory HSMs)',
  async open(ctx) {
    const seed = `${ctx.seed}/scale`;
    const last = new Map<number, ScaleRun>();
    const tasks: BenchTask[] = scaleSizes(ctx.quick).map((size, i) => ({
      id: `scale/memory/3/${size}`,
      name: `memory 3 replicas, ${size} credentials: ${CLIENTS} clients x ${ROUNDS}, per recovery`,
      fn: () => {
        ctx.log(`scale: ${size} credentials`);
        const r = runScale(size, seed);
        last.set(size, r);
        ctx.log(`scale: ${JSON.stringify(r)}`);
        return perUnit(r.wallMs, r.recoveries);
      },
      iterations: 1,
      time: 0,
      warmup: i === 0 ? 1 : 0, // the first size also warms the JIT up
      ...(i === 0 && {
        note: 'a fresh fleet filled to the size (untimed); wall clock of the recoveries over their number',
      }),
    }));
    return {
      tasks,
      info: { delayMs: DELAY_MS, replicas: REPLICAS, clients: CLIENTS, rounds: ROUNDS },
      afterRun: async () => {
        const runs = [...last.values()];
        const base = runs.find((r) => r.credentials === 100);
        const rows = runs.map((r) => ({
          ...r,
          msPerRecovery: Math.round((r.wallMs / r.recoveries) * 100) / 100,
          ...(base && {
            msRatioTo100: Math.round((r.wallMs / r.recoveries / (base.wallMs / base.recoveries)) * 100) / 100,
            cpuRatioTo100: Math.round((r.cpuMsPerRecovery / base.cpuMsPerRecovery) * 100) / 100,
            bytesRatioTo100: Math.round((r.bytesPerRecovery / base.bytesPerRecovery) * 100) / 100,
          }),
        }));
        for (const r of rows) ctx.log(`scale ${r.credentials}: ${JSON.stringify(r)}`);
        for (const r of rows) {
          const kb = Math.round(r.snapshotBytes / 1024);
          const what = `snapshot ${r.snapshotMs} ms (${kb} KB sealed), InstallSnapshot ${r.installSnapshotMs} ms`;
          ctx.log(`scale ${r.credentials} credentials: ${what}`);
        }
        return { runs: rows };
      },
      dispose: () => {},
    };
  },
};
