/**
 * The operator's publication of a fleet-key artifact (spec ch. 7, "Publishing an epoch"): it
 * submits the artifact's digest to the witness for the next epoch, receives the auditor's report
 * (the witness signature), and counter-signs the 64 signature bytes with its HSM-held key.
 *
 *   operator                          witness (the auditor)
 *   digest = SHA-256(artifact)  ---->  checks the log rules, signs the statement {namespace,
 *                                      timestamp, epoch, digest}, appends it, signs the tree head
 *   counter-sign(report.signature) <-- report
 *
 * `publishArtifact` does it against a witness log in the same process; over HTTP the same steps
 * run through the witness service (witness-client.ts).
 * @module
 */
import { fromHex, toHex } from '../crypto/bytes.ts';
import { computeArtifactDigest, decodeArtifact } from './artifact.ts';
import type { Bundle } from './bundle.ts';
import { VaultError } from '../errors.ts';
import type { WitnessLog } from './log.ts';
import type { AuditorReport } from './report.ts';
import type { Signer } from './signing.ts';

/** The operator's counter-signature over the 64 bytes of the auditor's signature, as a bundle. */
export function counterSign(artifactText: string, report: AuditorReport, operator: Signer): Bundle {
  return { artifact: artifactText, report, operatorCounterSignature: toHex(operator.sign(fromHex(report.signature))) };
}

/** Publishes `artifactText` as the log's next epoch; returns the complete bundle. */
export function publishArtifact(artifactText: string, log: WitnessLog, operator: Signer): Bundle {
  const artifact = decodeArtifact(artifactText);
  if (artifact.namespace !== log.namespace)
    throw new VaultError(
      'NamespaceMismatch',
      `artifact of namespace "${artifact.namespace}" submitted to the log of "${log.namespace}"`,
    );
  return counterSign(artifactText, log.submit(log.size + 1, toHex(computeArtifactDigest(artifactText))), operator);
}
