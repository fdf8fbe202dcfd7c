/**
 * The witness statement in the wire format of Cloudflare's Key Transparency Auditor (spec ch. 7
 * §7.7): `SignatureMessage { ciphersuite, namespace, timestamp, epoch, digest }` of
 * cloudflare/plexi (`plexi_core`), the bytes the auditor signs for each epoch of a namespace and
 * the leaves of the witness log (log.ts). Its bytes depend on the namespace's ciphersuite:
 *
 *   0x0001 protobuf Ed25519: proto2 `plexi_core.types.SignatureMessage`, every field written,
 *          in field order (what prost writes for proto2 `required` fields):
 *            08 <varint 1>                       1 version    uint32 (the ciphersuite)
 *            12 <varint n> <n bytes UTF-8>       2 namespace  string
 *            18 <varint ms>                      3 timestamp  uint64
 *            22 <varint m> 08 <varint epoch>     4 epoch      Epoch { inner = 1 uint64 }
 *            2a 20 <32 bytes>                    5 digest     bytes
 *   0x0002 bincode Ed25519: bincode 2, `config::legacy()` (fixed-width little-endian integers,
 *          u64 length prefixes), the struct's fields in order:
 *            02 00 00 00 | u64 n | n bytes UTF-8 | u64 timestamp | u64 epoch | u64 32 | 32 bytes
 *
 * The decoders accept exactly what the encoders write (`MalformedMessage` otherwise): in protobuf
 * an unknown field, a wrong wire type, a field out of order or twice, a missing field, a varint
 * longer than needed, a length past the end, trailing bytes; in bincode a wrong ciphersuite
 * field, a length prefix that does not match, trailing bytes; in both a namespace that is not
 * UTF-8 or not a bkv name, a digest of another length than 32, a number above 2^53 - 1 (this
 * reference's integers are JavaScript numbers; no timestamp in ms or epoch gets there). A
 * ciphersuite other than the two is `UnsupportedCiphersuite`.
 *
 * The auditor's key id is the last byte of its Ed25519 public key (plexi `crypto.rs`), and a
 * namespace's root is `"<epoch>/<digest hex>"` (plexi `Epoch::as_root_epoch`): the first epoch
 * the auditor accepts for it.
 * @module
 */
