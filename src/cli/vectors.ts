/**
 * `bkv vectors generate [dir]` writes the reference vectors (default `test/vectors/` of this
 * checkout); `bkv vectors verify [dir]` re-runs them through bkv and reports every difference.
 * @module
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateVectors, verifyVectors } from '../vectors/files.ts';

export const DEFAULT_VECTORS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../test/vectors');

export function vectorsCommand(action: string | undefined, dir: string | undefined, print: (line: string) => void): number {
  const target = resolve(dir ?? DEFAULT_VECTORS_DIR);
  if (action === 'generate') {
    for (const f of generateVectors(target)) print(`wrote ${join(target, f)}`);
    return 0;
  }
  if (action === 'verify') {
    let failed = 0;
    for (const r of verifyVectors(target)) {
      print(`${r.problems.length === 0 ? 'ok  ' : 'FAIL'} ${r.file}: ${r.count} vectors${r.problems.length ? `, ${r.problems.length} problems` : ''}`);
      for (const p of r.problems.slice(0, 20)) print(`       ${p}`);
      failed += r.problems.length;
    }
    print(failed === 0 ? `all vectors in ${target} verify` : `${failed} problems in ${target}`);
    return failed === 0 ? 0 : 1;
  }
  print('usage: npx bkv vectors generate|verify [dir]');
  return 2;
}
