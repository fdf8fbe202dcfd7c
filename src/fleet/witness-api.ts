/**
 * The JSON shapes of the witness service's API (spec ch. 8 §8.7) that both sides read: the
 * auditor's /info and namespace info (plexi's shapes), the publish request the owner signs, and the
 * service's persisted namespace record. Decoders are strict (`MalformedMessage`,
 * `UnsupportedCiphersuite`); the service (witness-service.ts) writes these shapes, the client
 * (witness-client.ts), the audit (audit-witness.ts) and the server's directory read them.
 * @module
 */
import { decodeTreeHead, type SignedTreeHead } from './log.ts';
import { HASH_SIZE } from './merkle.ts';
import { NAME, malformed, readArray, readHex, readInt, readObject, readString } from './json.ts';
import { type AuditorReport, decodeReport } from './report.ts';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, encodeSigningInput } from './signing.ts';
import { type Ciphersuite, readCiphersuite } from './statement.ts';

export const PUBLISH_REQUEST_TYPE = 'bkv/publish-request/v1';
export const AUTHORIZATION_SCHEME = 'Bkv-Ed25519';

/** The bytes the owner signs to publish `digest` at `epoch`. */
export function encodePublishRequest(namespace: string, epoch: number, digest: string): Uint8Array {
  return encodeSigningInput({ type: PUBLISH_REQUEST_TYPE, namespace, epoch, digest });
}

/** A publication refused because the epoch was already published with another digest. */
export interface ConflictEvidence {
  readonly epoch: number;
  /** The auditor's report of the epoch as published. */
  readonly published: AuditorReport;
  /** What the owner asked for, and its signature over the publish request. */
  readonly requested: { readonly digest: string; readonly owner_signature: string; readonly at: number };
}

/** A namespace as the service keeps it (and persists it). */
export interface NamespaceRecord {
  readonly name: string;
  readonly root: string;
  readonly ciphersuite: Ciphersuite;
  readonly owner_key: string;
  readonly reports: readonly AuditorReport[];
  readonly heads: readonly SignedTreeHead[];
  readonly bundles: Readonly<Record<string, { readonly artifact: string; readonly operatorCounterSignature: string }>>;
  readonly conflicts: readonly ConflictEvidence[];
}

// ---------------------------------------------------------------------------------------------

export interface AuditorInfo {
  readonly keys: readonly { readonly public_key: string; readonly not_before: number }[];
  readonly logs: readonly string[];
}

export function decodeAuditorInfo(x: unknown, path = 'info'): AuditorInfo {
  const o = readObject(x, path, ['keys', 'logs']);
  return {
    keys: readArray(o.keys, `${path}.keys`, 1).map((k, i) => {
      const p = readObject(k, `${path}.keys[${i}]`, ['public_key', 'not_before']);
      return {
        public_key: readHex(p.public_key, `${path}.keys[${i}].public_key`, ED25519_PUBLIC_KEY_BYTES),
        not_before: readInt(p.not_before, `${path}.keys[${i}].not_before`, 0),
      };
    }),
    logs: readArray(o.logs, `${path}.logs`).map((l, i) => readString(l, `${path}.logs[${i}]`)),
  };
}

export interface NamespaceInfo {
  readonly name: string;
  readonly root: string;
  readonly ciphersuite: Ciphersuite;
  readonly status: string;
  readonly last_verified_epoch?: number;
}

/** plexi's namespace info: either of `ciphersuite` and `signature_version` (equal when both). */
export function decodeNamespaceInfo(x: unknown, path = 'namespace'): NamespaceInfo {
  const o = readObject(
    x,
    path,
    ['name', 'root', 'status', 'reports_uri', 'audits_uri'],
    ['log_directory', 'last_verified_epoch', 'signature_version', 'ciphersuite'],
  );
  const suite = o.ciphersuite ?? o.signature_version;
  if (suite === undefined) throw malformed(path, 'missing member "ciphersuite"');
  const ciphersuite = readCiphersuite(suite, `${path}.ciphersuite`);
  if (
    o.signature_version !== undefined &&
    readCiphersuite(o.signature_version, `${path}.signature_version`) !== ciphersuite
  )
    throw malformed(path, 'ciphersuite and signature_version differ');
  if (o.log_directory !== undefined && o.log_directory !== null) readString(o.log_directory, `${path}.log_directory`);
  readString(o.reports_uri, `${path}.reports_uri`);
  readString(o.audits_uri, `${path}.audits_uri`);
  return {
    name: readString(o.name, `${path}.name`, NAME),
    root: readString(o.root, `${path}.root`),
    ciphersuite,
    status: readString(o.status, `${path}.status`),
    ...(o.last_verified_epoch !== undefined && {
      last_verified_epoch: readInt(o.last_verified_epoch, `${path}.last_verified_epoch`, 1),
    }),
  };
}

/** The service's persisted form of a namespace, read back strictly. */
export function decodeNamespaceRecord(x: unknown, path: string): NamespaceRecord {
  const o = readObject(x, path, [
    'name',
    'root',
    'ciphersuite',
    'owner_key',
    'reports',
    'heads',
    'bundles',
    'conflicts',
  ]);
  const held = o.bundles;
  if (held === null || typeof held !== 'object' || Array.isArray(held))
    throw malformed(`${path}.bundles`, 'expected an object');
  const bundles = held as Record<string, unknown>;
  return {
    name: readString(o.name, `${path}.name`, NAME),
    root: readString(o.root, `${path}.root`),
    ciphersuite: readCiphersuite(o.ciphersuite, `${path}.ciphersuite`),
    owner_key: readHex(o.owner_key, `${path}.owner_key`, ED25519_PUBLIC_KEY_BYTES),
    reports: readArray(o.reports, `${path}.reports`).map((r, i) => decodeReport(r, `${path}.reports[${i}]`)),
    heads: readArray(o.heads, `${path}.heads`).map((h, i) => decodeTreeHead(h, `${path}.heads[${i}]`)),
    bundles: Object.fromEntries(
      Object.entries(bundles).map(([e, b]) => {
        const p = readObject(b, `${path}.bundles.${e}`, ['artifact', 'operatorCounterSignature']);
        return [
          e,
          {
            artifact: readString(p.artifact, `${path}.bundles.${e}.artifact`),
            operatorCounterSignature: readHex(
              p.operatorCounterSignature,
              `${path}.bundles.${e}.operatorCounterSignature`,
              ED25519_SIGNATURE_BYTES,
            ),
          },
        ];
      }),
    ),
    conflicts: readArray(o.conflicts, `${path}.conflicts`).map((c, i) => {
      const p = readObject(c, `${path}.conflicts[${i}]`, ['epoch', 'published', 'requested']);
      const q = readObject(p.requested, `${path}.conflicts[${i}].requested`, ['digest', 'owner_signature', 'at']);
      return {
        epoch: readInt(p.epoch, `${path}.conflicts[${i}].epoch`, 1),
        published: decodeReport(p.published, `${path}.conflicts[${i}].published`),
        requested: {
          digest: readHex(q.digest, `${path}.conflicts[${i}].requested.digest`, HASH_SIZE),
          owner_signature: readHex(
            q.owner_signature,
            `${path}.conflicts[${i}].requested.owner_signature`,
            ED25519_SIGNATURE_BYTES,
          ),
          at: readInt(q.at, `${path}.conflicts[${i}].requested.at`, 0),
        },
      };
    }),
  };
}
