/**
 * The three suites of `bkv check` (spec ch. 13) and their reproducibility: run k of a suite with
 * seed S is a function of (suite, S, k) alone (and of the broken fleet, for a mutation check),
 * named by a replay token; a failing run is replayed with a trace, printed as the message sequence
 * and a mermaid sequence diagram.
 *
 *   consensus     faults only (src/scenarios/generate.ts `consensusScenario`)
 *   attack        the attack catalog in turn (src/scenarios/attacks.ts), run k is attack k of the catalog, mod its size
 *   guess-limit   many concurrent clients and attackers on the same records (`guessLimitScenario`)
 * @module
 */
import { runScenario } from '../sim/scenario.ts';
import type { ScenarioEnv, ScenarioViolation } from '../sim/scenario.ts';
import { describeSchedule } from '../sim/scenario.ts';
import { type AttackRun, ATTACKS } from './attacks.ts';
import { consensusScenario, guessLimitScenario } from './generate.ts';

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
}

/** `broken`: the run is of a broken variant (src/broken/catalog.ts). */
export function replayToken(suite: SuiteName, seed: string, run: number, broken?: string): string {
  return `bkv1.${Buffer.from(JSON.stringify(broken === undefined ? [suite, seed, run] : [suite, seed, run, broken])).toString('base64url')}`;
}

export function parseReplayToken(token: string): { suite: SuiteName; seed: string; run: number; broken?: string } {
  const bad = () => new RangeError(`not a replay token: ${token}`);
  if (!token.startsWith('bkv1.')) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token.slice(5), 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(v) || (v.length !== 3 && v.length !== 4) || !(SUITES as readonly unknown[]).includes(v[0]) || typeof v[1] !== 'string' || !Number.isSafeInteger(v[2]) || v[2] < 0) throw bad();
  if (v.length === 4 && typeof v[3] !== 'string') throw bad();
  return { suite: v[0] as SuiteName, seed: v[1], run: v[2] as number, ...(v.length === 4 && { broken: v[3] as string }) };
}

/** Run k of a suite (of a broken variant if `env.broken`). */
export function runOne(suite: SuiteName, seed: string, run: number, env: ScenarioEnv): RunResult {
  const runSeed = `${seed}/${run}`;
  const token = replayToken(suite, seed, run, env.broken?.name);
  const broken = env.broken && { broken: env.broken.name };
  if (suite === 'attack') {
    const attack = ATTACKS[run % ATTACKS.length]!;
    return { ...attack.run(runSeed, env), suite, seed, run, name: attack.name, token, ...broken };
  }
  const s = suite === 'consensus' ? consensusScenario(runSeed) : guessLimitScenario(runSeed);
  const r = runScenario(s, env);
  const attacks = s.clients.filter((c) => c.name.startsWith('attacker')).reduce((k, c) => k + c.ops.length, 0);
  return { ok: r.ok, violation: r.violation, steps: r.stats.steps, faults: s.faults.length, attacks, schedule: describeSchedule(s), trace: r.trace, history: r.history, suite, seed, run, name: suite, token, ...broken };
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

/** Runs `runs` scenarios of a suite into `into`; `onRun` after each (progress). */
export function runSuite(suite: SuiteName, seed: string, runs: number, env: ScenarioEnv, into: Summary = emptySummary(), onRun?: (r: RunResult, done: number) => void): Summary {
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    const r = runOne(suite, seed, k, env);
    into.ms += performance.now() - t0;
    into.scenarios++;
    into.steps += r.steps;
    into.faults += r.faults;
    into.attacks += r.attacks;
    if (!r.ok) {
      into.violations++;
      into.failures.push(r);
    }
    onRun?.(r, k + 1);
  }
  return into;
}

/** A failing run, readable: seed, token, violation, schedule, the last trace lines and a mermaid diagram. */
export function describeFailure(r: RunResult, traced: readonly string[], lines = 40): string {
  const v: ScenarioViolation | null = r.violation;
  return [
    `FAILED ${r.suite} run ${r.run} (${r.name}${r.broken ? `, broken variant ${r.broken}` : ''}), seed ${JSON.stringify(r.seed)}`,
    `replay: npx bkv check --replay ${r.token}`,
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
