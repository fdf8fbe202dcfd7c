/**
 * Sealed host storage for one replica (spec ch. 6, "Untrusted hosts"). The host keeps the
 * replica's durable state, but only as a blob sealed (AES-256-GCM) by a key inside the replica's
 * HSM; it can lose it, replay an old one, or roll it back, and cannot read or forge it.
 *
 * Rollback is caught by a monotonic counter inside the HSM (the anchor): a state of version v is
 * saved, then the anchor advances to v, and only then is anything acknowledged. On restart a blob
 * older than the anchor is refused with 'StaleState'; a blob one ahead (saved, crashed before the
 * anchor moved) is accepted and the anchor catches up.
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

/** Host storage in memory, with the host's powers exposed for tests: history, rollback, loss. */
export class MemoryHostStorage implements HostStorage {
  readonly history: Bytes[] = [];
  load(): Bytes | null {
    return this.history.at(-1) ?? null;
  }
  save(blob: Bytes): void {
    this.history.push(blob.slice());
  }
  /** The host rolls back: the last `n` saves are forgotten. */
  rollback(n: number): void {
    this.history.splice(Math.max(0, this.history.length - n), n);
  }
}

const AAD = utf8('bkv sealed state v1');
/** The anchor's counter name: one per sealing key, so several vaults can share a token. */
export function anchorName(sealLabel: string): string {
  return `${sealLabel}#version`;
}

function encodeVersion(v: number): Bytes {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
}

/** Seals `state` (any JSON value) at `version`, saves it, then advances the anchor. */
export function saveSealed(hsm: Hsm, sealLabel: string, storage: HostStorage, version: number, state: unknown, rng: Rng): void {
  const plaintext = concat(encodeVersion(version), utf8(JSON.stringify(state)));
  storage.save(hsm.seal(sealLabel, plaintext, concat(AAD, utf8(hsm.label)), rng(12)));
  const anchor = anchorName(sealLabel);
  if (hsm.readCounter(anchor) < BigInt(version)) hsm.advanceCounter(anchor, BigInt(version));
}

/** Loads and checks the sealed state: null when the host has none and the anchor is at 0. */
export function loadSealed<T>(hsm: Hsm, sealLabel: string, storage: HostStorage): { version: number; state: T } | null {
  const anchor = hsm.readCounter(anchorName(sealLabel));
  const blob = storage.load();
  if (blob === null) {
    if (anchor > 0n) throw new VaultError('StaleState', `host storage is empty but the HSM anchor is at version ${anchor}`);
    return null;
  }
  const plaintext = hsm.unseal(sealLabel, blob, concat(AAD, utf8(hsm.label)));
  const version = Number(new DataView(plaintext.buffer, plaintext.byteOffset, 8).getBigUint64(0));
  if (BigInt(version) < anchor) throw new VaultError('StaleState', `host storage holds version ${version}, the HSM anchor is at ${anchor} (rolled back)`);
  if (BigInt(version) > anchor) hsm.advanceCounter(anchorName(sealLabel), BigInt(version));
  return { version, state: JSON.parse(new TextDecoder().decode(plaintext.subarray(8))) as T };
}
