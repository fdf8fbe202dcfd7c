/**
 * The wire of a running fleet (spec ch. 15.2): HTTP/1.1 with JSON bodies, on the addresses of
 * `fleet.json`. A replica serves all the endpoints below; the relay (relay-server.ts) serves
 * `POST /v1/frame` and its own `GET /v1/status`. Bytes travel as lowercase hex; a frame is the JSON
 * frame of the adapter protocol
 * (`WireFrame`, src/conform/adapter-protocol.ts, spec ch. 9), so an implementer reads one shape.
 *
 *   POST /v1/frame   {"channel": hex, "kind": "Handshake1"|"Transport", "bytes": hex}
 *                    -> 200 {"channel", "kind", "bytes"[, "leaderHint": n | null]}: the vault's
 *                       answer on that channel (an Alert NotLeader carries the leader it knows)
 *                    -> 400 {"error": "MalformedMessage"}, 413 {"error": "MalformedMessage"},
 *                       409 {"error": "ChannelStateError"} (a frame already waits on that channel),
 *                       503 {"error": "Unavailable"} (too many waiting), 504 {"error": "Unavailable"}
 *                       (no answer in time: the outcome is unknown)
 *   POST /v1/peer    {"from": n, "to": n, "body": string, "mac": hex}: a Raft message, MAC'd with
 *                    the fleet's peer key (src/replication/peer-auth.ts) -> 204 once read whole (a
 *                    refused envelope is dropped and logged: the sender learns nothing), 413 past
 *                    maxPeerBodyBytes
 *   GET  /v1/status  -> 200 the replica's role, term, commit index, ... (`ReplicaStatus`)
 *   POST /v1/admin/drop {"peers": [n, ...]}: only on a replica started for a chaos run: drop the
 *                    peer traffic to and from these replicas (a partition) -> 204
 * @module
 */
import { request, Agent } from 'node:http';
import { fromHex, toHex } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { Frame, FrameKind } from '../vault/protocol.ts';
import type { PeerEnvelope } from '../replication/peer-auth.ts';
import { readInt, readObject as readMembers } from '../fleet/json.ts';

/** Limits of the client endpoint (spec ch. 15.4). */
export interface ServeLimits {
  /** Largest request body accepted from a client (`/v1/frame`, the relay's endpoints), in bytes. */
  readonly maxBodyBytes: number;
  /**
   * Largest body accepted on a replica's `/v1/peer`, in bytes: an InstallSnapshot chunk or an
   * AppendEntries batch (bounded by `peerBatchBytes`), sealed in its envelope, with margin.
   */
  readonly maxPeerBodyBytes: number;
  /** Client requests waiting for an answer at once. */
  readonly maxWaiting: number;
  /** How long a client frame waits for its answer. */
  readonly answerTimeoutMs: number;
  /** How long a request may take to arrive whole (a slow client is cut off). */
  readonly requestTimeoutMs: number;
  /** Open connections at once. */
  readonly maxConnections: number;
}

export const DEFAULT_LIMITS: ServeLimits = Object.freeze({
  maxBodyBytes: 64 * 1024,
  maxPeerBodyBytes: 1024 * 1024,
  maxWaiting: 256,
  answerTimeoutMs: 4000,
  requestTimeoutMs: 5000,
  maxConnections: 512,
});

const KINDS: readonly FrameKind[] = ['Handshake1', 'Handshake2', 'Transport', 'Alert'];
const HEX = /^(?:[0-9a-f]{2})*$/;

function malformed(what: string): VaultError {
  return new VaultError('MalformedMessage', what);
}

function readHex(x: unknown, name: string): Uint8Array {
  if (typeof x !== 'string' || !HEX.test(x))
    throw malformed(`${name}: expected lowercase hex, an even number of digits`);
  return fromHex(x);
}

function readObject(text: string): Record<string, unknown> {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    throw malformed('body: not JSON');
  }
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw malformed('body: expected a JSON object');
  return x as Record<string, unknown>;
}

export function encodeFrame(f: Frame): string {
  const hint = 'leaderHint' in f ? { leaderHint: (f as { leaderHint: number | null }).leaderHint } : {};
  return JSON.stringify({ channel: f.channel, kind: f.kind, bytes: toHex(f.bytes), ...hint });
}

