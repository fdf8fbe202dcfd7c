/**
 * `bkv check`: the randomized consensus, attack and guess-limit suites (spec ch. 13) against the
 * simulated replicated vault, on memory HSMs or SoftHSM tokens, with a progress line per scenario
 * and a summary; a failure prints its seed, replay token, schedule, trace and a mermaid diagram.
 *
 *   npx bkv check [--suite consensus|attack|guess-limit] [--runs N] [--seed S] [--hsm memory|softhsm] [--replay T]
 * @module
 */
import { type Parsed, UsageError, choiceOption, intOption } from './args.ts';
import { type FleetFactory, memoryFleets, softHsmFleets } from '../scenarios/fleets.ts';
import { type RunResult, type SuiteName, SUITES, describeFailure, emptySummary, parseReplayToken, runOne, runSuite } from '../scenarios/suites.ts';

/** Default runs per suite (memory); SoftHSM runs a fifth of them (at least 2). */
export const DEFAULT_RUNS: Readonly<Record<SuiteName, number>> = { consensus: 100, attack: 24, 'guess-limit': 20 };
const MAX_REPLICAS = 5;

export async function check(args: Parsed, print: (line: string) => void): Promise<number> {
  const hsm = choiceOption(args, 'hsm', ['memory', 'softhsm'] as const, 'memory');
  const replay = args.options.replay;
  if (replay === true) throw new UsageError('--replay needs a token');
  let plan: { suite: SuiteName; runs: number }[];
  let seed: string;
  let only: number | null = null;
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
  } else {
    const suite = args.options.suite === undefined ? null : choiceOption(args, 'suite', SUITES, 'consensus');
    const runsOption = args.options.runs === undefined ? null : intOption(args, 'runs', 1, 1, 1_000_000);
    const seedOption = args.options.seed;
    seed = typeof seedOption === 'string' ? seedOption : String(Date.now());
    plan = (suite ? [suite] : [...SUITES]).map((s) => ({ suite: s, runs: runsOption ?? (hsm === 'softhsm' ? Math.max(2, Math.round(DEFAULT_RUNS[s] / 5)) : DEFAULT_RUNS[s]) }));
  }
  const total = plan.reduce((k, p) => k + p.runs, 0);
  // SoftHSM: a fresh set of tokens per scenario, and per replay of a failure
  const fleets: FleetFactory = hsm === 'softhsm' ? await softHsmFleets((2 * total + 2) * MAX_REPLICAS) : memoryFleets();
  print(`bkv check: ${plan.map((p) => `${p.suite} x${p.runs}`).join(', ')} on ${hsm} replicas, seed ${JSON.stringify(seed)}${only !== null ? `, replaying run ${only}` : ''}`);
  const summary = emptySummary();
  try {
    for (const p of plan) {
      const progress = (r: RunResult, done: number) =>
        print(`  [${p.suite} ${done}/${p.runs}] ${r.name.padEnd(28)} ${r.ok ? 'ok  ' : 'FAIL'} ${String(r.steps).padStart(6)} steps ${String(r.faults).padStart(3)} faults ${String(r.attacks).padStart(4)} attacks`);
      if (only !== null) {
        const t0 = performance.now();
        const r = runOne(p.suite, seed, only, fleets);
        Object.assign(summary, { scenarios: 1, steps: r.steps, faults: r.faults, attacks: r.attacks, violations: r.ok ? 0 : 1, ms: performance.now() - t0 });
        if (!r.ok) summary.failures.push(r);
        progress(r, 1);
      } else runSuite(p.suite, seed, p.runs, fleets, summary, progress);
    }
    for (const f of summary.failures) {
      const traced = runOne(f.suite, f.seed, f.run, { ...fleets, trace: true });
      print('');
      print(describeFailure(f, traced.trace));
    }
  } finally {
    fleets.dispose();
  }
  const rate = summary.ms > 0 ? Math.round((summary.steps / summary.ms) * 1000) : 0;
  print('');
  print(`summary: ${summary.scenarios} scenarios, ${summary.steps} steps, ${summary.faults} faults injected, ${summary.attacks} attacks tried, ${summary.violations} violations, ${rate} steps/s (${(summary.ms / 1000).toFixed(1)} s, ${hsm})`);
  return summary.violations === 0 ? 0 : 1;
}
