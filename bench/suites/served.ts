/**
 * Bench suite `served`: recoveries against real replica processes (issue 17 §4, spec ch. 15.6),
 * beside the same workload in the simulator and on the single-process vault, and where the time
 * of a recovery goes.
 *
 *   processes  a fleet of 1, 3 or 5 `bkv serve` processes on 127.0.0.1 (`fleetUp`, memory or SoftHSM
 *              HSMs); C clients (1, 8, 32) in this process, each with its own credential, registered
 *              untimed, each a `BkvClient` over its own `HttpRelay` (the client library, as `bkv
 *              recover` uses it); an untimed warm-up; then every client recovers with its password,
 *              back to back, for a fixed time, each recovery checked to release that client's K.
 *              Per cell: recoveries per second (completed over the wall clock), p50 and p99 of a
 *              recovery's latency (KE1 sent to K opened), the leader's and the followers' sealed
 *              saves per recovery (GET /v1/status `persists`), the CPU time per recovery of the
 *              leader, the followers and this process (the clients), and the load average.
 *   simulator  the same clients in `SimFleet` (bench/suites/replicated.ts `runRecoveries`, 2 ms per
 *              message), 1, 3, 5 replicas with batching: recoveries per second of one core running
 *              everything; no latency (simulated time is not the wall clock)
 *   vault      `SingleReplicaVault` in this process (its state in memory), C concurrent clients over
 *              `directRelay`: recoveries per second and latency
 *
 * The table's figure for a cell is ms per recovery (1 / throughput); `afterRun` brings the last
 * fleet down, measures the unit costs (one save, one HSM counter advance on each backend,
 * the server and client crypto of one recovery; the HTTP round trips are measured on each fleet)
 * and composes the breakdown and the targets (bench/suites/served-costs.ts). The machine is shared:
 * every cell records the 1-minute load average at its start and end.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { BkvClient, generateBackupKey } from '../../src/client/client.ts';
import { directRelay } from '../../src/client/relay.ts';
import { utf8 } from '../../src/crypto/bytes.ts';
import { getSuite } from '../../src/crypto/suite.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import { MemoryHsm } from '../../src/hsm/memory.ts';
import { type FleetFactory, memoryFleets } from '../../src/scenarios/fleets.ts';
import { suiteFor } from '../../src/serve/fleet.ts';
import { keyLabels } from '../../src/vault/keys.ts';
import type { Frame } from '../../src/vault/protocol.ts';
import { createSingleReplicaVault } from '../../src/vault/setup.ts';
import { type BenchSuite, type BenchTask, type SuiteContext, check, keepSoftHsmConf, perUnit } from '../harness.ts';
import { runRecoveries as runSimRecoveries } from './replicated.ts';
import {
  type Backend,
  type RecoveryRun,
  type ServedClient,
  ServedFleets,
  type Stop,
  percentile,
  runRecoveries,
} from './served-fleet.ts';
import {
  type Breakdown,
  type ServedTarget,
  type UnitCosts,
  computeBreakdowns,
  computeTargets,
  measureUnitCosts,
} from './served-costs.ts';
import { timingHsm } from './vault.ts';

export type Runtime = 'processes' | 'simulator' | 'vault';

export interface ServedCell {
  readonly id: string;
  readonly runtime: Runtime;
  readonly backend: Backend;
  readonly replicas: number;
  readonly clients: number;
  readonly recoveries: number;
  readonly unavailable: number;
  readonly wallMs: number;
  readonly perSecond: number;
  /** Latency of a recovery, ms (null in the simulator). */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** 1-minute load average at the cell's start and end. */
  readonly load: readonly [number, number];
  /** processes only: per recovery, the leader's sealed saves and the followers' (mean of them). */
  readonly leaderPersists?: number;
  readonly followerPersists?: number;
  /** processes only: CPU ms per recovery of the leader, of each follower (mean), of this process (the clients). */
  readonly cpuMs?: { readonly leader: number; readonly follower: number | null; readonly clients: number } | null;
  /** processes only: the leader changed during the cell. */
  readonly leaderChanged?: boolean;
  /** processes only: the leader's log length and sealed state (bytes) at the cell's start and end. */
  readonly logLength?: readonly [number, number];
  readonly sealedBytes?: readonly [number, number];
  /** processes only: GET /v1/status round trips to the leader after the cell, ms (median). */
  readonly roundTrip?: { readonly freshMs: number; readonly keptAliveMs: number };
  /** processes, one client only: the unit costs, measured right after the cell (served-costs.ts). */
  readonly unitCosts?: UnitCosts;
  /** simulator only: HSM counter advances per sealed save, over the whole fleet. */
  readonly countersPerSave?: number;
}

