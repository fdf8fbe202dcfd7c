/**
 * `npx bkv spec check|sync`: the quotes in spec/ against their sources (spec ch. 9).
 * @module
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkQuotes, syncQuotes } from '../spec/quotes.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

export function specCommand(action: string | undefined, print: (line: string) => void): number {
  if (action === 'sync') {
    const changed = syncQuotes(ROOT);
    print(changed.length ? `rewrote quotes in ${changed.join(', ')}` : 'every quote is up to date');
    return 0;
  }
  const { quotes, problems } = checkQuotes(ROOT);
  for (const p of problems) print(p.problem);
  print(`${quotes.length} quotes, ${problems.length} out of date`);
  return problems.length === 0 ? 0 : 1;
}
