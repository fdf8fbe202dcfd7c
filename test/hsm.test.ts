/**
 * The `Hsm` contract (src/hsm/hsm.ts), run against both backends: `memory` (pure @noble) and
 * `softhsm` (PKCS#11 on SoftHSM2 tokens `bkv-8` and `bkv-9` of the run's private token store,
 * see test/support/global-setup.ts). Every result is checked against @noble directly; then
 * backend-specific cases (what SoftHSM refuses, what only the memory backend has), and a
 * cross-backend section: identical imported keys give identical outputs.
 *
 * SoftHSM labels are prefixed with a per-process run id, so this file can share tokens with
 * concurrently running files.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as graphene from 'graphene-pk11';
import { ed25519, ristretto255, x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { expand, hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { aeskwp, cbc, gcm } from '@noble/ciphers/aes.js';
import { concat, i2osp, type Bytes, type Rng, utf8 } from '../src/crypto/bytes.ts';
import { isVaultError, type ErrorCode } from '../src/errors.ts';
import type { Hsm, KeyKind } from '../src/hsm/hsm.ts';
import { MemoryHsm, MemoryToken } from '../src/hsm/memory.ts';
import { finalizeSoftHsm, SoftHsm } from '../src/hsm/softhsm.ts';
import { findSlotByLabel, loadSoftHsmModule } from '../src/hsm/pkcs11.ts';
import { softHsmTestPin, uniqueRunId } from './support/global-setup.ts';

/** Deterministic test randomness: SHA-256(seed || counter) blocks. */
function testRng(seed: string): Rng {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = sha256(concat(utf8(seed), i2osp(counter++, 4)));
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

function expectCode(f: () => unknown, code: ErrorCode): void {
  try {
    f();
  } catch (e) {
    if (isVaultError(e, code)) return;
    throw new Error(`expected VaultError(${code}), got ${e instanceof Error ? e.message : String(e)}`);
  }
  throw new Error(`expected VaultError(${code}), but nothing was thrown`);
}

const RUN = uniqueRunId();
let labelCounter = 0;
/** A fresh, run-unique label. */
const fresh = (what: string): string => `${RUN}-${what}-${labelCounter++}`;

interface Backend {
  readonly name: 'memory' | 'softhsm';
  /** Opens an HSM over token A or B (a new object each time: "restart" = close + open). */
  open(token: 'A' | 'B'): Hsm;
  teardown(): void;
}

function memoryBackend(): Backend {
  const tokens = { A: new MemoryToken('mem-A'), B: new MemoryToken('mem-B') };
  let n = 0;
  return {
    name: 'memory',
    open: (t) => new MemoryHsm(tokens[t], testRng(`memory-${t}-${n++}`)),
    teardown: () => {},
  };
}

function softHsmBackend(): Backend {
  const pin = softHsmTestPin();
  const names = { A: 'bkv-8', B: 'bkv-9' };
  const opened: Hsm[] = [];
  return {
    name: 'softhsm',
    open: (t) => {
      const h = new SoftHsm({ token: names[t], pin });
      opened.push(h);
      return h;
    },
    teardown: () => {
      for (const h of opened) h.close();
      finalizeSoftHsm();
    },
  };
}

const rng = testRng('hsm.test');

describe.each([
  { name: 'memory', make: memoryBackend },
  { name: 'softhsm', make: softHsmBackend },
])('Hsm contract: $name', ({ make }) => {
  let backend: Backend;
  let a: Hsm;
  let b: Hsm;
  beforeAll(() => {
    backend = make();
    a = backend.open('A');
    b = backend.open('B');
  });
  afterAll(() => backend.teardown());

  test('ed25519: generated key signs, noble verifies; imported seed signs exactly as noble', () => {
    const label = fresh('sign');
    const info = a.generateKey(label, 'ed25519');
    expect(info.kind).toBe('ed25519');
    expect(info.publicKey?.length).toBe(32);
    for (const m of ['a', 'message two', 'x'.repeat(1000)]) {
      const sig = a.sign(label, utf8(m));
      expect(sig.length).toBe(64);
      expect(ed25519.verify(sig, utf8(m), info.publicKey!)).toBe(true);
      expect(ed25519.verify(sig, utf8(`${m}!`), info.publicKey!)).toBe(false);
    }
    const seed = rng(32);
    const imported = fresh('sign-imported');
    expect(a.importKey(imported, 'ed25519', seed).publicKey).toEqual(ed25519.getPublicKey(seed));
    expect(a.sign(imported, utf8('vector'))).toEqual(ed25519.sign(utf8('vector'), seed));
  });

  test('x25519: dh equals noble; low-order and malformed peers are InvalidPoint', () => {
    const label = fresh('dh');
    const info = a.generateKey(label, 'x25519');
    expect(info.publicKey?.length).toBe(32);
    for (let i = 0; i < 5; i++) {
      const peer = rng(32);
      expect(a.dh(label, x25519.getPublicKey(peer))).toEqual(x25519.getSharedSecret(peer, info.publicKey!));
    }
    expectCode(() => a.dh(label, new Uint8Array(32)), 'InvalidPoint'); // u = 0: all-zero output
    expectCode(() => a.dh(label, Uint8Array.of(1, ...new Uint8Array(31))), 'InvalidPoint'); // u = 1: low order
    expectCode(() => a.dh(label, new Uint8Array(31).fill(9)), 'InvalidPoint');
    // the HSM still works after refusing
    const peer = rng(32);
    expect(a.dh(label, x25519.getPublicKey(peer))).toEqual(x25519.getSharedSecret(peer, info.publicKey!));
  });

  test('hmac-sha256 / hmac-sha512 equal noble (imported and generated keys, empty message included)', () => {
    for (const [kind, hash, len] of [
      ['hmac-sha256', sha256, 32],
      ['hmac-sha512', sha512, 64],
      ['hmac-sha512', sha512, 100],
    ] as const) {
      const key = rng(len);
      const label = fresh(kind);
      const info = a.importKey(label, kind, key);
      expect(info.publicKey).toBeUndefined();
      for (const m of [new Uint8Array(0), utf8('abc'), rng(1000)]) expect(a.hmac(label, m)).toEqual(hmac(hash, key, m));
      const gen = fresh(`${kind}-gen`);
      a.generateKey(gen, kind);
      expect(a.hmac(gen, utf8('m')).length).toBe(hash.outputLen);
    }
    expectCode(() => a.importKey(fresh('short'), 'hmac-sha256', new Uint8Array(31)), 'InvalidParameter');
    expectCode(() => a.importKey(fresh('short'), 'hmac-sha512', new Uint8Array(63)), 'InvalidParameter');
  });

  test('hkdfExpand equals noble expand at the block edges; too long is InvalidParameter', () => {
    for (const [kind, hash] of [
      ['hmac-sha256', sha256],
      ['hmac-sha512', sha512],
    ] as const) {
      const key = rng(kind === 'hmac-sha256' ? 32 : 64);
      const label = fresh('hkdf');
      a.importKey(label, kind, key);
      const h = hash.outputLen;
      for (const len of [0, 1, h - 1, h, h + 1, 3 * h, 255 * h]) {
        expect(a.hkdfExpand(label, utf8('info'), len)).toEqual(
          len === 0 ? new Uint8Array(0) : expand(hash, key, utf8('info'), len),
        );
      }
      expectCode(() => a.hkdfExpand(label, utf8('info'), 255 * h + 1), 'InvalidParameter');
      expectCode(() => a.hkdfExpand(label, utf8('info'), -1), 'InvalidParameter');
      expectCode(() => a.hkdfExpand(label, utf8('info'), 1.5), 'InvalidParameter');
    }
  });

  test('property: hkdfExpand equals noble for random info and length', () => {
    const key = rng(32);
    const label = fresh('hkdf-prop');
    a.importKey(label, 'hmac-sha256', key);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 1, max: 300 }), (info, len) => {
        expect(a.hkdfExpand(label, info, len)).toEqual(expand(sha256, key, info, len));
      }),
      { numRuns: 60, seed: 9807 },
    );
  });

  test('seal/unseal: round trip (empty plaintext and aad too); wrong aad, truncation, bad nonce refused', () => {
    const label = fresh('seal');
    a.generateKey(label, 'aes256gcm');
    for (const [pt, aad] of [
      [utf8('host state'), utf8('replica-1')],
      [new Uint8Array(0), utf8('x')],
      [rng(5000), new Uint8Array(0)],
    ] as const) {
      const nonce = rng(12);
      const sealed = a.seal(label, pt, aad, nonce);
      expect(sealed.length).toBe(12 + pt.length + 16);
      expect(sealed.subarray(0, 12)).toEqual(nonce);
      expect(a.unseal(label, sealed, aad)).toEqual(pt);
      expectCode(() => a.unseal(label, sealed, concat(aad, utf8('!'))), 'SealBroken');
      expectCode(() => a.unseal(label, sealed.subarray(0, sealed.length - 1), aad), 'SealBroken');
    }
    expectCode(() => a.unseal(label, new Uint8Array(27), new Uint8Array(0)), 'SealBroken');
    expectCode(() => a.seal(label, utf8('x'), new Uint8Array(0), new Uint8Array(11)), 'InvalidParameter');
    // still usable after the refusals
    const sealed = a.seal(label, utf8('again'), utf8('aad'), rng(12));
    expect(a.unseal(label, sealed, utf8('aad'))).toEqual(utf8('again'));
  });

  test('property: any single bit flip of a sealed blob is SealBroken', () => {
    const label = fresh('seal-prop');
    a.generateKey(label, 'aes256gcm');
    const aad = utf8('aad');
    const sealed = a.seal(label, utf8('the sealed host state of a replica'), aad, rng(12));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), (bit) => {
        const bad = sealed.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expectCode(() => a.unseal(label, bad, aad), 'SealBroken');
      }),
      { numRuns: 60, seed: 5116 },
    );
    expect(a.unseal(label, sealed, aad)).toEqual(utf8('the sealed host state of a replica'));
  });

  test('wrap from token A to token B: the unwrapped secret computes the same results', () => {
    const transport = fresh('transport');
    const t = b.generateKey(transport, 'x25519');
    for (const kind of ['hmac-sha256', 'hmac-sha512', 'aes256gcm'] as const) {
      const secret = fresh(`fleet-${kind}`);
      const src = a.generateKey(secret, kind, { wrappable: true });
      expect([src.local, src.neverExtractable, src.extractable, src.sensitive]).toEqual([true, false, true, true]);
      const wrapped = a.wrapKey(secret, t.publicKey!, rng);
      const got = b.unwrapKey(secret, kind, wrapped, transport);
      expect([got.kind, got.local, got.neverExtractable, got.extractable, got.sensitive]).toEqual([
        kind,
        false,
        false,
        false,
        true,
      ]);
      if (kind === 'aes256gcm') {
        const sealed = a.seal(secret, utf8('moved'), utf8('aad'), rng(12));
        expect(b.unseal(secret, sealed, utf8('aad'))).toEqual(utf8('moved'));
      } else {
        expect(b.hmac(secret, utf8('same on both'))).toEqual(a.hmac(secret, utf8('same on both')));
        expect(b.hkdfExpand(secret, utf8('oprf seed'), 77)).toEqual(a.hkdfExpand(secret, utf8('oprf seed'), 77));
      }
    }
  });

  test('wrap refusals: wrong recipient, wrong kind, altered bytes, non-wrappable key', () => {
    const transport = fresh('transport');
    const t = b.generateKey(transport, 'x25519');
    const other = fresh('other-transport');
    b.generateKey(other, 'x25519');
    const secret = fresh('fleet');
    a.generateKey(secret, 'hmac-sha256', { wrappable: true });
    const wrapped = a.wrapKey(secret, t.publicKey!, rng);
    expectCode(() => b.unwrapKey(fresh('x'), 'hmac-sha256', wrapped, other), 'SealBroken');
    expectCode(() => b.unwrapKey(fresh('x'), 'aes256gcm', wrapped, transport), 'SealBroken');
    for (const i of [0, 31, 32, wrapped.length - 1]) {
      const bad = wrapped.slice();
      bad[i]! ^= 0x40;
      try {
        b.unwrapKey(fresh('x'), 'hmac-sha256', bad, transport);
        throw new Error(`altered byte ${i} was accepted`);
      } catch (e) {
        // the ephemeral public key may become a low-order point (InvalidPoint); otherwise the check fails
        expect(isVaultError(e, 'SealBroken') || isVaultError(e, 'InvalidPoint')).toBe(true);
      }
    }
    expectCode(() => b.unwrapKey(fresh('x'), 'hmac-sha256', wrapped.subarray(0, 40), transport), 'SealBroken');
    expectCode(() => b.unwrapKey(fresh('x'), 'hmac-sha256', wrapped, fresh('missing')), 'KeyNotFound');
    const identity = fresh('identity-hmac');
    a.generateKey(identity, 'hmac-sha256');
    expectCode(() => a.wrapKey(identity, t.publicKey!, rng), 'HsmError');
    expectCode(() => a.wrapKey(secret, new Uint8Array(32), rng), 'InvalidPoint');
    // a good unwrap still works after all the refusals
    expect(b.unwrapKey(fresh('ok'), 'hmac-sha256', wrapped, transport).kind).toBe('hmac-sha256');
  });

  test('counters: start at 0, advance monotonically, refuse to go back', () => {
    const name = fresh('counter');
    expect(a.readCounter(name)).toBe(0n);
    a.advanceCounter(name, 1n);
    a.advanceCounter(name, 5n);
    a.advanceCounter(name, 5n); // equal: no-op
    expect(a.readCounter(name)).toBe(5n);
    expectCode(() => a.advanceCounter(name, 4n), 'StaleState');
    expectCode(() => a.advanceCounter(name, -1n), 'InvalidParameter');
    expectCode(() => a.advanceCounter(name, 1n << 64n), 'InvalidParameter');
    expect(a.readCounter(name)).toBe(5n);
    a.advanceCounter(name, (1n << 64n) - 1n);
    expect(a.readCounter(name)).toBe((1n << 64n) - 1n);
    expect(b.readCounter(name)).toBe(0n); // counters are per token
  });

  test('keyInfo flags: identity keys never extractable, wrappable keys extractable, imported keys not local', () => {
    for (const kind of ['ed25519', 'x25519', 'hmac-sha256', 'aes256gcm'] as const) {
      const info = a.generateKey(fresh(`flags-${kind}`), kind);
      expect([info.local, info.neverExtractable, info.extractable, info.sensitive]).toEqual([true, true, false, true]);
    }
    const wrappable = a.generateKey(fresh('flags-wrappable'), 'hmac-sha512', { wrappable: true });
    expect([wrappable.local, wrappable.neverExtractable, wrappable.extractable, wrappable.sensitive]).toEqual([
      true,
      false,
      true,
      true,
    ]);
    const imported = a.importKey(fresh('flags-imported'), 'x25519', rng(32));
    expect([imported.local, imported.neverExtractable, imported.extractable, imported.sensitive]).toEqual([
      false,
      false,
      false,
      true,
    ]);
    const importedW = a.importKey(fresh('flags-imported-w'), 'aes256gcm', rng(32), { wrappable: true });
    expect([importedW.local, importedW.neverExtractable, importedW.extractable, importedW.sensitive]).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });

  test('keys and counters persist across close + reopen (a restart)', () => {
    const label = fresh('persist');
    const info = a.generateKey(label, 'ed25519');
    const mac = fresh('persist-mac');
    a.importKey(mac, 'hmac-sha256', new Uint8Array(32).fill(7));
    const name = fresh('persist-counter');
    a.advanceCounter(name, 42n);
    a.close();
    expectCode(() => a.sign(label, utf8('closed')), 'HsmError');
    a = backend.open('A');
    expect(a.hasKey(label)).toBe(true);
    expect(a.keyInfo(label)).toEqual(info);
    expect(ed25519.verify(a.sign(label, utf8('after restart')), utf8('after restart'), info.publicKey!)).toBe(true);
    expect(a.hmac(mac, utf8('m'))).toEqual(hmac(sha256, new Uint8Array(32).fill(7), utf8('m')));
    expect(a.readCounter(name)).toBe(42n);
  });

  test(
    'labels: duplicates refused, unknown is KeyNotFound, ' + 'delete removes, wrong kind for an operation refused',
    () => {
      const label = fresh('lbl');
      a.generateKey(label, 'x25519');
      expectCode(() => a.generateKey(label, 'x25519'), 'InvalidParameter');
      expectCode(() => a.importKey(label, 'hmac-sha256', rng(32)), 'InvalidParameter');
      expectCode(() => a.sign(label, utf8('m')), 'InvalidParameter');
      expectCode(() => a.hmac(label, utf8('m')), 'InvalidParameter');
      expectCode(() => a.seal(label, utf8('m'), new Uint8Array(0), rng(12)), 'InvalidParameter');
      expectCode(() => a.generateKey('', 'x25519'), 'InvalidParameter');
      expectCode(() => a.generateKey(fresh('k'), 'rsa' as KeyKind), 'InvalidParameter');
      expect(a.hasKey(label)).toBe(true);
      a.deleteKey(label);
      expect(a.hasKey(label)).toBe(false);
      expectCode(() => a.keyInfo(label), 'KeyNotFound');
      expectCode(() => a.dh(label, x25519.getPublicKey(rng(32))), 'KeyNotFound');
      expectCode(() => a.deleteKey(label), 'KeyNotFound');
      a.generateKey(label, 'ed25519'); // the label is free again
      expect(a.keyInfo(label).kind).toBe('ed25519');
    },
  );
});

