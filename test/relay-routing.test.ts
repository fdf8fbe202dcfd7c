/**
 * The relay process's routing and refusals (src/serve/relay-server.ts, spec ch. 15.2 "The
 * relay"), in this process against stub replicas on 127.0.0.1 that count what reaches them: a
 * Handshake1 follows a NotLeader hint and skips a replica that refuses connections; a Transport
 * goes to the replica that answered its channel's Handshake1; a frame that may have arrived (a
 * 504, a connection cut) is answered 504 and never resent; nothing reachable is 503; a second
 * frame on a busy channel is 409, one past maxWaiting 503.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { toHex, utf8 } from '../src/crypto/bytes.ts';
import { RelayServer, type RelayServerOptions } from '../src/serve/relay-server.ts';
import { httpCall } from '../src/serve/wire.ts';

type Behaviour = (body: { channel: string; kind: string }) => { status: number; body: unknown } | 'cut' | 'slow';

const opened: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const x of opened.splice(0)) await x.close();
});

/** A stub replica: answers each frame as `behave` says, and records the frames it got. */
async function stub(behave: Behaviour): Promise<{ address: string; got: string[] }> {
  const got: string[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const frame = JSON.parse(text) as { channel: string; kind: string };
      got.push(`${frame.kind} ${frame.channel}`);
      const a = behave(frame);
      if (a === 'cut') return res.destroy();
      const send = (x: { status: number; body: unknown }) => res.writeHead(x.status).end(JSON.stringify(x.body));
      if (a === 'slow') return void setTimeout(() => send({ status: 504, body: { error: 'Unavailable' } }), 300);
      send(a);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened.push({ close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

/** An address nothing listens on (a server opened on port 0, then closed). */
async function deadAddress(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `127.0.0.1:${port}`;
}

const answer = (channel: string, kind: string, bytes: string, extra = {}) => ({
  status: 200,
  body: { channel, kind, bytes, ...extra },
});
const alert = (channel: string, code: string, leaderHint: number | null) =>
  answer(channel, 'Alert', toHex(utf8(code)), { leaderHint });

type Send = (b: object) => ReturnType<typeof httpCall>;

async function relay(replicas: string[], o: Partial<RelayServerOptions> = {}): Promise<Send> {
  const listen = await deadAddress();
  const server = new RelayServer({ listen, replicas, log: () => {}, routing: { deadlineMs: 1000, retryMs: 20 }, ...o });
  await server.start();
  opened.push({ close: () => server.stop() });
  return (b) => httpCall(`http://${listen}/v1/frame`, 'POST', JSON.stringify(b), 5000, true);
}

const h1 = (channel: string) => ({ channel, kind: 'Handshake1', bytes: '00' });

test('a Handshake1 follows the NotLeader hint; its Transport goes to the replica that answered', async () => {
  const r0 = await stub((f) => alert(f.channel, 'NotLeader', 2));
  const r1 = await stub((f) => answer(f.channel, 'Handshake2', '11'));
  const r2 = await stub((f) => answer(f.channel, f.kind === 'Handshake1' ? 'Handshake2' : 'Transport', '22'));
  const send = await relay([r0.address, r1.address, r2.address]);
  const a = await send(h1('aa'));
  expect([a.status, JSON.parse(a.body)]).toEqual([200, { channel: 'aa', kind: 'Handshake2', bytes: '22' }]);
  const t = await send({ channel: 'aa', kind: 'Transport', bytes: '33' });
  expect([t.status, JSON.parse(t.body).bytes]).toEqual([200, '22']);
  expect([r0.got, r1.got, r2.got]).toEqual([['Handshake1 aa'], [], ['Handshake1 aa', 'Transport aa']]);
});

test('a refused connection is skipped (nothing happened); nothing reachable is 503 Unavailable', async () => {
  const r1 = await stub((f) => answer(f.channel, 'Handshake2', '11'));
  const send = await relay([await deadAddress(), r1.address]);
  expect((await send(h1('aa'))).status).toBe(200);
  expect(r1.got).toEqual(['Handshake1 aa']);
  const none = await relay([await deadAddress(), await deadAddress()]);
  const r = await none(h1('bb'));
  expect([r.status, JSON.parse(r.body)]).toEqual([503, { error: 'Unavailable' }]);
});

test.each(['504', 'cut'] as const)('a frame that may have arrived (%s) is answered 504, never resent', async (how) => {
  const r0 = await stub(() => (how === 'cut' ? 'cut' : { status: 504, body: { error: 'Unavailable' } }));
  const r1 = await stub((f) => answer(f.channel, 'Handshake2', '11'));
  const send = await relay([r0.address, r1.address]);
  const r = await send(h1('aa'));
  expect([r.status, JSON.parse(r.body)]).toEqual([504, { error: 'Unavailable' }]);
  expect([r0.got, r1.got]).toEqual([['Handshake1 aa'], []]);
});

test('a second frame on a busy channel is 409; one past maxWaiting is 503; neither reaches a replica', async () => {
  const r0 = await stub(() => 'slow');
  const send = await relay([r0.address], { limits: { maxWaiting: 2 } });
  const [a, b] = await Promise.all([send(h1('aa')), send(h1('aa'))]);
  expect([a.status, b.status].sort()).toEqual([409, 504]);
  expect(JSON.parse((a.status === 409 ? a : b).body)).toEqual({ error: 'ChannelStateError' });
  const [c, d, e] = await Promise.all([send(h1('c1')), send(h1('c2')), send(h1('c3'))]);
  expect([c.status, d.status, e.status].sort()).toEqual([503, 504, 504]);
  expect(r0.got[0]).toBe('Handshake1 aa');
  expect(r0.got).toHaveLength(3); // aa once, and the two of c1..c3 that were let wait
});
