/**
 * The conformance runner (spec ch. 9) against bkv's own adapters, which must pass every check,
 * and against deliberately broken vault adapters, which it must catch.
 */
import { expect, test } from 'vitest';
import { conformClient, conformVault } from '../src/conform/run.ts';
import { DEFAULT_VECTORS_DIR } from '../src/cli/vectors.ts';

const BKV = 'node bin/bkv.js';
const base = { suite: 'ristretto255-SHA512' as const, runs: 60, seed: 'test', vectorsDir: DEFAULT_VECTORS_DIR };

function collect() {
  const lines: string[] = [];
  return { lines, print: (l: string) => lines.push(l) };
}

test('bkv\'s own vault adapter passes every check', async () => {
  const out = collect();
  const r = await conformVault({ ...base, command: `${BKV} adapter vault`, print: out.print });
  expect(r.failed, out.lines.join('\n')).toBe(0);
  expect(out.lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
});

test('bkv\'s own client adapter passes every check', async () => {
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
