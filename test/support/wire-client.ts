/**
 * A client that speaks the wire protocol by hand over any relay (a single replica's, the fleet's):
 * it opens a Noise NK channel with a request of its choosing and sends further requests on it, so
 * a test can put any bytes where an honest client puts an OPAQUE message (spec ch. 3). Each call
 * returns the vault's answer as a client reads it: a response, or the code of an Alert, or nothing.
 * @module
 */
import type { Rng } from '../../src/crypto/bytes.ts';
import { type Transport, initiatorFinish, initiatorStart } from '../../src/crypto/noise.ts';
import type { Relay } from '../../src/client/client.ts';
import { type ClientContext, newChannelId } from '../../src/client/session.ts';
import { type Frame, type Request, type Response, decodeResponse, encodeRequest } from '../../src/vault/protocol.ts';

export type Answer =
  | { readonly kind: 'response'; readonly response: Response }
  | { readonly kind: 'alert'; readonly code: string }
  | { readonly kind: 'none' };

/** The code an answer refuses with, or null when it is not a refusal. */
export function refusal(a: Answer): string | null {
  if (a.kind === 'alert') return a.code;
  if (a.kind === 'response' && a.response.type === 'Error') return a.response.code;
  return null;
}

type Opened = { channel: WireChannel; answer: Answer };
type Opening = { payload: Uint8Array; transport: Transport };

/** One channel of a hand-driven client; `transport` is null until the vault has answered Handshake2. */
export class WireChannel {
  readonly id: string;
  transport: Transport | null = null;
  readonly #ctx: ClientContext;
  readonly #relay: Relay;

  private constructor(ctx: ClientContext, relay: Relay, id: string) {
    this.#ctx = ctx;
    this.#relay = relay;
    this.id = id;
  }

  /** Opens a channel whose Handshake1 carries `request` (any bytes); returns the channel and the answer. */
  static async open(ctx: ClientContext, relay: Relay, request: Request | Uint8Array, rng: Rng): Promise<Opened> {
    const channel = new WireChannel(ctx, relay, newChannelId(rng));
    const payload = request instanceof Uint8Array ? request : encodeRequest(request);
    const { message, state } = initiatorStart(ctx.noise, {
      responderStatic: ctx.channelKey,
      prologue: ctx.prologue,
      payload,
      rng,
    });
    const reply = await relay.exchange({ channel: channel.id, kind: 'Handshake1', bytes: message });
    return { channel, answer: channel.#read(reply, 'Handshake2', (bytes) => initiatorFinish(state, bytes)) };
  }

  /** Sends `request` on the open channel; returns the answer. */
  async send(request: Request): Promise<Answer> {
    if (this.transport === null) throw new Error(`channel ${this.id} is not open`);
    const sent = this.transport.send(encodeRequest(request));
    const reply = await this.#relay.exchange({ channel: this.id, kind: 'Transport', bytes: sent.message });
    return this.#read(reply, 'Transport', (bytes) => sent.transport.receive(bytes));
  }

  #read(reply: Frame | null, expected: Frame['kind'], open: (bytes: Uint8Array) => Opening): Answer {
    if (reply === null) return { kind: 'none' };
    if (reply.kind === 'Alert') return { kind: 'alert', code: new TextDecoder().decode(reply.bytes) };
    if (reply.kind !== expected) throw new Error(`expected ${expected}, got ${reply.kind}`);
    const { payload, transport } = open(reply.bytes);
    this.transport = transport;
    return { kind: 'response', response: decodeResponse(this.#ctx.params.suite, payload) };
  }
}
