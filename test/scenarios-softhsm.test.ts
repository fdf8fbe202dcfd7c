/**
 * The three suites of `bkv check` on SoftHSM-backed replicas at their SoftHSM default sizes (spec
 * ch. 13.5: consensus 40, attack 13, every attack once, guess-limit 6): each scenario gets fresh
 * tokens in the private token directory and runs the deployment ceremony; the runs are the same
 * scenarios as `npx bkv check --hsm softhsm`. Scale: BKV_RUNS=k multiplies the runs; BKV_SEED=s
 * fixes the seed (always printed).
 */
import { describe, expect, test } from 'vitest';
import { SOFTHSM_RUNS, softHsmCapacity } from '../src/cli/check.ts';
import { softHsmFleets } from '../src/scenarios/fleets.ts';
import { SUITES, describeFailure, runOne, runSuite } from '../src/scenarios/suites.ts';

const scale = Math.max(1, Number(process.env.BKV_RUNS ?? '1') || 1);
const seed = process.env.BKV_SEED ?? `softhsm-${Date.now()}`;

describe('the suites on SoftHSM-backed replicas', () => {
  for (const suite of SUITES) {
    const runs = SOFTHSM_RUNS[suite] * scale;
    test(`${suite}: ${runs} scenarios on SoftHSM tokens pass every check`, async () => {
      const fleets = await softHsmFleets(softHsmCapacity(runs), `bkv-scn-${suite}`);
      try {
        const s = runSuite(suite, seed, runs, fleets);
        console.log(
          `[scenarios] ${suite} on softhsm: ${s.scenarios} scenarios, ${s.steps} steps, ${s.faults} faults, ` +
            `${s.attacks} attacks, ${s.violations} violations, ${Math.round((s.steps / s.ms) * 1000)} steps/s, ` +
            `seed ${JSON.stringify(seed)}`,
        );
        for (const f of s.failures)
          console.log(describeFailure(f, runOne(f.suite, f.seed, f.run, { ...fleets, trace: true }).trace));
        expect(s.violations).toBe(0);
        expect(s.scenarios).toBe(runs);
        expect(s.steps).toBeGreaterThan(s.scenarios * 100);
        if (suite === 'attack') expect(s.attacks).toBeGreaterThan(0);
        else expect(s.faults).toBeGreaterThan(0);
      } finally {
        fleets.dispose();
      }
    }, 600_000);
  }
});
