/**
 * `bkv vectors generate --out DIR` writes the reference vectors (spec ch. 9) where it is told;
 * `bkv vectors verify [DIR]` reruns them through bkv (default: the ones shipped with bkv) and
 * reports every difference; `bkv vectors official [DIR]` runs the official RFC 9807 vectors
 * (default `$BKV_VECTORS_DIR`, else `../shared/vectors` beside the checkout). Under `--json`, one
 * document (spec ch. 14: `bkv-vectors-verify/1`, `bkv-vectors-official/1`).
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateVectors, verifyVectors } from '../vectors/files.ts';
import { checkOpaqueVector, describeVector, type Rfc9807Vector } from '../vectors/rfc9807.ts';
import { UsageError } from './args.ts';
import type { Io } from './command.ts';
import { EnvironmentError } from './exit.ts';
import { DEFAULT_VECTORS_DIR, officialVectorsDir } from './paths.ts';

export { DEFAULT_VECTORS_DIR };

/** The document of `bkv vectors verify --json`. */
export interface VectorsVerifyReport {
  readonly schema: 'bkv-vectors-verify/1';
  readonly dir: string;
  readonly ok: boolean;
  readonly files: readonly { readonly file: string; readonly vectors: number; readonly problems: readonly string[] }[];
  readonly problems: number;
}

/** The document of `bkv vectors official --json`. */
export interface VectorsOfficialReport {
  readonly schema: 'bkv-vectors-official/1';
  readonly file: string;
  readonly ok: boolean;
  readonly vectors: readonly { readonly index: number; readonly name: string; readonly problems: readonly string[] }[];
  readonly passed: number;
  readonly failed: number;
}

function directory(dir: string): string {
  const path = resolve(dir);
  if (!statSync(path).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  return path;
}

export function vectorsGenerate(out: string, io: Io): number {
  const target = resolve(out);
  for (const f of generateVectors(target)) io.print(`wrote ${join(target, f)}`);
  return 0;
}

export function vectorsVerify(dir: string | undefined, io: Io): number {
  const target = directory(dir ?? DEFAULT_VECTORS_DIR);
  const files = verifyVectors(target).map((r) => ({ file: r.file, vectors: r.count, problems: r.problems }));
  const problems = files.reduce((k, f) => k + f.problems.length, 0);
  for (const f of files) {
    io.print(
      `${f.problems.length === 0 ? 'ok  ' : 'FAIL'} ${f.file}: ${f.vectors} vectors` +
        (f.problems.length ? `, ${f.problems.length} problems` : ''),
    );
    for (const p of f.problems.slice(0, 20)) io.print(`       ${p}`);
  }
  io.print(problems === 0 ? `all vectors in ${target} verify` : `${problems} problems in ${target}`);
  const report: VectorsVerifyReport = {
    schema: 'bkv-vectors-verify/1',
    dir: target,
    ok: problems === 0,
    files,
    problems,
  };
  io.json?.(report);
  return problems === 0 ? 0 : 1;
}

export function vectorsOfficial(dir: string | undefined, io: Io): number {
  const folder = dir ?? officialVectorsDir();
  const file = join(resolve(folder), 'rfc9807-opaque.json');
  if (!existsSync(file))
    throw new EnvironmentError(`official vectors not found: ${file} (give the folder, or set BKV_VECTORS_DIR)`);
  let vectors: Rfc9807Vector[];
  try {
    vectors = JSON.parse(readFileSync(file, 'utf8')) as Rfc9807Vector[];
    if (!Array.isArray(vectors)) throw new Error('expected an array of vectors');
  } catch (e) {
    throw new UsageError(`${file}: not RFC 9807 vectors (${(e as Error).message})`);
  }
  const results = vectors.map((v, index) => ({ index, name: describeVector(v), problems: checkOpaqueVector(v) }));
  for (const r of results) {
    io.print(`${r.problems.length === 0 ? 'ok  ' : 'FAIL'} RFC 9807 vector ${r.index}: ${r.name}`);
    for (const p of r.problems) io.print(`       ${p}`);
  }
  const failed = results.filter((r) => r.problems.length > 0).length;
  io.print(`${results.length - failed} of ${results.length} RFC 9807 vectors pass (${file})`);
  const report: VectorsOfficialReport = {
    schema: 'bkv-vectors-official/1',
    file,
    ok: failed === 0 && results.length > 0,
    vectors: results,
    passed: results.length - failed,
    failed,
  };
  io.json?.(report);
  return report.ok ? 0 : 1;
}
