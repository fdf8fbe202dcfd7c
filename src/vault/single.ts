/**
 * The vault on one HSM replica (spec ch. 5): the step functions of `node.ts` driven with an
 * immediate commit. A proposal is committed by sealing the new state to host storage and
 * advancing the HSM anchor; only then is it applied and its reply sent. So a guess is consumed
 * and durably stored before its KE2 leaves (G1 at one replica), and a KE2 lost afterwards, or a
 * restart, leaves it spent (G2).
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { type VaultConfig, type VaultEnv, type VaultNode, handleFrame, handleSessionExpiry, initialNode, onCommitted, type Step } from './node.ts';
import type { Frame } from './protocol.ts';
import { type VaultState, EMPTY_VAULT } from './records.ts';
import { type HostStorage, loadSealed, saveSealed } from './storage.ts';

/** The step functions a driver runs: node.ts's. */
export interface VaultSteps {
  readonly handleFrame: typeof handleFrame;
  readonly onCommitted: typeof onCommitted;
  readonly handleSessionExpiry: typeof handleSessionExpiry;
}

export const VAULT_STEPS: VaultSteps = Object.freeze({ handleFrame, onCommitted, handleSessionExpiry });

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
   * The rules to run; default `VAULT_STEPS`. A seam for the tests, which show that their
   * properties catch a deliberately broken vault (a wrapped step function) without mocking.
   */
  readonly steps?: VaultSteps;
}

export class SingleReplicaVault {
  #node: VaultNode;
  #version: number;
  readonly #o: SingleReplicaOptions;

  private constructor(o: SingleReplicaOptions, vault: VaultState, version: number) {
    this.#o = o;
    this.#node = initialNode(vault);
    this.#version = version;
  }

  /** Opens the replica from its sealed host storage (a restart), or empty when there is none. */
  static open(o: SingleReplicaOptions): SingleReplicaVault {
    const loaded = loadSealed<VaultState>(o.hsm, o.config.labels.seal, o.storage);
    return new SingleReplicaVault(o, loaded?.state ?? EMPTY_VAULT, loaded?.version ?? 0);
  }

  get state(): VaultState {
    return this.#node.vault;
  }
  get node(): VaultNode {
    return this.#node;
  }

  get #steps(): VaultSteps {
    return this.#o.steps ?? VAULT_STEPS;
  }

  #env(): VaultEnv {
    return { hsm: this.#o.hsm, rng: this.#o.rng, now: this.#o.clock(), config: this.#o.config };
  }

  #run(step: Step): Frame[] {
    const frames = [...step.frames];
    this.#node = step.node;
    if (step.proposals.length === 0) return frames;
    // commit: apply every proposal to a copy, seal the result, then deliver the replies
    const env = this.#env();
    let node = this.#node;
    const replies: Frame[] = [];
    let vault = node.vault;
    const steps: Step[] = [];
    for (const cmd of step.proposals) {
      const s = this.#steps.onCommitted({ ...node, vault }, cmd, env);
      steps.push(s);
      node = s.node;
      vault = s.node.vault;
    }
    // Sealed even when every command was refused (an unknown credential's ConsumeGuess): a
    // commit costs the same whatever its outcome, so a fake KE2 leaves after the same delay.
    this.#version += 1;
    saveSealed(this.#o.hsm, this.#o.config.labels.seal, this.#o.storage, this.#version, vault, this.#o.sealRng ?? this.#o.rng);
    for (const s of steps) replies.push(...s.frames);
    this.#node = node;
    return [...frames, ...replies];
  }

  /** A frame from the relay; returns the frames to send back. */
  deliver(frame: Frame): Frame[] {
    return this.#run(this.#steps.handleFrame(this.#node, frame, this.#env()));
  }

  /** The session-expiry event: pending sessions past the TTL end (their guesses stay spent). */
  expireSessions(): Frame[] {
    return this.#run(this.#steps.handleSessionExpiry(this.#node, this.#env()));
  }
}
