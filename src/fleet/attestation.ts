/**
 * HSM attestations (spec ch. 7, "Attestation chain"), simulated: a real HSM's firmware signs
 * statements about the keys it holds with a device attestation key that its vendor certified. Here a
 * `Vendor` holds a root key (pinned by every auditor) and an attestation key, certifies the
 * latter with the former, and signs statements about what a replica's `Hsm` reports:
 *
 *   vendor root (pinned)  --signs-->  certificate { subject, publicKey of the attestation key }
 *   attestation key       --signs-->  statement  { namespace, fleetId, replica, token, seq, event ... }
 *
 * Events (what a statement attests):
 *   key      a key's state: label, fingerprint, and the PKCS#11 attributes `hsm.keyInfo` reports
 *            (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_SENSITIVE, CKA_EXTRACTABLE), whether it was
 *            imported from host bytes, and its export policy `wrapTo` (the only keys it may be
 *            wrapped to, fixed at generation and enforced by the HSM's `wrapKey`)
 *   wrap     the key `label` left this HSM wrapped to `recipientKey`; SHA-256 of the wrapped blob
 *   unwrap   the key `label` was created from a wrapped blob with the transport key `unwrapWith`
 *   derive   the key `label` was derived from the secret `from` with HKDF-Expand info `info`
 *   destroy  the key `label` was deleted, and how many times the HSM had wrapped it (`wrapCount`,
 *            a counter the HSM keeps: a wrap the host did not report shows here)
 *
 * A fingerprint names a key without revealing it: the public key of an asymmetric key, the key
 * check value KCV = HMAC(key, "bkv/fleet/kcv/v1")[0..16] of an HMAC key (computed inside the
 * HSM; no input of the vault's HKDF-Expand calls ends that way), nothing for an AES key.
 *
 * What is simulated: the vendor reads `hsm.keyInfo` as firmware would read the token's objects.
 * The attestations carry exactly what a real device would vouch for; the chain, the statements and
 * every rule an auditor applies to them are this reference's choices.
 * @module
 */
