/**
 * A served replica's chained host storage (spec ch. 6.6.1 "Segments", ch. 15.3): its chain in ONE
 * file, `state.chain`, a list of records, each a sealed blob with its length before it:
 *
 *   record = length (4 bytes, big-endian) || blob        file = base record, segment record, ...
 *
 *   save(base):       writeAtomic(state.chain, record(base)): a new file replaces the old chain whole
 *                     (tmp, fsync, rename, fsync of the directory); the rename is what removes the
 *                     old segments, at the instant the new base is durable
 *   append(segment):  record(segment) written at the end of the chain's last whole record, fsync
 *   loadChain():      the file's whole records; an unfinished last one (a header or a blob cut
 *                     short) is a write that never finished: not part of the chain
 *
 * Why a crash at any instant is harmless: a base is written by rename, so the file is the old chain
 * or the new base, whole. An append is the only write that lands in place, at the end: a crash
 * inside it leaves the chain with an unfinished last record, which the loader leaves out, exactly
 * as if the crash came before the write. That is safe without trusting the file, because the anchor
 * (durable.ts) moves only after `append` returned: a record cut by a crash was never anchored, and
 * a record cut by anyone else (a host, a disk that lies) that was anchored leaves a chain whose head
 * is behind the anchor: `StaleState`. Any other change (a byte of a blob, a record dropped, moved or
 * taken from another chain) fails the seal or the chain's links (`SealBroken`). Either refusal makes
 * the replica restart recovering (ch. 6).
 * @module
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Bytes } from '../crypto/bytes.ts';
import type { ChainedHostStorage } from '../vault/storage.ts';
import { writeAtomic } from './files.ts';

const HEADER = 4;

/** One record of a chain file: the blob's length, then the blob. */
export function chainRecord(blob: Bytes): Uint8Array {
  const out = new Uint8Array(HEADER + blob.length);
  new DataView(out.buffer).setUint32(0, blob.length);
  out.set(blob, HEADER);
  return out;
}

/** The whole records of a chain file, and where the last one ends (an unfinished record after it is left out). */
export function parseChain(bytes: Bytes): { records: Bytes[]; end: number } {
  const records: Bytes[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + HEADER <= bytes.length) {
    const length = view.getUint32(at);
    if (at + HEADER + length > bytes.length) break;
    records.push(bytes.slice(at + HEADER, at + HEADER + length));
    at += HEADER + length;
  }
  return { records, end: at };
}

/** The chained host storage of one served replica: its chain in one file (the module header). */
export class FileChainStorage implements ChainedHostStorage {
  readonly path: string;
  /** Bases written (`save`) and segments appended in this process's life, and the bytes they wrote. */
  saves = 0;
  appends = 0;
  bytesWritten = 0;
  /** Where the chain's last whole record ends in the file (null: not read yet). */
  #end: number | null = null;

  constructor(path: string) {
    this.path = path;
  }

  loadChain(): readonly Bytes[] {
    if (!existsSync(this.path)) {
      this.#end = null;
      return [];
    }
    const { records, end } = parseChain(new Uint8Array(readFileSync(this.path)));
    this.#end = end;
    return records;
  }

  /** The chain's last blob (its head), as `MemoryChainStorage.load`. */
  load(): Bytes | null {
    return this.loadChain().at(-1) ?? null;
  }

  save(blob: Bytes): void {
    const record = chainRecord(blob);
    writeAtomic(this.path, record);
    this.#end = record.length;
    this.saves++;
    this.bytesWritten += record.length;
  }

  append(segment: Bytes): void {
    const end = this.#end ?? (this.loadChain(), this.#end);
    const record = chainRecord(segment);
    if (end === null) writeAtomic(this.path, record); // no chain: the loader refuses a segment first
    else {
      const fd = openSync(this.path, 'r+');
      try {
        // an unfinished record after the chain (a crash inside an append) is written over
        if (fstatSync(fd).size !== end) ftruncateSync(fd, end);
        let off = 0;
        while (off < record.length) off += writeSync(fd, record, off, record.length - off, end + off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.#end = (end ?? 0) + record.length;
    this.appends++;
    this.bytesWritten += record.length;
  }
}
