/**
 * The one scenario generator and how `bkv check` spreads its runs (spec ch. 13.1): run k of a
 * suite is one fast-check value, the same wherever it is drawn; shards are disjoint and together
 * the unsharded run (their `--json` documents merge into its own); `--workers 2` gives the results
 * of one thread; a failing run is shrunk, and the shrunk scenario's replay token replays it.
 */
import { describe, expect, test } from 'vitest';
import { type CheckReport, check, mergeCheckReports } from '../src/cli/check.ts';
import { parseCommandArgs } from '../src/cli/command.ts';
import { findCommand } from '../src/cli/commands.ts';
import { getBroken } from '../src/broken/catalog.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import { brokenEnv, huntBroken } from '../src/scenarios/mutants.ts';
import { deal } from '../src/scenarios/workers.ts';
import { parseReplayToken, parseShard, runOne, shardRuns, shrinkRun, suiteScenario } from '../src/scenarios/suites.ts';

const env = memoryFleets('bkv-scn-check');
const parse = (argv: string[]) => parseCommandArgs(findCommand('check')!, argv);

/** `bkv check` with these arguments: its exit code, its lines and its JSON document. */
async function runCheck(argv: string[]): Promise<{ code: number; lines: string[]; doc: CheckReport }> {
  const lines: string[] = [];
  let doc: CheckReport | null = null;
  const code = await check(
    parse(argv),
    (l) => lines.push(l),
    null,
    (d) => (doc = d as CheckReport),
  );
  return { code, lines, doc: doc! };
}

/** The figures two checks of the same runs must agree on (not their times, nor how they were spread). */
const results = (d: CheckReport) => ({
  plan: d.plan,
  ran: d.ran,
  scenarios: d.scenarios,
  steps: d.steps,
  faults: d.faults,
  attacks: d.attacks,
  violations: d.violations,
  failures: d.failures,
});

describe('the generator', () => {
  test('run k of a suite is one value: drawn twice, the same scenario; another run or seed, another', () => {
    const a = suiteScenario('guess-limit', 'g', 5);
    expect(suiteScenario('guess-limit', 'g', 5)).toEqual(a);
    expect(suiteScenario('guess-limit', 'g', 6).scenario).not.toEqual(a.scenario);
    expect(suiteScenario('guess-limit', 'h', 5).scenario).not.toEqual(a.scenario);
    expect(a.fc.path).toBe('0');
  });

  test('each suite draws the faults it is meant to: crashes inside saves, forks within f, partitions, network', () => {
    const draws = Array.from({ length: 200 }, (_, k) => suiteScenario('consensus', 'cover', k).scenario);
    const faults = draws.flatMap((s) => s.faults.map((f) => ({ n: s.n, fault: f.fault })));
    const kinds = new Set(faults.map(({ fault }) => fault.type));
    expect([...kinds].sort()).toEqual(['Crash', 'Heal', 'Network', 'Partition', 'Restart', 'Rollback']);
    expect(faults.some(({ fault }) => fault.type === 'Crash' && fault.afterWrites !== undefined)).toBe(true);
    // rollbacks and forks stay within f: the replicas below f are the only ones rolled back
    for (const { n, fault } of faults) if (fault.type === 'Rollback') expect(fault.replica).toBeLessThan((n - 1) / 2);
    for (const { n, fault } of faults) if (fault.type === 'Partition') expect(fault.groups[0]!.length).toBeLessThan(n);
    expect(draws.every((s) => s.load !== undefined && s.clients.length === 0)).toBe(true);
    const guesses = Array.from({ length: 50 }, (_, k) => suiteScenario('guess-limit', 'cover', k).scenario);
    expect(guesses.every((s) => s.clients.some((c) => c.name.startsWith('attacker')))).toBe(true);
    expect(guesses.some((s) => s.clients.some((c) => c.name.endsWith('.recovery')))).toBe(true);
    expect(guesses.some((s) => s.clients.some((c) => c.ops.some((o) => o.kind === 'forge')))).toBe(true);
  });
});

