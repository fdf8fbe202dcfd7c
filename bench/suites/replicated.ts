/**
 * Bench suite `replicated`: recoveries through the replicated vault (src/replication), in its
 * simulator, with 1, 3 and 5 replicas, with and without batching (issue 9).
 *
 *   a run      a fresh fleet of n replicas (`SimFleet`) from the fleets `bkv check` runs on
 *              (src/scenarios/fleets.ts: memory HSMs deployed once per size by the ceremony of
 *              ch. 7 and cloned, or fresh SoftHSM tokens); a serving leader; CLIENTS simulated
 *              clients (`ScriptedClient`), each registering its own credential (untimed); then
 *              every client recovers ROUNDS times with its password, all of them at once, and
 *              each recovery must release that client's K. Timed: the wall clock of the whole
 *              simulation of the recoveries (clients, leader, followers and network, one core)
 *              over their number. The table's figure is ms per recovery; its ops/s, recoveries/s.
 *   batching   a leader's AppendEntries carries every entry appended since the last one, up to
 *              256 (the fleet's default), or only 1 ("no batching"). One replica has no followers.
 *   network    reliable, every message exactly DELAY_MS of simulated time, so that simulated time
 *              counts message delays: a recovery's KE2 arrives 2 delays (client to leader and
 *              back) plus the replica hops of its ConsumeGuess commit after its KE1 left.
 *
 * The safety monitor is off (`checks: false`): it is the checker's ghost code, no part of a
 * replica (the `checkers` suite measures it). The fleet keys come from the fleet factory's own
 * seed, as `bkv check`'s do; the network, timers and clients from the run's.
 *
 * Beside the figures, each configuration reports from its last run (every run of a configuration
 * is the same simulation): the replica hops per committed guess and per Reset, entries per
 * AppendEntries, peer messages and sealed saves per recovery, and the simulated time. `afterRun`
 * profiles three configurations with a timer on every HSM call (seal, MAC, counters).
 * @module
 */
import { History } from '../../src/check/history.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { type ClientEndpoint, type FleetStats, SimFleet } from '../../src/sim/fleet.ts';
import { ScriptedClient, keyBytes } from '../../src/sim/client.ts';
import { type FleetFactory, memoryFleets } from '../../src/scenarios/fleets.ts';
import { toHex } from '../../src/crypto/bytes.ts';
import { type BenchSuite, type BenchTask, check, keepSoftHsmConf, perUnit } from '../harness.ts';
import { timingHsm } from './vault.ts';

/** Simulated ms per message, client links and replica links alike. */
export const DELAY_MS = 2;
const CLIENT_TIMING = { thinkMinMs: 0, thinkMaxMs: 2 };
/** CLIENTS and ROUNDS (the quick ones: `--quick` and the smoke test). */
const workloadOf = (quick: boolean): Workload => (quick ? { clients: 4, rounds: 1 } : { clients: 16, rounds: 2 });
const softHsmWorkloadOf = (quick: boolean): Workload => (quick ? { clients: 2, rounds: 1 } : { clients: 8, rounds: 2 });
/** Calls of a task: one warm-up and three measured; on SoftHSM each takes 3 fresh tokens. */
const CALLS = 4;

interface Workload {
  readonly clients: number;
  readonly rounds: number;
}

interface Config {
  readonly backend: 'memory' | 'softhsm';
  readonly replicas: number;
  readonly batching: boolean;
}

export interface ReplicatedRun {
  readonly recoveries: number;
  readonly wallMs: number;
  readonly simulatedMs: number;
  /** Per recovery: message delays between replicas from its KE1 reaching the leader to its KE2 leaving. */
  readonly guessHops: readonly number[];
  /** The same from KE3 to K leaving (the Reset commit). */
  readonly resetHops: readonly number[];
  /** The fleet's counters over the recoveries alone. */
  readonly stats: Pick<FleetStats, 'appendsWithEntries' | 'entriesShipped' | 'peerMessages' | 'persists' | 'steps'>;
}

const configId = (c: Config) =>
  `replicated/${c.backend}/${c.replicas}${c.replicas === 1 ? '' : c.batching ? '/batched' : '/unbatched'}`;

/** Frames on to the client, noting when the current recovery's KE2 and K arrive. */
function watched(
  client: ScriptedClient,
  arrivals: Map<number, { ke2?: number; released?: number; redirected?: boolean }>,
): ClientEndpoint {
  return {
    onFrame(fleet, frame, from) {
      const op = client.records.at(-1);
      if (op !== undefined && op.completion === null && op.op.kind === 'recover') {
        const a = arrivals.get(op.historyId) ?? {};
        if (frame.kind === 'Alert') a.redirected = true;
        else if (frame.kind === 'Handshake2') a.ke2 ??= fleet.now;
        else if (frame.kind === 'Transport') a.released = fleet.now;
        arrivals.set(op.historyId, a);
      }
      client.onFrame(fleet, frame, from);
    },
    onWake: (fleet, token) => client.onWake(fleet, token),
  };
}

