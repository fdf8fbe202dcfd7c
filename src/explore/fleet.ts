/**
 * The replicated vault as an explorable system (spec ch. 10, "The explorer"): the real replica,
 * consensus and persistence code (`host.ts` over `replica.ts`, `raft.ts`, `durable.ts`,
 * `storage.ts`, and the record rules of `records.ts` through node.ts's `onCommitted`), run by a
 * breadth-first search over every interleaving of the parties' actions and the adversary's, within
 * a bound. Nothing of the protocol is restated here; what is abstract is the client's channel:
 * crypto is beside the point, so a client's action is the command its request proposes (as node.ts
 * proposes it), handed to the serving leader with `proposeCommand`, and its answer is what that
 * leader's apply tells a channel it still holds.
 *
 *   Timeout(i)          i's election timer fires                              (onElectionTimeout)
 *   Heartbeat(i)        i, leading or campaigning, (re)sends to its peers     (onHeartbeat)
 *   Deliver(j>i m)      i receives message m from j, any message in flight, in any order, however
 *                       late (reordering, delay); `Deliver and keep` leaves it in flight for another
 *                       delivery (duplication, replay: `duplicates` in all); Drop(m) loses it
 *                                                                              (handlePeerMessage)
 *   Ke1(s>i)            session s's KE1 reaches serving leader i: ConsumeGuess
 *   Ke3(s) / Abort(s)   a right-password session that read its KE2 sends KE3 (Reset); a wrong one
 *                       aborts (EndSession abort), on the channel its leader still holds
 *   Expire(i)           serving leader i's session expiry (EndSession expired; channels close)
 *   Crash(i)            the host kills i; every action that saves has variants killed right after
 *                       its 1st, 2nd, 3rd durable write (blob, anchor, ballot)
 *   Restart(i, b)       i's host restarts it on its latest blob, or, a forking host (one of the
 *                       first `forking`), on any blob it kept or none: rollbacks and forks
 *
 * A KE2 leaves when the leader that holds the session's channel applies its ConsumeGuess and the
 * rules accept it; then INV-1 (the budget since the last Reset took effect) and INV-3 (the entry
 * sealed on a majority) are checked. After every step: INV-4 and INV-7 on the replica's records,
 * INV-8..11 with their ghost state (src/check/invariants.ts). The HSM is the model HSM
 * (model-hsm.ts), so a state's bytes name it.
 * @module
 */
import { isVaultError } from '../errors.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import * as inv from '../check/invariants.ts';
import {
  type Durable,
  type Entry,
  type RaftMessage,
  type RaftState,
  EMPTY_DURABLE,
  lastIndexOf,
  snapshotIndex,
} from '../replication/raft.ts';
import {
  type Hosted,
  type HostIo,
  type ReplicaAction,
  type ReplicaRules,
  RULES,
  raftConfig,
  startHosted,
  stepHosted,
} from '../replication/host.ts';
import type { GhostEvent, ReplicaStep } from '../replication/replica.ts';
import { CrashPoint, HostCrash } from '../sim/crash.ts';
import type { VaultConfig } from '../vault/node.ts';
import type { Command, VaultState } from '../vault/records.ts';
import { vaultConfig } from '../vault/setup.ts';
import { type ChainedHostStorage, type Version, anchorName, incarnationName } from '../vault/storage.ts';
import { type DurableDelta, applyDelta, ballotName, decodeBallot } from '../replication/durable.ts';
import { type Explorable, type Transition } from './search.ts';
import { modelHsm, modelPlaintext } from './model-hsm.ts';

export type Password = 'right' | 'wrong';

export interface FleetBound {
  readonly replicas: number;
  /** Hosts that present any blob they kept at a restart (rollbacks, forks): replicas 0 .. forking - 1. */
  readonly forking: number;
  /** How many of its last blobs a forking host keeps (an honest one keeps its latest). */
  readonly keep: number;
  /** The one credential's guess limit. */
  readonly limit: number;
  /** The recovery sessions, by the password their client holds. */
  readonly sessions: readonly Password[];
  readonly maxTerm: number;
  /** Client commands stop once a leader's log is this long (a new leader's no-op may exceed it). */
  readonly maxLog: number;
  /** Kills by the hosts in all, inside saves included. */
  readonly crashes: number;
  /** Kills between the writes of a save or a start. */
  readonly crashInSaves: boolean;
  /** Deliveries that keep their message for later (duplication, replay), in all. */
  readonly duplicates: number;
  /** Drop(m) actions (a message never delivered is lost anyway; a drop merges the states that lose it). */
  readonly drops: boolean;
  /** A replica compacts its log every this many applied entries (spec ch. 6.6.2; absent: DEFAULT_SNAPSHOT_EVERY). */
  readonly snapshotEvery?: number;
  /** Most bytes of a snapshot per InstallSnapshot chunk (absent: DEFAULT_SNAPSHOT_CHUNK_BYTES). */
  readonly snapshotChunkBytes?: number;
}

