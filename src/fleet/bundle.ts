/**
 * The validation bundle (spec ch. 7, "The bundle"), as the public description has it: the
 * fleet-key artifact, its epoch, a timestamp, its digest SHA-256(artifact), the witness's Ed25519
 * signature over a canonical encoding of {namespace, timestamp, epoch, digest}, and the operator's
 * Ed25519 counter-signature over the witness signature's 64 bytes, by a key held in an HSM.
 *
 *   witness statement  = canonicalJson({ digest: hex, epoch, namespace, timestamp })   (UTF-8)
 *   witnessSignature   = Ed25519(witness key, witness statement)
 *   operatorCounterSignature = Ed25519(operator HSM key, witnessSignature)
 *
 * The statement's member set differs from every other signed document of the fleet (those carry
 * a `type`), so no witness signature verifies as another kind of document. The witness log's
 * entries are these statements (log.ts).
 *
 * `verifyBundle` is the part both the client (src/client/bundle.ts) and the auditor run, in this
 * order, each refusal with its code: signatures present (`BundleUnsigned` when neither is,
 * `WitnessSignatureInvalid` / `OperatorSignatureInvalid` when one is missing), digest
 * (`DigestMismatch`), artifact well-formed (`MalformedMessage`), witness signature
 * (`WitnessSignatureInvalid`), counter-signature (`OperatorSignatureInvalid`).
 * @module
 */
import { type Bytes, ctEqual, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { canonicalJson, parseCanonicalJson } from '../crypto/canonical.ts';
import { VaultError } from '../errors.ts';
import { type FleetArtifact, computeArtifactDigest, decodeArtifact } from './artifact.ts';
import { NAME, readHex, readInt, readObject, readString } from './json.ts';
import { ED25519_SIGNATURE_BYTES, isValidSignature } from './signing.ts';

export const DIGEST_BYTES = 32;

export interface Bundle {
  /** The artifact's exact text (canonical JSON). */
  readonly artifact: string;
  readonly digest: string;
  /** 1, 2, 3, ...: the position of the bundle in the witness log plus one. */
  readonly epoch: number;
  /** Milliseconds since the Unix epoch, set by the witness. */
  readonly timestamp: number;
  readonly witnessSignature?: string;
  readonly operatorCounterSignature?: string;
}

/** What the witness signs, and what the witness log records. */
export interface WitnessStatement {
  readonly namespace: string;
  readonly timestamp: number;
  readonly epoch: number;
  readonly digest: string;
}

export function encodeWitnessStatement(s: WitnessStatement): string {
  return canonicalJson({ digest: s.digest, epoch: s.epoch, namespace: s.namespace, timestamp: s.timestamp });
}

export function decodeWitnessStatement(text: string, path: string): WitnessStatement {
  const o = readObject(parseCanonicalJson(text, path), path, ['digest', 'epoch', 'namespace', 'timestamp']);
  return {
    namespace: readString(o.namespace, `${path}.namespace`, NAME),
    timestamp: readInt(o.timestamp, `${path}.timestamp`, 0),
    epoch: readInt(o.epoch, `${path}.epoch`, 1),
    digest: readHex(o.digest, `${path}.digest`, DIGEST_BYTES),
  };
}

export function decodeBundle(x: unknown, path = 'bundle'): Bundle {
  const o = readObject(x, path, ['artifact', 'digest', 'epoch', 'timestamp'], ['witnessSignature', 'operatorCounterSignature']);
  return {
    artifact: readString(o.artifact, `${path}.artifact`),
    digest: readHex(o.digest, `${path}.digest`, DIGEST_BYTES),
    epoch: readInt(o.epoch, `${path}.epoch`, 1),
    timestamp: readInt(o.timestamp, `${path}.timestamp`, 0),
    ...(o.witnessSignature !== undefined && { witnessSignature: readHex(o.witnessSignature, `${path}.witnessSignature`, ED25519_SIGNATURE_BYTES) }),
    ...(o.operatorCounterSignature !== undefined && {
      operatorCounterSignature: readHex(o.operatorCounterSignature, `${path}.operatorCounterSignature`, ED25519_SIGNATURE_BYTES),
    }),
  };
}

export interface BundleKeys {
  readonly witness: Bytes;
  readonly operator: Bytes;
}

export interface VerifiedBundle {
  readonly artifact: FleetArtifact;
  readonly statement: WitnessStatement;
}

/** The checks every holder of a bundle runs (see the module header for the order and codes). */
export function verifyBundle(b: Bundle, keys: BundleKeys): VerifiedBundle {
  if (b.witnessSignature === undefined && b.operatorCounterSignature === undefined) throw new VaultError('BundleUnsigned', `epoch ${b.epoch}: neither witness signature nor operator counter-signature`);
  if (b.witnessSignature === undefined) throw new VaultError('WitnessSignatureInvalid', `epoch ${b.epoch}: no witness signature (operator counter-signature only)`);
  if (b.operatorCounterSignature === undefined) throw new VaultError('OperatorSignatureInvalid', `epoch ${b.epoch}: no operator counter-signature (witness signature only)`);
  if (!ctEqual(computeArtifactDigest(b.artifact), fromHex(b.digest))) throw new VaultError('DigestMismatch', `epoch ${b.epoch}: SHA-256 of the artifact is ${toHex(computeArtifactDigest(b.artifact)).slice(0, 16)}…, the bundle says ${b.digest.slice(0, 16)}…`);
  const artifact = decodeArtifact(b.artifact, `epoch ${b.epoch} artifact`);
  const statement: WitnessStatement = { namespace: artifact.namespace, timestamp: b.timestamp, epoch: b.epoch, digest: b.digest };
  const witnessSignature = fromHex(b.witnessSignature);
  if (!isValidSignature(witnessSignature, utf8(encodeWitnessStatement(statement)), keys.witness)) {
    throw new VaultError('WitnessSignatureInvalid', `epoch ${b.epoch}: the witness signature does not verify under the pinned witness key`);
  }
  if (!isValidSignature(fromHex(b.operatorCounterSignature), witnessSignature, keys.operator)) {
    throw new VaultError('OperatorSignatureInvalid', `epoch ${b.epoch}: the operator counter-signature does not verify under the pinned operator key`);
  }
  return { artifact, statement };
}
