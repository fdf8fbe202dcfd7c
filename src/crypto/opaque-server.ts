/**
 * The OPAQUE server (RFC 9807 §5.2.2 registration response, §6.3 credential response, §6.4.4 3DH
 * server side), typestate style. The server's long-term secrets (the OPAQUE server private key
 * and the OPRF seed) are reached only through `ServerKeys`, which the vault implements over its
 * HSM: DH with the server key happens inside the HSM, and the OPRF seed is only ever expanded
 * inside it.
 *
 *   createRegistrationResponse(request, credential_identifier) -> response
 *   serverStartLogin(record | fake record, KE1) -> KE2, state      (unknown credential: fake record)
 *   serverFinishLogin(state, KE3) -> session_key
 * @module
 */
import { type Bytes, type Rng, concat, ctEqual } from './bytes.ts';
import { deriveKeys, preamble } from './opaque-ake.ts';
import {
  createCleartextCredentials,
  deriveOprfKey,
  type Identities,
  maskResponse,
  oprfKeyInfo,
} from './opaque-envelope.ts';
import {
  type CredentialResponse,
  type KE1,
  type KE2,
  type KE3,
  type RegistrationRecord,
  type RegistrationRequest,
  type RegistrationResponse,
  encodeCredentialResponse,
  encodeKE1,
} from './opaque-messages.ts';
import type { OpaqueParams } from './opaque-client.ts';
import type { Suite } from './suite.ts';
import { VaultError } from '../errors.ts';

/** The server's long-term secrets, behind the HSM boundary. */
export interface ServerKeys {
  /** server_public_key */
  readonly publicKey: Bytes;
  /** DiffieHellman(server_private_key, peer) */
  diffieHellman(peerPublicKey: Bytes): Bytes;
  /** Expand(oprf_seed, info, length) */
  expandOprfSeed(info: Bytes, length: number): Bytes;
}

/** ServerKeys over key bytes held in memory (vectors, and the reference's simplest setting). */
export function softwareServerKeys(
  s: Suite,
  k: { serverPrivateKey: Bytes; serverPublicKey: Bytes; oprfSeed: Bytes },
): ServerKeys {
  return {
    publicKey: k.serverPublicKey,
    diffieHellman: (peer) => s.group.diffieHellman(k.serverPrivateKey, peer),
    expandOprfSeed: (info, length) => s.expand(k.oprfSeed, info, length),
  };
}

/** The per-credential OPRF key (RFC 9807 §5.2.2); it exists outside the HSM only for one evaluation. */
export function computeOprfKey(s: Suite, keys: ServerKeys, credentialIdentifier: Bytes): Bytes {
  return deriveOprfKey(s, keys.expandOprfSeed(oprfKeyInfo(credentialIdentifier), s.oprf.Nok));
}

/** CreateRegistrationResponse (RFC 9807 §5.2.2). */
export function createRegistrationResponse(
  p: OpaqueParams,
  keys: ServerKeys,
  request: RegistrationRequest,
  credentialIdentifier: Bytes,
): RegistrationResponse {
  const oprfKey = computeOprfKey(p.suite, keys, credentialIdentifier);
  return {
    evaluatedMessage: p.suite.oprf.blindEvaluate(oprfKey, request.blindedMessage),
    serverPublicKey: keys.publicKey,
  };
}

/**
 * The record the server answers with for an unknown credential (RFC 9807 §6.3.2.2 and §10.9):
 * a fake client public key, a masking key, and an all-zero envelope. The caller chooses how the
 * fake values are obtained (the vault derives them from the OPRF seed, so that repeated probes
 * for the same identifier look alike).
 */
export function createFakeRecord(s: Suite, fakeClientPublicKey: Bytes, fakeMaskingKey: Bytes): RegistrationRecord {
  return { clientPublicKey: fakeClientPublicKey, maskingKey: fakeMaskingKey, envelope: new Uint8Array(s.Nn + s.Nm) };
}

export interface ServerLoginRandomness {
  readonly maskingNonce: Bytes;
  readonly serverNonce: Bytes;
  readonly serverKeyshareSeed: Bytes;
}

