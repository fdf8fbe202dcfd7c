/**
 * Where bkv's own files are: the root of the checkout or of the installed package (the first
 * directory above this module holding a package.json: `src/cli/` in a checkout, `dist/src/cli/`
 * in the package), and the files the commands read from it.
 * @module
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The checkout or the installed package. */
export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** bkv's reference vectors (spec ch. 9): committed in the checkout, shipped in the package. */
export const DEFAULT_VECTORS_DIR = join(ROOT, 'test/vectors');

/**
 * The official vectors (RFC 9807, RFC 9497, Noise): `$BKV_VECTORS_DIR`, else `../shared/vectors`
 * beside the checkout (the tests read the same folder: test/support/vectors.ts).
 */
export function officialVectorsDir(): string {
  const fromEnv = process.env.BKV_VECTORS_DIR;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(ROOT, '../shared/vectors');
}
