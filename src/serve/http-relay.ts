/**
 * The relay in front of a running fleet, as a client library (spec ch. 15.2): the `Relay` of
 * src/client/client.ts over HTTP, so the ordinary `BkvClient` talks to real processes. It routes
 * as the simulator's relay (src/sim/relay.ts) does:
 *
 *   Handshake1   to the replica it believes leads; Alert NotLeader -> the hinted replica (or the
 *                next one); Alert Unavailable or a refused connection -> a little later, again (the
 *                replica changed nothing); until `deadlineMs` has passed
 *   Transport    to the replica that answered the channel's Handshake1
 *   no answer    null (the client reports Unavailable): a timeout, a 504, a connection cut while
 *                the request was out. The frame may have been processed: it is never resent
 *
 * The relay process (`bkv relay`, relay-server.ts) runs one `HttpRelay` for all its clients; a
 * client of that process uses `endpointRelay` (one POST per frame to it, no routing of its own).
 *
 * It is untrusted as the relay of spec ch. 1: it sees channel ids, frame kinds and ciphertext.
 * @module
 */
import type { Relay } from '../client/client.ts';
import type { Frame } from '../vault/protocol.ts';
import { urlOf } from './layout.ts';
import { decodeFrame, encodeFrame, httpCall } from './wire.ts';

export interface HttpRelayOptions {
  /** How long one request may wait for its answer (the replica answers 504 after its own limit). */
  readonly requestTimeoutMs?: number;
  /** How long a Handshake1 keeps looking for a serving leader. */
  readonly deadlineMs?: number;
  readonly retryMs?: number;
  /** Channels whose replica it remembers (the oldest forgotten first); default 10 000. */
  readonly maxChannels?: number;
}

/** What happened to one frame sent. */
export type Sent =
  | { readonly kind: 'answer'; readonly frame: Frame & { leaderHint?: number | null }; readonly from: number }
  /** Nothing reached the replica (the connection was refused): nothing happened. */
  | { readonly kind: 'refused' }
  /** It may have arrived: no answer (timeout, 504, connection cut), or an error status. */
  | { readonly kind: 'lost'; readonly why: string };

export class HttpRelay implements Relay {
  leaderGuess: number;
  readonly addresses: readonly string[];
  readonly #channelReplica = new Map<string, number>();
  readonly #requestTimeoutMs: number;
  readonly #deadlineMs: number;
  readonly #retryMs: number;
  readonly #maxChannels: number;

  constructor(addresses: readonly string[], o: HttpRelayOptions = {}) {
    this.addresses = addresses;
    this.leaderGuess = 0;
    this.#requestTimeoutMs = o.requestTimeoutMs ?? 6000;
    this.#deadlineMs = o.deadlineMs ?? 15_000;
    this.#retryMs = o.retryMs ?? 100;
    this.#maxChannels = o.maxChannels ?? 10_000;
  }

  async exchange(frame: Frame): Promise<Frame | null> {
    const r = await this.send(frame);
    return r.kind === 'answer' ? r.frame : null;
  }

  async post(frame: Frame): Promise<void> {
    await this.send(frame);
  }

  /** Sends a frame, routed as the module header says, and says what came of it. */
  async send(frame: Frame): Promise<Sent> {
    if (frame.kind !== 'Handshake1') {
      const to = this.#channelReplica.get(frame.channel) ?? this.leaderGuess;
      return this.#sendTo(to, frame);
    }
    const end = Date.now() + this.#deadlineMs;
    let last: Sent = { kind: 'refused' };
    while (Date.now() < end) {
      const to = this.leaderGuess;
      const r = await this.#sendTo(to, frame);
      last = r;
      if (r.kind === 'lost') {
        this.leaderGuess = (to + 1) % this.addresses.length;
        return r;
      }
      if (r.kind === 'refused') {
        this.leaderGuess = (to + 1) % this.addresses.length;
        await sleep(this.#retryMs);
        continue;
      }
      if (r.frame.kind === 'Alert') {
        const code = new TextDecoder().decode(r.frame.bytes);
        if (code === 'NotLeader') {
          const hint = r.frame.leaderHint ?? null;
          this.leaderGuess =
            hint !== null && hint !== to && hint < this.addresses.length ? hint : (to + 1) % this.addresses.length;
          if (hint === null || hint === to) await sleep(this.#retryMs);
          continue;
        }
        if (code === 'Unavailable') {
          await sleep(this.#retryMs);
          continue;
        }
      }
      this.leaderGuess = to;
      this.#remember(frame.channel, to);
      return r;
    }
    return last.kind === 'answer' ? { kind: 'lost', why: 'no serving leader' } : last;
  }

  async #sendTo(to: number, frame: Frame): Promise<Sent> {
    return postFrame(this.addresses[to]!, frame, this.#requestTimeoutMs, to);
  }

  /** Remembers which replica holds a channel; the oldest is forgotten past `maxChannels` (bounded memory). */
  #remember(channel: string, to: number): void {
    this.#channelReplica.delete(channel);
    this.#channelReplica.set(channel, to);
    if (this.#channelReplica.size > this.#maxChannels) {
      this.#channelReplica.delete(this.#channelReplica.keys().next().value!);
    }
  }
}

/**
 * One frame, one POST to `address` (host:port) on a connection of its own, so that a refused
 * connection surely means that nothing was sent; what came of it (an answer labelled `from`).
 */
export async function postFrame(address: string, frame: Frame, timeoutMs: number, from = 0): Promise<Sent> {
  let answer;
  try {
    answer = await httpCall(urlOf(address, '/v1/frame'), 'POST', encodeFrame(frame), timeoutMs, true);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED') return { kind: 'refused' };
    return { kind: 'lost', why: (e as Error).message };
  }
  if (answer.status !== 200) return { kind: 'lost', why: `HTTP ${answer.status} ${answer.body}` };
  try {
    return { kind: 'answer', frame: decodeFrame(answer.body), from };
  } catch {
    return { kind: 'lost', why: 'an answer that is not a frame' };
  }
}

/**
 * A client's relay to a relay process (or any client endpoint) at `address`: each frame one POST,
 * never resent; no answer (refused, lost, an error status) is null, which the client reports as
 * `Unavailable`. The routing is the relay process's.
 */
export function endpointRelay(address: string, timeoutMs: number): Relay & { send(frame: Frame): Promise<Sent> } {
  const send = (frame: Frame) => postFrame(address, frame, timeoutMs);
  return {
    send,
    async exchange(frame) {
      const r = await send(frame);
      return r.kind === 'answer' ? r.frame : null;
    },
    async post(frame) {
      await send(frame);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
