/**
 * The bench cannot rot: every task of every suite in bench/run.ts runs once, untimed, with its
 * self-check (a login whose sides disagree, a recovery that does not release K, a floor whose DH
 * shares differ, a simulated recovery that fails, a checker that refuses a passing run, an
 * explorer that finds another state count: each throws), on the suites' quick workloads. The
 * ratios and targets name tasks that exist, and the peers, libsodium and SoftHSM load (the bench
 * may skip one that does not; the tests do not). No timing is asserted.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { type BenchTask, measureTask, runTaskOnce } from '../bench/harness.ts';
import { computeRatio, computeTargets, RATIOS, TARGETS } from '../bench/report.ts';
import { BENCH_COMMAND, SUITES, suiteContext } from '../bench/run.ts';
import { parseCommandArgs } from '../src/cli/command.ts';
import { main } from '../src/cli/main.ts';
import { registerFixture, wholeLogin } from '../bench/suites/crypto.ts';
import type { describeRun } from '../bench/suites/replicated.ts';
import type { ServedAfter } from '../bench/report.ts';
import { computeTargets as servedTargets } from '../bench/suites/served-costs.ts';
import { percentile } from '../bench/suites/served-fleet.ts';
import type { ServedCell } from '../bench/suites/served.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';

const SEED = 'bench-smoke';

describe('bench suites: each task once', () => {
  const seen = new Set<string>();
  const after = new Map<string, Record<string, unknown>>();
  for (const suite of SUITES) {
    test(`${suite.id}: every task runs and passes its self-check`, async () => {
      console.log(`[bench-smoke] seed "${SEED}"`);
      const instance = await suite.open(suiteContext(SEED, () => {}, true));
      try {
        expect(instance.tasks.length).toBeGreaterThan(0);
        for (const task of instance.tasks) {
          expect(seen.has(task.id), `duplicate task id ${task.id}`).toBe(false);
          seen.add(task.id);
          const out = await runTaskOnce(task);
          if (out !== null && typeof out === 'object' && 'overriddenDuration' in out) {
            const d = (out as { overriddenDuration: unknown }).overriddenDuration;
            expect(
              typeof d === 'number' && Number.isFinite(d) && d >= 0,
              `${task.id}: overriddenDuration ${String(d)}`,
            ).toBe(true);
          }
        }
        if (instance.afterRun) {
          const a = await instance.afterRun(2);
          expect(Object.keys(a).length).toBeGreaterThan(0);
          after.set(suite.id, a);
        }
        // the bench may go on without a peer, libsodium or SoftHSM; the tests may not
        expect(instance.info?.skipped ?? {}, 'something the bench measures failed to load').toEqual({});
      } finally {
        await instance.dispose();
      }
    });
  }

  test(
    'the replicated suite describes every configuration it ran; ' +
      'a replicated guess costs a round of replica messages',
    () => {
      const configs = after.get('replicated')?.configs as Record<string, ReturnType<typeof describeRun>>;
      expect(Object.keys(configs).sort()).toEqual([...seen].filter((id) => id.startsWith('replicated/')).sort());
      for (const [id, c] of Object.entries(configs)) {
        expect(c.recoveries).toBeGreaterThan(0);
        // one replica commits alone; more need AppendEntries and a majority's answers before KE2 leaves
        if (id === 'replicated/memory/1') expect(c.guessHops.max).toBe(0);
        else expect(c.guessHops.min, id).toBeGreaterThanOrEqual(2);
      }
    },
  );

  test('the served suite describes every cell it ran, with the saves each replica made', () => {
    const a = after.get('served') as unknown as ServedAfter;
    expect(a.cells.map((c) => c.id).sort()).toEqual([...seen].filter((id) => id.startsWith('served/')).sort());
    for (const c of a.cells) {
      expect(c.recoveries, c.id).toBeGreaterThan(0);
      if (c.runtime !== 'processes') continue;
      // every recovery commits a ConsumeGuess and a Reset: the leader saves, and so does each follower
      expect(c.leaderPersists, c.id).toBeGreaterThan(0);
      if (c.replicas > 1) expect(c.followerPersists, c.id).toBeGreaterThan(0);
      expect(c.roundTrip, c.id).toBeDefined();
      expect(c.unitCosts !== undefined, c.id).toBe(c.clients === 1);
    }
    // a breakdown for each fleet measured at one client, its parts summing to the p50 it explains
    const ones = a.cells.filter((c) => c.runtime === 'processes' && c.clients === 1);
    const config = (x: { backend: string; replicas: number }) => `${x.backend}/${x.replicas}`;
    expect(a.breakdowns.map(config)).toEqual(ones.map(config));
    for (const b of a.breakdowns) {
      const sum = Object.values(b.parts).reduce((x, p) => x + p.ms, 0);
      expect(sum).toBeCloseTo(b.p50Ms, 2);
    }
  });

  test('every ratio and target names tasks the suites define', () => {
    expect(seen.size).toBeGreaterThan(0);
    for (const r of [...RATIOS, ...TARGETS]) {
      expect(seen.has(r.numerator), `${r.id}: no task ${r.numerator}`).toBe(true);
      expect(seen.has(r.denominator), `${r.id}: no task ${r.denominator}`).toBe(true);
    }
  });
});

describe('bench harness', () => {
  test('a task whose computation is wrong fails instead of being timed', async () => {
    const rng = seededRng(SEED);
    const suite = getSuite('ristretto255-SHA512');
    const f = registerFixture(suite, rng);
    const other = registerFixture(suite, rng); // another server: its keys do not open this record
    const broken: BenchTask = {
      id: 'broken',
      name: 'login against the wrong server keys',
      fn: () => wholeLogin({ ...f, keys: other.keys }, rng),
      iterations: 1,
      time: 0,
    };
    await expect(runTaskOnce(broken)).rejects.toThrow();
    await expect(measureTask(broken, { timeMs: 0, iterations: 1 })).rejects.toThrow();
    // the same login with the right keys passes, and is measured
    const m = await measureTask(
      { id: 'ok', name: 'login', fn: () => wholeLogin(f, rng), iterations: 2, time: 0 },
      { timeMs: 0, iterations: 2 },
    );
    expect(m.samples).toBeGreaterThanOrEqual(2);
    expect(m.medianMs).toBeGreaterThan(0);
  });

  test('ratios are of medians, and a target is reached only at or below its bound', () => {
    const t = (id: string, medianMs: number) =>
      [
        id,
        {
          id,
          name: id,
          medianMs,
          meanMs: medianMs,
          minMs: medianMs,
          p75Ms: medianMs,
          rme: 0,
          samples: 1,
          opsPerSec: 1000 / medianMs,
        },
      ] as const;
    const target = TARGETS.find((x) => x.id === 'login-vs-opaque-ke')!;
    const slow = new Map([t(target.numerator, 30), t(target.denominator, 10)]);
    expect(computeRatio(slow, target).value).toBe(30 / 10);
    expect(computeTargets(slow).find((x) => x.id === target.id)?.reached).toBe(false);
    const fast = new Map([t(target.numerator, 12), t(target.denominator, 10)]);
    expect(computeTargets(fast).find((x) => x.id === target.id)?.reached).toBe(true);
    expect(computeTargets(new Map()).every((x) => x.reached === null && x.value === null)).toBe(true);
  });
});

describe('the served targets (issue 17)', () => {
  const cell = (replicas: number, perSecond: number, p50Ms: number, p99Ms: number): ServedCell => ({
    id: `served/processes/softhsm/${replicas}/32`,
    runtime: 'processes',
    backend: 'softhsm',
    replicas,
    clients: 32,
    recoveries: 100,
    unavailable: 0,
    wallMs: 1000,
    perSecond,
    p50Ms,
    p99Ms,
    load: [0, 0],
  });
  const verdict = (cells: ServedCell[], id: string) => servedTargets(cells).find((t) => t.id === id);

  test("5 replicas keep 70% of one replica's recoveries per second, or do not", () => {
    const id = 'served/softhsm/5-keeps-70%';
    expect(verdict([cell(1, 20, 1, 2), cell(5, 14, 1, 2)], id)).toMatchObject({ value: 0.7, met: true });
    expect(verdict([cell(1, 20, 1, 2), cell(5, 13.8, 1, 2)], id)).toMatchObject({ value: 0.69, met: false });
    expect(verdict([cell(1, 20, 1, 2)], id)).toMatchObject({ value: null, met: null });
  });

  test('p99 under 10x p50 at 32 clients, or not', () => {
    const id = 'served/softhsm/3/p99-under-10x-p50';
    expect(verdict([cell(3, 20, 100, 999)], id)).toMatchObject({ value: 9.99, met: true });
    expect(verdict([cell(3, 20, 100, 1000)], id)).toMatchObject({ value: 10, met: false });
  });

  test('percentiles are nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1, unsorted on purpose
    const ps = [percentile(xs, 50), percentile(xs, 99), percentile(xs, 100), percentile([7], 99)];
    expect(ps).toEqual([50, 99, 100, 7]);
    expect(() => percentile([], 50)).toThrow();
  });
});

describe('npm run bench: its arguments, and the results only where --out says', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bkv-bench-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const bench = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['bench', ...argv], { out: (l) => out.push(l), err: (l) => err.push(l) }, [BENCH_COMMAND]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  test('--help prints every option with its default; a bad option is a usage error; examples parse', async () => {
    const help = await bench(['--help']);
    expect(help.code).toBe(0);
    for (const f of BENCH_COMMAND.flags) expect(help.out).toContain(`--${f.name}`);
    expect(help.out).toContain('npm run bench -- --quick');
    for (const e of BENCH_COMMAND.examples) {
      expect(() => parseCommandArgs(BENCH_COMMAND, e.split(' ').slice(1))).not.toThrow();
    }
    const bad = await bench(['--nope']);
    expect(bad).toMatchObject({ code: 2, err: expect.stringMatching(/^npm run bench: unknown option --nope/) });
    expect((await bench(['--suite', 'nope'])).err).toMatch(/^npm run bench: --suite: unknown nope \(known: crypto,/);
  });

  test('without --out nothing is written (bench/results.json untouched); with it, the file it names', async () => {
    const committed = join(import.meta.dirname, '../bench/results.json');
    const before = statSync(committed).mtimeMs;
    const quick = ['--suite', 'floor', '--time', '0', '--iterations', '1', '--quick'];
    const cwd = process.cwd();
    process.chdir(tmp); // as a user anywhere: nothing lands where the command runs either
    try {
      expect((await bench(quick)).code).toBe(0);
      expect(readdirSync(tmp)).toEqual([]);
      const file = join(tmp, 'bench.json');
      expect((await bench([...quick, '--out', file])).code).toBe(0);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ schema: 'bkv-bench/1', seed: 'bkv-bench' });
    } finally {
      process.chdir(cwd);
    }
    expect(statSync(committed).mtimeMs).toBe(before);
  }, 60_000);
});
