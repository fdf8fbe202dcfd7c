/**
 * The simulated network and clock (spec ch. 6, "Simulation"): a discrete-event queue over
 * simulated milliseconds, and the network's behaviour drawn from a seeded rng. Nothing here reads
 * a real clock or a global random source, so a run is a function of its seed and its schedule.
 *
 *   delay      uniform in [minDelayMs, maxDelayMs] per message (so messages reorder); with
 *              probability slowRate, uniform in [maxDelayMs, slowDelayMs] instead (a slow path)
 *   drop       with probability dropRate
 *   duplicate  with probability duplicateRate, a second copy after another delay
 *   replay     with probability replayRate, a copy much later (up to replayDelayMs): an old message
 *   tamper     with probability tamperRate, one byte of the body flipped (the MAC must catch it)
 *   partition  a group per replica; a message between different groups is lost on arrival
 *
 * Events at the same time are processed in the order they were scheduled (a sequence number breaks
 * ties), so the order of events is total and reproducible.
 *
 * `SimNetwork` carries the fleet's traffic: MAC'd messages between replicas, and frames between
 * the clients and the replicas through the relay (spec ch. 3: the relay sees channel ids, frame
 * kinds and ciphertext). The relay is honest unless a `RelayHook` is installed: then every client
 * frame and every frame for a client passes through the hook, which may forward it, alter it, hold
 * it back, drop it or add its own (the hostile relay of spec ch. 13, src/scenarios/hostile-relay.ts).
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { randomInt } from '../crypto/rng.ts';
import { isVaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { type PeerEnvelope, openPeerMessage, readVaultCommand, sealPeerMessage } from '../replication/peer-auth.ts';
import type { Outbound, RaftMessage } from '../replication/raft.ts';
import type { ReplicaState } from '../replication/replica.ts';
import type { Frame } from '../vault/protocol.ts';
import type { Command } from '../vault/records.ts';
import type { SimFleet } from './fleet.ts';
import { type Observers, describeFrame, describeMessage } from './observers.ts';

export interface NetworkConditions {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly slowRate: number;
  readonly slowDelayMs: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly replayRate: number;
  readonly replayDelayMs: number;
  readonly tamperRate: number;
  /** Loss on the client <-> replica links (through the relay). */
  readonly clientDropRate: number;
}

export const RELIABLE_NETWORK: NetworkConditions = Object.freeze({
  minDelayMs: 1,
  maxDelayMs: 5,
  slowRate: 0,
  slowDelayMs: 300,
  dropRate: 0,
  duplicateRate: 0,
  replayRate: 0,
  replayDelayMs: 1000,
  tamperRate: 0,
  clientDropRate: 0,
});

/** A uniform float in [0, 1) from an rng (53 bits). */
export function randomUnit(rng: Rng): number {
  const b = rng(7);
  let x = 0;
  for (let i = 0; i < 7; i++) x = x * 256 + b[i]!;
  return (x % 2 ** 53) / 2 ** 53;
}

/** A uniform integer in [lo, hi]. */
export function randomBetween(rng: Rng, lo: number, hi: number): number {
  return hi <= lo ? lo : lo + randomInt(rng, hi - lo + 1);
}

export function chance(rng: Rng, p: number): boolean {
  return p > 0 && randomUnit(rng) < p;
}

interface Slot<E> {
  readonly time: number;
  readonly seq: number;
  readonly event: E;
}

/** A min-heap of events by (time, seq). */
export class EventQueue<E> {
  #heap: Slot<E>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, event: E): void {
    const h = this.#heap;
    h.push({ time, seq: this.#seq++, event });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  peekTime(): number | undefined {
    return this.#heap[0]?.time;
  }

  pop(): { time: number; event: E } | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return { time: top.time, event: top.event };
  }

  /** The pending events, in no particular order (for inspection and tracing). */
  pending(): readonly E[] {
    return this.#heap.map((s) => s.event);
  }

  #less(a: Slot<E>, b: Slot<E>): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }
}

