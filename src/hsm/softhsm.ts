/**
 * The SoftHSM backend: `Hsm` over a SoftHSM2 token through PKCS#11 (graphene-pk11). Every key is a
 * TOKEN object (`CKA_TOKEN = true`, found again by `CKA_LABEL` after a process restart), private
 * (`CKA_PRIVATE`, needs the user PIN) and sensitive. Identity keys are generated non-extractable,
 * so the token reports `CKA_LOCAL`, `CKA_NEVER_EXTRACTABLE` and `CKA_SENSITIVE`, which feed the
 * fleet attestations; `keyInfo` reads those attributes from the token each time.
 *
 * What SoftHSM 2.6.1 can do, per kind (the mechanisms used):
 * - `ed25519`: CKM_EC_EDWARDS_KEY_PAIR_GEN with CKA_EC_PARAMS = OID 1.3.101.112; CKM_EDDSA.
 *   CKM_EDDSA is single-part and refuses an empty message (CKR_ARGUMENTS_BAD): `sign` of an empty
 *   message is an HsmError here (every message bkv signs is non-empty).
 * - `x25519`: SoftHSM has no CKM_EC_MONTGOMERY_KEY_PAIR_GEN; CKM_EC_EDWARDS_KEY_PAIR_GEN with the
 *   X25519 OID 1.3.101.110 makes a Curve25519 key that CKM_ECDH1_DERIVE (CKD_NULL only) accepts.
 *   `dh` derives the 32-byte X25519 output into a GENERIC_SECRET session object and reads it:
 *   a DH output is a session secret that leaves the token, because 3DH and Noise feed it to a
 *   host-side KDF (no HKDF mechanism exists in SoftHSM). The private key never leaves.
 * - `hmac-sha256` / `hmac-sha512`: CKK_GENERIC_SECRET keys, CKM_SHA256_HMAC / CKM_SHA512_HMAC
 *   (minimum key sizes 32 / 64 bytes, else CKR_KEY_SIZE_RANGE). `hkdfExpand` is RFC 5869 §2.3
 *   built from in-token HMAC: T(i) = HMAC(PRK, T(i-1) || info || i). An empty HMAC message goes
 *   through C_SignInit + C_SignFinal (C_Sign refuses a NULL buffer).
 * - `aes256gcm`: CKM_AES_KEY_GEN (32 bytes), CKM_AES_GCM (96-bit IV, 128-bit tag). A GCM tag
 *   failure is CKR_GENERAL_ERROR in SoftHSM 2.6.1, reported as `SealBroken`.
 * - `ristretto255`, `p256`: refused with `HsmError` (PKCS#11 has no ristretto255; its P-256 ECDH
 *   yields only the x-coordinate, and RFC 9807 3DH needs the whole point).
 *
 * Key wrapping (fleet secrets, to another HSM's X25519 key-transport key R):
 *   (e, E)  = ephemeral X25519 pair generated in this token (session objects; `rng` is unused:
 *             the token's own RNG makes e, and e never leaves it)
 *   Z       = ECDH1_DERIVE(e, R, CKD_NULL) as an AES-256 session key (never readable)
 *   ctx     = SHA-256("bkv/hsm/wrap/softhsm/v1" || 0x00 || kind || 0x00 || E || R)
 *   KEK     = AES_CBC_ENCRYPT_DATA(Z, iv = 0^16, ctx)   (= AES-256-CBC_Z(0, ctx), two blocks, in token)
 *   wrapped = E || C_WrapKey(CKM_AES_KEY_WRAP_PAD, KEK, key)        (RFC 5649)
 * The recipient derives Z from its transport key and E, the same KEK, then C_UnwrapKey. A wrong
 * recipient, kind or altered byte fails the RFC 5649 integrity check (`SealBroken`). SoftHSM has
 * no KDF mechanism (ECDH1_DERIVE accepts only CKD_NULL; no HKDF or SP 800-108), so the CBC
 * "encrypt data" derivation is the in-token PRF that binds the KEK to the context. Only secret
 * kinds (hmac-*, aes256gcm) can be wrapped: SoftHSM 2.6.1 refuses to wrap CKK_EC_EDWARDS private
 * keys (CKR_KEY_NOT_WRAPPABLE) and cannot unwrap their PKCS#8 (CKR_FUNCTION_FAILED), so 25519
 * keys cannot move between SoftHSM tokens, and asking for a wrappable one is refused up front.
 * This format differs from the memory backend's (AES-GCM); the two do not interoperate.
 *
 * Export policy (`GenerateOptions.wrapTo`) and wrap counts are CKO_DATA token objects next to the
 * key (CKA_APPLICATION "bkv-wrap-policy" / "bkv-wrap-count", CKA_LABEL = the key's label), and an
 * imported key carries ":imported" in its CKA_ID. This module refuses a wrap outside the policy and
 * counts each wrap, as the memory backend does inside its token; but SoftHSM itself does not enforce
 * them: a host holding the user PIN can call C_WrapKey directly. The token-enforced PKCS#11 rule
 * (CKA_WRAP_WITH_TRUSTED on the secret, CKA_TRUSTED set by the security officer on the wrapping key)
 * does not fit this wrapping scheme, whose KEK is derived per wrap in a user session (spec ch. 4).
 *
 * Counters are CKO_DATA token objects (CKA_APPLICATION "bkv-counter", CKA_LABEL = name, CKA_VALUE
 * = 8 bytes big-endian). SoftHSM makes CKA_VALUE of a data object read-only, so advancing writes a
 * new object first and then destroys the old ones; a crash in between leaves two objects, and
 * reading takes the largest, so the counter never goes back.
 *
 * Sessions: one RW session per `SoftHsm`; the API is synchronous, so operations never overlap.
 * Login is per token per process (CKR_USER_ALREADY_LOGGED_IN is ignored). If an operation fails,
 * the session is replaced (a failed C_Sign can leave the operation active, CKR_OPERATION_ACTIVE)
 * and the handle cache is dropped. Handles are cached by label: a key deleted through another
 * `SoftHsm` (or process) on the same token shows up here as an HsmError, not as KeyNotFound.
 *
 * Spec: spec/04-hsm.md. Process-wide module rules: pkcs11.ts.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import * as graphene from 'graphene-pk11';
import { concat, type Bytes, type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { GenerateOptions, Hsm, KeyInfo, KeyKind } from './hsm.ts';
import {
  checkBytes,
  checkCounterValue,
  checkHkdfLength,
  checkKind,
  checkLabel,
  checkNonce,
  checkSecretLength,
  GENERATED_SECRET_BYTES,
  HMAC_HASH_BYTES,
  isKeyKind,
  refuseDecrease,
  requireKind,
  SEAL_NONCE_BYTES,
  SEAL_TAG_BYTES,
  WRAP_CONTEXT,
  exportPolicy,
  refuseOutsidePolicy,
} from './kinds.ts';
import {
  CKK_EC_EDWARDS,
  CKM_EC_EDWARDS_KEY_PAIR_GEN,
  CKM_EDDSA,
  ckrOf,
  decodeEcPoint,
  encodeEcPoint,
  errorText,
  findSlotByLabel,
  loadSoftHsmModule,
  OID_ED25519,
  OID_X25519,
} from './pkcs11.ts';

export { APT_INSTALL, createTokenDir, finalizeSoftHsm, findSoftHsmLibrary } from './pkcs11.ts';

const { ObjectClass, KeyType, KeyGenMechanism, EcdhParams, EcKdf } = graphene;

const COUNTER_APPLICATION = 'bkv-counter';
/** CKO_DATA objects that keep a key's export policy and wrap count (CKA_LABEL = the key's label). */
const POLICY_APPLICATION = 'bkv-wrap-policy';
const WRAP_COUNT_APPLICATION = 'bkv-wrap-count';
/** Suffix of the CKA_ID of a key created from host-supplied bytes (C_CreateObject). */
const IMPORTED_SUFFIX = ':imported';
/** CKA_ID of bkv's key objects: "bkv:" + kind (public and private halves share it). */
const ID_PREFIX = 'bkv:';

