/**
 * Real processes for the tests of spec ch. 15: `runBkv` runs the real `bkv` in a child process to
 * its end; `useServedFleet` brings a fleet of replica processes and its relay up in a temporary
 * directory before a file's tests, and down after them, its directory removed; at the exit of the
 * test process, however it ends, every process of the fleet is killed.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type FleetUpOptions, fleetDown, fleetUp, signalRelay, signalReplica } from '../../src/serve/fleet.ts';
import { readFleet, urlOf } from '../../src/serve/layout.ts';
import { httpCall } from '../../src/serve/wire.ts';

/** The checkout. */
export const ROOT = join(import.meta.dirname, '..', '..');

export interface BkvRun {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** `bkv args` with `stdin`, to its end; killed after `timeoutMs` (a hang fails, it does not stall the run). */
export function runBkv(args: readonly string[], stdin = '', timeoutMs = 30_000): Promise<BkvRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/bkv.js'), ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.stdin.end(stdin);
  });
}

/**
 * A fleet of 3 replica processes on memory HSMs (session TTL 5 s) and its relay, for the tests of
 * one file: `dir` is the fleet directory, `tmp` a directory of the file's own (removed with it).
 */
export function useServedFleet(
  name: string,
  options: Pick<FleetUpOptions, 'limits'> = {},
): { readonly dir: string; readonly tmp: string } {
  const tmp = mkdtempSync(join(tmpdir(), `bkv-${name}-`));
  const dir = join(tmp, 'fleet');
  const killAll = () => {
    if (!existsSync(join(dir, 'fleet.json'))) return;
    const f = readFleet(dir);
    for (let i = 0; i < f.replicas; i++) signalReplica(f, i, 'SIGKILL');
    signalRelay(f, 'SIGKILL');
  };
  process.on('exit', killAll);
  beforeAll(async () => {
    await fleetUp({ dir, replicas: 3, hsm: 'memory', sessionTtlMs: 5000, waitMs: 30_000, ...options }, () => {});
  }, 60_000);
  afterAll(async () => {
    if (existsSync(join(dir, 'fleet.json'))) await fleetDown(dir, 1000);
    process.removeListener('exit', killAll);
    rmSync(tmp, { recursive: true, force: true });
  });
  return { dir, tmp };
}

/**
 * kill -9 of replica `id`, then waits (10 s at most) until its address refuses connections: a
 * status that fails may be a process still dying, whose socket resets a frame sent to it (which
 * a client must then report as Unavailable: the frame may have been processed).
 */
export async function killReplica(dir: string, id: number): Promise<boolean> {
  const f = readFleet(dir);
  if (!signalReplica(f, id, 'SIGKILL')) return false;
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    try {
      await httpCall(urlOf(f.addresses[id]!, '/v1/status'), 'GET', null, 300);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
