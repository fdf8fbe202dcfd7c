/**
 * A digest of the simulator's behaviour, for refactors that must not change it (issue 16): runs a
 * fixed set of scenarios (each suite, a few seeds, and broken variants reached by a fault schedule
 * and by the hostile relay) with traces on, and prints one hash per run and one over all. Two
 * revisions that print the same digest ran the same events, traces, histories and outcomes.
 *
 *   npx tsx scripts/sim-digest.ts [--verbose]
 * @module
 */
import { createHash } from 'node:crypto';
import { getBroken } from '../src/broken/catalog.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import { brokenEnv, brokenRun } from '../src/scenarios/mutants.ts';
import { type SuiteName, runOne } from '../src/scenarios/suites.ts';
import { ATTACKS } from '../src/scenarios/attacks.ts';
import type { ScenarioEnv } from '../src/sim/scenario.ts';

const PLAN: readonly { suite: SuiteName; seed: string; runs: readonly number[]; broken?: string }[] = [
  { suite: 'consensus', seed: 'digest-a', runs: [0, 1, 2] },
  { suite: 'consensus', seed: 'digest-b', runs: [0, 1] },
  { suite: 'guess-limit', seed: 'digest-a', runs: [0, 1] },
  { suite: 'attack', seed: 'digest-a', runs: ATTACKS.map((_, k) => k) },
  { suite: 'attack', seed: 'digest-b', runs: ATTACKS.map((_, k) => k) },
  { suite: 'consensus', seed: 'digest-a', runs: [0, 1], broken: 'commit-at-half' },
  { suite: 'attack', seed: 'digest-a', runs: [0, 1], broken: 'ack-before-commit' },
  { suite: 'attack', seed: 'digest-a', runs: [0], broken: 'trust-host-storage' },
  { suite: 'guess-limit', seed: 'digest-a', runs: [0], broken: 'count-at-ke3' },
];

const verbose = process.argv.includes('--verbose');
const fleets = memoryFleets('sim-digest');
const all = createHash('sha256');
for (const p of PLAN) {
  for (const k of p.runs) {
    const b = p.broken === undefined ? undefined : getBroken(p.broken);
    const observed: unknown[] = [];
    const base: ScenarioEnv = { ...fleets, trace: true, observe: (f) => observed.push(f) };
    const env = b ? brokenEnv(base, b) : base;
    const run = b ? brokenRun(b, k) : k;
    const r = runOne(p.suite, p.seed, run, env);
    const fleets_ = observed as {
      stats: object;
      events: object;
      ke2Log: object;
      leaderLog: object;
      faultLog: object;
      lifeLog: object;
      tickTimes: object;
      now: number;
    }[];
    const ghost = fleets_.map((f) => [
      f.stats,
      f.events,
      f.ke2Log,
      f.leaderLog,
      f.faultLog,
      f.lifeLog,
      f.tickTimes,
      f.now,
    ]);
    const doc = JSON.stringify(
      [r.ok, r.violation, r.steps, r.faults, r.attacks, r.schedule, r.trace, r.history, ghost],
      (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v),
    );
    const h = createHash('sha256').update(doc).digest('hex').slice(0, 16);
    all.update(h);
    const label = `${p.suite}/${p.seed}/${run}${p.broken ? ` broken ${p.broken}` : ''} (${r.name})`;
    const verdict = r.ok ? 'ok' : (r.violation?.invariant ?? 'no violation');
    console.log(`${h}  ${label}: ${verdict}, ${r.steps} steps, ${r.trace.length} trace lines`);
    if (verbose && r.violation) console.log(`    ${r.violation.detail.slice(0, 200)}`);
  }
}
fleets.dispose();
console.log(`digest ${all.digest('hex').slice(0, 32)}`);