/** Partition groups: replica -> group id. All in group 0 means connected. */
export class Partition {
  #group: number[];
  constructor(n: number) {
    this.#group = new Array<number>(n).fill(0);
  }
  /** Splits the replicas into `groups` (replicas not named form one more group). */
  split(groups: readonly (readonly number[])[]): void {
    const next = new Array<number>(this.#group.length).fill(groups.length);
    groups.forEach((g, k) => g.forEach((r) => (next[r] = k)));
    this.#group = next;
  }
  heal(): void {
    this.#group.fill(0);
  }
  connected(a: number, b: number): boolean {
    return this.#group[a] === this.#group[b];
  }
  get isHealed(): boolean {
    return this.#group.every((g) => g === this.#group[0]);
  }
  describe(): string {
    const groups = new Map<number, number[]>();
    this.#group.forEach((g, r) => groups.set(g, [...(groups.get(g) ?? []), r]));
    return [...groups.values()].map((g) => `{${g.map((r) => `r${r}`).join(',')}}`).join(' | ');
  }
}

/** A client (or relay) attached to the simulated network. */
export interface ClientEndpoint {
  onFrame(fleet: SimFleet, frame: Frame, from: number): void;
  onWake(fleet: SimFleet, token: number): void;
}

/**
 * The relay as a hook of the simulator. `toReplica`: client `client` sends `frame` to replica
 * `to`; `toClient`: replica `from` sends `frame` to client `client`. A hook passes a frame on with
 * `SimNetwork.forward` and `SimNetwork.deliver` (or not: it is the relay), when it likes. Absent
 * methods pass frames unchanged.
 */
export interface RelayHook {
  toReplica?(client: string, to: number, frame: Frame): void;
  toClient?(client: string, frame: Frame, from: number): void;
}

/** The network's events (the fleet's queue holds them with its timers and faults). */
export type NetworkEvent =
  | { readonly type: 'Peer'; readonly envelope: PeerEnvelope; readonly deliverTo: number }
  | { readonly type: 'ToReplica'; readonly replica: number; readonly frame: Frame; readonly client: string }
  | { readonly type: 'ToClient'; readonly client: string; readonly frame: Frame; readonly from: number }
  | { readonly type: 'Wake'; readonly client: string; readonly token: number };

/** What the network needs of a replica's host: who it is, whether it is up, its HSM (MACs). */
export interface NetworkHost {
  readonly id: number;
  readonly hsm: Hsm;
  readonly state: ReplicaState | null;
}

export interface NetworkOptions {
  readonly n: number;
  readonly conditions: NetworkConditions;
  readonly rng: Rng;
  /** The fleet's replication MAC key label. */
  readonly peerMac: string;
  /** Replica i's id, or a RangeError when there is none. */
  readonly replica: (i: number) => number;
  readonly push: (at: number, e: NetworkEvent) => void;
  readonly now: () => number;
}

export class SimNetwork {
  readonly partition: Partition;
  /** The relay's hook (null: an honest relay). */
  relay: RelayHook | null = null;
  readonly #o: NetworkOptions;
  readonly #fleet: SimFleet;
  readonly #observers: Observers;
  readonly #clients = new Map<string, ClientEndpoint>();
  /** The relay's routing: which client opened which channel. */
  readonly #channelOwner = new Map<string, string>();
  #conditions: NetworkConditions;

  constructor(o: NetworkOptions, fleet: SimFleet, observers: Observers) {
    this.#o = o;
    this.#fleet = fleet;
    this.#observers = observers;
    this.#conditions = o.conditions;
    this.partition = new Partition(o.n);
  }

  get conditions(): NetworkConditions {
    return this.#conditions;
  }

  update(conditions: Partial<NetworkConditions>): void {
    this.#conditions = { ...this.#conditions, ...conditions };
  }

  addClient(id: string, endpoint: ClientEndpoint): void {
    this.#clients.set(id, endpoint);
  }

  /** A client sends a frame through the relay to replica `to` (through the hook, if any). */
  sendFrame(client: string, to: number, frame: Frame): void {
    if (this.relay?.toReplica) this.relay.toReplica(client, to, frame);
    else this.forward(client, to, frame);
  }