export const DEFAULT_FLEET_BOUND: FleetBound = {
  replicas: 3,
  forking: 1,
  keep: 3,
  limit: 1,
  sessions: ['wrong', 'right'],
  maxTerm: 3,
  maxLog: 4,
  crashes: 2,
  crashInSaves: true,
  duplicates: 0,
  drops: false,
};

const SEAL = 'seal';
const CREDENTIAL = '63';
/** The transcriptHash of its one registration, which a Reset names. */
const REGISTRATION = '03';
const NOW = 0;

interface Blob {
  readonly bytes: Uint8Array;
  readonly version: Version;
  /** Ghost: the state it holds. */
  readonly durable: Durable<Command>;
  /** The chain a restart on it reads: a base, then the segments up to this one (spec ch. 6, "Segments"). */
  readonly chain: readonly Uint8Array[];
}

interface Slot {
  readonly up: Hosted | null;
  readonly blobs: readonly Blob[];
  readonly counters: ReadonlyMap<string, bigint>;
  /** Ghost: entries a detected rollback erased here after they were sealed (INV-3, spec ch. 12.4). */
  readonly lost: ReadonlySet<string>;
}

type SessionStatus = 'idle' | 'sent' | 'answered' | 'ke3' | 'over';

/** What a client action does to its session (`session` -1: every channel of the replica closes). */
interface Intent {
  readonly session: number;
  readonly status: SessionStatus;
}

interface Session {
  readonly password: Password;
  readonly status: SessionStatus;
  /** The leader holding its channel, in `term`, and the log index of its command. */
  readonly holder: number;
  readonly term: number;
}

interface Message {
  readonly from: number;
  readonly to: number;
  readonly message: RaftMessage<Command>;
  /** `from>to:body`; the body (canonical JSON) names no replica, so a renaming maps only from and to. */
  readonly key: string;
  readonly body: string;
}

export interface FleetState {
  readonly slots: readonly Slot[];
  /** The messages in flight, by key: delivered (and gone), delivered and kept (a duplicate), dropped, or late. */
  readonly net: readonly Message[];
  readonly duplicates: number;
  readonly sessions: readonly Session[];
  readonly ghost: inv.ConsensusGhost;
  /** Ghost: KE2s left since the last Reset took effect (INV-1), and the Reset entries counted. */
  readonly spent: number;
  readonly resets: readonly string[];
  readonly crashes: number;
}

const sid = (k: number) => `5${k}`;
const sessionOf = (cmd: Command | null): number =>
  cmd && 'sessionId' in cmd && cmd.credentialId === CREDENTIAL ? Number(cmd.sessionId.slice(1)) : -1;

/** The explorer's system: the fleet within `bound`, running `rules`. */
export class FleetSystem implements Explorable<FleetState> {
  readonly config: VaultConfig = vaultConfig();
  readonly #messageKeys = new WeakMap<object, string>();
  /** The renamings of replica ids that keep the forking hosts in place, the identity first. */
  readonly #symmetries: readonly (readonly number[])[];

  constructor(
    readonly bound: FleetBound = DEFAULT_FLEET_BOUND,
    readonly rules: ReplicaRules = RULES,
    /** Symmetry reduction over the honest replicas (off: to check the reduction against a search without it). */
    symmetry = true,
  ) {
    const fixed = Array.from({ length: Math.min(bound.forking, bound.replicas) }, (_, i) => i);
    const honest = Array.from({ length: bound.replicas - fixed.length }, (_, i) => fixed.length + i);
    const all = permutations(honest).map((p) => [...fixed, ...p]);
    this.#symmetries = symmetry ? all : all.slice(0, 1);
  }

