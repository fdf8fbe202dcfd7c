/**
 * The OPAQUE client (RFC 9807 §5.2 registration, §6.2-§6.4 login), typestate style: each `start`
 * returns a message and a state, each `finish` consumes that state.
 *
 *   registration:  createRegistrationRequest -> (server) -> finalizeRegistrationRequest -> record
 *   login:         clientStartLogin -> KE1 -> (server) -> KE2 -> clientFinishLogin -> KE3, keys
 *
 * Randomness: the `...With` functions take every random value explicitly (that is how the RFC
 * vectors are replayed); the plain ones draw them from an `rng` parameter, in a documented order.
 * @module
 */
import { type Bytes, type Rng, concat } from './bytes.ts';
import { deriveKeys, preamble } from './opaque-ake.ts';
import {
  type Identities,
  computeMaskingKey,
  computeRandomizedPassword,
  maskResponse,
  recover,
  store,
} from './opaque-envelope.ts';
import {
  type KE1,
  type KE2,
  type KE3,
  type RegistrationRecord,
  type RegistrationRequest,
  type RegistrationResponse,
  encodeCredentialResponse,
  encodeKE1,
} from './opaque-messages.ts';
import type { Suite } from './suite.ts';
import { VaultError } from '../errors.ts';
import { ctEqual } from './bytes.ts';

/** What both parties agree on out of band: the suite (with its KSF) and the context string. */
export interface OpaqueParams {
  readonly suite: Suite;
  readonly context: Bytes;
}

export interface ClientRegistrationState {
  readonly password: Bytes;
  readonly blind: Bytes;
}

/** CreateRegistrationRequest (RFC 9807 §5.2.1) with an explicit blind. */
export function createRegistrationRequestWith(p: OpaqueParams, password: Bytes, blind: Bytes) {
  const request: RegistrationRequest = { blindedMessage: p.suite.oprf.blind(password, blind) };
  const state: ClientRegistrationState = { password, blind };
  return { request, state };
}

/** CreateRegistrationRequest; draws: blind. */
export function createRegistrationRequest(p: OpaqueParams, password: Bytes, rng: Rng) {
  return createRegistrationRequestWith(p, password, p.suite.oprf.randomScalar(rng));
}

export interface RegistrationResult {
  readonly record: RegistrationRecord;
  readonly exportKey: Bytes;
  /** intermediates (RFC vectors) */
  readonly randomizedPassword: Bytes;
  readonly authKey: Bytes;
}

/** FinalizeRegistrationRequest (RFC 9807 §5.2.3) with an explicit envelope nonce. */
export function finalizeRegistrationRequestWith(
  p: OpaqueParams,
  state: ClientRegistrationState,
  response: RegistrationResponse,
  ids: Identities,
  envelopeNonce: Bytes,
): RegistrationResult {
  const s = p.suite;
  const oprfOutput = s.oprf.finalize(state.password, state.blind, response.evaluatedMessage);
  const randomizedPassword = computeRandomizedPassword(s, oprfOutput);
  const st = store(s, randomizedPassword, response.serverPublicKey, ids, envelopeNonce);
  return {
    record: { clientPublicKey: st.clientPublicKey, maskingKey: st.maskingKey, envelope: st.envelope },
    exportKey: st.exportKey,
    randomizedPassword,
    authKey: st.authKey,
  };
}

/** FinalizeRegistrationRequest; draws: envelope_nonce (Nn). */
export function finalizeRegistrationRequest(
  p: OpaqueParams,
  state: ClientRegistrationState,
  response: RegistrationResponse,
  ids: Identities,
  rng: Rng,
) {
  return finalizeRegistrationRequestWith(p, state, response, ids, rng(p.suite.Nn));
}

export interface LoginRandomness {
  readonly blind: Bytes;
  readonly clientNonce: Bytes;
  readonly clientKeyshareSeed: Bytes;
}

export interface ClientLoginState {
  readonly password: Bytes;
  readonly blind: Bytes;
  readonly clientSecret: Bytes;
  readonly ke1: KE1;
}

