/**
 * The relay as a process of its own and the client commands against a URL (spec ch. 15.2): a
 * fleet of 3 replica processes on memory HSMs with its relay process (`bkv fleet up`), on
 * 127.0.0.1. Register, recover with a wrong and the right password, delete, through `--vault URL`
 * with pinned keys (`--keys`) and with the bundle validated over the air (`--bundle --roots`); bad
 * input to the relay refused with closed codes and no change; a `kill -9` of the leader, then a
 * recovery through the relay; the relay killed: the client says Unavailable, exit 1, no trace; a
 * tampered bundle or wrong pins refused before a frame leaves; a second relay started by hand
 * (`bkv relay --listen --replicas`) serves the same fleet. Every process is killed and every
 * directory removed at the end, however the file ends.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import {
  fleetStatuses,
  relayRunning,
  relayStatus,
  signalRelay,
  waitForLeader,
} from '../src/serve/fleet.ts';
import { readFleet, urlOf } from '../src/serve/layout.ts';
import type { RelayStatus } from '../src/serve/relay-server.ts';
import { httpCall } from '../src/serve/wire.ts';
import { type BkvRun, ROOT, killReplica, runBkv, useServedFleet } from './support/served-fleet.ts';

const { dir, tmp } = useServedFleet('relay');
const keys = join(dir, 'keys.json');
const bundle = join(dir, 'deployment', 'bundles', 'epoch-0001.json');
const roots = join(dir, 'deployment', 'roots.json');
let url = '';
beforeAll(() => {
  url = `http://${readFleet(dir).relay!.address}`;
});

const viaKeys = (cmd: string, cred: string) => [cmd, '--vault', url, '--keys', keys, '--credential', cred];
const viaBundle = (cmd: string, cred: string, b = bundle, r = roots) => [
  cmd,
  '--vault',
  url,
  '--bundle',
  b,
  '--roots',
  r,
  '--credential',
  cred,
];

/** A failure as the spec wants it: one line on stderr, no stack trace. */
function oneLine(r: BkvRun): string {
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err.trim().split('\n')).toHaveLength(1);
  return r.err.trim();
}

const status = async (): Promise<RelayStatus> => (await relayStatus(dir))!;

test('fleet up starts the relay as a process: its address and pid in fleet.json, shown by fleet status', async () => {
  const f = readFleet(dir);
  expect(f.relay!.pid).toBeTypeOf('number');
  expect(relayRunning(f)).toBe(true);
  expect(f.addresses).not.toContain(f.relay!.address);
  const s = await status();
  expect([s.pid, s.address, s.replicas]).toEqual([f.relay!.pid, f.relay!.address, f.addresses]);
  const st = await runBkv(['fleet', 'status', '--dir', dir]);
  expect(st.code, st.err).toBe(0);
  expect(st.out).toMatch(new RegExp(`relay ${f.relay!.address} +relaying .* pid ${f.relay!.pid}`));
  expect(st.out).toContain(`the relay serves ${url}`);
}, 60_000);

test('register, wrong and right recoveries, delete: through --vault URL with --keys and with --bundle', async () => {
  const before = await status();
  const reg = await runBkv(viaKeys('register', 'alice'), 'right\n');
  expect(reg.code, reg.err).toBe(0);
  const k = /K = ([0-9a-f]{64})/.exec(reg.out)![1];
  const wrong = await runBkv(viaBundle('recover', 'alice'), 'wrong\n');
  expect([wrong.code, wrong.out.trim()]).toEqual([1, 'recover alice: wrong password: 9 tries remaining']);
  const right = await runBkv([...viaBundle('recover', 'alice'), '--json'], 'right\n');
  expect(right.code, right.err).toBe(0);
  expect(JSON.parse(right.out)).toEqual({ credential: 'alice', ok: true, key: k });
  const again = await runBkv(viaKeys('recover', 'alice'), 'wrong\n');
  expect(again.out.trim()).toBe('recover alice: wrong password: 9 tries remaining'); // the right one reset it
  const del = await runBkv(viaBundle('delete', 'alice'));
  expect([del.code, del.out.trim()]).toEqual([0, 'deleted alice']);
  const gone = await runBkv(viaKeys('recover', 'alice'), 'right\n');
  expect(gone.code).toBe(1);
  expect(gone.out).not.toContain(k);
  // every frame went through the relay process
  expect((await status()).frames.answered).toBeGreaterThan(before.frames.answered + 10);
  // --dir alone: the relay's URL and the keys from the fleet directory
  const short = await runBkv(['register', '--dir', dir, '--credential', 'bob'], 'pw\n');
  expect(short.code, short.err).toBe(0);
}, 120_000);

