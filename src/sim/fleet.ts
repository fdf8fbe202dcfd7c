/**
 * The simulated fleet (spec ch. 6, "Simulation"): N vault replicas, each with its HSM, its host
 * storage and its timers, a seeded network between them and to the clients, and a simulated
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
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import type { VaultEvent } from '../check/budget.ts';
import type { ClientContext } from '../client/session.ts';
import { isVaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { CrashPoint, HostCrash } from '../sim/crash.ts';
import type { VaultConfig } from '../vault/node.ts';
import type { Frame } from '../vault/protocol.ts';
import type { Command } from '../vault/records.ts';
import { pinnedClientContext } from '../vault/setup.ts';
import { MemoryChainStorage, type Version } from '../vault/storage.ts';
import type { Persist, Persistence } from '../replication/durable.ts';
import { type Hosted, type HostIo, type ReplicaAction, type ReplicaRules, RULES, raftConfig, startHosted, stepHosted } from '../replication/host.ts';
import { type NetworkConditions, EventQueue, Partition, RELIABLE_NETWORK, chance, randomBetween } from './network.ts';
import { type PeerEnvelope, openPeerMessage, readVaultCommand, sealPeerMessage } from '../replication/peer-auth.ts';
import type { ReplicationLabels } from '../replication/provision.ts';
import { type Durable, type Entry, type Outbound, type RaftConfig, type RaftMessage, EMPTY_DURABLE, checkFleetSize, termAt } from '../replication/raft.ts';
import { type GhostEvent, type ReplicaState, type ReplicaStep, isRedirect } from '../replication/replica.ts';
import { entryKey } from '../check/invariants.ts';
import { SafetyMonitor } from './monitor.ts';

export interface Timing {
  readonly heartbeatMs: number;
  readonly electionMinMs: number;
  readonly electionMaxMs: number;
  /** How often the serving leader runs session expiry. */
  readonly expiryTickMs: number;
}

export const DEFAULT_TIMING: Timing = Object.freeze({ heartbeatMs: 50, electionMinMs: 150, electionMaxMs: 300, expiryTickMs: 500 });

export type Fault =
  /**
   * The host kills the replica: now, or (`afterWrites` k >= 1) right after its k-th next durable
   * write, so between two HSM calls of a save or a start (src/sim/crash.ts).
   */
  | { readonly type: 'Crash'; readonly replica: number; readonly afterWrites?: number }
  | { readonly type: 'Restart'; readonly replica: number }
  /**
   * The host restarts the replica on the blob `saves` saves before its latest, not counting the starts'
   * reseals (`SimStorage.rollbackSaves`), none at all if more.
   */
  | { readonly type: 'Rollback'; readonly replica: number; readonly saves: number }
  /** The host restarts the replica on its kept blob number `blob` (0-based), older or newer: a fork. */
  | { readonly type: 'Fork'; readonly replica: number; readonly blob: number }
  | { readonly type: 'Partition'; readonly groups: readonly (readonly number[])[] }
  | { readonly type: 'Heal' }
  | { readonly type: 'Network'; readonly conditions: Partial<NetworkConditions> };

export interface FleetOptions {
  readonly hsms: readonly Hsm[];
  readonly labels: ReplicationLabels;
  readonly config: VaultConfig;
  readonly seed: string;
  readonly timing?: Partial<Timing>;
  readonly network?: Partial<NetworkConditions>;
  /** Most entries per AppendEntries (default 256). */
  readonly maxBatch?: number;
  /** The rules the replicas run (default RULES; a broken variant from src/broken/). */
  readonly rules?: ReplicaRules;
  /** Safety checks after every step (default true). */
  readonly checks?: boolean;
  /** Keep a readable line per step (default false: a failing run is replayed with it on). */
  readonly trace?: boolean;
}

/** A client (or relay) attached to the simulated network. */
export interface ClientEndpoint {
  onFrame(fleet: SimFleet, frame: Frame, from: number): void;
  onWake(fleet: SimFleet, token: number): void;
}

