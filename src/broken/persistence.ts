/**
 * Broken persistence: each undoes one part of the persistence rule of spec ch. 6 by replacing the
 * `Persistence` a replica's host runs (durable.ts), from outside.
 * @module
 */
import { type Hsm, hsmView } from '../hsm/hsm.ts';
import type { Rng } from '../crypto/bytes.ts';
import {
  type DurableStore,
  type Persist,
  type Persistence,
  SEALED_PERSISTENCE,
  persistDurable,
  readAnchor,
  readDurable,
} from '../replication/durable.ts';

/** vote-not-persisted: the vote is neither sealed nor in the ballot: a restarted replica may vote twice in a term (INV-8). */
const dropVote: Persist = (store, version, durable, rng) =>
  SEALED_PERSISTENCE.persist(store, version, { ...durable, votedFor: null }, rng);
export const VOTE_NOT_PERSISTED: Persistence = {
  load: (store, rng, persist = dropVote) => SEALED_PERSISTENCE.load(store, rng, persist),
  persist: dropVote,
};

/** An HSM whose counters read 0 and never move. */
function counterless(hsm: Hsm): Hsm {
  return hsmView(hsm, { readCounter: () => 0n, advanceCounter: () => undefined });
}

/** trust-host-storage: no anchor, no ballot: the host's blob is taken as it comes, a rollback goes unnoticed. */
const persistBlind: Persist = (store, version, durable, rng) =>
  SEALED_PERSISTENCE.persist({ ...store, hsm: counterless(store.hsm) }, version, durable, rng);
export const TRUST_HOST_STORAGE: Persistence = {
  load: (store, rng, persist = persistBlind) => SEALED_PERSISTENCE.load({ ...store, hsm: counterless(store.hsm) }, rng, persist),
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
