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

  test('the replicated suite describes every configuration it ran; a replicated guess costs a round of replica messages', () => {
    const configs = after.get('replicated')?.configs as Record<string, ReturnType<typeof describeRun>>;
    expect(Object.keys(configs).sort()).toEqual([...seen].filter((id) => id.startsWith('replicated/')).sort());
    for (const [id, c] of Object.entries(configs)) {
      expect(c.recoveries).toBeGreaterThan(0);
      // one replica commits alone; more need AppendEntries and a majority's answers before KE2 leaves
      if (id === 'replicated/memory/1') expect(c.guessHops.max).toBe(0);
      else expect(c.guessHops.min, id).toBeGreaterThanOrEqual(2);
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
