/**
 * The deployment directory `bkv fleet deploy --out <dir>` writes and `bkv audit <dir>` reads
 * (spec ch. 8, "The files"):
 *
 *   roots.json                 the pinned keys: witness, operator, vendor root; the namespace
 *   log.json                   the witness log: its namespace, ciphersuite and root, the entries
 *                              (statement bytes in hex), tree heads, and each head's consistency
 *                              proof from the previous one
 *   bundles/epoch-0001.json    per epoch, the fleet info as served then: bundle, tree head, inclusion proof
 *   evidence/<fleetId>.json    per fleet, the deployment evidence
 *
 * Files are pretty-printed JSON; what is hashed or signed inside them is canonical JSON or the
 * auditor's binary statements, so the layout of a file does not matter and every value in it does.
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { DeploymentRecord } from './deployment.ts';

export const ROOTS_FILE = 'roots.json';
export const LOG_FILE = 'log.json';

export function bundleFileName(epoch: number): string {
  return `bundles/epoch-${String(epoch).padStart(4, '0')}.json`;
}

export function evidenceFileName(fleetId: string): string {
  return `evidence/${fleetId}.json`;
}

const pretty = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;

/** The files of a record, by relative path (forward slashes). */
export function encodeDeploymentFiles(record: DeploymentRecord): Map<string, string> {
  const files = new Map<string, string>();
  files.set(ROOTS_FILE, pretty(record.roots));
  files.set(LOG_FILE, pretty(record.log));
  record.bundles.forEach((info, i) => files.set(bundleFileName(i + 1), pretty(info)));
  for (const e of record.evidence) files.set(evidenceFileName(e.fleetId), pretty(e));
  return files;
}

export function writeDeploymentFiles(dir: string, files: ReadonlyMap<string, string>): string[] {
  for (const [path, text] of files) {
    const full = join(dir, ...path.split('/'));
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return [...files.keys()];
}

/** Every file under `dir`, by relative path (forward slashes). */
export function readDeploymentFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else files.set(relative(dir, full).split(sep).join('/'), readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return files;
}
