/**
 * The three suites of `bkv check` at small default sizes (spec ch. 13), every attack of the catalog
 * on its own, every checker against a broken fleet, replay tokens (SoftHSM: scenarios-softhsm.test.ts).
 * Scale: BKV_RUNS=k multiplies the run counts; BKV_SEED=s fixes the seed (always printed).
 */
import { describe, expect, test } from 'vitest';
import { SOFTHSM_RUNS, check } from '../src/cli/check.ts';
import { type ProgressState, renderProgress } from '../src/cli/progress.ts';
import { parseCommandArgs } from '../src/cli/command.ts';
import { findCommand } from '../src/cli/commands.ts';
import { type Scenario, runScenario } from '../src/sim/scenario.ts';
import INV3_ROLLBACK from './support/inv3-rollback-scenario.json' with { type: 'json' };
import { ATTACKS } from '../src/scenarios/attacks.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import { BROKEN } from '../src/broken/catalog.ts';
import { huntBroken } from '../src/scenarios/mutants.ts';
import {
  type SuiteName,
  describeFailure,
  parseReplayToken,
  replayToken,
  runOne,
  runSuite,
} from '../src/scenarios/suites.ts';

const scale = Math.max(1, Number(process.env.BKV_RUNS ?? '1') || 1);
const seed = process.env.BKV_SEED ?? String(Date.now());
const env = memoryFleets('bkv-scn-test');

describe('the suites (memory HSMs)', () => {
  const sizes = SOFTHSM_RUNS; // the same sizes as on SoftHSM (scenarios-softhsm.test.ts)
  for (const suite of ['consensus', 'attack', 'guess-limit'] as const) {
    test(`${suite}: ${sizes[suite]} scenarios pass every check`, () => {
      const s = runSuite(suite, seed, sizes[suite] * scale, env);
      console.log(
        `[scenarios] ${suite}: ${s.scenarios} scenarios, ${s.steps} steps, ${s.faults} faults, ` +
          `${s.attacks} attacks, ${s.violations} violations, ${Math.round((s.steps / s.ms) * 1000)} steps/s, ` +
          `seed ${JSON.stringify(seed)}`,
      );
      for (const f of s.failures)
        console.log(describeFailure(f, runOne(f.suite, f.seed, f.run, { ...env, trace: true }).trace));
      expect(s.violations).toBe(0);
      expect(s.scenarios).toBe(sizes[suite] * scale);
      expect(s.steps).toBeGreaterThan(s.scenarios * 100);
      if (suite !== 'attack') expect(s.faults).toBeGreaterThan(0);
    }, 120_000);
  }
});

describe('the attack catalog: each attack on its own', () => {
  for (const attack of ATTACKS) {
    test(
      `${attack.name}: ` +
        `${attack.expect === 'pass' ? 'breaks nothing' : 'reported as a violation'} (${attack.property})`,
      () => {
        for (let k = 0; k < 2 * scale; k++) {
          const r = attack.run(`${seed}/${attack.name}/${k}`, env);
          if (!r.ok)
            console.log(
              `${attack.name} seed ${seed}/${attack.name}/${k}: ${r.violation?.invariant ?? 'no violation'} ` +
                `${r.violation?.detail ?? ''}\n${r.schedule}`,
            );
          expect(r.ok).toBe(true);
          expect(r.attacks).toBeGreaterThan(0);
          if (attack.expect === 'violation') expect(r.violation?.invariant).toBe('LIVENESS');
          else expect(r.violation).toBeNull();
        }
      },
      60_000,
    );
  }
});

describe('every checker catches its broken fleet', () => {
  // a fixed seed: the run budget is known to suffice (each is caught within its first few runs but the Raft ones)
  for (const m of BROKEN.filter((b) => b.suite !== undefined)) {
    test(`${m.checker}: broken variant ${m.name} is caught by ${m.expected.join('/')}`, () => {
      const caught = huntBroken(m, env, 'bkv-mutants', 60);
      console.log(
        `[scenarios] ${m.name}: caught at ${m.suite} run ${caught?.run} (${caught?.name}) ` +
          `by ${caught?.violation?.invariant}`,
      );
      expect(caught).not.toBeNull();
      expect(m.expected).toContain(caught!.violation!.invariant);
      // the same run of the correct fleet passes every check
      expect(runOne(caught!.suite, caught!.seed, caught!.run, env).violation).toBeNull();
    }, 60_000);
  }

  test('rollback of f + 1 replicas (the bound is tight): reported, while f is not', () => {
    const beyond = ATTACKS.find((a) => a.name === 'rollback-f-plus-1')!.run('bkv-bound', env);
    const within = ATTACKS.find((a) => a.name === 'rollback-f')!.run('bkv-bound', env);
    expect(beyond.violation).not.toBeNull();
    expect(within.violation).toBeNull();
  });
});

