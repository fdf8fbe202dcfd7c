/**
 * One replica as a real process (spec ch. 15.1): the third runtime of the protocol core, after the
 * explorer and the simulator. It drives the same step functions through the same host functions
 * (`startHosted`, `stepHosted`, src/replication/host.ts), with
 *
 *   timers      real ones: election (random in [min, max], re-armed when a step says so),
 *               heartbeat (candidates and leaders), session expiry (the serving leader)
 *   peers       HTTP POST /v1/peer to the other replicas, each message MAC'd with the fleet's peer
 *               key; fire and forget: a lost message is Raft's to survive
 *   clients     HTTP POST /v1/frame: the frame is handed to `handleClientFrame`; the request waits
 *               for the first frame the replica releases on that channel (now, or once an entry
 *               commits), or answers 504 after `answerTimeoutMs`
 *   storage     the sealed chain in a file: a base written atomically, segments appended
 *               (chain-file.ts); the HSM: a memory token in a file, or a SoftHSM2 token
 *
 * Node runs one step at a time: a step, its persist (synchronous fsyncs and HSM calls) and the
 * release of its outputs happen with nothing in between, as in the simulator's `#run`. A crash (a
 * `kill -9`) can land between any two system calls of a persist; what is released left only after
 * the persist returned. The ghost events (what left the HSM) go to `events.jsonl` before release.
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { systemRng } from '../crypto/rng.ts';
import { isVaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import {
  type Hosted,
  type HostIo,
  type ReplicaAction,
  type ReplicaRules,
  raftConfig,
  startHosted,
  stepHosted,
} from '../replication/host.ts';
import { openPeerMessage, readVaultCommand, sealPeerMessage } from '../replication/peer-auth.ts';
import type { Outbound, RaftConfig } from '../replication/raft.ts';
import { type GhostEvent, type ReplicaStep, isHsmFact } from '../replication/replica.ts';
import type { VaultConfig } from '../vault/node.ts';
import { tableSize } from '../vault/record-table.ts';
import type { Command } from '../vault/records.ts';
import type { Frame } from '../vault/protocol.ts';
import { FrameSlots, acceptClientFrame, closeServer, listen, readBody, refuse, reply } from './endpoint.ts';
import { FileChainStorage } from './chain-file.ts';
import { type FleetFile, SEALED_FILE, fleetConfig, fleetLabelsOf, replicaDir, urlOf } from './layout.ts';
import {
  DEFAULT_LIMITS,
  peerBatchBytes,
  type ReplicaStatus,
  type ServeLimits,
  decodeEnvelope,
  encodeEnvelope,
  encodeFrame,
  httpCall,
} from './wire.ts';

export interface ReplicaServerOptions {
  readonly dir: string;
  readonly id: number;
  readonly fleet: FleetFile;
  readonly hsm: Hsm;
  readonly rules: ReplicaRules;
  readonly limits?: Partial<ServeLimits>;
  /** One line per event (default: stdout). */
  readonly log?: (line: string) => void;
}

type Waiter = (frame: Frame) => void;

/** A replica process's ghost event, as `events.jsonl` holds it: the event, the replica, the wall time in ms. */
export type LoggedGhost = GhostEvent & { readonly replica: number; readonly at: number };

/** Wall-clock time in ms with sub-millisecond precision, comparable across processes of one machine. */
export function wallTime(): number {
  return performance.timeOrigin + performance.now();
}

export class ReplicaServer {
  readonly id: number;
  readonly #fleet: FleetFile;
  readonly #rules: ReplicaRules;
  readonly #config: VaultConfig;
  readonly #raft: RaftConfig;
  readonly #io: HostIo;
  readonly #storage: FileChainStorage;
  readonly #limits: ServeLimits;
  readonly #log: (line: string) => void;
  readonly #events: number;
  readonly #waiters: FrameSlots<Waiter>;
  readonly #dropped = new Set<number>();
  readonly #started = Date.now();
  #hosted: Hosted | null = null;
  #server: Server | null = null;
  #election: NodeJS.Timeout | null = null;
  #timers: NodeJS.Timeout[] = [];
  #persists = 0;
  #stopping = false;
  #refusalLoggedAt = 0;
  #refusalsUnlogged = 0;

