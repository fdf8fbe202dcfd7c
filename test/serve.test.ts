/**
 * The vault as real processes (spec ch. 15): a fleet of 3 replica processes on memory HSMs, on
 * 127.0.0.1; a registration, a wrong and a right recovery, a `kill -9` of the leader, then the
 * budget unchanged by the crash, the leader back on its files; the client commands through the
 * real `bkv`; bad input refused without a change or a crash. Every process is killed and every
 * directory removed at the end, however the file ends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BkvClient } from '../src/client/client.ts';
import { utf8 } from '../src/crypto/bytes.ts';
import { systemRng } from '../src/crypto/rng.ts';
import { fleetStatuses, startReplica, waitForLeader } from '../src/serve/fleet.ts';
import { HttpRelay } from '../src/serve/http-relay.ts';
import { fleetClientContext, readFleet, urlOf } from '../src/serve/layout.ts';
import { httpCall } from '../src/serve/wire.ts';
import { killReplica, runBkv, useServedFleet } from './support/served-fleet.ts';

// a client body limit below the default (64 KiB), to show fleet.json's limits reach the replicas
const { dir } = useServedFleet('serve', { limits: { maxBodyBytes: 32 * 1024 } });

function client(): BkvClient {
  return new BkvClient(fleetClientContext(readFleet(dir)), new HttpRelay(readFleet(dir).addresses), systemRng);
}

const bkv = runBkv;

test('register, a wrong and a right recovery; kill -9 of the leader leaves the budget as it was', async () => {
  const c = client();
  const key = systemRng(32);
  const alice = utf8('alice');
  expect(await c.register(alice, utf8('right'), key)).toEqual({ ok: true, value: true });
  expect(await c.recover(alice, utf8('wrong'))).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 9 });
  expect(await c.recover(alice, utf8('wrong'))).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 8 });

  const leader = await waitForLeader(dir, 10_000);
  expect(leader).not.toBeNull();
  // once it is gone (a frame sent while it dies is lost, and the client would rightly say Unavailable)
  expect(await killReplica(dir, leader!.id)).toBe(true);

  // the two survivors elect a leader; the guesses spent stay spent, no more
  expect(await c.recover(alice, utf8('wrong'))).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 7 });
  const right = await c.recover(alice, utf8('right'));
  expect(right.ok && Buffer.from(right.value).equals(Buffer.from(key))).toBe(true);
  expect(await c.recover(alice, utf8('wrong'))).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 9 });

  // the killed replica restarts on its sealed state and token and catches up
  startReplica(dir, leader!.id);
  const deadline = Date.now() + 20_000;
  let caught = false;
  while (!caught && Date.now() < deadline) {
    const s = await fleetStatuses(dir);
    caught =
      s.every((x) => x !== null) && new Set(s.map((x) => x!.lastApplied)).size === 1 && s[leader!.id]!.records === 1;
    if (!caught) await new Promise((r) => setTimeout(r, 200));
  }
  expect(caught).toBe(true);
  const log = readFileSync(join(dir, `r${leader!.id}`, 'log'), 'utf8');
  expect(log).toMatch(/start: term \d+, log of \d+/);
  expect(log).not.toMatch(/rolled back/);
}, 90_000);

test('the client commands: password on stdin, K printed, tries left on a wrong one, --json', async () => {
  const reg = await bkv(['register', '--dir', dir, '--credential', 'bob', '--limit', '3'], 'pw\n');
  expect(reg.code, reg.err).toBe(0);
  const k = /K = ([0-9a-f]{64})/.exec(reg.out)?.[1];
  expect(k).toBeDefined();
  const wrong = await bkv(['recover', '--dir', dir, '--credential', 'bob'], 'nope\n');
  expect(wrong.code).toBe(1);
  expect(wrong.out).toContain('wrong password: 2 tries remaining');
  const right = await bkv(['recover', '--dir', dir, '--credential', 'bob', '--json'], 'pw\n');
  expect(right.code).toBe(0);
  expect(JSON.parse(right.out)).toEqual({ credential: 'bob', ok: true, key: k });
  const none = await bkv(['recover', '--dir', dir, '--credential', 'bob']);
  expect(none.code).toBe(2);
  expect(none.err).toContain('no password on stdin');
  const status = await bkv(['fleet', 'status', '--dir', dir]);
  expect(status.code).toBe(0);
  expect(status.out).toMatch(/leader \(serving\) term \d+/);
}, 90_000);

test('bad input: garbage, oversized, unknown paths, forged peer messages refused; the fleet serves on', async () => {
  const f = readFleet(dir);
  const a = f.addresses[0]!;
  const before = await fleetStatuses(dir);
  expect((await httpCall(urlOf(a, '/v1/frame'), 'POST', 'not json', 2000)).status).toBe(400);
  const bad = await httpCall(
    urlOf(a, '/v1/frame'),
    'POST',
    JSON.stringify({ channel: 'zz', kind: 'Handshake1', bytes: '' }),
    2000,
  );
  expect([bad.status, JSON.parse(bad.body).error]).toEqual([400, 'MalformedMessage']);
  expect((await httpCall(urlOf(a, '/v1/frame'), 'POST', 'x'.repeat(100_000), 2000)).status).toBe(413);
  expect(f.limits).toEqual({ maxBodyBytes: 32 * 1024 });
  expect((await httpCall(urlOf(a, '/v1/frame'), 'POST', 'x'.repeat(40_000), 2000)).status).toBe(413);
  expect((await httpCall(urlOf(a, '/nothing'), 'GET', null, 2000)).status).toBe(404);
  expect((await httpCall(urlOf(a, '/v1/admin/drop'), 'POST', '{"peers":[1,2]}', 2000)).status).toBe(404);
  const forged = {
    from: 1,
    to: 0,
    body: JSON.stringify({ type: 'RequestVoteRequest', term: 99, lastLogIndex: 99, lastLogTerm: 99 }),
    mac: '00'.repeat(32),
  };
  expect((await httpCall(urlOf(a, '/v1/peer'), 'POST', JSON.stringify(forged), 2000)).status).toBe(204);
  // a peer body past the clients' 64 KiB is read whole (a batch, a snapshot chunk), past 1 MiB it is not
  expect((await httpCall(urlOf(a, '/v1/peer'), 'POST', 'x'.repeat(100_000), 2000)).status).toBe(204);
  expect((await httpCall(urlOf(a, '/v1/peer'), 'POST', 'x'.repeat(1_100_000), 2000)).status).toBe(413);
  const after = await fleetStatuses(dir);
  expect(after[0]!.term).toBe(before[0]!.term); // the forged vote request changed nothing
  expect(readFileSync(join(dir, 'r0', 'log'), 'utf8')).toContain('peer message refused: PeerAuthenticationFailed');
  // a handshake of garbage bytes gets the vault's answer (an Alert), not a crash
  const leader = (await waitForLeader(dir, 10_000))!;
  const junk = await httpCall(
    urlOf(f.addresses[leader.id]!, '/v1/frame'),
    'POST',
    JSON.stringify({ channel: 'ab', kind: 'Handshake1', bytes: '0000' }),
    5000,
  );
  expect(junk.status).toBe(200);
  expect(JSON.parse(junk.body).kind).toBe('Alert');
  expect(await client().recover(utf8('alice'), utf8('wrong'))).toMatchObject({ kind: 'WrongPassword' });
}, 60_000);