const REPLICAS = [1, 3, 5] as const;
const CLIENTS = [1, 8, 32] as const;
const BACKENDS: readonly Backend[] = ['softhsm', 'memory'];

/** How long a cell of real processes runs (ms), by clients: long enough for about 100 or more latencies. */
const WINDOW_MS: Record<number, number> = { 1: 10_000, 8: 10_000, 32: 15_000 };
const WARMUP_MS = 1500;

interface Plan {
  readonly processes: readonly { backend: Backend; replicas: number; clients: number }[];
  readonly simulator: readonly { backend: Backend; replicas: number; clients: number }[];
  readonly vault: readonly { backend: Backend; clients: number }[];
  readonly stop: (clients: number) => Stop;
  /** The single-process vault's cells (its figures settle sooner). */
  readonly vaultStop: Stop;
  readonly warmup: Stop;
  readonly simRounds: (clients: number) => number;
  /** Samples of each unit cost (the crypto: a quarter of them). */
  readonly costRuns: number;
}

function planOf(quick: boolean): Plan {
  if (quick)
    return {
      processes: [
        { backend: 'memory', replicas: 1, clients: 1 },
        { backend: 'memory', replicas: 3, clients: 2 },
        { backend: 'softhsm', replicas: 1, clients: 2 },
      ],
      simulator: [
        { backend: 'memory', replicas: 3, clients: 2 },
        { backend: 'softhsm', replicas: 1, clients: 2 },
      ],
      vault: [
        { backend: 'memory', clients: 2 },
        { backend: 'softhsm', clients: 2 },
      ],
      stop: () => ({ ms: 5000, perClient: 2 }),
      vaultStop: { ms: 5000, perClient: 2 },
      warmup: { ms: 1000, perClient: 1 },
      simRounds: () => 1,
      costRuns: 2,
    };
  const grid = BACKENDS.flatMap((backend) =>
    REPLICAS.flatMap((replicas) => CLIENTS.map((clients) => ({ backend, replicas, clients }))),
  );
  return {
    processes: grid,
    simulator: grid,
    vault: BACKENDS.flatMap((backend) => CLIENTS.map((clients) => ({ backend, clients }))),
    stop: (clients) => ({ ms: WINDOW_MS[clients] ?? 10_000, perClient: Number.MAX_SAFE_INTEGER }),
    vaultStop: { ms: 5000, perClient: Number.MAX_SAFE_INTEGER },
    warmup: { ms: WARMUP_MS, perClient: 2 },
    // about 32 recoveries a cell
    simRounds: (clients) => Math.max(1, Math.ceil(32 / clients)),
    costRuns: 40,
  };
}

export const cellId = (runtime: Runtime, backend: Backend, replicas: number, clients: number) =>
  `served/${runtime}/${backend}/${replicas}/${clients}`;

const plural = (n: number, what: string) => `${n} ${what}${n > 1 ? 's' : ''}`;
const load1 = () => +os.loadavg()[0]!.toFixed(2);
const round2 = (x: number) => Math.round(x * 100) / 100;

