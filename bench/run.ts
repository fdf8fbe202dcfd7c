/**
 * `npm run bench`: runs the bench suites with tinybench, prints one table per suite, the ratios
 * and the targets of issue 9, and writes bench/results.json (spec/11-benchmarks.md).
 *
 *   tsx bench/run.ts [--suite crypto,floor,peers,vault] [--time MS] [--iterations N]
 *                    [--seed S] [--out FILE] [--quick]
 *
 * --time / --iterations: the default budget of each task (400 ms, at least 8 calls); slow tasks
 * (Argon2id at its default parameters, opaque-ts) ask for a fixed handful of calls instead.
 * --quick: 100 ms and 3 calls, for a look (figures are noisier). Every rng of the run derives
 * from --seed (default "bkv-bench"), printed and recorded. Progress goes to stderr.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { seededRng } from '../src/crypto/rng.ts';
import { type BenchSuite, type Budget, DEFAULT_BUDGET, measureTask, type SuiteContext, type TaskMeasure } from './harness.ts';
import { machineInfo, versions } from './machine.ts';
import { computeRatio, computeTargets, formatProfile, formatRatios, formatTaskTable, type ProfileEntry, RATIOS, type Results } from './report.ts';
import { cryptoSuite } from './suites/crypto.ts';
import { floorSuite } from './suites/floor.ts';
import { PENDING_SUITES } from './suites/pending.ts';
import { peersSuite } from './suites/peers.ts';
import { vaultSuite } from './suites/vault.ts';

/** Every suite, in run order. */
export const SUITES: readonly BenchSuite[] = [cryptoSuite, floorSuite, peersSuite, vaultSuite];

export function suiteContext(seed: string, log: (line: string) => void): SuiteContext {
  return { seed, rngFor: (label) => seededRng(`${seed}/${label}`), log };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: 'string' },
      time: { type: 'string' },
      iterations: { type: 'string' },
      seed: { type: 'string', default: 'bkv-bench' },
      out: { type: 'string', default: new URL('./results.json', import.meta.url).pathname },
      quick: { type: 'boolean', default: false },
    },
  });
  const base = values.quick ? { timeMs: 100, iterations: 3 } : DEFAULT_BUDGET;
  const budget: Budget = {
    timeMs: values.time !== undefined ? Number(values.time) : base.timeMs,
    iterations: values.iterations !== undefined ? Number(values.iterations) : base.iterations,
  };
  if (!(budget.timeMs >= 0) || !(budget.iterations >= 1)) throw new Error(`bad budget: --time ${values.time} --iterations ${values.iterations}`);
  const wanted = values.suite?.split(',').map((s) => s.trim());
  const unknown = wanted?.filter((w) => !SUITES.some((s) => s.id === w)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown suite(s) ${unknown.join(', ')}; expected some of ${SUITES.map((s) => s.id).join(', ')}`);
  const suites = SUITES.filter((s) => wanted === undefined || wanted.includes(s.id));
  const seed = values.seed!;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx = suiteContext(seed, log);
  const t0 = performance.now();
  const machine = machineInfo(); // before the run: the load average is the other processes'
  log(`bkv bench: seed "${seed}", budget ${budget.timeMs} ms / >= ${budget.iterations} calls a task; suites ${suites.map((s) => s.id).join(', ')}`);

  const measures: (TaskMeasure & { suite: string })[] = [];
  const suiteResults: Results['suites'] = {};
  let failed = false;
  for (const suite of suites) {
    log(`\n[${suite.id}] ${suite.title}`);
    let instance;
    try {
      instance = await suite.open(ctx);
    } catch (e) {
      failed = true;
      suiteResults[suite.id] = { title: suite.title, error: (e as Error).stack ?? String(e) };
      log(`[${suite.id}] FAILED to open: ${(e as Error).message}`);
      continue;
    }
    try {
      const rows: TaskMeasure[] = [];
      for (const task of instance.tasks) {
        const m = await measureTask(task, budget);
        rows.push(m);
        measures.push({ ...m, suite: suite.id });
        log(`  ${task.name}: ${m.medianMs.toFixed(3)} ms (n=${m.samples})`);
      }
      const after = instance.afterRun ? await instance.afterRun() : undefined;
      suiteResults[suite.id] = { title: suite.title, ...(instance.info && { info: instance.info }), ...(after && { after }) };
      console.log(formatTaskTable(`${suite.id}: ${suite.title}`, rows));
      const notes = instance.tasks.filter((t) => t.note !== undefined);
      for (const t of notes) console.log(`  * ${t.name}: ${t.note}`);
      const skipped = Object.entries((instance.info?.skipped ?? {}) as Record<string, string>);
      for (const [what, why] of skipped) console.log(`  ! skipped ${what}: ${why}`);
    } catch (e) {
      failed = true;
      suiteResults[suite.id] = { title: suite.title, error: (e as Error).stack ?? String(e) };
      log(`[${suite.id}] FAILED: ${(e as Error).stack ?? String(e)}`);
    } finally {
      await instance.dispose();
    }
  }

  const byId = new Map(measures.map((m) => [m.id, m]));
  const vaultAfter = suiteResults.vault?.after as { profile?: Record<string, ProfileEntry> } | undefined;
  const ratios = RATIOS.map((r) => computeRatio(byId, r));
  const targets = computeTargets(byId, vaultAfter?.profile);
  if (vaultAfter?.profile) console.log(formatProfile(vaultAfter.profile));
  console.log(formatRatios(ratios, targets));
  console.log('\n## not measured yet (bench/suites/pending.ts)');
  for (const p of PENDING_SUITES) console.log(`- ${p.id}: ${p.measures}\n    needs ${p.needs}`);

  const results: Results = {
    schema: 'bkv-bench/1',
    date: new Date().toISOString(),
    seed,
    budget,
    durationMs: Math.round(performance.now() - t0),
    machine,
    versions: versions(),
    suites: suiteResults,
    tasks: measures,
    ratios,
    targets,
    pending: PENDING_SUITES,
  };
  writeFileSync(values.out!, JSON.stringify(results, null, 2) + '\n');
  log(`\nwrote ${values.out} (${measures.length} tasks, ${(results.durationMs / 1000).toFixed(0)} s)`);
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
}
