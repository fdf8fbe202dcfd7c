/**
 * A replica's durable state on its untrusted host (spec ch. 6, "The persistence rule"). Three
 * places:
 *
 * - the **sealed blob** (`src/vault/storage.ts`): `{currentTerm, votedFor, log, recovering}` as
 *   JSON, sealed by the replica's own HSM key at a version never used before (incarnation, save),
 *   saved to host storage, then the HSM **anchor** counter advances to that version.
 * - the **ballot** counter in the HSM: `currentTerm * 16 + (votedFor + 1 or 0)`. It only grows
 *   (terms grow, and within a term a replica votes once), so the HSM keeps term and vote where no
 *   host can roll them back.
 * - the **incarnation** counter in the HSM, advanced at every start (storage.ts).
 *
 *   persist: seal blob -> host write -> advance anchor -> advance ballot -> (only then) release
 *   restart: blob at or ahead of the anchor, ballot not ahead of it -> the replica resumes from it
 *            blob behind the anchor, none left, altered, foreign, or its ballot behind the HSM's
 *                                    -> rolled back: term and vote from the ballot, empty log,
 *                                       `recovering` (raft.ts) until it has caught up with a
 *                                       leader's whole log
 *            either way: a new incarnation, so this life's saves reuse no version, and what the
 *            start resumes from is sealed as that incarnation's first save before the replica
 *            does anything else (the **reseal**)
 *
 * Why the reseal: a replica releases some effects with no save (raft.ts re-grants a vote it holds
 * and re-acknowledges entries it holds). Without it, two lives started on the same blob `v` can each
 * leave an orphan (`A` in incarnation i, `B` in i + 1, neither anchored); the host starts the replica
 * on `A`, which re-grants a vote or re-acknowledges, then on `B`: `B` is ahead of the anchor and of
 * the ballot, and lacks what `A`'s life released (review of issue 15: two votes in one term, a
 * committed guess lost). With the reseal, a life releases nothing before its anchor stands at its
 * own first save, newer than every blob of every earlier life: `A` and `B` are both refused from
 * then on, and every blob accepted later descends from what was released.
 *
 * The vault's records are stored only as the snapshot (raft.ts `compactLog`: the records applied
 * at a committed index, sealed in the blob with the log after it, under the same version and
 * anchor); after it, they are the committed log, applied again after a restart as the replica
 * relearns the commit index (one copy of the truth, no second anchor to keep in step). A new
 * snapshot is saved as a base, a new chain: the segments before it are no longer read.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { toHex } from '../crypto/bytes.ts';
import { VaultError, isVaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import {
  type ChainedHostStorage,
  type HostStorage,
  type Version,
  anchorName,
  appendSealed,
  beginIncarnation,
  isChained,
  isLifeStart,
  loadSealed,
  loadSealedChain,
  nextVersion,
  saveSealed,
} from '../vault/storage.ts';
import { type Durable, EMPTY_DURABLE, type Entry, lastIndexOf, logDerivation, snapshotIndex } from './raft.ts';

/** The HSM counter holding term and vote. */
export function ballotName(sealLabel: string): string {
  return `${sealLabel}#ballot`;
}

const VOTE_SLOTS = 16n; // votedFor + 1 <= 9 < 16

export function encodeBallot(term: number, votedFor: number | null): bigint {
  return BigInt(term) * VOTE_SLOTS + BigInt(votedFor === null ? 0 : votedFor + 1);
}

export function decodeBallot(v: bigint): { term: number; votedFor: number | null } {
  const slot = Number(v % VOTE_SLOTS);
  return { term: Number(v / VOTE_SLOTS), votedFor: slot === 0 ? null : slot - 1 };
}

/** Where a replica's durable state lives: its HSM (key and counters) and its host's storage. */
export interface DurableStore {
  readonly hsm: Hsm;
  readonly sealLabel: string;
  /** Chained (segments), or a single blob written whole at every save (the single-replica vault's). */
  readonly storage: HostStorage | ChainedHostStorage;
}

