/**
 * Sealed host storage for one replica (spec ch. 6, "The persistence rule"). The host keeps the
 * replica's durable state, but only as a blob sealed (AES-256-GCM) by a key inside the replica's
 * HSM: it can keep every blob it was ever given, lose them, present any of them at a restart, and
 * crash the replica between any two HSM calls, but it cannot read or forge one.
 *
 * Two monotonic counters inside the HSM make that harmless:
 * - the **anchor**: the lowest version the replica may wake up on. It advances to a blob's version
 *   after the blob is written and before anything that depends on it leaves the HSM.
 * - the **incarnation**: advanced once at every start. A version is `incarnation * 2^32 + n` for the
 *   n-th save of that life, so no version is ever given to two blobs: a blob written in a life that
 *   crashed before its anchor moved (an orphan) is older than every save of every later life.
 *
 *   save(state):  seal (version, state) -> host write -> anchor := version -> (release)
 *   start:        blob older than the anchor, or none while the anchor is past 0 -> rolled back
 *                 otherwise: anchor := version of the blob; incarnation += 1; then the replica's
 *                 host (durable.ts) reseals what it resumes from as the new life's first save
 *
 * Why it holds: versions grow with the time of their write. An effect leaves in a life whose
 * anchor stands at a version w sealing the state it comes from (its own save, or the life's reseal
 * for an effect that needs no save), and w is then the newest blob there is; the anchor never moves
 * back, so every later start is on a blob written after w, by that life or by a later one that
 * started on a blob >= w: it descends from w. The 6ee2d9d rule numbered a life's saves from its
 * loaded version: two lives could both write `v + 1`, and the host chose which one the replica woke
 * on. The 84e9c74 rule did not reseal: two lives started on one blob could leave sibling orphans,
 * and the anchor of a life resumed on the older one did not exclude the newer (spec ch. 6.6).
 * @module
 */
