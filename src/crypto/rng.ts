/**
 * Randomness sources. Randomness is always a parameter (`rng`); these are the two kinds a caller
 * passes: the system CSPRNG, and a seeded deterministic stream (ChaCha20 keyed by SHA-256 of the
 * seed) that makes every transcript, scenario and vector reproducible from its seed.
 * @module
 */
import { chacha20 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { type Bytes, type Rng, utf8 } from './bytes.ts';

export const systemRng: Rng = (n) => randomBytes(n);

/** A deterministic byte stream from `seed`: the same seed gives the same bytes, call after call. */
export function seededRng(seed: string | Bytes): Rng {
  const key = sha256(typeof seed === 'string' ? utf8(seed) : seed);
  const nonce = new Uint8Array(12);
  let counter = 0;
  let buffer = new Uint8Array(0);
  let offset = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (offset === buffer.length) {
        // 64 KiB blocks; the 32-bit block counter of ChaCha20 advances 1024 blocks per refill
        buffer = chacha20(key, nonce, new Uint8Array(65536), undefined, counter);
        counter += 1024;
        offset = 0;
      }
      const take = Math.min(n - filled, buffer.length - offset);
      out.set(buffer.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
    }
    return out;
  };
}

/** A uniform integer in [0, n) from an rng (rejection sampling over 32-bit words). */
export function randomInt(rng: Rng, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`randomInt: n = ${n}`);
  const limit = Math.floor(2 ** 32 / n) * n;
  for (;;) {
    const b = rng(4);
    const x = ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
    if (x < limit) return x % n;
  }
}
