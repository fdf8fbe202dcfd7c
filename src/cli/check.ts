/**
 * `bkv check`: the randomized consensus, attack and guess-limit suites (spec ch. 13) against the
 * simulated replicated vault, on memory HSMs or SoftHSM tokens, with a progress bar on a terminal
 * (a line per scenario elsewhere) and a summary; a failure prints its seed, replay token, schedule,
 * trace and a mermaid diagram.
 * `--broken M` runs a deliberately broken variant (src/broken/catalog.ts) until a check reports it,
 * and prints that failure the same way. A failure of a generated suite (consensus, guess-limit) is
 * shrunk first (src/scenarios/arbitrary.ts): the smallest scenario fast-check finds on which the
 * same invariant fails, with its own replay token.
 *
 *   npx bkv check [--suite consensus|attack|guess-limit] [--runs N] [--seed S] [--hsm memory|softhsm]
 *                 [--workers N] [--shard i/n]
 *   npx bkv check --replay T
 *   npx bkv check --broken M [--runs N] [--seed S] [--hsm memory|softhsm]
 * @module
 */
import { type Parsed, UsageError, choiceOption, intOption, stringOption } from './args.ts';
import type { ScenarioEnv } from '../sim/scenario.ts';
import { ATTACKS } from '../scenarios/attacks.ts';
import { type ProgressBar, terminalProgressBar } from './progress.ts';
import { type FleetFactory, memoryFleets, softHsmFleets } from '../scenarios/fleets.ts';
import { type BrokenVariant, BROKEN, getBroken } from '../broken/catalog.ts';
import { brokenEnv, huntBroken } from '../scenarios/mutants.ts';
import { type RunResult, type Shard, type SuiteName, SUITES, type Summary } from '../scenarios/suites.ts';
import { describeFailure, emptySummary, parseReplayToken, parseShard, runOne, runSuite } from '../scenarios/suites.ts';
import { shardRuns, shrinkRun, tally } from '../scenarios/suites.ts';
import { MAX_WORKERS, runOnWorkers } from '../scenarios/workers.ts';
import { type ReportedRuns, commandLine, reportRuns, writeCheckReport } from '../report/check-report.ts';

/** Default runs per suite on memory replicas: every attack twice. */
export const DEFAULT_RUNS: Readonly<Record<SuiteName, number>> = {
  consensus: 100,
  attack: 2 * ATTACKS.length,
  'guess-limit': 20,
};
/**
 * Default runs per suite on SoftHSM replicas (every attack once): what `npm test` runs there too
 * (test/scenarios-softhsm.test.ts).
 */
export const SOFTHSM_RUNS: Readonly<Record<SuiteName, number>> = {
  consensus: 40,
  attack: ATTACKS.length,
  'guess-limit': 6,
};
/** Most runs `--broken` tries by default. */
export const DEFAULT_BROKEN_RUNS = 20;
/** Failures shrunk per check (each for up to `SHRINK_MS`); the others are printed as they ran. */
export const MAX_SHRUNK = 3;
/** The memory fleets' prefix (their keys): the same in every worker. */
const FLEET_PREFIX = 'bkv-check';
const MAX_REPLICAS = 5;

/**
 * SoftHSM tokens to create up front for `runs` scenarios: fresh ones for each fleet, of up to 5
 * replicas, an attack may build two.
 */
export const softHsmCapacity = (runs: number): number => (2 * runs + 2) * MAX_REPLICAS;

/** One failed run in the JSON document. */
export interface CheckFailure {
  readonly suite: SuiteName;
  readonly run: number;
  readonly seed: string;
  readonly name: string;
  readonly broken: string | null;
  /** `bkv check --replay <replay>` runs it again (the shrunk scenario, when it was shrunk). */
  readonly replay: string;
  /** fast-check's seed and path of the scenario reported (a generated suite's). */
  readonly fc: { readonly seed: number; readonly path: string } | null;
  /** `INV-n` or `LIVENESS`; null when a broken run was expected to be caught and was not. */
  readonly invariant: string | null;
  readonly detail: string | null;
}

