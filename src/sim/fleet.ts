/**
 * The simulated fleet (spec ch. 6 §6.8, "Simulation"): N vault replicas, each with its HSM, its
 * host storage and its timers, a seeded network between them and to the clients, and a simulated
 * clock. Every step processes one event (a message arrives, a timer fires, a fault strikes, a
 * client acts) with the pure step functions of `replica.ts`, then does what a replica's host does:
 *
 *   1. persist: if the durable state changed, seal it and advance the HSM anchor and ballot
 *   2. check (ghost): Raft safety, the vault's record invariants, G1 for any KE2 about to leave
 *   3. release: messages to peers (MAC'd with the fleet key), frames to clients (through the relay)
 *
 * Timeouts, crashes, restarts, partitions, drops, duplicates, replays, tampering and host-storage
 * rollbacks are ordinary events, scheduled at a simulated time or injected by a driver (the
 * scenario runner, the demo, a model checker). A run is a function of its seed and its schedule.
 *
 * This class is the event loop and its wiring; each concern is a module of its own:
 *
 *   hosts.ts      host persistence: kept blobs and forks, crash points inside a save, start/restart
 *   network.ts    the event queue, `SimNetwork` (peer messages, client frames, the `RelayHook`)
 *   timers.ts     election timeouts, heartbeat chains, the session-expiry tick
 *   faults.ts     the fault schedule and its injection
 *   observers.ts  counters, logs, the trace, and the safety monitor's hook `afterStep`
 *   ghosts.ts     the budget checker's events and the KE2 log (INV-3 at each KE2)
 * @module
 */
import { seededRng } from '../crypto/rng.ts';
import { isVaultError } from '../errors.ts';
import type { ClientContext } from '../client/session.ts';
import type { Hsm } from '../hsm/hsm.ts';
import type { VaultConfig } from '../vault/node.ts';
import type { Frame } from '../vault/protocol.ts';
import type { Command } from '../vault/records.ts';
import { pinnedClientContext } from '../vault/setup.ts';
import type { MemoryChainStorage } from '../vault/storage.ts';
import { type ReplicaAction, type ReplicaRules, RULES } from '../replication/host.ts';
import type { ReplicationLabels } from '../replication/provision.ts';
import { checkFleetSize } from '../replication/raft.ts';
import { type Fault, type FaultEvent, Faults } from './faults.ts';
import { Ghosts } from './ghosts.ts';
import { Hosts, type ReplicaView, type SimHost } from './hosts.ts';
import type { SafetyMonitor } from './monitor.ts';
import {
  type ClientEndpoint,
  type NetworkConditions,
  type NetworkEvent,
  EventQueue,
  type Partition,
  RELIABLE_NETWORK,
  SimNetwork,
} from './network.ts';
import { type ReplicaStep, isHsmFact } from '../replication/replica.ts';
import { type FleetStats, Observers } from './observers.ts';
import { DEFAULT_TIMING, type TimerEvent, type Timing, Timers } from './timers.ts';

export { type Fault, describeFault } from './faults.ts';
export type { ReplicaView } from './hosts.ts';
export type { ClientEndpoint, RelayHook } from './network.ts';
export { type FleetStats, describeEntry, describeMessage } from './observers.ts';
export { DEFAULT_TIMING, type Timing } from './timers.ts';

/** The simulator's snapshot interval: a few client operations. */
export const SIM_SNAPSHOT_EVERY = 8;

/** Bytes per InstallSnapshot chunk in the simulator: small, so that a record's snapshot takes several. */
export const SIM_SNAPSHOT_CHUNK_BYTES = 512;

export interface FleetOptions {
  readonly hsms: readonly Hsm[];
  readonly labels: ReplicationLabels;
  readonly config: VaultConfig;
  readonly seed: string;
  readonly timing?: Partial<Timing>;
  readonly network?: Partial<NetworkConditions>;
  /** Most entries per AppendEntries (default 256). */
  readonly maxBatch?: number;
  /**
   * A replica snapshots its records and compacts its log every this many applied entries (default
   * SIM_SNAPSHOT_EVERY: small, so that scenario runs take snapshots and catch followers up by them).
   */
  readonly snapshotEvery?: number;
  /** Most bytes of a snapshot per InstallSnapshot chunk (default SIM_SNAPSHOT_CHUNK_BYTES). */
  readonly snapshotChunkBytes?: number;
  /** The rules the replicas run (default RULES; a broken variant from src/broken/). */
  readonly rules?: ReplicaRules;
  /** Safety checks after every step (default true). */
  readonly checks?: boolean;
  /** Keep a readable line per step (default false: a failing run is replayed with it on). */
  readonly trace?: boolean;
}

type SimEvent =
  | NetworkEvent
  | TimerEvent
  | FaultEvent
  | { readonly type: 'Propose'; readonly replica: number; readonly command: Command | readonly Command[] };

