/**
 * The real `bkv` in child processes (spec ch. 14): SoftHSM token directories are removed when
 * bkv is interrupted (SIGINT, SIGTERM), fails to start, or stops early because its reader went
 * away (EPIPE); a reader that stops reading ends bkv quietly; garbage into an adapter gets error
 * answers, not a stack trace. The children run one at a time with a temp dir of this file as
 * TMPDIR, so that the token directories they make can be found and checked to be gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'bkv-processes-'));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  readonly child: ChildProcess;
  readonly tmp: string;
  readonly out: string[];
  readonly err: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `bkv args` in its own process group, with `tmp` as TMPDIR. */
function bkv(args: string[], env: Record<string, string> = {}): Run {
  const dir = tmp;
  const child = spawn(process.execPath, [join(ROOT, 'bin/bkv.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: dir, ...env },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const out: string[] = [];
  const err: string[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => err.push(d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('close', (code, signal) => done({ code, signal })),
  );
  return { child, tmp: dir, out, err, exit };
}

const tokenDirs = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('bkv-tokens-'));

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Some token of a private token directory of `run` has been initialized. */
const hasToken = (run: Run) => () =>
  tokenDirs(run.tmp).some(
    (d) => existsSync(join(run.tmp, d, 'tokens')) && readdirSync(join(run.tmp, d, 'tokens')).length > 0,
  );

test.each(['SIGINT', 'SIGTERM'] as const)(
  '%s to bkv check --hsm softhsm: the token directory is removed',
  async (signal) => {
    const run = bkv(['check', '--hsm', 'softhsm', '--suite', 'consensus', '--runs', '1000', '--seed', signal]);
    await until('a SoftHSM token', hasToken(run));
    expect(tokenDirs(run.tmp)).toHaveLength(1);
    run.child.kill(signal);
    expect(await run.exit).toEqual({ code: null, signal });
    await until('the token directory to be removed', () => tokenDirs(run.tmp).length === 0, 5000);
    expect(run.err.join('')).not.toMatch(/\n\s+at /);
  },
  60_000,
);

test('a failed start (no SoftHSM library) leaves no token directory, and says what to install (exit 3)', async () => {
  const run = bkv(['demo', '--hsm', 'softhsm'], { SOFTHSM2_LIB: join(tmp, 'no-libsofthsm2.so') });
  expect((await run.exit).code).toBe(3);
  expect(run.err.join('')).toMatch(
    /^bkv demo: HsmError: SOFTHSM2_LIB=.* does not exist; install SoftHSM2 with: sudo apt-get/,
  );
  expect(run.err.join('').trim().split('\n')).toHaveLength(1);
  expect(tokenDirs(run.tmp)).toEqual([]);
}, 30_000);

test('a reader that stops reading (EPIPE) ends bkv quietly, exit 0; its token directory is removed', async () => {
  const opaque = bkv(['opaque']);
  opaque.child.stdout!.once('data', () => opaque.child.stdout!.destroy());
  expect(await opaque.exit).toEqual({ code: 0, signal: null });
  expect(opaque.err.join('')).toBe('');
  const demo = bkv(['demo', '--hsm', 'softhsm']);
  demo.child.stdout!.once('data', () => demo.child.stdout!.destroy());
  expect(await demo.exit).toEqual({ code: 0, signal: null });
  expect(demo.err.join('')).toBe('');
  await until('the token directory to be removed', () => tokenDirs(demo.tmp).length === 0, 5000);
}, 30_000);

test("SIGINT to bkv conform: the adapter's whole process group is killed with it", async () => {
  const pidFile = join(tmp, 'adapter.pid');
  const run = bkv(['conform', '--vault', `sleep 60 & echo $! > ${pidFile}; sleep 60`, '--timeout', '60000']);
  await until('the adapter', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'));
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  expect(alive()).toBe(true);
  run.child.kill('SIGINT');
  expect(await run.exit).toEqual({ code: null, signal: 'SIGINT' });
  await until('the adapter to be gone', () => !alive(), 5000);
}, 30_000);

test('garbage into bkv adapter vault: an error answer per line, then a clean end at EOF', async () => {
  const run = bkv(['adapter', 'vault']);
  run.child.stdin!.end('garbage\nnull\n[1]\n{"op":"frame"}\n{"op":"nope"}\n');
  expect((await run.exit).code).toBe(0);
  const answers = run.out
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { ok: boolean; error: string });
  expect(answers.map((a) => a.ok)).toEqual([false, false, false, false, false]);
  expect(answers[0]!.error).toMatch(/^not JSON/);
  expect(answers[1]!.error).toMatch(/^expected a JSON object/);
  expect(answers[4]!.error).toBe('unknown op nope');
  expect(run.err.join('')).toBe('');
}, 30_000);