/**
 * One run (see the module header); throws unless every recovery released its client's K.
 * `beforeRecoveries` is called when the timed part starts (a profile resets its counters).
 */
export function runRecoveries(
  fleets: Pick<FleetFactory, 'labels' | 'config'>,
  hsms: readonly Hsm[],
  c: Config,
  w: Workload,
  seed: string,
  beforeRecoveries?: () => void,
): ReplicatedRun {
  const fleet = new SimFleet({
    hsms,
    labels: fleets.labels,
    config: fleets.config,
    seed,
    network: { minDelayMs: DELAY_MS, maxDelayMs: DELAY_MS },
    ...(!c.batching && { maxBatch: 1 }),
    checks: false,
  });
  const serving = () => {
    const l = fleet.leader();
    return l !== null && fleet.replica(l).state!.serving;
  };
  check(fleet.runUntil(serving, 10_000), `${configId(c)}: no serving leader after 10 s of simulated time`);
  const history = new History();
  const keyNames = new Map(Array.from({ length: w.clients }, (_, i) => [toHex(keyBytes(`K-${i}`)), `K-${i}`] as const));
  const clients = Array.from({ length: w.clients }, (_, i) => {
    const script = {
      name: `client-${i}`,
      credential: `alice-${i}`,
      startAt: fleet.now,
      ops: [{ kind: 'register', password: `pw-${i}`, key: `K-${i}`, limit: 10 }] as const,
    };
    return new ScriptedClient(fleet, script, {
      history,
      keyNames,
      rng: seededRng(`${seed}/${script.name}`),
      timing: CLIENT_TIMING,
    });
  });
  check(
    fleet.runUntil(() => clients.every((x) => x.done), 60_000),
    `${configId(c)}: registrations did not complete`,
  );
  check(
    history.ops.every((o) => o.completion === 'ok' && o.output?.kind === 'Registered'),
    `${configId(c)}: a registration failed`,
  );
  const arrivals = new Map<number, { ke2?: number; released?: number; redirected?: boolean }>();
  for (const x of clients) fleet.addClient(x.name, watched(x, arrivals));

  beforeRecoveries?.();
  const before = { ...fleet.stats };
  const simStart = fleet.now;
  const t0 = performance.now();
  clients.forEach((x, i) =>
    x.append(
      fleet,
      Array.from({ length: w.rounds }, () => ({ kind: 'recover', password: `pw-${i}` }) as const),
    ),
  );
  const done = fleet.runUntil(() => clients.every((x) => x.done), 600_000);
  const wallMs = performance.now() - t0;
  check(done, `${configId(c)}: recoveries did not complete`);

  const recoveries = history.ops.filter((o) => o.input.kind === 'recover');
  check(
    recoveries.length === w.clients * w.rounds,
    `${configId(c)}: ${recoveries.length} recoveries, expected ${w.clients * w.rounds}`,
  );
  for (const o of recoveries) {
    const key = `K-${o.client.slice('client-'.length)}`;
    check(
      o.completion === 'ok' && o.output?.kind === 'Recovered' && o.output.key === key,
      `${configId(c)}: ${o.client}'s recovery did not release ${key} (${o.completion} ${JSON.stringify(o.output)})`,
    );
  }
  const guessHops: number[] = [];
  const resetHops: number[] = [];
  for (const x of clients) {
    for (const r of x.records) {
      const a = arrivals.get(r.historyId);
      if (r.op.kind !== 'recover' || a === undefined || a.redirected || a.ke2 === undefined || a.released === undefined)
        continue;
      guessHops.push((a.ke2 - r.invokedAt) / DELAY_MS - 2);
      resetHops.push((a.released - a.ke2) / DELAY_MS - 2);
    }
  }
  check(guessHops.length > 0, `${configId(c)}: every recovery was redirected; no message delays measured`);
  const s = fleet.stats;
  return {
    recoveries: recoveries.length,
    wallMs,
    simulatedMs: fleet.now - simStart,
    guessHops,
    resetHops,
    stats: {
      appendsWithEntries: s.appendsWithEntries - before.appendsWithEntries,
      entriesShipped: s.entriesShipped - before.entriesShipped,
      peerMessages: s.peerMessages - before.peerMessages,
      persists: s.persists - before.persists,
      steps: s.steps - before.steps,
    },
  };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** What a run says besides its time (results.json `suites.replicated.after.configs`). */
export function describeRun(r: ReplicatedRun) {
  const per = (x: number) => round2(x / r.recoveries);
  return {
    recoveries: r.recoveries,
    simulatedMs: r.simulatedMs,
    guessHops: { mean: round2(mean(r.guessHops)), min: Math.min(...r.guessHops), max: Math.max(...r.guessHops) },
    resetHops: { mean: round2(mean(r.resetHops)), min: Math.min(...r.resetHops), max: Math.max(...r.resetHops) },
    entriesPerAppendEntries:
      r.stats.appendsWithEntries === 0 ? null : round2(r.stats.entriesShipped / r.stats.appendsWithEntries),
    peerMessagesPerRecovery: per(r.stats.peerMessages),
    sealedSavesPerRecovery: per(r.stats.persists),
    stepsPerRecovery: per(r.stats.steps),
  };
}

export type ReplicatedProfile = Record<
  string,
  {
    msPerRecovery: number;
    hsmMsPerRecovery: number;
    hsmCalls: Record<string, { callsPerRecovery: number; msPerRecovery: number }>;
  }
>;

export const replicatedSuite: BenchSuite = {
  id: 'replicated',
  title: 'the replicated vault in its simulator (recoveries per second, message delays, batching)',
  async open(ctx) {
    const seed = `${ctx.seed}/replicated`;
    const memory = memoryFleets('bkv-bench');
    const last = new Map<string, ReplicatedRun>();
    const task = (c: Config, fleets: FleetFactory, w: Workload, note?: string): BenchTask => ({
      id: configId(c),
      name:
        `${c.backend} ${c.replicas} replica${c.replicas > 1 ? `s, ${c.batching ? 'batching' : 'no batching'}` : ''}: ` +
        `${w.clients} clients x ${w.rounds}, per recovery`,
      fn: () => {
        const r = runRecoveries(fleets, fleets.hsms(c.replicas), c, w, seed);
        last.set(configId(c), r);
        return perUnit(r.wallMs, r.recoveries);
      },
      iterations: CALLS - 1,
      time: 0,
      warmup: 1,
      ...(note !== undefined && { note }),
    });
    const w = workloadOf(ctx.quick);
    const configs: Config[] = [
      { backend: 'memory', replicas: 1, batching: true },
      ...[3, 5].flatMap((replicas) =>
        [true, false].map((batching): Config => ({ backend: 'memory', replicas, batching })),
      ),
    ];
    const tasks = configs.map((c, i) =>
      task(
        c,
        memory,
        w,
        i === 0
          ? 'every row: ristretto255-SHA512, a fresh fleet per call; ' +
              'wall clock of the whole simulation (one core) over the recoveries'
          : undefined,
      ),
    );

    const restoreConf = keepSoftHsmConf();
    let softhsm: FleetFactory | undefined;
    const skipped: Record<string, string> = {};
    try {
      const { softHsmFleets } = await import('../../src/scenarios/fleets.ts');
      softhsm = await softHsmFleets(3 * CALLS, 'bkv-bench-r');
      const sw = softHsmWorkloadOf(ctx.quick);
      tasks.push(
        task(
          { backend: 'softhsm', replicas: 3, batching: true },
          softhsm,
          sw,
          'ristretto255-SHA512+Curve25519; fresh tokens and deployment per call (untimed)',
        ),
      );
    } catch (e) {
      restoreConf();
      skipped.softhsm = (e as Error).message;
      ctx.log(`replicated: SoftHSM skipped: ${skipped.softhsm}`);
    }

    return {
      tasks,
      info: {
        delayMs: DELAY_MS,
        workload: w,
        softhsmWorkload: softHsmWorkloadOf(ctx.quick),
        maxBatch: { batching: 256, none: 1 },
        skipped,
      },
      afterRun: async () => {
        const profile: ReplicatedProfile = {};
        for (const c of configs.filter((x) => x.replicas === 1 || x.replicas === 5)) {
          const timers = memory.hsms(c.replicas).map(timingHsm);
          const r = runRecoveries(
            memory,
            timers.map((t) => t.hsm),
            c,
            w,
            seed,
            () => timers.forEach((t) => t.spent.clear()),
          );
          const calls = new Map<string, { calls: number; ms: number }>();
          for (const t of timers) {
            for (const [k, e] of t.spent) {
              const x = calls.get(k) ?? { calls: 0, ms: 0 };
              calls.set(k, { calls: x.calls + e.calls, ms: x.ms + e.ms });
            }
          }
          const per = (x: number) => round2(x / r.recoveries);
          profile[configId(c)] = {
            msPerRecovery: round2(r.wallMs / r.recoveries),
            hsmMsPerRecovery: per([...calls.values()].reduce((a, e) => a + e.ms, 0)),
            hsmCalls: Object.fromEntries(
              [...calls].map(([k, e]) => [k, { callsPerRecovery: per(e.calls), msPerRecovery: per(e.ms) }]),
            ),
          };
        }
        return { configs: Object.fromEntries([...last].map(([id, r]) => [id, describeRun(r)])), profile };
      },
      dispose: () => {
        softhsm?.dispose();
        restoreConf();
      },
    };
  },
};
