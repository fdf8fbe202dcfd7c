/**
 * The validation bundle (spec ch. 7, "The bundle"), as the public description has it: the
 * fleet-key artifact, the witness's signature over {namespace, timestamp, epoch, digest} with
 * digest = SHA-256(artifact), and the operator's Ed25519 counter-signature over the witness
 * signature's 64 bytes, by a key held in an HSM. The witness is Cloudflare's Key Transparency
 * Auditor, so its signature travels as the auditor's own report (report.ts), in its wire format:
 *
 *   bundle                   = { artifact, report, operatorCounterSignature }
 *   report                   = the auditor's JSON: statement fields, signature, key_id, serialized_message
 *   report.signature         = Ed25519(auditor key, SignatureMessage bytes)   (statement.ts)
 *   operatorCounterSignature = Ed25519(operator HSM key, the 64 bytes of report.signature)
 *
 * The epoch, the timestamp and the digest are the report's: they are stated once.
 *
 * `verifyBundle` is the part both the client (src/client/bundle.ts) and the auditor run, in this
 * order, each refusal with its code: signatures present (`BundleUnsigned` when neither is,
 * `WitnessSignatureInvalid` / `OperatorSignatureInvalid` when one is missing), digest
 * (`DigestMismatch`), artifact well-formed (`MalformedMessage`), the auditor's signature and key
 * id (`WitnessSignatureInvalid`), the report's namespace is the artifact's (`NamespaceMismatch`),
 * counter-signature (`OperatorSignatureInvalid`).
 * @module
 */
import { type Bytes, ctEqual, fromHex, toHex } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import { type FleetArtifact, computeArtifactDigest, decodeArtifact } from './artifact.ts';
import { readHex, readObject, readString } from './json.ts';
import { type AuditorReport, decodeReport, verifyReport } from './report.ts';
import { ED25519_SIGNATURE_BYTES, isValidSignature } from './signing.ts';
import type { WitnessStatement } from './statement.ts';

export interface Bundle {
  /** The artifact's exact text (canonical JSON). */
  readonly artifact: string;
  /** The auditor's report for the artifact's epoch: the witness signature. */
  readonly report?: AuditorReport;
  /** Ed25519 by the operator's HSM key over the 64 bytes of `report.signature` (hex). */
  readonly operatorCounterSignature?: string;
}

export function decodeBundle(x: unknown, path = 'bundle'): Bundle {
  const o = readObject(x, path, ['artifact'], ['report', 'operatorCounterSignature']);
  return {
    artifact: readString(o.artifact, `${path}.artifact`),
    ...(o.report !== undefined && { report: decodeReport(o.report, `${path}.report`) }),
    ...(o.operatorCounterSignature !== undefined && {
      operatorCounterSignature: readHex(
        o.operatorCounterSignature,
        `${path}.operatorCounterSignature`,
        ED25519_SIGNATURE_BYTES,
      ),
    }),
  };
}

export interface BundleKeys {
  /** The auditor's (witness's) Ed25519 public key. */
  readonly witness: Bytes;
  readonly operator: Bytes;
}

export interface VerifiedBundle {
  readonly artifact: FleetArtifact;
  readonly statement: WitnessStatement;
}

/** The checks every holder of a bundle runs (see the module header for the order and codes). */
export function verifyBundle(b: Bundle, keys: BundleKeys): VerifiedBundle {
  const r = b.report;
  const at = r === undefined ? 'bundle' : `epoch ${r.epoch}`;
  if (r === undefined && b.operatorCounterSignature === undefined)
    throw new VaultError('BundleUnsigned', 'neither the auditor report nor the operator counter-signature');
  if (r === undefined)
    throw new VaultError('WitnessSignatureInvalid', `${at}: no auditor report (operator counter-signature only)`);
  if (b.operatorCounterSignature === undefined)
    throw new VaultError('OperatorSignatureInvalid', `${at}: no operator counter-signature (auditor report only)`);
  const digest = computeArtifactDigest(b.artifact);
  if (!ctEqual(digest, fromHex(r.digest)))
    throw new VaultError(
      'DigestMismatch',
      `${at}: SHA-256 of the artifact is ${toHex(digest).slice(0, 16)}…, the report says ${r.digest.slice(0, 16)}…`,
    );
  const artifact = decodeArtifact(b.artifact, `${at} artifact`);
  const statement = verifyReport(r, keys.witness);
  if (statement.namespace !== artifact.namespace)
    throw new VaultError(
      'NamespaceMismatch',
      `${at}: the report is for namespace "${statement.namespace}", the artifact's is "${artifact.namespace}"`,
    );
  if (!isValidSignature(fromHex(b.operatorCounterSignature), fromHex(r.signature), keys.operator)) {
    throw new VaultError(
      'OperatorSignatureInvalid',
      `${at}: the operator counter-signature does not verify under the pinned operator key`,
    );
  }
  return { artifact, statement };
}