/** A frame from JSON; `leaderHint` kept when present (an answer). */
export function decodeFrame(text: string): Frame & { leaderHint?: number | null } {
  const o = readObject(text);
  const channel = o.channel;
  if (typeof channel !== 'string' || !/^(?:[0-9a-f]{2}){1,32}$/.test(channel))
    throw malformed('channel: expected 1..32 bytes in lowercase hex');
  if (typeof o.kind !== 'string' || !KINDS.includes(o.kind as FrameKind)) throw malformed(`kind: expected ${KINDS}`);
  const frame = { channel, kind: o.kind as FrameKind, bytes: readHex(o.bytes, 'bytes') };
  const hint = o.leaderHint;
  if (hint === undefined) return frame;
  if (hint !== null && (!Number.isInteger(hint) || (hint as number) < 0)) throw malformed('leaderHint');
  return { ...frame, leaderHint: hint as number | null };
}

export function encodeEnvelope(e: PeerEnvelope): string {
  return JSON.stringify({ from: e.from, to: e.to, body: e.body, mac: toHex(e.mac) });
}

export function decodeEnvelope(text: string): PeerEnvelope {
  const o = readObject(text);
  if (!Number.isInteger(o.from) || !Number.isInteger(o.to)) throw malformed('from, to: expected integers');
  if (typeof o.body !== 'string') throw malformed('body: expected a string');
  return { from: o.from as number, to: o.to as number, body: o.body, mac: readHex(o.mac, 'mac') };
}

/** What `GET /v1/status` answers. */
export interface ReplicaStatus {
  readonly id: number;
  readonly pid: number;
  readonly role: 'follower' | 'candidate' | 'leader';
  readonly term: number;
  readonly serving: boolean;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly logLength: number;
  readonly leaderHint: number | null;
  readonly recovering: boolean;
  readonly records: number;
  readonly persists: number;
  /** Bytes written to its host storage (sealed bases and segments) in this process's life. */
  readonly hostBytes: number;
  readonly upMs: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/**
 * One HTTP request with a deadline; rejects on a connection error or the deadline. `fresh`: on a
 * connection of its own, so that a refused connection (ECONNREFUSED) surely means that nothing
 * was sent (a kept-alive connection to a process that died fails only once a request is on it).
 */
export function httpCall(
  url: string,
  method: 'GET' | 'POST',
  body: string | null,
  timeoutMs: number,
  fresh = false,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> =
      body === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request(url, { method, agent: fresh ? false : agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** Ends the keep-alive connections (so that a client process can exit at once). */
export function closeConnections(): void {
  agent.destroy();
}

/**
 * The range of each limit a fleet may set (fleet.json's `limits`, `bkv fleet up --limits FILE`).
 * The floors keep the protocol working: a client frame fits in 4 KiB; a peer body must hold a 32
 * KiB snapshot chunk in base64 inside its envelope's escapes (ch. 6.6.2); the one listener of a
 * replica takes its peers', the relay's and status connections too (64); a commit under load
 * takes more than a few hundred milliseconds (1 s).
 */
export const LIMIT_RANGES: Readonly<Record<keyof ServeLimits, readonly [number, number]>> = Object.freeze({
  maxBodyBytes: [4 * 1024, 16 * 1024 * 1024],
  maxPeerBodyBytes: [256 * 1024, 64 * 1024 * 1024],
  maxWaiting: [1, 65_536],
  answerTimeoutMs: [1000, 600_000],
  requestTimeoutMs: [1000, 600_000],
  maxConnections: [64, 65_536],
});

/** Any of the limits, each an integer in its range (`path` names the object in a refusal). */
export function decodeLimits(x: unknown, path: string): Partial<ServeLimits> {
  const names = Object.keys(LIMIT_RANGES) as (keyof ServeLimits)[];
  const o = readMembers(x, path, [], names);
  const out: Partial<Record<keyof ServeLimits, number>> = {};
  for (const k of names) if (o[k] !== undefined) out[k] = readInt(o[k], `${path}.${k}`, ...LIMIT_RANGES[k]);
  return out;
}

/**
 * The bytes of entries (their JSON) an AppendEntries may carry so that its envelope fits in
 * `maxPeerBodyBytes`: the envelope carries the message's JSON as a JSON string, whose escapes at
 * most double it, beside a header of a few hundred bytes; a quarter of the limit leaves margin.
 */
export function peerBatchBytes(limits: ServeLimits): number {
  return Math.floor(limits.maxPeerBodyBytes / 4);
}