/** The document of `bkv check --json` (spec ch. 14): the figures of the text summary. */
export interface CheckReport {
  readonly schema: 'bkv-check/1';
  readonly ok: boolean;
  readonly hsm: 'memory' | 'softhsm';
  readonly seed: string;
  readonly plan: readonly { readonly suite: SuiteName; readonly runs: number }[];
  /** `--shard i/n`: the slice of each suite's runs this check ran (null: all of them). */
  readonly shard: Shard | null;
  /** The runs this check ran, per suite: its shard's (k mod n = i - 1), or all of them. */
  readonly ran: readonly { readonly suite: SuiteName; readonly runs: readonly number[] }[];
  readonly workers: number;
  /** `--broken M`: the broken variant, the checker that must catch it, and whether it did. */
  readonly broken: { readonly variant: string; readonly checker: string; readonly caughtBy: string | null } | null;
  readonly scenarios: number;
  readonly steps: number;
  readonly faults: number;
  readonly attacks: number;
  readonly violations: number;
  readonly stepsPerSecond: number;
  readonly seconds: number;
  readonly failures: readonly CheckFailure[];
}

type Emit = ((doc: object) => void) | null;

const failureOf = (r: RunResult): CheckFailure => ({
  suite: r.suite,
  run: r.run,
  seed: r.seed,
  name: r.name,
  broken: r.broken ?? null,
  replay: r.token,
  fc: r.fc ?? null,
  invariant: r.violation?.invariant ?? null,
  detail: r.violation?.detail ?? null,
});

/** `wallMs`: the time the runs took (on several workers, less than the sum of theirs). */
const figures = (s: Summary, wallMs = s.ms) => ({
  scenarios: s.scenarios,
  steps: s.steps,
  faults: s.faults,
  attacks: s.attacks,
  violations: s.violations,
  stepsPerSecond: wallMs > 0 ? Math.round((s.steps / wallMs) * 1000) : 0,
  seconds: Math.round(wallMs) / 1000,
});

const progressLine = (label: string, r: RunResult) =>
  `  [${label}] ${r.name.padEnd(28)} ${r.ok ? 'ok  ' : 'FAIL'} ${String(r.steps).padStart(6)} steps ` +
  `${String(r.faults).padStart(3)} faults ${String(r.attacks).padStart(4)} attacks`;

const fleetsFor = async (hsm: 'memory' | 'softhsm', runs: number): Promise<FleetFactory> =>
  hsm === 'softhsm' ? softHsmFleets(softHsmCapacity(runs)) : memoryFleets();

