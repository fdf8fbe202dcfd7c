/**
 * Crashes between two HSM calls (spec ch. 6, "The host's powers"): the host may kill a replica
 * at any instant, so in particular between the calls of one save (seal, host write, anchor,
 * ballot) or of a start (anchor catch-up, incarnation). A simulated replica's HSM and storage are
 * seen through a view that counts its durable writes (a host write, a counter advance); armed with
 * k, the replica crashes right after its k-th next write: `HostCrash` ends the step, and nothing
 * the step produced is released.
 * @module
 */
import { type Hsm, hsmView } from '../hsm/hsm.ts';
import { type ChainedHostStorage, type HostStorage, isChained } from '../vault/storage.ts';

/** The host killed the replica (thrown through the step; the runtime catches it). */
export class HostCrash extends Error {
  constructor(readonly replica: number) {
    // a kill is routine in a search (no stack needed: it names where the host struck, not a bug)
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`r${replica} crashed by its host`);
    Error.stackTraceLimit = limit;
    this.name = 'HostCrash';
  }
}

/** A countdown to a crash over a replica's durable writes. */
export class CrashPoint {
  #left: number | null = null;
  /** Durable writes seen so far (a runtime learns where a crash may fall). */
  writes = 0;
  constructor(readonly replica: number) {}

  /** Crash right after the k-th next durable write (k >= 1). */
  arm(k: number): void {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`arm: "k" expected an integer >= 1, got ${k}`);
    this.#left = k;
  }
  disarm(): void {
    this.#left = null;
  }
  get armed(): boolean {
    return this.#left !== null;
  }

  /** Called after every durable write. */
  wrote(): void {
    this.writes++;
    if (this.#left === null) return;
    if (--this.#left === 0) {
      this.#left = null;
      throw new HostCrash(this.replica);
    }
  }

  /** The HSM, its counter advances counted. */
  hsm(inner: Hsm): Hsm {
    return hsmView(inner, {
      advanceCounter: (name, value) => {
        inner.advanceCounter(name, value);
        this.wrote();
      },
    });
  }

  /** The host storage, its writes counted. */
  storage(inner: HostStorage): HostStorage;
  storage(inner: ChainedHostStorage): ChainedHostStorage;
  storage(inner: HostStorage | ChainedHostStorage): HostStorage | ChainedHostStorage {
    const whole: HostStorage = {
      load: () => inner.load(),
      save: (blob) => {
        inner.save(blob);
        this.wrote();
      },
    };
    if (!isChained(inner)) return whole;
    const append = (segment: Uint8Array) => {
      inner.append(segment);
      this.wrote();
    };
    return { ...whole, loadChain: () => inner.loadChain(), append };
  }
}
