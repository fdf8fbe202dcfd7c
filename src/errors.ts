/**
 * The closed error vocabulary of bkv. Every refusal anywhere in the vault, the client, the channel,
 * the fleet and the replication layer is a `VaultError` with one of these codes. Vectors and tests
 * record the code, never the message text (the text is for people).
 * @module
 */

export const ERROR_CODES = [
  // decoding (spec ch. 3, "Wire messages")
  'MalformedMessage', // wrong length or structure
  'InvalidPoint', // not on the curve, not canonical, the identity, or of low order (spec ch. 2 §2.6)
  'UnknownMessageType',
  'InvalidParameter', // an argument outside its documented range
  // OPAQUE (RFC 9807 §6)
  'EnvelopeRecoveryFailed', // client: wrong password (envelope auth tag mismatch)
  'ServerAuthenticationFailed', // client: server MAC mismatch
  'ClientAuthenticationFailed', // server: KE3 MAC mismatch (wrong password, tampering, or replay)
  // vault rules (spec ch. 5, G1-G4)
  'GuessLimitExceeded', // record exhausted; no KE2 is produced again
  'UnknownSession',
  'SessionExpired',
  'SessionReplayed',
  'RecordNotFound',
  'RegistrationConflict',
  // channel (Noise NK)
  'ChannelDecryptFailed',
  'ChannelStateError',
  // HSM boundary
  'HsmError',
  'KeyNotFound',
  'SealBroken', // sealed host state failed authentication
  // replication
  'NotLeader',
  'Unavailable', // no majority reachable / timed out: the outcome is unknown (info)
  'StaleState', // host storage rolled back below the HSM anchor
  'PeerAuthenticationFailed', // a replica-to-replica message whose fleet MAC does not verify (forged, altered
  //                             or misdirected)
  // fleet, bundles, witness log, audit
  'BundleUnsigned',
  'WitnessSignatureInvalid',
  'OperatorSignatureInvalid',
  'DigestMismatch',
  'NamespaceMismatch',
  'StaleEpoch',
  'TimestampOutOfWindow',
  'MissingRole',
  'KeyNotPinned',
  'LogInconsistent',
  'InclusionProofInvalid',
  'ConsistencyProofInvalid',
  'LogEquivocation',
  'AttestationInvalid',
  'KeyExtractable',
  'UnsupportedCiphersuite', // an auditor ciphersuite other than 0x0001 (protobuf Ed25519) and 0x0002 (bincode Ed25519)
  'NotFound', // the witness service: no such namespace, epoch, bundle or path
  'EvidenceInvalid', // deployment evidence that does not add up: fleet keys differ between replicas, a wrap
  //                    without its unwrap, a secret not destroyed (spec ch. 7)
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class VaultError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string = code) {
    super(`${code}: ${message}`);
    this.name = 'VaultError';
    this.code = code;
  }
}

/** Type guard; with `code`, also checks the code. */
export function isVaultError(e: unknown, code?: ErrorCode): e is VaultError {
  return e instanceof VaultError && (code === undefined || e.code === code);
}

/** Throws `VaultError(code)` unless `cond` holds. */
export function ensure(cond: unknown, code: ErrorCode, message: string): asserts cond {
  if (!cond) throw new VaultError(code, message);
}