let clockTicks: number | undefined;
/** CPU ms (user + system) a process has used so far, from /proc (null where there is none). */
function processCpuMs(pid: number): number | null {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) / clockTicks) * 1000;
  } catch {
    return null;
  }
}

function cellOf(
  base: Omit<ServedCell, 'recoveries' | 'unavailable' | 'wallMs' | 'perSecond' | 'p50Ms' | 'p99Ms'>,
  r: RecoveryRun,
  latency: boolean,
): ServedCell {
  const n = r.latenciesMs.length;
  return {
    ...base,
    recoveries: n,
    unavailable: r.unavailable,
    wallMs: Math.round(r.wallMs),
    perSecond: round2((n / r.wallMs) * 1000),
    p50Ms: latency ? round2(percentile(r.latenciesMs, 50)) : null,
    p99Ms: latency ? round2(percentile(r.latenciesMs, 99)) : null,
  };
}

/** One cell of real processes (see the module header), on a fleet of its own. */
async function runProcessCell(
  fleets: ServedFleets,
  p: { backend: Backend; replicas: number; clients: number },
  plan: Plan,
  ctx: SuiteContext,
): Promise<ServedCell> {
  const id = cellId('processes', p.backend, p.replicas, p.clients);
  const fleet = await fleets.up(p.backend, p.replicas);
  const clients = await fleet.clients(p.clients);
  await runRecoveries(clients, plan.warmup, `${id} warm-up`);
  const before = await fleet.statuses();
  const leader = await fleet.leader();
  const sealed0 = fleet.sealedBytes(leader.id);
  const pids = before.map((s) => s?.pid ?? null);
  const cpu0 = pids.map((pid) => (pid === null ? null : processCpuMs(pid)));
  const self0 = process.cpuUsage();
  const load0 = load1();
  ctx.log(`served: ${id}: ${plan.stop(p.clients).ms / 1000} s, leader r${leader.id}, load ${load0}`);
  const r = await runRecoveries(clients, plan.stop(p.clients), id);
  const self = process.cpuUsage(self0);
  const cpu1 = pids.map((pid) => (pid === null ? null : processCpuMs(pid)));
  const after = await fleet.statuses();
  const load = [load0, load1()] as const;
  const n = r.latenciesMs.length;
  const persists = (i: number) => (after[i]?.persists ?? NaN) - (before[i]?.persists ?? NaN);
  const followers = [...Array(p.replicas).keys()].filter((i) => i !== leader.id);
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  const cpuOf = (i: number) => (cpu0[i] == null || cpu1[i] == null ? null : (cpu1[i]! - cpu0[i]!) / n);
  const followerCpu = followers.map(cpuOf);
  const leaderCpu = cpuOf(leader.id);
  const afterLeader = after.find((s) => s?.serving) ?? null;
  const sealed = [sealed0, fleet.sealedBytes(leader.id)] as const;
  const savedBytes = (i: number) => (after[i]?.hostBytes ?? 0) - (before[i]?.hostBytes ?? 0);
  const roundTrip = {
    freshMs: round2(await fleet.roundTripMs(leader.id, 20, true)),
    keptAliveMs: round2(await fleet.roundTripMs(leader.id, 20, false)),
  };
  // the unit costs of this backend, under the load this cell saw (the fleet idles meanwhile)
  const unitCosts =
    p.clients === 1
      ? await measureUnitCosts(
          fleets.base,
          p.backend,
          plan.costRuns,
          Math.max(64, Math.round(savedBytes(leader.id) / Math.max(1, persists(leader.id)))),
          ctx.rngFor(`${id}/costs`),
        )
      : undefined;
  return cellOf(
    {
      id,
      runtime: 'processes',
      backend: p.backend,
      replicas: p.replicas,
      clients: p.clients,
      load,
      leaderPersists: round2(persists(leader.id) / n),
      followerPersists: round2(mean(followers.map(persists)) / n),
      cpuMs:
        leaderCpu === null || followerCpu.some((x) => x === null)
          ? null
          : {
              leader: round2(leaderCpu),
              follower: followers.length === 0 ? null : round2(mean(followerCpu as number[])),
              clients: round2((self.user + self.system) / 1000 / n),
            },
      leaderChanged: afterLeader === null || afterLeader.id !== leader.id || afterLeader.term !== leader.term,
      logLength: [leader.logLength, afterLeader?.logLength ?? NaN],
      sealedBytes: sealed,
      roundTrip,
      ...(unitCosts && { unitCosts }),
    },
    r,
    true,
  );
}

