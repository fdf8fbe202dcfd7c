/**
 * The replicas' hosts in the simulated fleet (spec ch. 6 §6.6-6.8, "The host's powers"): each
 * replica's HSM, its host storage, which keeps every blob it was ever given (so a host can present
 * an older one, a rollback, or a newer one after that, a fork), and its crash point (a crash between
 * two durable writes of a save or a start, src/sim/crash.ts). A host steps its replica with the
 * rules it runs (`stepHosted`: step, then persist), crashes it and starts it again from whatever
 * blob the storage presents. Ghost state, invisible to the replica: the durable state behind each
 * blob, and the entries a rollback erased from a sealed log (INV-3 forgives those).
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { entryKey, sealsEntry } from '../check/invariants.ts';
import type { Hsm } from '../hsm/hsm.ts';
import type { Persist, Persistence } from '../replication/durable.ts';
import {
  type HostIo,
  type ReplicaAction,
  type ReplicaRules,
  raftConfig,
  startHosted,
  stepHosted,
} from '../replication/host.ts';
import type { ReplicationLabels } from '../replication/provision.ts';
import { type Durable, type RaftConfig, EMPTY_DURABLE, snapshotIndex } from '../replication/raft.ts';
import type { ReplicaState, ReplicaStep } from '../replication/replica.ts';
import type { VaultConfig } from '../vault/node.ts';
import type { Command } from '../vault/records.ts';
import { MemoryChainStorage, type Version } from '../vault/storage.ts';
import { CrashPoint, HostCrash } from './crash.ts';
import type { Observers } from './observers.ts';
import type { Timers } from './timers.ts';

/** Host storage that keeps every blob, and (ghost) the durable state behind each. */
export class SimStorage extends MemoryChainStorage {
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

/** The rules' persistence, telling the storage (ghost) what each save holds, a start's reseal included. */
function observed(p: Persistence, storage: SimStorage): Persistence {
  const watched =
    (persist: Persist): Persist =>
    (store, version, durable, rng, prev) => {
      storage.saving = durable as Durable<Command>;
      return persist(store, version, durable, rng, prev);
    };
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
}

export interface SimHost {
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

export interface ReplicaView {
  readonly id: number;
  readonly up: boolean;
  readonly state: ReplicaState | null;
  /** The durable state the host currently holds (ghost). */
  readonly sealed: Durable<Command>;
  /** The entries (`entryKey`) host rollbacks erased from this replica after it sealed them (ghost, INV-3). */
  readonly lostToRollback: ReadonlySet<string>;
}

export interface HostsOptions {
  readonly hsms: readonly Hsm[];
  readonly labels: ReplicationLabels;
  readonly config: VaultConfig;
  readonly seed: string;
  readonly rules: ReplicaRules;
  readonly maxBatch: number;
  readonly snapshotEvery: number;
  readonly snapshotChunkBytes: number;
}

/** The fleet's hosts: step, crash, start and restart their replicas. */
export class Hosts {
  readonly all: readonly SimHost[];
  readonly #config: VaultConfig;
  readonly #observers: Observers;
  readonly #timers: Timers;
  readonly #now: () => number;

  constructor(o: HostsOptions, observers: Observers, timers: Timers, now: () => number) {
    this.#config = o.config;
    this.#observers = observers;
    this.#timers = timers;
    this.#now = now;
    const n = o.hsms.length;
    this.all = o.hsms.map((hsm, id) => {
      const storage = new SimStorage();
      const crash = new CrashPoint(id);
      const rng = seededRng(`${o.seed}/replica/${id}`);
      const hostStorage = crash.storage(storage);
      const io: HostIo = { hsm: crash.hsm(hsm), storage: hostStorage, sealLabel: o.labels.seal, rng, sealRng: rng };
      return {
        id,
        hsm,
        storage,
        rng,
        raftConfig: raftConfig(o.rules, id, n, o.maxBatch, o.snapshotEvery, o.snapshotChunkBytes),
        rules: { ...o.rules, persistence: observed(o.rules.persistence, storage) },
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
  }

  /** Host i (a RangeError if there is none). */
  get(i: number): SimHost {
    const h = this.all[i];
    if (h === undefined) throw new RangeError(`no replica ${i} in a fleet of ${this.all.length}`);
    return h;
  }

  view(h: SimHost): ReplicaView {
    return {
      id: h.id,
      up: h.state !== null,
      state: h.state,
      sealed: h.storage.current,
      lostToRollback: h.lostToRollback,
    };
  }

  /** Steps replica h and persists (`stepHosted`); null when its host killed it in the middle of a save. */
  step(h: SimHost, action: ReplicaAction, beforePersist?: (step: ReplicaStep) => void): ReplicaStep | null {
    let ran;
    try {
      const hosted = { state: h.state!, version: h.version };
      ran = stepHosted(h.rules, h.io, hosted, action, this.#now(), this.#config, beforePersist);
    } catch (e) {
      if (!(e instanceof HostCrash)) throw e;
      this.#observers.log(() => `r${h.id} crashed by its host in the middle of a save`);
      this.crash(h);
      return null;
    }
    h.state = ran.step.state;
    h.version = ran.hosted.version;
    return ran.step;
  }

  crash(h: SimHost): void {
    h.crash.disarm();
    if (h.state === null) return;
    h.state = null;
    h.life++;
    h.electionPending = false;
    this.#observers.stats.crashes++;
    this.#observers.lifeLog.push({ at: this.#now(), replica: h.id, up: false });
  }

  /** Starts (or restarts) replica h from what its host storage holds; true when it found the storage rolled back. */
  start(h: SimHost): boolean {
    const obs = this.#observers;
    let started;
    try {
      started = startHosted(h.rules, h.io, h.raftConfig);
    } catch (e) {
      if (!(e instanceof HostCrash)) throw e;
      obs.log(() => `r${h.id} crashed by its host while starting`);
      h.life++;
      return false;
    }
    const durable = started.hosted.state.raft.durable;
    h.version = started.hosted.version;
    h.life++;
    h.state = started.hosted.state;
    obs.lifeLog.push({ at: this.#now(), replica: h.id, up: true });
    if (started.rolledBack) {
      obs.stats.rollbacksDetected++;
      obs.stats.persists++;
      const term = durable.currentTerm;
      obs.log(
        () => `r${h.id} restarts: host storage rolled back, lost or altered, rejoins as recovering in term ${term}`,
      );
    } else {
      const recovering = durable.recovering ? ', recovering' : '';
      obs.log(() => `r${h.id} starts: term ${durable.currentTerm}, log of ${durable.log.length}${recovering}`);
    }
    this.#timers.started(h);
    return started.rolledBack;
  }

  /**
   * The host restarts h on another blob than its latest (a rollback or a fork). A detected one
   * restarts the replica with an empty log: every entry it had sealed is gone from it, however
   * shallow the rollback (INV-3 forgives them, spec ch. 12.4). An undetected one (only a broken
   * vault lets one happen) erases nothing INV-3 may forgive.
   */
  restartOn(h: SimHost, present: () => void): void {
    const before = h.storage.current;
    this.crash(h);
    present();
    this.#observers.stats.restarts++;
    if (this.start(h)) {
      const restarted = h.storage.current;
      const first = snapshotIndex(before) + 1;
      before.log.forEach((e, k) => {
        if (!sealsEntry(restarted, first + k, e.term)) h.lostToRollback.add(entryKey(first + k, e.term));
      });
    }
  }
}
