/**
 * Mutation checks (spec ch. 13): each checker shown able to fail. Where src/replication has a
 * broken fleet (`FleetMutant`), the suite's own scenarios run on it until a check reports it;
 * for the checkers of the run's evidence (G5, G3, linearizability, a lost registration), a genuine
 * run's evidence is altered the way a broken fleet would alter it, and the checker must notice.
 * @module
 */
import { checkBudget, type VaultEvent } from '../check/budget.ts';
import type { Operation } from '../check/history.ts';
import { checkLinearizable } from '../check/lincheck.ts';
import { recordModel } from '../check/record-model.ts';
import type { FleetMutant } from '../replication/fleet.ts';
import { type Scenario, type ScenarioEnv, runScenario } from '../replication/scenario.ts';
import { consensusScenario, guessLimitScenario } from './generate.ts';

export interface FleetMutation {
  readonly mutant: FleetMutant;
  readonly checker: string;
  /** The invariants that may report it (spec ch. 12). */
  readonly expected: readonly string[];
  readonly scenario: (seed: string) => Scenario;
}

export const FLEET_MUTATIONS: readonly FleetMutation[] = [
  { mutant: 'commit-at-half', checker: 'Raft safety (commit at floor(N/2))', expected: ['INV-9', 'INV-10', 'INV-11'], scenario: consensusScenario },
  { mutant: 'trust-host-storage', checker: 'Raft safety under rollback (no anchor, no ballot)', expected: ['INV-8', 'INV-9', 'INV-10', 'INV-11'], scenario: consensusScenario },
  { mutant: 'ke2-before-commit', checker: 'G1 (a KE2 before its ConsumeGuess commits)', expected: ['INV-3'], scenario: guessLimitScenario },
];

/** Runs the mutant's scenarios (seeds `${seed}/0`, ...) until one is caught; the run that caught it, or null. */
export function huntMutant(m: FleetMutation, env: ScenarioEnv, seed: string, maxRuns: number): { run: number; invariant: string; detail: string } | null {
  for (let k = 0; k < maxRuns; k++) {
    const r = runScenario(m.scenario(`${seed}/${k}`), { ...env, mutant: m.mutant, livenessMs: 5000 });
    if (!r.ok) return { run: k, invariant: r.violation!.invariant, detail: r.violation!.detail };
  }
  return null;
}

/** A fleet that lets one more KE2 leave for a record than its limit allows (G5). */
export function extraKe2(events: readonly VaultEvent[]): VaultEvent[] {
  const out = [...events];
  const reg = out.find((e) => e.type === 'Registered');
  if (!reg || reg.type !== 'Registered') return out;
  for (let i = 0; i <= reg.limit; i++) out.push({ type: 'Ke2Sent', credential: reg.credential, session: `extra-${i}`, at: reg.at + 0.5 + i / 1000 });
  return out;
}

/** A fleet that releases K without having verified the KE3 (G3). */
export function releaseWithoutKe3(events: readonly VaultEvent[]): VaultEvent[] {
  return events.filter((e) => e.type !== 'Ke3Verified');
}

/** A fleet that reports one try more than are left (linearizability). */
export function wrongTries(history: readonly Operation[]): Operation[] {
  let done = false;
  return history.map((o) => {
    if (done || o.completion !== 'ok' || o.output?.kind !== 'WrongPassword') return o;
    done = true;
    return { ...o, output: { kind: 'WrongPassword', triesRemaining: o.output.triesRemaining + 1 } };
  });
}

/** A fleet that lost an acknowledged registration: the owner's recovery answers like an unknown credential. */
export function lostRegistration(history: readonly Operation[]): Operation[] {
  let done = false;
  return history.map((o) => {
    if (done || o.completion !== 'ok' || o.output?.kind !== 'Recovered') return o;
    done = true;
    return { ...o, output: { kind: 'WrongPassword', triesRemaining: 9 } };
  });
}

export const checksBudget = (events: readonly VaultEvent[]) => checkBudget(events);
export const checksHistory = (history: readonly Operation[]) => checkLinearizable(recordModel, history);