/** One cell in the simulator: recoveries per second of one core running clients, leader and followers. */
async function runSimulatorCell(
  p: { backend: Backend; replicas: number; clients: number },
  plan: Plan,
  memory: FleetFactory,
  seed: string,
): Promise<ServedCell> {
  const id = cellId('simulator', p.backend, p.replicas, p.clients);
  let factory = memory;
  let restore: (() => void) | null = null;
  if (p.backend === 'softhsm') {
    restore = keepSoftHsmConf();
    const { softHsmFleets } = await import('../../src/scenarios/fleets.ts');
    factory = await softHsmFleets(p.replicas, `bkv-bench-s${p.replicas}`);
  }
  try {
    const timers = factory.hsms(p.replicas).map(timingHsm);
    const load0 = load1();
    const w = { clients: p.clients, rounds: plan.simRounds(p.clients) };
    const c = { backend: p.backend, replicas: p.replicas, batching: true };
    const run = runSimRecoveries(factory, timers.map((t) => t.hsm), c, w, seed, () =>
      timers.forEach((t) => t.spent.clear()),
    );
    const calls = (k: string) => timers.reduce((a, t) => a + (t.spent.get(k)?.calls ?? 0), 0);
    return {
      id,
      runtime: 'simulator',
      backend: p.backend,
      replicas: p.replicas,
      clients: p.clients,
      recoveries: run.recoveries,
      unavailable: 0,
      wallMs: Math.round(run.wallMs),
      perSecond: round2((run.recoveries / run.wallMs) * 1000),
      p50Ms: null,
      p99Ms: null,
      load: [load0, load1()],
      countersPerSave: calls('seal') === 0 ? 0 : round2(calls('advanceCounter') / calls('seal')),
    };
  } finally {
    if (factory !== memory) factory.dispose();
    restore?.();
  }
}

/** One cell on the single-process vault: C concurrent clients over `directRelay`, each its own credential. */
async function runVaultCell(
  p: { backend: Backend; clients: number },
  plan: Plan,
  ctx: SuiteContext,
): Promise<ServedCell> {
  const id = cellId('vault', p.backend, 1, p.clients);
  const rng = ctx.rngFor(id);
  const restore = keepSoftHsmConf();
  let hsm: Hsm;
  let dispose = () => {};
  if (p.backend === 'memory') hsm = MemoryHsm.create('served-vault', rng);
  else {
    const { createPrivateTokens } = await import('../../src/hsm/private-tokens.ts');
    const tokens = createPrivateTokens(['bkv-bench-served']);
    const h = tokens.open('bkv-bench-served');
    hsm = h;
    dispose = () => {
      h.close();
      tokens.dispose();
    };
  }
  try {
    const { vault, client: cctx } = createSingleReplicaVault(hsm, rng, () => Date.now(), {
      suite: getSuite(suiteFor(p.backend)),
      labels: keyLabels('served'),
    });
    const relay = directRelay((frame: Frame) => {
      const out = vault.deliver(frame);
      relay.log.length = 0; // keep nothing: the bench would otherwise hold every frame
      return out;
    });
    const clients: ServedClient[] = [];
    for (let i = 0; i < p.clients; i++) {
      const c: ServedClient = {
        name: `client-${i}`,
        client: new BkvClient(cctx, relay, rng),
        credential: utf8(`bench-${i}`),
        password: utf8(`pw-${i}`),
        key: generateBackupKey(rng),
      };
      const reg = await c.client.register(c.credential, c.password, c.key);
      check(reg.ok, `${id}: registration failed`);
      clients.push(c);
    }
    await runRecoveries(clients, plan.warmup, `${id} warm-up`);
    const load0 = load1();
    const r = await runRecoveries(clients, plan.vaultStop, id);
    return cellOf(
      { id, runtime: 'vault', backend: p.backend, replicas: 1, clients: p.clients, load: [load0, load1()] },
      r,
      true,
    );
  } finally {
    dispose();
    restore();
  }
}

