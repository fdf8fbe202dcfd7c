/**
 * The bench harness: what a task is, how a suite hands its tasks over, and the two ways they run.
 *
 *   measureTask(task, budget) -> TaskMeasure   tinybench 6 (one Bench per task, so each task
 *                                              keeps its own iteration and time budget)
 *   runTaskOnce(task)                          one untimed call (test/bench-smoke.test.ts)
 *
 * Every task checks its own result and throws when it is wrong (a login whose two sides disagree,
 * a recovery that does not release K), so a measured figure is always the figure of a correct
 * run, and the smoke test that runs each task once keeps the bench code honest.
 *
 * A task may time only part of what it does: it then returns `{ overriddenDuration }` (ms) and
 * tinybench records that instead of the whole call (the vault side of a recovery, for one). A task
 * that does many units of work per call (recoveries of a simulated fleet, scenario steps, explored
 * states) returns `perUnit(ms, units)`: the figure is then ms per unit, ops/s units per second.
 * @module
 */
import { Bench } from 'tinybench';
import type { Rng } from '../src/crypto/bytes.ts';

export type SuiteId =
  | 'crypto'
  | 'floor'
  | 'peers'
  | 'vault'
  | 'replicated'
  | 'checkers'
  | 'lincheck'
  | 'explorer'
  | 'bundles'
  | 'scale'
  | 'served';

export interface BenchTask {
  /** Stable key, used by the ratios and in results.json: `suite/group/what`. */
  readonly id: string;
  /** A row of the printed table. */
  readonly name: string;
  /**
   * One operation; throws if its result is wrong; may return `{ overriddenDuration }`. Work that
   * awaits is an `async` function (tinybench is told which kind it is, so that it never calls
   * `fn` just to find out; `runTaskOnce` checks it).
   */
  readonly fn: () => unknown;
  /** Minimum measured iterations (default: the budget's). Slow tasks ask for fewer. */
  readonly iterations?: number;
  /** Time budget in ms (default: the budget's). 0: exactly `iterations` calls. */
  readonly time?: number;
  /** Untimed warm-up calls (default 2). */
  readonly warmup?: number;
  /** What the figure includes, in a few words (printed under the table, kept in results.json). */
  readonly note?: string;
}

export interface SuiteInstance {
  readonly tasks: readonly BenchTask[];
  /** What the suite knows about itself (versions, configurations, skipped peers, profiles). */
  readonly info?: Record<string, unknown>;
  /** Runs after the measured tasks (profiles, breakdowns); `runs` is how many samples to take. */
  afterRun?(runs?: number): Promise<Record<string, unknown>>;
  /** Releases what `open` took (SoftHSM tokens, directories). Called even if a task failed. */
  dispose(): void | Promise<void>;
}

export interface SuiteContext {
  /** The run's seed; every suite derives its own rng from it (`rngFor`). */
  readonly seed: string;
  rngFor(label: string): Rng;
  /** Progress lines (stderr in the runner; silent in the smoke test). */
  log(line: string): void;
  /** Smaller workloads in the suites that simulate (`--quick`, and the smoke test). */
  readonly quick: boolean;
  /** The largest workloads too (`--deep`: the `scale` suite's 10^6 credentials). */
  readonly deep?: boolean;
}

export interface BenchSuite {
  readonly id: SuiteId;
  readonly title: string;
  open(ctx: SuiteContext): Promise<SuiteInstance>;
}

export interface Budget {
  /** Default time budget per task, ms. */
  readonly timeMs: number;
  /** Default minimum iterations per task. */
  readonly iterations: number;
}

export const DEFAULT_BUDGET: Budget = Object.freeze({ timeMs: 400, iterations: 8 });

export interface TaskMeasure {
  readonly id: string;
  readonly name: string;
  readonly medianMs: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly p75Ms: number;
  /** relative margin of error of the mean, % */
  readonly rme: number;
  readonly samples: number;
  /** 1000 / median */
  readonly opsPerSec: number;
  readonly note?: string;
}

/** Measures one task with tinybench: warm-up of at least two calls, then the budget. */
export async function measureTask(task: BenchTask, budget: Budget = DEFAULT_BUDGET): Promise<TaskMeasure> {
  const iterations = task.iterations ?? budget.iterations;
  const time = task.time ?? budget.timeMs;
  const bench = new Bench({
    name: task.id,
    iterations,
    time,
    warmupIterations: task.warmup ?? 2,
    warmupTime: time === 0 ? 0 : Math.min(100, time / 4),
    throws: true,
  });
  bench.add(task.name, task.fn, { async: isAsync(task.fn) });
  await bench.run();
  const t = bench.tasks[0];
  const r = t?.result;
  if (!r || !('latency' in r))
    throw new Error(`bench task ${task.id} produced no statistics (state ${r?.state ?? 'none'})`);
  const l = r.latency;
  return {
    id: task.id,
    name: task.name,
    medianMs: l.p50,
    meanMs: l.mean,
    minMs: l.min,
    p75Ms: l.p75,
    rme: l.rme,
    samples: l.samplesCount,
    opsPerSec: l.p50 > 0 ? 1000 / l.p50 : 0,
    ...(task.note !== undefined && { note: task.note }),
  };
}

const AsyncFunction = (async () => {}).constructor;
const isAsync = (f: () => unknown) => f instanceof AsyncFunction;

/** Runs a task once, untimed; resolves to what it returned (the smoke test's check). */
export async function runTaskOnce(task: BenchTask): Promise<unknown> {
  const out = task.fn();
  if (out instanceof Promise !== isAsync(task.fn))
    throw new Error(
      `bench task ${task.id}: fn returns a promise if and only if it is declared async (measureTask relies on it)`,
    );
  return await out;
}

/** The milliseconds spent in `f` (a part of a task that returns `{ overriddenDuration }`). */
export function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

/**
 * What a task doing `units` units of work in `ms` returns: the figure is ms per unit, and the
 * time budget counts the whole `ms` (tinybench's `overriddenIterationCost`).
 */
export function perUnit(ms: number, units: number): { overriddenDuration: number; overriddenIterationCost: number } {
  check(units > 0, 'a task that measures per unit did no unit of work');
  return { overriddenDuration: ms / units, overriddenIterationCost: ms };
}

/** Throws `message` unless `ok`: the self-check every task ends with. */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`bench self-check failed: ${message}`);
}

/** Restores SOFTHSM2_CONF as it was now (a private token directory changes it for the process). */
export function keepSoftHsmConf(): () => void {
  const saved = process.env.SOFTHSM2_CONF;
  return () => {
    if (saved === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = saved;
  };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