describe('SoftHSM specifics', () => {
  let backend: Backend;
  let h: Hsm;
  beforeAll(() => {
    backend = softHsmBackend();
    h = backend.open('A');
  });
  afterAll(() => backend.teardown());

  test('ristretto255 and p256 are refused with HsmError (not in PKCS#11)', () => {
    for (const kind of ['ristretto255', 'p256'] as const) {
      expectCode(() => h.generateKey(fresh(kind), kind), 'HsmError');
      expectCode(() => h.importKey(fresh(kind), kind, new Uint8Array(32).fill(1)), 'HsmError');
    }
  });

  test('25519 keys cannot be wrappable or wrapped; an empty Ed25519 message is refused', () => {
    expectCode(() => h.generateKey(fresh('wx'), 'x25519', { wrappable: true }), 'HsmError');
    expectCode(() => h.importKey(fresh('we'), 'ed25519', new Uint8Array(32), { wrappable: true }), 'HsmError');
    const x = fresh('x');
    const t = h.generateKey(x, 'x25519');
    expectCode(() => h.wrapKey(x, t.publicKey!, rng), 'HsmError');
    expectCode(() => h.unwrapKey(fresh('u'), 'x25519', new Uint8Array(80), x), 'HsmError');
    const e = fresh('e');
    h.generateKey(e, 'ed25519');
    expectCode(() => h.sign(e, new Uint8Array(0)), 'HsmError');
    expect(h.sign(e, utf8('still fine')).length).toBe(64);
  });

  test('identity keys: the token reports local + neverExtractable + sensitive, and refuses to reveal the value', () => {
    const label = fresh('identity');
    const info = h.generateKey(label, 'ed25519');
    expect([info.local, info.neverExtractable, info.extractable, info.sensitive]).toEqual([true, true, false, true]);
    // Read the token directly, outside SoftHsm: CKA_VALUE of the private key is not readable.
    const session = findSlotByLabel(loadSoftHsmModule(), 'bkv-8').open(
      graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION,
    );
    try {
      const objects = session.find({ class: graphene.ObjectClass.PRIVATE_KEY, label });
      expect(objects.length).toBe(1);
      const key = objects.items(0);
      const attrs = key.getAttribute({
        local: null,
        neverExtractable: null,
        alwaysSensitive: null,
        extractable: null,
        token: null,
      });
      expect(attrs).toMatchObject({
        local: true,
        neverExtractable: true,
        alwaysSensitive: true,
        extractable: false,
        token: true,
      });
      expect(() => key.getAttribute({ value: null })).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      const wrappable = fresh('wrappable');
      h.generateKey(wrappable, 'hmac-sha256', { wrappable: true });
      const secret = session.find({ class: graphene.ObjectClass.SECRET_KEY, label: wrappable }).items(0);
      expect(() => secret.getAttribute({ value: null })).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    } finally {
      session.close();
    }
  });

  test('the wrap format is exactly E || AES-KWP(AES-CBC_Z(0, ctx), secret), recomputed with noble', () => {
    const r = rng(32);
    const transport = fresh('known-transport');
    const R = h.importKey(transport, 'x25519', r).publicKey!;
    const v = rng(32);
    const secret = fresh('known-secret');
    h.importKey(secret, 'hmac-sha256', v, { wrappable: true });
    const kekFor = (E: Bytes, kind: string) => {
      const ctx = sha256(concat(utf8('bkv/hsm/wrap/softhsm/v1'), Uint8Array.of(0), utf8(kind), Uint8Array.of(0), E, R));
      return cbc(x25519.getSharedSecret(r, E), new Uint8Array(16), { disablePadding: true }).encrypt(ctx);
    };
    const wrapped = h.wrapKey(secret, R, rng);
    expect(wrapped.length).toBe(32 + 40);
    const E = wrapped.subarray(0, 32);
    expect(aeskwp(kekFor(E, 'hmac-sha256')).decrypt(wrapped.subarray(32))).toEqual(v);
    // A blob made outside the token in the same format unwraps; one holding a too-short key is refused.
    const e = rng(32);
    const E2 = x25519.getPublicKey(e);
    const good = concat(E2, aeskwp(kekFor(E2, 'hmac-sha512')).encrypt(v.length === 32 ? concat(v, v) : v));
    const got = h.unwrapKey(fresh('crafted'), 'hmac-sha512', good, transport);
    expect(h.hmac(got.label, utf8('m'))).toEqual(hmac(sha512, concat(v, v), utf8('m')));
    const short = concat(E2, aeskwp(kekFor(E2, 'hmac-sha256')).encrypt(v.subarray(0, 16)));
    const shortLabel = fresh('short');
    expectCode(() => h.unwrapKey(shortLabel, 'hmac-sha256', short, transport), 'InvalidParameter');
    expect(h.hasKey(shortLabel)).toBe(false);
  });

  test('a second SoftHsm over the same token (another process after a restart) finds the keys', () => {
    const label = fresh('shared');
    const info = h.generateKey(label, 'x25519');
    const other = backend.open('A');
    const peer = rng(32);
    expect(other.dh(label, x25519.getPublicKey(peer))).toEqual(x25519.getSharedSecret(peer, info.publicKey!));
    other.close();
    expect(h.dh(label, x25519.getPublicKey(peer))).toEqual(x25519.getSharedSecret(peer, info.publicKey!));
  });
});

