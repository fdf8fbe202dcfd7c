/**
 * Statement vectors (spec ch. 7 §7.7, ch. 9 §9.1.1): the auditor's wire format byte for byte, in
 * both ciphersuites, for an implementer of the witness or of a client. Three kinds:
 *
 *   statement        a signing key (RFC 8032 seed) and a statement: the statement's bytes, the
 *                    Ed25519 signature (deterministic), the key id, the report as the auditor's
 *                    API writes it. The first two are cloudflare/plexi's own test vectors
 *                    (plexi_core/tests/test-vectors.json): the same inputs give plexi's signatures.
 *   statement-bytes  bytes and a ciphersuite: the strict decoder's verdict (the statement, or the
 *                    refusal: every way a protobuf or bincode encoding can be other than the one)
 *   report           an auditor key and a report (its JSON value): the verdict of decoding and
 *                    verifying it, among them signatures a cofactored Ed25519 verifier accepts
 *                    and ed25519-dalek's verify_strict refuses (small-order R, mixed-order R,
 *                    S + L, a small-order key)
 *
 * Like the bundle vectors, each case names the verdict it was written to show and generation
 * fails if bkv disagrees.
 * @module
 */
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { type Bytes, concat, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import type { ErrorCode } from '../errors.ts';
import { type AuditorReport, decodeReport, encodeReport, signStatement, verifyReport } from '../fleet/report.ts';
import type { Signer } from '../fleet/signing.ts';
import {
  type Ciphersuite,
  type WitnessStatement,
  computeKeyId,
  decodeStatement,
  encodeStatement,
} from '../fleet/statement.ts';
import { type Verdict, flipLastHexDigit, verdictOf } from './verdict.ts';

interface Named {
  readonly name: string;
  readonly description: string;
}

export type StatementVector = Named &
  Verdict &
  (
    | { readonly kind: 'statement'; readonly signingKey: string; readonly statement: WitnessStatement }
    | { readonly kind: 'statement-bytes'; readonly ciphersuite: number; readonly bytes: string }
    | { readonly kind: 'report'; readonly auditorKey: string; readonly report: unknown }
  );

type Inputs = StatementVector extends infer V ? (V extends unknown ? Omit<V, keyof Verdict> : never) : never;
export type StatementCase = Inputs & { readonly want: 'valid' | ErrorCode };

/** An Ed25519 signer from an RFC 8032 secret key (a 32-byte seed): the vectors' auditor. */
export function seedSigner(seed: Bytes): Signer {
  return { publicKey: ed25519.getPublicKey(seed), sign: (m) => ed25519.sign(m, seed) };
}

/** The verdict of bkv on a statement vector's inputs. */
export function runStatementVector(v: Inputs): Verdict {
  switch (v.kind) {
    case 'statement':
      return verdictOf(() => {
        const signer = seedSigner(fromHex(v.signingKey));
        const report = signStatement(signer, v.statement);
        verifyReport(decodeReport(JSON.parse(encodeReport(report))), signer.publicKey);
        return {
          publicKey: toHex(signer.publicKey),
          keyId: report.key_id,
          bytes: report.serialized_message,
          signature: report.signature,
          report: encodeReport(report),
        };
      });
    case 'statement-bytes':
      return verdictOf(() => decodeStatement(fromHex(v.bytes), v.ciphersuite as Ciphersuite));
    case 'report':
      return verdictOf(() => verifyReport(decodeReport(v.report), fromHex(v.auditorKey)));
  }
}

// ---------------------------------------------------------------------------------------------
// Signatures that only a lax verifier accepts
// ---------------------------------------------------------------------------------------------

const { Point } = ed25519;
const L = Point.Fn.ORDER;
const ORDER_8 = Point.fromBytes(fromHex(ED25519_TORSION_SUBGROUP[1]!));
const IDENTITY = fromHex(ED25519_TORSION_SUBGROUP[0]!);

const challenge = (r: Bytes, a: Bytes, m: Bytes) => Point.Fn.create(bytesToNumberLE(sha512(concat(r, a, m))));
const signatureOf = (r: Bytes, s: bigint) => toHex(concat(r, numberToBytesLE(s, 32)));

/**
 * Signatures over `message` under the key of `seed` that pass the cofactored equation
 * [8][S]B = [8]R + [8][k]A but not verify_strict: R the identity (small order) with S = k·a;
 * R = rB + T, T of order 8 (mixed order) with S = r + k·a; and the honest signature with S + L.
 */
export function laxSignatures(
  seed: Bytes,
  message: Bytes,
): { smallOrderR: string; mixedOrderR: string; unreducedS: string } {
  const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(seed);
  const r = Point.Fn.create(bytesToNumberLE(sha512(concat(utf8('bkv vectors: nonce'), message))));
  const mixed = Point.BASE.multiply(r).add(ORDER_8).toBytes();
  const honest = ed25519.sign(message, seed);
  return {
    smallOrderR: signatureOf(IDENTITY, Point.Fn.create(challenge(IDENTITY, A, message) * a)),
    mixedOrderR: signatureOf(mixed, Point.Fn.create(r + challenge(mixed, A, message) * a)),
    unreducedS: signatureOf(honest.subarray(0, 32), bytesToNumberLE(honest.subarray(32)) + L),
  };
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/** plexi_core/tests/test-vectors.json: one signing key, one statement per ciphersuite. */
const PLEXI_KEY = 'd6af1bca3db4fc2766b0c483706c20bf4837a46d54c1d39c2a34a9088572d712';
const PLEXI_STATEMENT = { timestamp: 1717084639921, epoch: 1, digest: '11'.repeat(32) };

const BKV_KEY = toHex(sha256(utf8('bkv vectors: auditor key')));
const FLEET_NAMESPACE = 'meta.encrypted_backups.fleet_keys.v1';

/** Bytes edited: `f` gets a copy to change (splice with arrays). */
const edit = (hex: string, f: (b: number[]) => void) => {
  const b = [...fromHex(hex)];
  f(b);
  return toHex(Uint8Array.from(b));
};

export function statementCases(): StatementCase[] {
  const example: WitnessStatement = {
    ciphersuite: 1,
    namespace: FLEET_NAMESPACE,
    timestamp: 1767225600000,
    epoch: 3,
    digest: toHex(sha256(utf8('bkv vectors: a fleet-key artifact'))),
  };
  const exampleBincode: WitnessStatement = { ...example, ciphersuite: 2 };
  const P = toHex(encodeStatement(example));
  const B = toHex(encodeStatement(exampleBincode));
  const statement = (name: string, description: string, signingKey: string, s: WitnessStatement): StatementCase => ({
    kind: 'statement',
    name,
    description,
    want: 'valid',
    signingKey,
    statement: s,
  });
  const bytes = (
    name: string,
    description: string,
    want: StatementCase['want'],
    ciphersuite: number,
    hex: string,
  ): StatementCase => ({ kind: 'statement-bytes', name, description, want, ciphersuite, bytes: hex });
  // offsets in P: 08 01 | 12 24 <36 bytes> | 18 <6-byte varint> | 22 02 08 03 | 2a 20 <32 bytes>
  const nsEnd = 4 + FLEET_NAMESPACE.length;
  const tsEnd = nsEnd + 1 + 6;

  const signer = seedSigner(fromHex(BKV_KEY));
  const key = toHex(signer.publicKey);
  const report = signStatement(signer, example);
  const reportB = signStatement(signer, exampleBincode);
  const message = encodeStatement(example);
  const lax = laxSignatures(fromHex(BKV_KEY), message);
  const smallKey = ED25519_TORSION_SUBGROUP[1]!;
  const json = (r: AuditorReport) => JSON.parse(encodeReport(r)) as Record<string, unknown>;
  const rep = (
    name: string,
    description: string,
    want: StatementCase['want'],
    r: unknown,
    auditorKey = key,
  ): StatementCase => ({ kind: 'report', name, description, want, auditorKey, report: r });
  const changed = (f: (r: Record<string, unknown>) => void) => {
    const r = json(report);
    f(r);
    return r;
  };
  const resigned = (s: WitnessStatement) => json({ ...signStatement(signer, s), key_id: report.key_id });
  const withSignature = (signature: string) => ({ ...json(report), signature });

  return [
    statement(
      'plexi test vector 1 (protobuf)',
      "cloudflare/plexi plexi_core/tests/test-vectors.json, first vector: the signature is plexi's",
      PLEXI_KEY,
      { ciphersuite: 1, namespace: 'log1.example.test', ...PLEXI_STATEMENT },
    ),
    statement(
      'plexi test vector 2 (bincode)',
      "cloudflare/plexi plexi_core/tests/test-vectors.json, second vector: the signature is plexi's",
      PLEXI_KEY,
      { ciphersuite: 2, namespace: 'log2.example.test', ...PLEXI_STATEMENT },
    ),
    statement('the fleet-key namespace (protobuf)', 'the example statement of spec ch. 7 §7.7', BKV_KEY, example),
    statement('the fleet-key namespace (bincode)', 'the same statement in ciphersuite 0x0002', BKV_KEY, exampleBincode),
    statement('large numbers (protobuf)', 'timestamp 2^53 - 1 (an 8-byte varint), epoch 300 (2 bytes)', BKV_KEY, {
      ...example,
      timestamp: Number.MAX_SAFE_INTEGER,
      epoch: 300,
    }),
    // the strict decoders
    bytes('protobuf', 'the example statement', 'valid', 1, P),
    bytes('bincode', 'the example statement', 'valid', 2, B),
    bytes('protobuf bytes read as bincode', 'the first four bytes are not 02 00 00 00', 'MalformedMessage', 2, P),
    bytes('bincode bytes read as protobuf', 'the first key is field 0', 'MalformedMessage', 1, B),
    bytes('an unknown ciphersuite', 'ciphersuite 3', 'UnsupportedCiphersuite', 3, P),
    bytes('protobuf: an unknown field', 'field 6 (varint 1) after the digest', 'MalformedMessage', 1, P + '3001'),
    bytes(
      'protobuf: an unknown field inside',
      'field 6 between version and namespace',
      'MalformedMessage',
      1,
      edit(P, (b) => b.splice(2, 0, 0x30, 0x01)),
    ),
    bytes(
      'protobuf: a wrong wire type',
      'the timestamp (field 3) as a length-delimited field',
      'MalformedMessage',
      1,
      edit(P, (b) => (b[nsEnd] = 0x1a)),
    ),
    bytes(
      'protobuf: a non-minimal varint',
      'version 1 as 81 00',
      'MalformedMessage',
      1,
      edit(P, (b) => b.splice(1, 1, 0x81, 0x00)),
    ),
    bytes(
      'protobuf: a non-minimal length',
      'the namespace length in two bytes',
      'MalformedMessage',
      1,
      edit(P, (b) => b.splice(3, 1, FLEET_NAMESPACE.length | 0x80, 0x00)),
    ),
    bytes('protobuf: a repeated field', 'version twice', 'MalformedMessage', 1, '0801' + P),
    bytes(
      'protobuf: fields out of order',
      'the namespace before the version',
      'MalformedMessage',
      1,
      P.slice(4, 2 * nsEnd) + P.slice(0, 4) + P.slice(2 * nsEnd),
    ),
    bytes('protobuf: a missing field', 'no digest', 'MalformedMessage', 1, P.slice(0, P.length - 68)),
    bytes('protobuf: trailing bytes', 'one zero byte after the digest', 'MalformedMessage', 1, P + '00'),
    bytes(
      'protobuf: a 31-byte digest',
      'field 5 of length 31',
      'MalformedMessage',
      1,
      P.slice(0, P.length - 68) + '2a1f' + example.digest.slice(2),
    ),
    bytes(
      'protobuf: an empty Epoch',
      'field 4 of length 0: inner is required',
      'MalformedMessage',
      1,
      edit(P, (b) => b.splice(tsEnd, 4, 0x22, 0x00)),
    ),
    bytes(
      'protobuf: an Epoch with an extra field',
      'Epoch { inner = 3, field 2 = 1 }',
      'MalformedMessage',
      1,
      edit(P, (b) => b.splice(tsEnd, 4, 0x22, 0x04, 0x08, 0x03, 0x10, 0x01)),
    ),
    bytes(
      'protobuf: version 2',
      'a protobuf statement names ciphersuite 1',
      'MalformedMessage',
      1,
      edit(P, (b) => (b[1] = 0x02)),
    ),
    bytes(
      'protobuf: a namespace not UTF-8',
      'its first byte 0xff',
      'MalformedMessage',
      1,
      edit(P, (b) => (b[4] = 0xff)),
    ),
    bytes(
      'protobuf: a namespace with a space',
      'valid UTF-8, not a bkv name',
      'MalformedMessage',
      1,
      edit(P, (b) => (b[8] = 0x20)),
    ),
    bytes(
      'protobuf: a length past the end',
      'the digest says 33 bytes',
      'MalformedMessage',
      1,
      edit(P, (b) => (b[b.length - 33] = 0x21)),
    ),
    bytes(
      'protobuf: a timestamp of 2^53',
      'above the integers this reference handles',
      'MalformedMessage',
      1,
      edit(P, (b) => b.splice(nsEnd + 1, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)),
    ),
    bytes('bincode: trailing bytes', 'one zero byte after the digest', 'MalformedMessage', 2, B + '00'),
    bytes(
      'bincode: a length prefix past the end',
      'the namespace length 2^32',
      'MalformedMessage',
      2,
      edit(B, (b) => b.splice(4, 8, 0, 0, 0, 0, 1, 0, 0, 0)),
    ),
    bytes(
      'bincode: a 31-byte digest',
      'length prefix 31 and 31 bytes',
      'MalformedMessage',
      2,
      B.slice(0, B.length - 80) + '1f00000000000000' + example.digest.slice(2),
    ),
    bytes(
      'bincode: ciphersuite field 1',
      'a bincode statement names ciphersuite 2',
      'MalformedMessage',
      2,
      edit(B, (b) => (b[0] = 0x01)),
    ),
    bytes(
      'bincode: a timestamp of 2^63',
      'above the integers this reference handles',
      'MalformedMessage',
      2,
      edit(B, (b) => (b[12 + FLEET_NAMESPACE.length + 7] = 0x80)),
    ),
    // reports
    rep('a protobuf report', 'as the auditor writes it', 'valid', json(report)),
    rep('a bincode report', 'as the auditor writes it', 'valid', json(reportB)),
    rep(
      'no serialized_message',
      'the member is optional',
      'valid',
      changed((r) => delete r.serialized_message),
    ),
    rep(
      'serialized_message null',
      "what plexi's serializer writes without one",
      'valid',
      changed((r) => (r.serialized_message = null)),
    ),
    rep(
      'version and ciphersuite differ',
      'version 2, ciphersuite 1',
      'MalformedMessage',
      changed((r) => (r.version = 2)),
    ),
    rep(
      'ciphersuite 3',
      'version and ciphersuite 3',
      'UnsupportedCiphersuite',
      changed((r) => (r.version = r.ciphersuite = 3)),
    ),
    rep(
      'serialized_message of another statement',
      'the bytes of epoch 4',
      'MalformedMessage',
      changed((r) => (r.serialized_message = toHex(encodeStatement({ ...example, epoch: 4 })))),
    ),
    rep(
      'an unknown member',
      'a member the report does not have',
      'MalformedMessage',
      changed((r) => (r.note = 'x')),
    ),
    rep(
      'no key_id',
      'this reference requires it',
      'MalformedMessage',
      changed((r) => delete r.key_id),
    ),
    rep(
      'key_id 256',
      'a key id is a byte',
      'MalformedMessage',
      changed((r) => (r.key_id = 256)),
    ),
    rep(
      'a 31-byte digest',
      'the digest is 32 bytes',
      'MalformedMessage',
      changed((r) => ((r.digest = (r.digest as string).slice(2)), delete r.serialized_message)),
    ),
    rep(
      'uppercase hex',
      'byte strings have one encoding',
      'MalformedMessage',
      changed((r) => (r.signature = (r.signature as string).toUpperCase())),
    ),
    rep(
      'key_id of another key',
      'the key id is not the last byte of the pinned key',
      'WitnessSignatureInvalid',
      changed((r) => (r.key_id = ((r.key_id as number) + 1) % 256)),
    ),
    rep(
      'signature altered',
      'its last hex digit',
      'WitnessSignatureInvalid',
      changed((r) => (r.signature = flipLastHexDigit(r.signature as string))),
    ),
    rep(
      'timestamp altered',
      'serialized_message re-derived: the signature no longer covers it',
      'WitnessSignatureInvalid',
      {
        ...json(report),
        timestamp: example.timestamp + 1,
        serialized_message: toHex(encodeStatement({ ...example, timestamp: example.timestamp + 1 })),
      },
    ),
    rep(
      'another namespace, re-signed',
      'the auditor signed epoch 3 of another namespace: valid on its own, the caller checks the namespace',
      'valid',
      resigned({ ...example, namespace: 'meta.other.v1' }),
    ),
    rep(
      'S + L',
      'the honest signature with S + L: a second encoding of the same signature',
      'WitnessSignatureInvalid',
      withSignature(lax.unreducedS),
    ),
    rep(
      'R of small order',
      'R the identity, S = k·a: [S]B = R + [k]A holds; verify_strict refuses a small-order R',
      'WitnessSignatureInvalid',
      withSignature(lax.smallOrderR),
    ),
    rep(
      'R of mixed order',
      'R = rB + T (T of order 8), S = r + k·a: a cofactored verifier accepts, verify_strict does not',
      'WitnessSignatureInvalid',
      withSignature(lax.mixedOrderR),
    ),
    rep(
      'a small-order auditor key',
      'key of order 8, R the identity, S = 0: the cofactored equation holds for every message',
      'WitnessSignatureInvalid',
      {
        ...json(report),
        key_id: computeKeyId(fromHex(smallKey)),
        signature: toHex(concat(IDENTITY, new Uint8Array(32))),
      },
      smallKey,
    ),
  ];
}
