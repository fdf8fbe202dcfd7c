/**
 * Byte-for-byte interoperability with facebook/opaque-ke (through @serenity-kit/opaque, its wasm
 * build; a devDependency), in both directions: an opaque-ke client registers and logs in against
 * bkv's server, and a bkv client against opaque-ke's server, with the same configuration
 * (ristretto255-SHA512, Argon2id t=1 m=8 p=1 in RFC 9807 §3.3 form, empty context, default
 * identities). Spec ch. 2.3.
 */
import { beforeAll, expect, test } from 'vitest';
import * as opaque from '@serenity-kit/opaque';
import { toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import { argon2idKsf } from '../src/crypto/ksf.ts';
import {
  clientFinishLogin,
  clientStartLogin,
  createRegistrationRequest,
  finalizeRegistrationRequest,
  type OpaqueParams,
} from '../src/crypto/opaque-client.ts';
import {
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLogin,
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

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));
const keyStretching = { 'argon2id-custom': { iterations: 1, memory: 8, parallelism: 1 } } as const;
const suite = getSuite('ristretto255-SHA512', argon2idKsf({ t: 1, m: 8, p: 1 }));
const p: OpaqueParams = { suite, context: new Uint8Array(0) };
const USER = 'alice@example';
const PASSWORD = 'correct horse battery staple';

let serverSetup: string;
let keys: ReturnType<typeof softwareServerKeys>;
beforeAll(async () => {
  await opaque.ready;
  serverSetup = opaque.server.createSetup();
  // opaque-ke's ServerSetup: oprf_seed (Nh) || server private key || fake private key
  const bytes = unb64(serverSetup);
  expect(bytes.length).toBe(128);
  keys = softwareServerKeys(suite, {
    oprfSeed: bytes.subarray(0, 64),
    serverPrivateKey: bytes.subarray(64, 96),
    serverPublicKey: unb64(opaque.server.getPublicKey(serverSetup)),
  });
});

test('opaque-ke client, bkv server: registration and login agree on session key and export key', () => {
  const rng = seededRng('interop 1');
  const r1 = opaque.client.startRegistration({ password: PASSWORD });
  const response = createRegistrationResponse(
    p,
    keys,
    decodeRegistrationRequest(suite, unb64(r1.registrationRequest)),
    utf8(USER),
  );
  // bkv's registration response equals opaque-ke's own, byte for byte
  const theirs = opaque.server.createRegistrationResponse({
    serverSetup,
    userIdentifier: USER,
    registrationRequest: r1.registrationRequest,
  });
  expect(b64(encodeRegistrationResponse(response))).toBe(theirs.registrationResponse);
  const r2 = opaque.client.finishRegistration({
    clientRegistrationState: r1.clientRegistrationState,
    registrationResponse: b64(encodeRegistrationResponse(response)),
    password: PASSWORD,
    keyStretching,
  });
  const record = decodeRegistrationRecord(suite, unb64(r2.registrationRecord));

  const l1 = opaque.client.startLogin({ password: PASSWORD });
  const server = serverStartLogin(p, keys, record, utf8(USER), decodeKE1(suite, unb64(l1.startLoginRequest)), {}, rng);
  const l2 = opaque.client.finishLogin({
    clientLoginState: l1.clientLoginState,
    loginResponse: b64(encodeKE2(server.ke2)),
    password: PASSWORD,
    keyStretching,
  });
  expect(l2).toBeDefined();
  const sessionKey = serverFinishLogin(server.state, decodeKE3(suite, unb64(l2!.finishLoginRequest)));
  expect(b64(sessionKey)).toBe(l2!.sessionKey);
  expect(l2!.exportKey).toBe(r2.exportKey);
});

test('bkv client, opaque-ke server: registration and login agree on session key and export key', () => {
  const rng = seededRng('interop 2');
  const reg = createRegistrationRequest(p, utf8(PASSWORD), rng);
  const resp = opaque.server.createRegistrationResponse({
    serverSetup,
    userIdentifier: USER,
    registrationRequest: b64(encodeRegistrationRequest(reg.request)),
  });
  const fin = finalizeRegistrationRequest(
    p,
    reg.state,
    decodeRegistrationResponse(suite, unb64(resp.registrationResponse)),
    {},
    rng,
  );

  const login = clientStartLogin(p, utf8(PASSWORD), rng);
  const s1 = opaque.server.startLogin({
    serverSetup,
    userIdentifier: USER,
    registrationRecord: b64(encodeRegistrationRecord(fin.record)),
    startLoginRequest: b64(encodeKE1(login.ke1)),
  });
  const done = clientFinishLogin(p, login.state, decodeKE2(suite, unb64(s1.loginResponse)), {});
  const s2 = opaque.server.finishLogin({
    serverLoginState: s1.serverLoginState,
    finishLoginRequest: b64(encodeKE3(done.ke3)),
  });
  expect(s2.sessionKey).toBe(b64(done.sessionKey));
  expect(toHex(done.exportKey)).toBe(toHex(fin.exportKey));
});

test('the interop check can fail: with another Argon2id setting the opaque-ke client cannot log in', () => {
  const rng = seededRng('interop 3');
  const other: OpaqueParams = {
    suite: getSuite('ristretto255-SHA512', argon2idKsf({ t: 2, m: 8, p: 1 })),
    context: p.context,
  };
  const reg = createRegistrationRequest(other, utf8(PASSWORD), rng);
  const resp = opaque.server.createRegistrationResponse({
    serverSetup,
    userIdentifier: USER,
    registrationRequest: b64(encodeRegistrationRequest(reg.request)),
  });
  const fin = finalizeRegistrationRequest(
    other,
    reg.state,
    decodeRegistrationResponse(suite, unb64(resp.registrationResponse)),
    {},
    rng,
  );
  const l1 = opaque.client.startLogin({ password: PASSWORD });
  const s1 = opaque.server.startLogin({
    serverSetup,
    userIdentifier: USER,
    registrationRecord: b64(encodeRegistrationRecord(fin.record)),
    startLoginRequest: l1.startLoginRequest,
  });
  expect(
    opaque.client.finishLogin({
      clientLoginState: l1.clientLoginState,
      loginResponse: s1.loginResponse,
      password: PASSWORD,
      keyStretching,
    }),
  ).toBeUndefined();
});
