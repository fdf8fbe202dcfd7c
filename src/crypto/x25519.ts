/**
 * The one rule for an X25519 public key that bkv receives (spec ch. 2, §2.6 "Element validation"):
 * the OPAQUE 3DH keys of the Curve25519 suite (client_public_key, client_public_keyshare, the
 * server's keys as a client reads them) and the Noise NK keys (`e`, `rs`).
 *
 *   32 bytes                          else MalformedMessage
 *   u < p, little-endian              else InvalidPoint: not canonical (u >= p, or bit 255 set)
 *   u not of low order                else InvalidPoint: X25519 with it is all zeros (RFC 7748 §6.1)
 *
 * Canonical: the encoding is the field element itself, checked by @noble/curves' GF(2^255 - 19)
 * (`Fp.fromBytes` refuses u >= p). RFC 7748 §5 has X25519 mask bit 255 and reduce u mod p, so
 * 2^255 + u, u + p and u are one key there; here only u is. An honest key is X25519(k, 9): it is
 * reduced and below 2^255, so no honest party (bkv, opaque-ke, a Noise library) is refused.
 *
 * Low order: the u-coordinates whose point has order dividing 8 on curve25519 or dividing 4 on its
 * twist, the same five that libsodium and @noble/curves refuse (noble inside X25519 only, without
 * exporting its list; `test/x25519-keys.test.ts` checks these against noble's X25519 and its
 * ed25519 torsion subgroup). With u canonical, their non-canonical aliases (p, p + 1, and every
 * value with bit 255 set) are already refused above. Every other u has X25519(k, u) != 0 for
 * every clamped k: k is 8 times a number below both prime orders (2^252 + ..., 2^253 - ...).
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Bytes } from './bytes.ts';
import { VaultError } from '../errors.ts';

const Fp = ed25519.Point.Fp;

/** p = 2^255 - 19, the field of curve25519 and its twist. */
export const P25519: bigint = Fp.ORDER;

/** The u-coordinates of low order, canonical (RFC 7748 §6.1; libsodium's list without its aliases). */
export const X25519_LOW_ORDER_U: ReadonlySet<bigint> = new Set([
  0n, // order 2 (0, 0), on the curve and on the twist
  1n, // order 4 on the curve
  P25519 - 1n, // order 4 on the twist
  325606250916557431795983626356110631294008115727848805560023387167927233504n, // order 8
  39382357235489614581723060781553021112529911719440698176882885853963445705823n, // order 8
]);

/** Throws unless `publicKey` is a canonical X25519 public key of large order (the rule above). */
export function checkX25519PublicKey(publicKey: Bytes, what: string): void {
  if (publicKey.length !== 32) {
    throw new VaultError('MalformedMessage', `"${what}" expected 32 bytes, got ${publicKey.length}`);
  }
  let u: bigint;
  try {
    u = Fp.fromBytes(publicKey);
  } catch {
    throw new VaultError('InvalidPoint', `"${what}" is not canonical: u >= p (bit 255 is never set)`);
  }
  if (X25519_LOW_ORDER_U.has(u)) {
    throw new VaultError('InvalidPoint', `"${what}" is of low order (X25519 with it is all zeros)`);
  }
}