import { type Bytes, type Rng, concat, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';

/** What a host offers a replica: one blob, read and written whole. */
export interface HostStorage {
  load(): Bytes | null;
  save(blob: Bytes): void;
}

/**
 * Host storage for a chain of sealed segments (spec ch. 6, "Segments"): `save` starts a new chain
 * with a whole-state blob (a base), `append` adds one segment after the blob presented (or last
 * written), and `loadChain` returns the chain that ends at the blob presented, base first (empty:
 * none). A host that drops, reorders or splices segments is seen by the loader (`loadSealedChain`).
 */
export interface ChainedHostStorage extends HostStorage {
  append(segment: Bytes): void;
  loadChain(): readonly Bytes[];
}

/**
 * Host storage in memory that keeps every blob it was ever given, with the host's powers exposed
 * for tests and simulations: present any kept blob at the next load, or none.
 */
export class MemoryHostStorage implements HostStorage {
  readonly history: Bytes[] = [];
  /** For each blob in `history`, the one it was appended after (-1: a base, written by `save`). */
  readonly parents: number[] = [];
  /** The index in `history` the next load returns; null: the latest. */
  #presented: number | null = null;
  #lost = false;

  load(): Bytes | null {
    if (this.#lost) return null;
    return (this.#presented === null ? this.history.at(-1) : this.history[this.#presented]) ?? null;
  }
  save(blob: Bytes): void {
    this.push(blob, -1);
  }
  protected push(blob: Bytes, parent: number): void {
    this.history.push(blob.slice());
    this.parents.push(parent);
    this.#presented = null;
    this.#lost = false;
  }
  /** The host presents the blob of save `index` (0-based) from now on, until the next save. */
  present(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.history.length) {
      throw new RangeError(`present: "index" expected an integer in 0..${this.history.length - 1}, got ${index}`);
    }
    this.#presented = index;
    this.#lost = false;
  }
  /**
   * The host rolls back: the blob `n` saves before the latest is presented (none at all past the
   * first), with the chain that leads to it.
   */
  rollback(n: number): void {
    const index = this.history.length - 1 - n;
    if (index < 0) this.#lost = this.history.length > 0;
    else this.present(index);
  }
  /** The blob the next load returns, as an index into `history` (null: none). */
  get presented(): number | null {
    if (this.#lost || this.history.length === 0) return null;
    return this.#presented ?? this.history.length - 1;
  }
}

/**
 * Chained host storage in memory (a replica's, spec ch. 6 "Segments"): every blob kept, each
 * segment after the one presented when it was appended; presenting a blob presents its chain.
 */
export class MemoryChainStorage extends MemoryHostStorage implements ChainedHostStorage {
  append(segment: Bytes): void {
    this.push(segment, this.presented ?? -1);
  }
  loadChain(): readonly Bytes[] {
    const chain: Bytes[] = [];
    for (let k = this.presented ?? -1; k >= 0; k = this.parents[k]!) chain.push(this.history[k]!);
    return chain.reverse();
  }
}

/** Does this host keep chains (segments), or one blob read and written whole? */
export function isChained(storage: HostStorage): storage is ChainedHostStorage {
  const s = storage as Partial<ChainedHostStorage>;
  return typeof s.append === 'function' && typeof s.loadChain === 'function';
}

/** A version: the incarnation in the high 32 bits, the save within it in the low 32. */
export type Version = bigint;

const SAVES_PER_LIFE = 1n << 32n;

/** "incarnation.save", for traces. */
export function describeVersion(v: Version): string {
  return `${v / SAVES_PER_LIFE}.${v % SAVES_PER_LIFE}`;
}

/** The version after `v` within one life. */
export function nextVersion(v: Version): Version {
  if ((v + 1n) % SAVES_PER_LIFE === 0n)
    throw new VaultError('InvalidParameter', `version ${describeVersion(v)}: no save left in this life`);
  return v + 1n;
}

const AAD = utf8('bkv sealed state v2');
/** A segment's: a segment never reads as a base, nor a base as a segment. */
const SEGMENT_AAD = utf8('bkv sealed segment v1');
/** The anchor's counter name: one per sealing key, so several vaults can share a token. */
export function anchorName(sealLabel: string): string {
  return `${sealLabel}#anchor`;
}
/** The incarnation counter's name. */
export function incarnationName(sealLabel: string): string {
  return `${sealLabel}#incarnation`;
}

function encodeVersion(v: Version): Bytes {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v);
  return b;
}

/** Seals `state` (any JSON value) at `version`, hands it to the host, then advances the anchor to it. */
export function saveSealed(
  hsm: Hsm,
  sealLabel: string,
  storage: HostStorage,
  version: Version,
  state: unknown,
  rng: Rng,
): void {
  const plaintext = concat(encodeVersion(version), utf8(JSON.stringify(state)));
  storage.save(hsm.seal(sealLabel, plaintext, concat(AAD, utf8(hsm.label)), rng(12)));
  const anchor = anchorName(sealLabel);
  if (hsm.readCounter(anchor) < version) hsm.advanceCounter(anchor, version);
}

/**
 * Loads and checks the sealed state at a start: null when the host has none and the anchor is at
 * 0; `StaleState` when the blob is older than the anchor or missing; `SealBroken` when it is not
 * this replica's. An accepted blob ahead of the anchor (written, then a crash before the anchor
 * moved) moves the anchor up to it before anything else happens.
 */
export function loadSealed<T>(
  hsm: Hsm,
  sealLabel: string,
  storage: HostStorage,
): { version: Version; state: T } | null {
  const anchor = hsm.readCounter(anchorName(sealLabel));
  const blob = storage.load();
  if (blob === null) {
    if (anchor > 0n)
      throw new VaultError('StaleState', `host storage is empty but the HSM anchor is at ${describeVersion(anchor)}`);
    return null;
  }
  const plaintext = hsm.unseal(sealLabel, blob, concat(AAD, utf8(hsm.label)));
  const version = new DataView(plaintext.buffer, plaintext.byteOffset, 8).getBigUint64(0);
  if (version < anchor) {
    throw new VaultError(
      'StaleState',
      `host storage holds ${describeVersion(version)}, the HSM anchor is at ${describeVersion(anchor)} (rolled back)`,
    );
  }
  if (version > anchor) hsm.advanceCounter(anchorName(sealLabel), version);
  return { version, state: JSON.parse(new TextDecoder().decode(plaintext.subarray(8))) as T };
}

/** Seals one segment (a change since the save before, `version - 1`), appends it, then advances the anchor. */
export function appendSealed(
  hsm: Hsm,
  sealLabel: string,
  storage: ChainedHostStorage,
  version: Version,
  delta: unknown,
  rng: Rng,
): void {
  if (version % SAVES_PER_LIFE <= 1n) {
    throw new VaultError('InvalidParameter', `segment ${describeVersion(version)}: a life begins with a base`);
  }
  const plaintext = concat(encodeVersion(version), utf8(JSON.stringify(delta)));
  storage.append(hsm.seal(sealLabel, plaintext, concat(SEGMENT_AAD, utf8(hsm.label)), rng(12)));
  const anchor = anchorName(sealLabel);
  if (hsm.readCounter(anchor) < version) hsm.advanceCounter(anchor, version);
}

function openSealed(hsm: Hsm, sealLabel: string, blob: Bytes, aad: Bytes): { version: Version; json: unknown } {
  const plaintext = hsm.unseal(sealLabel, blob, concat(aad, utf8(hsm.label)));
  const version = new DataView(plaintext.buffer, plaintext.byteOffset, 8).getBigUint64(0);
  return { version, json: JSON.parse(new TextDecoder().decode(plaintext.subarray(8))) };
}

/** Unseals a base (a whole state): its version and content; `SealBroken` if it is not one of this replica's. */
export function openBase(hsm: Hsm, sealLabel: string, blob: Bytes): { version: Version; json: unknown } {
  return openSealed(hsm, sealLabel, blob, AAD);
}

/** Unseals a segment: its version and content; `SealBroken` if it is not one of this replica's. */
export function openSegment(hsm: Hsm, sealLabel: string, blob: Bytes): { version: Version; json: unknown } {
  return openSealed(hsm, sealLabel, blob, SEGMENT_AAD);
}

/**
 * Loads a chain at a start, as `loadSealed` loads a blob: its first blob a base, each next one a
 * segment sealed at the version after the one before it (so in the same life: a life's first save
 * is a base). Versions are never reused, so a version names one blob: a chain with a segment
 * missing, moved, or taken from another chain is refused (`SealBroken`, as an altered blob). The
 * head's version is then held against the anchor exactly as a blob's (`StaleState` if behind; the
 * anchor moves up to an orphan ahead of it).
 */
export function loadSealedChain<T, D>(
  hsm: Hsm,
  sealLabel: string,
  storage: ChainedHostStorage,
  apply: (state: T, delta: D) => T,
): { version: Version; state: T } | null {
  const anchor = hsm.readCounter(anchorName(sealLabel));
  const chain = storage.loadChain();
  if (chain.length === 0) {
    if (anchor > 0n) {
      throw new VaultError('StaleState', `host storage is empty but the HSM anchor is at ${describeVersion(anchor)}`);
    }
    return null;
  }
  const base = openBase(hsm, sealLabel, chain[0]!);
  let version = base.version;
  let state = base.json as T;
  for (let k = 1; k < chain.length; k++) {
    const seg = openSegment(hsm, sealLabel, chain[k]!);
    if (seg.version !== version + 1n) {
      const what = `segment ${describeVersion(seg.version)} follows ${describeVersion(version)}`;
      throw new VaultError('SealBroken', `${what}: a segment dropped, moved or spliced`);
    }
    version = seg.version;
    state = apply(state, seg.json as D);
  }
  if (version < anchor) {
    const held = `host storage holds ${describeVersion(version)}`;
    throw new VaultError('StaleState', `${held}, the HSM anchor is at ${describeVersion(anchor)} (rolled back)`);
  }
  if (version > anchor) hsm.advanceCounter(anchorName(sealLabel), version);
  return { version, state };
}

/** Is `v` a life's beginning, before its first save (the next save must be a base)? */
export function isLifeStart(v: Version): boolean {
  return v % SAVES_PER_LIFE === 0n;
}

/**
 * A new life: advances the HSM's incarnation counter and returns the version this life's saves
 * follow (its first save is `nextVersion` of it). Called at every start, after the load.
 */
export function beginIncarnation(hsm: Hsm, sealLabel: string): Version {
  const name = incarnationName(sealLabel);
  const next = hsm.readCounter(name) + 1n;
  if (next >= SAVES_PER_LIFE) throw new VaultError('InvalidParameter', `incarnation counter exhausted at ${next}`);
  hsm.advanceCounter(name, next);
  return next * SAVES_PER_LIFE;
}