describe('shards and workers', () => {
  test('shards are disjoint and together the unsharded run; --shard is checked', () => {
    for (const count of [1, 2, 3, 7]) {
      const shards = Array.from({ length: count }, (_, i) => shardRuns(20, { index: i + 1, count }));
      const all = shards.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all.sort((a, b) => a - b)).toEqual(shardRuns(20));
    }
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/2', '3/2', '1/0', '1', 'a/b', '1/2/3']) expect(parseShard(bad)).toBeNull();
    expect(deal([0, 1, 2, 3, 4], 2)).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
    expect(deal([0], 4)).toEqual([[0]]);
  });

  test('bkv check --shard 1/2 and 2/2: disjoint runs, and their merged JSON is the unsharded check', async () => {
    const argv = ['--suite', 'consensus', '--runs', '6', '--seed', 'shards'];
    const whole = await runCheck(argv);
    const one = await runCheck([...argv, '--shard', '1/2']);
    const two = await runCheck([...argv, '--shard', '2/2']);
    expect(one.lines.join('\n')).toContain('shard 1/2: the runs k with k mod 2 = 0 (consensus 3)');
    expect(one.doc.ran).toEqual([{ suite: 'consensus', runs: [0, 2, 4] }]);
    expect(two.doc.ran).toEqual([{ suite: 'consensus', runs: [1, 3, 5] }]);
    expect(one.doc.steps + two.doc.steps).toBe(whole.doc.steps);
    expect(results(mergeCheckReports([one.doc, two.doc]))).toEqual(results(whole.doc));
    expect(() => mergeCheckReports([one.doc, one.doc])).toThrow('merge: the shards ran some consensus runs twice');
    await expect(check(parse([...argv, '--shard', '3/2']), () => {})).rejects.toThrow('--shard expected i/n');
  }, 120_000);

  test('bkv check --workers 2: the same results as one thread, every suite', async () => {
    const argv = ['--runs', '3', '--seed', 'workers'];
    const one = await runCheck(argv);
    const two = await runCheck([...argv, '--workers', '2']);
    expect(two.lines[0]).toContain('on 2 worker threads');
    expect(two.doc.workers).toBe(2);
    expect(results(two.doc)).toEqual(results(one.doc));
    expect(one.doc.steps).toBeGreaterThan(0);
    await expect(check(parse(['--workers', '2', '--hsm', 'softhsm']), () => {})).rejects.toThrow('memory fleets only');
  }, 180_000);
});

describe('shrinking', () => {
  test('a failing run is shrunk to the same invariant, smaller; its token replays the shrunk scenario', async () => {
    const m = getBroken('vote-without-log-check');
    const caught = huntBroken(m, env, 'bkv-shrink', 20);
    expect(caught).not.toBeNull();
    const small = shrinkRun(caught!, brokenEnv(env, m), 15_000);
    const [from, to] = [caught!, small].map((r) => `${r.faults} faults, ${r.steps} steps`);
    const how = `${small.shrinks} shrinks, path ${small.fc?.path}`;
    console.log(`[shrink] ${m.name}: run ${caught!.run}, ${from} -> ${to} (${how})`);
    expect(small.shrinks).toBeGreaterThan(0);
    expect(small.violation!.invariant).toBe(caught!.violation!.invariant);
    expect(small.faults + small.steps).toBeLessThan(caught!.faults + caught!.steps);
    const replay = parseReplayToken(small.token);
    expect(replay).toEqual({
      suite: 'consensus',
      seed: 'bkv-shrink',
      run: caught!.run,
      broken: m.name,
      path: small.fc!.path,
    });
    const again = runOne(replay.suite, replay.seed, replay.run, brokenEnv(env, m), replay.path);
    expect(again.schedule).toBe(small.schedule);
    expect(again.steps).toBe(small.steps);
    expect(again.violation).toEqual(small.violation);
    // the shrunk scenario is the bug's: the correct fleet passes it
    expect(runOne(replay.suite, replay.seed, replay.run, env, replay.path).violation).toBeNull();
    // and the command replays it from the token
    const { code, lines } = await runCheck(['--replay', small.token]);
    expect(code).toBe(1);
    expect(lines.join('\n')).toContain(`replaying run ${caught!.run} (shrunk: path ${small.fc!.path})`);
    expect(lines.join('\n')).toContain(`${small.violation!.invariant}: ${small.violation!.detail}`);
  }, 120_000);

  test('bkv check --broken prints the shrunk scenario and its token', async () => {
    const { code, lines } = await runCheck(['--broken', 'vote-without-log-check', '--seed', 'bkv-shrink']);
    const text = lines.join('\n');
    expect(code).toBe(0);
    expect(text).toMatch(/shrunk consensus run \d+ in \d+ steps: \d+ faults -> \d+/);
    expect(text).toMatch(
      /shrunk: the smallest failing scenario fast-check found from run \d+'s \(fast-check seed -?\d+, path 0:/,
    );
    const token = /--replay (bkv1\.\S+)/.exec(text)![1]!;
    expect(parseReplayToken(token).path).toMatch(/^0:/);
    expect(lines.at(-1)).toMatch(/^caught: vote-without-log-check reported as INV-/);
  }, 120_000);

  test('tokens: a shrunk path only for a generated suite, and well formed', () => {
    const token = (v: unknown[]) => `bkv1.${Buffer.from(JSON.stringify(v)).toString('base64url')}`;
    expect(parseReplayToken(token(['consensus', 's', 1, null, '0:1:2']))).toEqual({
      suite: 'consensus',
      seed: 's',
      run: 1,
      path: '0:1:2',
    });
    for (const bad of [
      ['attack', 's', 1, null, '0:1'],
      ['consensus', 's', 1, null, '1:2'],
      ['consensus', 's', 1, null, '0:x'],
      ['consensus', 's', 1, 7, '0'],
    ]) {
      expect(() => parseReplayToken(token(bad))).toThrow('not a replay token');
    }
  });
});
