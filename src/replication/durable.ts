/**
 * A replica's durable state on its untrusted host (spec ch. 6, "Rollback"). Two places:
 *
 * - the **sealed blob** (`src/vault/storage.ts`): `{currentTerm, votedFor, log, recovering}` as
 *   JSON, sealed by the replica's own HSM key, saved to host storage, then the HSM **anchor**
 *   counter advances to its version. A blob older than the anchor is refused (`StaleState`).
 * - the **ballot** counter in the HSM: `currentTerm * 16 + (votedFor + 1 or 0)`. It only grows
 *   (terms grow, and within a term a replica votes once), so the HSM keeps term and vote where no
 *   host can roll them back.
 *
 *   persist: seal blob -> advance anchor -> advance ballot -> (only then) release messages
 *   restart: blob at or ahead of the anchor        -> the replica resumes from it
 *            blob behind the anchor, or none left  -> rolled back: term and vote from the ballot,
 *                                                     empty log, `recovering` (raft.ts) until it
 *                                                     has caught up with a leader's whole log
 *
 * The vault's records are not stored: they are the committed prefix of the log, applied again
 * after a restart as the replica relearns the commit index (one copy of the truth, no second
 * anchor to keep in step).
 * @module
 */
import type { Bytes, Rng } from '../crypto/bytes.ts';
import { toHex } from '../crypto/bytes.ts';
import { isVaultError } from '../errors.ts';
import type { GenerateOptions, Hsm, KeyInfo, KeyKind } from '../hsm/hsm.ts';
import { type HostStorage, anchorName, loadSealed, saveSealed } from '../vault/storage.ts';
import { type Durable, EMPTY_DURABLE } from './raft.ts';

/**
 * Deliberately broken persistence, for the tests that show the checks can fail; never set in a
 * real fleet. `vote-not-persisted`: the vote is neither sealed nor anchored (a restarted replica
 * may vote twice in a term). `trust-host-storage`: no anchor and no ballot, the host's blob is
 * taken as it comes (a rollback goes unnoticed).
 */
export type DurableMutant = 'vote-not-persisted' | 'trust-host-storage';

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

export interface DurableStore {
  readonly hsm: Hsm;
  readonly sealLabel: string;
  readonly storage: HostStorage;
  readonly mutant?: DurableMutant;
}

function hsmFor(store: DurableStore): Hsm {
  return store.mutant === 'trust-host-storage' ? new CounterlessHsm(store.hsm) : store.hsm;
}

/** Persists `durable` as version `version + 1`; returns the new version. */
export function persistDurable<C>(store: DurableStore, version: number, durable: Durable<C>, rng: Rng): number {
  const hsm = hsmFor(store);
  const d = store.mutant === 'vote-not-persisted' ? { ...durable, votedFor: null } : durable;
  const next = version + 1;
  saveSealed(hsm, store.sealLabel, store.storage, next, d, rng);
  const ballot = encodeBallot(d.currentTerm, d.votedFor);
  const name = ballotName(store.sealLabel);
  if (hsm.readCounter(name) < ballot) hsm.advanceCounter(name, ballot);
  return next;
}

export interface LoadedDurable<C> {
  readonly durable: Durable<C>;
  readonly version: number;
  /** The host's blob was behind the anchor, gone, altered or foreign: the replica restarts recovering. */
  readonly rolledBack: boolean;
}

/**
 * Reads the durable state at restart; a rolled-back, lost, altered or foreign blob gives a
 * recovering replica (`rolledBack`): the host could as well have deleted it, and the ballot in the
 * HSM is all a recovering replica needs.
 */
export function loadDurable<C>(store: DurableStore): LoadedDurable<C> {
  const hsm = hsmFor(store);
  const ballot = decodeBallot(hsm.readCounter(ballotName(store.sealLabel)));
  try {
    const loaded = loadSealed<Durable<C>>(hsm, store.sealLabel, store.storage);
    if (loaded === null) {
      // No blob and the anchor at 0: a replica that never saved anything. Its ballot may still
      // hold a vote (it crashed between the two writes of its first persist): keep it.
      return { durable: { ...(EMPTY_DURABLE as Durable<C>), currentTerm: ballot.term, votedFor: ballot.votedFor }, version: 0, rolledBack: false };
    }
    // The ballot is written after the blob it belongs to, so it is never ahead of a fresh blob.
    if (store.mutant === undefined && encodeBallot(loaded.state.currentTerm, loaded.state.votedFor) < encodeBallot(ballot.term, ballot.votedFor)) return rolledBack(hsm, store, ballot);
    return { durable: loaded.state, version: loaded.version, rolledBack: false };
  } catch (e) {
    if (!isVaultError(e, 'StaleState') && !isVaultError(e, 'SealBroken')) throw e;
    return rolledBack(hsm, store, ballot);
  }
}

function rolledBack<C>(hsm: Hsm, store: DurableStore, ballot: { term: number; votedFor: number | null }): LoadedDurable<C> {
  const version = Number(hsm.readCounter(anchorName(store.sealLabel)));
  return { durable: { currentTerm: ballot.term, votedFor: ballot.votedFor, log: [], recovering: true }, version, rolledBack: true };
}

/** A fresh, never reused recovery nonce (64 random bits from the replica's rng). */
export function freshNonce(rng: Rng): string {
  return toHex(rng(8));
}

/** The `trust-host-storage` mutant's HSM: its counters read 0 and never move. */
class CounterlessHsm implements Hsm {
  readonly backend: Hsm['backend'];
  readonly label: string;
  constructor(private readonly inner: Hsm) {
    this.backend = inner.backend;
    this.label = inner.label;
  }
  generateKey(label: string, kind: KeyKind, options?: GenerateOptions): KeyInfo {
    return this.inner.generateKey(label, kind, options);
  }
  importKey(label: string, kind: KeyKind, secret: Bytes, options?: GenerateOptions): KeyInfo {
    return this.inner.importKey(label, kind, secret, options);
  }
  hasKey(label: string): boolean {
    return this.inner.hasKey(label);
  }
  keyInfo(label: string): KeyInfo {
    return this.inner.keyInfo(label);
  }
  deleteKey(label: string): void {
    this.inner.deleteKey(label);
  }
  sign(label: string, message: Bytes): Bytes {
    return this.inner.sign(label, message);
  }
  dh(label: string, peer: Bytes): Bytes {
    return this.inner.dh(label, peer);
  }
  hmac(label: string, message: Bytes): Bytes {
    return this.inner.hmac(label, message);
  }
  hkdfExpand(label: string, info: Bytes, length: number): Bytes {
    return this.inner.hkdfExpand(label, info, length);
  }
  seal(label: string, plaintext: Bytes, aad: Bytes, nonce: Bytes): Bytes {
    return this.inner.seal(label, plaintext, aad, nonce);
  }
  unseal(label: string, sealed: Bytes, aad: Bytes): Bytes {
    return this.inner.unseal(label, sealed, aad);
  }
  wrapKey(label: string, recipient: Bytes, rng: Rng): Bytes {
    return this.inner.wrapKey(label, recipient, rng);
  }
  unwrapKey(label: string, kind: KeyKind, wrapped: Bytes, unwrapWith: string): KeyInfo {
    return this.inner.unwrapKey(label, kind, wrapped, unwrapWith);
  }
  readCounter(): bigint {
    return 0n;
  }
  advanceCounter(): void {}
  close(): void {
    this.inner.close();
  }
}