type SimEvent =
  | { readonly type: 'Peer'; readonly envelope: PeerEnvelope; readonly deliverTo: number }
  | { readonly type: 'ToReplica'; readonly replica: number; readonly frame: Frame; readonly client: string }
  | { readonly type: 'ToClient'; readonly client: string; readonly frame: Frame; readonly from: number }
  | { readonly type: 'Timer'; readonly replica: number; readonly timer: 'election' | 'heartbeat' | 'expiry'; readonly gen: number; readonly term?: number }
  | { readonly type: 'Wake'; readonly client: string; readonly token: number }
  | { readonly type: 'Propose'; readonly replica: number; readonly command: Command | readonly Command[] }
  | { readonly type: 'Fault'; readonly fault: Fault };

/** Host storage that keeps every blob, and (ghost) the durable state behind each. */
class SimStorage extends MemoryChainStorage {
  /** Ghost: the durable state behind each save in `history`. */
  readonly ghosts: Durable<Command>[] = [];
  /** Ghost: which saves in `history` a start wrote (its reseal of the state it resumed from). */
  readonly resealed: boolean[] = [];
  /** Ghost: what the replica is persisting (set by the observed persistence before each save). */
  saving: Durable<Command> = EMPTY_DURABLE;
  /** Ghost: the save under way is a start's reseal. */
  starting = false;
  override save(blob: Uint8Array): void {
    super.save(blob);
    this.ghosts.push(this.saving);
    this.resealed.push(this.starting);
  }
  override append(segment: Uint8Array): void {
    super.append(segment);
    this.ghosts.push(this.saving);
    this.resealed.push(false); // a segment follows a step's change, never a start
  }
  /** Ghost: the durable state of the blob a restart would now read. */
  get current(): Durable<Command> {
    const k = this.presented;
    return k === null ? EMPTY_DURABLE : this.ghosts[k]!;
  }
  /**
   * The host rolls back `n` saves, not counting the starts' reseals (each repeats a state the replica
   * resumed from): it presents the save `n` before the latest step's save, or none at all past the first.
   */
  rollbackSaves(n: number): void {
    const steps = [...this.history.keys()].filter((k) => !this.resealed[k]);
    const k = steps.length - 1 - n;
    if (k < 0) this.rollback(this.history.length);
    else this.present(steps[k]!);
  }
}

/** The rules' persistence, telling the storage (ghost) what each save holds. */
function observed(p: Persistence, storage: SimStorage): Persistence {
  return {
    load: (store, rng, persist = p.persist) => {
      storage.starting = true;
      try {
        return p.load(store, rng, watched(persist));
      } finally {
        storage.starting = false;
      }
    },
    persist: watched(p.persist),
  };
  function watched(persist: Persist): Persist {
    return (store, version, durable, rng, prev) => {
      storage.saving = durable as Durable<Command>;
      return persist(store, version, durable, rng, prev);
    };
  }
}

interface ReplicaHost {
  readonly id: number;
  readonly hsm: Hsm;
  readonly storage: SimStorage;
  readonly rng: Rng;
  readonly raftConfig: RaftConfig;
  readonly rules: ReplicaRules;
  readonly crash: CrashPoint;
  /** The HSM and storage as the replica sees them: its durable writes counted (crashes inside saves). */
  readonly io: HostIo;
  /** null while crashed. */
  state: ReplicaState | null;
  version: Version;
  /** Ghost: the entries (`entryKey`) a host rollback erased from this replica's sealed log (INV-3). */
  readonly lostToRollback: Set<string>;
  /** Bumped at each crash and restart: timers of an earlier life are ignored. */
  life: number;
  electionDeadline: number;
  electionPending: boolean;
}

export interface FleetStats {
  steps: number;
  peerMessages: number;
  /** AppendEntries requests that carried entries, and how many entries they carried in all (batching). */
  appendsWithEntries: number;
  entriesShipped: number;
  dropped: number;
  duplicated: number;
  replayed: number;
  tampered: number;
  refused: number;
  lostToPartition: number;
  lostToCrash: number;
  clientFrames: number;
  persists: number;
  elections: number;
  crashes: number;
  restarts: number;
  rollbacksDetected: number;
}

