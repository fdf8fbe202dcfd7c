/**
 * The three suites of `bkv check` (spec ch. 13) and their reproducibility: run k of a suite with
 * seed S is a function of (suite, S, k) alone (and of the broken fleet, for a mutation check),
 * named by a replay token; a failing run is shrunk (consensus, guess-limit), replayed with a trace,
 * and printed as the message sequence and a mermaid sequence diagram.
 *
 *   consensus     faults only (src/scenarios/arbitrary.ts `CONSENSUS_SHAPE`)
 *   attack        the attack catalog in turn (src/scenarios/attacks.ts), run k is attack k of the catalog, mod its size
 *   guess-limit   many concurrent clients and attackers on the same records (`GUESS_LIMIT_SHAPE`)
 *
 * Runs are independent: a shard (`--shard i/n`) runs the runs k with k mod n = i - 1, a worker
 * thread any subset, with the same results as one thread running them all.
 * @module
 */
import { runScenario } from '../sim/scenario.ts';
import type { Scenario, ScenarioEnv, ScenarioViolation } from '../sim/scenario.ts';
import { describeSchedule } from '../sim/scenario.ts';
import { type AttackRun, ATTACKS } from './attacks.ts';
import { SCENARIO_SUITES, type ScenarioSuite, drawScenario, fcSeed, isPath, shrinkScenario } from './arbitrary.ts';

export const SUITES = ['consensus', 'attack', 'guess-limit'] as const;
export type SuiteName = (typeof SUITES)[number];

export interface RunResult extends AttackRun {
  readonly suite: SuiteName;
  readonly seed: string;
  readonly run: number;
  /** The scenario's name: the attack, or the suite. */
  readonly name: string;
  readonly token: string;
  /** The broken variant the run is of, if any (src/broken/catalog.ts). */
  readonly broken?: string;
  /** fast-check's seed and path of the scenario (consensus, guess-limit): `0`, or a shrunk one's. */
  readonly fc?: { readonly seed: number; readonly path: string };
}

export interface Replay {
  readonly suite: SuiteName;
  readonly seed: string;
  readonly run: number;
  readonly broken?: string;
  /** A shrunk scenario's path (fast-check's); absent: the run's own scenario. */
  readonly path?: string;
}

/** `broken`: the run is of a broken variant (src/broken/catalog.ts); `path`: a shrunk scenario of the run. */
export function replayToken(suite: SuiteName, seed: string, run: number, broken?: string, path?: string): string {
  const fields: unknown[] = [suite, seed, run];
  if (path !== undefined) fields.push(broken ?? null, path);
  else if (broken !== undefined) fields.push(broken);
  return `bkv1.${Buffer.from(JSON.stringify(fields)).toString('base64url')}`;
}

export function parseReplayToken(token: string): Replay {
  const bad = () => new RangeError(`not a replay token: ${token}`);
  if (!token.startsWith('bkv1.')) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token.slice(5), 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(v) || v.length < 3 || v.length > 5) throw bad();
  const [suite, seed, run, broken, path] = v as unknown[];
  if (!(SUITES as readonly unknown[]).includes(suite) || typeof seed !== 'string') throw bad();
  if (!Number.isSafeInteger(run) || (run as number) < 0) throw bad();
  if (v.length >= 4 && typeof broken !== 'string' && !(v.length === 5 && broken === null)) throw bad();
  if (v.length === 5 && (typeof path !== 'string' || !isPath(path) || suite === 'attack')) throw bad();
  return {
    suite: suite as SuiteName,
    seed,
    run: run as number,
    ...(typeof broken === 'string' && { broken }),
    ...(typeof path === 'string' && { path }),
  };
}

/** The fast-check seed and scenario of run k of a generated suite (`path`: a shrunk one). */
export function suiteScenario(
  suite: ScenarioSuite,
  seed: string,
  run: number,
  path = '0',
): { fc: { seed: number; path: string }; scenario: Scenario } {
  const fcs = fcSeed(suite, seed, run);
  return { fc: { seed: fcs, path }, scenario: drawScenario(SCENARIO_SUITES[suite], fcs, path) };
}

/** Run k of a suite (of a broken variant if `env.broken`); `path`: a shrunk scenario of it. */
export function runOne(suite: SuiteName, seed: string, run: number, env: ScenarioEnv, path?: string): RunResult {
  const token = replayToken(suite, seed, run, env.broken?.name, path);
  const broken = env.broken && { broken: env.broken.name };
  if (suite === 'attack') {
    const attack = ATTACKS[run % ATTACKS.length]!;
    return { ...attack.run(`${seed}/${run}`, env), suite, seed, run, name: attack.name, token, ...broken };
  }
  const { fc, scenario: s } = suiteScenario(suite, seed, run, path);
  const r = runScenario(s, env);
  const attacks = s.clients.filter((c) => c.name.startsWith('attacker')).reduce((k, c) => k + c.ops.length, 0);
  return {
    ok: r.ok,
    violation: r.violation,
    steps: r.stats.steps,
    faults: s.faults.length,
    attacks,
    schedule: describeSchedule(s),
    trace: r.trace,
    history: r.history,
    suite,
    seed,
    run,
    name: suite,
    token,
    fc,
    ...broken,
  };
}