export class SimFleet {
  readonly n: number;
  readonly config: VaultConfig;
  readonly labels: ReplicationLabels;
  readonly timing: Timing;
  readonly rules: ReplicaRules;
  /** What a client pins: the fleet's channel and OPAQUE server keys. */
  readonly clientContext: ClientContext;
  readonly observers: Observers;
  /** The network: its conditions, its partition, and the relay's hook (`network.relay`). */
  readonly network: SimNetwork;
  readonly stats: FleetStats;
  /** Ghost events for the budget checker (see `Ghosts`). */
  readonly events: Ghosts['events'];
  /** Every KE2 that left, with how many sealed logs held its ConsumeGuess entry then (see `Ghosts`). */
  readonly ke2Log: Ghosts['ke2Log'];
  /** Every leader elected (see `Observers`). */
  readonly leaderLog: Observers['leaderLog'];
  /** Every fault as it struck (see `Observers`). */
  readonly faultLog: Observers['faultLog'];
  /** Every replica crash and successful start (see `Observers`). */
  readonly lifeLog: Observers['lifeLog'];
  /** The simulated time of each logical tick: tick t (from 1) happened at `tickTimes[t - 1]` ms. */
  readonly tickTimes: number[] = [];
  readonly trace: readonly string[];
  /** With `trace`: each trace line's time and every replica's state then (see `Observers`). */
  readonly traceStates: Observers['traceStates'];
  readonly monitor: SafetyMonitor | null;
  readonly partition: Partition;
  now = 0;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #hosts: Hosts;
  readonly #timers: Timers;
  readonly #ghosts: Ghosts;
  readonly #faults: Faults;
  #tick = 0;