import { type Bytes, Reader, concat, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import { NAME, malformed, readHex, readInt } from './json.ts';

export const CIPHERSUITE_PROTOBUF_ED25519 = 0x0001;
export const CIPHERSUITE_BINCODE_ED25519 = 0x0002;
export const CIPHERSUITES = [CIPHERSUITE_PROTOBUF_ED25519, CIPHERSUITE_BINCODE_ED25519] as const;
export type Ciphersuite = (typeof CIPHERSUITES)[number];

export const DIGEST_BYTES = 32;

/** What the auditor signs (plexi's `SignatureMessage`); `digest` in lowercase hex. */
export interface WitnessStatement {
  readonly ciphersuite: Ciphersuite;
  readonly namespace: string;
  /** Milliseconds since the Unix epoch, the auditor's clock when it signed. */
  readonly timestamp: number;
  readonly epoch: number;
  readonly digest: string;
}

/** A ciphersuite number: one of the two (`UnsupportedCiphersuite` for another integer). */
export function readCiphersuite(x: unknown, path: string): Ciphersuite {
  const n = readInt(x, path, 0, 0xffffffff);
  if (!(CIPHERSUITES as readonly number[]).includes(n))
    throw new VaultError(
      'UnsupportedCiphersuite',
      `${path}: ciphersuite ${n}, expected 1 (protobuf Ed25519) or 2 (bincode Ed25519)`,
    );
  return n as Ciphersuite;
}

/** The fields' own checks, shared by both encoders and both decoders. */
function checkFields(s: WitnessStatement, path: string): void {
  readCiphersuite(s.ciphersuite, `${path}.ciphersuite`);
  if (!NAME.test(s.namespace))
    throw malformed(`${path}.namespace`, `expected ${NAME}, got ${JSON.stringify(s.namespace.slice(0, 40))}`);
  readInt(s.timestamp, `${path}.timestamp`, 0);
  readInt(s.epoch, `${path}.epoch`, 0);
  readHex(s.digest, `${path}.digest`, DIGEST_BYTES);
}

// ---------------------------------------------------------------------------------------------
// 0x0001: protobuf (proto2 encoding, https://protobuf.dev/programming-guides/encoding/)
// ---------------------------------------------------------------------------------------------

const VARINT = 0;
const LEN = 2;

/** Base-128 varint, least significant group first, the shortest encoding. */
function varint(n: number): Bytes {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push(n % 0x80 | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

const tag = (field: number, wireType: number) => varint(field * 8 + wireType);
const lengthDelimited = (field: number, body: Bytes) => concat(tag(field, LEN), varint(body.length), body);

function encodeProtobuf(s: WitnessStatement): Bytes {
  return concat(
    tag(1, VARINT),
    varint(s.ciphersuite),
    lengthDelimited(2, utf8(s.namespace)),
    tag(3, VARINT),
    varint(s.timestamp),
    lengthDelimited(4, concat(tag(1, VARINT), varint(s.epoch))),
    lengthDelimited(5, fromHex(s.digest)),
  );
}

/** A strict proto2 reader over one message of fields 1..`fields`: each must come in order, once. */
class ProtoReader {
  #offset = 0;
  constructor(
    readonly bytes: Bytes,
    readonly what: string,
    readonly fields: number,
  ) {}

  varint(field: string): number {
    let value = 0n;
    for (let i = 0; ; i++) {
      if (this.#offset >= this.bytes.length) throw malformed(this.what, `${field}: varint runs past the end`);
      const b = this.bytes[this.#offset++]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        if (i > 0 && b === 0) throw malformed(this.what, `${field}: varint is not minimal (a trailing zero group)`);
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(this.what, `${field}: ${value} is above 2^53 - 1`);
        return Number(value);
      }
      if (i === 9) throw malformed(this.what, `${field}: varint longer than 10 bytes`);
    }
  }

  /** The next key must be field `field` with `wireType`. */
  expect(field: number, wireType: number, name: string): void {
    if (this.#offset >= this.bytes.length) throw malformed(this.what, `missing field ${field} (${name})`);
    const key = this.varint(`the key of field ${field}`);
    const [number, type] = [Math.floor(key / 8), key % 8];
    if (number !== field) {
      const why =
        number >= 1 && number < field
          ? 'repeated or out of order'
          : number > field && number <= this.fields
            ? `out of order (field ${field} is missing)`
            : 'unknown';
      throw malformed(this.what, `field ${number} where field ${field} (${name}) belongs: ${why}`);
    }
    if (type !== wireType)
      throw malformed(this.what, `field ${field} (${name}): wire type ${type}, expected ${wireType}`);
  }

  bytesField(name: string): Bytes {
    const n = this.varint(`${name} length`);
    if (this.#offset + n > this.bytes.length) throw malformed(this.what, `${name}: length ${n} runs past the end`);
    const out = this.bytes.slice(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  end(): void {
    if (this.#offset === this.bytes.length) return;
    throw malformed(
      this.what,
      `${this.bytes.length - this.#offset} bytes after the last field (an unknown, repeated or trailing field)`,
    );
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function readUtf8(b: Bytes, path: string): string {
  try {
    return UTF8.decode(b);
  } catch {
    throw malformed(path, 'not UTF-8');
  }
}

function decodeProtobuf(bytes: Bytes, what: string): WitnessStatement {
  const r = new ProtoReader(bytes, what, 5);
  r.expect(1, VARINT, 'version');
  const version = r.varint('version');
  if (version !== CIPHERSUITE_PROTOBUF_ED25519)
    throw malformed(what, `version ${version} in a protobuf statement, expected 1`);
  r.expect(2, LEN, 'namespace');
  const namespace = readUtf8(r.bytesField('namespace'), `${what}.namespace`);
  r.expect(3, VARINT, 'timestamp');
  const timestamp = r.varint('timestamp');
  r.expect(4, LEN, 'epoch');
  const inner = new ProtoReader(r.bytesField('epoch'), `${what}.epoch`, 1);
  inner.expect(1, VARINT, 'inner');
  const epoch = inner.varint('inner');
  inner.end();
  r.expect(5, LEN, 'digest');
  const digest = r.bytesField('digest');
  r.end();
  if (digest.length !== DIGEST_BYTES)
    throw malformed(`${what}.digest`, `expected ${DIGEST_BYTES} bytes, got ${digest.length}`);
  return { ciphersuite: CIPHERSUITE_PROTOBUF_ED25519, namespace, timestamp, epoch, digest: toHex(digest) };
}

// ---------------------------------------------------------------------------------------------
// 0x0002: bincode, legacy configuration (bincode 2 `config::legacy()`)
// ---------------------------------------------------------------------------------------------

function u32le(n: number): Bytes {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}

function u64le(n: number): Bytes {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

const prefixed = (b: Bytes) => concat(u64le(b.length), b);

function encodeBincode(s: WitnessStatement): Bytes {
  return concat(
    u32le(s.ciphersuite),
    prefixed(utf8(s.namespace)),
    u64le(s.timestamp),
    u64le(s.epoch),
    prefixed(fromHex(s.digest)),
  );
}

function readU64(r: Reader, field: string, what: string): number {
  const v = new DataView(r.take(8, field).buffer).getBigUint64(0, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(what, `${field}: ${v} is above 2^53 - 1`);
  return Number(v);
}

function decodeBincode(bytes: Bytes, what: string): WitnessStatement {
  const r = new Reader(bytes, what);
  const suite = new DataView(r.take(4, 'ciphersuite').buffer).getUint32(0, true);
  if (suite !== CIPHERSUITE_BINCODE_ED25519)
    throw malformed(what, `ciphersuite field ${suite} in a bincode statement, expected 2`);
  const namespace = readUtf8(r.take(readU64(r, 'namespace length', what), 'namespace'), `${what}.namespace`);
  const timestamp = readU64(r, 'timestamp', what);
  const epoch = readU64(r, 'epoch', what);
  const digest = r.take(readU64(r, 'digest length', what), 'digest');
  r.end();
  if (digest.length !== DIGEST_BYTES)
    throw malformed(`${what}.digest`, `expected ${DIGEST_BYTES} bytes, got ${digest.length}`);
  return { ciphersuite: CIPHERSUITE_BINCODE_ED25519, namespace, timestamp, epoch, digest: toHex(digest) };
}

// ---------------------------------------------------------------------------------------------
// The statement
// ---------------------------------------------------------------------------------------------

/** The bytes the auditor signs: `s` serialized by its ciphersuite. */
export function encodeStatement(s: WitnessStatement): Bytes {
  checkFields(s, 'statement');
  return s.ciphersuite === CIPHERSUITE_PROTOBUF_ED25519 ? encodeProtobuf(s) : encodeBincode(s);
}

/** Decodes the bytes of a statement of `ciphersuite`, strictly (see the module header). */
export function decodeStatement(bytes: Bytes, ciphersuite: Ciphersuite, what = 'statement'): WitnessStatement {
  readCiphersuite(ciphersuite, `${what} ciphersuite`);
  const s = ciphersuite === CIPHERSUITE_PROTOBUF_ED25519 ? decodeProtobuf(bytes, what) : decodeBincode(bytes, what);
  checkFields(s, what);
  return s;
}

/** plexi's key id: the last byte of the auditor's Ed25519 public key. */
export function computeKeyId(publicKey: Bytes): number {
  if (publicKey.length === 0) throw new VaultError('InvalidParameter', '"publicKey" expected 32 bytes, got 0');
  return publicKey[publicKey.length - 1]!;
}

/** A namespace root, `"<epoch>/<digest hex>"`. */
export function formatRoot(epoch: number, digest: string): string {
  return `${epoch}/${digest}`;
}

/** Reads a root: a decimal epoch (no leading zero) and 32 bytes of lowercase hex. */
export function parseRoot(x: unknown, path: string): { readonly epoch: number; readonly digest: string } {
  const m = typeof x === 'string' ? /^([1-9][0-9]{0,15})\/([0-9a-f]{64})$/.exec(x) : null;
  if (m === null) throw malformed(path, `expected "<epoch>/<64 hex digits>", got ${JSON.stringify(x)}`);
  return { epoch: readInt(Number(m[1]), `${path} epoch`, 1), digest: m[2]! };
}