/** How long `shrinkRun` lets fast-check shrink by default. */
export const SHRINK_MS = 20_000;

/**
 * A failing run of a generated suite, shrunk: fast-check tries smaller scenarios for `budgetMs`
 * and keeps the smallest on which the same invariant is violated. The run itself for an attack
 * (a scripted strategy, not shrunk) or when no smaller scenario fails.
 */
export function shrinkRun(
  failed: RunResult,
  env: ScenarioEnv,
  budgetMs = SHRINK_MS,
): RunResult & { readonly shrinks: number } {
  if (failed.suite === 'attack' || failed.violation === null || failed.fc === undefined) {
    return { ...failed, shrinks: 0 };
  }
  const invariant = failed.violation.invariant;
  const fails = (s: Scenario) => runScenario(s, env).violation?.invariant === invariant;
  const shrunk = shrinkScenario(SCENARIO_SUITES[failed.suite], failed.fc.seed, fails, budgetMs);
  if (shrunk === null || shrunk.path === failed.fc.path) return { ...failed, shrinks: 0 };
  return { ...runOne(failed.suite, failed.seed, failed.run, env, shrunk.path), shrinks: shrunk.shrinks };
}

export interface Summary {
  scenarios: number;
  steps: number;
  faults: number;
  attacks: number;
  violations: number;
  ms: number;
  readonly failures: RunResult[];
}

export function emptySummary(): Summary {
  return { scenarios: 0, steps: 0, faults: 0, attacks: 0, violations: 0, ms: 0, failures: [] };
}

/** Adds a run to a summary. */
export function tally(into: Summary, r: RunResult, ms: number): void {
  into.ms += ms;
  into.scenarios++;
  into.steps += r.steps;
  into.faults += r.faults;
  into.attacks += r.attacks;
  if (!r.ok) {
    into.violations++;
    into.failures.push(r);
  }
}

/** A slice of the runs: shard i of n (1-based) runs the runs k with k mod n = i - 1. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Parses `i/n` (1 <= i <= n <= 10,000); null when it is not one. */
export function parseShard(text: string): Shard | null {
  const m = /^(\d{1,5})\/(\d{1,5})$/.exec(text);
  if (!m) return null;
  const [index, count] = [Number(m[1]), Number(m[2])];
  return index >= 1 && index <= count && count <= 10_000 ? { index, count } : null;
}

/** The runs of `runs` that a shard runs (all of them without one). */
export function shardRuns(runs: number, shard?: Shard | null): number[] {
  const all = Array.from({ length: runs }, (_, k) => k);
  return shard ? all.filter((k) => k % shard.count === shard.index - 1) : all;
}

/**
 * Runs the runs of a suite (the first `runs`, or the runs listed) into `into`; `onRun` after each
 * (progress).
 */
export function runSuite(
  suite: SuiteName,
  seed: string,
  runs: number | readonly number[],
  env: ScenarioEnv,
  into: Summary = emptySummary(),
  onRun?: (r: RunResult, done: number) => void,
): Summary {
  const ids = typeof runs === 'number' ? shardRuns(runs) : runs;
  ids.forEach((k, i) => {
    const t0 = performance.now();
    const r = runOne(suite, seed, k, env);
    tally(into, r, performance.now() - t0);
    onRun?.(r, i + 1);
  });
  return into;
}

/** A failing run, readable: seed, token, violation, schedule, the last trace lines and a mermaid diagram. */
export function describeFailure(r: RunResult, traced: readonly string[], lines = 40): string {
  const v: ScenarioViolation | null = r.violation;
  return [
    `FAILED ${r.suite} run ${r.run} (${r.name}${r.broken ? `, broken variant ${r.broken}` : ''}), ` +
      `seed ${JSON.stringify(r.seed)}`,
    `replay: npx bkv check --replay ${r.token}`,
    ...(r.fc && r.fc.path !== '0'
      ? [
          `shrunk: the smallest failing scenario fast-check found from run ${r.run}'s ` +
            `(fast-check seed ${r.fc.seed}, path ${r.fc.path})`,
        ]
      : []),
    v ? `${v.invariant}: ${v.detail}` : 'expected a violation, none was reported (the attack is beyond the bound)',
    r.schedule,
    `trace (last ${lines} steps):`,
    ...traced.slice(-lines),
    '',
    mermaid(traced.slice(-lines)),
  ].join('\n');
}

const ARROW = /^\s*(\d+) ms {2}(\S+) -> (\S+) (.*)$/;

/** A mermaid sequence diagram of the message lines of a trace. */
export function mermaid(trace: readonly string[]): string {
  const out = ['```mermaid', 'sequenceDiagram'];
  for (const line of trace) {
    const m = ARROW.exec(line);
    if (m) out.push(`  ${alias(m[2]!)}->>${alias(m[3]!)}: ${m[1]} ms ${m[4]!.replace(/[;#:]/g, ' ')}`);
    else {
      const f = /^\s*(\d+) ms {2}FAULT (.*)$/.exec(line);
      if (f) out.push(`  Note over r0: ${f[1]} ms FAULT ${f[2]!.replace(/[;#:]/g, ' ')}`);
    }
  }
  out.push('```');
  return out.join('\n');
}

function alias(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}