  constructor(o: FleetOptions) {
    this.n = checkFleetSize(o.hsms.length);
    this.config = o.config;
    this.labels = o.labels;
    this.timing = { ...DEFAULT_TIMING, ...o.timing };
    this.rules = o.rules ?? RULES;
    const now = () => this.now;
    const push = (at: number, e: SimEvent) => this.#queue.push(at, e);
    this.#timers = new Timers(this.timing, seededRng(`${o.seed}/timers`), push, now);
    this.observers = new Observers(this.n, o, now, () => this.#hosts.all.map((h) => h.state));
    ({ stats: this.stats, leaderLog: this.leaderLog, faultLog: this.faultLog, lifeLog: this.lifeLog } = this.observers);
    ({ trace: this.trace, traceStates: this.traceStates, monitor: this.monitor } = this.observers);
    const conditions = { ...RELIABLE_NETWORK, ...o.network };
    const rng = seededRng(`${o.seed}/network`);
    const replica = (i: number) => this.#hosts.get(i).id;
    const net = { n: this.n, conditions, rng, peerMac: o.labels.peerMac, replica, push, now };
    this.network = new SimNetwork(net, this, this.observers);
    this.partition = this.network.partition;
    this.clientContext = pinnedClientContext(o.hsms[0]!, o.config);
    const snapshotEvery = o.snapshotEvery ?? SIM_SNAPSHOT_EVERY;
    const snapshotChunkBytes = o.snapshotChunkBytes ?? SIM_SNAPSHOT_CHUNK_BYTES;
    const hostsOptions = { ...o, rules: this.rules, maxBatch: o.maxBatch ?? 256, snapshotEvery, snapshotChunkBytes };
    this.#hosts = new Hosts(hostsOptions, this.observers, this.#timers, now);
    const log = (line: () => string) => this.observers.log(line);
    const tick = () => this.tick();
    this.#ghosts = new Ghosts({ hosts: this.#hosts.all, monitor: this.monitor, now, tick, log });
    ({ events: this.events, ke2Log: this.ke2Log } = this.#ghosts);
    this.#faults = new Faults(this.#hosts, this.network, this.observers, push, now);
    for (const h of this.#hosts.all) this.#hosts.start(h);
  }

  // --------------------------------------------------------------------------------------------
  // Inspection

  replica(i: number): ReplicaView {
    return this.#hosts.view(this.#hosts.get(i));
  }

  replicas(): ReplicaView[] {
    return this.#hosts.all.map((h) => this.#hosts.view(h));
  }

  /** The serving leader with the highest term, if any. */
  leader(): number | null {
    let best: SimHost | null = null;
    for (const h of this.#hosts.all) {
      if (!h.state?.serving) continue;
      if (best === null || h.state.raft.durable.currentTerm > best.state!.raft.durable.currentTerm) best = h;
    }
    return best?.id ?? null;
  }

  /** The host storage of replica i (the host's powers: read the sealed blobs, roll back). */
  storage(i: number): MemoryChainStorage {
    return this.#hosts.get(i).storage;
  }

  /** A logical clock for histories: strictly increasing across the run. */
  tick(): number {
    this.tickTimes.push(this.now);
    return ++this.#tick;
  }

  // --------------------------------------------------------------------------------------------
  // Driving

  /** Processes the next event; false when nothing is scheduled. */
  step(): boolean {
    const next = this.#queue.pop();
    if (!next) return false;
    this.now = Math.max(this.now, next.time);
    if (this.#dispatch(next.event)) this.stats.steps++;
    return true;
  }

  /** Runs events until `done()` holds (true) or `ms` of simulated time pass (false). */
  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    for (;;) {
      if (done()) return true;
      const t = this.#queue.peekTime();
      if (t === undefined || t > end) {
        this.now = end;
        return done();
      }
      this.step();
    }
  }

  /** Runs every event of the next `ms` of simulated time. */
  runFor(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /**
   * The hosts stop attacking (phase 2 of a scenario): every crash armed inside a save is called off,
   * and faults scheduled for later are dropped. A fault injected from now on still applies.
   */
  calm(): void {
    this.#faults.calm();
  }

  /** Applies a fault now. */
  inject(fault: Fault): void {
    this.#faults.apply(fault);
  }

  /** Schedules a fault at absolute simulated time `at`. */
  schedule(at: number, fault: Fault): void {
    this.#faults.schedule(at, fault);
  }

  addClient(id: string, endpoint: ClientEndpoint): void {
    this.network.addClient(id, endpoint);
  }

  /** A client sends a frame through the relay (and its hook, if any) to replica `to`. */
  sendFrame(client: string, to: number, frame: Frame): void {
    this.network.sendFrame(client, to, frame);
  }

  /** Synthetic load: `command` (or several, one step) arrives at replica `to` at `at` (a serving leader appends it). */
  proposeAt(at: number, to: number, command: Command | readonly Command[]): void {
    this.#queue.push(Math.max(at, this.now), { type: 'Propose', replica: this.#hosts.get(to).id, command });
  }

  /** A client asks to be woken at `at` with `token` (its timers). */
  wake(client: string, at: number, token: number): void {
    this.network.wake(client, at, token);
  }

  // --------------------------------------------------------------------------------------------
  // Events

  #dispatch(e: SimEvent): boolean {
    switch (e.type) {
      case 'Peer': {
        const h = this.#hosts.all[e.deliverTo];
        const message = this.network.receivePeer(e.envelope, h);
        if (h !== undefined && message !== null) {
          try {
            this.#run(h, (steps, s, env) => steps.handlePeerMessage(s, e.envelope.from, message, env));
          } catch (err) {
            // an InstallSnapshot whose chunks decode to no state: refused at its last chunk, nothing changed
            if (!isVaultError(err, 'MalformedMessage')) throw err;
            this.stats.refused++;
            this.observers.log(() => `r${e.envelope.from} -> r${h.id} refused: ${err.message}`);
          }
        }
        return true;
      }
      case 'ToReplica': {
        const h = this.#hosts.all[e.replica]!;
        if (h.state === null) {
          this.observers.log(() => `${e.client} -> r${h.id} ${e.frame.kind} lost (r${h.id} is down)`);
          return true;
        }
        this.network.route(e.frame.channel, e.client);
        this.observers.log(() => `${e.client} -> r${h.id} ${e.frame.kind} ${e.frame.channel.slice(0, 6)}`);
        this.#run(h, (steps, s, env) => steps.handleClientFrame(s, e.frame, env));
        return true;
      }
      case 'ToClient':
        this.network.toClient(e.client, e.frame, e.from);
        return true;
      case 'Wake':
        this.network.woke(e.client, e.token);
        return true;
      case 'Propose': {
        const h = this.#hosts.all[e.replica]!;
        if (h.state?.serving) this.#run(h, (steps, s, env) => steps.proposeCommand(s, e.command, env));
        return h.state?.serving === true;
      }
      case 'Fault':
        return this.#faults.fire(e);
      case 'Timer': {
        const h = this.#hosts.all[e.replica]!;
        return this.#timers.fire(
          e,
          h,
          (action) => this.#run(h, action),
          (line) => this.observers.log(line),
        );
      }
    }
  }

  /** Runs one step of replica h, then persists, checks and releases (see the module header). */
  #run(h: SimHost, action: ReplicaAction): void {
    const before = h.state!;
    // 1. step and persist (what an HSM did in the step is recorded first: a crash in the persist keeps it)
    const facts = (st: ReplicaStep) => {
      for (const g of st.ghost) if (isHsmFact(g)) this.#ghosts.record(h.id, g);
    };
    const step = this.#hosts.step(h, action, facts);
    if (step === null) return;
    const after = step.state;
    // 2. check (the observers' hook), and a heartbeat chain per term in which h campaigns or leads
    this.observers.afterStep(h.id, before, after, step.ghost);
    const r = after.raft;
    const b = before.raft;
    const newTerm = b.role === 'follower' || b.durable.currentTerm !== r.durable.currentTerm;
    if (r.role !== 'follower' && newTerm) this.#timers.heartbeats(h, r.durable.currentTerm);
    // 3. release
    if (step.resetTimer) this.#timers.armElection(h);
    for (const g of step.ghost) if (!isHsmFact(g)) this.#ghosts.record(h.id, g);
    for (const out of step.messages) this.network.sendPeer(h, out);
    for (const f of step.frames) this.network.sendToClient(h.id, f);
  }
}
