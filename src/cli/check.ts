/**
 * `bkv check`: the randomized consensus, attack and guess-limit suites (spec ch. 13) against the
 * simulated replicated vault, on memory HSMs or SoftHSM tokens, with a progress bar on a terminal
 * (a line per scenario elsewhere) and a summary; a failure prints its seed, replay token, schedule, trace and a mermaid diagram.
 * `--broken M` runs a deliberately broken variant (src/broken/catalog.ts) until a check reports it,
 * and prints that failure the same way.
 *
 *   npx bkv check [--suite consensus|attack|guess-limit] [--runs N] [--seed S] [--hsm memory|softhsm] [--replay T]
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
import { type RunResult, type SuiteName, SUITES, type Summary } from '../scenarios/suites.ts';
import { describeFailure, emptySummary, parseReplayToken, runOne, runSuite } from '../scenarios/suites.ts';
import { type ReportedRuns, commandLine, reportRuns, writeCheckReport } from '../report/check-report.ts';

/** Default runs per suite on memory replicas: every attack twice. */
export const DEFAULT_RUNS: Readonly<Record<SuiteName, number>> = { consensus: 100, attack: 2 * ATTACKS.length, 'guess-limit': 20 };
/** Default runs per suite on SoftHSM replicas (every attack once): what `npm test` runs there too (test/scenarios-softhsm.test.ts). */
export const SOFTHSM_RUNS: Readonly<Record<SuiteName, number>> = { consensus: 40, attack: ATTACKS.length, 'guess-limit': 6 };
/** Most runs `--broken` tries by default. */
export const DEFAULT_BROKEN_RUNS = 20;
const MAX_REPLICAS = 5;

/** SoftHSM tokens to create up front for `runs` scenarios: fresh ones for each fleet, of up to 5 replicas, an attack may build two. */
export const softHsmCapacity = (runs: number): number => (2 * runs + 2) * MAX_REPLICAS;

/** One failed run in the JSON document. */
export interface CheckFailure {
  readonly suite: SuiteName;
  readonly run: number;
  readonly seed: string;
  readonly name: string;
  readonly broken: string | null;
  /** `bkv check --replay <replay>` runs it again. */
  readonly replay: string;
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
  invariant: r.violation?.invariant ?? null,
  detail: r.violation?.detail ?? null,
});

const figures = (s: Summary) => ({
  scenarios: s.scenarios,
  steps: s.steps,
  faults: s.faults,
  attacks: s.attacks,
  violations: s.violations,
  stepsPerSecond: s.ms > 0 ? Math.round((s.steps / s.ms) * 1000) : 0,
  seconds: Math.round(s.ms) / 1000,
});

const progressLine = (label: string, r: RunResult) => `  [${label}] ${r.name.padEnd(28)} ${r.ok ? 'ok  ' : 'FAIL'} ${String(r.steps).padStart(6)} steps ${String(r.faults).padStart(3)} faults ${String(r.attacks).padStart(4)} attacks`;

const fleetsFor = async (hsm: 'memory' | 'softhsm', runs: number): Promise<FleetFactory> => (hsm === 'softhsm' ? softHsmFleets(softHsmCapacity(runs)) : memoryFleets());

