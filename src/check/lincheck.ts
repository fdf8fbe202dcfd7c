/**
 * The linearizability checker (spec ch. 12.3) in the manner of porcupine (Wing & Gong's search
 * with Lowe's memoization, anishathalye/porcupine): a model is a pure
 * `step(state, op) -> next states`; a history is linearizable when some order of its operations,
 * consistent with real time, is accepted by the model. `info` operations may have happened or
 * not: they are tried both ways, and never bound the order of later operations (their return
 * time is infinite). `fail` operations did not happen. An operation that takes effect in several
 * steps is split by the model into one operation per linearization point.
 *
 *   partitions   the model's `partition` (P-compositionality: the record model's is the
 *                credential) splits the history; each partition is searched on its own
 *                (lincheck-search.ts)
 *   schedule     round-robin, smallest partition first, with growing budgets: each round gives
 *                every undecided partition `slice` more states than the last, doubling, up to
 *                `budget` states in all; the first refutation ends the check
 *   answer       `linearizable` (every partition is), `not-linearizable` (the refuted
 *                partition, its longest linearizable prefix and the operations stuck after it),
 *                or `unknown`: none refuted, some over their states or memory budget, named
 *   workers      `checkLinearizableOnWorkers` runs the partitions on node:worker_threads, the
 *                same schedule in each worker over its share; the model is named by a module URL
 *                and an export (`ModelRef`), loaded by each worker
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { Operation } from './history.ts';
import { MemoryBudget } from './lincheck-memo.ts';
import { PartitionSearch, orderByTime } from './lincheck-search.ts';
import type { StepModel, TimedOperation, TraceStep } from './lincheck-search.ts';

export type { TimedOperation, TraceStep };

/**
 * A sequential specification over recorded operations `R`, searched as operations `O` (a
 * recorded operation split into its linearization points).
 */
export interface Model<S, R extends TimedOperation = Operation, O extends TimedOperation = R> extends StepModel<S, O> {
  /**
   * The operations the search orders for a recorded one: itself, or one per step of an operation
   * that takes effect in several, each with its own interval of real time.
   */
  split(op: R): readonly O[];
  /**
   * The states `op` can lead to with its recorded output (empty: the model forbids it). An `info`
   * operation has no output: its successors are every state it may have produced.
   */
  step(state: S, op: O): readonly S[];
  /** Operations of different partitions never constrain each other (default: one partition). */
  partition?(op: R): string;
}

/** A model a worker can load: `(await import(module))[name]`. */
export interface ModelRef {
  /** A file URL (or any specifier the worker can import). */
  readonly module: string;
  readonly name: string;
}

export interface LinOptions {
  /** States one partition may explore before it is reported `unknown` (default 2,000,000). */
  readonly budget?: number;
  /** Bytes the memos of the check may hold together (default 256 MiB); on workers, split among them. */
  readonly memoryBytes?: number;
  /** States each undecided partition gets in the first round; doubles every round (default 4,096). */
  readonly slice?: number;
}

export const DEFAULT_OPTIONS: Required<LinOptions> = { budget: 2_000_000, memoryBytes: 256 * 2 ** 20, slice: 4096 };

export interface LinStats {
  readonly partitions: number;
  /** Operations of the largest partition, as the search orders them (split). */
  readonly largest: number;
  /** States explored in all partitions. */
  readonly explored: number;
  /** The most bytes the memos held at once (on workers: the sum of each worker's). */
  readonly peakMemoBytes: number;
}

export interface OverBudget {
  readonly partition: string;
  readonly operations: number;
  readonly explored: number;
  /** states: it explored its whole budget; memory: its memo did not fit in the memory budget. */
  readonly reason: 'states' | 'memory';
}

export type LinResult<R extends TimedOperation = Operation, O extends TimedOperation = R> =
  | { readonly verdict: 'linearizable'; readonly stats: LinStats }
  | {
      readonly verdict: 'not-linearizable';
      readonly partition: string;
      /** The recorded operations of the partition (no `fail` ones). */
      readonly operations: readonly R[];
      /** The longest linearizable prefix found: every operation taken, with the state after it. */
      readonly longest: readonly TraceStep<O>[];
      /** The operations that could come next after it by real time, none of which the model allows. */
      readonly stuck: readonly O[];
      readonly stats: LinStats;
    }
  | { readonly verdict: 'unknown'; readonly overBudget: readonly OverBudget[]; readonly stats: LinStats };

/** A partition of a history: its recorded operations, `fail` ones left out (they did not happen). */
export interface Partition<R> {
  readonly key: string;
  readonly ops: readonly R[];
}

