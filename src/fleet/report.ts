/**
 * The auditor's report (spec ch. 7 §7.7): the JSON document Cloudflare's Key Transparency Auditor
 * returns for an epoch (plexi `SignatureResponse`, `GET /namespaces/{ns}/audits/{epoch}`), and the
 * witness signature of a bundle. Members in plexi's order, bytes in lowercase hex:
 *
 *   {"version":1,"ciphersuite":1,"namespace":"…","timestamp":1717084639921,"epoch":1,
 *    "digest":"<32 bytes>","signature":"<64 bytes>","key_id":188,"serialized_message":"<bytes>"}
 *
 * `version` and `ciphersuite` are the same number (plexi mirrors one into the other); `key_id` is
 * the last byte of the auditor key that signed (statement.ts); `serialized_message` is the signed
 * statement's bytes, optional (plexi writes `null` without it), and when present it must be the
 * serialization of the other members. `decodeReport` refuses anything else (`MalformedMessage`,
 * `UnsupportedCiphersuite`); `verifyReport` checks the key id and the Ed25519 signature, strictly
 * (signing.ts), under a pinned auditor key (`WitnessSignatureInvalid`).
 * @module
 */
import { type Bytes, fromHex, toHex } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import { NAME, malformed, readHex, readInt, readObject, readString } from './json.ts';
import { ED25519_SIGNATURE_BYTES, type Signer, isValidSignature } from './signing.ts';
import {
  type Ciphersuite,
  DIGEST_BYTES,
  type WitnessStatement,
  computeKeyId,
  encodeStatement,
  readCiphersuite,
} from './statement.ts';

/** The auditor's report, member for member as its JSON. */
export interface AuditorReport {
  readonly version: Ciphersuite;
  readonly ciphersuite: Ciphersuite;
  readonly namespace: string;
  readonly timestamp: number;
  readonly epoch: number;
  readonly digest: string;
  readonly signature: string;
  readonly key_id: number;
  readonly serialized_message?: string;
}

/** The statement a report is about. */
export function statementOf(r: AuditorReport): WitnessStatement {
  return {
    ciphersuite: r.ciphersuite,
    namespace: r.namespace,
    timestamp: r.timestamp,
    epoch: r.epoch,
    digest: r.digest,
  };
}

/** The auditor signs `statement` with `signer`: the report, with its serialized message. */
export function signStatement(signer: Signer, statement: WitnessStatement): AuditorReport {
  const message = encodeStatement(statement);
  const s = statement;
  return {
    version: s.ciphersuite,
    ciphersuite: s.ciphersuite,
    namespace: s.namespace,
    timestamp: s.timestamp,
    epoch: s.epoch,
    digest: s.digest,
    signature: toHex(signer.sign(message)),
    key_id: computeKeyId(signer.publicKey),
    serialized_message: toHex(message),
  };
}

/** The report as the auditor's HTTP API writes it: plexi's member order. */
export function encodeReport(r: AuditorReport): string {
  const { version, ciphersuite, namespace, timestamp, epoch, digest, signature, key_id, serialized_message } = r;
  return JSON.stringify({
    version,
    ciphersuite,
    namespace,
    timestamp,
    epoch,
    digest,
    signature,
    key_id,
    serialized_message: serialized_message ?? null,
  });
}

/** Decodes a report (its parsed JSON), strictly: see the module header. */
export function decodeReport(x: unknown, path = 'report'): AuditorReport {
  const o = readObject(
    x,
    path,
    ['version', 'ciphersuite', 'namespace', 'timestamp', 'epoch', 'digest', 'signature', 'key_id'],
    ['serialized_message'],
  );
  const version = readCiphersuite(o.version, `${path}.version`);
  const ciphersuite = readCiphersuite(o.ciphersuite, `${path}.ciphersuite`);
  if (version !== ciphersuite)
    throw malformed(
      path,
      `version ${version} and ciphersuite ${ciphersuite} differ (the auditor writes one number twice)`,
    );
  const r: AuditorReport = {
    version,
    ciphersuite,
    namespace: readString(o.namespace, `${path}.namespace`, NAME),
    timestamp: readInt(o.timestamp, `${path}.timestamp`, 0),
    epoch: readInt(o.epoch, `${path}.epoch`, 1),
    digest: readHex(o.digest, `${path}.digest`, DIGEST_BYTES),
    signature: readHex(o.signature, `${path}.signature`, ED25519_SIGNATURE_BYTES),
    key_id: readInt(o.key_id, `${path}.key_id`, 0, 255),
  };
  if (o.serialized_message === undefined || o.serialized_message === null) return r;
  const serialized = readHex(o.serialized_message, `${path}.serialized_message`);
  if (serialized !== toHex(encodeStatement(statementOf(r))))
    throw malformed(`${path}.serialized_message`, "is not the serialization of the report's statement");
  return { ...r, serialized_message: serialized };
}

/**
 * The report's signature under the pinned auditor key: its key id names that key, and the
 * signature over the statement's bytes verifies strictly. Returns the statement.
 */
export function verifyReport(r: AuditorReport, auditorKey: Bytes): WitnessStatement {
  const keyId = computeKeyId(auditorKey);
  if (r.key_id !== keyId)
    throw new VaultError(
      'WitnessSignatureInvalid',
      `epoch ${r.epoch}: key_id ${r.key_id} is not the pinned auditor key's (${keyId})`,
    );
  const statement = statementOf(r);
  if (!isValidSignature(fromHex(r.signature), encodeStatement(statement), auditorKey)) {
    throw new VaultError(
      'WitnessSignatureInvalid',
      `epoch ${r.epoch}: the auditor signature does not verify under the pinned auditor key`,
    );
  }
  return statement;
}