/** GenerateKE1 (RFC 9807 §6.2.1, §6.4.3 Start) with explicit randomness. */
export function clientStartLoginWith(p: OpaqueParams, password: Bytes, r: LoginRandomness) {
  const s = p.suite;
  const blindedMessage = s.oprf.blind(password, r.blind);
  const keyshare = s.group.deriveDiffieHellmanKeyPair(r.clientKeyshareSeed);
  const ke1: KE1 = {
    credentialRequest: { blindedMessage },
    authRequest: { clientNonce: r.clientNonce, clientPublicKeyshare: keyshare.publicKey },
  };
  const state: ClientLoginState = { password, blind: r.blind, clientSecret: keyshare.privateKey, ke1 };
  return { ke1, state };
}

/** GenerateKE1; draws, in order: blind, client_nonce (Nn), client_keyshare_seed (Nseed). */
export function clientStartLogin(p: OpaqueParams, password: Bytes, rng: Rng) {
  const s = p.suite;
  const blind = s.oprf.randomScalar(rng);
  const clientNonce = rng(s.Nn);
  const clientKeyshareSeed = rng(s.Nseed);
  return clientStartLoginWith(p, password, { blind, clientNonce, clientKeyshareSeed });
}

export interface ClientLoginResult {
  readonly ke3: KE3;
  readonly sessionKey: Bytes;
  readonly exportKey: Bytes;
  /** the server's public key as recovered from the envelope (the client pins or checks it) */
  readonly serverPublicKey: Bytes;
}

/**
 * GenerateKE3 (RFC 9807 §6.2.2): recover the credentials, run 3DH, check the server MAC.
 * A wrong password fails with 'EnvelopeRecoveryFailed'; a server that does not hold the record's
 * server key fails with 'ServerAuthenticationFailed'.
 */
export function clientFinishLogin(
  p: OpaqueParams,
  state: ClientLoginState,
  ke2: KE2,
  ids: Identities,
): ClientLoginResult {
  const s = p.suite;
  const cr = ke2.credentialResponse;
  // RecoverCredentials (RFC 9807 §6.3.2.2)
  const oprfOutput = s.oprf.finalize(state.password, state.blind, cr.evaluatedMessage);
  const randomizedPassword = computeRandomizedPassword(s, oprfOutput);
  const maskingKey = computeMaskingKey(s, randomizedPassword);
  const unmasked = maskResponse(s, maskingKey, cr.maskingNonce, cr.maskedResponse);
  const serverPublicKey = unmasked.subarray(0, s.group.Npk);
  const envelope = unmasked.subarray(s.group.Npk);
  try {
    s.group.checkPublicKey(serverPublicKey, 'server_public_key');
  } catch {
    throw new VaultError('EnvelopeRecoveryFailed', 'unmasked server public key is invalid (wrong password)');
  }
  const { clientPrivateKey, cleartextCredentials, exportKey } = recover(
    s,
    randomizedPassword,
    serverPublicKey,
    envelope,
    ids,
  );
  // AuthClientFinalize (RFC 9807 §6.4.3)
  const ar = ke2.authResponse;
  const ikm = concat(
    s.group.diffieHellman(state.clientSecret, ar.serverPublicKeyshare),
    s.group.diffieHellman(state.clientSecret, serverPublicKey),
    s.group.diffieHellman(clientPrivateKey, ar.serverPublicKeyshare),
  );
  const pre = preamble({
    context: p.context,
    clientIdentity: cleartextCredentials.clientIdentity,
    ke1: encodeKE1(state.ke1),
    serverIdentity: cleartextCredentials.serverIdentity,
    credentialResponse: encodeCredentialResponse(cr),
    serverNonce: ar.serverNonce,
    serverPublicKeyshare: ar.serverPublicKeyshare,
  });
  const keys = deriveKeys(s, ikm, pre);
  if (!ctEqual(keys.serverMac, ar.serverMac)) throw new VaultError('ServerAuthenticationFailed', 'server MAC mismatch');
  return { ke3: { clientMac: keys.clientMac }, sessionKey: keys.sessionKey, exportKey, serverPublicKey };
}
