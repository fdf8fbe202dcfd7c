/**
 * Spec and code do not drift. A spec chapter quotes code from `src/` with a marker naming its
 * source, and the quote must equal the source's current text:
 *
 *   <!-- quote: src/vault/records.ts applyCommand -->
 *   ```ts
 *   ...the declaration, exactly...
 *   ```
 *
 * `checkQuotes` reports every quote that differs; `syncQuotes` (npx bkv spec sync) rewrites them
 * from the sources. A declaration runs from its `function`/`const`/`class`/`interface`/`type` line
 * to the first closing line at column 0.
 * @module
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MARKER = /<!-- quote: (\S+) (\S+) -->\n```(\w*)\n([\s\S]*?)```/g;

export interface Quote {
  readonly chapter: string;
  readonly source: string;
  readonly name: string;
  readonly text: string;
}

/** The text of declaration `name` in `source`, or null when there is none. */
export function extractDeclaration(source: string, name: string): string | null {
  const lines = source.split('\n');
  const head = new RegExp(
    `^(export )?(declare )?(async )?(function\\*?|const|let|class|interface|type|enum) ${name}\\b`,
  );
  const start = lines.findIndex((l) => head.test(l));
  if (start < 0) return null;
  for (let i = start; i < lines.length; i++) {
    const l = lines[i]!;
    // a line at column 0 closes the declaration, unless it opens a body (`): void {`, a signature on several lines)
    const closes = i === start ? /;\s*$/.test(l) && !/[{(]\s*$/.test(l) : /^[})\]]/.test(l) && !/\{\s*$/.test(l);
    if (closes) return lines.slice(start, i + 1).join('\n') + '\n';
  }
  return null;
}

export function findQuotes(chapter: string, markdown: string): Quote[] {
  return [...markdown.matchAll(MARKER)].map((m) => ({ chapter, source: m[1]!, name: m[2]!, text: m[4]! }));
}

function chapters(specDir: string): string[] {
  return readdirSync(specDir)
    .filter((f) => f.endsWith('.md'))
    .sort();
}

export interface QuoteProblem {
  readonly quote: Quote;
  readonly problem: string;
}

export function checkQuotes(root: string, specDir = join(root, 'spec')): { quotes: Quote[]; problems: QuoteProblem[] } {
  const quotes = chapters(specDir).flatMap((c) => findQuotes(c, readFileSync(join(specDir, c), 'utf8')));
  const problems: QuoteProblem[] = [];
  for (const q of quotes) {
    let source: string;
    try {
      source = readFileSync(join(root, q.source), 'utf8');
    } catch {
      problems.push({ quote: q, problem: `${q.chapter}: quoted source ${q.source} does not exist` });
      continue;
    }
    const decl = extractDeclaration(source, q.name);
    if (decl === null) problems.push({ quote: q, problem: `${q.chapter}: ${q.source} has no declaration ${q.name}` });
    else if (decl !== q.text)
      problems.push({
        quote: q,
        problem: `${q.chapter}: the quote of ${q.name} differs from ${q.source} (run: npx bkv spec sync)`,
      });
  }
  return { quotes, problems };
}

/** Rewrites every quote from its source; returns the chapters changed. */
export function syncQuotes(root: string, specDir = join(root, 'spec')): string[] {
  const changed: string[] = [];
  for (const c of chapters(specDir)) {
    const path = join(specDir, c);
    const md = readFileSync(path, 'utf8');
    const next = md.replace(MARKER, (all, source: string, name: string, lang: string) => {
      const decl = extractDeclaration(readFileSync(join(root, source), 'utf8'), name);
      return decl === null ? all : `<!-- quote: ${source} ${name} -->\n\`\`\`${lang}\n${decl}\`\`\``;
    });
    if (next !== md) {
      writeFileSync(path, next);
      changed.push(c);
    }
  }
  return changed;
}

/** Invariant names `INV-n` defined in a chapter (as `**INV-n**` at the start of a table row or item). */
export function definedInvariants(markdown: string): string[] {
  return [...new Set([...markdown.matchAll(/\*\*(INV-\d+)\*\*/g)].map((m) => m[1]!))];
}

/** The invariants of `names` that no file in `testFiles` mentions. */
export function uncoveredInvariants(
  names: readonly string[],
  testFiles: readonly { path: string; text: string }[],
): string[] {
  return names.filter((n) => !testFiles.some((f) => new RegExp(`\\b${n}\\b`).test(f.text)));
}
