/**
 * Where a bench run ran: the machine, and the version of everything it measured (results.json
 * `machine` and `versions`).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';

/** The installed version of a package (read from its package.json, found through its entry point). */
export function installedVersion(name: string): string | null {
  try {
    const require = createRequire(import.meta.url);
    let dir = dirname(require.resolve(name));
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? null;
      } catch {
        /* not here: go up */
      }
    }
  } catch {
    /* not installed */
  }
  return null;
}

function tryRun(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

export function versions() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const names = [
    '@noble/curves',
    '@noble/hashes',
    '@noble/ciphers',
    'tinybench',
    'graphene-pk11',
    '@serenity-kit/opaque',
    '@cloudflare/opaque-ts',
    'libsodium-wrappers-sumo',
  ];
  return {
    bkv: pkg.version,
    gitCommit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    node: process.version,
    v8: process.versions.v8,
    softhsm: tryRun('softhsm2-util', ['--version']),
    packages: Object.fromEntries(names.map((n) => [n, installedVersion(n)])),
  };
}