describe('INV-3 under host rollback (spec ch. 12)', () => {
  test(
    'an acknowledgement sent before its host rolled the replica back, delivered after: ' +
      'the entry counts as sealed there',
    () => {
      // a guess-limit scenario pinned as a value (run 373 of the seed `stress` of the seeded generator
      // that fast-check's replaced): a replica acknowledges a ConsumeGuess, its host rolls it back,
      // then the leader receives the acknowledgement, commits and sends the KE2 with the entry
      // in 1 sealed log of 3. No leader can tell that acknowledgement from one delivered a moment
      // before the rollback; the guess stays spent (INV-1), as the run's other checks show.
      const r = runScenario(INV3_ROLLBACK as Scenario, memoryFleets());
      expect(r.fleet.ke2Log.some((k) => k.sealedOn < 2)).toBe(true); // the run still reaches that case
      expect(r.violation).toBeNull();
    },
  );
});

describe('reproducibility and the command', () => {
  test('a replay token names a run, of a broken fleet too; replaying it gives the same run', () => {
    const t = replayToken('guess-limit', 'x y/z', 3);
    expect(parseReplayToken(t)).toEqual({ suite: 'guess-limit', seed: 'x y/z', run: 3 });
    expect(parseReplayToken(replayToken('attack', 's', 12, 'ack-before-commit'))).toEqual({
      suite: 'attack',
      seed: 's',
      run: 12,
      broken: 'ack-before-commit',
    });
    expect(() => parseReplayToken('bkv1.garbage')).toThrow();
    const a = runOne('guess-limit', 'x y/z', 3, env);
    const b = runOne('guess-limit', 'x y/z', 3, env);
    expect(b.steps).toBe(a.steps);
    expect(b.history).toEqual(a.history);
  });

  const parse = (argv: string[]) => parseCommandArgs(findCommand('check')!, argv);
  test('bkv check: progress, summary, exit code; --replay', async () => {
    const lines: string[] = [];
    const args = parse(['--suite', 'attack', '--runs', '3', '--seed', 'cli']);
    expect(await check(args, (l) => lines.push(l), null)).toBe(0);
    expect(lines.filter((l) => l.includes('[attack '))).toHaveLength(3);
    expect(lines.at(-1)).toMatch(
      /^summary: 3 scenarios, \d+ steps, \d+ faults injected, \d+ attacks tried, 0 violations, \d+ steps\/s/,
    );
    const replayed: string[] = [];
    expect(await check(parse(['--replay', replayToken('attack', 'cli', 1)]), (l) => replayed.push(l), null)).toBe(0);
    expect(replayed.join('\n')).toContain('partition-leaders');
  }, 60_000);

  test(
    'bkv check on a terminal: a progress bar instead of a line per scenario; ' +
      'a failing scenario still gets its line',
    async () => {
      expect(renderProgress({ label: 'consensus', done: 40, total: 100, steps: 16440, violations: 1 }, 10)).toBe(
        'consensus [####......] 40/100  16,440 steps  1 violation',
      );
      expect(renderProgress({ label: 'attack', done: 13, total: 13, steps: 0, violations: 0 }, 4)).toBe(
        'attack [####] 13/13  0 steps  0 violations',
      );
      const drawn: ProgressState[] = [];
      const bar = { update: (s: ProgressState) => drawn.push(s), clear: () => {} };
      const lines: string[] = [];
      const args = parse(['--suite', 'guess-limit', '--runs', '2', '--seed', 'cli']);
      expect(await check(args, (l) => lines.push(l), bar)).toBe(0);
      expect(lines.filter((l) => l.includes('[guess-limit '))).toHaveLength(0);
      expect(drawn.map((d) => `${d.done}/${d.total}`)).toEqual(['1/2', '2/2']);
      const steps = Number(/summary: 2 scenarios, (\d+) steps/.exec(lines.at(-1)!)![1]);
      expect(drawn.at(-1)!.steps).toBe(steps);
      const failing: string[] = [];
      const replay = parse(['--replay', replayToken('guess-limit', 'bkv-mutants', 0, 'count-at-ke3')]);
      expect(await check(replay, (l) => failing.push(l), bar)).toBe(1);
      expect(failing.filter((l) => /\[guess-limit 1\/1\] .* FAIL/.test(l))).toHaveLength(1);
      expect(drawn.at(-1)!.violations).toBe(1);
    },
    60_000,
  );

  test(
    'bkv check --broken: a broken fleet caught, its failure printed with seed, ' +
      'replay token, trace and a mermaid diagram; the token replays it',
    async () => {
      const lines: string[] = [];
      expect(await check(parse(['--broken', 'count-at-ke3', '--seed', 'cli']), (l) => lines.push(l))).toBe(0);
      const text = lines.join('\n');
      expect(text).toMatch(/FAILED guess-limit run \d+ \(guess-limit, broken variant count-at-ke3\), seed "cli"/);
      expect(text).toContain('INV-1: KE2 number');
      expect(text).toContain('sequenceDiagram');
      expect(text).toMatch(/->>r\d/);
      expect(lines.at(-1)).toMatch(/^caught: count-at-ke3 reported as INV-1/);
      const token = /--replay (bkv1\.\S+)/.exec(text)![1]!;
      expect(parseReplayToken(token).broken).toBe('count-at-ke3');
      const replayed: string[] = [];
      expect(await check(parse(['--replay', token]), (l) => replayed.push(l))).toBe(1);
      expect(replayed.join('\n')).toContain('INV-1: KE2 number');
      await expect(check(parse(['--broken', 'no-such-bug']), () => {})).rejects.toThrow(/known: commit-at-half/);
    },
    60_000,
  );
});
