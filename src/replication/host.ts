/**
 * What a replica's host does around every step, in every runtime (spec ch. 6, "A replica's
 * host"): the explorer, the simulator and real processes all drive a replica through these two
 * functions, in the manner of etcd-raft's `Ready`:
 *
 *   startHosted(rules, io, config)        load the durable state (a new incarnation); a rolled-back
 *                                         replica seals `recovering` before anything else
 *   stepHosted(rules, io, hosted, step)   run one replica action; if its durable state changed,
 *                                         persist it; only then hand out the step's messages,
 *                                         frames and ghost events for the runtime to release
 *
 * The rules are a parameter: `RULES` are the vault's (node.ts), the replica's (replica.ts) and the
 * persistence rule (durable.ts). A deliberately broken variant is a `ReplicaRules` built from
 * outside by wrapping or replacing one of them (src/broken/); nothing here branches on it. A crash
 * in the middle of a persist is the runtime's to inject (its HSM or its storage throws): the step's
 * outputs are then never handed out.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import type { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { type VaultConfig, type VaultSteps, VAULT_STEPS } from '../vault/node.ts';
import type { Command } from '../vault/records.ts';
import type { Version } from '../vault/storage.ts';
import { type DurableStore, type Persistence, SEALED_PERSISTENCE, freshNonce } from './durable.ts';
import { VAULT_SNAPSHOT_CODEC } from './peer-auth.ts';
import { type RaftConfig, DEFAULT_SNAPSHOT_CHUNK_BYTES } from './raft.ts';
import {
  type ReplicaEnv,
  type ReplicaState,
  type ReplicaStep,
  type ReplicaSteps,
  REPLICA_STEPS,
  restartReplica,
} from './replica.ts';

/** The rules a runtime runs: the vault's, the replica's, the persistence rule, and the commit quorum. */
export interface ReplicaRules {
  readonly vault: VaultSteps;
  readonly replica: ReplicaSteps;
  readonly persistence: Persistence;
  /**
   * Replicas that must hold an entry for it to commit, for a fleet of n (RaftConfig.commitQuorum);
   * default a majority.
   */
  readonly commitQuorum?: (n: number) => number;
}

/** The rules of spec ch. 5 and 6. */
export const RULES: ReplicaRules = Object.freeze({
  vault: VAULT_STEPS,
  replica: REPLICA_STEPS,
  persistence: SEALED_PERSISTENCE,
});

/** A replica's HSM, host storage and randomness, as its host wires them. */
export interface HostIo extends DurableStore {
  /** The replica's protocol randomness (Noise, OPAQUE, recovery nonces). */
  readonly rng: Rng;
  /** The randomness of sealing (AEAD nonces of host storage); kept apart so that vectors list protocol draws alone. */
  readonly sealRng: Rng;
}

/** A running replica and the version of its latest save. */
export interface Hosted {
  readonly state: ReplicaState;
  readonly version: Version;
}

export interface Started {
  readonly hosted: Hosted;
  /** The host's storage was behind the anchor, lost, altered or foreign: the replica restarted recovering. */
  readonly rolledBack: boolean;
  /** Why it was refused, when rolled back. */
  readonly refusal?: VaultError;
}

/** Entries a replica applies past its snapshot before it takes the next (spec ch. 6, "Snapshots"). */
export const DEFAULT_SNAPSHOT_EVERY = 1024;
/** ... or bytes of those entries (their JSON), whichever comes first: 4 MiB. */
export const DEFAULT_SNAPSHOT_EVERY_BYTES = 4 * 1024 * 1024;
/** ... and never before as many entries (KiB) as the state holds records (spec ch. 6.6.2). */
export const DEFAULT_SNAPSHOT_GROWTH = 1;

/** The Raft configuration of replica `id` in a fleet of `n` under `rules`. */
export function raftConfig(
  rules: ReplicaRules,
  id: number,
  n: number,
  maxBatch: number,
  snapshotEvery = DEFAULT_SNAPSHOT_EVERY,
  snapshotChunkBytes = DEFAULT_SNAPSHOT_CHUNK_BYTES,
  snapshotEveryBytes = DEFAULT_SNAPSHOT_EVERY_BYTES,
): RaftConfig {
  const snapshot = {
    snapshotEvery,
    snapshotEveryBytes,
    snapshotGrowth: DEFAULT_SNAPSHOT_GROWTH,
    snapshotChunkBytes,
    snapshotCodec: VAULT_SNAPSHOT_CODEC,
  };
  return { id, n, maxBatch, ...snapshot, ...(rules.commitQuorum && { commitQuorum: rules.commitQuorum(n) }) };
}

/** Starts (or restarts) a replica from what its host storage and HSM hold. */
export function startHosted(rules: ReplicaRules, io: HostIo, config: RaftConfig): Started {
  // the load seals what it resumes from (a rolled-back replica: `recovering`) before anything else happens
  const loaded = rules.persistence.load<Command>(io, io.sealRng);
  const state = restartReplica(config, loaded.durable, loaded.durable.recovering ? freshNonce(io.rng) : null);
  const { version, rolledBack, refusal } = loaded;
  return { hosted: { state, version }, rolledBack, ...(refusal && { refusal }) };
}

/** The environment of one step at time `now`. */
export function replicaEnv(rules: ReplicaRules, hsm: Hsm, rng: Rng, now: number, config: VaultConfig): ReplicaEnv {
  return { hsm, rng, now, config, vault: rules.vault };
}

/** An action of the replica, named by its steps (so a wrapped ReplicaSteps is the one that runs). */
export type ReplicaAction = (steps: ReplicaSteps, s: ReplicaState, env: ReplicaEnv) => ReplicaStep;

/**
 * Runs one action of a hosted replica, then persists its durable state if the step changed it.
 * The step's outputs may be released once this returns, not before; `beforePersist` sees the step
 * first (the ghost events that are HSM facts, `isHsmFact`, are recorded there).
 */
export function stepHosted(
  rules: ReplicaRules,
  io: HostIo,
  hosted: Hosted,
  action: ReplicaAction,
  now: number,
  config: VaultConfig,
  beforePersist?: (step: ReplicaStep) => void,
): { hosted: Hosted; step: ReplicaStep } {
  const step = action(rules.replica, hosted.state, replicaEnv(rules, io.hsm, io.rng, now, config));
  beforePersist?.(step);
  const changed = step.state.raft.durable !== hosted.state.raft.durable;
  const prev = hosted.state.raft.durable; // what the last save holds: the next one may be a segment
  const durable = step.state.raft.durable;
  const version = changed ? rules.persistence.persist(io, hosted.version, durable, io.sealRng, prev) : hosted.version;
  return { hosted: { state: step.state, version }, step };
}
