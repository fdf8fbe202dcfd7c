/**
 * `bkv opaque`: one OPAQUE registration and login (RFC 9807), every message and key printed in
 * hex, for an implementer to follow beside the RFC. Deterministic from `--seed`.
 * @module
 */
import { type Bytes, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, SUITE_IDS, type SuiteId } from '../crypto/suite.ts';
import {
  clientFinishLogin,
  clientStartLogin,
  createRegistrationRequest,
  finalizeRegistrationRequest,
  type OpaqueParams,
} from '../crypto/opaque-client.ts';
import {
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLogin,
  softwareServerKeys,
} from '../crypto/opaque-server.ts';
import {
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
} from '../crypto/opaque-messages.ts';

export function walkthrough(o: { suite: SuiteId; seed: string; print: (line: string) => void }): number {
  const { print } = o;
  const rng = seededRng(o.seed);
  const suite = getSuite(o.suite);
  const p: OpaqueParams = { suite, context: utf8('bkv walkthrough') };
  const show = (name: string, b: Bytes) => print(`  ${name.padEnd(24)} ${toHex(b)}`);
  print(
    `OPAQUE (RFC 9807), suite ${suite.id}, KSF ${suite.ksf.name}, context "bkv walkthrough", seed "${o.seed}" ` +
      `(suites: ${SUITE_IDS.join(', ')})`,
  );
  const kp = suite.group.deriveDiffieHellmanKeyPair(rng(suite.Nseed));
  const oprfSeed = rng(suite.Nh);
  const keys = softwareServerKeys(suite, { serverPrivateKey: kp.privateKey, serverPublicKey: kp.publicKey, oprfSeed });
  print('server setup');
  show('server_public_key', kp.publicKey);
  show('oprf_seed', oprfSeed);
  const password = utf8('correct horse battery staple');
  const credId = utf8('alice@example');
  print(`registration (credential_identifier "alice@example")`);
  const reg = createRegistrationRequest(p, password, rng);
  show('registration_request', encodeRegistrationRequest(reg.request));
  const response = createRegistrationResponse(p, keys, reg.request, credId);
  show('registration_response', encodeRegistrationResponse(response));
  const fin = finalizeRegistrationRequest(p, reg.state, response, {}, rng);
  show('randomized_password', fin.randomizedPassword);
  show('registration_upload', encodeRegistrationRecord(fin.record));
  show('export_key', fin.exportKey);
  print('login');
  const login = clientStartLogin(p, password, rng);
  show('KE1', encodeKE1(login.ke1));
  const server = serverStartLogin(p, keys, fin.record, credId, login.ke1, {}, rng);
  show('oprf_key', server.oprfKey);
  show('KE2', encodeKE2(server.ke2));
  const client = clientFinishLogin(p, login.state, server.ke2, {});
  show('KE3', encodeKE3(client.ke3));
  show('client session_key', client.sessionKey);
  show('server session_key', serverFinishLogin(server.state, client.ke3));
  show('export_key (login)', client.exportKey);
  const agree = toHex(client.exportKey) === toHex(fin.exportKey);
  print(`export keys ${agree ? 'agree' : 'DIFFER'}; session keys agree`);
  return agree ? 0 : 1;
}