describe('memory specifics', () => {
  test('ristretto255 dh = scalar * point (noble); identity and non-canonical encodings are InvalidPoint', () => {
    const h = MemoryHsm.create('mem', testRng('ristretto'));
    const label = 'r';
    const info = h.generateKey(label, 'ristretto255');
    const peerScalar = 123456789n;
    const peer = ristretto255.Point.BASE.multiply(peerScalar);
    expect(h.dh(label, peer.toBytes())).toEqual(
      ristretto255.Point.fromBytes(info.publicKey!).multiply(peerScalar).toBytes(),
    );
    expectCode(() => h.dh(label, new Uint8Array(32)), 'InvalidPoint'); // identity
    expectCode(() => h.dh(label, new Uint8Array(32).fill(0xff)), 'InvalidPoint'); // not canonical
    expectCode(() => h.dh(label, new Uint8Array(31)), 'InvalidPoint');
    // private keys: 32-byte little-endian canonical scalars in [1, n-1]
    const n = ristretto255.Point.Fn.ORDER;
    const le = (x: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn));
    expect(h.importKey('r1', 'ristretto255', le(5n)).publicKey).toEqual(ristretto255.Point.BASE.multiply(5n).toBytes());
    expectCode(() => h.importKey('r2', 'ristretto255', le(n)), 'InvalidParameter');
    expectCode(() => h.importKey('r3', 'ristretto255', le(0n)), 'InvalidParameter');
    expect(h.importKey('r4', 'ristretto255', le(n - 1n)).publicKey).toEqual(
      ristretto255.Point.BASE.multiply(n - 1n).toBytes(),
    );
  });

  test('p256 dh is the compressed shared point (noble); invalid points are InvalidPoint', () => {
    const h = MemoryHsm.create('mem', testRng('p256'));
    const info = h.generateKey('p', 'p256');
    expect(info.publicKey?.length).toBe(33);
    const peer = p256.utils.randomSecretKey(testRng('peer')(48));
    const shared = h.dh('p', p256.getPublicKey(peer, true));
    expect(shared).toEqual(p256.getSharedSecret(peer, info.publicKey!, true));
    expect(h.dh('p', p256.getPublicKey(peer, false))).toEqual(shared);
    expectCode(() => h.dh('p', Uint8Array.of(2, ...new Uint8Array(32).fill(0xff))), 'InvalidPoint');
    expectCode(() => h.dh('p', new Uint8Array(32)), 'InvalidPoint');
    expectCode(() => h.importKey('p0', 'p256', new Uint8Array(32)), 'InvalidParameter');
    const sk = new Uint8Array(32).fill(3);
    expect(h.importKey('p3', 'p256', sk).publicKey).toEqual(p256.getPublicKey(sk, true));
  });

  test('every kind wraps (25519, ristretto255 and p256 included) and the wrap format is E || nonce || AES-GCM', () => {
    const a = MemoryHsm.create('A', testRng('wrap-a'));
    const b = MemoryHsm.create('B', testRng('wrap-b'));
    const t = b.generateKey('transport', 'x25519');
    for (const kind of ['ed25519', 'x25519', 'ristretto255', 'p256', 'hmac-sha256', 'aes256gcm'] as const) {
      const src = a.generateKey(kind, kind, { wrappable: true });
      const wrapped = a.wrapKey(kind, t.publicKey!, testRng(`eph-${kind}`));
      const got = b.unwrapKey(kind, kind, wrapped, 'transport');
      expect(got.publicKey).toEqual(src.publicKey);
      expect(wrapped.length).toBe(32 + 12 + 32 + 16); // E || nonce || 32-byte secret || tag
    }
    // determinism: the same rng gives the same wrapped bytes
    expect(a.wrapKey('x25519', t.publicKey!, testRng('same'))).toEqual(
      a.wrapKey('x25519', t.publicKey!, testRng('same')),
    );
    expect(b.sign('ed25519', utf8('m'))).toEqual(a.sign('ed25519', utf8('m')));
  });

  test(
    'the wrap format is exactly E || nonce || AES-256-GCM(HKDF-SHA256(Z), aad = kind), ' + 'recomputed with noble',
    () => {
      const a = MemoryHsm.create('A', testRng('fmt-a'));
      const b = MemoryHsm.create('B', testRng('fmt-b'));
      const r = rng(32);
      const R = b.importKey('transport', 'x25519', r).publicKey!;
      const v = rng(64);
      a.importKey('seed', 'hmac-sha512', v, { wrappable: true });
      const wrapped = a.wrapKey('seed', R, rng);
      const E = wrapped.subarray(0, 32);
      const kek = hkdf(
        sha256,
        x25519.getSharedSecret(r, E),
        undefined,
        concat(utf8('bkv/hsm/wrap/memory/v1'), E, R),
        32,
      );
      expect(gcm(kek, wrapped.subarray(32, 44), utf8('hmac-sha512')).decrypt(wrapped.subarray(44))).toEqual(v);
    },
  );

  test('the same rng gives the same keys; a token outlives its MemoryHsm; clone() is independent', () => {
    const k1 = MemoryHsm.create('X', testRng('det')).generateKey('k', 'x25519');
    const k2 = MemoryHsm.create('X', testRng('det')).generateKey('k', 'x25519');
    expect(k1.publicKey).toEqual(k2.publicKey);
    const token = new MemoryToken('T');
    const h1 = new MemoryHsm(token, testRng('t1'));
    h1.generateKey('id', 'ed25519');
    h1.advanceCounter('c', 3n);
    const copy = token.clone();
    h1.advanceCounter('c', 9n);
    h1.close();
    const h2 = new MemoryHsm(token, testRng('t2'));
    expect(h2.readCounter('c')).toBe(9n);
    expect(h2.keyInfo('id').local).toBe(true);
    const h3 = new MemoryHsm(copy, testRng('t3'));
    expect(h3.readCounter('c')).toBe(3n);
    expect(h3.keyInfo('id').publicKey).toEqual(h2.keyInfo('id').publicKey);
  });
});