/** Checks a history in this thread. */
export function checkLinearizable<S, R extends TimedOperation, O extends TimedOperation>(
  model: Model<S, R, O>,
  ops: readonly R[],
  options: LinOptions = {},
): LinResult<R, O> {
  return checkPartitions(model, partitionHistory(model, ops), options);
}

/** The partitions of a history, in the order their keys first appear. */
export function partitionHistory<R extends TimedOperation>(
  model: Model<unknown, R, TimedOperation>,
  ops: readonly R[],
): Partition<R>[] {
  const parts = new Map<string, R[]>();
  for (const o of ops) {
    const key = model.partition?.(o) ?? '';
    const p = parts.get(key) ?? [];
    if (o.completion !== 'fail') p.push(o);
    parts.set(key, p);
  }
  return [...parts].map(([key, p]): Partition<R> => ({ key, ops: p }));
}

/** The schedule: round-robin over the partitions, smallest first, with doubling slices. */
export function checkPartitions<S, R extends TimedOperation, O extends TimedOperation>(
  model: Model<S, R, O>,
  partitions: readonly Partition<R>[],
  options: LinOptions = {},
): LinResult<R, O> {
  const { budget, memoryBytes, slice } = checkOptions(options);
  const memory = new MemoryBudget(memoryBytes);
  const undecided = partitions
    .map((p) => ({ ...p, live: splitByCall(model, p.ops), search: null as PartitionSearch<S, O> | null }))
    .sort((a, b) => a.live.length - b.live.length);
  const all = [...undecided];
  const overBudget: OverBudget[] = [];
  let explored = 0;
  const stats = (): LinStats => ({
    partitions: partitions.length,
    largest: all.reduce((m, p) => Math.max(m, p.live.length), 0),
    explored,
    peakMemoBytes: memory.peak,
  });
  for (let round = slice; undecided.length > 0; round *= 2) {
    for (const p of [...undecided]) {
      const before = p.search?.explored ?? 0;
      const search = (p.search ??= new PartitionSearch(model, p.live, memory));
      const status = search.run(Math.min(budget, before + round));
      explored += search.explored - before;
      if (status === 'refuted') {
        for (const q of all) q.search?.stop();
        const longest = search.longest();
        const stuck = search.stuck();
        return { verdict: 'not-linearizable', partition: p.key, operations: p.ops, longest, stuck, stats: stats() };
      }
      if (status === 'running' && search.explored < budget) continue;
      search.stop();
      if (status !== 'linearizable') {
        const reason = status === 'memory' ? 'memory' : 'states';
        overBudget.push({ partition: p.key, operations: p.live.length, explored: search.explored, reason });
      }
      undecided.splice(undecided.indexOf(p), 1);
      p.search = null;
    }
  }
  if (overBudget.length > 0) return { verdict: 'unknown', overBudget, stats: stats() };
  return { verdict: 'linearizable', stats: stats() };
}

/** The operations the search orders, by call time (the recorded order, for equal times). */
function splitByCall<R extends TimedOperation, O extends TimedOperation>(
  model: Model<unknown, R, O>,
  ops: readonly R[],
): O[] {
  const live: O[] = [];
  for (const o of ops) for (const part of model.split(o)) live.push(part);
  const order = orderByTime(live.length, (i) => live[i]!.call);
  return Array.from(order, (i) => live[i]!);
}

function checkOptions(options: LinOptions): Required<LinOptions> {
  const o = { ...DEFAULT_OPTIONS, ...options };
  for (const name of ['budget', 'memoryBytes', 'slice'] as const) {
    const v = o[name];
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`lincheck: ${name} expected a positive integer, got ${v}`);
    }
  }
  return o;
}

/** Loads a model named by a `ModelRef`. */
export async function loadModel<S, R extends TimedOperation, O extends TimedOperation>(
  ref: ModelRef,
): Promise<Model<S, R, O>> {
  const m = ((await import(ref.module)) as Record<string, unknown>)[ref.name] as Partial<Model<S, R, O>> | undefined;
  const methods = [m?.init, m?.step, m?.split, m?.key];
  if (!methods.every((f) => typeof f === 'function')) {
    throw new TypeError(`lincheck: ${ref.module} exports no model named ${ref.name} (init, split, step, key)`);
  }
  return m as Model<S, R, O>;
}

const WORKER = new URL('./lincheck-worker.ts', import.meta.url).href;
export const MAX_WORKERS = 64;

/**
 * Checks a history on `workers` worker threads: the partitions are shared among them (the
 * largest first, each to the least loaded), each worker runs the schedule of `checkPartitions`
 * over its share with its part of `memoryBytes`, and the first refutation any worker reports ends
 * the check (the others are terminated).
 */
