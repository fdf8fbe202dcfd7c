/**
 * RFC 9807 (OPAQUE), Appendix C vectors: all 9, stage by stage, through the suite objects.
 * First a worked example, then the edge cases, then the vector loop.
 */
import { describe, expect, test } from 'vitest';
import { fromHex, toHex, utf8 } from '../src/crypto/bytes.ts';
import { getSuite, type SuiteId } from '../src/crypto/suite.ts';
import {
  clientFinishLogin,
  clientStartLogin,
  clientStartLoginWith,
  createRegistrationRequest,
  createRegistrationRequestWith,
  finalizeRegistrationRequest,
  finalizeRegistrationRequestWith,
  type OpaqueParams,
} from '../src/crypto/opaque-client.ts';
import {
  createFakeRecord,
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLogin,
  serverStartLoginWith,
  softwareServerKeys,
} from '../src/crypto/opaque-server.ts';
import {
  decodeKE1,
  decodeKE2,
  decodeKE3,
  decodeRegistrationRecord,
  decodeRegistrationRequest,
  decodeRegistrationResponse,
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
} from '../src/crypto/opaque-messages.ts';
import { computeMaskingKey } from '../src/crypto/opaque-envelope.ts';
import { loadVectors } from './support/vectors.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { isVaultError } from '../src/errors.ts';
import { checkOpaqueVector } from '../src/vectors/rfc9807.ts';

interface Vector {
  config: Record<string, string>;
  inputs: Record<string, string>;
  intermediates: Record<string, string>;
  outputs: Record<string, string>;
}

const vectors = loadVectors<Vector[]>('rfc9807-opaque.json');

function suiteOf(config: Record<string, string>): SuiteId {
  if (config.OPRF === 'P256-SHA256') return 'P256-SHA256';
  return config.Group === 'curve25519' ? 'ristretto255-SHA512+Curve25519' : 'ristretto255-SHA512';
}

const h = (x: string | undefined) => {
  if (x === undefined) throw new Error('missing vector field');
  return fromHex(x);
};

describe('worked example (ristretto255-SHA512, Identity KSF, empty context)', () => {
  test('register, then log in; both sides agree on the session key; the export key is stable', () => {
    const rng = seededRng('worked example');
    const suite = getSuite('ristretto255-SHA512');
    const p: OpaqueParams = { suite, context: new Uint8Array(0) };
    const serverKp = suite.group.deriveDiffieHellmanKeyPair(rng(32));
    const keys = softwareServerKeys(suite, {
      serverPrivateKey: serverKp.privateKey,
      serverPublicKey: serverKp.publicKey,
      oprfSeed: rng(64),
    });
    const password = utf8('correct horse');
    const credId = utf8('alice@example');
    const reg = createRegistrationRequest(p, password, rng);
    const response = createRegistrationResponse(p, keys, reg.request, credId);
    const { record, exportKey } = finalizeRegistrationRequest(p, reg.state, response, {}, rng);
    const login = clientStartLogin(p, password, rng);
    const server = serverStartLogin(p, keys, record, credId, login.ke1, {}, rng);
    const fin = clientFinishLogin(p, login.state, server.ke2, {});
    expect(toHex(serverFinishLogin(server.state, fin.ke3))).toBe(toHex(fin.sessionKey));
    expect(toHex(fin.exportKey)).toBe(toHex(exportKey));
    expect(toHex(fin.serverPublicKey)).toBe(toHex(keys.publicKey));
  });
});

