/**
 * The conformance runner (spec ch. 9) against bkv's own adapters, which must pass every check,
 * and against deliberately broken vault adapters, which it must catch.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { conformClient, conformVault } from '../src/conform/run.ts';
import { DEFAULT_VECTORS_DIR } from '../src/cli/vectors.ts';

const BKV = 'node bin/bkv.js';
const base = { suite: 'ristretto255-SHA512' as const, runs: 60, seed: 'test', vectorsDir: DEFAULT_VECTORS_DIR };

function collect() {
  const lines: string[] = [];
  return { lines, print: (l: string) => lines.push(l) };
}

test("bkv's own vault adapter passes every check", async () => {
  const out = collect();
  const r = await conformVault({ ...base, command: `${BKV} adapter vault`, print: out.print });
  expect(r.failed, out.lines.join('\n')).toBe(0);
  expect(out.lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
});

test("bkv's own client adapter passes every check", async () => {
  const out = collect();
  const r = await conformClient({ ...base, command: `${BKV} adapter client`, print: out.print });
  expect(r.failed, out.lines.join('\n')).toBe(0);
});

test.each(['forget-on-restart', 'no-guess-limit'])('a broken vault (%s) is caught', async (mutant) => {
  const out = collect();
  const command = `${BKV} adapter vault --mutant ${mutant}`;
  const r = await conformVault({ ...base, runs: 200, command, print: out.print });
  expect(r.failed).toBeGreaterThan(0);
  expect(out.lines.some((l) => l.includes('FAIL'))).toBe(true);
});

describe('an adapter that never answers, writes garbage or exits: one failure, no hang, its processes gone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bkv-conform-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  /** A shell adapter that records the pid of the process it leaves running, and that process's pid. */
  const lingering = (script: string) => {
    const pidFile = join(dir, `pid-${n++}`);
    return { command: `sleep 60 & echo $! > ${pidFile}; ${script}`, pid: () => Number(readFileSync(pidFile, 'utf8')) };
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const gone = async (pid: number) => {
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    return !alive(pid);
  };

  test.each([
    ['never answers', 'sleep 60', /did not answer within 300 ms/],
    ['writes garbage and stays alive', 'echo garbage; sleep 60', /wrote a line that is not JSON: garbage/],
    ['exits at once', 'exit 0', /exited with code 0 without an answer/],
  ])('a vault adapter that %s', async (_what, script, message) => {
    const a = lingering(script);
    const out = collect();
    const t0 = performance.now();
    const r = await conformVault({ ...base, command: a.command, timeoutMs: 300, print: out.print });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.failed).toBeGreaterThan(0);
    expect(r.failures[0]!).toEqual({ check: 'adapter conversation', detail: expect.stringMatching(message) });
    expect(await gone(a.pid()), 'the process the adapter left running is killed with its group').toBe(true);
  });

  test('a client adapter command that does not exist', async () => {
    const out = collect();
    const command = join(dir, 'no-such-adapter');
    const r = await conformClient({ ...base, command, timeoutMs: 5000, print: out.print });
    expect(r.failures[0]!.detail).toMatch(/exited with code 127: .*no-such-adapter.*not found/);
  });
});
