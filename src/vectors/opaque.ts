/**
 * bkv's OPAQUE reference vectors: full registration + login transcripts in the format of RFC 9807
 * Appendix C (`{config, inputs, intermediates, outputs}`, the same field names), so that a harness
 * written for the RFC vectors runs these too. They extend the RFC's set with what it lacks: the
 * Argon2id KSF with explicit parameters, an empty context, and long identities.
 * @module
 */
import { type Bytes, type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, SUITE_IDS, type Suite, type SuiteId } from '../crypto/suite.ts';
import { argon2idKsf, IDENTITY_KSF, type Ksf } from '../crypto/ksf.ts';
import {
  clientFinishLogin,
  clientStartLoginWith,
  createRegistrationRequestWith,
  finalizeRegistrationRequestWith,
  type OpaqueParams,
} from '../crypto/opaque-client.ts';
import {
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLoginWith,
  softwareServerKeys,
} from '../crypto/opaque-server.ts';
import { computeMaskingKey, type Identities } from '../crypto/opaque-envelope.ts';
import {
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
} from '../crypto/opaque-messages.ts';

export interface OpaqueVector {
  readonly name: string;
  readonly config: Record<string, string>;
  readonly inputs: Record<string, string>;
  readonly intermediates: Record<string, string>;
  readonly outputs: Record<string, string>;
}

interface Case {
  readonly suite: SuiteId;
  readonly ksf: Ksf;
  readonly context: string;
  readonly identities: boolean;
}

const ARGON_SMALL = argon2idKsf({ t: 1, m: 64, p: 1 });

export const OPAQUE_CASES: readonly Case[] = [
  ...SUITE_IDS.map((suite) => ({ suite, ksf: IDENTITY_KSF, context: '', identities: false })),
  ...SUITE_IDS.map((suite) => ({ suite, ksf: ARGON_SMALL, context: 'bkv', identities: true })),
  { suite: 'ristretto255-SHA512', ksf: argon2idKsf(), context: 'bkv', identities: false },
];

function configOf(s: Suite, context: Bytes): Record<string, string> {
  return {
    Suite: s.id,
    OPRF: s.oprf.name,
    Group: s.group.name,
    Hash: s.hashName,
    KSF: s.ksf.name,
    Context: toHex(context),
    Name: '3DH',
    Nh: String(s.Nh),
    Npk: String(s.group.Npk),
    Nok: String(s.oprf.Nok),
  };
}

/** Inputs drawn from a seeded stream, named as in RFC 9807 Appendix C. */
function drawInputs(s: Suite, rng: Rng, identities: boolean) {
  const kp = s.group.deriveDiffieHellmanKeyPair(rng(s.Nseed));
  return {
    oprf_seed: rng(s.Nh),
    credential_identifier: utf8('alice@example'),
    password: utf8('correct horse battery staple'),
    server_private_key: kp.privateKey,
    server_public_key: kp.publicKey,
    envelope_nonce: rng(s.Nn),
    masking_nonce: rng(s.Nn),
    server_nonce: rng(s.Nn),
    client_nonce: rng(s.Nn),
    server_keyshare_seed: rng(s.Nseed),
    client_keyshare_seed: rng(s.Nseed),
    blind_registration: s.oprf.randomScalar(rng),
    blind_login: s.oprf.randomScalar(rng),
    ...(identities
      ? { client_identity: utf8('alice@example'.repeat(20)), server_identity: utf8('vault.bkv.example') }
      : {}),
  };
}

/** Runs one transcript from its inputs: the same function generates and verifies. */
export function runOpaqueTranscript(s: Suite, context: Bytes, inp: Record<string, Bytes>) {
  const p: OpaqueParams = { suite: s, context };
  const get = (k: string) => {
    const v = inp[k];
    if (!v) throw new Error(`vector input ${k} missing`);
    return v;
  };
  const ids: Identities = {
    ...(inp.client_identity && { clientIdentity: inp.client_identity }),
    ...(inp.server_identity && { serverIdentity: inp.server_identity }),
  };
  const keys = softwareServerKeys(s, {
    serverPrivateKey: get('server_private_key'),
    serverPublicKey: get('server_public_key'),
    oprfSeed: get('oprf_seed'),
  });
  const credId = get('credential_identifier');
  const reg = createRegistrationRequestWith(p, get('password'), get('blind_registration'));
  const response = createRegistrationResponse(p, keys, reg.request, credId);
  const fin = finalizeRegistrationRequestWith(p, reg.state, response, ids, get('envelope_nonce'));
  const login = clientStartLoginWith(p, get('password'), {
    blind: get('blind_login'),
    clientNonce: get('client_nonce'),
    clientKeyshareSeed: get('client_keyshare_seed'),
  });
  const server = serverStartLoginWith(p, keys, fin.record, credId, login.ke1, ids, {
    maskingNonce: get('masking_nonce'),
    serverNonce: get('server_nonce'),
    serverKeyshareSeed: get('server_keyshare_seed'),
  });
  const client = clientFinishLogin(p, login.state, server.ke2, ids);
  const serverKey = serverFinishLogin(server.state, client.ke3);
  return {
    intermediates: {
      auth_key: toHex(fin.authKey),
      client_mac_key: toHex(server.clientMacKey),
      client_public_key: toHex(fin.record.clientPublicKey),
      envelope: toHex(fin.record.envelope),
      handshake_secret: toHex(server.handshakeSecret),
      masking_key: toHex(computeMaskingKey(s, fin.randomizedPassword)),
      oprf_key: toHex(server.oprfKey),
      randomized_password: toHex(fin.randomizedPassword),
      server_mac_key: toHex(server.serverMacKey),
    },
    outputs: {
      registration_request: toHex(encodeRegistrationRequest(reg.request)),
      registration_response: toHex(encodeRegistrationResponse(response)),
      registration_upload: toHex(encodeRegistrationRecord(fin.record)),
      KE1: toHex(encodeKE1(login.ke1)),
      KE2: toHex(encodeKE2(server.ke2)),
      KE3: toHex(encodeKE3(client.ke3)),
      export_key: toHex(client.exportKey),
      session_key: toHex(client.sessionKey),
      server_session_key: toHex(serverKey),
    },
  };
}

export function generateOpaqueVectors(): OpaqueVector[] {
  return OPAQUE_CASES.map((c, i) => {
    const s = getSuite(c.suite, c.ksf);
    const context = utf8(c.context);
    const rng = seededRng(`bkv opaque vector ${i}`);
    const inputs = drawInputs(s, rng, c.identities);
    const run = runOpaqueTranscript(s, context, inputs);
    const hexInputs = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, toHex(v)]));
    const contextName = c.context ? ` context "${c.context}"` : ' empty context';
    return {
      name: `${s.id} ${s.ksf.name}${contextName}${c.identities ? ' with identities' : ''}`,
      config: configOf(s, context),
      inputs: hexInputs,
      ...run,
    };
  });
}