describe('memory and SoftHSM agree on identical imported keys', () => {
  let soft: Backend;
  let s: Hsm;
  let m: Hsm;
  beforeAll(() => {
    soft = softHsmBackend();
    s = soft.open('B');
    m = MemoryHsm.create('mem', testRng('agree'));
  });
  afterAll(() => soft.teardown());

  const both = (f: (h: Hsm) => Bytes): Bytes => {
    const x = f(m);
    expect(f(s)).toEqual(x);
    return x;
  };

  test('hmac, hkdfExpand, x25519 dh, ed25519 sign, AES-GCM seal with the same nonce', () => {
    const keys = {
      h256: rng(32),
      h512: rng(64),
      x: rng(32),
      e: rng(32),
      aes: rng(32),
    };
    const L = (x: string) => `${RUN}-agree-${x}`;
    for (const h of [m, s]) {
      h.importKey(L('h256'), 'hmac-sha256', keys.h256);
      h.importKey(L('h512'), 'hmac-sha512', keys.h512);
      h.importKey(L('x'), 'x25519', keys.x);
      h.importKey(L('e'), 'ed25519', keys.e);
      h.importKey(L('aes'), 'aes256gcm', keys.aes);
    }
    expect(s.keyInfo(L('x')).publicKey).toEqual(m.keyInfo(L('x')).publicKey);
    expect(s.keyInfo(L('e')).publicKey).toEqual(m.keyInfo(L('e')).publicKey);
    const msg = utf8('the same message');
    expect(both((h) => h.hmac(L('h256'), msg))).toEqual(hmac(sha256, keys.h256, msg));
    expect(both((h) => h.hmac(L('h512'), msg))).toEqual(hmac(sha512, keys.h512, msg));
    both((h) => h.hkdfExpand(L('h512'), msg, 200));
    const peer = x25519.getPublicKey(rng(32));
    expect(both((h) => h.dh(L('x'), peer))).toEqual(x25519.getSharedSecret(keys.x, peer));
    expect(both((h) => h.sign(L('e'), msg))).toEqual(ed25519.sign(msg, keys.e));
    const nonce = rng(12);
    const sealed = both((h) => h.seal(L('aes'), msg, utf8('aad'), nonce));
    expect(sealed.subarray(12)).toEqual(gcm(keys.aes, nonce, utf8('aad')).encrypt(msg));
    expect(s.unseal(L('aes'), m.seal(L('aes'), msg, utf8('x'), rng(12)), utf8('x'))).toEqual(msg);
    expect(m.unseal(L('aes'), s.seal(L('aes'), msg, utf8('x'), rng(12)), utf8('x'))).toEqual(msg);
  });

  test('property: hmac-sha256 and hkdfExpand agree for random messages, info and lengths', () => {
    const L = `${RUN}-agree-prop`;
    const key = rng(32);
    m.importKey(L, 'hmac-sha256', key);
    s.importKey(L, 'hmac-sha256', key);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 255 * 32 }), (data, len) => {
        expect(s.hmac(L, data)).toEqual(m.hmac(L, data));
        expect(s.hkdfExpand(L, data, len)).toEqual(m.hkdfExpand(L, data, len));
      }),
      { numRuns: 40, seed: 5869 },
    );
  });
});