/**
 * What a segment holds: term, vote and recovery as they now are, and the log from index `from` on
 * (the entries before it are the previous save's; a conflict replaced the ones after).
 */
export interface DurableDelta<C> {
  readonly currentTerm: number;
  readonly votedFor: number | null;
  readonly recovering: boolean;
  readonly from: number;
  readonly entries: readonly Entry<C>[];
}

function sameEntry<C>(a: Entry<C>, b: Entry<C>): boolean {
  return a === b || (a.term === b.term && canonicalJson(a.command) === canonicalJson(b.command));
}

/** The change from `prev` to `next`, of one snapshot (a new one is a base): the log from where they differ. */
export function durableDelta<C>(prev: Durable<C>, next: Durable<C>): DurableDelta<C> {
  if (prev.snapshot !== next.snapshot) throw new VaultError('InvalidParameter', 'a new snapshot is saved as a base');
  const n = Math.min(prev.log.length, next.log.length);
  // raft.ts knows how it made the new log from the old one: no entry-by-entry comparison then
  let k = logDerivation(next.log, prev.log) ?? 0;
  while (k < n && prev.log[k] === next.log[k]) k++; // the common prefix is shared, not copied
  while (k < n && sameEntry(prev.log[k]!, next.log[k]!)) k++;
  const { currentTerm, votedFor, recovering } = next;
  return { currentTerm, votedFor, recovering, from: snapshotIndex(next) + k + 1, entries: next.log.slice(k) };
}

/**
 * A segment applied to the state before it. `inPlace`: `d.log` is the caller's own and may grow
 * (the loader's, so that a chain loads in time linear in its length).
 */
export function applyDelta<C>(d: Durable<C>, delta: DurableDelta<C>, inPlace = false): Durable<C> {
  const { entries } = delta;
  const from = delta.from - snapshotIndex(d); // in d.log, from 1
  if (!Number.isInteger(from) || from < 1 || from > d.log.length + 1 || !Array.isArray(entries)) {
    throw new VaultError('SealBroken', `a segment starting at index ${delta.from} follows a log of ${lastIndexOf(d)}`);
  }
  const log = inPlace && from === d.log.length + 1 ? (d.log as Entry<C>[]) : d.log.slice(0, from - 1);
  for (const e of delta.entries) log.push(e);
  const { currentTerm, votedFor, recovering } = delta;
  return { currentTerm, votedFor, log, recovering, ...(d.snapshot && { snapshot: d.snapshot }) };
}

/**
 * Persists `durable` as the version after `version`; returns that version. With `prev`, the state
 * last persisted, a save after the first of a life writes only a segment (the change since `prev`);
 * otherwise, for a life's first save, and for a new snapshot, a base (the whole state: a new chain,
 * so that the host may forget the old one and its compacted log).
 */
export function persistDurable<C>(
  store: DurableStore,
  version: Version,
  durable: Durable<C>,
  rng: Rng,
  prev?: Durable<C>,
): Version {
  const { hsm, sealLabel } = store;
  const next = nextVersion(version);
  const storage = store.storage;
  if (prev === undefined || isLifeStart(version) || !isChained(storage) || prev.snapshot !== durable.snapshot) {
    saveSealed(hsm, sealLabel, storage, next, durable, rng);
  } else appendSealed(hsm, sealLabel, storage, next, durableDelta(prev, durable), rng);
  const ballot = encodeBallot(durable.currentTerm, durable.votedFor);
  const name = ballotName(sealLabel);
  if (hsm.readCounter(name) < ballot) hsm.advanceCounter(name, ballot);
  return next;
}

export interface LoadedDurable<C> {
  readonly durable: Durable<C>;
  /** The version this life's saves follow (a new incarnation). */
  readonly version: Version;
  /** The host's blob was behind the anchor, gone, altered or foreign: the replica restarts recovering. */
  readonly rolledBack: boolean;
  /** Why, when rolled back: the refusal the load met. */
  readonly refusal?: VaultError;
}

