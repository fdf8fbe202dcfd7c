/**
 * The client <-> vault messages (spec ch. 3, "Vault messages"). They travel inside the Noise NK
 * channel; the relay carries `Frame`s and sees only the channel id, the frame kind and ciphertext.
 *
 *   client -> vault                              vault -> client
 *   0x01 RegisterStart  credential_id, request   0x81 RegisterResponse  registration_response
 *   0x02 RegisterFinish limit, record, sealed    0x82 RegisterDone
 *   0x03 RecoverStart   credential_id, KE1       0x83 RecoverResponse   tries_remaining, KE2
 *   0x04 RecoverFinish  KE3                      0x84 Released          payload sealed under session_key
 *   0x05 RecoverAbort                            0x85 Done
 *   0x06 Delete         credential_id            0xff Error             code, tries_remaining (255 = none)
 *
 * Field encodings: credential_id is len2-prefixed (1..255 bytes); sealed payload len2-prefixed;
 * OPAQUE messages are fixed-size for the suite (opaque-messages.ts).
 * @module
 */
import { type Bytes, Reader, concat, i2osp, lengthPrefixed, utf8 } from '../crypto/bytes.ts';
import { ERROR_CODES, type ErrorCode, VaultError } from '../errors.ts';
import { messageSizes } from '../crypto/opaque-messages.ts';
import type { Suite } from '../crypto/suite.ts';

export const MAX_CREDENTIAL_ID = 255;
export const MAX_SEALED_PAYLOAD = 1024;
export const NO_TRIES = 255;

export type Request =
  | { readonly type: 'RegisterStart'; readonly credentialId: Bytes; readonly request: Bytes }
  | {
      readonly type: 'RegisterFinish';
      readonly guessLimit: number;
      readonly record: Bytes;
      readonly sealedPayload: Bytes;
    }
  | { readonly type: 'RecoverStart'; readonly credentialId: Bytes; readonly ke1: Bytes }
  | { readonly type: 'RecoverFinish'; readonly ke3: Bytes }
  | { readonly type: 'RecoverAbort' }
  | { readonly type: 'Delete'; readonly credentialId: Bytes };

export type Response =
  | { readonly type: 'RegisterResponse'; readonly response: Bytes }
  | { readonly type: 'RegisterDone' }
  | { readonly type: 'RecoverResponse'; readonly triesRemaining: number; readonly ke2: Bytes }
  | { readonly type: 'Released'; readonly payload: Bytes }
  | { readonly type: 'Done' }
  | { readonly type: 'Error'; readonly code: ErrorCode; readonly triesRemaining: number | null };

const REQUEST_TAGS = {
  RegisterStart: 0x01,
  RegisterFinish: 0x02,
  RecoverStart: 0x03,
  RecoverFinish: 0x04,
  RecoverAbort: 0x05,
  Delete: 0x06,
} as const;
const RESPONSE_TAGS = {
  RegisterResponse: 0x81,
  RegisterDone: 0x82,
  RecoverResponse: 0x83,
  Released: 0x84,
  Done: 0x85,
  Error: 0xff,
} as const;

function credentialIdField(id: Bytes): Bytes {
  if (id.length < 1 || id.length > MAX_CREDENTIAL_ID)
    throw new VaultError('InvalidParameter', `credential id expected 1..${MAX_CREDENTIAL_ID} bytes, got ${id.length}`);
  return lengthPrefixed(id);
}

export function encodeRequest(m: Request): Bytes {
  const tag = Uint8Array.of(REQUEST_TAGS[m.type]);
  switch (m.type) {
    case 'RegisterStart':
      return concat(tag, credentialIdField(m.credentialId), m.request);
    case 'RegisterFinish':
      return concat(tag, i2osp(m.guessLimit, 1), m.record, lengthPrefixed(m.sealedPayload));
    case 'RecoverStart':
      return concat(tag, credentialIdField(m.credentialId), m.ke1);
    case 'RecoverFinish':
      return concat(tag, m.ke3);
    case 'RecoverAbort':
      return tag;
    case 'Delete':
      return concat(tag, credentialIdField(m.credentialId));
  }
}

function readCredentialId(r: Reader): Bytes {
  const n = r.take(2, 'credential_id length');
  const len = (n[0]! << 8) | n[1]!;
  if (len < 1 || len > MAX_CREDENTIAL_ID)
    throw new VaultError('MalformedMessage', `credential_id expected 1..${MAX_CREDENTIAL_ID} bytes, got ${len}`);
  return r.take(len, 'credential_id');
}

