/**
 * The auditor's wire format (spec ch. 7 §7.7): src/fleet/statement.ts, report.ts and the strict
 * Ed25519 verification of signing.ts.
 *
 * - cloudflare/plexi's own test vectors (plexi_core/tests/test-vectors.json): the same inputs give
 *   the same bytes and plexi's signatures, in both ciphersuites;
 * - properties (fast-check, seed printed): any statement round-trips in both ciphersuites, and any
 *   single-byte change to the signed bytes, the signature or the auditor key fails verification;
 *   shown able to fail by a verifier that trusts the report's serialized_message;
 * - verify_strict: signatures a cofactored verifier (noble's own `verify`) accepts and bkv refuses:
 *   small-order R, mixed-order R, S + L, a small-order key; honest signatures agree with noble.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../src/crypto/bytes.ts';
import { isVaultError } from '../src/errors.ts';
import {
  type AuditorReport,
  decodeReport,
  encodeReport,
  signStatement,
  statementOf,
  verifyReport,
} from '../src/fleet/report.ts';
import { isValidSignature } from '../src/fleet/signing.ts';
import { type WitnessStatement, computeKeyId, decodeStatement, encodeStatement } from '../src/fleet/statement.ts';
import { laxSignatures, seedSigner } from '../src/vectors/statements.ts';

const SEED =
  process.env.BKV_SEED !== undefined ? Number(process.env.BKV_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
console.log(`[witness-statement] fast-check seed ${SEED} (replay: BKV_SEED=${SEED})`);
const RUNS = Number(process.env.BKV_RUNS ?? 1);
const params = (numRuns: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * RUNS)) });

describe("cloudflare/plexi's test vectors", () => {
  // plexi_core/tests/test-vectors.json: an independent implementation's outputs (prost, bincode 2, ed25519-dalek)
  const plexi = {
    signingKey: 'd6af1bca3db4fc2766b0c483706c20bf4837a46d54c1d39c2a34a9088572d712',
    verifyingKey: '606a878700158d92b3a14a0fd37ec82e0f05f92fcf23146abfda2e3a2f10a9bc',
    keyId: 188,
    vectors: [
      {
        ciphersuite: 1,
        namespace: 'log1.example.test',
        signature:
          '31fbef3ed02ea0c8570e3740857d343857118102698a0822ee070a03d7a20637' +
          'd6507fc855669ac30b959d6a0d35cba455a39e287ce2a101dbc16236027a400c',
      },
      {
        ciphersuite: 2,
        namespace: 'log2.example.test',
        signature:
          '9e666ec61efb48e7d0a4c63f9eb50ab3d1674ac7841d97e1a2d85946a7da00bd' +
          'e6ce2dff0d56bcf40d61f4cfcac290001cf20b662c5e223f5e8ce192bb0f7101',
      },
    ] as const,
  };

  test.each(plexi.vectors)(
    "ciphersuite $ciphersuite: our bytes carry plexi's signature, and it verifies strictly",
    (v) => {
      const signer = seedSigner(fromHex(plexi.signingKey));
      expect(toHex(signer.publicKey)).toBe(plexi.verifyingKey);
      expect(computeKeyId(signer.publicKey)).toBe(plexi.keyId);
      const statement: WitnessStatement = {
        ciphersuite: v.ciphersuite,
        namespace: v.namespace,
        timestamp: 1717084639921,
        epoch: 1,
        digest: '11'.repeat(32),
      };
      const report = signStatement(signer, statement);
      expect(report.signature).toBe(v.signature);
      expect(verifyReport(decodeReport(JSON.parse(encodeReport(report))), signer.publicKey)).toEqual(statement);
    },
  );

  test("the report JSON has plexi's member order (its serde test's)", () => {
    const r = signStatement(seedSigner(fromHex(plexi.signingKey)), {
      ciphersuite: 1,
      namespace: 'n',
      timestamp: 2,
      epoch: 3,
      digest: '04'.repeat(32),
    });
    expect(Object.keys(JSON.parse(encodeReport(r)))).toEqual([
      'version',
      'ciphersuite',
      'namespace',
      'timestamp',
      'epoch',
      'digest',
      'signature',
      'key_id',
      'serialized_message',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const nameChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const statementArb: fc.Arbitrary<WitnessStatement> = fc.record({
  ciphersuite: fc.constantFrom(1 as const, 2 as const),
  namespace: fc.array(nameChar, { minLength: 1, maxLength: 128 }).map((cs) => cs.join('')),
  timestamp: fc.oneof(fc.nat({ max: 2 ** 45 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(0)),
  epoch: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  digest: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex),
});

describe('properties of the statement and the report', () => {
  test('any statement round-trips through its bytes, in both ciphersuites, and its report through JSON', () => {
    fc.assert(
      fc.property(statementArb, (s) => {
        expect(decodeStatement(encodeStatement(s), s.ciphersuite)).toEqual(s);
        const r = signStatement(seedSigner(new Uint8Array(32).fill(7)), s);
        expect(decodeReport(JSON.parse(encodeReport(r)))).toEqual(r);
      }),
      params(300),
    );
  });

  test('the round trip catches a broken encoder that writes the epoch as a 32-bit number', () => {
    const broken = (s: WitnessStatement) => encodeStatement({ ...s, epoch: s.epoch % 2 ** 32 });
    const prop = fc.property(statementArb, (s) => expect(decodeStatement(broken(s), s.ciphersuite)).toEqual(s));
    expect(fc.check(prop, { seed: SEED, numRuns: 300 }).failed).toBe(true);
  });

  /** What a holder runs on a report as it arrives (its parsed JSON) under a key: throws to refuse. */
  type Check = (json: unknown, key: Uint8Array) => unknown;
  const strict: Check = (json, key) => verifyReport(decodeReport(json), key);
  const where = fc.constantFrom('bytes', 'signature', 'key');

  /**
   * One byte changed (of the signed bytes, the report's fields re-derived from them and its
   * serialized_message kept, as a forger would; of the signature; of the key): refused.
   */
  const singleByteChangesFail = (check: Check) =>
    fc.property(
      statementArb,
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      where,
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (s, seed, what, at, delta) => {
        const signer = seedSigner(seed);
        const r = signStatement(signer, s);
        expect(() => check(JSON.parse(encodeReport(r)), signer.publicKey)).not.toThrow();
        const flip = (b: Uint8Array) => {
          const c = b.slice();
          c[at % c.length]! ^= delta;
          return c;
        };
        let report: AuditorReport = r;
        let key = signer.publicKey;
        if (what === 'key') key = flip(key);
        else if (what === 'signature') report = { ...r, signature: toHex(flip(fromHex(r.signature))) };
        else {
          let changed: WitnessStatement;
          try {
            changed = decodeStatement(flip(fromHex(r.serialized_message!)), s.ciphersuite);
          } catch (e) {
            if (isVaultError(e)) return; // bytes that do not decode are refused already
            throw e;
          }
          report = { ...r, ...changed, version: changed.ciphersuite };
        }
        let accepted = true;
        try {
          check(JSON.parse(encodeReport(report)), key);
        } catch {
          accepted = false;
        }
        if (accepted) throw new Error(`a report with one byte of its ${what} changed verified`);
      },
    );

  test('any single-byte change to the bytes, the signature or the key fails verification', () => {
    fc.assert(singleByteChangesFail(strict), params(300));
  });

  test("the property catches a verifier that checks serialized_message's signature and trusts the fields", () => {
    const trustsSerialized: Check = (json, key) => {
      const r = json as AuditorReport;
      if (
        r.key_id !== computeKeyId(key) ||
        !isValidSignature(fromHex(r.signature), fromHex(r.serialized_message!), key)
      )
        throw new Error('refused');
      return statementOf(r);
    };
    expect(fc.check(singleByteChangesFail(trustsSerialized), { seed: SEED, numRuns: 300 }).failed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// verify_strict
// ---------------------------------------------------------------------------------------------

describe("Ed25519: ed25519-dalek's verify_strict on noble's points", () => {
  const seed = new Uint8Array(32).fill(3);
  const key = ed25519.getPublicKey(seed);
  const message = encodeStatement({
    ciphersuite: 1,
    namespace: 'meta.encrypted_backups.fleet_keys.v1',
    timestamp: 1,
    epoch: 1,
    digest: 'ab'.repeat(32),
  });
  const lax = laxSignatures(seed, message);

  test.each([
    ['small-order R', lax.smallOrderR],
    ['mixed-order R', lax.mixedOrderR],
  ])('%s: noble (zip215: false, cofactored) accepts, bkv refuses', (_, sig) => {
    expect(ed25519.verify(fromHex(sig), message, key, { zip215: false })).toBe(true);
    expect(isValidSignature(fromHex(sig), message, key)).toBe(false);
  });

  test('S + L and a small-order key are refused by both', () => {
    expect(ed25519.verify(fromHex(lax.unreducedS), message, key, { zip215: false })).toBe(false);
    expect(isValidSignature(fromHex(lax.unreducedS), message, key)).toBe(false);
    const order8 = fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
    const identityR = fromHex(`01${'00'.repeat(31)}${'00'.repeat(32)}`);
    expect(isValidSignature(identityR, message, order8)).toBe(false);
    // what a permissive verifier would take
    expect(ed25519.verify(identityR, message, order8, { zip215: true })).toBe(true);
  });

  test('on honest signatures and on altered ones, bkv and noble agree', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        (sk, m, at) => {
          const pk = ed25519.getPublicKey(sk);
          const sig = ed25519.sign(m, sk);
          expect(isValidSignature(sig, m, pk)).toBe(true);
          const bad = sig.slice();
          bad[at % 64]! ^= 1;
          expect(isValidSignature(bad, m, pk)).toBe(ed25519.verify(bad, m, pk, { zip215: false }));
        },
      ),
      params(200),
    );
  });
});
