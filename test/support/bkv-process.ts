/**
 * The real `bkv` in a child process, run to its end: its exit code, stdout and stderr. Killed
 * after `timeoutMs` (a hang is a failure, not a stuck test run).
 * @module
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface BkvRun {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** `bkv args` with `stdin`, to its end. */
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
