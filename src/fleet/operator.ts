/**
 * The operator's publication of a fleet-key artifact (spec ch. 7, "Publishing an epoch"): it
 * submits the artifact's digest to the witness for the next epoch, receives the witness's
 * signature (and the log entry), and counter-signs the 64 signature bytes with its HSM-held key.
 *
 *   operator                          witness
 *   digest = SHA-256(artifact)  ---->  checks the log rules, signs {namespace, timestamp, epoch,
 *                                      digest}, appends it to the log, signs the new tree head
 *   counter-sign(witnessSignature) <-- witnessSignature
 * @module
 */
import { fromHex, toHex } from '../crypto/bytes.ts';
import { computeArtifactDigest, decodeArtifact } from './artifact.ts';
import type { Bundle } from './bundle.ts';
import { VaultError } from '../errors.ts';
import type { WitnessLog } from './log.ts';
import type { Signer } from './signing.ts';

/** Publishes `artifactText` as the log's next epoch; returns the complete bundle. */
export function publishArtifact(artifactText: string, log: WitnessLog, operator: Signer): Bundle {
  const artifact = decodeArtifact(artifactText);
  if (artifact.namespace !== log.namespace) throw new VaultError('NamespaceMismatch', `artifact of namespace "${artifact.namespace}" submitted to the log of "${log.namespace}"`);
  const digest = toHex(computeArtifactDigest(artifactText));
  const { statement, witnessSignature } = log.submit(log.size + 1, digest);
  const operatorCounterSignature = toHex(operator.sign(fromHex(witnessSignature)));
  return { artifact: artifactText, digest, epoch: statement.epoch, timestamp: statement.timestamp, witnessSignature, operatorCounterSignature };
}
