/**
 * The chaos run of spec 15.5, short: a fleet of 3 real processes on memory HSMs, 4 clients, and a
 * nemesis that kill -9s, pauses and partitions replicas for 10 s; the history is linearizable, no
 * acknowledged registration is lost, the budget holds and the fleet serves after healing. Then the
 * same run over the broken variant count-at-ke3 (an aborted session gives its guess back): the run
 * catches it. Each run cleans up its processes and its directory (checked).
 */
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { expect, test } from 'vitest';
import { runChaos } from '../src/serve/chaos.ts';

function chaosDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith('bkv-chaos-'));
}

test('10 s of kill -9, pauses and partitions: 0 violations, and the fleet is gone afterwards', async () => {
  const before = new Set(chaosDirs());
  const lines: string[] = [];
  const r = await runChaos({ replicas: 3, seconds: 10, seed: 'ci', print: (l) => lines.push(l) });
  expect(r.violations, lines.join('\n')).toEqual([]);
  expect(r.linearizable).toBe('linearizable');
  expect(r.operations.ok).toBeGreaterThan(5);
  expect(r.faults.kill + r.faults.pause + r.faults.partition).toBeGreaterThan(0);
  expect(r.kept).toBeNull();
  expect(chaosDirs().filter((d) => !before.has(d))).toEqual([]);
  expect(lines.join('\n')).toMatch(/replay .*: bkv chaos --replicas 3 --seconds 10 --seed ci/);
}, 120_000);

test('the broken variant count-at-ke3 (an aborted guess given back) is caught by a chaos run', async () => {
  const lines: string[] = [];
  const r = await runChaos({
    replicas: 3,
    seconds: 8,
    seed: 'ci-broken',
    faults: ['kill'],
    broken: 'count-at-ke3',
    print: (l) => lines.push(l),
  });
  expect(r.violations.length, lines.join('\n')).toBeGreaterThan(0);
  expect(
    r.violations.some((v) => v.startsWith('INV-5') || v.startsWith('INV-1')),
    r.violations.join('\n'),
  ).toBe(true);
  expect(r.kept).not.toBeNull(); // a failing run keeps its history and logs
  expect(existsSync(`${r.kept}/history.txt`)).toBe(true);
  const { rmSync } = await import('node:fs');
  rmSync(r.kept!, { recursive: true, force: true });
}, 120_000);