const UNSUPPORTED: Partial<Record<KeyKind, string>> = {
  ristretto255:
    'ristretto255 is unsupported by PKCS#11: no ristretto255 key type or mechanism exists in PKCS#11 v3.x or ' +
    'SoftHSM 2.6.1 (use the memory backend, or the ristretto255-OPRF + Curve25519-3DH suite)',
  p256:
    'p256 is unsupported by PKCS#11 for this interface: CKM_ECDH1_DERIVE returns only the x-coordinate of the ' +
    'shared point, while RFC 9807 3DH needs the whole compressed point ' +
    '(use the memory backend, or the Curve25519-3DH suite)',
};

const NOT_WRAPPABLE =
  'SoftHSM 2.6.1 cannot move 25519 private keys between tokens ' +
  '(C_WrapKey: CKR_KEY_NOT_WRAPPABLE for CKK_EC_EDWARDS; C_UnwrapKey of their PKCS#8: CKR_FUNCTION_FAILED); ' +
  'only hmac-* and aes256gcm keys can be wrapped';

const SECRET_KINDS: readonly KeyKind[] = ['hmac-sha256', 'hmac-sha512', 'aes256gcm'];

interface Entry {
  readonly kind: KeyKind;
  /** The private or secret key object. */
  readonly key: graphene.Key;
  /** The public key object (asymmetric kinds). */
  readonly pub: graphene.SessionObject | undefined;
  readonly publicKey: Bytes | undefined;
  /** Created by C_CreateObject from host bytes (marked in CKA_ID). */
  readonly imported: boolean;
}