test("bad input to the relay gets closed codes and changes nothing; the relay serves on", async () => {
  const f = readFleet(dir);
  const frame = urlOf(f.relay!.address, '/v1/frame');
  const before = await fleetStatuses(dir);
  const relayBefore = await status();
  const cases: [string, () => ReturnType<typeof httpCall>, number, string][] = [
    ['garbage', () => httpCall(frame, 'POST', '\u0000\u00ff garbage', 2000), 400, 'MalformedMessage'],
    ['truncated JSON', () => httpCall(frame, 'POST', '{"channel": "ab", "kind": "Ha', 2000), 400, 'MalformedMessage'],
    ['oversized', () => httpCall(frame, 'POST', 'x'.repeat(100_000), 2000), 413, 'MalformedMessage'],
    ['unknown path', () => httpCall(urlOf(f.relay!.address, '/v1/peer'), 'POST', '{}', 2000), 404, 'NotFound'],
    ['GET a frame', () => httpCall(frame, 'GET', null, 2000), 404, 'NotFound'],
    [
      'a kind a client does not send',
      () => httpCall(frame, 'POST', JSON.stringify({ channel: 'ab', kind: 'Alert', bytes: '' }), 2000),
      400,
      'MalformedMessage',
    ],
    [
      'bytes not hex',
      () => httpCall(frame, 'POST', JSON.stringify({ channel: 'ab', kind: 'Handshake1', bytes: 'xyz' }), 2000),
      400,
      'MalformedMessage',
    ],
  ];
  for (const [what, send, code, error] of cases) {
    const r = await send();
    expect([r.status, JSON.parse(r.body).error], what).toEqual([code, error]);
  }
  const after = await fleetStatuses(dir);
  // nothing was appended or committed (a follower may learn of the last commit in between: the highest is compared)
  const state = (ss: typeof before) => [ss.map((s) => s!.logLength), Math.max(...ss.map((s) => s!.commitIndex))];
  expect(state(after)).toEqual(state(before));
  expect((await status()).frames).toEqual(relayBefore.frames); // nothing was relayed
  expect(relayRunning(readFleet(dir))).toBe(true);
  // a well-formed Handshake1 of garbage bytes is relayed, and the vault refuses it (an Alert)
  const handshake = JSON.stringify({ channel: 'cd', kind: 'Handshake1', bytes: '00' });
  const junk = await httpCall(frame, 'POST', handshake, 20_000);
  expect([junk.status, JSON.parse(junk.body).kind]).toEqual([200, 'Alert']);
  const ok = await runBkv(viaKeys('recover', 'bob'), 'pw\n');
  expect(ok.code, ok.err).toBe(0);
}, 60_000);

test('a tampered bundle, wrong pins, a bad keys file, a bad URL: one line, an exit code, no frame sent', async () => {
  const sent = (await status()).frames;
  const text = readFileSync(bundle, 'utf8');
  const info = JSON.parse(text) as { bundle: { artifact: string; operatorCounterSignature: string } };
  const flip = (hex: string) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
  const write = (name: string, x: unknown) => {
    const path = join(tmp, name);
    writeFileSync(path, typeof x === 'string' ? x : JSON.stringify(x));
    return path;
  };
  const counterSigned = write('counter.json', {
    ...info,
    bundle: { ...info.bundle, operatorCounterSignature: flip(info.bundle.operatorCounterSignature) },
  });
  const artifact = write('artifact.json', {
    ...info,
    bundle: { ...info.bundle, artifact: info.bundle.artifact.replace('"issuedAt":', '"issuedAt":1') },
  });
  const pins = JSON.parse(readFileSync(roots, 'utf8')) as Record<string, string>;
  const keysOf = () => JSON.parse(readFileSync(keys, 'utf8')) as Record<string, string>;
  const otherWitness = write('roots-witness.json', { ...pins, witnessKey: flip(pins.witnessKey!) });
  const withKeys = (file: string) => ['recover', '--vault', url, '--keys', file, '--credential', 'bob'];
  const cases: [string, string[], number, RegExp][] = [
    ['counter-signature', viaBundle('recover', 'bob', counterSigned), 1, /OperatorSignatureInvalid: .*counter\.json/],
    ['artifact', viaBundle('recover', 'bob', artifact), 1, /DigestMismatch: .*artifact\.json/],
    ['truncated', viaBundle('recover', 'bob', write('cut.json', text.slice(0, 200))), 1, /Malformed.*not JSON/],
    ['other witness key', viaBundle('recover', 'bob', bundle, otherWitness), 1, /WitnessSignatureInvalid/],
    ['keys file', withKeys(write('k.json', '{"suite": 1}')), 1, /MalformedMessage: .*k\.json/],
    ['not a point', withKeys(write('p.json', { ...keysOf(), opaqueServerKey: 'ff'.repeat(32) })), 1, /InvalidPoint/],
    ['no keys file', withKeys(join(tmp, 'none.json')), 3, /none\.json: cannot read it \(no such file\)$/],
    ['bad URL', ['recover', '--vault', 'relay:80', '--keys', keys, '--credential', 'bob'], 2, /--vault expected/],
    ['no pins', ['recover', '--vault', url, '--bundle', bundle, '--credential', 'bob'], 2, /needs --roots/],
  ];
  for (const [what, args, code, line] of cases) {
    const r = await runBkv(args, 'pw\n');
    expect(r.code, what).toBe(code);
    expect(r.err.split('\n')[0], what).toMatch(line);
    if (code !== 2) oneLine(r);
    expect(r.out, what).toBe('');
  }
  expect((await status()).frames).toEqual(sent); // refused before a frame left
}, 120_000);