export async function checkLinearizableOnWorkers<R extends TimedOperation, O extends TimedOperation>(
  ref: ModelRef,
  ops: readonly R[],
  options: LinOptions & { readonly workers: number },
): Promise<LinResult<R, O>> {
  const { workers, ...rest } = options;
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RangeError(`lincheck: workers expected an integer from 1 to ${MAX_WORKERS}, got ${workers}`);
  }
  const o = checkOptions(rest);
  const model = await loadModel<unknown, R, O>(ref);
  const parts = partitionHistory(model, ops);
  const shares = shareOut(parts, Math.min(workers, parts.length), (p) => p.ops.length);
  const share = { ...o, memoryBytes: Math.max(1, Math.floor(o.memoryBytes / Math.max(1, shares.length))) };
  const running = shares.map((s) => startWorker<R, O>(ref, s, share));
  const results: LinResult<R, O>[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      if (running.length === 0) resolve();
      for (const w of running) {
        w.result.then((r) => {
          results.push(r);
          if (r.verdict === 'not-linearizable' || results.length === running.length) resolve();
        }, reject);
      }
    });
  } finally {
    await Promise.all(running.map((w) => w.worker.terminate()));
  }
  const sum = (f: (s: LinStats) => number) => results.reduce((k, r) => k + f(r.stats), 0);
  const stats: LinStats = {
    partitions: parts.length,
    largest: results.reduce((m, r) => Math.max(m, r.stats.largest), 0),
    explored: sum((s) => s.explored),
    peakMemoBytes: sum((s) => s.peakMemoBytes),
  };
  const refuted = results.find((r) => r.verdict === 'not-linearizable');
  if (refuted) return { ...refuted, stats };
  const overBudget = results.flatMap((r) => (r.verdict === 'unknown' ? r.overBudget : []));
  return overBudget.length > 0 ? { verdict: 'unknown', overBudget, stats } : { verdict: 'linearizable', stats };
}

/** Items in `count` shares of about equal weight: the heaviest first, each to the lightest share. */
function shareOut<T>(items: readonly T[], count: number, weight: (t: T) => number): T[][] {
  const shares = Array.from({ length: count }, () => ({ items: [] as T[], weight: 0 }));
  for (const item of [...items].sort((a, b) => weight(b) - weight(a))) {
    const lightest = shares.reduce((m, s) => (s.weight < m.weight ? s : m));
    lightest.items.push(item);
    lightest.weight += weight(item);
  }
  return shares.map((s) => s.items);
}

/**
 * A worker running lincheck-worker.ts. The sources are TypeScript: the worker first registers
 * tsx's loader (as bin/bkv.js does), then imports it.
 */
function startWorker<R extends TimedOperation, O extends TimedOperation>(
  ref: ModelRef,
  partitions: readonly Partition<R>[],
  options: Required<LinOptions>,
): { worker: Worker; result: Promise<LinResult<R, O>> } {
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(WORKER)});`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), {
    workerData: { ref, partitions, options },
  });
  const result = new Promise<LinResult<R, O>>((resolve, reject) => {
    worker.once('message', (r: LinResult<R, O>) => resolve(r));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`lincheck: a worker exited with code ${code} before its answer`)));
  });
  return { worker, result };
}

/** A refutation, readable: the partition's operations, the longest linearizable prefix, the operations stuck. */
export function describeRefutation<R extends TimedOperation, O extends TimedOperation>(
  r: Extract<LinResult<R, O>, { verdict: 'not-linearizable' }>,
  describe: (op: R | O) => string,
): string {
  const prefix = r.longest.map((s, k) => {
    const taken = s.op.completion === 'info' ? ' (info: taken as having happened)' : '';
    return `  ${k + 1}. ${describe(s.op)}${taken}  => ${s.state}`;
  });
  return [
    `${r.operations.length} operations, ${r.stats.explored} states explored:`,
    ...r.operations.map((o) => `  ${describe(o)}`),
    `longest linearizable prefix (${r.longest.length} operations):`,
    ...(prefix.length > 0 ? prefix : ['  (none)']),
    'none of these can come next:',
    ...r.stuck.map((o) => `  ${describe(o)}`),
  ].join('\n');
}

/** Why a check has no answer: the partitions over budget. */
export function describeUnknown<R extends TimedOperation, O extends TimedOperation>(
  r: Extract<LinResult<R, O>, { verdict: 'unknown' }>,
): string {
  const parts = r.overBudget.map(
    (p) =>
      `partition ${p.partition} (${p.operations} operations): ${p.explored} states explored, ` +
      (p.reason === 'memory' ? 'out of memory for its memo' : 'its whole states budget'),
  );
  return `no partition refuted, ${r.overBudget.length} undecided: ${parts.join('; ')}`;
}