/** What the server keeps between KE2 and KE3. */
export interface ServerLoginState {
  readonly expectedClientMac: Bytes;
  readonly sessionKey: Bytes;
}

export interface ServerStartResult {
  readonly ke2: KE2;
  readonly state: ServerLoginState;
  /** intermediates (RFC vectors) */
  readonly oprfKey: Bytes;
  readonly handshakeSecret: Bytes;
  readonly serverMacKey: Bytes;
  readonly clientMacKey: Bytes;
}

/** GenerateKE2 (RFC 9807 §6.2.3) with explicit randomness. */
export function serverStartLoginWith(
  p: OpaqueParams,
  keys: ServerKeys,
  record: RegistrationRecord,
  credentialIdentifier: Bytes,
  ke1: KE1,
  ids: Identities,
  r: ServerLoginRandomness,
): ServerStartResult {
  const s = p.suite;
  // CreateCredentialResponse (RFC 9807 §6.3.2.1)
  const oprfKey = computeOprfKey(s, keys, credentialIdentifier);
  const evaluatedMessage = s.oprf.blindEvaluate(oprfKey, ke1.credentialRequest.blindedMessage);
  const maskedResponse = maskResponse(s, record.maskingKey, r.maskingNonce, concat(keys.publicKey, record.envelope));
  const credentialResponse: CredentialResponse = { evaluatedMessage, maskingNonce: r.maskingNonce, maskedResponse };
  // AuthServerRespond (RFC 9807 §6.4.4)
  const cleartext = createCleartextCredentials(keys.publicKey, record.clientPublicKey, ids);
  const keyshare = s.group.deriveDiffieHellmanKeyPair(r.serverKeyshareSeed);
  const clientKeyshare = ke1.authRequest.clientPublicKeyshare;
  const ikm = concat(
    s.group.diffieHellman(keyshare.privateKey, clientKeyshare),
    keys.diffieHellman(clientKeyshare),
    s.group.diffieHellman(keyshare.privateKey, record.clientPublicKey),
  );
  const pre = preamble({
    context: p.context,
    clientIdentity: cleartext.clientIdentity,
    ke1: encodeKE1(ke1),
    serverIdentity: cleartext.serverIdentity,
    credentialResponse: encodeCredentialResponse(credentialResponse),
    serverNonce: r.serverNonce,
    serverPublicKeyshare: keyshare.publicKey,
  });
  const k = deriveKeys(s, ikm, pre);
  const ke2: KE2 = {
    credentialResponse,
    authResponse: { serverNonce: r.serverNonce, serverPublicKeyshare: keyshare.publicKey, serverMac: k.serverMac },
  };
  return {
    ke2,
    state: { expectedClientMac: k.clientMac, sessionKey: k.sessionKey },
    oprfKey,
    handshakeSecret: k.handshakeSecret,
    serverMacKey: k.serverMacKey,
    clientMacKey: k.clientMacKey,
  };
}

/** GenerateKE2; draws, in order: masking_nonce (Nn), server_nonce (Nn), server_keyshare_seed (Nseed). */
export function serverStartLogin(
  p: OpaqueParams,
  keys: ServerKeys,
  record: RegistrationRecord,
  credentialIdentifier: Bytes,
  ke1: KE1,
  ids: Identities,
  rng: Rng,
) {
  const s = p.suite;
  const maskingNonce = rng(s.Nn);
  const serverNonce = rng(s.Nn);
  const serverKeyshareSeed = rng(s.Nseed);
  return serverStartLoginWith(p, keys, record, credentialIdentifier, ke1, ids, {
    maskingNonce,
    serverNonce,
    serverKeyshareSeed,
  });
}

/** ServerFinish (RFC 9807 §6.2.4): the session key, or 'ClientAuthenticationFailed'. */
export function serverFinishLogin(state: ServerLoginState, ke3: KE3): Bytes {
  if (!ctEqual(ke3.clientMac, state.expectedClientMac))
    throw new VaultError('ClientAuthenticationFailed', 'client MAC mismatch');
  return state.sessionKey;
}
