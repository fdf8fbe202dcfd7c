/**
 * Mutation checks (spec ch. 13.4): every checker shown able to fail on a really broken fleet. Each
 * broken variant of the catalog (src/broken/catalog.ts) runs the runs of the suite, or of the
 * attack, that reaches it (`runOne`: the same runs and replay tokens as `bkv check`) until a check
 * reports it; the report must come from the checker the variant targets.
 * @module
 */
import type { BrokenVariant } from '../broken/catalog.ts';
import type { ScenarioEnv } from '../sim/scenario.ts';
import { ATTACKS } from './attacks.ts';
import { type RunResult, runOne } from './suites.ts';

/**
 * The environment of a broken variant's runs: the variant, and a shorter wait for liveness
 * (a broken fleet may stall).
 */
export function brokenEnv(env: ScenarioEnv, broken: BrokenVariant): ScenarioEnv {
  return { ...env, broken, livenessMs: 5000 };
}

/** The k-th run of the variant's suite that it runs: every run, or in the attack suite those of its attack. */
export function brokenRun(b: BrokenVariant, k: number): number {
  return b.attack === undefined ? k : ATTACKS.findIndex((a) => a.name === b.attack) + k * ATTACKS.length;
}

/** Runs the variant's runs with `seed` until one is caught: that run, or null after `maxRuns`. */
export function huntBroken(
  b: BrokenVariant,
  env: ScenarioEnv,
  seed: string,
  maxRuns: number,
  onRun?: (r: RunResult, k: number) => void,
): RunResult | null {
  const suite = b.suite;
  if (suite === undefined) throw new RangeError(`${b.name} is reached by ${b.test}, not by a scenario suite`);
  for (let k = 0; k < maxRuns; k++) {
    const r = runOne(suite, seed, brokenRun(b, k), brokenEnv(env, b));
    onRun?.(r, k);
    if (!r.ok) return r;
  }
  return null;
}
