/**
 * Spec and code move together (spec ch. 9): every quote of src/ in spec/ equals its source, and
 * every invariant INV-n defined in spec/ is named by at least one test. Both checks are shown
 * able to fail.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { ROOT } from '../src/cli/spec.ts';
import { checkQuotes, definedInvariants, extractDeclaration, uncoveredInvariants } from '../src/spec/quotes.ts';

const tmp = mkdtempSync(join(tmpdir(), 'bkv-spec-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

test('every quote in spec/ equals its source (fix: npx bkv spec sync)', () => {
  const { quotes, problems } = checkQuotes(ROOT);
  expect(quotes.length).toBeGreaterThan(0);
  expect(problems.map((p) => p.problem)).toEqual([]);
});

test('the quote check can fail: a spec whose quote differs by one character is reported', () => {
  const spec = join(tmp, 'spec');
  cpSync(join(ROOT, 'spec'), spec, { recursive: true });
  const chapter = readdirSync(spec).find((f) => readFileSync(join(spec, f), 'utf8').includes('<!-- quote:'))!;
  const text = readFileSync(join(spec, chapter), 'utf8');
  writeFileSync(join(spec, chapter), text.replace(/(<!-- quote: .*-->\n```\w*\n[^\n]*)\(/, '$1 ('));
  expect(checkQuotes(ROOT, spec).problems.length).toBeGreaterThan(0);
});

test('extractDeclaration finds functions, types and interfaces, and only whole declarations', () => {
  const src =
    'export type A = 1;\nexport interface B {\n  x: 1;\n}\nexport function c() {\n  return 1;\n}\nconst d = 2;\n';
  expect(extractDeclaration(src, 'A')).toBe('export type A = 1;\n');
  expect(extractDeclaration(src, 'B')).toBe('export interface B {\n  x: 1;\n}\n');
  expect(extractDeclaration(src, 'c')).toBe('export function c() {\n  return 1;\n}\n');
  expect(extractDeclaration(src, 'missing')).toBeNull();
  const multiline = 'export function e(\n  x: number,\n): number {\n  return x;\n}\nconst f = 3;\n';
  expect(extractDeclaration(multiline, 'e')).toBe('export function e(\n  x: number,\n): number {\n  return x;\n}\n');
});

const specText = readdirSync(join(ROOT, 'spec'))
  .map((f) => readFileSync(join(ROOT, 'spec', f), 'utf8'))
  .join('\n');
const testFiles = walk(join(ROOT, 'test'))
  .filter((p) => p.endsWith('.ts') && !p.endsWith('spec.test.ts'))
  .map((path) => ({ path, text: readFileSync(path, 'utf8') }));

test('every invariant INV-n defined in spec/ is named by at least one test', () => {
  const invariants = definedInvariants(specText);
  expect(invariants.length).toBeGreaterThan(0);
  expect(uncoveredInvariants(invariants, testFiles)).toEqual([]);
});

test('the coverage check can fail: an invariant no test names is reported', () => {
  expect(uncoveredInvariants(['INV-9999'], testFiles)).toEqual(['INV-9999']);
  expect(definedInvariants('| **INV-1** | x |\n- **INV-22** y')).toEqual(['INV-1', 'INV-22']);
});
