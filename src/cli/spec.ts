/**
 * `bkv spec check` and `bkv spec sync`: the quotes in spec/ against their sources (spec ch. 9).
 * Both need a checkout: the package ships neither spec/ nor the TypeScript sources.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkQuotes, syncQuotes } from '../spec/quotes.ts';
import { EnvironmentError } from './exit.ts';
import { ROOT } from './paths.ts';

export { ROOT };

function needCheckout(): void {
  for (const d of ['spec', 'src']) {
    if (!existsSync(join(ROOT, d)))
      throw new EnvironmentError(
        `${join(ROOT, d)} not found: bkv spec needs a checkout of bkv (the package ships no spec/ and no sources)`,
      );
  }
}

export function specSync(print: (line: string) => void): number {
  needCheckout();
  const changed = syncQuotes(ROOT);
  print(changed.length ? `rewrote quotes in ${changed.join(', ')}` : 'every quote is up to date');
  return 0;
}

export function specCheck(print: (line: string) => void): number {
  needCheckout();
  const { quotes, problems } = checkQuotes(ROOT);
  for (const p of problems) print(p.problem);
  print(`${quotes.length} quotes, ${problems.length} out of date`);
  return problems.length === 0 ? 0 : 1;
}