export interface ReplicaView {
  readonly id: number;
  readonly up: boolean;
  readonly state: ReplicaState | null;
  /** The durable state the host currently holds (ghost). */
  readonly sealed: Durable<Command>;
  /** The entries (`entryKey`) host rollbacks erased from this replica after it sealed them (ghost, INV-3). */
  readonly lostToRollback: ReadonlySet<string>;
}

export class SimFleet {
  readonly n: number;
  readonly config: VaultConfig;
  readonly labels: ReplicationLabels;
  readonly timing: Timing;
  readonly rules: ReplicaRules;
  /** What a client pins: the fleet's channel and OPAQUE server keys. */
  readonly clientContext: ClientContext;
  readonly stats: FleetStats = {
    steps: 0,
    peerMessages: 0,
    appendsWithEntries: 0,
    entriesShipped: 0,
    dropped: 0,
    duplicated: 0,
    replayed: 0,
    tampered: 0,
    refused: 0,
    lostToPartition: 0,
    lostToCrash: 0,
    clientFrames: 0,
    persists: 0,
    elections: 0,
    crashes: 0,
    restarts: 0,
    rollbacksDetected: 0,
  };
  /** Ghost events for the budget checker (src/check/budget.ts): what left the HSMs, when. */
  readonly events: VaultEvent[] = [];
  /** Every KE2 that left, with how many sealed logs held its ConsumeGuess entry at that moment. */
  readonly ke2Log: { at: number; replica: number; session: string; index: number; sealedOn: number }[] = [];
  /** Every leader elected: [time, replica, term]. */
  readonly leaderLog: { at: number; replica: number; term: number }[] = [];
  /** Every fault as it struck (a crash armed inside a save strikes later: see `lifeLog`). */
  readonly faultLog: { at: number; fault: Fault }[] = [];
  /** Every replica crash (`up: false`) and successful start (`up: true`), as it happened. */
  readonly lifeLog: { at: number; replica: number; up: boolean }[] = [];
  /** The simulated time of each logical tick: tick t (from 1) happened at `tickTimes[t - 1]` ms. */
  readonly tickTimes: number[] = [];
  readonly trace: string[] = [];
  /** With `trace`: each trace line's time and every replica's state then (null: down), for reports. */
  readonly traceStates: { at: number; replicas: readonly (ReplicaState | null)[] }[] = [];
  readonly monitor: SafetyMonitor | null;
  readonly partition: Partition;
  now = 0;
  #network: NetworkConditions;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #hosts: ReplicaHost[];
  readonly #netRng: Rng;
  readonly #timerRng: Rng;
  readonly #clients = new Map<string, ClientEndpoint>();
  /** The relay's routing: which client opened which channel. */
  readonly #channelOwner = new Map<string, string>();
  readonly #registered = new Set<number>();
  readonly #resets = new Set<number>();
  readonly #tracing: boolean;
  #tick = 0;
  #calm = false;

