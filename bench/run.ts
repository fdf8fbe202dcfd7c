/**
 * `npm run bench`: runs the bench suites with tinybench, prints one table per suite, the ratios
 * and the targets of issue 9, and writes the results where --out says (spec/11-benchmarks.md;
 * `--out bench/results.json` updates the committed ones, nothing else does).
 *
 *   npm run bench -- [--suite crypto,floor,peers,vault] [--time MS] [--iterations N]
 *                    [--seed S] [--out FILE] [--quick] [--deep] [--help]
 *
 * --time / --iterations: the default budget of each task (400 ms, at least 8 calls); slow tasks
 * (Argon2id at its default parameters, opaque-ts) ask for a fixed handful of calls instead.
 * --quick: 100 ms and 3 calls, for a look (figures are noisier). Every rng of the run derives
 * from --seed (default "bkv-bench"), printed and recorded. Progress goes to stderr.
 * --deep: the largest workloads too (the `scale` suite at 10^6 credentials).
 * @module
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Parsed, stringOption } from '../src/cli/args.ts';
import { type Command, REPORT_FLAG } from '../src/cli/command.ts';
import { writeBenchReport } from '../src/report/bench.ts';
import { runCli } from '../src/cli/main.ts';
import { seededRng } from '../src/crypto/rng.ts';
import {
  type BenchSuite,
  type Budget,
  DEFAULT_BUDGET,
  measureTask,
  type SuiteContext,
  type TaskMeasure,
} from './harness.ts';
import { machineInfo, versions } from './machine.ts';
import {
  computeRatio,
  computeTargets,
  formatProfile,
  formatRatios,
  formatReplicated,
  formatServed,
  formatTaskTable,
  RATIOS,
  type Results,
  type ServedAfter,
  type SuitesAfter,
} from './report.ts';
import { bundlesSuite } from './suites/bundles.ts';
import { checkersSuite } from './suites/checkers.ts';
import { cryptoSuite } from './suites/crypto.ts';
import { explorerSuite } from './suites/explorer.ts';
import { floorSuite } from './suites/floor.ts';
import { lincheckSuite } from './suites/lincheck.ts';
import { peersSuite } from './suites/peers.ts';
import { replicatedSuite } from './suites/replicated.ts';
import { scaleSuite } from './suites/scale.ts';
import { type ScaleAfter, formatScale } from './suites/scale-report.ts';
import { servedSuite } from './suites/served.ts';
import { vaultSuite } from './suites/vault.ts';

/** Every suite, in run order. */
export const SUITES: readonly BenchSuite[] = [
  cryptoSuite,
  floorSuite,
  peersSuite,
  vaultSuite,
  bundlesSuite,
  replicatedSuite,
  checkersSuite,
  lincheckSuite,
  explorerSuite,
  scaleSuite,
  servedSuite,
];

export function suiteContext(seed: string, log: (line: string) => void, quick = false, deep = false): SuiteContext {
  return { seed, rngFor: (label) => seededRng(`${seed}/${label}`), log, quick, deep };
}

const QUICK_BUDGET: Budget = Object.freeze({ timeMs: 100, iterations: 3 });

/** `npm run bench -- ...`, declared as a bkv command (src/cli/command.ts): strict arguments, --help. */
export const BENCH_COMMAND: Command = {
  name: 'bench',
  invocation: 'npm run bench --',
  summary: 'the tinybench suites (spec ch. 11): a table per suite, the ratios and targets; the results into --out',
  flags: [
    {
      name: 'suite',
      kind: 'list',
      choices: SUITES.map((s) => s.id),
      defaultText: 'every suite',
      help: 'some suites',
      example: 'crypto,vault',
    },
    {
      name: 'time',
      kind: 'int',
      min: 0,
      value: 'MS',
      defaultText: `${DEFAULT_BUDGET.timeMs}, --quick ${QUICK_BUDGET.timeMs}`,
      help: 'the time budget of each task',
      example: '200',
    },
    {
      name: 'iterations',
      kind: 'int',
      min: 1,
      defaultText: `${DEFAULT_BUDGET.iterations}, --quick ${QUICK_BUDGET.iterations}`,
      help: 'at least this many calls of each task',
      example: '4',
    },
    { name: 'seed', kind: 'string', default: 'bkv-bench', help: 'the seed of every rng of the run', example: 's' },
    {
      name: 'out',
      kind: 'string',
      value: 'FILE',
      defaultText: 'none: the tables only',
      help: 'write the results (JSON) to FILE; --out bench/results.json updates the committed ones',
      example: '/tmp/bench.json',
    },
    { name: 'quick', kind: 'boolean', help: 'a look: 100 ms and 3 calls a task, smaller simulations (noisier)' },
    { name: 'deep', kind: 'boolean', help: 'the largest workloads too: the scale suite at 10^6 credentials (long)' },
    { ...REPORT_FLAG, help: 'also write the results as charts there (index.html, results.json; opens from disk)' },
  ],
  examples: [
    'bench --quick',
    'bench --quick --suite floor,peers --report /tmp/bench-report',
    'bench --suite crypto,vault --out /tmp/bench.json',
    'bench --suite scale --deep',
    'bench --out bench/results.json',
  ],
  run: (a) => runBench(a),
};

