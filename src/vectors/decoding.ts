/**
 * Decoding vectors: vault requests, each either valid or with the error code a decoder must give
 * (`valid: false`). Implementers check that their vault refuses the same inputs with the same codes.
 * @module
 */
import { type Bytes, concat, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, SUITE_IDS, type Suite } from '../crypto/suite.ts';
import { clientStartLogin, createRegistrationRequest } from '../crypto/opaque-client.ts';
import {
  encodeKE1,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  messageSizes,
} from '../crypto/opaque-messages.ts';
import { badElements, checkPosition, ELEMENT_POSITIONS, groupAt, withElement } from './elements.ts';
import { encodeRequest } from '../vault/protocol.ts';
import { decodeVaultRequest } from '../vault/node.ts';
import { type ErrorCode, isVaultError } from '../errors.ts';

export interface DecodingCase {
  readonly name: string;
  readonly suite: string;
  readonly bytes: string;
  readonly valid: boolean;
  readonly code?: string;
}

export function classify(s: Suite, bytes: Bytes): { valid: boolean; code?: string } {
  try {
    decodeVaultRequest(s, bytes);
    return { valid: true };
  } catch (e) {
    if (isVaultError(e)) return { valid: false, code: e.code };
    throw e;
  }
}

/** The vault requests that carry an OPAQUE message with elements, and where in them the message starts. */
const CARRIERS = {
  RegistrationRequest: { request: 'RegisterStart', offset: (r: Bytes) => 3 + ((r[1]! << 8) | r[2]!) },
  RegistrationRecord: { request: 'RegisterFinish', offset: () => 2 },
  KE1: { request: 'RecoverStart', offset: (r: Bytes) => 3 + ((r[1]! << 8) | r[2]!) },
} as const;
const CARRIED_SIZES = {
  RegistrationRequest: (s: Suite) => messageSizes(s).registrationRequest,
  RegistrationRecord: (s: Suite) => messageSizes(s).registrationRecord,
  KE1: (s: Suite) => messageSizes(s).ke1,
} as const;
type Carried = keyof typeof CARRIERS;
const isCarried = (m: string): m is Carried => Object.hasOwn(CARRIERS, m);

/** A vault request with one bad element in it. */
export interface BadElementRequest {
  readonly name: string;
  readonly request: (typeof CARRIERS)[Carried]['request'];
  readonly bytes: Bytes;
}

/**
 * Every element position of every message a vault request carries, crossed with every bad
 * encoding of its group (`elements.ts`), written into the valid requests `valid` (RegisterStart,
 * RegisterFinish, RecoverStart): each must be refused with `InvalidPoint` (spec ch. 2 §2.6).
 */
export function badElementRequests(s: Suite, valid: Record<Carried, Bytes>): BadElementRequest[] {
  return ELEMENT_POSITIONS.flatMap((p) => {
    if (!isCarried(p.message)) return [];
    const carrier = CARRIERS[p.message];
    const request = valid[p.message];
    const offset = carrier.offset(request);
    const message = request.subarray(offset, offset + CARRIED_SIZES[p.message](s));
    checkPosition(s, message, p);
    const element = message.subarray(p.at(s), p.at(s) + (p.role === 'oprf' ? s.oprf.Noe : s.group.Npk));
    return badElements(groupAt(s, p), element).map((bad) => ({
      name: `${carrier.request}: ${p.message}.${p.field} is ${bad.name} (${bad.kind})`,
      request: carrier.request,
      bytes: concat(
        request.subarray(0, offset),
        withElement(s, message, p, bad.bytes),
        request.subarray(offset + message.length),
      ),
    }));
  });
}

interface Case {
  readonly name: string;
  readonly bytes: Bytes;
  /** The code the case was written to get (checked at generation). */
  readonly refusedWith?: ErrorCode;
}

function cases(s: Suite): Case[] {
  const rng = seededRng(`bkv decoding ${s.id}`);
  const id = utf8('alice');
  const params = { suite: s, context: new Uint8Array(0) };
  const ke1 = encodeKE1(clientStartLogin(params, utf8('pw'), rng).ke1);
  const req = encodeRegistrationRequest(createRegistrationRequest(params, utf8('pw'), rng).request);
  const recover = encodeRequest({ type: 'RecoverStart', credentialId: id, ke1 });
  const sizes = messageSizes(s);
  // a record that decodes: a client public key of the suite's group, any masking key and envelope
  const record = encodeRegistrationRecord({
    clientPublicKey: s.group.deriveDiffieHellmanKeyPair(rng(s.Nseed)).publicKey,
    maskingKey: rng(s.Nh),
    envelope: rng(sizes.envelope),
  });
  const valid = {
    RegistrationRequest: encodeRequest({ type: 'RegisterStart', credentialId: id, request: req }),
    RegistrationRecord: encodeRequest({ type: 'RegisterFinish', guessLimit: 10, record, sealedPayload: rng(60) }),
    KE1: recover,
  };
  return [
    { name: 'RecoverStart valid', bytes: recover },
    { name: 'RegisterStart valid', bytes: valid.RegistrationRequest },
    { name: 'RegisterFinish valid', bytes: valid.RegistrationRecord },
    { name: 'RecoverFinish valid', bytes: concat(Uint8Array.of(0x04), new Uint8Array(sizes.ke3)) },
    { name: 'RecoverAbort valid', bytes: Uint8Array.of(0x05) },
    { name: 'empty', bytes: new Uint8Array(0) },
    { name: 'unknown type', bytes: Uint8Array.of(0x42) },
    { name: 'RecoverStart truncated by one byte', bytes: recover.subarray(0, recover.length - 1) },
    { name: 'RecoverStart with one extra byte', bytes: concat(recover, Uint8Array.of(0)) },
    { name: 'RecoverStart with an empty credential id', bytes: concat(Uint8Array.of(0x03, 0, 0), ke1) },
    { name: 'RecoverFinish truncated', bytes: concat(Uint8Array.of(0x04), new Uint8Array(sizes.ke3 - 1)) },
    {
      name: 'RegisterFinish with a sealed payload over 1024 bytes',
      bytes: concat(Uint8Array.of(0x02, 10), record, Uint8Array.of(0x04, 0x01)),
    },
    ...badElementRequests(s, valid).map((c): Case => ({ name: c.name, bytes: c.bytes, refusedWith: 'InvalidPoint' })),
  ];
}

/**
 * The vectors, each with the verdict bkv's decoders give. A bad-element case was written to be
 * refused with `InvalidPoint`: generation fails rather than write one whose meaning changed.
 */
export function generateDecodingVectors(): DecodingCase[] {
  return SUITE_IDS.flatMap((id) => {
    const s = getSuite(id);
    return cases(s).map((c) => {
      const verdict = classify(s, c.bytes);
      if (c.refusedWith !== undefined && verdict.code !== c.refusedWith) {
        const got = verdict.code ?? 'valid';
        throw new Error(`${id} "${c.name}": written to be refused with ${c.refusedWith}, got ${got}`);
      }
      return { name: c.name, suite: id, bytes: toHex(c.bytes), ...verdict };
    });
  });
}

export function verifyDecodingCase(c: DecodingCase): string | null {
  const got = classify(getSuite(c.suite as (typeof SUITE_IDS)[number]), fromHex(c.bytes));
  if (got.valid !== c.valid || got.code !== c.code)
    return `${c.suite} "${c.name}": expected ${c.valid ? 'valid' : c.code}, got ${got.valid ? 'valid' : got.code}`;
  return null;
}