  constructor(o: ReplicaServerOptions) {
    this.id = o.id;
    this.#fleet = o.fleet;
    this.#rules = o.rules;
    this.#config = fleetConfig(o.fleet);
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    const raft = raftConfig(o.rules, o.id, o.fleet.replicas, 64);
    this.#raft = { ...raft, maxBatchBytes: peerBatchBytes(this.#limits) };
    this.#waiters = new FrameSlots(this.#limits.maxWaiting);
    this.#log = o.log ?? ((line) => process.stdout.write(line + '\n'));
    const dir = replicaDir(o.dir, o.id);
    this.#storage = new FileChainStorage(join(dir, SEALED_FILE));
    this.#io = {
      hsm: o.hsm,
      sealLabel: fleetLabelsOf(o.fleet).seal,
      storage: this.#storage,
      rng: systemRng,
      sealRng: systemRng,
    };
    this.#events = openSync(join(dir, 'events.jsonl'), 'a');
  }

  /** Loads the durable state (a new incarnation), listens, and arms the timers. */
  async start(): Promise<string> {
    const started = startHosted(this.#rules, this.#io, this.#raft);
    this.#hosted = started.hosted;
    const d = started.hosted.state.raft.durable;
    if (started.rolledBack)
      this.#say(
        `start: host storage rolled back, lost or altered (${started.refusal?.message}); ` +
          `recovering in term ${d.currentTerm}`,
      );
    else
      this.#say(
        `start: term ${d.currentTerm}, log of ${d.log.length}${d.recovering ? ', recovering' : ''}, pid ${process.pid}`,
      );
    const server = await listen(this.#fleet.addresses[this.id]!, this.#limits, (req, res) => this.#handle(req, res));
    this.#server = server;
    const t = this.#fleet.timing;
    this.#armElection();
    this.#timers.push(setInterval(() => this.#tick('heartbeat'), t.heartbeatMs));
    this.#timers.push(setInterval(() => this.#tick('expiry'), t.expiryTickMs));
    this.#say(`listening on ${this.#fleet.addresses[this.id]}`);
    return this.#fleet.addresses[this.id]!;
  }

  /** Stops cleanly (SIGTERM): no more steps, the listener closed, the HSM closed. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#election) clearTimeout(this.#election);
    await closeServer(this.#server);
    closeSync(this.#events);
    this.#io.hsm.close();
    this.#say('stopped');
  }

  status(): ReplicaStatus {
    const s = this.#hosted!.state;
    return {
      id: this.id,
      pid: process.pid,
      role: s.raft.role,
      term: s.raft.durable.currentTerm,
      serving: s.serving,
      commitIndex: s.raft.commitIndex,
      lastApplied: s.lastApplied,
      logLength: s.raft.durable.log.length,
      leaderHint: s.raft.role === 'leader' ? this.id : s.raft.leaderHint,
      recovering: s.raft.durable.recovering,
      records: tableSize(s.node.vault.records), // not Object.keys: that enumerates (and orders) every record
      persists: this.#persists,
      hostBytes: this.#storage.bytesWritten,
      upMs: Date.now() - this.#started,
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Steps

  /** One step, its persist, then the release of its outputs (the module header). */
  #run(action: ReplicaAction): void {
    if (this.#stopping || this.#hosted === null) return;
    const before = this.#hosted.state;
    const ran: { hosted: Hosted; step: ReplicaStep } = stepHosted(
      this.#rules,
      this.#io,
      this.#hosted,
      action,
      Date.now(),
      this.#config,
      (st) => st.ghost.filter(isHsmFact).forEach((g) => this.#ghost(g)), // before the persist a kill may cut
    );
    this.#hosted = ran.hosted;
    const { step } = ran;
    const r = step.state.raft;
    if (r.durable !== before.raft.durable) this.#persists++;
    if (r.role !== before.raft.role || r.durable.currentTerm !== before.raft.durable.currentTerm) {
      this.#say(
        `${r.role} in term ${r.durable.currentTerm}` +
          (r.leaderHint !== null && r.role === 'follower' ? ` (leader r${r.leaderHint})` : ''),
      );
    }
    if (step.state.serving && !before.serving)
      this.#say(`serving clients (term ${r.durable.currentTerm}, commit ${r.commitIndex})`);
    if (step.resetTimer) this.#armElection();
    for (const g of step.ghost) if (!isHsmFact(g)) this.#ghost(g);
    for (const m of step.messages) this.#sendPeer(m);
    for (const f of step.frames) this.#release(f);
  }

  #ghost(g: GhostEvent): void {
    if (g.type === 'Applied') return;
    const line = JSON.stringify({ ...g, replica: this.id, at: wallTime() }) + '\n';
    writeSync(this.#events, line);
    if (g.type === 'Registered') this.#say(`registered ${g.credential.slice(0, 12)} (index ${g.index})`);
    if (g.type === 'Ke2Sent')
      this.#say(`KE2 leaves for session ${g.session.slice(0, 8)} of ${g.credential.slice(0, 12)} (index ${g.index})`);
    if (g.type === 'Reset' && g.released)
      this.#say(`K released in session ${g.session.slice(0, 8)} of ${g.credential.slice(0, 12)}`);
  }

  #release(f: Frame): void {
    const w = this.#waiters.get(f.channel);
    if (w === undefined) return; // nobody waits on that channel (it gave up): the frame is lost, as on a network
    this.#waiters.release(f.channel, w);
    w(f);
  }

  #armElection(): void {
    if (this.#election) clearTimeout(this.#election);
    const t = this.#fleet.timing;
    const ms = t.electionMinMs + Math.floor(Math.random() * (t.electionMaxMs - t.electionMinMs + 1));
    this.#election = setTimeout(() => {
      this.#election = null;
      if (this.#hosted?.state.raft.role !== 'leader') this.#run((steps, s, env) => steps.onElectionTimeout(s, env));
      if (this.#election === null) this.#armElection();
    }, ms);
  }

  #tick(timer: 'heartbeat' | 'expiry'): void {
    const s = this.#hosted?.state;
    if (!s) return;
    if (timer === 'heartbeat' && s.raft.role !== 'follower') this.#run((steps, x, env) => steps.onHeartbeat(x, env));
    if (timer === 'expiry' && s.serving) this.#run((steps, x, env) => steps.onSessionExpiry(x, env));
  }

  #sendPeer(out: Outbound<Command>): void {
    if (this.#dropped.has(out.to)) return;
    const envelope = sealPeerMessage(this.#io.hsm, fleetLabelsOf(this.#fleet).peerMac, this.id, out.to, out.message);
    const address = this.#fleet.addresses[out.to];
    if (address === undefined) return;
    httpCall(urlOf(address, '/v1/peer'), 'POST', encodeEnvelope(envelope), 1000).catch(() => {
      // the peer is down or slow: Raft resends
    });
  }

  // ----------------------------------------------------------------------------------------------
  // HTTP

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '';
    if (req.method === 'GET' && path === '/v1/status') return reply(res, 200, JSON.stringify(this.status()));
    if (req.method !== 'POST' || !['/v1/frame', '/v1/peer', '/v1/admin/drop'].includes(path)) {
      req.resume();
      return refuse(res, 404, 'NotFound');
    }
    const limit = path === '/v1/peer' ? this.#limits.maxPeerBodyBytes : this.#limits.maxBodyBytes;
    readBody(req, limit).then(
      (body) => {
        if (body === null) return refuse(res, 413, 'MalformedMessage', true);
        if (path === '/v1/peer') return this.#onPeer(body, res);
        if (path === '/v1/frame') return this.#onFrame(body, res);
        return this.#onDrop(body, res);
      },
      () => res.destroy(),
    );
  }

  #onPeer(body: string, res: ServerResponse): void {
    reply(res, 204, '');
    if (this.#stopping) return;
    let env;
    try {
      env = decodeEnvelope(body);
      if (this.#dropped.has(env.from)) return;
      const message = openPeerMessage(this.#io.hsm, fleetLabelsOf(this.#fleet).peerMac, this.id, env, readVaultCommand);
      const from = env.from;
      this.#run((steps, s, e) => steps.handlePeerMessage(s, from, message, e));
    } catch (e) {
      if (!isVaultError(e, 'PeerAuthenticationFailed') && !isVaultError(e, 'MalformedMessage')) throw e;
      this.#sayRefusal(e.message);
    }
  }

  /** A refused peer message, logged at most once a second (anyone can POST to /v1/peer). */
  #sayRefusal(what: string): void {
    const now = Date.now();
    if (now - this.#refusalLoggedAt < 1000) return void this.#refusalsUnlogged++;
    const more = this.#refusalsUnlogged > 0 ? ` (and ${this.#refusalsUnlogged} more not logged)` : '';
    this.#say(`peer message refused: ${what}${more}`);
    this.#refusalLoggedAt = now;
    this.#refusalsUnlogged = 0;
  }

  #onFrame(body: string, res: ServerResponse): void {
    const frame = acceptClientFrame(body, res);
    if (frame === null) return;
    const timer = setTimeout(() => {
      this.#waiters.release(frame.channel, waiter);
      refuse(res, 504, 'Unavailable');
    }, this.#limits.answerTimeoutMs);
    const waiter: Waiter = (f) => {
      clearTimeout(timer);
      reply(res, 200, encodeFrame(f));
    };
    if (!this.#waiters.take(frame.channel, waiter, res)) return clearTimeout(timer);
    res.on('close', () => {
      this.#waiters.release(frame.channel, waiter);
      clearTimeout(timer);
    });
    this.#run((steps, s, env) => steps.handleClientFrame(s, frame, env));
  }

  #onDrop(body: string, res: ServerResponse): void {
    if (!this.#fleet.chaosAdmin) return refuse(res, 404, 'NotFound');
    let peers: unknown;
    try {
      peers = (JSON.parse(body) as { peers?: unknown }).peers;
    } catch {
      peers = null;
    }
    if (!Array.isArray(peers) || !peers.every((p) => Number.isInteger(p))) {
      return refuse(res, 400, 'MalformedMessage');
    }
    this.#dropped.clear();
    for (const p of peers as number[]) this.#dropped.add(p);
    this.#say(peers.length ? `partitioned from ${peers.map((p) => `r${p}`).join(', ')}` : 'partition healed');
    reply(res, 204, '');
  }

  #say(text: string): void {
    this.#log(`${new Date().toISOString()} r${this.id} ${text}`);
  }
}