export interface SoftHsmOptions {
  /** Token label (one token per replica). */
  readonly token: string;
  /** User PIN of the token. */
  readonly pin: string;
  /** Path of libsofthsm2.so; default `findSoftHsmLibrary()`. */
  readonly library?: string;
}

function hmacMechanism(kind: KeyKind): string {
  return kind === 'hmac-sha256' ? 'SHA256_HMAC' : 'SHA512_HMAC';
}

function secretKeyType(kind: KeyKind): number {
  return kind === 'aes256gcm' ? KeyType.AES : KeyType.GENERIC_SECRET;
}

/** Usage attributes of a secret key of `kind`. */
function secretUsage(kind: KeyKind): graphene.ITemplate {
  return kind === 'aes256gcm' ? { encrypt: true, decrypt: true } : { sign: true, verify: true };
}

function refuseUnsupported(kind: KeyKind, wrappable: boolean): void {
  const why = UNSUPPORTED[kind];
  if (why !== undefined) throw new VaultError('HsmError', why);
  if (wrappable && !SECRET_KINDS.includes(kind))
    throw new VaultError('HsmError', `a wrappable ${kind} key is pointless here: ${NOT_WRAPPABLE}`);
}

/** `Hsm` over one SoftHSM2 token, through one RW session. */
export class SoftHsm implements Hsm {
  readonly backend = 'softhsm' as const;
  readonly label: string;
  readonly #slot: graphene.Slot;
  readonly #pin: string;
  #session: graphene.Session;
  readonly #cache = new Map<string, Entry>();
  #closed = false;

  constructor(options: SoftHsmOptions) {
    this.label = checkLabel(options.token, 'token');
    this.#pin = options.pin;
    this.#slot = findSlotByLabel(loadSoftHsmModule(options.library), this.label);
    this.#session = this.#open();
  }

