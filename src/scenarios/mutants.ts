/**
 * Mutation checks (spec ch. 13.4): every checker shown able to fail on a really broken fleet. Each
 * mutant of src/replication or src/vault (a `FleetMutant`) runs the runs of the suite, or of the
 * attack, that reaches it (`runOne`: the same runs and replay tokens as `bkv check`) until a check
 * reports it; the report must come from the checker the mutant targets.
 * @module
 */
import type { FleetMutant } from '../replication/fleet.ts';
import type { ScenarioEnv } from '../replication/scenario.ts';
import { ATTACKS } from './attacks.ts';
import { type RunResult, type SuiteName, runOne } from './suites.ts';

export interface FleetMutation {
  readonly mutant: FleetMutant;
  /** The checker it must be caught by. */
  readonly checker: string;
  /** The invariants that checker reports (spec ch. 12). */
  readonly expected: readonly string[];
  readonly suite: SuiteName;
  /** In the attack suite: the attack whose runs reach it. */
  readonly attack?: string;
}

export const FLEET_MUTATIONS: readonly FleetMutation[] = [
  { mutant: 'commit-at-half', checker: 'Raft safety (commit at floor(N/2))', expected: ['INV-9', 'INV-10', 'INV-11'], suite: 'consensus' },
  { mutant: 'trust-host-storage', checker: 'Raft safety under rollback (no anchor, no ballot)', expected: ['INV-8', 'INV-9', 'INV-10', 'INV-11'], suite: 'consensus' },
  { mutant: 'ke2-before-commit', checker: 'G1 (a KE2 only after its ConsumeGuess commits)', expected: ['INV-3'], suite: 'guess-limit' },
  { mutant: 'count-at-ke3', checker: 'G5 (the guess budget, src/check/budget.ts)', expected: ['INV-1'], suite: 'guess-limit' },
  { mutant: 'release-without-ke3', checker: 'G3 (a reset and K only after a verified KE3, src/check/budget.ts)', expected: ['INV-2'], suite: 'guess-limit' },
  { mutant: 'stale-tries', checker: 'linearizability (src/check/lincheck.ts)', expected: ['INV-5'], suite: 'guess-limit' },
  { mutant: 'ack-before-commit', checker: 'no acknowledged registration lost (src/check/lost-registration.ts)', expected: ['INV-6'], suite: 'attack', attack: 'isolate-on-write' },
];

export function getMutation(mutant: string): FleetMutation {
  const m = FLEET_MUTATIONS.find((x) => x.mutant === mutant);
  if (!m) throw new RangeError(`no mutant ${mutant} (known: ${FLEET_MUTATIONS.map((x) => x.mutant).join(', ')})`);
  return m;
}

/** The environment of a mutant's runs: the mutant, and a shorter wait for liveness (a broken fleet may stall). */
export function mutantEnv(env: ScenarioEnv, mutant: FleetMutant): ScenarioEnv {
  return { ...env, mutant, livenessMs: 5000 };
}

/** The k-th run of the mutation's suite that it runs: every run, or in the attack suite those of its attack. */
export function mutationRun(m: FleetMutation, k: number): number {
  return m.attack === undefined ? k : ATTACKS.findIndex((a) => a.name === m.attack) + k * ATTACKS.length;
}

/** Runs the mutation's runs with `seed` until one is caught: that run, or null after `maxRuns`. */
export function huntMutant(m: FleetMutation, env: ScenarioEnv, seed: string, maxRuns: number, onRun?: (r: RunResult, k: number) => void): RunResult | null {
  for (let k = 0; k < maxRuns; k++) {
    const r = runOne(m.suite, seed, mutationRun(m, k), mutantEnv(env, m.mutant));
    onRun?.(r, k);
    if (!r.ok) return r;
  }
  return null;
}
