/**
 * Strict readers for the fleet's JSON documents (artifact, attestations, bundles, tree heads,
 * evidence, the files `bkv audit` reads). Every document has a closed shape: an object has exactly
 * its required members plus the optional ones it names, bytes are lowercase hex of the stated
 * length, numbers are safe integers in a stated range. Anything else is `MalformedMessage` naming
 * the path of the offending member (`bundle.epoch`, `evidence.events[3].body.seq`).
 *
 * Strictness is what makes tampering visible: a document that carried an unchecked member could be
 * altered without any verifier noticing (spec ch. 8, "Every byte is checked").
 * @module
 */
import { type Bytes, fromHex } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';

export function malformed(path: string, message: string): VaultError {
  return new VaultError('MalformedMessage', `${path}: ${message}`);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  return `${typeof x} ${typeof x === 'object' ? '' : String(x)}`.trim();
}

/** An object with exactly the `required` members and any of the `optional` ones. */
export function readObject(
  x: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x))
    throw malformed(path, `expected an object, got ${describe(x)}`);
  const o = x as Record<string, unknown>;
  for (const k of required) if (!(k in o) || o[k] === undefined) throw malformed(path, `missing member "${k}"`);
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) throw malformed(path, `unexpected member "${k}"`);
  }
  return o;
}

export function readArray(x: unknown, path: string, min = 0): unknown[] {
  if (!Array.isArray(x)) throw malformed(path, `expected an array, got ${describe(x)}`);
  if (x.length < min) throw malformed(path, `expected at least ${min} elements, got ${x.length}`);
  return x;
}

export function readString(x: unknown, path: string, pattern?: RegExp): string {
  if (typeof x !== 'string') throw malformed(path, `expected a string, got ${describe(x)}`);
  if (pattern !== undefined && !pattern.test(x)) throw malformed(path, `expected ${pattern}, got ${describe(x)}`);
  return x;
}

/** One of `choices`. */
export function readChoice<T extends string>(x: unknown, path: string, choices: readonly T[]): T {
  if (typeof x !== 'string' || !(choices as readonly string[]).includes(x))
    throw malformed(path, `expected one of ${choices.join(', ')}, got ${describe(x)}`);
  return x as T;
}

/** Exactly the string `value` (the `type` member of a document). */
export function readConstant(x: unknown, path: string, value: string): string {
  if (x !== value) throw malformed(path, `expected ${JSON.stringify(value)}, got ${describe(x)}`);
  return value;
}

export function readInt(x: unknown, path: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max)
    throw malformed(path, `expected an integer in ${min}..${max}, got ${describe(x)}`);
  return x;
}

export function readBool(x: unknown, path: string): boolean {
  if (typeof x !== 'boolean') throw malformed(path, `expected true or false, got ${describe(x)}`);
  return x;
}

const HEX = /^(?:[0-9a-f]{2})*$/;

/** Lowercase hex (one encoding per byte string), of `length` bytes when given; returns the hex. */
export function readHex(x: unknown, path: string, length?: number): string {
  if (typeof x !== 'string' || !HEX.test(x)) throw malformed(path, `expected lowercase hex, got ${describe(x)}`);
  if (length !== undefined && x.length !== 2 * length)
    throw malformed(path, `expected ${length} bytes of hex, got ${x.length / 2}`);
  return x;
}

/** Standard base64 with padding, in its one encoding of the bytes it decodes to (RFC 4648 §4); returns the text. */
export function readBase64(x: unknown, path: string): string {
  const ok =
    typeof x === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(x) && Buffer.from(x, 'base64').toString('base64') === x;
  if (!ok) throw malformed(path, `expected base64, got ${describe(x)}`);
  return x;
}

/** Like `readHex`, returning the bytes. */
export function readHexBytes(x: unknown, path: string, length?: number): Bytes {
  return fromHex(readHex(x, path, length));
}

/** Labels, ids and names inside documents: 1..128 printable ASCII characters without spaces. */
export const NAME = /^[\x21-\x7e]{1,128}$/;
