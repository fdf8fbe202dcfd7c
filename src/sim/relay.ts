/**
 * A relay (the front end) in front of the simulated fleet, for the `BkvClient` of
 * `src/client/client.ts`: `exchange` sends a frame over the simulated network and runs the
 * simulation until the answer arrives (or a timeout passes), so the ordinary async client drives a
 * replicated vault unchanged. The relay routes as a front end would:
 *
 *   Handshake1         to the replica it believes leads; on Alert NotLeader it follows the hint
 *                      (or tries the next replica), on Alert Unavailable it waits and resends:
 *                      the replica changed nothing, so resending the same Handshake1 is safe
 *   Transport          to the replica that holds the channel (the one that answered Handshake1)
 *   no answer          null (the client reports Unavailable); the next Handshake1 goes elsewhere
 *
 * It never resends a frame that may have been processed: a lost answer stays lost (an `info`).
 * @module
 */
import type { Relay } from '../client/client.ts';
import type { Frame } from '../vault/protocol.ts';
import type { ClientEndpoint, SimFleet } from './fleet.ts';
import { isRedirect } from '../replication/replica.ts';

export interface FleetRelayOptions {
  readonly name?: string;
  readonly timeoutMs?: number;
  readonly retryMs?: number;
  readonly maxRedirects?: number;
}

export class FleetRelay implements Relay, ClientEndpoint {
  readonly name: string;
  /** Where the next Handshake1 goes. */
  leaderGuess = 0;
  /** Every frame carried, both ways, with the replica at the other end (for the demo's narration). */
  readonly log: {
    readonly dir: 'to' | 'from';
    readonly replica: number;
    readonly frame: Frame;
    readonly at: number;
  }[] = [];
  readonly #fleet: SimFleet;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #maxRedirects: number;
  readonly #mailbox = new Map<string, { frame: Frame; from: number }>();
  readonly #channelReplica = new Map<string, number>();

  constructor(fleet: SimFleet, o: FleetRelayOptions = {}) {
    this.#fleet = fleet;
    this.name = o.name ?? 'relay';
    this.#timeoutMs = o.timeoutMs ?? 2000;
    this.#retryMs = o.retryMs ?? 50;
    this.#maxRedirects = o.maxRedirects ?? 100;
    fleet.addClient(this.name, this);
  }

  /** The replica holding a channel (the one that answered its Handshake1). */
  replicaOf(channel: string): number | undefined {
    return this.#channelReplica.get(channel);
  }

  async exchange(frame: Frame): Promise<Frame | null> {
    return this.exchangeNow(frame);
  }

  async post(frame: Frame): Promise<void> {
    this.#send(this.#channelReplica.get(frame.channel) ?? this.leaderGuess, frame);
  }

  /** `exchange`, synchronously (the simulation runs inside the call). */
  exchangeNow(frame: Frame): Frame | null {
    if (frame.kind !== 'Handshake1')
      return this.#roundTrip(this.#channelReplica.get(frame.channel) ?? this.leaderGuess, frame)?.frame ?? null;
    for (let attempt = 0; attempt <= this.#maxRedirects; attempt++) {
      const target = this.leaderGuess;
      const answer = this.#roundTrip(target, frame);
      if (answer === null) return null;
      const { frame: reply, from } = answer;
      if (reply.kind === 'Alert') {
        const code = new TextDecoder().decode(reply.bytes);
        if (code === 'NotLeader') {
          const hint = isRedirect(reply) ? reply.leaderHint : null;
          this.leaderGuess = hint !== null && hint !== from ? hint : (from + 1) % this.#fleet.n;
          if (hint === null) this.#fleet.runFor(this.#retryMs);
          continue;
        }
        if (code === 'Unavailable') {
          this.#fleet.runFor(this.#retryMs);
          continue;
        }
      }
      this.leaderGuess = from;
      this.#channelReplica.set(frame.channel, from);
      return reply;
    }
    return null;
  }

  onFrame(fleet: SimFleet, frame: Frame, from: number): void {
    this.log.push({ dir: 'from', replica: from, frame, at: fleet.now });
    if (!this.#mailbox.has(frame.channel)) this.#mailbox.set(frame.channel, { frame, from });
  }

  onWake(): void {}

  #send(to: number, frame: Frame): void {
    this.log.push({ dir: 'to', replica: to, frame, at: this.#fleet.now });
    this.#fleet.sendFrame(this.name, to, frame);
  }

  #roundTrip(to: number, frame: Frame): { frame: Frame; from: number } | null {
    this.#mailbox.delete(frame.channel);
    this.#send(to, frame);
    const arrived = this.#fleet.runUntil(() => this.#mailbox.has(frame.channel), this.#timeoutMs);
    if (!arrived) {
      if (to === this.leaderGuess) this.leaderGuess = (to + 1) % this.#fleet.n; // perhaps down: ask another next time
      return null;
    }
    const answer = this.#mailbox.get(frame.channel)!;
    this.#mailbox.delete(frame.channel);
    return answer;
  }
}
