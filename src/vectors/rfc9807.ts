/**
 * The official RFC 9807 vectors (Appendix C; `rfc9807-opaque.json` of the CFRG repository) run
 * through bkv's OPAQUE, for `bkv vectors official` and for anyone holding the package: each
 * vector's inputs drive registration and login with the vector's randomness, and every output and
 * intermediate the vector lists is recomputed and compared. Stage by stage, with the edge cases,
 * the same vectors are checked in test/rfc9807-opaque.test.ts.
 *
 * Flow (real vectors): CreateRegistrationRequest (blind_registration) -> CreateRegistrationResponse
 * -> FinalizeRegistrationRequest (envelope_nonce) -> GenerateKE1 (blind_login, client_nonce,
 * client_keyshare_seed) -> GenerateKE2 (masking_nonce, server_nonce, server_keyshare_seed) ->
 * GenerateKE3 -> ServerFinish. Fake vectors (§6.3.2.2): only KE2, from a fake record.
 * @module
 */
import { type Bytes, fromHex, toHex } from '../crypto/bytes.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import {
  clientFinishLogin,
  clientStartLoginWith,
  createRegistrationRequestWith,
  finalizeRegistrationRequestWith,
} from '../crypto/opaque-client.ts';
import {
  createFakeRecord,
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLoginWith,
  softwareServerKeys,
} from '../crypto/opaque-server.ts';
import {
  decodeKE1,
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
} from '../crypto/opaque-messages.ts';
import { computeMaskingKey } from '../crypto/opaque-envelope.ts';
import { VaultError } from '../errors.ts';

/** One vector as the RFC's JSON spells it: every value a hex string. */
export interface Rfc9807Vector {
  readonly config: Readonly<Record<string, string>>;
  readonly inputs: Readonly<Record<string, string>>;
  readonly intermediates: Readonly<Record<string, string>>;
  readonly outputs: Readonly<Record<string, string>>;
}

/** bkv's suite for a vector's configuration. */
export function suiteOfVector(config: Readonly<Record<string, string>>): SuiteId {
  if (config.OPRF === 'P256-SHA256') return 'P256-SHA256';
  return config.Group === 'curve25519' ? 'ristretto255-SHA512+Curve25519' : 'ristretto255-SHA512';
}

/** The vector's name: its configuration, as the RFC's appendix headings give it. */
export function describeVector(v: Rfc9807Vector): string {
  const ids = v.inputs.client_identity !== undefined ? ', with identities' : '';
  return `${v.config.OPRF} / ${v.config.Group}${v.config.Fake === 'True' ? ', fake' : ''}${ids}`;
}

function input(v: Rfc9807Vector, name: string): Bytes {
  const x = v.inputs[name];
  if (x === undefined) throw new VaultError('MalformedMessage', `RFC 9807 vector: input ${name} missing`);
  return fromHex(x);
}

/** Every output and intermediate of the vector, recomputed by bkv (hex, named as in the vector). */
export function computeOpaqueVector(v: Rfc9807Vector): Record<string, string> {
  const suite = getSuite(suiteOfVector(v.config));
  const p = { suite, context: fromHex(v.config.Context ?? '') };
  const ids = {
    ...(v.inputs.client_identity !== undefined && { clientIdentity: input(v, 'client_identity') }),
    ...(v.inputs.server_identity !== undefined && { serverIdentity: input(v, 'server_identity') }),
  };
  const keys = softwareServerKeys(suite, {
    serverPrivateKey: input(v, 'server_private_key'),
    serverPublicKey: input(v, 'server_public_key'),
    oprfSeed: input(v, 'oprf_seed'),
  });
  const credentialId = input(v, 'credential_identifier');
  const serverRandom = {
    maskingNonce: input(v, 'masking_nonce'),
    serverNonce: input(v, 'server_nonce'),
    serverKeyshareSeed: input(v, 'server_keyshare_seed'),
  };
  if (v.config.Fake === 'True') {
    const record = createFakeRecord(suite, input(v, 'client_public_key'), input(v, 'masking_key'));
    const ke1 = decodeKE1(suite, input(v, 'KE1'));
    return { KE2: toHex(encodeKE2(serverStartLoginWith(p, keys, record, credentialId, ke1, ids, serverRandom).ke2)) };
  }
  const password = input(v, 'password');
  const reg = createRegistrationRequestWith(p, password, input(v, 'blind_registration'));
  const response = createRegistrationResponse(p, keys, reg.request, credentialId);
  const fin = finalizeRegistrationRequestWith(p, reg.state, response, ids, input(v, 'envelope_nonce'));
  const login = clientStartLoginWith(p, password, {
    blind: input(v, 'blind_login'),
    clientNonce: input(v, 'client_nonce'),
    clientKeyshareSeed: input(v, 'client_keyshare_seed'),
  });
  const server = serverStartLoginWith(p, keys, fin.record, credentialId, login.ke1, ids, serverRandom);
  const client = clientFinishLogin(p, login.state, server.ke2, ids);
  const serverSessionKey = serverFinishLogin(server.state, client.ke3);
  return {
    registration_request: toHex(encodeRegistrationRequest(reg.request)),
    registration_response: toHex(encodeRegistrationResponse(response)),
    registration_upload: toHex(encodeRegistrationRecord(fin.record)),
    KE1: toHex(encodeKE1(login.ke1)),
    KE2: toHex(encodeKE2(server.ke2)),
    KE3: toHex(encodeKE3(client.ke3)),
    export_key: toHex(client.exportKey),
    session_key: toHex(client.sessionKey),
    server_session_key: toHex(serverSessionKey),
    oprf_key: toHex(server.oprfKey),
    randomized_password: toHex(fin.randomizedPassword),
    masking_key: toHex(computeMaskingKey(suite, fin.randomizedPassword)),
    auth_key: toHex(fin.authKey),
    envelope: toHex(fin.record.envelope),
    client_public_key: toHex(fin.record.clientPublicKey),
    handshake_secret: toHex(server.handshakeSecret),
    server_mac_key: toHex(server.serverMacKey),
    client_mac_key: toHex(server.clientMacKey),
  };
}

/**
 * The differences between the vector and bkv: one line per output or intermediate that differs
 * (or that bkv refused to compute); empty when the vector passes.
 */
export function checkOpaqueVector(v: Rfc9807Vector): string[] {
  let got: Record<string, string>;
  try {
    got = computeOpaqueVector(v);
  } catch (e) {
    return [`refused: ${(e as Error).message}`];
  }
  // the server's session key must equal the client's, which the vector gives as session_key
  const expected: Record<string, string> = {
    ...v.intermediates,
    ...v.outputs,
    ...(v.outputs.session_key !== undefined && { server_session_key: v.outputs.session_key }),
  };
  const problems: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    if (!(name in got)) continue; // a fake vector lists only KE2 as output
    if (got[name] !== want.toLowerCase())
      problems.push(`${name}: expected ${want.slice(0, 32)}…, got ${got[name]!.slice(0, 32)}…`);
  }
  const compared = Object.keys(expected).filter((n) => n in got).length;
  if (compared === 0) problems.push('nothing to compare: the vector lists none of the outputs bkv computes');
  return problems;
}
