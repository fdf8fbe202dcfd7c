/**
 * Loads the official vectors from `../shared/vectors/` (override: BKV_VECTORS_DIR). A missing
 * folder or file is an error that names it: vector tests fail, they never skip.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function vectorsDir(): string {
  return process.env.BKV_VECTORS_DIR ?? join(ROOT, '../shared/vectors');
}

export function loadVectors<T = unknown>(file: string): T {
  const dir = vectorsDir();
  const path = join(dir, file);
  if (!existsSync(path)) {
    throw new Error(
      `official vectors not found: ${path} (folder ${dir}; set BKV_VECTORS_DIR to the folder holding ${file})`,
    );
  }
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
