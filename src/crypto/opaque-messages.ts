/**
 * OPAQUE wire messages (RFC 9807 §4-§5, §6.1) and their decoders. Every decoder checks lengths
 * and every group element it carries: valid, canonical, not the identity, and for X25519 not of
 * low order (spec ch. 2 §2.6); a refusal is a `VaultError` ('MalformedMessage' or 'InvalidPoint'),
 * never another exception. `src/vectors/elements.ts` lists the element positions.
 *
 *   RegistrationRequest  = blinded_message[Noe]
 *   RegistrationResponse = evaluated_message[Noe] || server_public_key[Npk]
 *   RegistrationRecord   = client_public_key[Npk] || masking_key[Nh] || envelope[Nn + Nm]
 *   KE1 = CredentialRequest(blinded_message[Noe]) || AuthRequest(client_nonce[Nn] || client_public_keyshare[Npk])
 *   KE2 = CredentialResponse(evaluated_message[Noe] || masking_nonce[Nn] || masked_response[Npk + Nn + Nm])
 *         || AuthResponse(server_nonce[Nn] || server_public_keyshare[Npk] || server_mac[Nm])
 *   KE3 = client_mac[Nm]
 * @module
 */
import { type Bytes, Reader, concat } from './bytes.ts';
import type { Suite } from './suite.ts';
import { VaultError } from '../errors.ts';

export interface RegistrationRequest {
  readonly blindedMessage: Bytes;
}
export interface RegistrationResponse {
  readonly evaluatedMessage: Bytes;
  readonly serverPublicKey: Bytes;
}
export interface RegistrationRecord {
  readonly clientPublicKey: Bytes;
  readonly maskingKey: Bytes;
  readonly envelope: Bytes;
}
export interface CredentialRequest {
  readonly blindedMessage: Bytes;
}
export interface AuthRequest {
  readonly clientNonce: Bytes;
  readonly clientPublicKeyshare: Bytes;
}
export interface KE1 {
  readonly credentialRequest: CredentialRequest;
  readonly authRequest: AuthRequest;
}
export interface CredentialResponse {
  readonly evaluatedMessage: Bytes;
  readonly maskingNonce: Bytes;
  readonly maskedResponse: Bytes;
}
export interface AuthResponse {
  readonly serverNonce: Bytes;
  readonly serverPublicKeyshare: Bytes;
  readonly serverMac: Bytes;
}
export interface KE2 {
  readonly credentialResponse: CredentialResponse;
  readonly authResponse: AuthResponse;
}
export interface KE3 {
  readonly clientMac: Bytes;
}

export const encodeRegistrationRequest = (m: RegistrationRequest): Bytes => m.blindedMessage;
export const encodeRegistrationResponse = (m: RegistrationResponse): Bytes =>
  concat(m.evaluatedMessage, m.serverPublicKey);
export const encodeRegistrationRecord = (m: RegistrationRecord): Bytes =>
  concat(m.clientPublicKey, m.maskingKey, m.envelope);
export const encodeCredentialResponse = (m: CredentialResponse): Bytes =>
  concat(m.evaluatedMessage, m.maskingNonce, m.maskedResponse);
export const encodeKE1 = (m: KE1): Bytes =>
  concat(m.credentialRequest.blindedMessage, m.authRequest.clientNonce, m.authRequest.clientPublicKeyshare);
export const encodeKE2 = (m: KE2): Bytes =>
  concat(
    encodeCredentialResponse(m.credentialResponse),
    m.authResponse.serverNonce,
    m.authResponse.serverPublicKeyshare,
    m.authResponse.serverMac,
  );
export const encodeKE3 = (m: KE3): Bytes => m.clientMac;

/** Sizes of each message for a suite (RFC 9807 §7 constants). */
export function messageSizes(s: Suite) {
  const { Noe } = s.oprf;
  const { Npk } = s.group;
  const envelope = s.Nn + s.Nm;
  return {
    registrationRequest: Noe,
    registrationResponse: Noe + Npk,
    registrationRecord: Npk + s.Nh + envelope,
    envelope,
    ke1: Noe + s.Nn + Npk,
    credentialResponse: Noe + s.Nn + Npk + envelope,
    ke2: Noe + s.Nn + Npk + envelope + s.Nn + Npk + s.Nm,
    ke3: s.Nm,
  };
}

