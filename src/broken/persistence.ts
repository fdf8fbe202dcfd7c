/**
 * Broken persistence: each undoes one part of the persistence rule of spec ch. 6 by replacing the
 * `Persistence` a replica's host runs (durable.ts), from outside.
 * @module
 */
import { type Hsm, hsmView } from '../hsm/hsm.ts';
import type { Rng } from '../crypto/bytes.ts';
import { isVaultError } from '../errors.ts';
import type { Durable } from '../replication/raft.ts';
import {
  type DurableDelta,
  type DurableStore,
  type Persist,
  type Persistence,
  SEALED_PERSISTENCE,
  applyDelta,
  persistDurable,
  readAnchor,
  readDurable,
} from '../replication/durable.ts';
import { MemoryChainStorage, isChained, openBase, openSegment, saveSealed } from '../vault/storage.ts';

/**
 * vote-not-persisted: the vote is neither sealed nor in the ballot: a restarted replica may vote
 * twice in a term (INV-8).
 */
const dropVote: Persist = (store, version, durable, rng) =>
  SEALED_PERSISTENCE.persist(store, version, { ...durable, votedFor: null }, rng);
export const VOTE_NOT_PERSISTED: Persistence = {
  load: (store, rng, persist = dropVote) => SEALED_PERSISTENCE.load(store, rng, persist),
  persist: dropVote,
};

/**
 * ack-before-durable: nothing is ever written (no sealed state, no anchor, no ballot), so every vote
 * and acknowledgement rests on memory alone: a replica restarts as new, and a fleet that crashes at
 * once forgets what it acknowledged (INV-6). The extreme of acknowledging before the save.
 */
const persistNothing: Persist = (_store, version) => version + 1n;
export const ACK_BEFORE_DURABLE: Persistence = {
  load: (store, rng, persist = persistNothing) => SEALED_PERSISTENCE.load(store, rng, persist),
  persist: persistNothing,
};

/** An HSM whose counters read 0 and never move. */
function counterless(hsm: Hsm): Hsm {
  return hsmView(hsm, { readCounter: () => 0n, advanceCounter: () => undefined });
}

/** trust-host-storage: no anchor, no ballot: the host's blob is taken as it comes, a rollback goes unnoticed. */
const persistBlind: Persist = (store, version, durable, rng) =>
  SEALED_PERSISTENCE.persist({ ...store, hsm: counterless(store.hsm) }, version, durable, rng);
export const TRUST_HOST_STORAGE: Persistence = {
  load: (store, rng, persist = persistBlind) =>
    SEALED_PERSISTENCE.load({ ...store, hsm: counterless(store.hsm) }, rng, persist),
  persist: persistBlind,
};

/**
 * version-reuse: the persistence of 6ee2d9d. A life numbers its saves from the version it loaded,
 * not from a new incarnation: after a crash between a save and its anchor, the next life writes
 * the same version again, and the host chooses which of the two the replica wakes up on.
 */
export const VERSION_REUSE: Persistence = {
  load<C>(store: DurableStore, rng: Rng, persist: Persist = persistDurable) {
    const read = readDurable<C>(store);
    // the anchor now stands at the loaded blob's version (or at the recovering state's)
    const version = readAnchor(store);
    return { ...read, version: read.rolledBack ? persist(store, version, read.durable, rng) : version };
  },
  persist: (store, version, durable, rng) => SEALED_PERSISTENCE.persist(store, version, durable, rng),
};

/**
 * no-reseal-at-start: the persistence of 84e9c74. A start seals nothing unless it detected a
 * rollback, so the anchor stays at the blob it resumed from: two lives started on one blob can
 * each leave an orphan, and the host starts the replica on one (which re-grants a vote or
 * re-acknowledges, needing no save), then on the other, newer one, which lacks it.
 */
export const NO_RESEAL_AT_START: Persistence = {
  load<C>(store: DurableStore, rng: Rng, persist: Persist = persistDurable) {
    const read = readDurable<C>(store);
    return read.rolledBack ? { ...read, version: persist(store, read.version, read.durable, rng) } : read;
  },
  persist: (store, version, durable, rng) => SEALED_PERSISTENCE.persist(store, version, durable, rng),
};

/**
 * unchained-segments: a loader that opens every segment of the chain the host presents and applies
 * it, without checking that each one follows the one before (its version the next): a host may
 * drop, reorder or splice segments. Built from outside: the chain is flattened into one base at
 * its head's version, which the rule's loader then takes.
 */
export const UNCHAINED_SEGMENTS: Persistence = {
  load<C>(store: DurableStore, rng: Rng, persist: Persist = persistDurable) {
    const storage = store.storage;
    const chain = isChained(storage) ? storage.loadChain() : [];
    if (chain.length < 2) return SEALED_PERSISTENCE.load<C>(store, rng, persist);
    try {
      const base = openBase(store.hsm, store.sealLabel, chain[0]!);
      let version = base.version;
      let durable = base.json as Durable<C>;
      for (const blob of chain.slice(1)) {
        const seg = openSegment(store.hsm, store.sealLabel, blob);
        version = seg.version;
        durable = applyDelta(durable, seg.json as DurableDelta<C>);
      }
      const flat = new MemoryChainStorage();
      saveSealed(store.hsm, store.sealLabel, flat, version, durable, (n) => new Uint8Array(n));
      // read as the rule reads, then the start's reseal onto the host's own storage
      const read = readDurable<C>({ ...store, storage: flat });
      return { ...read, version: persist(store, read.version, read.durable, rng) };
    } catch (e) {
      if (!isVaultError(e)) throw e;
      return SEALED_PERSISTENCE.load<C>(store, rng, persist);
    }
  },
  persist: (store, version, durable, rng, prev) => SEALED_PERSISTENCE.persist(store, version, durable, rng, prev),
};
