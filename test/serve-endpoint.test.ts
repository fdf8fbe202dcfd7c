/**
 * The client endpoint's timeouts (spec ch. 15.4): a client that sends its headers and then its body
 * byte by byte, too slowly, is answered 408 and cut off soon after requestTimeoutMs, not when Node
 * next happens to look (its connectionsCheckingInterval is 30 s unless set).
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect, test } from 'vitest';
import { closeServer, listen } from '../src/serve/endpoint.ts';
import { DEFAULT_LIMITS } from '../src/serve/wire.ts';

test('a slow client is answered 408 and cut off within a second or two of requestTimeoutMs', async () => {
  const limits = { ...DEFAULT_LIMITS, requestTimeoutMs: 1000 };
  let handled = 0;
  const server = await listen('127.0.0.1:0', limits, (req, res) => {
    handled++;
    req.on('end', () => res.end('late'));
    req.resume();
  });
  try {
    const { port } = server.address() as AddressInfo;
    const t0 = Date.now();
    const { status, ms } = await new Promise<{ status: string; ms: number }>((resolve) => {
      let status = '';
      const c = connect(port, '127.0.0.1', () =>
        c.write('POST /v1/frame HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n'),
      );
      const drip = setInterval(() => c.writable && c.write('a'), 200);
      c.on('data', (d) => (status ||= String(d).split('\r\n')[0]!));
      c.on('error', () => {});
      c.on('close', () => {
        clearInterval(drip);
        resolve({ status, ms: Date.now() - t0 });
      });
      setTimeout(() => c.destroy(), 15_000); // past this, the test fails below
    });
    expect(handled).toBe(1);
    expect(status).toBe('HTTP/1.1 408 Request Timeout');
    expect(ms).toBeLessThan(limits.requestTimeoutMs + 5000);
  } finally {
    await closeServer(server);
  }
}, 30_000);