function mutation(name: string | true): BrokenVariant & { readonly suite: SuiteName } {
  const known = BROKEN.filter((m) => m.suite !== undefined).map((m) => m.name).join(', ');
  if (name === true) throw new UsageError(`--broken needs a variant (known: ${known})`);
  let b: BrokenVariant;
  try {
    b = getBroken(name);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const suite = b.suite;
  if (suite === undefined) throw new UsageError(`${b.name} is caught by ${b.test}, not by a scenario suite (bkv check --broken takes: ${known})`);
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
  const besides = ['suite', 'runs', 'seed'].filter((o) => args.options[o] !== undefined);
  if (replay !== undefined && besides.length > 0) {
    throw new UsageError(`--replay runs the one run its token names: no ${besides.map((o) => `--${o}`).join(', ')}`);
  }
  let plan: { suite: SuiteName; runs: number }[];
  let seed: string;
  let only: number | null = null;
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
    only = parsed.run;
    if (parsed.broken !== undefined) broke = mutation(parsed.broken);
  } else {
    const suite = args.options.suite === undefined ? null : choiceOption(args, 'suite', SUITES, 'consensus');
    const runsOption = args.options.runs === undefined ? null : intOption(args, 'runs', 1, 1, 1_000_000);
    const seedOption = args.options.seed;
    seed = typeof seedOption === 'string' ? seedOption : String(Date.now());
    plan = (suite ? [suite] : [...SUITES]).map((s) => ({ suite: s, runs: runsOption ?? (hsm === 'softhsm' ? SOFTHSM_RUNS : DEFAULT_RUNS)[s] }));
  }
  const total = plan.reduce((k, p) => k + p.runs, 0);
  // SoftHSM: a fresh set of tokens per scenario, and per replay of a failure
  const fleets = await fleetsFor(hsm, total);
  const env: ScenarioEnv = broke ? brokenEnv(fleets, broke) : fleets;
  print(`bkv check: ${plan.map((p) => `${p.suite} x${p.runs}`).join(', ')} on ${hsm} replicas, seed ${JSON.stringify(seed)}${only !== null ? `, replaying run ${only}` : ''}${broke ? `, broken variant ${broke.name}` : ''}`);
  const attackRuns = plan.find((p) => p.suite === 'attack')?.runs ?? ATTACKS.length;
  if (only === null && attackRuns < ATTACKS.length) {
    const n = ATTACKS.length;
    print(`note: ${attackRuns} attack runs try ${attackRuns} of the ${n} attacks (run k tries attack k mod ${n})`);
  }
  const summary = emptySummary();
  const reportDir = stringOption(args, 'report');
  let reported: ReportedRuns | null = null;
  try {
    for (const p of plan) {
      const progress = (r: RunResult, done: number) => {
        if (bar === null || !r.ok) {
          bar?.clear();
          print(progressLine(`${p.suite} ${done}/${p.runs}`, r));
        }
        bar?.update({ label: p.suite, done, total: p.runs, steps: summary.steps, violations: summary.violations });
      };
      if (only !== null) {
        const t0 = performance.now();
        const r = runOne(p.suite, seed, only, env);
        Object.assign(summary, { scenarios: 1, steps: r.steps, faults: r.faults, attacks: r.attacks, violations: r.ok ? 0 : 1, ms: performance.now() - t0 });
        if (!r.ok) summary.failures.push(r);
        progress(r, 1);
      } else runSuite(p.suite, seed, p.runs, fleets, summary, progress);
    }
    bar?.clear();
    for (const f of summary.failures) {
      const traced = runOne(f.suite, f.seed, f.run, { ...env, trace: true });
      print('');
      print(describeFailure(f, traced.trace));
    }
    reported = reportDir === undefined ? null : reportRuns(env, summary.failures, plan, seed);
  } finally {
    bar?.clear();
    fleets.dispose();
  }
  const rate = summary.ms > 0 ? Math.round((summary.steps / summary.ms) * 1000) : 0;
  print('');
  print(`summary: ${summary.scenarios} scenarios, ${summary.steps} steps, ${summary.faults} faults injected, ${summary.attacks} attacks tried, ${summary.violations} violations, ${rate} steps/s (${(summary.ms / 1000).toFixed(1)} s, ${hsm})`);
  const report: CheckReport = {
    schema: 'bkv-check/1',
    ok: summary.violations === 0,
    hsm,
    seed,
    plan,
    broken: null,
    ...figures(summary),
    failures: summary.failures.map(failureOf),
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
  if (args.options.suite !== undefined || args.options.replay !== undefined) throw new UsageError('--broken runs its own suite: no --suite, no --replay (a broken run replays with --replay alone)');
  const runs = intOption(args, 'runs', DEFAULT_BROKEN_RUNS, 1, 10_000);
  const seed = typeof args.options.seed === 'string' ? args.options.seed : String(Date.now());
  const fleets = await fleetsFor(hsm, runs);
  print(`bkv check --broken ${m.name}: must be caught by ${m.checker} (${m.expected.join('/')}), on ${m.attack ?? m.suite} runs, ${hsm} replicas, seed ${JSON.stringify(seed)}`);
  try {
    const summary = emptySummary();
    const t0 = performance.now();
    const caught = huntBroken(m, fleets, seed, runs, (r, k) => {
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
      broken: { variant: m.name, checker: m.checker, caughtBy },
      ...figures({ ...summary, violations: failures.length }),
      failures: failures.map(failureOf),
    });
    const reportDir = stringOption(args, 'report');
    const reported = (doc: CheckReport, failures: readonly RunResult[]) => {
      if (reportDir !== undefined) writeCheckReport(reportDir, doc, reportRuns(brokenEnv(fleets, m), failures, doc.plan, seed), commandLine(args.options), print);
    };
    if (caught === null) {
      print(`  FAILED: ${m.name} was not caught in ${runs} runs`);
      json?.(report(null, false, []));
      reported(report(null, false, []), []);
      return 1;
    }
    print('');
    print(describeFailure(caught, runOne(caught.suite, caught.seed, caught.run, { ...brokenEnv(fleets, m), trace: true }).trace));
    const by = caught.violation?.invariant ?? 'nothing';
    const expected = m.expected.includes(by);
    print('');
    print(expected ? `caught: ${m.name} reported as ${by} by ${m.checker}` : `  FAILED: ${m.name} was reported as ${by}, not by ${m.checker} (${m.expected.join('/')})`);
    json?.(report(caught.violation?.invariant ?? null, expected, [caught]));
    reported(report(caught.violation?.invariant ?? null, expected, [caught]), [caught]);
    return expected ? 0 : 1;
  } finally {
    fleets.dispose();
  }
}