/** Decodes a request; lengths are checked here, group elements by the OPAQUE decoders. */
export function decodeRequest(s: Suite, bytes: Bytes): Request {
  if (bytes.length === 0) throw new VaultError('MalformedMessage', 'empty request');
  const sizes = messageSizes(s);
  const r = new Reader(bytes.subarray(1), 'request');
  let m: Request;
  switch (bytes[0]) {
    case REQUEST_TAGS.RegisterStart:
      m = {
        type: 'RegisterStart',
        credentialId: readCredentialId(r),
        request: r.take(sizes.registrationRequest, 'registration_request'),
      };
      break;
    case REQUEST_TAGS.RegisterFinish: {
      const guessLimit = r.take(1, 'guess_limit')[0]!;
      const record = r.take(sizes.registrationRecord, 'registration_record');
      const n = r.take(2, 'sealed_payload length');
      const len = (n[0]! << 8) | n[1]!;
      if (len > MAX_SEALED_PAYLOAD)
        throw new VaultError(
          'MalformedMessage',
          `sealed_payload expected at most ${MAX_SEALED_PAYLOAD} bytes, got ${len}`,
        );
      m = { type: 'RegisterFinish', guessLimit, record, sealedPayload: r.take(len, 'sealed_payload') };
      break;
    }
    case REQUEST_TAGS.RecoverStart:
      m = { type: 'RecoverStart', credentialId: readCredentialId(r), ke1: r.take(sizes.ke1, 'KE1') };
      break;
    case REQUEST_TAGS.RecoverFinish:
      m = { type: 'RecoverFinish', ke3: r.take(sizes.ke3, 'KE3') };
      break;
    case REQUEST_TAGS.RecoverAbort:
      m = { type: 'RecoverAbort' };
      break;
    case REQUEST_TAGS.Delete:
      m = { type: 'Delete', credentialId: readCredentialId(r) };
      break;
    default:
      throw new VaultError('UnknownMessageType', `request type 0x${(bytes[0] ?? 0).toString(16)}`);
  }
  r.end();
  return m;
}

export function encodeResponse(m: Response): Bytes {
  const tag = Uint8Array.of(RESPONSE_TAGS[m.type]);
  switch (m.type) {
    case 'RegisterResponse':
      return concat(tag, m.response);
    case 'RecoverResponse':
      return concat(tag, i2osp(m.triesRemaining, 1), m.ke2);
    case 'Released':
      return concat(tag, lengthPrefixed(m.payload));
    case 'RegisterDone':
    case 'Done':
      return tag;
    case 'Error':
      return concat(tag, lengthPrefixed(utf8(m.code), 1), i2osp(m.triesRemaining ?? NO_TRIES, 1));
  }
}

export function decodeResponse(s: Suite, bytes: Bytes): Response {
  if (bytes.length === 0) throw new VaultError('MalformedMessage', 'empty response');
  const sizes = messageSizes(s);
  const r = new Reader(bytes.subarray(1), 'response');
  let m: Response;
  switch (bytes[0]) {
    case RESPONSE_TAGS.RegisterResponse:
      m = { type: 'RegisterResponse', response: r.take(sizes.registrationResponse, 'registration_response') };
      break;
    case RESPONSE_TAGS.RegisterDone:
      m = { type: 'RegisterDone' };
      break;
    case RESPONSE_TAGS.RecoverResponse:
      m = { type: 'RecoverResponse', triesRemaining: r.take(1, 'tries_remaining')[0]!, ke2: r.take(sizes.ke2, 'KE2') };
      break;
    case RESPONSE_TAGS.Released: {
      const n = r.take(2, 'payload length');
      m = { type: 'Released', payload: r.take((n[0]! << 8) | n[1]!, 'payload') };
      break;
    }
    case RESPONSE_TAGS.Done:
      m = { type: 'Done' };
      break;
    case RESPONSE_TAGS.Error: {
      const len = r.take(1, 'code length')[0]!;
      const code = new TextDecoder().decode(r.take(len, 'code'));
      if (!(ERROR_CODES as readonly string[]).includes(code))
        throw new VaultError('MalformedMessage', `unknown error code "${code}"`);
      const tries = r.take(1, 'tries_remaining')[0]!;
      m = { type: 'Error', code: code as ErrorCode, triesRemaining: tries === NO_TRIES ? null : tries };
      break;
    }
    default:
      throw new VaultError('UnknownMessageType', `response type 0x${(bytes[0] ?? 0).toString(16)}`);
  }
  r.end();
  return m;
}

/**
 * What the relay carries. `Handshake1` opens a channel; an unencrypted `Alert` reports a refusal of
 * a frame that could not be decrypted.
 */
export type FrameKind = 'Handshake1' | 'Handshake2' | 'Transport' | 'Alert';
export interface Frame {
  readonly channel: string;
  readonly kind: FrameKind;
  readonly bytes: Bytes;
}
