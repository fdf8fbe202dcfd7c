/**
 * Decoding vectors: vault requests, each either valid or with the error code a decoder must give
 * (`valid: false`). Implementers check that their vault refuses the same inputs with the same codes.
 * @module
 */
import { type Bytes, concat, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, SUITE_IDS, type Suite } from '../crypto/suite.ts';
import { clientStartLogin, createRegistrationRequest } from '../crypto/opaque-client.ts';
import { encodeKE1, encodeRegistrationRequest, messageSizes } from '../crypto/opaque-messages.ts';
import { decodeKE1, decodeRegistrationRequest } from '../crypto/opaque-messages.ts';
import { decodeRequest, encodeRequest, type Request } from '../vault/protocol.ts';
import { isVaultError } from '../errors.ts';

export interface DecodingCase {
  readonly name: string;
  readonly suite: string;
  readonly bytes: string;
  readonly valid: boolean;
  readonly code?: string;
}

/** Decodes a request the way the vault does (framing, then the OPAQUE message it carries). */
export function decodeVaultRequest(s: Suite, bytes: Bytes): Request {
  const r = decodeRequest(s, bytes);
  if (r.type === 'RecoverStart') decodeKE1(s, r.ke1);
  if (r.type === 'RegisterStart') decodeRegistrationRequest(s, r.request);
  return r;
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

function cases(s: Suite): { name: string; bytes: Bytes }[] {
  const rng = seededRng(`bkv decoding ${s.id}`);
  const id = utf8('alice');
  const ke1 = encodeKE1(clientStartLogin({ suite: s, context: new Uint8Array(0) }, utf8('pw'), rng).ke1);
  const req = encodeRegistrationRequest(createRegistrationRequest({ suite: s, context: new Uint8Array(0) }, utf8('pw'), rng).request);
  const recover = encodeRequest({ type: 'RecoverStart', credentialId: id, ke1 });
  const sizes = messageSizes(s);
  const identityKe1 = concat(new Uint8Array(s.oprf.Noe), ke1.subarray(s.oprf.Noe));
  const badPointKe1 = concat(new Uint8Array(s.oprf.Noe).fill(0xff), ke1.subarray(s.oprf.Noe));
  return [
    { name: 'RecoverStart valid', bytes: recover },
    { name: 'RegisterStart valid', bytes: encodeRequest({ type: 'RegisterStart', credentialId: id, request: req }) },
    { name: 'RecoverFinish valid', bytes: concat(Uint8Array.of(0x04), new Uint8Array(sizes.ke3)) },
    { name: 'RecoverAbort valid', bytes: Uint8Array.of(0x05) },
    { name: 'empty', bytes: new Uint8Array(0) },
    { name: 'unknown type', bytes: Uint8Array.of(0x42) },
    { name: 'RecoverStart truncated by one byte', bytes: recover.subarray(0, recover.length - 1) },
    { name: 'RecoverStart with one extra byte', bytes: concat(recover, Uint8Array.of(0)) },
    { name: 'RecoverStart with an empty credential id', bytes: concat(Uint8Array.of(0x03, 0, 0), ke1) },
    { name: 'RecoverStart whose blinded element is the identity', bytes: encodeRequest({ type: 'RecoverStart', credentialId: id, ke1: identityKe1 }) },
    { name: 'RecoverStart whose blinded element is not a point', bytes: encodeRequest({ type: 'RecoverStart', credentialId: id, ke1: badPointKe1 }) },
    { name: 'RecoverFinish truncated', bytes: concat(Uint8Array.of(0x04), new Uint8Array(sizes.ke3 - 1)) },
    { name: 'RegisterFinish with a sealed payload over 1024 bytes', bytes: concat(Uint8Array.of(0x02, 10), new Uint8Array(sizes.registrationRecord), Uint8Array.of(0x04, 0x01)) },
  ];
}

export function generateDecodingVectors(): DecodingCase[] {
  return SUITE_IDS.flatMap((id) => {
    const s = getSuite(id);
    return cases(s).map((c) => ({ name: c.name, suite: id, bytes: toHex(c.bytes), ...classify(s, c.bytes) }));
  });
}

export function verifyDecodingCase(c: DecodingCase): string | null {
  const got = classify(getSuite(c.suite as (typeof SUITE_IDS)[number]), fromHex(c.bytes));
  if (got.valid !== c.valid || got.code !== c.code) return `${c.suite} "${c.name}": expected ${c.valid ? 'valid' : c.code}, got ${got.valid ? 'valid' : got.code}`;
  return null;
}