  /** The relay passes a client's frame on to replica `to` (it may be lost on the way). */
  forward(client: string, to: number, frame: Frame): void {
    this.#observers.stats.clientFrames++;
    if (chance(this.#o.rng, this.#conditions.clientDropRate)) {
      this.#observers.log(() => `${client} -> r${to} ${frame.kind} lost`);
      return;
    }
    this.#o.push(this.#o.now() + this.delay(), { type: 'ToReplica', replica: this.#o.replica(to), frame, client });
  }

  /** A client frame reached a live replica: answers on its channel go to that client. */
  route(channel: string, client: string): void {
    this.#channelOwner.set(channel, client);
  }

  /** Replica `from` sends a frame to the client that opened its channel. */
  sendToClient(from: number, frame: Frame): void {
    const client = this.#channelOwner.get(frame.channel);
    if (client === undefined) return;
    if (chance(this.#o.rng, this.#conditions.clientDropRate)) {
      this.#observers.log(() => `r${from} -> ${client} ${frame.kind} lost`);
      return;
    }
    this.#o.push(this.#o.now() + this.delay(), { type: 'ToClient', client, frame, from });
  }

  /** A replica's frame reaches the relay: through the hook, if any, to the client. */
  toClient(client: string, frame: Frame, from: number): void {
    this.#observers.log(() => `r${from} -> ${client} ${describeFrame(frame)}`);
    if (this.relay?.toClient) this.relay.toClient(client, frame, from);
    else this.deliver(client, frame, from);
  }

  /** The relay hands a replica's frame to a client. */
  deliver(client: string, frame: Frame, from: number): void {
    this.#clients.get(client)?.onFrame(this.#fleet, frame, from);
  }

  /** A client asks to be woken at `at` with `token` (its timers). */
  wake(client: string, at: number, token: number): void {
    this.#o.push(Math.max(at, this.#o.now()), { type: 'Wake', client, token });
  }

  woke(client: string, token: number): void {
    this.#clients.get(client)?.onWake(this.#fleet, token);
  }

  /** Replica `from` sends a message to a peer: MAC'd, then perhaps dropped, tampered, duplicated or replayed. */
  sendPeer(from: NetworkHost, out: Outbound<Command>): void {
    const { rng, n } = this.#o;
    const stats = this.#observers.stats;
    const net = this.#conditions;
    const envelope = sealPeerMessage(from.hsm, this.#o.peerMac, from.id, out.to, out.message);
    stats.peerMessages++;
    if (out.message.type === 'InstallSnapshotRequest') stats.snapshotChunks++;
    if (out.message.type === 'AppendEntriesRequest' && out.message.entries.length > 0) {
      stats.appendsWithEntries++;
      stats.entriesShipped += out.message.entries.length;
    }
    if (chance(rng, net.dropRate)) {
      stats.dropped++;
      return;
    }
    let deliverTo = out.to;
    let sent = envelope;
    if (chance(rng, net.tamperRate)) {
      stats.tampered++;
      // the host alters the bytes, or misdirects the message to another replica
      if (chance(rng, 0.5)) sent = { ...envelope, body: `${envelope.body} ` };
      else deliverTo = (out.to + 1 + randomBetween(rng, 0, n - 2)) % n;
    }
    const now = this.#o.now();
    this.#o.push(now + this.delay(), { type: 'Peer', envelope: sent, deliverTo });
    if (chance(rng, net.duplicateRate)) {
      stats.duplicated++;
      this.#o.push(now + this.delay(), { type: 'Peer', envelope, deliverTo: out.to });
    }
    if (chance(rng, net.replayRate)) {
      stats.replayed++;
      const later = randomBetween(rng, net.maxDelayMs, Math.max(net.maxDelayMs, net.replayDelayMs));
      this.#o.push(now + later, { type: 'Peer', envelope, deliverTo: out.to });
    }
  }

  /**
   * A peer message arrives at `to` (undefined: no such replica): the message, or null when it is
   * lost (the replica is down, or in another partition group) or refused (its MAC or its form).
   */
  receivePeer(envelope: PeerEnvelope, to: NetworkHost | undefined): RaftMessage<Command> | null {
    const stats = this.#observers.stats;
    if (to === undefined || to.state === null) {
      stats.lostToCrash++;
      return null;
    }
    if (!this.partition.connected(envelope.from, to.id)) {
      stats.lostToPartition++;
      return null;
    }
    let message: RaftMessage<Command>;
    try {
      message = openPeerMessage(to.hsm, this.#o.peerMac, to.id, envelope, readVaultCommand);
    } catch (e) {
      if (!isVaultError(e, 'PeerAuthenticationFailed') && !isVaultError(e, 'MalformedMessage')) throw e;
      stats.refused++;
      this.#observers.log(() => `r${envelope.from} -> r${to.id} refused: ${e.message}`);
      return null;
    }
    this.#observers.log(() => `r${envelope.from} -> r${to.id} ${describeMessage(message)}`);
    return message;
  }

  /** A message delay: uniform, or on the slow path. */
  delay(): number {
    const { rng } = this.#o;
    const net = this.#conditions;
    if (chance(rng, net.slowRate)) return randomBetween(rng, net.maxDelayMs, Math.max(net.maxDelayMs, net.slowDelayMs));
    return randomBetween(rng, net.minDelayMs, net.maxDelayMs);
  }
}