import { type Bytes, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { VaultError } from '../errors.ts';
import type { Hsm, KeyKind } from '../hsm/hsm.ts';
import { KEY_KINDS } from '../hsm/kinds.ts';
import {
  NAME,
  malformed,
  readArray,
  readBool,
  readChoice,
  readConstant,
  readHex,
  readInt,
  readObject,
  readString,
} from './json.ts';
import {
  ED25519_PUBLIC_KEY_BYTES,
  type Signed,
  type Signer,
  decodeSigned,
  hsmSigner,
  isSignedBy,
  signDocument,
} from './signing.ts';

export const VENDOR_CERTIFICATE_TYPE = 'bkv/vendor-certificate/v1';
export const ATTESTATION_TYPE = 'bkv/attestation/v1';
export const KCV_MESSAGE = 'bkv/fleet/kcv/v1';
export const KCV_BYTES = 16;

export interface VendorCertificateBody {
  readonly type: typeof VENDOR_CERTIFICATE_TYPE;
  readonly vendor: string;
  /** The name of the certified attestation key. */
  readonly subject: string;
  readonly publicKey: string;
}

export type VendorCertificate = Signed<VendorCertificateBody>;

/** The PKCS#11 attributes of a key, as the token reports them, and its origin and export policy. */
export interface KeyAttributes {
  readonly local: boolean;
  readonly neverExtractable: boolean;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  /** Created from host-supplied bytes: the secret has been in host memory. */
  readonly imported: boolean;
  /** The export policy fixed at generation (hex X25519 keys); absent: any recipient (or not extractable). */
  readonly wrapTo?: readonly string[];
}

/** Names a key without revealing it: public key (asymmetric), KCV (HMAC), or only the kind (AES). */
export interface KeyFingerprint {
  readonly kind: KeyKind;
  readonly publicKey?: string;
  readonly kcv?: string;
}

export type AttestationEvent =
  | { readonly event: 'key'; readonly label: string; readonly key: KeyFingerprint; readonly attributes: KeyAttributes }
  | {
      readonly event: 'wrap';
      readonly label: string;
      readonly key: KeyFingerprint;
      readonly recipientKey: string;
      readonly wrappedDigest: string;
    }
  | {
      readonly event: 'unwrap';
      readonly label: string;
      readonly key: KeyFingerprint;
      readonly unwrapWith: string;
      readonly transportKey: string;
      readonly wrappedDigest: string;
    }
  | {
      readonly event: 'derive';
      readonly label: string;
      readonly key: KeyFingerprint;
      readonly from: string;
      readonly info: string;
    }
  | { readonly event: 'destroy'; readonly label: string; readonly wrapCount: number };

export interface AttestationHeader {
  readonly type: typeof ATTESTATION_TYPE;
  /** The namespace the fleet is deployed for (so evidence cannot be replayed into another one). */
  readonly namespace: string;
  readonly fleetId: string;
  /** The replica (device) the statement is about, and its token label. */
  readonly replica: string;
  readonly token: string;
  /** Position in the deployment's sequence of statements: 0, 1, 2, ... */
  readonly seq: number;
}

export type AttestationBody = AttestationHeader & AttestationEvent;
export type Attestation = Signed<AttestationBody>;

/** A simulated HSM vendor: a root key and one certified attestation key, both inside `hsm`. */
export interface Vendor {
  readonly name: string;
  readonly rootKey: Bytes;
  readonly certificates: readonly VendorCertificate[];
  attest(body: AttestationBody): Attestation;
}

export function createVendor(hsm: Hsm, name = 'bkv simulated HSM vendor', prefix = 'vendor'): Vendor {
  const root = hsmSigner(hsm, `${prefix}/root`);
  const attestationKey: Signer = hsmSigner(hsm, `${prefix}/attestation-1`);
  const certificate = signDocument<VendorCertificateBody>(root, {
    type: VENDOR_CERTIFICATE_TYPE,
    vendor: name,
    subject: 'attestation-1',
    publicKey: toHex(attestationKey.publicKey),
  });
  return {
    name,
    rootKey: root.publicKey,
    certificates: [certificate],
    attest: (body) => signDocument(attestationKey, body),
  };
}

// ---------------------------------------------------------------------------------------------
// Observing a key (what the device firmware would read)
// ---------------------------------------------------------------------------------------------

/** The fingerprint of key `label` in `hsm` (the KCV is computed inside the HSM). */
export function computeFingerprint(hsm: Hsm, label: string): KeyFingerprint {
  const info = hsm.keyInfo(label);
  if (info.publicKey !== undefined) return { kind: info.kind, publicKey: toHex(info.publicKey) };
  if (info.kind === 'hmac-sha256' || info.kind === 'hmac-sha512')
    return { kind: info.kind, kcv: toHex(hsm.hmac(label, utf8(KCV_MESSAGE)).subarray(0, KCV_BYTES)) };
  return { kind: info.kind };
}

export function readKeyAttributes(hsm: Hsm, label: string): KeyAttributes {
  const { local, neverExtractable, sensitive, extractable, imported, wrapTo } = hsm.keyInfo(label);
  const policy = wrapTo !== undefined && { wrapTo: wrapTo.map(toHex) };
  return { local, neverExtractable, sensitive, extractable, imported, ...policy };
}

export function isSameKey(a: KeyFingerprint, b: KeyFingerprint): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** `abcd1234…` (kind): for reports. */
export function describeFingerprint(k: KeyFingerprint): string {
  const id = k.publicKey ?? (k.kcv !== undefined ? `kcv ${k.kcv}` : undefined);
  return id === undefined ? k.kind : `${k.kind} ${id.length > 16 ? `${id.slice(0, 16)}…` : id}`;
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** Verifies every certificate under the pinned vendor root; returns the certified attestation keys. */
export function verifyCertificates(certificates: readonly VendorCertificate[], vendorRoot: Bytes): Bytes[] {
  if (certificates.length === 0) throw new VaultError('AttestationInvalid', 'no vendor certificate');
  return certificates.map((c, i) => {
    if (!isSignedBy(c, vendorRoot))
      throw new VaultError(
        'AttestationInvalid',
        `certificate ${i} ("${c.body.subject}") is not signed by the pinned vendor root`,
      );
    return fromHex(c.body.publicKey);
  });
}

/** Verifies that `statement` is signed by one of the certified attestation keys. */
export function verifyAttestation(
  statement: Attestation,
  attestationKeys: readonly Bytes[],
  where: string,
): AttestationBody {
  if (!attestationKeys.some((k) => isSignedBy(statement, k))) {
    throw new VaultError(
      'AttestationInvalid',
      `${where}: statement #${statement.body.seq} (${statement.body.event} ${statement.body.label}) ` +
        `is not signed by a certified attestation key`,
    );
  }
  return statement.body;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const HASH_BYTES = 32;

export function decodeCertificate(x: unknown, path: string): VendorCertificate {
  return decodeSigned(x, path, (b, p) => {
    const o = readObject(b, p, ['type', 'vendor', 'subject', 'publicKey']);
    return {
      type: readConstant(o.type, `${p}.type`, VENDOR_CERTIFICATE_TYPE) as typeof VENDOR_CERTIFICATE_TYPE,
      vendor: readString(o.vendor, `${p}.vendor`, /^[\x20-\x7e]{1,128}$/),
      subject: readString(o.subject, `${p}.subject`, NAME),
      publicKey: readHex(o.publicKey, `${p}.publicKey`, ED25519_PUBLIC_KEY_BYTES),
    };
  });
}

/** Public key lengths per kind (raw 32 bytes for 25519 and ristretto255, SEC1 compressed P-256). */
const PUBLIC_KEY_BYTES: Partial<Record<KeyKind, number>> = { ed25519: 32, x25519: 32, ristretto255: 32, p256: 33 };

export function decodeFingerprint(x: unknown, path: string): KeyFingerprint {
  const o = readObject(x, path, ['kind'], ['publicKey', 'kcv']);
  const kind = readChoice(o.kind, `${path}.kind`, KEY_KINDS);
  const pkLength = PUBLIC_KEY_BYTES[kind];
  const isHmac = kind === 'hmac-sha256' || kind === 'hmac-sha512';
  if (pkLength !== undefined) {
    if (o.kcv !== undefined || o.publicKey === undefined)
      throw malformed(path, `a ${kind} key is named by its public key only`);
    return { kind, publicKey: readHex(o.publicKey, `${path}.publicKey`, pkLength) };
  }
  if (isHmac) {
    if (o.publicKey !== undefined || o.kcv === undefined)
      throw malformed(path, `a ${kind} key is named by its KCV only`);
    return { kind, kcv: readHex(o.kcv, `${path}.kcv`, KCV_BYTES) };
  }
  if (o.publicKey !== undefined || o.kcv !== undefined)
    throw malformed(path, `a ${kind} key has no public fingerprint`);
  return { kind };
}

function decodeAttributes(x: unknown, path: string): KeyAttributes {
  const o = readObject(x, path, ['local', 'neverExtractable', 'sensitive', 'extractable', 'imported'], ['wrapTo']);
  const wrapTo = o.wrapTo === undefined ? undefined : readArray(o.wrapTo, `${path}.wrapTo`, 1);
  return {
    local: readBool(o.local, `${path}.local`),
    neverExtractable: readBool(o.neverExtractable, `${path}.neverExtractable`),
    sensitive: readBool(o.sensitive, `${path}.sensitive`),
    extractable: readBool(o.extractable, `${path}.extractable`),
    imported: readBool(o.imported, `${path}.imported`),
    ...(wrapTo !== undefined && { wrapTo: wrapTo.map((k, i) => readHex(k, `${path}.wrapTo[${i}]`, 32)) }),
  };
}

const HEADER = ['type', 'namespace', 'fleetId', 'replica', 'token', 'seq', 'event', 'label'];
const EVENT_MEMBERS = {
  key: ['key', 'attributes'],
  wrap: ['key', 'recipientKey', 'wrappedDigest'],
  unwrap: ['key', 'unwrapWith', 'transportKey', 'wrappedDigest'],
  derive: ['key', 'from', 'info'],
  destroy: ['wrapCount'],
} as const;

function decodeAttestationBody(x: unknown, path: string): AttestationBody {
  const members = ['key', 'attributes', 'recipientKey', 'wrappedDigest', 'unwrapWith', 'transportKey', 'from', 'info'];
  members.push('wrapCount');
  const pre = readObject(x, path, ['event'], [...HEADER, ...members]);
  const event = readChoice(pre.event, `${path}.event`, ['key', 'wrap', 'unwrap', 'derive', 'destroy'] as const);
  const o = readObject(x, path, [...HEADER, ...EVENT_MEMBERS[event]]);
  const header: AttestationHeader = {
    type: readConstant(o.type, `${path}.type`, ATTESTATION_TYPE) as typeof ATTESTATION_TYPE,
    namespace: readString(o.namespace, `${path}.namespace`, NAME),
    fleetId: readString(o.fleetId, `${path}.fleetId`, NAME),
    replica: readString(o.replica, `${path}.replica`, NAME),
    token: readString(o.token, `${path}.token`, NAME),
    seq: readInt(o.seq, `${path}.seq`, 0),
  };
  const label = readString(o.label, `${path}.label`, NAME);
  switch (event) {
    case 'key':
      return {
        ...header,
        event,
        label,
        key: decodeFingerprint(o.key, `${path}.key`),
        attributes: decodeAttributes(o.attributes, `${path}.attributes`),
      };
    case 'wrap':
      return {
        ...header,
        event,
        label,
        key: decodeFingerprint(o.key, `${path}.key`),
        recipientKey: readHex(o.recipientKey, `${path}.recipientKey`, 32),
        wrappedDigest: readHex(o.wrappedDigest, `${path}.wrappedDigest`, HASH_BYTES),
      };
    case 'unwrap':
      return {
        ...header,
        event,
        label,
        key: decodeFingerprint(o.key, `${path}.key`),
        unwrapWith: readString(o.unwrapWith, `${path}.unwrapWith`, NAME),
        transportKey: readHex(o.transportKey, `${path}.transportKey`, 32),
        wrappedDigest: readHex(o.wrappedDigest, `${path}.wrappedDigest`, HASH_BYTES),
      };
    case 'derive':
      return {
        ...header,
        event,
        label,
        key: decodeFingerprint(o.key, `${path}.key`),
        from: readString(o.from, `${path}.from`, NAME),
        info: readString(o.info, `${path}.info`, NAME),
      };
    case 'destroy':
      return { ...header, event, label, wrapCount: readInt(o.wrapCount, `${path}.wrapCount`, 0) };
  }
}

export function decodeAttestation(x: unknown, path: string): Attestation {
  return decodeSigned(x, path, decodeAttestationBody);
}
