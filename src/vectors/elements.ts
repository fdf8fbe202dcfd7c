/**
 * Where the OPAQUE messages carry group elements, and the encodings a decoder must refuse in each
 * group (spec ch. 2 §2.6, "Element validation"; ch. 9, the decoding vectors). The decoding vectors
 * and the bad-input tests are generated from these two tables: every element position of every
 * message, for every suite, crossed with every bad encoding of that position's group.
 *
 *   position   message, field, which group (the OPRF's or the 3DH's), offset in the message
 *   encoding   identity | low order | non-canonical | out of range | not an element
 *
 * The tables are written from the standards (RFC 9807 §4-§6 layouts; RFC 9496 §4.3.1, SEC1 §2.3.4,
 * RFC 7748 §5 and libsodium's blocklist), not from bkv's decoders; `checkPosition` ties a position
 * to what the decoder returns, so a wrong offset fails instead of testing nothing.
 * @module
 */
import { numberToBytesBE, numberToBytesLE } from '@noble/curves/utils.js';
import { type Bytes, concat, fromHex, toHex } from '../crypto/bytes.ts';
import type { Suite } from '../crypto/suite.ts';
import {
  DECODERS,
  type KE1,
  type KE2,
  type RegistrationRecord,
  type RegistrationRequest,
  type RegistrationResponse,
} from '../crypto/opaque-messages.ts';

export type GroupName = 'ristretto255' | 'P256' | 'curve25519';
export type BadKind = 'identity' | 'low order' | 'non-canonical' | 'out of range' | 'not an element';

export interface BadElement {
  readonly name: string;
  readonly kind: BadKind;
  readonly bytes: Bytes;
}

/** The group of a suite's OPRF elements and of its 3DH public keys (spec ch. 2 §2.1). */
export function groupsOf(s: Suite): { readonly oprf: GroupName; readonly ake: GroupName } {
  return { oprf: s.oprf.name === 'P256-SHA256' ? 'P256' : 'ristretto255', ake: s.group.name };
}

type Message = keyof typeof DECODERS;

/** A group element inside an OPAQUE message (RFC 9807 §5.1, §6.1 layouts). */
export interface ElementPosition {
  readonly message: Message;
  readonly field: string;
  readonly role: 'oprf' | 'ake';
  /** Byte offset of the element in the message. */
  at(s: Suite): number;
  /** The field as the decoder returns it (ties the offset to the decoder). */
  pick(decoded: unknown): Bytes;
}

/** Every element position of every OPAQUE message; KE3 has none. */
export const ELEMENT_POSITIONS: readonly ElementPosition[] = [
  {
    message: 'RegistrationRequest',
    field: 'blinded_message',
    role: 'oprf',
    at: () => 0,
    pick: (m) => (m as RegistrationRequest).blindedMessage,
  },
  {
    message: 'RegistrationResponse',
    field: 'evaluated_message',
    role: 'oprf',
    at: () => 0,
    pick: (m) => (m as RegistrationResponse).evaluatedMessage,
  },
  {
    message: 'RegistrationResponse',
    field: 'server_public_key',
    role: 'ake',
    at: (s) => s.oprf.Noe,
    pick: (m) => (m as RegistrationResponse).serverPublicKey,
  },
  {
    message: 'RegistrationRecord',
    field: 'client_public_key',
    role: 'ake',
    at: () => 0,
    pick: (m) => (m as RegistrationRecord).clientPublicKey,
  },
  {
    message: 'KE1',
    field: 'blinded_message',
    role: 'oprf',
    at: () => 0,
    pick: (m) => (m as KE1).credentialRequest.blindedMessage,
  },
  {
    message: 'KE1',
    field: 'client_public_keyshare',
    role: 'ake',
    at: (s) => s.oprf.Noe + s.Nn,
    pick: (m) => (m as KE1).authRequest.clientPublicKeyshare,
  },
  {
    message: 'KE2',
    field: 'evaluated_message',
    role: 'oprf',
    at: () => 0,
    pick: (m) => (m as KE2).credentialResponse.evaluatedMessage,
  },
  {
    // evaluated_message, masking_nonce, masked_response (Npk + Nn + Nm), server_nonce
    message: 'KE2',
    field: 'server_public_keyshare',
    role: 'ake',
    at: (s) => s.oprf.Noe + s.Nn + (s.group.Npk + s.Nn + s.Nm) + s.Nn,
    pick: (m) => (m as KE2).authResponse.serverPublicKeyshare,
  },
];

/** The group whose elements sit at `p` in suite `s`. */
export const groupAt = (s: Suite, p: ElementPosition): GroupName => groupsOf(s)[p.role];

/** `message` with `element` written at position `p` (a copy). */
export function withElement(s: Suite, message: Bytes, p: ElementPosition, element: Bytes): Bytes {
  const out = message.slice();
  out.set(element, p.at(s));
  return out;
}

/** Throws unless the decoder of `p.message` reads, at `p`, the bytes the layout says are there. */
export function checkPosition(s: Suite, message: Bytes, p: ElementPosition): void {
  const at = p.at(s);
  const field = p.pick(DECODERS[p.message](s, message));
  if (toHex(field) !== toHex(message.subarray(at, at + field.length))) {
    throw new Error(`${s.id} ${p.message}.${p.field}: the decoder's field is not at offset ${at}`);
  }
}

