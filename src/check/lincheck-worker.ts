/**
 * A worker thread of `checkLinearizableOnWorkers` (src/check/lincheck.ts, spec ch. 12.3): loads
 * the model named in its `workerData`, checks its share of the partitions with the same schedule
 * as a check in one thread, and posts the answer.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LinOptions, ModelRef, Partition, TimedOperation } from './lincheck.ts';
import { checkPartitions, loadModel } from './lincheck.ts';

const job = workerData as { ref: ModelRef; partitions: Partition<TimedOperation>[]; options: LinOptions };
const model = await loadModel<unknown, TimedOperation, TimedOperation>(job.ref);
parentPort!.postMessage(checkPartitions(model, job.partitions, job.options));