  constructor(o: FleetOptions) {
    this.n = checkFleetSize(o.hsms.length);
    this.config = o.config;
    this.labels = o.labels;
    this.timing = { ...DEFAULT_TIMING, ...o.timing };
    this.rules = o.rules ?? RULES;
    this.#network = { ...RELIABLE_NETWORK, ...o.network };
    this.#netRng = seededRng(`${o.seed}/network`);
    this.#timerRng = seededRng(`${o.seed}/timers`);
    this.#tracing = o.trace === true;
    this.monitor = o.checks === false ? null : new SafetyMonitor(this.n);
    this.partition = new Partition(this.n);
    this.clientContext = pinnedClientContext(o.hsms[0]!, o.config);
    this.#hosts = o.hsms.map((hsm, id) => {
      const storage = new SimStorage();
      const crash = new CrashPoint(id);
      const rng = seededRng(`${o.seed}/replica/${id}`);
      const io: HostIo = { hsm: crash.hsm(hsm), storage: crash.storage(storage), sealLabel: this.labels.seal, rng, sealRng: rng };
      return {
        id,
        hsm,
        storage,
        rng,
        raftConfig: raftConfig(this.rules, id, this.n, o.maxBatch ?? 256),
        rules: { ...this.rules, persistence: observed(this.rules.persistence, storage) },
        crash,
        io,
        state: null,
        version: 0n,
        lostToRollback: new Set<string>(),
        life: 0,
        electionDeadline: 0,
        electionPending: false,
      };
    });
    for (const h of this.#hosts) this.#start(h);
  }

  // --------------------------------------------------------------------------------------------
  // Inspection

  get network(): NetworkConditions {
    return this.#network;
  }

  replica(i: number): ReplicaView {
    const h = this.#host(i);
    return { id: h.id, up: h.state !== null, state: h.state, sealed: h.storage.current, lostToRollback: h.lostToRollback };
  }

  replicas(): ReplicaView[] {
    return this.#hosts.map((h) => this.replica(h.id));
  }

  /** The serving leader with the highest term, if any. */
  leader(): number | null {
    let best: ReplicaHost | null = null;
    for (const h of this.#hosts) {
      if (h.state?.serving && (best === null || h.state.raft.durable.currentTerm > best.state!.raft.durable.currentTerm)) best = h;
    }
    return best?.id ?? null;
  }

  /** The host storage of replica i (the host's powers: read the sealed blobs, roll back). */
  storage(i: number): MemoryChainStorage {
    return this.#host(i).storage;
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
    for (const h of this.#hosts) h.crash.disarm();
    this.#calm = true;
  }

  /** Applies a fault now. */
  inject(fault: Fault): void {
    this.#applyFault(fault);
  }

  /** Schedules a fault at absolute simulated time `at`. */
  schedule(at: number, fault: Fault): void {
    this.#queue.push(Math.max(at, this.now), { type: 'Fault', fault });
  }

  addClient(id: string, endpoint: ClientEndpoint): void {
    this.#clients.set(id, endpoint);
  }

  /** A client sends a frame through the relay to replica `to`. */
  sendFrame(client: string, to: number, frame: Frame): void {
    this.stats.clientFrames++;
    if (chance(this.#netRng, this.#network.clientDropRate)) {
      this.#log(() => `${client} -> r${to} ${frame.kind} lost`);
      return;
    }
    this.#queue.push(this.now + this.#delay(), { type: 'ToReplica', replica: this.#host(to).id, frame, client });
  }

  /** Synthetic load: `command` (or several, one step) arrives at replica `to` at `at` (a serving leader appends it). */
  proposeAt(at: number, to: number, command: Command | readonly Command[]): void {
    this.#queue.push(Math.max(at, this.now), { type: 'Propose', replica: this.#host(to).id, command });
  }

  /** A client asks to be woken at `at` with `token` (its timers). */
  wake(client: string, at: number, token: number): void {
    this.#queue.push(Math.max(at, this.now), { type: 'Wake', client, token });
  }

  // --------------------------------------------------------------------------------------------
  // Events

  #dispatch(e: SimEvent): boolean {
    switch (e.type) {
      case 'Peer':
        this.#deliverPeer(e.envelope, e.deliverTo);
        return true;
      case 'ToReplica': {
        const h = this.#hosts[e.replica]!;
        if (h.state === null) {
          this.#log(() => `${e.client} -> r${h.id} ${e.frame.kind} lost (r${h.id} is down)`);
          return true;
        }
        this.#channelOwner.set(e.frame.channel, e.client);
        this.#log(() => `${e.client} -> r${h.id} ${e.frame.kind} ${e.frame.channel.slice(0, 6)}`);
        this.#run(h, (steps, s, env) => steps.handleClientFrame(s, e.frame, env));
        return true;
      }
      case 'ToClient': {
        this.#log(() => `r${e.from} -> ${e.client} ${describeFrame(e.frame)}`);
        this.#clients.get(e.client)?.onFrame(this, e.frame, e.from);
        return true;
      }
      case 'Wake':
        this.#clients.get(e.client)?.onWake(this, e.token);
        return true;
      case 'Propose': {
        const h = this.#hosts[e.replica]!;
        if (h.state?.serving) this.#run(h, (steps, s, env) => steps.proposeCommand(s, e.command, env));
        return h.state?.serving === true;
      }
      case 'Fault':
        if (this.#calm) return false;
        this.#applyFault(e.fault);
        return true;
      case 'Timer':
        return this.#timer(e);
    }
  }

  #timer(e: Extract<SimEvent, { type: 'Timer' }>): boolean {
    const h = this.#hosts[e.replica]!;
    if (h.state === null || e.gen !== h.life) return false;
    switch (e.timer) {
      case 'election':
        if (this.now < h.electionDeadline) {
          this.#queue.push(h.electionDeadline, e); // the deadline moved on: sleep again (lazy timer)
          return false;
        }
        h.electionPending = false;
        if (h.state.raft.role === 'leader') {
          this.#armElection(h); // a leader ignores it, but keeps it armed for when it steps down
          return false;
        }
        this.#log(() => `r${h.id} election timeout (term ${h.state!.raft.durable.currentTerm})`);
        this.#run(h, (steps, s, env) => steps.onElectionTimeout(s, env));
        this.#armElection(h);
        return true;
      case 'heartbeat': {
        // one chain per term in which h leads or campaigns
        const { role, durable } = h.state.raft;
        if (role === 'follower' || e.term !== durable.currentTerm) return false;
        this.#run(h, (steps, s, env) => steps.onHeartbeat(s, env));
        this.#queue.push(this.now + this.timing.heartbeatMs, e);
        return true;
      }
      case 'expiry':
        this.#queue.push(this.now + this.timing.expiryTickMs, e);
        if (!h.state.serving) return false;
        this.#run(h, (steps, s, env) => steps.onSessionExpiry(s, env));
        return true;
    }
  }

  #deliverPeer(envelope: PeerEnvelope, to: number): void {
    const h = this.#hosts[to];
    if (h === undefined || h.state === null) {
      this.stats.lostToCrash++;
      return;
    }
    if (!this.partition.connected(envelope.from, to)) {
      this.stats.lostToPartition++;
      return;
    }
    let message: RaftMessage<Command>;
    try {
      message = openPeerMessage(h.hsm, this.labels.peerMac, to, envelope, readVaultCommand);
    } catch (e) {
      if (!isVaultError(e, 'PeerAuthenticationFailed') && !isVaultError(e, 'MalformedMessage')) throw e;
      this.stats.refused++;
      this.#log(() => `r${envelope.from} -> r${to} refused: ${e.message}`);
      return;
    }
    this.#log(() => `r${envelope.from} -> r${to} ${describeMessage(message)}`);
    this.#run(h, (steps, s, env) => steps.handlePeerMessage(s, envelope.from, message, env));
  }

  /** Runs one step of replica h, then persists, checks and releases (see the module header). */
  #run(h: ReplicaHost, action: ReplicaAction): void {
    const before = h.state!;
    let ran: { hosted: Hosted; step: ReplicaStep };
    try {
      // 1. step and persist
      ran = stepHosted(h.rules, h.io, { state: before, version: h.version }, action, this.now, this.config);
    } catch (e) {
      if (!(e instanceof HostCrash)) throw e;
      this.#log(() => `r${h.id} crashed by its host in the middle of a save`);
      this.#crash(h);
      return;
    }
    const { step } = ran;
    const after = step.state;
    h.state = after;
    h.version = ran.hosted.version;
    if (after.raft.durable !== before.raft.durable) this.stats.persists++;
    const r = after.raft;
    const b = before.raft;
    // 2. check
    const m = this.monitor;
    const becameLeader = r.role === 'leader' && (b.role !== 'leader' || b.durable.currentTerm !== r.durable.currentTerm);
    if (becameLeader) {
      this.stats.elections++;
      this.leaderLog.push({ at: this.now, replica: h.id, term: r.durable.currentTerm });
      this.#log(() => `r${h.id} becomes leader of term ${r.durable.currentTerm}`);
      m?.onBecameLeader(h.id, r.durable.currentTerm);
    }
    // a heartbeat chain per term in which h campaigns or leads (it re-asks votes, then sends AppendEntries)
    if (r.role !== 'follower' && (b.role === 'follower' || b.durable.currentTerm !== r.durable.currentTerm)) {
      this.#queue.push(this.now + this.timing.heartbeatMs, { type: 'Timer', replica: h.id, timer: 'heartbeat', gen: h.life, term: r.durable.currentTerm });
    }
    if (m) {
      const committedBefore = m.committed.length;
      if (r.commitIndex > b.commitIndex) m.onCommit(h.id, r, b.commitIndex);
      if (r.durable.log !== b.durable.log || r.commitIndex !== b.commitIndex) {
        m.checkCommittedPrefix(h.id, r);
        m.checkLogMatching(h.id, this.#hosts.map((x) => x.state?.raft.durable.log ?? null));
      }
      if (becameLeader || m.committed.length > committedBefore) for (const x of this.#hosts) if (x.state) m.checkLeaderCompleteness(x.id, x.state.raft);
      if (after.lastApplied !== before.lastApplied) m.checkRecords(h.id, after.node.vault);
    }
    // 3. release
    if (step.resetTimer) this.#armElection(h);
    for (const g of step.ghost) this.#ghost(h, g);
    for (const out of step.messages) this.#sendPeer(h, out);
    for (const f of step.frames) this.#sendToClient(h, f);
  }

  #ghost(h: ReplicaHost, g: GhostEvent): void {
    switch (g.type) {
      case 'Applied':
        this.monitor?.onApplied(h.id, g.index, g.entry);
        return;
      case 'Registered':
        if (this.#registered.has(g.index)) return; // one registration, applied on every replica
        this.#registered.add(g.index);
        this.events.push({ type: 'Registered', credential: g.credential, limit: g.limit, at: this.tick() });
        return;
      case 'Ke2Sent': {
        const sealedLogs = this.#hosts.map((x) => x.storage.current.log as readonly Entry<Command>[]);
        this.ke2Log.push({ at: this.now, replica: h.id, session: g.session, index: g.index, sealedOn: sealedLogs.filter((log) => termAt(log, g.index) === g.term).length });
        this.monitor?.checkKe2(g.index, g.term, sealedLogs, this.#hosts.map((x) => x.lostToRollback));
        this.#log(() => `r${h.id} KE2 leaves for session ${g.session.slice(0, 6)} (ConsumeGuess at index ${g.index})`);
        this.events.push({ type: 'Ke2Sent', credential: g.credential, session: g.session, at: this.tick() });
        return;
      }
      case 'Ke3Verified':
        this.events.push({ type: 'Ke3Verified', credential: g.credential, session: g.session, at: this.tick() });
        return;
      case 'Reset':
        // The budget restarts when the Reset first takes effect, whether or not K reached the
        // client (spec ch. 6): the checker's `Reset`, once per entry. `Released`: K left an HSM.
        // Both must follow a verified KE3 of their session (G3).
        if (!this.#resets.has(g.index)) {
          this.#resets.add(g.index);
          this.events.push({ type: 'Reset', credential: g.credential, session: g.session, at: this.tick() });
        }
        if (g.released) {
          this.#log(() => `r${h.id} K released in session ${g.session.slice(0, 6)}`);
          this.events.push({ type: 'Released', credential: g.credential, session: g.session, at: this.tick() });
        }
        return;
    }
  }

  #sendPeer(h: ReplicaHost, out: Outbound<Command>): void {
    const net = this.#network;
    const envelope = sealPeerMessage(h.hsm, this.labels.peerMac, h.id, out.to, out.message);
    this.stats.peerMessages++;
    if (out.message.type === 'AppendEntriesRequest' && out.message.entries.length > 0) {
      this.stats.appendsWithEntries++;
      this.stats.entriesShipped += out.message.entries.length;
    }
    if (chance(this.#netRng, net.dropRate)) {
      this.stats.dropped++;
      return;
    }
    let deliverTo = out.to;
    let sent = envelope;
    if (chance(this.#netRng, net.tamperRate)) {
      this.stats.tampered++;
      // the host alters the bytes, or misdirects the message to another replica
      if (chance(this.#netRng, 0.5)) sent = { ...envelope, body: `${envelope.body} ` };
      else deliverTo = (out.to + 1 + randomBetween(this.#netRng, 0, this.n - 2)) % this.n;
    }
    this.#queue.push(this.now + this.#delay(), { type: 'Peer', envelope: sent, deliverTo });
    if (chance(this.#netRng, net.duplicateRate)) {
      this.stats.duplicated++;
      this.#queue.push(this.now + this.#delay(), { type: 'Peer', envelope, deliverTo: out.to });
    }
    if (chance(this.#netRng, net.replayRate)) {
      this.stats.replayed++;
      this.#queue.push(this.now + randomBetween(this.#netRng, net.maxDelayMs, Math.max(net.maxDelayMs, net.replayDelayMs)), { type: 'Peer', envelope, deliverTo: out.to });
    }
  }

  #sendToClient(h: ReplicaHost, frame: Frame): void {
    const client = this.#channelOwner.get(frame.channel);
    if (client === undefined) return;
    if (chance(this.#netRng, this.#network.clientDropRate)) {
      this.#log(() => `r${h.id} -> ${client} ${frame.kind} lost`);
      return;
    }
    this.#queue.push(this.now + this.#delay(), { type: 'ToClient', client, frame, from: h.id });
  }

  // --------------------------------------------------------------------------------------------
  // Faults, restarts, timers

  #applyFault(f: Fault): void {
    this.faultLog.push({ at: this.now, fault: f });
    this.#log(() => `FAULT ${describeFault(f)}`);
    switch (f.type) {
      case 'Crash': {
        const h = this.#host(f.replica);
        if (f.afterWrites === undefined || f.afterWrites < 1) this.#crash(h);
        else if (h.state !== null) h.crash.arm(f.afterWrites);
        return;
      }
      case 'Restart': {
        const h = this.#host(f.replica);
        if (h.state !== null) return;
        this.stats.restarts++;
        this.#start(h);
        return;
      }
      case 'Rollback': {
        const h = this.#host(f.replica);
        this.#restartOn(h, () => h.storage.rollbackSaves(Math.max(0, f.saves)));
        return;
      }
      case 'Fork': {
        const h = this.#host(f.replica);
        if (h.storage.history.length === 0) return;
        this.#restartOn(h, () => h.storage.present(Math.min(Math.max(0, f.blob), h.storage.history.length - 1)));
        return;
      }
      case 'Partition':
        this.partition.split(f.groups);
        return;
      case 'Heal':
        this.partition.heal();
        return;
      case 'Network':
        this.#network = { ...this.#network, ...f.conditions };
        return;
    }
  }

  /**
   * The host restarts h on another blob than its latest (a rollback or a fork). A detected one
   * restarts the replica with an empty log: every entry it had sealed is gone from it, however
   * shallow the rollback (INV-3 forgives them, spec ch. 12.4). An undetected one (only a broken
   * vault lets one happen) erases nothing INV-3 may forgive.
   */
  #restartOn(h: ReplicaHost, present: () => void): void {
    const before = h.storage.current.log;
    this.#crash(h);
    present();
    this.stats.restarts++;
    if (this.#start(h)) {
      const restarted = h.storage.current.log;
      before.forEach((e, k) => {
        if (termAt(restarted, k + 1) !== e.term) h.lostToRollback.add(entryKey(k + 1, e.term));
      });
    }
  }

  #crash(h: ReplicaHost): void {
    h.crash.disarm();
    if (h.state === null) return;
    h.state = null;
    h.life++;
    h.electionPending = false;
    this.stats.crashes++;
    this.lifeLog.push({ at: this.now, replica: h.id, up: false });
  }

  /** Starts (or restarts) replica h from what its host storage holds; true when it found the storage rolled back. */
  #start(h: ReplicaHost): boolean {
    let started;
    try {
      started = startHosted(h.rules, h.io, h.raftConfig);
    } catch (e) {
      if (!(e instanceof HostCrash)) throw e;
      this.#log(() => `r${h.id} crashed by its host while starting`);
      h.life++;
      return false;
    }
    const durable = started.hosted.state.raft.durable;
    h.version = started.hosted.version;
    h.life++;
    h.state = started.hosted.state;
    this.lifeLog.push({ at: this.now, replica: h.id, up: true });
    if (started.rolledBack) {
      this.stats.rollbacksDetected++;
      this.stats.persists++;
      this.#log(() => `r${h.id} restarts: host storage rolled back, lost or altered, rejoins as recovering in term ${durable.currentTerm}`);
    } else {
      this.#log(() => `r${h.id} starts: term ${durable.currentTerm}, log of ${durable.log.length}${durable.recovering ? ', recovering' : ''}`);
    }
    h.electionPending = false;
    this.#armElection(h);
    this.#queue.push(this.now + this.timing.expiryTickMs, { type: 'Timer', replica: h.id, timer: 'expiry', gen: h.life });
    return started.rolledBack;
  }

  #armElection(h: ReplicaHost): void {
    h.electionDeadline = this.now + randomBetween(this.#timerRng, this.timing.electionMinMs, this.timing.electionMaxMs);
    if (!h.electionPending) {
      h.electionPending = true;
      this.#queue.push(h.electionDeadline, { type: 'Timer', replica: h.id, timer: 'election', gen: h.life });
    }
  }

  #delay(): number {
    const net = this.#network;
    if (chance(this.#netRng, net.slowRate)) return randomBetween(this.#netRng, net.maxDelayMs, Math.max(net.maxDelayMs, net.slowDelayMs));
    return randomBetween(this.#netRng, net.minDelayMs, net.maxDelayMs);
  }

  #host(i: number): ReplicaHost {
    const h = this.#hosts[i];
    if (h === undefined) throw new RangeError(`no replica ${i} in a fleet of ${this.n}`);
    return h;
  }

  #log(line: () => string): void {
    if (!this.#tracing) return;
    this.trace.push(`${String(this.now).padStart(6)} ms  ${line()}`);
    this.traceStates.push({ at: this.now, replicas: this.#hosts.map((h) => h.state) });
  }
}

// ----------------------------------------------------------------------------------------------
// Readable descriptions (traces)

export function describeMessage(m: RaftMessage<Command>): string {
  switch (m.type) {
    case 'RequestVoteRequest':
      return `RequestVote(term ${m.term}, last ${m.lastLogIndex}/${m.lastLogTerm})`;
    case 'RequestVoteResponse':
      return `Vote(term ${m.term}, ${m.voteGranted ? 'granted' : 'refused'})`;
    case 'AppendEntriesRequest':
      return `AppendEntries(term ${m.term}, prev ${m.prevLogIndex}/${m.prevLogTerm}, ${m.entries.length ? `+${m.entries.length} [${m.entries.map(describeEntry).join(', ')}]` : 'heartbeat'}, commit ${m.leaderCommit}${m.recoveryNonce ? `, nonce ${m.recoveryNonce.slice(0, 6)}` : ''})`;
    case 'AppendEntriesResponse':
      return `AppendEntriesAck(term ${m.term}, ${m.success ? `match ${m.matchIndex}` : `refused, last ${m.lastLogIndex}`}${m.recoveryNonce ? `, recovering ${m.recoveryNonce.slice(0, 6)}` : ''})`;
  }
}

export function describeEntry(e: Entry<Command>): string {
  const c = e.command;
  if (c === null) return `t${e.term}:no-op`;
  const who = c.credentialId.slice(0, 6);
  const session = 'sessionId' in c ? ` ${c.sessionId.slice(0, 6)}` : '';
  const reason = c.type === 'EndSession' ? ` ${c.reason}` : '';
  return `t${e.term}:${c.type}(${who}${session}${reason})`;
}

export function describeFault(f: Fault): string {
  switch (f.type) {
    case 'Crash':
      return f.afterWrites ? `Crash(r${f.replica}, after ${f.afterWrites} durable writes)` : `Crash(r${f.replica})`;
    case 'Restart':
      return `${f.type}(r${f.replica})`;
    case 'Rollback':
      return `Rollback(r${f.replica}, ${f.saves} saves)`;
    case 'Fork':
      return `Fork(r${f.replica}, blob ${f.blob})`;
    case 'Partition':
      return `Partition(${f.groups.map((g) => `{${g.map((r) => `r${r}`).join(',')}}`).join(' | ')})`;
    case 'Heal':
      return 'Heal';
    case 'Network':
      return `Network(${JSON.stringify(f.conditions)})`;
  }
}

function describeFrame(f: Frame): string {
  if (f.kind === 'Alert') return `Alert ${new TextDecoder().decode(f.bytes)}${isRedirect(f) && f.leaderHint !== null ? ` (leader r${f.leaderHint})` : ''}`;
  return `${f.kind} ${f.channel.slice(0, 6)} (${f.bytes.length} bytes)`;
}

