/**
 * `bkv check --workers N` (spec ch. 13.1): a suite's runs on N worker threads. Runs are
 * independent (run k is a function of suite, seed and k), so the runs are dealt round-robin, each
 * worker runs its share on its own memory fleets (the same keys: the same prefix), and the
 * results are the same as in one thread; the summary's figures are sums, and its failures are put
 * back in run order.
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { RunResult, SuiteName } from './suites.ts';

export const MAX_WORKERS = 64;

/** What a worker runs: runs of a suite, on memory fleets of `prefix`, of a broken variant maybe. */
export interface WorkerJob {
  readonly suite: SuiteName;
  readonly seed: string;
  readonly runs: readonly number[];
  readonly prefix: string;
  readonly broken?: string;
}

export type WorkerMessage =
  | { readonly type: 'run'; readonly result: RunResult; readonly ms: number }
  | { readonly type: 'done' };

/** Deals `runs` round-robin into `count` shares (none empty). */
export function deal<T>(runs: readonly T[], count: number): T[][] {
  const shares = Array.from({ length: Math.min(count, runs.length) }, () => [] as T[]);
  runs.forEach((k, i) => shares[i % shares.length]!.push(k));
  return shares;
}

/**
 * Runs `job.runs` on `workers` threads; `onRun` as each ends (in the order they end). Resolves
 * when all are done; a worker's error rejects (the others are terminated).
 */
export async function runOnWorkers(
  job: WorkerJob,
  workers: number,
  onRun: (r: RunResult, ms: number) => void,
): Promise<void> {
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RangeError(`workers expected an integer from 1 to ${MAX_WORKERS}, got ${workers}`);
  }
  const started = deal(job.runs, workers).map((runs) => startWorker({ ...job, runs }, onRun));
  try {
    await Promise.all(started.map((w) => w.done));
  } finally {
    await Promise.all(started.map((w) => w.worker.terminate()));
  }
}

/**
 * A worker running check-worker: the compiled module in dist/ (this file is JavaScript there), or
 * the TypeScript source through tsx's loader, registered first (as bin/bkv.js does).
 */
function startWorker(
  job: WorkerJob,
  onRun: (r: RunResult, ms: number) => void,
): { worker: Worker; done: Promise<void> } {
  const compiled = import.meta.url.endsWith('.js');
  const script = new URL(compiled ? './check-worker.js' : './check-worker.ts', import.meta.url);
  let worker: Worker;
  if (compiled) worker = new Worker(script, { workerData: job });
  else {
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot =
      `import { register } from ${JSON.stringify(tsx)}; register(); ` + `await import(${JSON.stringify(script.href)});`;
    worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData: job });
  }
  const done = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: WorkerMessage) => (m.type === 'run' ? onRun(m.result, m.ms) : resolve()));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`bkv check: a worker exited with code ${code} before its runs were done`)),
    );
  });
  return { worker, done };
}
