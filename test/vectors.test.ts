/**
 * bkv's reference vectors (test/vectors/, spec ch. 9): the committed files verify, the generator
 * reproduces them byte for byte (no drift), and the verifier is shown able to fail.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DEFAULT_VECTORS_DIR } from '../src/cli/vectors.ts';
import { VECTOR_FILES, renderVectorFile, verifyVectors } from '../src/vectors/files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'bkv-vectors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(VECTOR_FILES.map((f) => [f.file, f] as const))('%s', (file, f) => {
  test('the committed file is exactly what the generator writes (regenerate: npx bkv vectors generate)', () => {
    expect(readFileSync(join(DEFAULT_VECTORS_DIR, file), 'utf8')).toBe(renderVectorFile(f));
  });
});

test('every committed vector verifies', () => {
  const reports = verifyVectors(DEFAULT_VECTORS_DIR);
  expect(reports.map((r) => r.file).sort()).toEqual(VECTOR_FILES.map((f) => f.file).sort());
  for (const r of reports) {
    expect(r.problems).toEqual([]);
    expect(r.count).toBeGreaterThan(0);
  }
});

test('the verifier can fail: one changed hex digit in each file is reported', () => {
  cpSync(DEFAULT_VECTORS_DIR, tmp, { recursive: true });
  for (const f of VECTOR_FILES) {
    const path = join(tmp, f.file);
    const text = readFileSync(path, 'utf8');
    // change the last hex digit of the first 64-hex-digit value in an output-like position
    const m = /"(KE2|ciphertext|handshake_hash|post|bytes|transcriptHash)": ?"([0-9a-f]{8,})"/.exec(text) ?? /"([0-9a-f]{16,})"/.exec(text);
    expect(m).not.toBeNull();
    const value = m![m!.length - 1]!;
    const flipped = value.slice(0, -1) + (value.endsWith('0') ? '1' : '0');
    writeFileSync(path, text.replace(value, flipped));
  }
  const reports = verifyVectors(tmp);
  for (const r of reports) expect(r.problems.length, r.file).toBeGreaterThan(0);
});
