/**
 * A replica process's files (spec ch. 15.3): everything it keeps is written so that a crash at any
 * instant, a `kill -9` inside a save included, leaves either the old file or the new one whole:
 *
 *   write(path, bytes):  path.tmp <- bytes; fsync(path.tmp); rename(path.tmp, path); fsync(dir)
 *
 * - the host storage of spec ch. 6 (`state.chain`) is `FileChainStorage` (chain-file.ts): its bases
 *   are written so; its segments are appended. The sealing, the anchor and the ballot are the
 *   persistence rule's (src/replication/durable.ts)
 * - `fileMemoryHsm`: the memory HSM with its token in a file (`token.json`), written after every
 *   operation that changes the token (a key made or deleted, a counter advanced), before the
 *   operation returns. It stands in for an HSM's non-volatile memory in local fleets and tests;
 *   SoftHSM keeps its own token files.
 * @module
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Bytes, Rng } from '../crypto/bytes.ts';
import { type Hsm, hsmView } from '../hsm/hsm.ts';
import { MemoryHsm, type MemoryToken, restoreToken, serializeToken } from '../hsm/memory.ts';

/** Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a mix. */
export function writeAtomic(path: string, bytes: Bytes | string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Writes a memory token to `path` (atomically). */
export function saveToken(path: string, token: MemoryToken): void {
  writeAtomic(path, serializeToken(token));
}

/**
 * The memory HSM over the token in `path`: every operation that changes the token writes it back
 * before it returns, so a replica killed at any instant finds its keys and counters as its last
 * completed HSM call left them.
 */
export function fileMemoryHsm(path: string, rng: Rng): Hsm {
  const token = restoreToken(readFileSync(path, 'utf8'));
  const inner = new MemoryHsm(token, rng);
  const save = () => saveToken(path, token);
  const writing =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      const r = f(...a);
      save();
      return r;
    };
  return hsmView(inner, {
    generateKey: writing(inner.generateKey.bind(inner)),
    importKey: writing(inner.importKey.bind(inner)),
    deleteKey: writing(inner.deleteKey.bind(inner)),
    unwrapKey: writing(inner.unwrapKey.bind(inner)),
    advanceCounter: writing(inner.advanceCounter.bind(inner)),
  });
}