/**
 * Reads the durable state at a start and begins a new incarnation, writing nothing to the host; a
 * rolled-back, lost, altered or foreign blob gives a recovering replica (`rolledBack`): the host
 * could as well have deleted it, and the ballot in the HSM is all a recovering replica needs.
 */
export function readDurable<C>(store: DurableStore): LoadedDurable<C> {
  const { hsm, sealLabel } = store;
  const ballot = decodeBallot(hsm.readCounter(ballotName(sealLabel)));
  let durable: Durable<C>;
  let refusal: VaultError | undefined;
  try {
    const storage = store.storage;
    const loaded = isChained(storage)
      ? loadSealedChain<Durable<C>, DurableDelta<C>>(hsm, sealLabel, storage, (d, x) => applyDelta(d, x, true))
      : loadSealed<Durable<C>>(hsm, sealLabel, storage);
    // No blob and the anchor at 0: a replica that never saved anything. Its ballot may still hold
    // a vote (it crashed between the two writes of its first persist): keep it.
    durable = loaded?.state ?? {
      ...(EMPTY_DURABLE as Durable<C>),
      currentTerm: ballot.term,
      votedFor: ballot.votedFor,
    };
    // The ballot is advanced after the blob it belongs to, so it is never ahead of a blob at or
    // ahead of the anchor; if it is, the blob is not the latest this replica acted on.
    if (encodeBallot(durable.currentTerm, durable.votedFor) < encodeBallot(ballot.term, ballot.votedFor)) {
      refusal = new VaultError(
        'StaleState',
        `the blob holds term ${durable.currentTerm}, the HSM ballot term ${ballot.term} (rolled back)`,
      );
    }
  } catch (e) {
    if (!isVaultError(e, 'StaleState') && !isVaultError(e, 'SealBroken')) throw e;
    refusal = e;
  }
  const version = beginIncarnation(hsm, sealLabel);
  if (refusal === undefined) return { durable: durable!, version, rolledBack: false };
  const recovering = { currentTerm: ballot.term, votedFor: ballot.votedFor, log: [], recovering: true };
  return { durable: recovering, version, rolledBack: true, refusal };
}

/** How a durable state is saved: `persistDurable`, or a host's wrapper of it. */
export type Persist = <C>(
  store: DurableStore,
  version: Version,
  durable: Durable<C>,
  rng: Rng,
  prev?: Durable<C>,
) => Version;

/**
 * A start: reads the durable state (`readDurable`), then seals it as the new incarnation's first
 * save (the reseal, through `persist`), so that the anchor and the ballot stand past every blob of an
 * earlier life before the replica does anything else. `version` is that save's.
 */
export function loadDurable<C>(store: DurableStore, rng: Rng, persist: Persist = persistDurable): LoadedDurable<C> {
  const read = readDurable<C>(store);
  return { ...read, version: persist(store, read.version, read.durable, rng) };
}

/** The persistence a replica's host runs: load at a start, persist after a step that changed `durable`. */
export interface Persistence {
  /**
   * A start; its saves go through `persist` (default: this persistence's own), so a host that
   * watches saves sees them.
   */
  load<C>(store: DurableStore, rng: Rng, persist?: Persist): LoadedDurable<C>;
  /** `prev`: the state last persisted, when the caller has it (the save may then be a segment). */
  persist<C>(store: DurableStore, version: Version, durable: Durable<C>, rng: Rng, prev?: Durable<C>): Version;
}

/** The rule of spec ch. 6. */
export const SEALED_PERSISTENCE: Persistence = Object.freeze({
  load: <C>(store: DurableStore, rng: Rng, persist: Persist = persistDurable) => loadDurable<C>(store, rng, persist),
  persist: persistDurable,
});

/** The anchor as it stands (for traces and tests). */
export function readAnchor(store: DurableStore): Version {
  return store.hsm.readCounter(anchorName(store.sealLabel));
}

/** A fresh, never reused recovery nonce (64 random bits from the replica's rng). */
export function freshNonce(rng: Rng): string {
  return toHex(rng(8));
}
