/**
 * Broken persistence: each undoes one part of the persistence rule of spec ch. 6 by replacing the
 * `Persistence` a replica's host runs (durable.ts), from outside.
 * @module
 */
import { type Hsm, hsmView } from '../hsm/hsm.ts';
import { isVaultError } from '../errors.ts';
import type { Durable } from '../replication/raft.ts';
import {
  type DurableDelta,
  type DurableStore,
  type Persistence,
  SEALED_PERSISTENCE,
  applyDelta,
  readAnchor,
} from '../replication/durable.ts';
import { MemoryChainStorage, isChained, openBase, openSegment, saveSealed } from '../vault/storage.ts';

/** vote-not-persisted: the vote is neither sealed nor in the ballot: a restarted replica may vote twice in a term (INV-8). */
export const VOTE_NOT_PERSISTED: Persistence = {
  load: (store) => SEALED_PERSISTENCE.load(store),
  persist: (store, version, durable, rng) => SEALED_PERSISTENCE.persist(store, version, { ...durable, votedFor: null }, rng),
};

/** An HSM whose counters read 0 and never move. */
function counterless(hsm: Hsm): Hsm {
  return hsmView(hsm, { readCounter: () => 0n, advanceCounter: () => undefined });
}

/** trust-host-storage: no anchor, no ballot: the host's blob is taken as it comes, a rollback goes unnoticed. */
export const TRUST_HOST_STORAGE: Persistence = {
  load: (store) => SEALED_PERSISTENCE.load({ ...store, hsm: counterless(store.hsm) }),
  persist: (store, version, durable, rng) => SEALED_PERSISTENCE.persist({ ...store, hsm: counterless(store.hsm) }, version, durable, rng),
};

/**
 * version-reuse: the persistence of 6ee2d9d. A life numbers its saves from the version it loaded,
 * not from a new incarnation: after a crash between a save and its anchor, the next life writes
 * the same version again, and the host chooses which of the two the replica wakes up on.
 */
export const VERSION_REUSE: Persistence = {
  load<C>(store: DurableStore) {
    const loaded = SEALED_PERSISTENCE.load<C>(store);
    // the anchor now stands at the loaded blob's version (or at the recovering state's)
    return { ...loaded, version: readAnchor(store) };
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
  load<C>(store: DurableStore) {
    const storage = store.storage;
    const chain = isChained(storage) ? storage.loadChain() : [];
    if (chain.length < 2) return SEALED_PERSISTENCE.load<C>(store);
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
      return SEALED_PERSISTENCE.load<C>({ ...store, storage: flat });
    } catch (e) {
      if (!isVaultError(e)) throw e;
      return SEALED_PERSISTENCE.load<C>(store);
    }
  },
  persist: (store, version, durable, rng, prev) => SEALED_PERSISTENCE.persist(store, version, durable, rng, prev),
};
