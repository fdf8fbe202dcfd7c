/**
 * A worker thread of `runOnWorkers` (src/scenarios/workers.ts, spec ch. 13.1): builds the memory
 * fleets named in its `workerData`, runs its share of a suite's runs in order, and posts each
 * run's result as it ends (a passing run without its trace and history), then `done`.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getBroken } from '../broken/catalog.ts';
import { memoryFleets } from './fleets.ts';
import { brokenEnv } from './mutants.ts';
import { runOne } from './suites.ts';
import type { WorkerJob, WorkerMessage } from './workers.ts';

const job = workerData as WorkerJob;
const fleets = memoryFleets(job.prefix);
const env = job.broken === undefined ? fleets : brokenEnv(fleets, getBroken(job.broken));
for (const run of job.runs) {
  const t0 = performance.now();
  const r = runOne(job.suite, job.seed, run, env);
  const result = r.ok ? { ...r, trace: [], history: [] } : r;
  parentPort!.postMessage({ type: 'run', result, ms: performance.now() - t0 } satisfies WorkerMessage);
}
parentPort!.postMessage({ type: 'done' } satisfies WorkerMessage);
