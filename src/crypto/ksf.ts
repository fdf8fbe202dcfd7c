/**
 * Key Stretching Functions (RFC 9807 §3.3). `Stretch(msg)` hardens the OPRF output against offline
 * guessing before it becomes the randomized password:
 *
 *   randomized_password = Extract("", oprf_output || Stretch(oprf_output))
 *
 * - `Identity`: Stretch(x) = x. Used by the RFC vectors and the fast tests.
 * - `Argon2id`: Stretch(x) = Argon2id(password = x, salt = 16 zero bytes, output = Nh bytes), the
 *   form of RFC 9807 §3.3 and of opaque-ke's `Ksf for argon2::Argon2`. Another implementation
 *   configured with the same (t, m, p) interoperates byte for byte.
 * @module
 */
import { argon2id } from '@noble/hashes/argon2.js';
import type { Bytes } from './bytes.ts';
import { VaultError } from '../errors.ts';

export interface Argon2idParams {
  /** iterations (t) */
  readonly t: number;
  /** memory in KiB (m) */
  readonly m: number;
  /** parallelism (p) */
  readonly p: number;
}

/**
 * The default: the parameters of the Rust `argon2` crate's `Argon2::default()` (19 MiB, t = 2,
 * p = 1, version 0x13), which is what opaque-ke uses when configured with `Ksf = argon2::Argon2`.
 */
export const ARGON2ID_DEFAULT: Argon2idParams = Object.freeze({ t: 2, m: 19 * 1024, p: 1 });
/** The parameters RFC 9807 §3.3 recommends (2 GiB of memory: for reference, not for tests). */
export const ARGON2ID_RFC9807: Argon2idParams = Object.freeze({ t: 1, m: 2 ** 21, p: 4 });

export interface Ksf {
  /** 'Identity' or 'Argon2id(t=..,m=..,p=..)': recorded in vectors and artifacts. */
  readonly name: string;
  stretch(msg: Bytes, outputLength: number): Bytes;
}

export const IDENTITY_KSF: Ksf = Object.freeze({ name: 'Identity', stretch: (msg: Bytes) => msg });

export function argon2idKsf(params: Argon2idParams = ARGON2ID_DEFAULT): Ksf {
  const { t, m, p } = params;
  for (const [k, v, min] of [
    ['t', t, 1],
    ['m', m, 8 * p],
    ['p', p, 1],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < min)
      throw new VaultError('InvalidParameter', `Argon2id "${k}" expected an integer >= ${min}, got ${v}`);
  }
  const salt = new Uint8Array(16); // RFC 9807 §3.3: S = zeroes(16)
  return Object.freeze({
    name: `Argon2id(t=${t},m=${m},p=${p})`,
    stretch: (msg: Bytes, outputLength: number) => argon2id(msg, salt, { t, m, p, dkLen: outputLength, version: 0x13 }),
  });
}

/** The KSF a configuration names (`Identity`, `Argon2id(t=..,m=..,p=..)`): how vectors and artifacts are read back. */
export function ksfFromName(name: string): Ksf {
  if (name === IDENTITY_KSF.name) return IDENTITY_KSF;
  const m = /^Argon2id\(t=(\d+),m=(\d+),p=(\d+)\)$/.exec(name);
  if (!m)
    throw new VaultError('InvalidParameter', `unknown KSF "${name}", expected Identity or Argon2id(t=..,m=..,p=..)`);
  return argon2idKsf({ t: Number(m[1]), m: Number(m[2]), p: Number(m[3]) });
}