  generateKey(label: string, kind: KeyKind, options: GenerateOptions = {}): KeyInfo {
    this.#checkFree(label);
    checkKind(kind);
    const wrappable = options.wrappable === true;
    refuseUnsupported(kind, wrappable);
    const wrapTo = exportPolicy(options);
    this.#call(`generateKey(${kind})`, () => {
      if (wrapTo !== undefined) {
        const value = Buffer.from(wrapTo.join(''), 'hex');
        this.#createData(POLICY_APPLICATION, label, value);
      }
      const common = { token: true, label, id: Buffer.from(ID_PREFIX + kind) };
      const secret = { ...common, private: true, sensitive: true, extractable: wrappable };
      if (kind === 'ed25519' || kind === 'x25519') {
        const usage = kind === 'ed25519' ? { sign: true } : { derive: true };
        this.#session.generateKeyPair(
          CKM_EC_EDWARDS_KEY_PAIR_GEN,
          {
            ...common,
            class: ObjectClass.PUBLIC_KEY,
            keyType: CKK_EC_EDWARDS,
            private: false,
            paramsEC: kind === 'ed25519' ? OID_ED25519 : OID_X25519,
            ...(kind === 'ed25519' ? { verify: true } : { derive: true }),
          },
          { ...secret, class: ObjectClass.PRIVATE_KEY, keyType: CKK_EC_EDWARDS, ...usage },
        );
      } else {
        this.#session.generateKey(kind === 'aes256gcm' ? KeyGenMechanism.AES : KeyGenMechanism.GENERIC_SECRET, {
          ...secret,
          class: ObjectClass.SECRET_KEY,
          keyType: secretKeyType(kind),
          valueLen: GENERATED_SECRET_BYTES[kind],
          ...secretUsage(kind),
        });
      }
    });
    return this.keyInfo(label);
  }

  importKey(label: string, kind: KeyKind, secret: Bytes, options: GenerateOptions = {}): KeyInfo {
    this.#checkFree(label);
    checkKind(kind);
    const wrappable = options.wrappable === true;
    refuseUnsupported(kind, wrappable);
    const value = checkBytes(secret, 'secret');
    checkSecretLength(kind, value);
    const wrapTo = exportPolicy(options);
    this.#call(`importKey(${kind})`, () => {
      if (wrapTo !== undefined) {
        const v = Buffer.from(wrapTo.join(''), 'hex');
        this.#createData(POLICY_APPLICATION, label, v);
      }
      const common = { token: true, label, id: Buffer.from(ID_PREFIX + kind + IMPORTED_SUFFIX) };
      const priv = { ...common, private: true, sensitive: true, extractable: wrappable, value: Buffer.from(value) };
      if (kind === 'ed25519' || kind === 'x25519') {
        const pub = kind === 'ed25519' ? ed25519.getPublicKey(value) : x25519.getPublicKey(value);
        const params = kind === 'ed25519' ? OID_ED25519 : OID_X25519;
        const usage = kind === 'ed25519' ? { sign: true } : { derive: true };
        this.#session.create({
          ...priv,
          class: ObjectClass.PRIVATE_KEY,
          keyType: CKK_EC_EDWARDS,
          paramsEC: params,
          ...usage,
        });
        this.#session.create({
          ...common,
          class: ObjectClass.PUBLIC_KEY,
          keyType: CKK_EC_EDWARDS,
          private: false,
          paramsEC: params,
          pointEC: encodeEcPoint(pub),
          ...(kind === 'ed25519' ? { verify: true } : { derive: true }),
        });
      } else {
        this.#session.create({
          ...priv,
          class: ObjectClass.SECRET_KEY,
          keyType: secretKeyType(kind),
          ...secretUsage(kind),
        });
      }
    });
    return this.keyInfo(label);
  }

  hasKey(label: string): boolean {
    this.#checkOpen();
    checkLabel(label);
    return this.#cache.has(label) || this.#find(label) !== undefined;
  }

  keyInfo(label: string): KeyInfo {
    const e = this.#entry(label);
    const a = this.#call('keyInfo', () =>
      e.key.getAttribute({ local: null, neverExtractable: null, extractable: null, sensitive: null }),
    );
    const policy = this.#dataObjects(POLICY_APPLICATION, label)[0]?.value;
    const wrapTo =
      policy === undefined
        ? undefined
        : Array.from({ length: policy.length / 32 }, (_, i) => new Uint8Array(policy.subarray(32 * i, 32 * i + 32)));
    return {
      label,
      kind: e.kind,
      ...(e.publicKey !== undefined ? { publicKey: e.publicKey.slice() } : {}),
      local: a.local === true,
      neverExtractable: a.neverExtractable === true,
      extractable: a.extractable === true,
      sensitive: a.sensitive === true,
      imported: e.imported,
      ...(wrapTo !== undefined ? { wrapTo } : {}),
      wrapCount: Number(this.#wrapCount(label)),
    };
  }

  deleteKey(label: string): void {
    const e = this.#entry(label);
    this.#cache.delete(label);
    const extra = [POLICY_APPLICATION, WRAP_COUNT_APPLICATION].flatMap((a) => this.#dataObjects(a, label));
    this.#call('deleteKey', () => {
      this.#session.destroy(e.key);
      if (e.pub !== undefined) this.#session.destroy(e.pub);
      for (const o of extra) this.#session.destroy(o.object);
    });
  }

  sign(label: string, message: Bytes): Bytes {
    const e = this.#entry(label);
    requireKind(label, e.kind, ['ed25519'], 'sign');
    const m = checkBytes(message, 'message');
    if (m.length === 0)
      throw new VaultError('HsmError', 'sign: SoftHSM 2.6.1 CKM_EDDSA refuses an empty message (CKR_ARGUMENTS_BAD)');
    return this.#call('sign', () => new Uint8Array(this.#session.createSign(CKM_EDDSA, e.key).once(Buffer.from(m))));
  }

  dh(label: string, peerPublicKey: Bytes): Bytes {
    const e = this.#entry(label);
    requireKind(label, e.kind, ['x25519', 'ristretto255', 'p256'], 'dh');
    const peer = checkBytes(peerPublicKey, 'peerPublicKey');
    if (peer.length !== 32)
      throw new VaultError('InvalidPoint', `x25519 public key expected 32 bytes, got ${peer.length}`);
    const z = this.#call(
      'dh',
      () => {
        const derived = this.#session.deriveKey(
          { name: 'ECDH1_DERIVE', params: new EcdhParams(EcKdf.NULL, null, Buffer.from(peer)) },
          e.key,
          {
            class: ObjectClass.SECRET_KEY,
            keyType: KeyType.GENERIC_SECRET,
            token: false,
            valueLen: 32,
            sensitive: false,
            extractable: true,
          },
        );
        try {
          return new Uint8Array(derived.getAttribute({ value: null }).value as Buffer);
        } finally {
          this.#session.destroy(derived);
        }
      },
      // OpenSSL refuses a low-order peer (all-zero X25519 output): CKR_GENERAL_ERROR.
      () => new VaultError('InvalidPoint', 'x25519: the token refused the peer public key (low-order point)'),
    );
    if (z.every((b) => b === 0)) throw new VaultError('InvalidPoint', 'x25519: all-zero shared secret');
    return z;
  }

  hmac(label: string, message: Bytes): Bytes {
    const e = this.#entry(label);
    requireKind(label, e.kind, ['hmac-sha256', 'hmac-sha512'], 'hmac');
    return this.#hmac(e, checkBytes(message, 'message'));
  }

  hkdfExpand(label: string, info: Bytes, length: number): Bytes {
    const e = this.#entry(label);
    requireKind(label, e.kind, ['hmac-sha256', 'hmac-sha512'], 'hkdfExpand');
    const kind = e.kind as 'hmac-sha256' | 'hmac-sha512';
    const len = checkHkdfLength(kind, length);
    const i8 = checkBytes(info, 'info');
    // RFC 5869 §2.3: T(0) = "", T(i) = HMAC-Hash(PRK, T(i-1) || info || i), OKM = first L bytes of T(1) || T(2) || ...
    const out = new Uint8Array(len);
    let t: Bytes = new Uint8Array(0);
    for (let i = 1, off = 0; off < len; i++, off += HMAC_HASH_BYTES[kind]) {
      t = this.#hmac(e, concat(t, i8, Uint8Array.of(i)));
      out.set(t.subarray(0, Math.min(t.length, len - off)), off);
    }
    return out;
  }

  seal(label: string, plaintext: Bytes, aad: Bytes, nonce: Bytes): Bytes {
    const e = this.#entry(label);
    requireKind(label, e.kind, ['aes256gcm'], 'seal');
    const n = checkNonce(nonce);
    const pt = checkBytes(plaintext, 'plaintext');
    const params = new graphene.AesGcmParams(Buffer.from(n), Buffer.from(checkBytes(aad, 'aad')), SEAL_TAG_BYTES * 8);
    const ct = this.#call('seal', () => {
      const cipher = this.#session.createCipher({ name: 'AES_GCM', params }, e.key);
      // C_Encrypt refuses an empty buffer (CKR_ARGUMENTS_BAD); C_EncryptFinal alone gives the bare tag.
      return pt.length === 0 ? cipher.final() : cipher.once(Buffer.from(pt), Buffer.alloc(pt.length + SEAL_TAG_BYTES));
    });
    return concat(n, new Uint8Array(ct));
  }

  unseal(label: string, sealed: Bytes, aad: Bytes): Bytes {
    const e = this.#entry(label);
    requireKind(label, e.kind, ['aes256gcm'], 'unseal');
    const blob = checkBytes(sealed, 'sealed');
    const a = checkBytes(aad, 'aad');
    if (blob.length < SEAL_NONCE_BYTES + SEAL_TAG_BYTES) {
      throw new VaultError(
        'SealBroken',
        `sealed blob expected at least ${SEAL_NONCE_BYTES + SEAL_TAG_BYTES} bytes, got ${blob.length}`,
      );
    }
    const params = new graphene.AesGcmParams(
      Buffer.from(blob.subarray(0, SEAL_NONCE_BYTES)),
      Buffer.from(a),
      SEAL_TAG_BYTES * 8,
    );
    const ct = Buffer.from(blob.subarray(SEAL_NONCE_BYTES));
    const pt = this.#call(
      'unseal',
      () => this.#session.createDecipher({ name: 'AES_GCM', params }, e.key).once(ct, Buffer.alloc(ct.length)),
      () => new VaultError('SealBroken', 'AES-256-GCM tag mismatch'),
    );
    return new Uint8Array(pt);
  }

  wrapKey(label: string, recipientPublicKey: Bytes, _rng: Rng): Bytes {
    const e = this.#entry(label);
    if (!SECRET_KINDS.includes(e.kind)) throw new VaultError('HsmError', `wrapKey: ${NOT_WRAPPABLE}`);
    const recipient = checkBytes(recipientPublicKey, 'recipientPublicKey');
    if (recipient.length !== 32)
      throw new VaultError('InvalidPoint', `x25519 public key expected 32 bytes, got ${recipient.length}`);
    const policy = this.keyInfo(label).wrapTo;
    refuseOutsidePolicy(
      label,
      policy?.map((k) => toHex(k)),
      recipient,
    );
    const temps: graphene.SessionObject[] = [];
    try {
      const eph = this.#call('wrapKey: ephemeral key', () =>
        this.#session.generateKeyPair(
          CKM_EC_EDWARDS_KEY_PAIR_GEN,
          { class: ObjectClass.PUBLIC_KEY, keyType: CKK_EC_EDWARDS, token: false, paramsEC: OID_X25519, derive: true },
          {
            class: ObjectClass.PRIVATE_KEY,
            keyType: CKK_EC_EDWARDS,
            token: false,
            private: true,
            derive: true,
            sensitive: true,
            extractable: false,
          },
        ),
      );
      temps.push(eph.privateKey, eph.publicKey);
      const ephemeralPublic = decodeEcPoint(eph.publicKey.getAttribute({ pointEC: null }).pointEC as Buffer);
      const kek = this.#deriveKek(eph.privateKey, recipient, ephemeralPublic, recipient, e.kind, temps);
      const wrapped = this.#call(
        'wrapKey',
        () => this.#session.wrapKey('AES_KEY_WRAP_PAD', kek, e.key),
        (code) =>
          new VaultError(
            'HsmError',
            code === 'CKR_KEY_UNEXTRACTABLE'
              ? `wrapKey: key "${label}" is not extractable (not generated wrappable)`
              : `wrapKey: ${code ?? 'failed'}`,
          ),
      );
      this.#writeData(WRAP_COUNT_APPLICATION, label, this.#wrapCount(label) + 1n);
      return concat(ephemeralPublic, new Uint8Array(wrapped));
    } finally {
      this.#destroyAll(temps);
    }
  }

  unwrapKey(label: string, kind: KeyKind, wrapped: Bytes, unwrapWith: string): KeyInfo {
    this.#checkFree(label);
    checkKind(kind);
    refuseUnsupported(kind, false);
    if (!SECRET_KINDS.includes(kind)) throw new VaultError('HsmError', `unwrapKey: ${NOT_WRAPPABLE}`);
    const t = this.#entry(unwrapWith);
    requireKind(unwrapWith, t.kind, ['x25519'], 'unwrapKey');
    const blob = checkBytes(wrapped, 'wrapped');
    // RFC 5649 output: at least 16 bytes, a multiple of 8.
    if (blob.length < 32 + 16 || (blob.length - 32) % 8 !== 0) {
      throw new VaultError('SealBroken', `wrapped key expected 32 + 8k (k >= 2) bytes, got ${blob.length}`);
    }
    if (kind === 'aes256gcm' && blob.length !== 32 + 40) {
      throw new VaultError('SealBroken', `wrapped aes256gcm key expected ${32 + 40} bytes, got ${blob.length}`);
    }
    const ephemeralPublic = blob.subarray(0, 32);
    const temps: graphene.SessionObject[] = [];
    try {
      const kek = this.#deriveKek(t.key, ephemeralPublic, ephemeralPublic, t.publicKey!, kind, temps);
      const key = this.#call(
        'unwrapKey',
        () =>
          this.#session.unwrapKey('AES_KEY_WRAP_PAD', kek, Buffer.from(blob.subarray(32)), {
            class: ObjectClass.SECRET_KEY,
            keyType: secretKeyType(kind),
            token: true,
            private: true,
            label,
            id: Buffer.from(ID_PREFIX + kind),
            // Unwrapped secrets are sensitive and terminal: they do not move on to a further HSM.
            sensitive: true,
            extractable: false,
            ...secretUsage(kind),
          }),
        () =>
          new VaultError(
            'SealBroken',
            'wrapped key failed authentication (wrong recipient, wrong kind or altered bytes)',
          ),
      );
      // SoftHSM 2.6.1 leaves CKA_VALUE_LEN at 0 on unwrapped keys, so the length rules are checked by
      // using the key once: CKM_SHA*_HMAC refuses keys under 32 / 64 bytes (CKR_KEY_SIZE_RANGE), and
      // AES-GCM refuses a key that is not 16, 24 or 32 bytes (the 40-byte payload check above leaves 32).
      this.#call(
        'unwrapKey: probe',
        () => {
          if (kind === 'aes256gcm') {
            const params = new graphene.AesGcmParams(
              Buffer.alloc(SEAL_NONCE_BYTES),
              Buffer.alloc(0),
              SEAL_TAG_BYTES * 8,
            );
            this.#session
              .createCipher({ name: 'AES_GCM', params }, key)
              .once(Buffer.from('probe'), Buffer.alloc(5 + SEAL_TAG_BYTES));
          } else {
            this.#session.createSign(hmacMechanism(kind), key).once(Buffer.from('probe'));
          }
        },
        (code) => {
          this.#destroyAll([key]);
          return new VaultError(
            'InvalidParameter',
            `unwrapKey: the token refused the unwrapped ${kind} key (${code ?? 'failed'}): wrong key length`,
          );
        },
      );
    } finally {
      this.#destroyAll(temps);
    }
    return this.keyInfo(label);
  }

  readCounter(name: string): bigint {
    this.#checkOpen();
    checkLabel(name, 'name');
    return this.#counterObjects(name).reduce((max, o) => (o.value > max ? o.value : max), 0n);
  }

  advanceCounter(name: string, value: bigint): void {
    this.#checkOpen();
    checkLabel(name, 'name');
    const v = checkCounterValue(value);
    const old = this.#counterObjects(name);
    refuseDecrease(
      name,
      old.reduce((max, o) => (o.value > max ? o.value : max), 0n),
      v,
    );
    if (old.some((o) => o.value === v)) return;
    this.#writeData(COUNTER_APPLICATION, name, v);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.clear();
    try {
      this.#session.close();
    } catch {
      // The module may already be finalized; the token and its objects persist either way.
    }
  }

  // --- internals ---

  #open(): graphene.Session {
    let session: graphene.Session;
    try {
      session = this.#slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
    } catch (e) {
      throw new VaultError('HsmError', `cannot open a session on token "${this.label}": ${errorText(e)}`);
    }
    try {
      session.login(this.#pin, graphene.UserType.USER);
    } catch (e) {
      // Login is per token per process: a second session of a logged-in token is already logged in.
      if (ckrOf(e) !== 'CKR_USER_ALREADY_LOGGED_IN') {
        try {
          session.close();
        } catch {
          // ignore
        }
        throw new VaultError('HsmError', `login to token "${this.label}" failed: ${errorText(e)}`);
      }
    }
    return session;
  }

  /** Replaces a session a failed call may have left with an active operation. */
  #reopen(): void {
    // Open the new session before closing the old one: closing a token's last session logs it
    // out, which invalidates the handles of its private objects. Cached entries are dropped anyway
    // (graphene objects read attributes through the session that found them).
    this.#cache.clear();
    const old = this.#session;
    this.#session = this.#open();
    try {
      old.close();
    } catch {
      // ignore: the session may be gone already
    }
  }

  /**
   * Runs one PKCS#11 step. A VaultError passes through; a PKCS#11 error reopens the session and
   * becomes `onError(code)` or an HsmError naming the step and the CKR code.
   */
  #call<T>(what: string, f: () => T, onError?: (code: string | undefined) => VaultError): T {
    this.#checkOpen();
    try {
      return f();
    } catch (e) {
      if (e instanceof VaultError) throw e;
      const code = ckrOf(e);
      this.#reopen();
      throw onError?.(code) ?? new VaultError('HsmError', `${what}: ${code ?? errorText(e)}`);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new VaultError('HsmError', `SoftHSM token "${this.label}" is closed`);
  }

  #checkFree(label: string): void {
    this.#checkOpen();
    checkLabel(label);
    if (this.#cache.has(label) || this.#find(label) !== undefined) {
      throw new VaultError('InvalidParameter', `label "${label}" already in use in token "${this.label}"`);
    }
  }

  #entry(label: string): Entry {
    this.#checkOpen();
    checkLabel(label);
    const cached = this.#cache.get(label);
    if (cached !== undefined) return cached;
    const found = this.#find(label);
    if (found === undefined) throw new VaultError('KeyNotFound', `no key "${label}" in token "${this.label}"`);
    this.#cache.set(label, found);
    return found;
  }

  /** Looks a key up by CKA_LABEL among the token's key objects; undefined if absent. */
  #find(label: string): Entry | undefined {
    return this.#call('find', () => {
      let key: graphene.Key | undefined;
      let pub: graphene.SessionObject | undefined;
      let kind: KeyKind | undefined;
      let imported = false;
      const objects = this.#session.find({ label, token: true });
      for (let i = 0; i < objects.length; i++) {
        const o = objects.items(i);
        const cls = o.class;
        if (cls !== ObjectClass.PRIVATE_KEY && cls !== ObjectClass.SECRET_KEY && cls !== ObjectClass.PUBLIC_KEY)
          continue;
        const id = (o.getAttribute({ id: null }).id as Buffer | undefined)?.toString() ?? '';
        const rest = id.startsWith(ID_PREFIX) ? id.slice(ID_PREFIX.length) : '';
        const k = rest.endsWith(IMPORTED_SUFFIX) ? rest.slice(0, -IMPORTED_SUFFIX.length) : rest;
        if (!isKeyKind(k)) continue; // not a bkv key
        kind = k;
        if (cls !== ObjectClass.PUBLIC_KEY) imported = rest !== k;
        if (cls === ObjectClass.PUBLIC_KEY) pub = o;
        else key = o.toType<graphene.Key>();
      }
      if (key === undefined || kind === undefined) return undefined;
      const publicKey =
        pub !== undefined ? decodeEcPoint(pub.getAttribute({ pointEC: null }).pointEC as Buffer) : undefined;
      return { kind, key, pub, publicKey, imported };
    });
  }

  #hmac(e: Entry, message: Bytes): Bytes {
    return this.#call('hmac', () => {
      const signer = this.#session.createSign(hmacMechanism(e.kind), e.key);
      // C_Sign refuses an empty buffer (CKR_ARGUMENTS_BAD); C_SignFinal alone MACs the empty message.
      return new Uint8Array(message.length === 0 ? signer.final() : signer.once(Buffer.from(message)));
    });
  }

  /** ECDH1_DERIVE(priv, peer) into an AES session key Z, then KEK = AES_CBC_ENCRYPT_DATA(Z, 0^16, ctx). */
  #deriveKek(
    priv: graphene.Key,
    peer: Bytes,
    ephemeralPublic: Bytes,
    recipientPublic: Bytes,
    kind: KeyKind,
    temps: graphene.SessionObject[],
  ): graphene.SecretKey {
    const z = this.#call(
      'wrap: ECDH',
      () =>
        this.#session.deriveKey(
          { name: 'ECDH1_DERIVE', params: new EcdhParams(EcKdf.NULL, null, Buffer.from(peer)) },
          priv,
          {
            class: ObjectClass.SECRET_KEY,
            keyType: KeyType.AES,
            token: false,
            valueLen: 32,
            derive: true,
            sensitive: true,
            extractable: false,
          },
        ),
      () => new VaultError('InvalidPoint', 'x25519: the token refused the peer public key (low-order point)'),
    );
    temps.push(z);
    const ctx = sha256(
      concat(
        utf8(WRAP_CONTEXT.softhsm),
        Uint8Array.of(0),
        utf8(kind),
        Uint8Array.of(0),
        ephemeralPublic,
        recipientPublic,
      ),
    );
    const kek = this.#call('wrap: KEK', () =>
      this.#session.deriveKey(
        {
          name: 'AES_CBC_ENCRYPT_DATA',
          params: new graphene.AesCbcEncryptDataParams(Buffer.alloc(16), Buffer.from(ctx)),
        },
        z,
        {
          class: ObjectClass.SECRET_KEY,
          keyType: KeyType.AES,
          token: false,
          valueLen: 32,
          wrap: true,
          unwrap: true,
          sensitive: true,
          extractable: false,
        },
      ),
    );
    temps.push(kek);
    return kek;
  }

  #destroyAll(objects: graphene.SessionObject[]): void {
    for (const o of objects) {
      try {
        this.#session.destroy(o);
      } catch {
        // Session objects die with their session anyway (a reopen already removed them).
      }
    }
  }

  #counterObjects(
    name: string,
    application = COUNTER_APPLICATION,
  ): { object: graphene.SessionObject; value: bigint }[] {
    return this.#dataObjects(application, name).map(({ object, value: v }) => {
      if (v.length !== 8) {
        throw new VaultError('HsmError', `counter "${name}": stored value has ${v.length} bytes, expected 8`);
      }
      return { object, value: v.readBigUInt64BE() };
    });
  }

  #dataObjects(application: string, label: string): { object: graphene.SessionObject; value: Buffer }[] {
    return this.#call('find data', () => {
      const out: { object: graphene.SessionObject; value: Buffer }[] = [];
      const objects = this.#session.find({ class: ObjectClass.DATA, token: true, application, label });
      for (let i = 0; i < objects.length; i++) {
        const o = objects.items(i);
        out.push({ object: o, value: o.getAttribute({ value: null }).value as Buffer });
      }
      return out;
    });
  }

  /** The wrap count of key `label` (0 if never wrapped). */
  #wrapCount(label: string): bigint {
    return this.#counterObjects(label, WRAP_COUNT_APPLICATION).reduce((max, o) => (o.value > max ? o.value : max), 0n);
  }

  /**
   * Sets a counter-like data object to `v`. SoftHSM makes CKA_VALUE of a data object read-only: the
   * new value is written first, then the old objects are removed, so a crash in between leaves the max.
   */
  #writeData(application: string, name: string, v: bigint): void {
    const old = this.#counterObjects(name, application);
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(v);
    this.#call('write counter', () => {
      this.#createData(application, name, bytes);
      for (const o of old) this.#session.destroy(o.object);
    });
  }

  /** A private CKO_DATA token object (inside a `#call`). */
  #createData(application: string, label: string, value: Buffer): void {
    this.#session.create({ class: ObjectClass.DATA, token: true, private: true, application, label, value });
  }
}
