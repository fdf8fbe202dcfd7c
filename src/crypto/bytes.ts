/**
 * Byte encodings used by every wire format: I2OSP, length-prefixed vectors (RFC 9807 §2 / RFC 8446
 * style), hex and UTF-8, constant-time comparison, and checked slicing for decoders.
 * @module
 */
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { VaultError } from '../errors.ts';

export type Bytes = Uint8Array;
/** A source of randomness: returns `n` fresh bytes. Always a parameter, never a global. */
export type Rng = (n: number) => Bytes;

export { bytesToHex as toHex, concatBytes as concat, hexToBytes as fromHex, utf8ToBytes as utf8 };

/** I2OSP(x, n): big-endian, `n` bytes (RFC 8017 §4.1). */
export function i2osp(x: number, n: number): Bytes {
  if (!Number.isSafeInteger(x) || x < 0 || x >= 256 ** n) {
    throw new VaultError('InvalidParameter', `i2osp: ${x} does not fit in ${n} bytes`);
  }
  const out = new Uint8Array(n);
  for (let i = n - 1, v = x; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

/** I2OSP(len(x), n) || x */
export function lengthPrefixed(x: Bytes, n = 2): Bytes {
  return concatBytes(i2osp(x.length, n), x);
}

/** Constant-time equality (for MACs and tags). Lengths are not secret. */
export function ctEqual(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function xor(a: Bytes, b: Bytes): Bytes {
  if (a.length !== b.length) throw new VaultError('InvalidParameter', `xor: lengths ${a.length} and ${b.length}`);
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Reads fixed-size fields off a message, and refuses leftovers: decoders are built on it. */
export class Reader {
  private offset = 0;
  constructor(
    private readonly bytes: Bytes,
    private readonly what: string,
  ) {}
  take(n: number, field: string): Bytes {
    if (this.offset + n > this.bytes.length) {
      throw new VaultError(
        'MalformedMessage',
        `${this.what}: ${field} needs ${n} bytes at offset ${this.offset}, message has ${this.bytes.length}`,
      );
    }
    const out = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  end(): void {
    if (this.offset !== this.bytes.length) {
      throw new VaultError('MalformedMessage', `${this.what}: expected ${this.offset} bytes, got ${this.bytes.length}`);
    }
  }
}

/** Checks a byte-array argument's length; names the parameter with expected and actual sizes. */
export function expectBytes(x: unknown, length: number | undefined, name: string): Bytes {
  if (!(x instanceof Uint8Array))
    throw new VaultError('InvalidParameter', `"${name}" expected Uint8Array, got ${typeof x}`);
  if (length !== undefined && x.length !== length) {
    throw new VaultError('MalformedMessage', `"${name}" expected ${length} bytes, got ${x.length}`);
  }
  return x;
}
