/**
 * What the chaos nemesis's host does to a stopped replica's sealed chain (`state.chain`, spec 15.5),
 * and what each change is. The host may do anything with the records it ever saw: put back an older
 * copy of the file, drop, swap or splice records, cut the file, change a byte, leave a torn
 * temporary file. Each change is one of
 *
 *   unchanged        the file's chain is the one it was (a torn temporary file; a splice that
 *                    rebuilt the same chain)
 *   an orphan at most  the chain is the one before the replica's last save: legitimate if that
 *                    save was cut by the kill before its anchor moved (an orphan, spec 6.6), a
 *                    rollback otherwise. The host cannot tell which; the replica can (its anchor)
 *   altered          anything else: refused at the start, always (`StaleState` or `SealBroken`)
 *
 * Why "anything else" is always refused: saves are one at a time, each anchored before the next
 * begins, so every save but the last is anchored. A chain is taken only if it links, and then it is
 * a function of its head (a version names one blob, spec 6.6.1); a head behind the anchor is
 * refused. So a chain is taken only if its head is the last save (the chain as it was) or the save
 * before it (when the last was an orphan). The one before the last is the file minus its last
 * record, or, when the last save was a base (a new file), a file the host copied before it: any
 * copy the nemesis kept then counts as "an orphan at most" (generous, never wrong).
 * @module
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Bytes, Rng } from '../crypto/bytes.ts';
import { chance, randomBetween } from '../sim/network.ts';
import { chainRecord, parseChain } from './chain-file.ts';

export type HostChange = 'unchanged' | 'an orphan at most' | 'altered';

const records = (file: Bytes | null): Bytes[] => (file === null ? [] : parseChain(file).records);
const join = (rs: readonly Bytes[]): Buffer => Buffer.concat(rs.map(chainRecord));
const same = (a: readonly Bytes[], b: readonly Bytes[]) =>
  a.length === b.length && a.every((r, k) => Buffer.compare(r, b[k]!) === 0);

/** What the host's change from `latest` to `result` (null: no file) is (the module header); `kept`: older copies. */
export function classifyChange(latest: Bytes | null, result: Bytes | null, kept: readonly Bytes[]): HostChange {
  const now = records(latest);
  const after = records(result);
  if (same(after, now)) return 'unchanged';
  const before = now.length >= 2 ? [now.slice(0, -1)] : [[], ...kept.map(records)];
  return before.some((b) => same(after, b)) ? 'an orphan at most' : 'altered';
}

/** A change made: what it did, for the nemesis's log, and what it is. */
export interface Tampering {
  readonly what: string;
  readonly change: HostChange;
}

function apply(
  path: string,
  latest: Buffer | null,
  result: Buffer | null,
  kept: readonly Bytes[],
  what: string,
): Tampering {
  if (result === null) rmSync(path, { force: true });
  else writeFileSync(path, result);
  return { what, change: classifyChange(latest, result, kept) };
}

/**
 * A rollback: an older copy of the file (one that differs from the latest; deleted when none was
 * kept), or a splice of the records the host saw: one dropped, two swapped, or the latest's last
 * record after an older copy's chain.
 */
export function rollBackChain(path: string, kept: readonly Buffer[], rng: Rng): Tampering {
  const latest = existsSync(path) ? readFileSync(path) : null;
  const older = kept.filter((c) => latest === null || !c.equals(latest));
  const now = records(latest);
  // an older chain the last record can be spliced after without giving the latest chain back
  const heads = older.filter((c) => !same(records(c), now.slice(0, -1)));
  if (now.length >= 2 && chance(rng, 0.5)) {
    const k = randomBetween(rng, 0, now.length - 1);
    const how = randomBetween(rng, 0, heads.length > 0 ? 2 : 1);
    if (how === 0) {
      const rs = now.filter((_, j) => j !== k);
      return apply(path, latest, join(rs), kept, `record ${k} of ${now.length} dropped`);
    }
    if (how === 1) {
      const j = k === 0 ? 1 : k - 1;
      const rs = now.map((r, x) => (x === k ? now[j]! : x === j ? now[k]! : r));
      return apply(path, latest, join(rs), kept, `records ${j} and ${k} of ${now.length} swapped`);
    }
    const copy = heads[randomBetween(rng, 0, heads.length - 1)]!;
    const rs = [...records(copy), now.at(-1)!];
    return apply(path, latest, join(rs), kept, `the last of ${now.length} records spliced after an older copy`);
  }
  if (older.length === 0) return apply(path, latest, null, kept, 'sealed chain deleted (no older copy kept)');
  const copy = older[randomBetween(rng, 0, older.length - 1)]!;
  const what = `sealed chain rolled back to an older copy (${copy.length} bytes, was ${latest?.length ?? 0})`;
  return apply(path, latest, copy, kept, what);
}

/**
 * A torn write, as a disk that does not keep its promises would leave it: the file cut short, one
 * byte of it changed, or a half-written temporary file beside it (a crash before a base's rename).
 */
export function tearChain(path: string, kept: readonly Buffer[], rng: Rng): Tampering {
  if (!existsSync(path)) return { what: 'nothing to tear', change: 'unchanged' };
  const latest = readFileSync(path);
  const how = randomBetween(rng, 0, 2);
  const at = randomBetween(rng, 0, Math.max(0, latest.length - 1));
  if (how === 0) {
    return apply(path, latest, latest.subarray(0, at), kept, `sealed chain cut to ${at} of ${latest.length} bytes`);
  }
  if (how === 1) {
    const bytes = Buffer.from(latest);
    bytes[at] = bytes[at]! ^ (1 + randomBetween(rng, 0, 254));
    return apply(path, latest, bytes, kept, `byte ${at} of ${latest.length} of the sealed chain changed`);
  }
  writeFileSync(`${path}.tmp`, latest.subarray(0, at));
  return { what: `a torn ${at}-byte temporary file left beside the sealed chain`, change: 'unchanged' };
}