test('kill -9 of the leader: recovery through the relay works; the budget is as it was', async () => {
  const reg = await runBkv([...viaKeys('register', 'carol'), '--limit', '5'], 'pw\n');
  expect(reg.code, reg.err).toBe(0);
  const wrong = await runBkv(viaKeys('recover', 'carol'), 'no\n');
  expect(wrong.out.trim()).toBe('recover carol: wrong password: 4 tries remaining');
  const leader = (await waitForLeader(dir, 10_000))!;
  expect(await killReplica(dir, leader.id)).toBe(true);
  const again = await runBkv(viaBundle('recover', 'carol'), 'no\n');
  expect(again.out.trim()).toBe('recover carol: wrong password: 3 tries remaining');
  const right = await runBkv(viaBundle('recover', 'carol'), 'pw\n');
  expect(right.code, right.err).toBe(0);
  expect(right.out).toContain(/K = ([0-9a-f]{64})/.exec(reg.out)![1]);
  const start = await runBkv(['fleet', 'start', '--dir', dir]);
  expect([start.code, start.out.trim()]).toEqual([0, `started r${leader.id}`]);
}, 120_000);

test('the relay killed: the client says Unavailable, exit 1, no trace; fleet start brings it back', async () => {
  expect(signalRelay(readFleet(dir), 'SIGKILL')).toBe(true);
  while ((await relayStatus(dir, 300)) !== null) await new Promise((r) => setTimeout(r, 50));
  const r = await runBkv(viaKeys('recover', 'bob'), 'pw\n');
  expect(r.code).toBe(1);
  expect(r.out.trim()).toBe(`recover bob: fault: Unavailable (no answer from the vault at ${url})`);
  expect(r.err).toBe('');
  const st = await runBkv(['fleet', 'status', '--dir', dir]);
  expect(st.code).toBe(1);
  expect(st.out).toContain('the relay is down');
  const start = await runBkv(['fleet', 'start', '--dir', dir]);
  expect([start.code, start.out.trim()]).toEqual([0, 'started the relay']);
  for (let t = 0; t < 100 && (await relayStatus(dir, 300)) === null; t++) await new Promise((r) => setTimeout(r, 100));
  const back = await runBkv(viaKeys('recover', 'bob'), 'pw\n');
  expect(back.code, back.err).toBe(0);
}, 120_000);

test('bkv relay --listen --replicas: a second relay before the same fleet; SIGTERM stops it (exit 0)', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const listen = `127.0.0.1:${port}`;
  const args = ['relay', '--listen', listen, '--replicas', readFleet(dir).addresses.join(',')];
  const child = spawn(process.execPath, [join(ROOT, 'bin/bkv.js'), ...args], { cwd: ROOT, stdio: 'pipe' });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  try {
    for (let t = 0; t < 200 && !log.includes('listening'); t++) await new Promise((r) => setTimeout(r, 50));
    expect(log).toContain(`relay listening on ${listen}`);
    const r = await runBkv(['recover', '--vault', `http://${listen}/`, '--keys', keys, '--credential', 'bob'], 'pw\n');
    expect(r.code, r.err).toBe(0);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exit).toBe(0);
  process.removeListener('exit', kill);
  expect(log).toMatch(/relay stopped\n$/);
  const bad = await runBkv(['relay', '--listen', listen, '--replicas', 'nowhere']);
  expect([bad.code, bad.err.split('\n')[0]]).toEqual([2, 'bkv relay: expected host:port, got "nowhere"']);
  const none = await runBkv(['relay']);
  expect(none.code).toBe(2);
}, 60_000);