function mutation(name: string | true): BrokenVariant & { readonly suite: SuiteName } {
  const known = BROKEN.filter((m) => m.suite !== undefined)
    .map((m) => m.name)
    .join(', ');
  if (name === true) throw new UsageError(`--broken needs a variant (known: ${known})`);
  let b: BrokenVariant;
  try {
    b = getBroken(name);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const suite = b.suite;
  if (suite === undefined)
    throw new UsageError(
      `${b.name} is caught by ${b.test}, not by a scenario suite (bkv check --broken takes: ${known})`,
    );
  return { ...b, suite };
}

/**
 * `bar`: the progress bar (default: on stderr when it is a terminal). With a bar, a scenario's
 * line is printed only when it fails; without one (CI logs, pipes), every scenario's line.
 */
export async function check(
  args: Parsed,
  print: (line: string) => void,
  bar: ProgressBar | null = terminalProgressBar(),
  json: Emit = null,
): Promise<number> {
  const hsm = choiceOption(args, 'hsm', ['memory', 'softhsm'] as const, 'memory');
  if (args.options.broken !== undefined) return broken(args, hsm, print, json);
  const replay = args.options.replay;
  if (replay === true) throw new UsageError('--replay needs a token');
  const besides = ['suite', 'runs', 'seed', 'workers', 'shard'].filter((o) => args.options[o] !== undefined);
  if (replay !== undefined && besides.length > 0) {
    throw new UsageError(`--replay runs the one run its token names: no ${besides.map((o) => `--${o}`).join(', ')}`);
  }
  const workers = intOption(args, 'workers', 1, 1, MAX_WORKERS);
  if (workers > 1 && hsm === 'softhsm') {
    throw new UsageError('--workers runs memory fleets only (SoftHSM: one process)');
  }
  const shardText = stringOption(args, 'shard');
  const shard = shardText === undefined ? null : parseShard(shardText);
  if (shardText !== undefined && shard === null) {
    throw new UsageError(`--shard expected i/n with 1 <= i <= n, got ${shardText}`);
  }
  let plan: { suite: SuiteName; runs: number }[];
  let seed: string;
  let only: { run: number; path?: string } | null = null;
  let broke: BrokenVariant | null = null;
  if (replay !== undefined) {
    let parsed;
    try {
      parsed = parseReplayToken(replay);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    plan = [{ suite: parsed.suite, runs: 1 }];
    seed = parsed.seed;
    only = { run: parsed.run, ...(parsed.path !== undefined && { path: parsed.path }) };
    if (parsed.broken !== undefined) broke = mutation(parsed.broken);
  } else {
    const suite = args.options.suite === undefined ? null : choiceOption(args, 'suite', SUITES, 'consensus');
    const runsOption = args.options.runs === undefined ? null : intOption(args, 'runs', 1, 1, 1_000_000);
    const seedOption = args.options.seed;
    seed = typeof seedOption === 'string' ? seedOption : String(Date.now());
    const runsOf = (s: SuiteName) => runsOption ?? (hsm === 'softhsm' ? SOFTHSM_RUNS : DEFAULT_RUNS)[s];
    plan = (suite ? [suite] : [...SUITES]).map((s) => ({ suite: s, runs: runsOf(s) }));
  }
  const ran = plan.map((p) => ({ suite: p.suite, runs: only !== null ? [only.run] : shardRuns(p.runs, shard) }));
  const total = ran.reduce((k, p) => k + p.runs.length, 0);
  // SoftHSM: a fresh set of tokens per scenario, and per replay of a failure
  const fleets = await fleetsFor(hsm, total);
  const env: ScenarioEnv = broke ? brokenEnv(fleets, broke) : fleets;
  const shrunkPath = only?.path ? ` (shrunk: path ${only.path})` : '';
  const replaying = only === null ? '' : `, replaying run ${only.run}${shrunkPath}`;
  const on = `${hsm} replicas${workers > 1 ? ` on ${workers} worker threads` : ''}`;
  const suites = plan.map((p) => `${p.suite} x${p.runs}`).join(', ');
  const variant = broke ? `, broken variant ${broke.name}` : '';
  print(`bkv check: ${suites} on ${on}, seed ${JSON.stringify(seed)}${replaying}${variant}`);
  if (shard !== null) {
    const counts = ran.map((r) => `${r.suite} ${r.runs.length}`).join(', ');
    print(`shard ${shard.index}/${shard.count}: the runs k with k mod ${shard.count} = ${shard.index - 1} (${counts})`);
  }
  const attackRuns = plan.find((p) => p.suite === 'attack')?.runs ?? ATTACKS.length;
  if (only === null && attackRuns < ATTACKS.length) {
    const n = ATTACKS.length;
    print(`note: ${attackRuns} attack runs try ${attackRuns} of the ${n} attacks (run k tries attack k mod ${n})`);
  }
  const summary = emptySummary();
  const reportDir = stringOption(args, 'report');
  let reported: ReportedRuns | null = null;
  let wallMs = 0;
  const shrunk: RunResult[] = [];
  try {
    const t0 = performance.now();
    for (const [i, p] of plan.entries()) {
      const runs = ran[i]!.runs;
      const progress = (r: RunResult, done: number) => {
        if (bar === null || !r.ok) {
          bar?.clear();
          print(progressLine(`${p.suite} ${done}/${runs.length}`, r));
        }
        bar?.update({ label: p.suite, done, total: runs.length, steps: summary.steps, violations: summary.violations });
      };
      if (only !== null) {
        const t1 = performance.now();
        const r = runOne(p.suite, seed, only.run, env, only.path);
        tally(summary, r, performance.now() - t1);
        progress(r, 1);
      } else if (workers > 1) {
        let done = 0;
        const job = { suite: p.suite, seed, runs, prefix: FLEET_PREFIX };
        await runOnWorkers(job, workers, (r, ms) => {
          tally(summary, r, ms);
          progress(r, ++done);
        });
      } else runSuite(p.suite, seed, runs, fleets, summary, progress);
    }
    wallMs = performance.now() - t0;
    bar?.clear();
    // in run order, whichever worker ran them
    const order = (r: RunResult) => SUITES.indexOf(r.suite) * 1e7 + r.run;
    summary.failures.sort((a, b) => order(a) - order(b));
    for (const [k, f] of summary.failures.entries()) {
      const small = only !== null || k >= MAX_SHRUNK ? f : shrinkRun(f, env);
      if (small !== f && small.fc?.path !== f.fc?.path) {
        print(`shrunk ${f.suite} run ${f.run}: ${f.faults} faults -> ${small.faults}`);
      }
      shrunk.push(small);
      const traced = runOne(small.suite, small.seed, small.run, { ...env, trace: true }, small.fc?.path);
      print('');
      print(describeFailure(small, traced.trace));
    }
    reported = reportDir === undefined ? null : reportRuns(env, shrunk, plan, seed);
  } finally {
    bar?.clear();
    fleets.dispose();
  }
  const rate = wallMs > 0 ? Math.round((summary.steps / wallMs) * 1000) : 0;
  print('');
  const shardNote = shard === null ? '' : `, shard ${shard.index}/${shard.count}`;
  const threads = workers > 1 ? `, ${workers} workers` : '';
  const { faults, attacks, violations } = summary;
  const counts = `${faults} faults injected, ${attacks} attacks tried, ${violations} violations`;
  const time = `${(wallMs / 1000).toFixed(1)} s, ${hsm}${threads}${shardNote}`;
  print(`summary: ${summary.scenarios} scenarios, ${summary.steps} steps, ${counts}, ${rate} steps/s (${time})`);
  const report: CheckReport = {
    schema: 'bkv-check/1',
    ok: summary.violations === 0,
    hsm,
    seed,
    plan,
    shard,
    ran,
    workers,
    broken: null,
    ...figures(summary, wallMs),
    failures: shrunk.map(failureOf),
  };
  json?.(report);
  if (reportDir !== undefined) writeCheckReport(reportDir, report, reported!, commandLine(args.options), print);
  return report.ok ? 0 : 1;
}

/**
 * `--broken M`: the runs of the variant's suite (or attack) until a check reports it, then that
 * failure in full, replay token included. Exit 0 when the check the variant targets caught it.
 */
async function broken(
  args: Parsed,
  hsm: 'memory' | 'softhsm',
  print: (line: string) => void,
  json: Emit,
): Promise<number> {
  const m = mutation(args.options.broken!);
  const besides = ['suite', 'replay', 'workers', 'shard'].filter((o) => args.options[o] !== undefined);
  if (besides.length > 0) {
    const no = besides.map((o) => `--${o}`).join(', ');
    const why = "--broken runs its own suite's runs in order until one is caught";
    throw new UsageError(`${why}: no ${no} (a broken run replays with --replay alone)`);
  }
  const runs = intOption(args, 'runs', DEFAULT_BROKEN_RUNS, 1, 10_000);
  const seed = typeof args.options.seed === 'string' ? args.options.seed : String(Date.now());
  const fleets = await fleetsFor(hsm, runs);
  print(
    `bkv check --broken ${m.name}: must be caught by ${m.checker} (${m.expected.join('/')}), ` +
      `on ${m.attack ?? m.suite} runs, ${hsm} replicas, seed ${JSON.stringify(seed)}`,
  );
  try {
    const summary = emptySummary();
    const t0 = performance.now();
    const ranRuns: number[] = [];
    const caught = huntBroken(m, fleets, seed, runs, (r, k) => {
      ranRuns.push(r.run);
      summary.scenarios = k + 1;
      summary.steps += r.steps;
      summary.faults += r.faults;
      summary.attacks += r.attacks;
      summary.ms = performance.now() - t0;
      print(progressLine(`${m.suite} run ${r.run}, ${k + 1}/${runs}`, r));
    });
    const report = (caughtBy: string | null, ok: boolean, failures: readonly RunResult[]): CheckReport => ({
      schema: 'bkv-check/1',
      ok,
      hsm,
      seed,
      plan: [{ suite: m.suite, runs }],
      shard: null,
      ran: [{ suite: m.suite, runs: ranRuns }],
      workers: 1,
      broken: { variant: m.name, checker: m.checker, caughtBy },
      ...figures({ ...summary, violations: failures.length }),
      failures: failures.map(failureOf),
    });
    const reportDir = stringOption(args, 'report');
    const reported = (doc: CheckReport, failures: readonly RunResult[]) => {
      if (reportDir !== undefined)
        writeCheckReport(
          reportDir,
          doc,
          reportRuns(brokenEnv(fleets, m), failures, doc.plan, seed),
          commandLine(args.options),
          print,
        );
    };
    if (caught === null) {
      print(`  FAILED: ${m.name} was not caught in ${runs} runs`);
      json?.(report(null, false, []));
      reported(report(null, false, []), []);
      return 1;
    }
    const small = shrinkRun(caught, brokenEnv(fleets, m));
    if (small.shrinks > 0) {
      const faults = `${caught.faults} faults -> ${small.faults}`;
      const attacks = `${caught.attacks} attacker operations -> ${small.attacks}`;
      print(`shrunk ${caught.suite} run ${caught.run} in ${small.shrinks} steps: ${faults}, ${attacks}`);
    } else if (caught.suite === 'attack') {
      print('(an attack is a scripted strategy: its run is printed as it ran, not shrunk)');
    }
    print('');
    const traced = runOne(small.suite, small.seed, small.run, { ...brokenEnv(fleets, m), trace: true }, small.fc?.path);
    print(describeFailure(small, traced.trace));
    const by = caught.violation?.invariant ?? 'nothing';
    const expected = m.expected.includes(by);
    print('');
    print(
      expected
        ? `caught: ${m.name} reported as ${by} by ${m.checker}`
        : `  FAILED: ${m.name} was reported as ${by}, not by ${m.checker} (${m.expected.join('/')})`,
    );
    json?.(report(caught.violation?.invariant ?? null, expected, [small]));
    reported(report(caught.violation?.invariant ?? null, expected, [small]), [small]);
    return expected ? 0 : 1;
  } finally {
    fleets.dispose();
  }
}

/**
 * The `--json` documents of the shards of one check (`--shard i/n`, the same seed, plan, replicas
 * and no broken variant) merged into the document of the whole: the runs each ran, which must be
 * disjoint, their figures summed (`seconds`: the shards' machine time), their failures in run order.
 */
export function mergeCheckReports(reports: readonly CheckReport[]): CheckReport {
  const [first, ...rest] = reports;
  if (first === undefined) throw new RangeError('merge: no report');
  const samePlan = (r: CheckReport) => JSON.stringify(r.plan) === JSON.stringify(first.plan);
  const same = (r: CheckReport) => r.seed === first.seed && r.hsm === first.hsm && r.broken === null && samePlan(r);
  if (first.broken !== null || !rest.every(same)) {
    throw new RangeError('merge: the reports are not shards of one check');
  }
  const ran = first.plan.map(({ suite }) => {
    const runs = reports.flatMap((r) => r.ran.find((x) => x.suite === suite)?.runs ?? []);
    if (new Set(runs).size !== runs.length) throw new RangeError(`merge: the shards ran some ${suite} runs twice`);
    return { suite, runs: runs.sort((a, b) => a - b) };
  });
  const sum = (f: (r: CheckReport) => number) => reports.reduce((k, r) => k + f(r), 0);
  const seconds = Math.round(sum((r) => r.seconds) * 1000) / 1000;
  const steps = sum((r) => r.steps);
  const order = (f: CheckFailure) => SUITES.indexOf(f.suite) * 1e7 + f.run;
  return {
    ...first,
    ok: reports.every((r) => r.ok),
    shard: null,
    ran,
    workers: Math.max(...reports.map((r) => r.workers)),
    scenarios: sum((r) => r.scenarios),
    steps,
    faults: sum((r) => r.faults),
    attacks: sum((r) => r.attacks),
    violations: sum((r) => r.violations),
    stepsPerSecond: seconds > 0 ? Math.round(steps / seconds) : 0,
    seconds,
    failures: reports.flatMap((r) => r.failures).sort((a, b) => order(a) - order(b)),
  };
}
