/**
 * The vault on one HSM replica (spec ch. 5): a fleet of one, over the same replica, host and
 * persistence as every fleet (src/replication/host.ts). With N = 1 a majority is the replica
 * itself, so a proposal commits in the step that makes it; the host seals the log and advances the
 * HSM anchor before anything the step produced leaves. So a guess is consumed and durably stored
 * before its KE2 leaves (G1 at one replica), and a KE2 lost afterwards, or a restart, leaves it
 * spent (G2).
 *
 * At open the replica loads its sealed log (a new incarnation, spec ch. 6), elects itself and
 * applies its log again. A fleet of one has nobody to catch up from: when its host storage turns out
 * rolled back, lost, altered or foreign, it refuses to serve, for good (`StaleState`, or
 * `SealBroken` for a blob that is not its own): a detected rollback costs availability, never a guess.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
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
import type { VaultConfig, VaultNode } from './node.ts';
import type { Frame } from './protocol.ts';
import type { VaultState } from './records.ts';
import type { HostStorage } from './storage.ts';

export interface SingleReplicaOptions {
  readonly hsm: Hsm;
  readonly config: VaultConfig;
  readonly storage: HostStorage;
  readonly rng: Rng;
  /**
   * The randomness of sealing (the AEAD nonces of host storage); default `rng`. Kept apart, the
   * protocol's draws from `rng` are exactly those the session vectors list (spec ch. 9).
   */
  readonly sealRng?: Rng;
  /** Milliseconds. */
  readonly clock: () => number;
  /**
   * The rules to run; default `RULES`. A seam for the tests, which show that their properties
   * catch a deliberately broken vault (src/broken/) without mocking.
   */
  readonly rules?: ReplicaRules;
}

/** Most entries per AppendEntries: a fleet of one sends none. */
const MAX_BATCH = 1;

export class SingleReplicaVault {
  #hosted: Hosted;
  readonly #o: SingleReplicaOptions;
  readonly #io: HostIo;
  readonly #rules: ReplicaRules;

  private constructor(o: SingleReplicaOptions, io: HostIo, rules: ReplicaRules, hosted: Hosted) {
    this.#o = o;
    this.#io = io;
    this.#rules = rules;
    this.#hosted = hosted;
  }

  /** Opens the replica from its sealed host storage (a restart), or empty when there is none. */
  static open(o: SingleReplicaOptions): SingleReplicaVault {
    const rules = o.rules ?? RULES;
    const io: HostIo = {
      hsm: o.hsm,
      storage: o.storage,
      sealLabel: o.config.labels.seal,
      rng: o.rng,
      sealRng: o.sealRng ?? o.rng,
    };
    const started = startHosted(rules, io, raftConfig(rules, 0, 1, MAX_BATCH));
    if (started.rolledBack || started.hosted.state.raft.durable.recovering) {
      const why = started.refusal?.message ?? 'it restarted recovering from an earlier rollback';
      throw new VaultError(
        started.refusal?.code === 'SealBroken' ? 'SealBroken' : 'StaleState',
        `host storage refused: ${why}; a fleet of one cannot catch up`,
      );
    }
    const vault = new SingleReplicaVault(o, io, rules, started.hosted);
    // a fleet of one elects itself at once, applies its committed log and serves
    vault.#run((steps, s, env) => steps.onElectionTimeout(s, env));
    return vault;
  }

  get state(): VaultState {
    return this.#hosted.state.node.vault;
  }
  get node(): VaultNode {
    return this.#hosted.state.node;
  }

  /** Runs one replica action and persists; returns the frames it released. */
  #run(action: ReplicaAction): Frame[] {
    const { hosted, step } = stepHosted(this.#rules, this.#io, this.#hosted, action, this.#o.clock(), this.#o.config);
    this.#hosted = hosted;
    return [...step.frames];
  }

  /** A frame from the relay; returns the frames to send back. */
  deliver(frame: Frame): Frame[] {
    return this.#run((steps, s, env) => steps.handleClientFrame(s, frame, env));
  }

  /** The session-expiry event: pending sessions past the TTL end (their guesses stay spent). */
  expireSessions(): Frame[] {
    return this.#run((steps, s, env) => steps.onSessionExpiry(s, env));
  }
}
