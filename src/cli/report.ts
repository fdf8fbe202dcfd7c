/**
 * `bkv report --out DIR`: the spec as a static site (src/report/site.ts, spec ch. 14.6). Needs
 * spec/ (a checkout, or the package, which ships it); links to the sources when they are there.
 * @module
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSite } from '../report/site.ts';
import { EnvironmentError } from './exit.ts';
import { ROOT } from './paths.ts';

export function reportCommand(out: string, bench: string | undefined, print: (line: string) => void): number {
  if (!existsSync(join(ROOT, 'spec')))
    throw new EnvironmentError(`${join(ROOT, 'spec')} not found: bkv report renders the spec of a checkout`);
  if (bench !== undefined && !existsSync(bench)) throw new EnvironmentError(`--bench: ${bench} not found`);
  const t0 = performance.now();
  const s = buildSite({ root: ROOT, out: resolve(out), ...(bench !== undefined && { bench: resolve(bench) }) });
  const ms = Math.round(performance.now() - t0);
  print(
    `site: ${join(resolve(out), 'index.html')}: ${s.chapters} chapters, ${s.diagrams} diagrams, ${s.rules} rules, ` +
      `${s.pages} pages, ${(s.bytes / 1024).toFixed(0)} KiB (${ms} ms)`,
  );
  return 0;
}