describe.each(vectors.map((v, i) => [i, v] as const))('RFC 9807 vector %i', (_i, v) => {
  const suite = getSuite(suiteOf(v.config));
  const p: OpaqueParams = { suite, context: h(v.config.Context) };
  const inp = v.inputs;
  const ids = {
    ...(inp.client_identity !== undefined && { clientIdentity: h(inp.client_identity) }),
    ...(inp.server_identity !== undefined && { serverIdentity: h(inp.server_identity) }),
  };
  const keys = softwareServerKeys(suite, {
    serverPrivateKey: h(inp.server_private_key),
    serverPublicKey: h(inp.server_public_key),
    oprfSeed: h(inp.oprf_seed),
  });
  const credId = h(inp.credential_identifier);

  test(`config: ${v.config.OPRF} / ${v.config.Group}${v.config.Fake === 'True' ? ' (fake)' : ''}`, () => {
    expect(suite.Nh).toBe(Number(v.config.Nh));
    expect(suite.group.Npk).toBe(Number(v.config.Npk));
    expect(suite.group.Nsk).toBe(Number(v.config.Nsk));
    expect(suite.oprf.Nok).toBe(Number(v.config.Nok));
    expect(suite.Nx).toBe(Number(v.config.Nx));
    expect(suite.Nm).toBe(Number(v.config.Nm));
  });

  if (v.config.Fake === 'True') {
    test('fake KE2 for an unknown credential', () => {
      const ke1 = decodeKE1(suite, h(inp.KE1));
      const record = createFakeRecord(suite, h(inp.client_public_key), h(inp.masking_key));
      const { ke2 } = serverStartLoginWith(p, keys, record, credId, ke1, ids, {
        maskingNonce: h(inp.masking_nonce),
        serverNonce: h(inp.server_nonce),
        serverKeyshareSeed: h(inp.server_keyshare_seed),
      });
      expect(toHex(encodeKE2(ke2))).toBe(v.outputs.KE2);
    });
    return;
  }

  const password = h(inp.password);
  const reg = createRegistrationRequestWith(p, password, h(inp.blind_registration));
  const response = createRegistrationResponse(p, keys, reg.request, credId);
  const fin = finalizeRegistrationRequestWith(p, reg.state, response, ids, h(inp.envelope_nonce));
  const login = clientStartLoginWith(p, password, {
    blind: h(inp.blind_login),
    clientNonce: h(inp.client_nonce),
    clientKeyshareSeed: h(inp.client_keyshare_seed),
  });
  const server = serverStartLoginWith(p, keys, fin.record, credId, login.ke1, ids, {
    maskingNonce: h(inp.masking_nonce),
    serverNonce: h(inp.server_nonce),
    serverKeyshareSeed: h(inp.server_keyshare_seed),
  });

  test('registration_request', () =>
    expect(toHex(encodeRegistrationRequest(reg.request))).toBe(v.outputs.registration_request));
  test('registration_response (oprf_key)', () => {
    expect(toHex(encodeRegistrationResponse(response))).toBe(v.outputs.registration_response);
    expect(toHex(server.oprfKey)).toBe(v.intermediates.oprf_key);
  });
  test('registration_upload (randomized_password, masking_key, auth_key, envelope, client_public_key)', () => {
    expect(toHex(fin.randomizedPassword)).toBe(v.intermediates.randomized_password);
    expect(toHex(computeMaskingKey(suite, fin.randomizedPassword))).toBe(v.intermediates.masking_key);
    expect(toHex(fin.authKey)).toBe(v.intermediates.auth_key);
    expect(toHex(fin.record.envelope)).toBe(v.intermediates.envelope);
    expect(toHex(fin.record.clientPublicKey)).toBe(v.intermediates.client_public_key);
    expect(toHex(encodeRegistrationRecord(fin.record))).toBe(v.outputs.registration_upload);
  });
  test('KE1', () => expect(toHex(encodeKE1(login.ke1))).toBe(v.outputs.KE1));
  test('KE2 (handshake_secret, server_mac_key, client_mac_key)', () => {
    expect(toHex(encodeKE2(server.ke2))).toBe(v.outputs.KE2);
    expect(toHex(server.handshakeSecret)).toBe(v.intermediates.handshake_secret);
    expect(toHex(server.serverMacKey)).toBe(v.intermediates.server_mac_key);
    expect(toHex(server.clientMacKey)).toBe(v.intermediates.client_mac_key);
  });
  test('KE3, export_key, session_key (client and server agree)', () => {
    const client = clientFinishLogin(p, login.state, decodeKE2(suite, h(v.outputs.KE2)), ids);
    expect(toHex(encodeKE3(client.ke3))).toBe(v.outputs.KE3);
    expect(toHex(client.exportKey)).toBe(v.outputs.export_key);
    expect(toHex(client.sessionKey)).toBe(v.outputs.session_key);
    expect(toHex(serverFinishLogin(server.state, decodeKE3(suite, h(v.outputs.KE3))))).toBe(v.outputs.session_key);
  });
  test('every output decodes and re-encodes to itself', () => {
    expect(toHex(encodeRegistrationRequest(decodeRegistrationRequest(suite, h(v.outputs.registration_request))))).toBe(
      v.outputs.registration_request,
    );
    expect(
      toHex(encodeRegistrationResponse(decodeRegistrationResponse(suite, h(v.outputs.registration_response)))),
    ).toBe(v.outputs.registration_response);
    expect(toHex(encodeRegistrationRecord(decodeRegistrationRecord(suite, h(v.outputs.registration_upload))))).toBe(
      v.outputs.registration_upload,
    );
    expect(toHex(encodeKE1(decodeKE1(suite, h(v.outputs.KE1))))).toBe(v.outputs.KE1);
    expect(toHex(encodeKE2(decodeKE2(suite, h(v.outputs.KE2))))).toBe(v.outputs.KE2);
  });
  test('a wrong password fails with EnvelopeRecoveryFailed, and a tampered KE3 with ClientAuthenticationFailed', () => {
    const wrong = clientStartLoginWith(p, utf8('wrong password'), {
      blind: h(inp.blind_login),
      clientNonce: h(inp.client_nonce),
      clientKeyshareSeed: h(inp.client_keyshare_seed),
    });
    const s2 = serverStartLoginWith(p, keys, fin.record, credId, wrong.ke1, ids, {
      maskingNonce: h(inp.masking_nonce),
      serverNonce: h(inp.server_nonce),
      serverKeyshareSeed: h(inp.server_keyshare_seed),
    });
    expect(() => clientFinishLogin(p, wrong.state, s2.ke2, ids)).toThrow(
      expect.objectContaining({ code: 'EnvelopeRecoveryFailed' }),
    );
    const ke3 = h(v.outputs.KE3);
    ke3[0]! ^= 1;
    let caught: unknown;
    try {
      serverFinishLogin(server.state, { clientMac: ke3 });
    } catch (e) {
      caught = e;
    }
    expect(isVaultError(caught, 'ClientAuthenticationFailed')).toBe(true);
  });
});

describe('checkOpaqueVector (src/vectors/rfc9807.ts: bkv vectors official, and the package)', () => {
  test('passes all 9 vectors, and names the value that differs when a vector is changed', () => {
    expect(vectors.map((v) => checkOpaqueVector(v))).toEqual(vectors.map(() => []));
    const real = vectors.find((v) => v.config.Fake === 'False')!;
    const ke2 = real.outputs.KE2!;
    const changed = { ...real, outputs: { ...real.outputs, KE2: (ke2[0] === '0' ? '1' : '0') + ke2.slice(1) } };
    expect(checkOpaqueVector(changed)).toEqual([expect.stringMatching(/^KE2: expected /)]);
    const fake = vectors.find((v) => v.config.Fake === 'True')!;
    const badInput = { ...fake, inputs: { ...fake.inputs, masking_key: fake.inputs.masking_key!.replace(/^./, 'f') } };
    expect(checkOpaqueVector(badInput)).toEqual([expect.stringMatching(/^KE2: expected /)]);
    expect(checkOpaqueVector({ ...fake, inputs: { ...fake.inputs, KE1: 'zz' } })[0]).toMatch(/^refused: /);
  });
});
