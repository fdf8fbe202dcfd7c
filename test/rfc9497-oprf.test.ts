/**
 * RFC 9497 (OPRF), Appendix A: the mode-0 (OPRF) vectors of the two suites OPAQUE uses here,
 * ristretto255-SHA512 and P256-SHA256, run through bkv's suite objects (which wrap @noble/curves).
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../src/crypto/bytes.ts';
import { getSuite, type SuiteId } from '../src/crypto/suite.ts';
import { isVaultError } from '../src/errors.ts';
import { loadVectors } from './support/vectors.ts';

interface OprfVector {
  Batch: number;
  Blind: string;
  BlindedElement: string;
  EvaluationElement: string;
  Input: string;
  Output: string;
}
interface OprfSuite {
  identifier: string;
  mode: number;
  seed: string;
  keyInfo: string;
  skSm: string;
  vectors: OprfVector[];
}

const all = loadVectors<OprfSuite[]>('rfc9497-oprf.json');
const SUITES: Record<string, SuiteId> = { 'ristretto255-SHA512': 'ristretto255-SHA512', 'P256-SHA256': 'P256-SHA256' };
const mode0 = all.filter((s) => s.mode === 0 && s.identifier in SUITES);

test('the vector file holds the mode-0 suites we implement', () => {
  expect(mode0.map((s) => s.identifier).sort()).toEqual(['P256-SHA256', 'ristretto255-SHA512']);
});

describe.each(mode0.map((s) => [s.identifier, s] as const))('%s, mode 0', (id, s) => {
  const { oprf } = getSuite(SUITES[id]);
  test('DeriveKeyPair(seed, info) gives skSm, with and without the public key', () => {
    expect(toHex(oprf.deriveKeyPair(fromHex(s.seed), fromHex(s.keyInfo)).privateKey)).toBe(s.skSm);
    expect(toHex(oprf.deriveSecretKey(fromHex(s.seed), fromHex(s.keyInfo)))).toBe(s.skSm);
  });
  test("property: deriveSecretKey is the secret half of noble's deriveKeyPair for any seed and info", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 }), (seed, info) => {
        expect(toHex(oprf.deriveSecretKey(seed, info))).toBe(toHex(oprf.deriveKeyPair(seed, info).privateKey));
      }),
      { numRuns: 50 },
    );
  });
  test.each(s.vectors.filter((v) => v.Batch === 1).map((v, i) => [i, v] as const))(
    'vector %i: Blind, BlindEvaluate, Finalize',
    (_i, v) => {
      const input = fromHex(v.Input);
      const blinded = oprf.blind(input, fromHex(v.Blind));
      expect(toHex(blinded)).toBe(v.BlindedElement);
      const evaluated = oprf.blindEvaluate(fromHex(s.skSm), blinded);
      expect(toHex(evaluated)).toBe(v.EvaluationElement);
      expect(toHex(oprf.finalize(input, fromHex(v.Blind), evaluated))).toBe(v.Output);
    },
  );
  test('the identity element and off-curve encodings are refused with InvalidPoint or MalformedMessage', () => {
    const identity = new Uint8Array(oprf.Noe); // ristretto255 identity encodes as zeros; for P-256 zeros is not a point
    for (const bad of [identity, new Uint8Array(oprf.Noe).fill(0xff), new Uint8Array(oprf.Noe - 1)]) {
      let caught: unknown;
      try {
        oprf.blindEvaluate(fromHex(s.skSm), bad);
      } catch (e) {
        caught = e;
      }
      expect(isVaultError(caught, 'InvalidPoint') || isVaultError(caught, 'MalformedMessage')).toBe(true);
    }
  });
  test('property: any random blind gives the same output as the unblinded evaluation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 48, maxLength: 48 }), (input, seed) => {
        const blind = oprf.randomScalar(() => seed);
        const out = oprf.finalize(input, blind, oprf.blindEvaluate(fromHex(s.skSm), oprf.blind(input, blind)));
        const other = oprf.randomScalar(() => seed.map((b) => b ^ 0x5a));
        const out2 = oprf.finalize(input, other, oprf.blindEvaluate(fromHex(s.skSm), oprf.blind(input, other)));
        expect(toHex(out)).toBe(toHex(out2));
      }),
      { numRuns: 25 },
    );
  });
});