// ----------------------------------------------------------------------------------------------
// Bad encodings, per group

const P25519 = 2n ** 255n - 19n;
const P256_P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const le32 = (n: bigint) => numberToBytesLE(n, 32);
const fromLe = (b: Bytes) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
const withTopBit = (b: Bytes) => Uint8Array.from(b, (x, i) => (i === 31 ? x | 0x80 : x));

/** X25519 u-coordinates of low order (RFC 7748 §6.1; libsodium's `has_small_order` list, canonical). */
const X25519_LOW_ORDER: readonly [string, Bytes][] = [
  ['u = 0 (order 2)', le32(0n)],
  ['u = 1 (order 4)', le32(1n)],
  ['u = p - 1 (order 4, twist)', le32(P25519 - 1n)],
  ['u of order 8 (a)', fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')],
  ['u of order 8 (b)', fromHex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157')],
];

function x25519Bad(valid: Bytes): BadElement[] {
  return [
    ...X25519_LOW_ORDER.map(([name, bytes]) => ({ name, kind: 'low order' as const, bytes })),
    { name: 'u = p (a non-canonical 0)', kind: 'non-canonical', bytes: le32(P25519) },
    { name: 'u = p + 1 (a non-canonical 1)', kind: 'non-canonical', bytes: le32(P25519 + 1n) },
    // RFC 7748 §5 masks bit 255: each of these is a low-order point there
    ...[...X25519_LOW_ORDER, ['u = p', le32(P25519)] as const, ['u = p + 1', le32(P25519 + 1n)] as const].map(
      ([name, bytes]) => ({ name: `${name}, bit 255 set`, kind: 'non-canonical' as const, bytes: withTopBit(bytes) }),
    ),
    { name: 'a valid key, bit 255 set', kind: 'non-canonical', bytes: withTopBit(valid) },
    { name: 'u = p + 9 (the base point, non-canonical)', kind: 'non-canonical', bytes: le32(P25519 + 9n) },
    { name: 'u = 2^256 - 1', kind: 'out of range', bytes: new Uint8Array(32).fill(0xff) },
  ];
}

function ristrettoBad(valid: Bytes): BadElement[] {
  const s = fromLe(valid);
  return [
    { name: 'the identity (32 zero bytes)', kind: 'identity', bytes: new Uint8Array(32) },
    { name: 's = p (a non-canonical identity)', kind: 'non-canonical', bytes: le32(P25519) },
    { name: 's + p (a non-canonical valid element)', kind: 'non-canonical', bytes: le32(s + P25519) },
    { name: 'p - s (a negative s, RFC 9496 §4.3.1)', kind: 'non-canonical', bytes: le32(P25519 - s) },
    { name: 'a valid element, bit 255 set', kind: 'non-canonical', bytes: withTopBit(valid) },
    { name: 's = 2^256 - 1', kind: 'out of range', bytes: new Uint8Array(32).fill(0xff) },
    { name: 's = 2 (not in the ristretto255 image)', kind: 'not an element', bytes: le32(2n) },
    { name: 's = p - 1 (y = 0)', kind: 'not an element', bytes: le32(P25519 - 1n) },
  ];
}

function p256Bad(valid: Bytes): BadElement[] {
  const x = valid.subarray(1);
  const tagged = (tag: number, body: Bytes) => concat(Uint8Array.of(tag), body);
  const xIs = (n: bigint) => numberToBytesBE(n, 32);
  return [
    { name: 'the identity (SEC1 0x00), padded to 33 bytes', kind: 'identity', bytes: new Uint8Array(33) },
    { name: '0x02 || p (a non-canonical x = 0, a point)', kind: 'non-canonical', bytes: tagged(2, xIs(P256_P)) },
    { name: '0x03 || p (a non-canonical x = 0, a point)', kind: 'non-canonical', bytes: tagged(3, xIs(P256_P)) },
    { name: '0x02 || 2^256 - 1', kind: 'out of range', bytes: tagged(2, new Uint8Array(32).fill(0xff)) },
    { name: '0x02 || 1 (x^3 - 3x + b is not a square)', kind: 'not an element', bytes: tagged(2, xIs(1n)) },
    { name: 'a valid x under tag 0x04 (uncompressed, 33 bytes)', kind: 'not an element', bytes: tagged(4, x) },
    { name: 'a valid x under tag 0x00', kind: 'not an element', bytes: tagged(0, x) },
    { name: 'a valid x under tag 0x05', kind: 'not an element', bytes: tagged(5, x) },
  ];
}

/** The encodings of `group` a decoder must refuse with `InvalidPoint`; `valid` is one valid element. */
export function badElements(group: GroupName, valid: Bytes): BadElement[] {
  switch (group) {
    case 'curve25519':
      return x25519Bad(valid);
    case 'ristretto255':
      return ristrettoBad(valid);
    case 'P256':
      return p256Bad(valid);
  }
}