export const servedSuite: BenchSuite = {
  id: 'served',
  title: 'recoveries against real replica processes, beside the simulator and the single-process vault',
  async open(ctx) {
    const plan = planOf(ctx.quick);
    const seed = `${ctx.seed}/served`;
    const restoreConf = keepSoftHsmConf();
    const fleets = await ServedFleets.create(ctx.log, ctx.rngFor);
    const memory = memoryFleets('bkv-bench');
    const cells = new Map<string, ServedCell>();
    const loadAtOpen = os.loadavg().map((x) => +x.toFixed(2));
    const task = (id: string, name: string, run: () => Promise<ServedCell>, note?: string): BenchTask => ({
      id,
      name,
      fn: async () => {
        const cell = await run();
        cells.set(id, cell);
        ctx.log(
          `served: ${id}: ${cell.recoveries} recoveries, ${cell.perSecond}/s` +
            (cell.p50Ms === null ? '' : `, p50 ${cell.p50Ms} ms, p99 ${cell.p99Ms} ms`) +
            `, load ${cell.load.join(' -> ')}`,
        );
        return perUnit(cell.wallMs, cell.recoveries);
      },
      iterations: 1,
      time: 0,
      warmup: 0,
      ...(note !== undefined && { note }),
    });
    const tasks: BenchTask[] = [
      ...plan.processes.map((p, i) =>
        task(
          cellId('processes', p.backend, p.replicas, p.clients),
          `processes ${p.backend} ${plural(p.replicas, 'replica')}, ${plural(p.clients, 'client')}: per recovery`,
          () => runProcessCell(fleets, p, plan, ctx),
          i === 0 ? 'replica processes on 127.0.0.1, clients over HTTP; ms per recovery = 1 / throughput' : undefined,
        ),
      ),
      ...plan.simulator.map((p, i) =>
        task(
          cellId('simulator', p.backend, p.replicas, p.clients),
          `simulator ${p.backend} ${plural(p.replicas, 'replica')}, ${plural(p.clients, 'client')}: per recovery`,
          async () => {
            await fleets.down();
            return runSimulatorCell(p, plan, memory, seed);
          },
          i === 0 ? 'SimFleet, batching, one core runs clients, leader and followers' : undefined,
        ),
      ),
      ...plan.vault.map((p, i) =>
        task(
          cellId('vault', p.backend, 1, p.clients),
          `vault ${p.backend}, ${plural(p.clients, 'client')}: per recovery`,
          async () => {
            await fleets.down();
            return runVaultCell(p, plan, ctx);
          },
          i === 0 ? 'SingleReplicaVault in this process, its state in memory, directRelay' : undefined,
        ),
      ),
    ];
    return {
      tasks,
      info: { quick: ctx.quick, windowMs: ctx.quick ? null : WINDOW_MS, warmup: plan.warmup, loadAtOpen, skipped: {} },
      afterRun: async () => {
        await fleets.down();
        const all = [...cells.values()];
        const breakdowns: Breakdown[] = computeBreakdowns(all);
        const targets: ServedTarget[] = computeTargets(all);
        return { loadAtOpen, cells: all, breakdowns, targets };
      },
      dispose: async () => {
        try {
          await fleets.dispose();
        } finally {
          restoreConf();
        }
      },
    };
  },
};
