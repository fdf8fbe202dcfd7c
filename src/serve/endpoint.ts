/**
 * The client endpoint's HTTP plumbing (spec ch. 15.2, 15.4), one copy for the two processes that
 * serve it: a replica (replica-server.ts) and the relay (relay-server.ts). Both answer
 * `POST /v1/frame` with the same limits and the same refusals:
 *
 *   listen        maxConnections, requestTimeout (a slow client is cut off), headersTimeout
 *   readBody      the whole body, or null past maxBodyBytes (413, the connection closed, the rest unread)
 *   acceptClientFrame  a frame a client may send (Handshake1 or Transport), or 400 MalformedMessage
 *   FrameSlots    one frame in flight per channel (409 ChannelStateError), at most maxWaiting at once
 *                 (503 Unavailable)
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { VaultError, isVaultError } from '../errors.ts';
import type { Frame } from '../vault/protocol.ts';
import { type ServeLimits, decodeFrame } from './wire.ts';

/** How often the server looks for connections past their request or headers timeout. */
const CHECK_INTERVAL_MS = 1000;

/** Listens on `address` (host:port) with the limits of the client endpoint. */
export async function listen(
  address: string,
  limits: ServeLimits,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Server> {
  // Node checks requestTimeout and headersTimeout every connectionsCheckingInterval (30 s by
  // default): a slow client would hold its connection up to 30 s past the limit, not 1 s.
  const server = createServer({ connectionsCheckingInterval: CHECK_INTERVAL_MS }, handle);
  server.maxConnections = limits.maxConnections;
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(limits.requestTimeoutMs, 60_000);
  server.keepAliveTimeout = 5000;
  const [host, port] = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** Closes the listener and every open connection. */
export function closeServer(server: Server | null): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function reply(res: ServerResponse, status: number, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...(close && { connection: 'close' }) });
  res.end(body);
}

/** An answer `{"error": code}` (the closed VaultError code), with the reason for people. */
export function refuse(res: ServerResponse, status: number, e: VaultError | VaultError['code'], close = false): void {
  const body = typeof e === 'string' ? { error: e } : { error: e.code, message: e.message };
  reply(res, status, JSON.stringify(body), close);
}

/** The whole body as text, or null past `max` bytes (the rest is not read). */
export function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) {
      req.resume();
      return resolve(null);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(size > max ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The frame a client sent, or null after answering 400 with the closed code. */
export function acceptClientFrame(body: string, res: ServerResponse): Frame | null {
  try {
    return readClientFrame(body);
  } catch (e) {
    if (!isVaultError(e)) throw e;
    refuse(res, 400, e);
    return null;
  }
}

/** A frame a client sends (Handshake1 or Transport), or `VaultError('MalformedMessage')`. */
export function readClientFrame(body: string): Frame {
  const frame = decodeFrame(body);
  if (frame.kind !== 'Handshake1' && frame.kind !== 'Transport')
    throw new VaultError('MalformedMessage', `a client sends Handshake1 or Transport, not ${frame.kind}`);
  if ('leaderHint' in frame) throw new VaultError('MalformedMessage', 'a client frame carries no leaderHint');
  return frame;
}

/**
 * The client frames waiting for their answer: one per channel, at most `max` at once. `take`
 * answers the refusal itself (409, 503) and returns false when the frame may not wait.
 */
export class FrameSlots<T> {
  readonly #waiting = new Map<string, T>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get size(): number {
    return this.#waiting.size;
  }
  take(channel: string, holder: T, res: ServerResponse): boolean {
    if (this.#waiting.has(channel)) {
      refuse(res, 409, 'ChannelStateError');
      return false;
    }
    if (this.#waiting.size >= this.#max) {
      refuse(res, 503, 'Unavailable');
      return false;
    }
    this.#waiting.set(channel, holder);
    return true;
  }
  get(channel: string): T | undefined {
    return this.#waiting.get(channel);
  }
  /** Frees `channel` if `holder` still holds it. */
  release(channel: string, holder: T): void {
    if (this.#waiting.get(channel) === holder) this.#waiting.delete(channel);
  }
}

export function splitAddress(address: string): [string, number] {
  const k = address.lastIndexOf(':');
  return [address.slice(0, k), Number(address.slice(k + 1))];
}
