/**
 * The one rule for a received X25519 public key (src/crypto/x25519.ts; spec ch. 2 §2.6), against
 * @noble/curves: a worked example, the low-order list checked against noble's X25519 and its
 * ed25519 torsion subgroup, then a property: the rule accepts a key exactly when it is canonical
 * and noble's X25519 accepts it, and X25519 with an accepted key is never all zeros.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { ED25519_TORSION_SUBGROUP, ed25519, x25519 } from '@noble/curves/ed25519.js';
import { numberToBytesLE } from '@noble/curves/utils.js';
import { type Bytes, fromHex, toHex } from '../src/crypto/bytes.ts';
import { checkX25519PublicKey, P25519, X25519_LOW_ORDER_U } from '../src/crypto/x25519.ts';
import { isVaultError } from '../src/errors.ts';
import { badElements } from '../src/vectors/elements.ts';

const RUNS = Number(process.env.BKV_PROPERTY_RUNS ?? 15) * 20;
const le32 = (n: bigint) => numberToBytesLE(n, 32);
const SCALAR = fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'); // RFC 7748 §5.2

/** The rule's verdict: null (accepted) or the VaultError code. */
function verdict(key: Bytes): string | null {
  try {
    checkX25519PublicKey(key, 'key');
    return null;
  } catch (e) {
    if (isVaultError(e)) return e.code;
    throw e;
  }
}

/** noble's X25519 with a fixed scalar: does it refuse `key` (low order after RFC 7748 §5 decoding)? */
function nobleRefuses(key: Bytes): boolean {
  try {
    x25519.getSharedSecret(SCALAR, key);
    return false;
  } catch {
    return true;
  }
}

test('worked example: an honest key is accepted; u = 1, u = p and the honest key with bit 255 set are refused', () => {
  const honest = x25519.getPublicKey(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  expect(toHex(honest)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'); // RFC 7748 §6.1
  expect(verdict(honest)).toBeNull();
  expect(verdict(le32(1n))).toBe('InvalidPoint');
  expect(verdict(le32(P25519))).toBe('InvalidPoint');
  expect(verdict(Uint8Array.from(honest, (b, i) => (i === 31 ? b | 0x80 : b)))).toBe('InvalidPoint');
  expect(verdict(new Uint8Array(31))).toBe('MalformedMessage');
  expect(verdict(new Uint8Array(33))).toBe('MalformedMessage');
});

test("the low-order list is noble's: its X25519 refuses each; it holds the u of every ed25519 torsion point", () => {
  expect(X25519_LOW_ORDER_U.size).toBe(5);
  for (const u of X25519_LOW_ORDER_U) expect(nobleRefuses(le32(u)), `u = ${u}`).toBe(true);
  // the curve's 8-torsion, mapped to Montgomery u (the identity is the point at infinity, X25519's 0)
  const curveTorsion = new Set([0n]);
  for (const hex of ED25519_TORSION_SUBGROUP) {
    const point = ed25519.Point.fromHex(hex);
    if (point.is0()) continue;
    const u = ed25519.utils.toMontgomery(point.toBytes());
    curveTorsion.add(u.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n));
  }
  expect([...curveTorsion].every((u) => X25519_LOW_ORDER_U.has(u))).toBe(true);
  // the one other value is the twist's point of order 4
  expect([...X25519_LOW_ORDER_U].filter((u) => !curveTorsion.has(u))).toEqual([P25519 - 1n]);
});

test('every bad X25519 encoding of the table (src/vectors/elements.ts) is refused with InvalidPoint', () => {
  const bad = badElements('curve25519', x25519.getPublicKey(SCALAR));
  for (const b of bad) expect(verdict(b.bytes), b.name).toBe('InvalidPoint');
});

/** Keys to try: the table, each u near the low-order values and p, and random keys. */
const keyArb: fc.Arbitrary<Bytes> = fc.oneof(
  fc.constantFrom(...badElements('curve25519', x25519.getPublicKey(SCALAR)).map((b) => b.bytes)),
  fc
    .constantFrom(...X25519_LOW_ORDER_U, P25519, P25519 + 1n, 2n ** 255n - 1n, 9n)
    .chain((u) => fc.integer({ min: -2, max: 2 }).map((d) => le32((u + BigInt(d) + 2n ** 256n) % 2n ** 256n))),
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((sk) => x25519.getPublicKey(sk)),
);

test('property: the rule accepts exactly the canonical keys noble accepts, and X25519 with them is never zero', () => {
  fc.assert(
    fc.property(keyArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), (key, sk) => {
      const u = key.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
      const accepted = verdict(key) === null;
      expect(accepted).toBe(u < P25519 && !nobleRefuses(key));
      if (accepted) expect(x25519.getSharedSecret(sk, key).some((b) => b !== 0)).toBe(true);
    }),
    { numRuns: RUNS },
  );
});

test('the property can fail: the rule of 6ee2d9d (zero bytes refused, nothing else) disagrees with it', () => {
  const weak = (key: Bytes) => (key.every((b) => b === 0) ? 'InvalidPoint' : null);
  const r = fc.check(
    fc.property(keyArb, (key) => {
      const u = key.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
      return (weak(key) === null) === (u < P25519 && !nobleRefuses(key));
    }),
    { numRuns: RUNS, seed: 1 },
  );
  expect(r.failed).toBe(true);
});