async function runBench(a: Parsed): Promise<number> {
  const quick = a.options.quick === true;
  const base = quick ? QUICK_BUDGET : DEFAULT_BUDGET;
  const time = stringOption(a, 'time');
  const iterations = stringOption(a, 'iterations');
  const budget: Budget = {
    timeMs: time !== undefined ? Number(time) : base.timeMs,
    iterations: iterations !== undefined ? Number(iterations) : base.iterations,
  };
  const wanted = stringOption(a, 'suite')?.split(',');
  const suites = SUITES.filter((s) => wanted === undefined || wanted.includes(s.id));
  const seed = stringOption(a, 'seed')!;
  // `npm run` runs in the package root: a relative --out is the user's, from where they typed it
  const outOption = stringOption(a, 'out');
  const out = outOption === undefined ? undefined : resolve(process.env.INIT_CWD ?? process.cwd(), outOption);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx = suiteContext(seed, log, quick, a.options.deep === true);
  const t0 = performance.now();
  const machine = machineInfo(); // before the run: the load average is the other processes'
  log(
    `bkv bench: seed "${seed}", budget ${budget.timeMs} ms / >= ${budget.iterations} calls a task; ` +
      `suites ${suites.map((s) => s.id).join(', ')}`,
  );

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
      // a task that fails its self-check has no figure; the others of its suite are still measured
      const taskErrors: Record<string, string> = {};
      for (const task of instance.tasks) {
        try {
          const m = await measureTask(task, budget);
          rows.push(m);
          measures.push({ ...m, suite: suite.id });
          log(`  ${task.name}: ${m.medianMs.toFixed(3)} ms (n=${m.samples})`);
        } catch (e) {
          failed = true;
          taskErrors[task.id] = (e as Error).message;
          log(`  ${task.name}: FAILED: ${(e as Error).stack ?? String(e)}`);
        }
      }
      const after = instance.afterRun ? await instance.afterRun() : undefined;
      const errors = Object.keys(taskErrors).length > 0 ? { taskErrors } : {};
      suiteResults[suite.id] = {
        title: suite.title,
        ...(instance.info && { info: instance.info }),
        ...(after && { after }),
        ...errors,
      };
      console.log(formatTaskTable(`${suite.id}: ${suite.title}`, rows));
      const notes = instance.tasks.filter((t) => t.note !== undefined && !(t.id in taskErrors));
      for (const t of notes) console.log(`  * ${t.name}: ${t.note}`);
      for (const [id, why] of Object.entries(taskErrors)) console.log(`  ! FAILED ${id}: ${why}`);
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
  const after: SuitesAfter = {
    vault: suiteResults.vault?.after ?? {},
    replicated: suiteResults.replicated?.after ?? {},
  };
  const ratios = RATIOS.map((r) => computeRatio(byId, r));
  const targets = computeTargets(byId, after);
  if (after.vault?.profile) console.log(formatProfile(after.vault.profile));
  if (after.replicated?.configs) console.log(formatReplicated(after.replicated.configs));
  const served = suiteResults.served?.after;
  if (served) console.log(formatServed(served as unknown as ServedAfter));
  const scale = suiteResults.scale?.after;
  if (scale) console.log(formatScale(scale as unknown as ScaleAfter));
  console.log(formatRatios(ratios, targets));

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
  };
  const took = `${measures.length} tasks, ${(results.durationMs / 1000).toFixed(0)} s`;
  if (out !== undefined) {
    writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
    log(`\nwrote ${out} (${took})`);
  } else log(`\n${took}; results not written (--out FILE keeps them)`);
  const report = stringOption(a, 'report');
  if (report !== undefined)
    log(`report: ${writeBenchReport(resolve(process.env.INIT_CWD ?? process.cwd(), report), results)}`);
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runCli(['bench', ...process.argv.slice(2)], [BENCH_COMMAND]);
}
