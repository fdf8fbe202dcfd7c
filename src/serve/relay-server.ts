/**
 * The relay as a process of its own (spec ch. 1, ch. 15.2 "The relay"): the untrusted front end
 * between clients and the fleet. It serves the client endpoint of a replica (`POST /v1/frame`,
 * the same JSON frame, the same limits and refusals: endpoint.ts) and routes each frame with one
 * `HttpRelay` (http-relay.ts) shared by all its clients:
 *
 *   Handshake1   to the replica it believes leads, following NotLeader hints; again only when
 *                nothing can have happened (a refused connection, an Alert Unavailable)
 *   Transport    to the replica that answered the channel's Handshake1
 *   answer       200 with the replica's frame, as it came
 *   refused      503 Unavailable: no replica took the frame (nothing happened)
 *   lost         504 Unavailable: the frame may have arrived; it is never resent
 *
 * It sees what any relay sees (channel ids, frame kinds, ciphertext, which replica answers) and
 * holds no key: a client's channel is Noise NK to the fleet's channel key (ch. 3).
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { FrameSlots, acceptClientFrame, closeServer, listen, readBody, refuse, reply } from './endpoint.ts';
import { HttpRelay, type HttpRelayOptions } from './http-relay.ts';
import { DEFAULT_LIMITS, type ServeLimits, encodeFrame } from './wire.ts';

/**
 * How the relay routes: a replica answers a frame within its `answerTimeoutMs` (4 s) or says 504,
 * so one attempt waits 6 s at most; a Handshake1 looks for a serving leader for 10 s (an election
 * takes 0.8-1.6 s per round). A relay's answer can thus take up to 16 s.
 */
export const RELAY_ROUTING: Required<Pick<HttpRelayOptions, 'requestTimeoutMs' | 'deadlineMs' | 'retryMs'>> =
  Object.freeze({ requestTimeoutMs: 6000, deadlineMs: 10_000, retryMs: 100 });

/** How long a client waits for the relay's answer: longer than the relay's longest routing. */
export const CLIENT_TIMEOUT_MS = 20_000;

export interface RelayServerOptions {
  /** host:port to listen on. */
  readonly listen: string;
  /** host:port of each replica, in replica order (a NotLeader hint is an index into it). */
  readonly replicas: readonly string[];
  readonly limits?: Partial<ServeLimits>;
  /** Default RELAY_ROUTING. */
  readonly routing?: HttpRelayOptions;
  /** One line per event (default: stdout). */
  readonly log?: (line: string) => void;
}

/** What the relay's `GET /v1/status` answers. */
export interface RelayStatus {
  readonly relay: true;
  readonly pid: number;
  readonly address: string;
  readonly replicas: readonly string[];
  readonly leaderGuess: number;
  readonly waiting: number;
  /** Frames by outcome since the start. */
  readonly frames: { readonly answered: number; readonly refused: number; readonly lost: number };
  readonly upMs: number;
}

export class RelayServer {
  readonly #o: RelayServerOptions;
  readonly #limits: ServeLimits;
  readonly #relay: HttpRelay;
  readonly #waiting: FrameSlots<object>;
  readonly #log: (line: string) => void;
  readonly #started = Date.now();
  readonly #frames = { answered: 0, refused: 0, lost: 0 };
  #server: Server | null = null;

  constructor(o: RelayServerOptions) {
    this.#o = o;
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.#relay = new HttpRelay(o.replicas, { ...RELAY_ROUTING, ...o.routing });
    this.#waiting = new FrameSlots(this.#limits.maxWaiting);
    this.#log = o.log ?? ((line) => process.stdout.write(line + '\n'));
  }

  async start(): Promise<string> {
    this.#server = await listen(this.#o.listen, this.#limits, (req, res) => this.#handle(req, res));
    this.#say(`listening on ${this.#o.listen}, relaying to ${this.#o.replicas.join(', ')}; pid ${process.pid}`);
    return this.#o.listen;
  }

  async stop(): Promise<void> {
    await closeServer(this.#server);
    this.#say('stopped');
  }

  status(): RelayStatus {
    return {
      relay: true,
      pid: process.pid,
      address: this.#o.listen,
      replicas: this.#o.replicas,
      leaderGuess: this.#relay.leaderGuess,
      waiting: this.#waiting.size,
      frames: { ...this.#frames },
      upMs: Date.now() - this.#started,
    };
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '';
    if (req.method === 'GET' && path === '/v1/status') return reply(res, 200, JSON.stringify(this.status()));
    if (req.method !== 'POST' || path !== '/v1/frame') {
      req.resume();
      return refuse(res, 404, 'NotFound');
    }
    readBody(req, this.#limits.maxBodyBytes).then(
      (body) => (body === null ? refuse(res, 413, 'MalformedMessage', true) : this.#onFrame(body, res)),
      () => res.destroy(),
    );
  }

  #onFrame(body: string, res: ServerResponse): void {
    const frame = acceptClientFrame(body, res);
    if (frame === null) return;
    const holder = {};
    if (!this.#waiting.take(frame.channel, holder, res)) return;
    this.#relay.send(frame).then(
      (r) => {
        this.#waiting.release(frame.channel, holder);
        if (r.kind === 'answer') {
          this.#frames.answered++;
          return reply(res, 200, encodeFrame(r.frame));
        }
        this.#frames[r.kind]++;
        const why = r.kind === 'lost' ? `may have arrived (${r.why})` : 'reached no replica';
        this.#say(`${frame.kind} on ${frame.channel.slice(0, 8)}: ${why}`);
        refuse(res, r.kind === 'refused' ? 503 : 504, 'Unavailable');
      },
      (e: unknown) => {
        this.#waiting.release(frame.channel, holder);
        this.#frames.lost++;
        this.#say(`${frame.kind} on ${frame.channel.slice(0, 8)}: lost (${(e as Error).message})`);
        refuse(res, 504, 'Unavailable');
      },
    );
  }

  #say(text: string): void {
    this.#log(`${new Date().toISOString()} relay ${text}`);
  }
}