  #raftConfig(i: number) {
    const b = this.bound;
    return raftConfig(this.rules, i, b.replicas, 16, b.snapshotEvery, b.snapshotChunkBytes);
  }

  /**
   * A replica's io as it stands in `slot`: its HSM, its host's storage (kept blobs), a crash armed
   * after `k` writes.
   */
  #io(slot: Slot, keep: number, k: number, present: number | null | 'latest') {
    const crash = new CrashPoint(0);
    if (k > 0) crash.arm(k);
    const model = modelHsm('explore', SEAL, slot.counters, () => crash.wrote());
    let blobs = slot.blobs;
    let shown: Blob | null = present === 'latest' ? (blobs.at(-1) ?? null) : present === null ? null : blobs[present]!;
    const open = (bytes: Uint8Array) => {
      const plain = modelPlaintext(bytes);
      const version = new DataView(plain.buffer, plain.byteOffset, 8).getBigUint64(0);
      return { version, json: JSON.parse(new TextDecoder().decode(plain.subarray(8))) as unknown };
    };
    const write = (blob: Blob) => {
      shown = blob;
      blobs = [...blobs, shown].slice(-keep);
      crash.wrote();
    };
    const storage: ChainedHostStorage = {
      load: () => shown?.bytes ?? null,
      loadChain: () => shown?.chain ?? [],
      save: (bytes) => {
        const { version, json } = open(bytes);
        write({ bytes, version, durable: json as Durable<Command>, chain: [bytes] });
      },
      append: (bytes) => {
        const { version, json } = open(bytes);
        const durable = applyDelta(shown?.durable ?? EMPTY_DURABLE, json as DurableDelta<Command>);
        write({ bytes, version, durable, chain: [...(shown?.chain ?? []), bytes] });
      },
    };
    const inc = slot.counters.get(incarnationName(SEAL)) ?? 0n;
    const io: HostIo = {
      hsm: model.hsm,
      storage,
      sealLabel: SEAL,
      // recovery nonces: fresh per start, named by the incarnation (deterministic, never reused)
      rng: (n) => Uint8Array.from({ length: n }, (_, x) => Number((inc >> BigInt(8 * (x % 8))) & 0xffn)),
      sealRng: (n) => new Uint8Array(n),
    };
    return { io, counters: () => model.counters(), blobs: () => blobs, writes: () => crash.writes };
  }

  #keep(i: number): number {
    return i < this.bound.forking ? this.bound.keep : 1;
  }

  initial(): FleetState {
    // every replica holds a log with the credential's registration (term 1, not yet committed)
    const register: Command = {
      type: 'Register',
      credentialId: CREDENTIAL,
      registrationRecord: '01',
      sealedPayload: '02',
      transcriptHash: REGISTRATION,
      guessLimit: this.bound.limit,
    };
    const durable: Durable<Command> = {
      currentTerm: 1,
      votedFor: 0,
      log: [
        { term: 1, command: null },
        { term: 1, command: register },
      ],
      recovering: false,
    };
    const slots: Slot[] = [];
    for (let i = 0; i < this.bound.replicas; i++) {
      let slot: Slot = { up: null, blobs: [], counters: new Map(), lost: new Set() };
      const first = this.#io(slot, this.#keep(i), 0, 'latest');
      const life = startHosted(this.rules, first.io, this.#raftConfig(i)).hosted.version;
      this.rules.persistence.persist(first.io, life, durable, first.io.sealRng);
      slot = { ...slot, blobs: first.blobs(), counters: first.counters() };
      const second = this.#io(slot, this.#keep(i), 0, 'latest');
      const up = startHosted(this.rules, second.io, this.#raftConfig(i)).hosted;
      slots.push({ ...slot, up, blobs: second.blobs(), counters: second.counters() });
    }
    const sessions = this.bound.sessions.map(
      (password): Session => ({ password, status: 'idle', holder: -1, term: 0 }),
    );
    return { slots, net: [], duplicates: 0, sessions, ghost: inv.EMPTY_GHOST, spent: 0, resets: [], crashes: 0 };
  }

  #messageBody(m: RaftMessage<Command>): string {
    let k = this.#messageKeys.get(m);
    if (k === undefined) {
      k = canonicalJson(m);
      this.#messageKeys.set(m, k);
    }
    return k;
  }

  #messageKey(from: number, to: number, m: RaftMessage<Command>): string {
    return `${from}>${to}:${this.#messageBody(m)}`;
  }

  /**
   * The state's canonical key: the smallest of its keys under every renaming of the honest replicas
   * (they are interchangeable; the forking hosts are not): symmetry reduction.
   */
  key(s: FleetState): string {
    let best: string | null = null;
    for (const pi of this.#symmetries) {
      const k = this.#keyUnder(s, pi);
      if (best === null || k < best) best = k;
    }
    return best!;
  }

  #keyUnder(s: FleetState, pi: readonly number[]): string {
    const slots = new Array<string>(s.slots.length);
    s.slots.forEach((slot, i) => void (slots[pi[i]!] = slotKey(slot, pi)));
    const id = (x: number) => (x < 0 ? x : pi[x]!);
    const sessions = s.sessions.map((x) => `${x.password[0]}${x.status}${id(x.holder)}/${x.term}`).join(',');
    const g = s.ghost;
    const leaders = [...g.leaders]
      .sort((a, b) => a[0] - b[0])
      .map(([t, r]) => `${t}:${pi[r]}`)
      .join(';');
    const ghost = `${leaders}|${g.committed.map((c) => `${c.name}@${c.inTerm}`).join(';')}|${g.applied.join(';')}`;
    return (
      `${slots.join('#')}\n${netKey(s.net, pi)}\n${sessions}\n${ghost}\n` +
      `${s.spent}|${s.resets.join(',')}|${s.crashes}|${s.duplicates}`
    );
  }

  successors(s: FleetState): Transition<FleetState>[] {
    const out: Transition<FleetState>[] = [];
    const b = this.bound;
    const canCrash = s.crashes < b.crashes;
    s.slots.forEach((slot, i) => {
      const up = slot.up;
      if (up === null) {
        const choices: (number | null | 'latest')[] = i < b.forking ? [null, ...slot.blobs.keys()] : ['latest'];
        for (const present of choices) out.push(...this.#restart(s, i, present));
        return;
      }
      const raft = up.state.raft;
      const act = (label: string, action: ReplicaAction, now = NOW, intent?: Intent) =>
        out.push(...this.#step(s, i, label, action, now, intent));
      if (raft.role !== 'leader' && !raft.durable.recovering && raft.durable.currentTerm < b.maxTerm) {
        act(`Timeout(r${i})`, (steps, st, env) => steps.onElectionTimeout(st, env));
      }
      if (raft.role !== 'follower') act(`Heartbeat(r${i})`, (steps, st, env) => steps.onHeartbeat(st, env));
      for (const m of s.net) {
        if (m.to !== i) continue;
        const deliver: ReplicaAction = (steps, st, env) => steps.handlePeerMessage(st, m.from, m.message, env);
        const what = `r${m.from}>r${i} ${describe(m.message)}`;
        out.push(...this.#step(withoutMessage(s, m), i, `Deliver(${what})`, deliver, NOW));
        if (s.duplicates < b.duplicates)
          out.push(...this.#step({ ...s, duplicates: s.duplicates + 1 }, i, `Deliver and keep(${what})`, deliver, NOW));
      }
      if (up.state.serving && lastIndexOf(raft.durable) < b.maxLog) {
        s.sessions.forEach((x, k) => {
          if (x.status === 'idle') {
            const cmd: Command = {
              type: 'ConsumeGuess',
              credentialId: CREDENTIAL,
              sessionId: sid(k),
              at: NOW,
            };
            act(`Ke1(s${k}>r${i})`, (steps, st, env) => steps.proposeCommand(st, cmd, env), NOW, {
              session: k,
              status: 'sent',
            });
          }
          if (x.status === 'answered' && x.holder === i) {
            const cmd: Command =
              x.password === 'right'
                ? { type: 'Reset', credentialId: CREDENTIAL, sessionId: sid(k), registration: REGISTRATION }
                : { type: 'EndSession', credentialId: CREDENTIAL, sessionId: sid(k), reason: 'abort' };
            const status = x.password === 'right' ? 'ke3' : 'over';
            act(
              `${x.password === 'right' ? 'Ke3' : 'Abort'}(s${k}>r${i})`,
              (steps, st, env) => steps.proposeCommand(st, cmd, env),
              NOW,
              { session: k, status },
            );
          }
        });
        const pending = Object.keys(up.state.node.vault.records[CREDENTIAL]?.pending ?? {}).length;
        if (pending > 0)
          act(`Expire(r${i})`, (steps, st, env) => steps.onSessionExpiry(st, env), this.config.sessionTtlMs, {
            session: -1,
            status: 'over',
          });
      }
      if (canCrash) out.push({ label: `Crash(r${i})`, state: this.#down(s, i, slot.blobs, slot.counters, 1) });
    });
    if (b.drops)
      for (const m of s.net)
        out.push({ label: `Drop(r${m.from}>r${m.to} ${describe(m.message)})`, state: withoutMessage(s, m) });
    return out;
  }

  /** Replica i down (its sessions' channels gone), with its host's blobs and counters as they are. */
  #down(
    s: FleetState,
    i: number,
    blobs: readonly Blob[],
    counters: ReadonlyMap<string, bigint>,
    kills: number,
  ): FleetState {
    const slots = s.slots.map((x, k) => (k === i ? { ...x, up: null, blobs, counters } : x));
    const sessions = s.sessions.map((x) =>
      x.holder === i && x.status !== 'idle' && x.status !== 'over' ? { ...x, status: 'over' as const } : x,
    );
    return { ...s, slots, sessions, crashes: s.crashes + kills };
  }

  #restart(s: FleetState, i: number, present: number | null | 'latest'): Transition<FleetState>[] {
    const slot = s.slots[i]!;
    const on = present === 'latest' ? 'latest' : present === null ? 'no blob' : `blob ${present}`;
    const run = (k: number) => {
      const w = this.#io(slot, this.#keep(i), k, present);
      try {
        const started = startHosted(this.rules, w.io, this.#raftConfig(i));
        return { started, w };
      } catch (e) {
        if (!(e instanceof HostCrash)) throw e;
        return { started: null, w };
      }
    };
    const clean = run(0);
    const out: Transition<FleetState>[] = [];
    const label = `Restart(r${i}, ${on})${clean.started?.rolledBack ? ': rolled back, recovering' : ''}`;
    out.push(this.#started(s, i, label, clean.started!, clean.w.blobs(), clean.w.counters()));
    if (this.bound.crashInSaves && s.crashes < this.bound.crashes) {
      for (let k = 1; k <= clean.w.writes(); k++) {
        const r = run(k);
        out.push({
          label: `Restart(r${i}, ${on}), killed after ${k} durable write(s)`,
          state: this.#down(s, i, r.w.blobs(), r.w.counters(), 1),
        });
      }
    }
    return out;
  }

  #started(
    s: FleetState,
    i: number,
    label: string,
    started: ReturnType<typeof startHosted>,
    blobs: readonly Blob[],
    counters: ReadonlyMap<string, bigint>,
  ): Transition<FleetState> {
    const slot = s.slots[i]!;
    let lost = slot.lost;
    if (started.rolledBack) {
      // a detected rollback: every entry the replica had sealed is gone from it (INV-3 forgives them)
      const before = slot.blobs.at(-1)?.durable;
      const restarted = started.hosted.state.raft.durable;
      const first = before ? snapshotIndex(before) + 1 : 1;
      const more = new Set(lost);
      before?.log.forEach((e, k) => {
        if (!inv.sealsEntry(restarted, first + k, e.term)) more.add(inv.entryKey(first + k, e.term));
      });
      lost = more;
    }
    const slots = s.slots.map((x, k) => (k === i ? { up: started.hosted, blobs, counters, lost } : x));
    return { label, state: { ...s, slots } };
  }

  #step(
    s: FleetState,
    i: number,
    label: string,
    action: ReplicaAction,
    now: number,
    intent?: Intent,
  ): Transition<FleetState>[] {
    const slot = s.slots[i]!;
    const run = (k: number) => {
      const w = this.#io(slot, this.#keep(i), k, 'latest');
      try {
        return { ran: stepHosted(this.rules, w.io, slot.up!, action, now, this.config), w };
      } catch (e) {
        if (!(e instanceof HostCrash)) throw e;
        return { ran: null, w };
      }
    };
    let clean;
    try {
      clean = run(0);
    } catch (e) {
      // a message its receiver refuses (an InstallSnapshot decoding to no state): no change, as a Drop
      if (isVaultError(e, 'MalformedMessage')) return [];
      throw e;
    }
    const out = [this.#after(s, i, label, clean.ran!, clean.w.blobs(), clean.w.counters(), intent)];
    if (this.bound.crashInSaves && s.crashes < this.bound.crashes) {
      for (let k = 1; k <= clean.w.writes(); k++) {
        const r = run(k);
        out.push({
          label: `${label}, killed after ${k} durable write(s)`,
          state: this.#down(s, i, r.w.blobs(), r.w.counters(), 1),
        });
      }
    }
    return out;
  }

  /** The state after replica i's step, its ghost updated and every invariant checked. */
  #after(
    s: FleetState,
    i: number,
    label: string,
    ran: { hosted: Hosted; step: ReplicaStep },
    blobs: readonly Blob[],
    counters: ReadonlyMap<string, bigint>,
    intent?: Intent,
  ): Transition<FleetState> {
    const before = s.slots[i]!.up!.state;
    const after = ran.hosted.state;
    const slots = s.slots.map((x, k) => (k === i ? { ...x, up: ran.hosted, blobs, counters } : x));
    let next: FleetState = { ...s, slots };
    try {
      next = this.#check(next, i, before.raft, after.raft, ran.step.ghost);
      next = this.#sessions(next, i, ran.step, intent);
      next = this.#send(next, i, ran.step);
    } catch (e) {
      if (!(e instanceof inv.InvariantViolation)) throw e;
      return { label, state: next, violation: { invariant: e.invariant, detail: e.detail } };
    }
    return { label, state: next };
  }

  #check(
    s: FleetState,
    i: number,
    b: RaftState<Command>,
    r: RaftState<Command>,
    ghost: readonly GhostEvent[],
  ): FleetState {
    let g = s.ghost;
    const becameLeader =
      r.role === 'leader' && (b.role !== 'leader' || b.durable.currentTerm !== r.durable.currentTerm);
    if (becameLeader) g = inv.onBecameLeader(g, i, r.durable.currentTerm);
    const committedBefore = g.committed.length;
    const applied = new Map<number, Entry<Command>>();
    for (const e of ghost) if (e.type === 'Applied') applied.set(e.index, e.entry);
    if (r.commitIndex > b.commitIndex) g = inv.onCommit(g, i, r, b.commitIndex, undefined, (k) => applied.get(k));
    for (const e of ghost) if (e.type === 'Applied') g = inv.onApplied(g, i, e.index, e.entry);
    const live = s.slots.map((x) => x.up?.state.raft ?? null);
    if (r.durable.log !== b.durable.log || r.commitIndex !== b.commitIndex) {
      inv.checkCommittedPrefix(g, i, r);
      inv.checkLogMatching(
        i,
        live.map((x) => x?.durable ?? null),
      );
    }
    if (becameLeader || g.committed.length > committedBefore)
      live.forEach((x, k) => x && inv.checkLeaderCompleteness(g, k, x));
    const vault = s.slots[i]!.up!.state.node.vault;
    inv.checkRecords(i, vault);
    for (const e of ghost) {
      // a snapshot this step took is the records it applied up to its index
      const snap = r.durable.snapshot;
      const appliedTo = s.slots[i]!.up!.state.lastApplied;
      if (e.type === 'Snapshot' && !e.installed && snap?.index === e.index && appliedTo === e.index)
        inv.checkSnapshot(i, e.index, snap.state as VaultState, vault, undefined);
    }
    return g === s.ghost ? s : { ...s, ghost: g };
  }

  /** What the step's applies tell the sessions: a KE2, a refusal, a release; channels lost with leadership. */
  #sessions(s0: FleetState, i: number, step: ReplicaStep, intent?: Intent): FleetState {
    let s = s0;
    const raft = step.state.raft;
    const holds = (x: Session) => x.holder === i && raft.role === 'leader' && raft.durable.currentTerm === x.term;
    let sessions = s.sessions.map((x, k): Session => {
      if (intent?.session !== k) return x;
      return intent.status === 'sent'
        ? { ...x, status: 'sent', holder: i, term: raft.durable.currentTerm }
        : { ...x, status: intent.status };
    });
    for (const e of step.ghost) {
      if (e.type !== 'Applied' || e.entry.command === null) continue;
      const cmd = e.entry.command;
      if (cmd.type === 'Reset' && e.ok && !s.resets.includes(inv.entryKey(e.index, e.entry.term))) {
        s = { ...s, spent: 0, resets: [...s.resets, inv.entryKey(e.index, e.entry.term)] };
      }
      const k = sessionOf(cmd);
      const x = sessions[k];
      if (x === undefined || !holds(x)) continue;
      if (cmd.type === 'ConsumeGuess' && x.status === 'sent') {
        if (e.ok) {
          // the KE2 leaves: INV-1 and INV-3
          const spent = s.spent + 1;
          inv.checkKe2Budget(CREDENTIAL, spent, this.bound.limit);
          const sealed = s.slots.map((slot) => slot.blobs.at(-1)?.durable ?? ([] as readonly Entry<Command>[]));
          inv.checkKe2(
            this.bound.replicas,
            e.index,
            e.entry.term,
            sealed,
            s.slots.map((slot) => slot.lost),
          );
          s = { ...s, spent };
          sessions = sessions.map((y, n) => (n === k ? { ...y, status: 'answered' as const } : y));
        } else sessions = sessions.map((y, n) => (n === k ? { ...y, status: 'over' as const } : y));
      }
      if (cmd.type === 'Reset' && x.status === 'ke3')
        sessions = sessions.map((y, n) => (n === k ? { ...y, status: 'over' as const } : y));
    }
    // channels the replica no longer holds (it stopped leading; expiry closed them) are gone
    const expired = intent?.session === -1;
    sessions = sessions.map((x) =>
      x.holder === i && x.status !== 'idle' && x.status !== 'over' && (!holds(x) || expired)
        ? { ...x, status: 'over' as const }
        : x,
    );
    return { ...s, sessions };
  }

  #send(s: FleetState, i: number, step: ReplicaStep): FleetState {
    if (step.messages.length === 0) return s;
    const known = netSet(s.net);
    let net: Message[] | null = null;
    for (const o of step.messages) {
      const key = this.#messageKey(i, o.to, o.message);
      if (known.has(key) || net?.some((m) => m.key === key)) continue;
      (net ??= [...s.net]).push({ from: i, to: o.to, message: o.message, key, body: this.#messageBody(o.message) });
    }
    if (net === null) return s;
    return { ...s, net: net.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
  }
}

function withoutMessage(s: FleetState, m: Message): FleetState {
  return { ...s, net: s.net.filter((x) => x !== m) };
}

/** The keys of a network's messages, once per network value. */
const netSet = (() => {
  const cache = new WeakMap<readonly Message[], Set<string>>();
  return (net: readonly Message[]): Set<string> => {
    let set = cache.get(net);
    if (set === undefined) {
      set = new Set(net.map((m) => m.key));
      cache.set(net, set);
    }
    return set;
  };
})();

/** The network as a key under renaming `pi`, once per (network, renaming). */
const netKey = (() => {
  const caches = new Map<string, WeakMap<readonly Message[], string>>();
  return (net: readonly Message[], pi: readonly number[]): string => {
    const name = pi.join(',');
    let cache = caches.get(name);
    if (cache === undefined) caches.set(name, (cache = new WeakMap()));
    let k = cache.get(net);
    if (k === undefined) {
      k = net
        .map((m) => `${pi[m.from]}>${pi[m.to]}:${m.body}`)
        .sort()
        .join('\n');
      cache.set(net, k);
    }
    return k;
  };
})();

/**
 * A slot as a key under renaming `pi`, once per (slot, renaming): the replica, its versions by rank,
 * its kept blobs, its ballot, its ghost.
 */
const slotKey = (() => {
  const caches = new Map<string, WeakMap<Slot, string>>();
  return (slot: Slot, pi: readonly number[]): string => {
    const name = pi.join(',');
    let cache = caches.get(name);
    if (cache === undefined) caches.set(name, (cache = new WeakMap()));
    let k = cache.get(slot);
    if (k !== undefined) return k;
    const up = slot.up;
    const values: bigint[] = [slot.counters.get(anchorName(SEAL)) ?? 0n, ...slot.blobs.map((b) => b.version)];
    const inc = slot.counters.get(incarnationName(SEAL)) ?? 0n;
    values.push(inc << 32n, (inc + 1n) << 32n);
    if (up) values.push(up.version);
    const blobs = slot.blobs.map((b) => durableKey(b.durable, pi)).join(';');
    const ballot = decodeBallot(slot.counters.get(ballotName(SEAL)) ?? 0n);
    const vote = ballot.votedFor === null ? '-' : pi[ballot.votedFor];
    k =
      `${up ? replicaKey(up.state, pi) : 'down'}|${versionRanks(values)}|${blobs}|` +
      `${ballot.term}/${vote}|${[...slot.lost].sort()}`;
    cache.set(slot, k);
    return k;
  };
})();

/** Canonical JSON, once per object (states share their parts: a part is serialized once). */
const jsonOf = (() => {
  const cache = new WeakMap<object, string>();
  return (x: object): string => {
    let j = cache.get(x);
    if (j === undefined) {
      j = canonicalJson(x);
      cache.set(x, j);
    }
    return j;
  };
})();

/** A durable state as a key under renaming `pi` (its vote renamed; its log and snapshot name no replica). */
function durableKey(d: Durable<Command>, pi: readonly number[]): string {
  const snap = d.snapshot ? `${d.snapshot.index}@${d.snapshot.term}:${jsonOf(d.snapshot.state as object)}` : '';
  const vote = d.votedFor === null ? '-' : pi[d.votedFor];
  return `${d.currentTerm}/${vote}/${d.recovering ? 'R' : ''}/${jsonOf(d.log)}/${snap}`;
}

/** Per-replica arrays (indexed by replica id) under renaming `pi`. */
function renamed<T>(xs: readonly T[], pi: readonly number[]): T[] {
  const out = new Array<T>(xs.length);
  xs.forEach((x, j) => void (out[pi[j]!] = x));
  return out;
}

/** A replica's state as a key: everything but what no transition reads (leader hints, empty channels). */
function replicaKey(st: Hosted['state'], pi: readonly number[]): string {
  const r = st.raft;
  const L = r.leader;
  const leader = L && [
    renamed(L.nextIndex, pi),
    renamed(L.matchIndex, pi),
    renamed(L.inflight, pi),
    renamed(L.peerNonce, pi),
    L.termStart,
    renamed(L.chunkCursor, pi),
  ];
  const votes = r.candidate ? r.candidate.votesGranted.map((j) => pi[j]!).sort() : null;
  const inc = r.incoming;
  const incoming = inc && [
    inc.term,
    inc.index,
    inc.snapshotTerm,
    inc.parts.map((p) => Buffer.from(p).toString('base64')),
  ];
  const volatile = [r.role, r.commitIndex, r.recoveryNonce, votes, leader, st.lastApplied, st.serving, incoming];
  return `${durableKey(r.durable, pi)}|${JSON.stringify(volatile)}|${jsonOf(st.node.vault)}`;
}

/** Every ordering of `xs`. */
function permutations(xs: readonly number[]): number[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, k) => permutations([...xs.slice(0, k), ...xs.slice(k + 1)]).map((p) => [x, ...p]));
}

/**
 * Version numbers by rank, with which neighbours are consecutive: what the persistence rule reads
 * of them (order, equality, and the version after), without the absolute values that differ
 * between paths to the same state.
 */
function versionRanks(values: readonly bigint[]): string {
  const sorted = [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rank = new Map(sorted.map((v, k) => [v, k]));
  const adjacent = sorted
    .slice(1)
    .map((v, k) => (v - sorted[k]! === 1n ? '+' : '>'))
    .join('');
  return `${values.map((v) => rank.get(v)).join(',')}|${adjacent}`;
}

function describe(m: RaftMessage<Command>): string {
  switch (m.type) {
    case 'RequestVoteRequest':
      return `RequestVote t${m.term} last ${m.lastLogIndex}/${m.lastLogTerm}`;
    case 'RequestVoteResponse':
      return `Vote t${m.term} ${m.voteGranted ? 'granted' : 'refused'}`;
    case 'AppendEntriesRequest':
      return (
        `Append t${m.term} prev ${m.prevLogIndex}/${m.prevLogTerm} +${m.entries.length} commit ${m.leaderCommit}` +
        `${m.recoveryNonce ? ' nonce' : ''}`
      );
    case 'InstallSnapshotRequest':
      return (
        `Snapshot t${m.term} ${m.snapshotIndex}/${m.snapshotTerm} @${m.offset}${m.done ? ' done' : ''}` +
        `${m.recoveryNonce ? ' nonce' : ''}`
      );
    case 'InstallSnapshotResponse':
      return (
        `SnapshotAck t${m.term} ${m.snapshotIndex}/${m.snapshotTerm} next ${m.nextOffset}` +
        `${m.recoveryNonce ? ' recovering' : ''}`
      );
    case 'AppendEntriesResponse':
      return (
        `Ack t${m.term} ${m.success ? `match ${m.matchIndex}` : `refused last ${m.lastLogIndex}`}` +
        `${m.recoveryNonce ? ' recovering' : ''}`
      );
  }
}