export function decodeRegistrationRequest(s: Suite, bytes: Bytes): RegistrationRequest {
  const r = new Reader(bytes, 'RegistrationRequest');
  const blindedMessage = r.take(s.oprf.Noe, 'blinded_message');
  r.end();
  s.oprf.checkElement(blindedMessage, 'blinded_message');
  return { blindedMessage };
}

export function decodeRegistrationResponse(s: Suite, bytes: Bytes): RegistrationResponse {
  const r = new Reader(bytes, 'RegistrationResponse');
  const evaluatedMessage = r.take(s.oprf.Noe, 'evaluated_message');
  const serverPublicKey = r.take(s.group.Npk, 'server_public_key');
  r.end();
  s.oprf.checkElement(evaluatedMessage, 'evaluated_message');
  s.group.checkPublicKey(serverPublicKey, 'server_public_key');
  return { evaluatedMessage, serverPublicKey };
}

export function decodeRegistrationRecord(s: Suite, bytes: Bytes): RegistrationRecord {
  const r = new Reader(bytes, 'RegistrationRecord');
  const clientPublicKey = r.take(s.group.Npk, 'client_public_key');
  const maskingKey = r.take(s.Nh, 'masking_key');
  const envelope = r.take(s.Nn + s.Nm, 'envelope');
  r.end();
  s.group.checkPublicKey(clientPublicKey, 'client_public_key');
  return { clientPublicKey, maskingKey, envelope };
}

export function decodeKE1(s: Suite, bytes: Bytes): KE1 {
  const r = new Reader(bytes, 'KE1');
  const blindedMessage = r.take(s.oprf.Noe, 'blinded_message');
  const clientNonce = r.take(s.Nn, 'client_nonce');
  const clientPublicKeyshare = r.take(s.group.Npk, 'client_public_keyshare');
  r.end();
  s.oprf.checkElement(blindedMessage, 'blinded_message');
  s.group.checkPublicKey(clientPublicKeyshare, 'client_public_keyshare');
  return { credentialRequest: { blindedMessage }, authRequest: { clientNonce, clientPublicKeyshare } };
}

export function decodeKE2(s: Suite, bytes: Bytes): KE2 {
  const r = new Reader(bytes, 'KE2');
  const evaluatedMessage = r.take(s.oprf.Noe, 'evaluated_message');
  const maskingNonce = r.take(s.Nn, 'masking_nonce');
  const maskedResponse = r.take(s.group.Npk + s.Nn + s.Nm, 'masked_response');
  const serverNonce = r.take(s.Nn, 'server_nonce');
  const serverPublicKeyshare = r.take(s.group.Npk, 'server_public_keyshare');
  const serverMac = r.take(s.Nm, 'server_mac');
  r.end();
  s.oprf.checkElement(evaluatedMessage, 'evaluated_message');
  s.group.checkPublicKey(serverPublicKeyshare, 'server_public_keyshare');
  return {
    credentialResponse: { evaluatedMessage, maskingNonce, maskedResponse },
    authResponse: { serverNonce, serverPublicKeyshare, serverMac },
  };
}

export function decodeKE3(s: Suite, bytes: Bytes): KE3 {
  const r = new Reader(bytes, 'KE3');
  const clientMac = r.take(s.Nm, 'client_mac');
  r.end();
  return { clientMac };
}

/** Every decoder by message name, for the "any bytes decode or throw VaultError" property. */
export const DECODERS = {
  RegistrationRequest: decodeRegistrationRequest,
  RegistrationResponse: decodeRegistrationResponse,
  RegistrationRecord: decodeRegistrationRecord,
  KE1: decodeKE1,
  KE2: decodeKE2,
  KE3: decodeKE3,
} as const satisfies Record<string, (s: Suite, b: Bytes) => unknown>;

export function assertNever(x: never): never {
  throw new VaultError('UnknownMessageType', `unexpected ${String(x)}`);
}
