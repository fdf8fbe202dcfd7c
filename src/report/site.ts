/**
 * `bkv report --out DIR`: the spec as a static site (spec ch. 14.6), to open from disk.
 *
 *   chapters   each spec/NN-*.md rendered (marked), its mermaid blocks drawn in the browser by the
 *              bundled mermaid, its quoted code headed by a link to the quoted module; every rule
 *              (G1..G5, INV-n) named in the text links to the rules page
 *   rules      each rule with its statement, the chapters that name it, and the modules and tests
 *              that name it, each a link to the line in a page of that file (code/)
 *   machines   each XState machine of model/ as a state diagram, the transitions the conformance
 *              tests' paths take marked (model/path-coverage.ts), with its table of transitions
 *   figures    the bench results as charts (bench.ts)
 *
 * The pages are HTML written here; the one script is mermaid's (assets/mermaid.tiny.js, copied
 * from node_modules: no CDN, no network).
 * @module
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Marked, type Tokens } from 'marked';
import { listTransitions } from '../../model/coverage.ts';
import { MACHINES } from '../../model/docs.ts';
import { renderMermaid, transitionLabel } from '../../model/mermaid.ts';
import { machinePathCoverage } from '../../model/path-coverage.ts';
import { type BenchResults, renderBench } from './bench.ts';
import { DIAGRAMS_JS, REPORT_CSS, esc, page } from './html.ts';

export interface SiteOptions {
  /** The checkout (or installed package) whose spec/ is rendered; src/, model/ and test/ are linked when present. */
  readonly root: string;
  readonly out: string;
  /** A bench results file (default bench/results.json of the root, when there is one). */
  readonly bench?: string;
}

export interface SiteSummary {
  readonly pages: number;
  readonly chapters: number;
  readonly diagrams: number;
  readonly rules: number;
  readonly bytes: number;
}

const RULE = /\b(INV-\d+|G[1-5])\b/g;
const QUOTE = /<!-- quote: (\S+) (\S+) -->/g;
const NAV: readonly (readonly [string, string])[] = [
  ['contents', 'index.html'],
  ['rules', 'rules.html'],
  ['machines', 'machines.html'],
  ['figures', 'bench.html'],
];

export function buildSite(o: SiteOptions): SiteSummary {
  const specDir = join(o.root, 'spec');
  const chapters = readdirSync(specDir)
    .filter((f) => /^\d+-.*\.md$/.test(f))
    .sort();
  mkdirSync(join(o.out, 'assets'), { recursive: true });
  writeAssets(o.out);
  const written: string[] = [];
  const write = (name: string, html: string) => {
    mkdirSync(dirname(join(o.out, name)), { recursive: true });
    writeFileSync(join(o.out, name), html);
    written.push(name);
  };
  const sources = scanSources(o.root);
  const codePages = new Set<string>();
  const codeLink = (file: string, line?: number) => {
    if (!existsSync(join(o.root, file))) return null;
    codePages.add(file);
    return `code/${file}.html${line ? `#L${line}` : ''}`;
  };
  let diagrams = 0;
  const titles: [string, string][] = [];
  const named = new Map<string, Set<string>>();
  for (const c of chapters) {
    const md = readFileSync(join(specDir, c), 'utf8');
    const html = renderChapter(md, o.root, codeLink);
    diagrams += (html.match(/<pre class="mermaid">/g) ?? []).length;
    const title = /^# (.*)$/m.exec(md)?.[1] ?? c;
    titles.push([c.replace(/\.md$/, '.html'), title]);
    for (const m of md.matchAll(RULE))
      named.set(m[1]!, (named.get(m[1]!) ?? new Set()).add(c.replace(/\.md$/, '.html')));
    write(c.replace(/\.md$/, '.html'), page({ title, mermaid: true, nav: NAV }, linkRules(html)));
  }
  const statements = ruleStatements(specDir);
  const rules = [...new Set([...statements.keys(), ...named.keys()])].sort(ruleOrder);
  write(
    'rules.html',
    page({ title: 'bkv: the rules', nav: NAV }, renderRules(rules, statements, named, sources, codeLink, titles)),
  );
  const machines = renderMachines();
  diagrams += machines.diagrams;
  write('machines.html', page({ title: 'bkv: the machines', mermaid: true, nav: NAV }, machines.html));
  const benchFile = o.bench ?? join(o.root, 'bench', 'results.json');
  const bench = existsSync(benchFile)
    ? renderBench(JSON.parse(readFileSync(benchFile, 'utf8')) as BenchResults)
    : `<p>No bench results at ${esc(benchFile)}: <code>npm run ` +
      `bench -- --out bench/results.json</code> writes them.</p>`;
  write('bench.html', page({ title: 'bkv: figures', nav: NAV }, `<h1>Figures</h1>\n${bench}`));
  for (const file of codePages) write(`code/${file}.html`, renderCode(o.root, file));
  const toc = titles.map(([href, t]) => `<li><a href="${esc(href)}">${esc(t)}</a></li>`).join('');
  const index = [
    '<h1>bkv: an executable reference specification of an HSM-based Backup Key Vault</h1>',
    `<h2>The chapters</h2><ol class="toc">${toc}</ol>`,
    `<h2>Beside them</h2><ul><li><a href="rules.html">the rules</a>: ` +
      `${rules.length} rules, where each is stated, implemented and tested</li>`,
    '<li><a href="machines.html">the machines</a>: ' +
      'the XState models as state diagrams, with their covered transitions</li>',
    '<li><a href="bench.html">the figures</a>: bkv against the ' +
      'peers and the floor, the replicated vault, the targets</li></ul>',
  ].join('\n');
  write('index.html', page({ title: 'bkv: the specification', nav: NAV }, index));
  const bytes = dirBytes(o.out);
  return { pages: written.length, chapters: chapters.length, diagrams, rules: rules.length, bytes };
}

/** mermaid's bundle, the style sheet and the script that draws the diagrams. */
export function writeAssets(out: string): void {
  const require = createRequire(import.meta.url);
  copyFileSync(require.resolve('@mermaid-js/tiny'), join(out, 'assets', 'mermaid.tiny.js'));
  writeFileSync(join(out, 'assets', 'report.css'), REPORT_CSS);
  writeFileSync(join(out, 'assets', 'diagrams.js'), DIAGRAMS_JS);
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\w]+/g, '-')
    .replace(/^-|-$/g, '');

/** A chapter as HTML: mermaid blocks left for the browser, headings with ids, links to chapters and modules. */
export function renderChapter(
  md: string,
  root: string,
  codeLink: (file: string, line?: number) => string | null,
): string {
  const marked = new Marked({
    renderer: {
      code({ text, lang }: Tokens.Code) {
        if (lang === 'mermaid') return `<pre class="mermaid">${esc(text)}</pre>\n`;
        return `<pre><code${lang ? ` class="language-${esc(lang)}"` : ''}>${esc(text)}</code></pre>\n`;
      },
      heading({ tokens, depth }: Tokens.Heading) {
        const inner = this.parser.parseInline(tokens);
        return `<h${depth} id="${slug(inner)}">${inner}</h${depth}>\n`;
      },
      link({ href, title, tokens }: Tokens.Link) {
        const inner = this.parser.parseInline(tokens);
        const target = chapterHref(href, codeLink);
        return `<a href="${esc(target)}"${title ? ` title="${esc(title)}"` : ''}>${inner}</a>`;
      },
    },
  });
  const withSources = md.replace(QUOTE, (_whole, file: string, name: string) => {
    const href = codeLink(file, declarationLine(root, file, name));
    const where = href ? `<a href="${esc(href)}">${esc(file)}</a>` : esc(file);
    return `<p class="quote-source">quoted from ${where} <code>${esc(name)}</code></p>\n`;
  });
  return marked.parse(withSources, { async: false });
}

/** The line of a quoted declaration, for the link (the quote itself is checked by `bkv spec check`). */
function declarationLine(root: string, file: string, name: string): number | undefined {
  if (!existsSync(join(root, file))) return undefined;
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const k = lines.findIndex((l) =>
    new RegExp(`^(export )?(declare )?(async )?(function\\*?|const|let|class|interface|type|enum) ${name}\\b`).test(l),
  );
  return k < 0 ? undefined : k + 1;
}

/** `06-replication.md#x` -> `06-replication.html#x`; `../src/x.ts` -> its code page. */
function chapterHref(href: string, codeLink: (file: string) => string | null): string {
  const chapter = /^(?:\.\/)?(\d+-[\w-]+)\.md(#.*)?$/.exec(href);
  if (chapter) return `${chapter[1]}.html${chapter[2] ?? ''}`;
  const file = /^(?:\.\.\/)((?:src|model|test|bench)\/[\w./-]+\.ts)(?:#.*)?$/.exec(href);
  return (file && codeLink(file[1]!)) ?? href;
}

/** Every rule named in the text (outside links, code and diagrams) links to the rules page. */
export function linkRules(html: string): string {
  let skip = 0;
  return html
    .split(/(<[^>]+>)/)
    .map((part) => {
      if (part.startsWith('<')) {
        if (/^<(a|code|pre)[\s>]/.test(part)) skip++;
        else if (/^<\/(a|code|pre)>/.test(part)) skip = Math.max(0, skip - 1);
        return part;
      }
      return skip > 0 ? part : part.replace(RULE, (r) => `<a class="rule-link" href="rules.html#${r}">${r}</a>`);
    })
    .join('');
}

function ruleOrder(a: string, b: string): number {
  const key = (r: string) => (r.startsWith('G') ? Number(r.slice(1)) : 100 + Number(r.slice(4)));
  return key(a) - key(b);
}

/** INV-n from the table of ch. 12, Gn from the list of ch. 5. */
function ruleStatements(specDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(specDir)
    .filter((x) => x.endsWith('.md'))
    .sort()) {
    const md = readFileSync(join(specDir, f), 'utf8');
    for (const m of md.matchAll(/^\| \*\*(INV-\d+)\*\* \| (.*?) \| (.*?) \|$/gm)) out.set(m[1]!, `${m[2]} (${m[3]})`);
    for (const m of md.matchAll(/^- \*\*(G[1-5])\.?\*\*\.? (.*)$/gm)) if (!out.has(m[1]!)) out.set(m[1]!, m[2]!);
  }
  return out;
}

interface SourceHit {
  readonly file: string;
  readonly line: number;
}

/** The first line of each file of src/, model/ and test/ that names each rule. */
function scanSources(root: string): Map<string, SourceHit[]> {
  const out = new Map<string, SourceHit[]>();
  const walk = (dir: string): string[] =>
    !existsSync(join(root, dir))
      ? []
      : readdirSync(join(root, dir)).flatMap((n) => {
          const p = `${dir}/${n}`;
          return statSync(join(root, p)).isDirectory()
            ? n === 'vectors' || n === 'node_modules'
              ? []
              : walk(p)
            : p.endsWith('.ts')
              ? [p]
              : [];
        });
  for (const file of [...walk('src'), ...walk('model'), ...walk('test')]) {
    const seen = new Set<string>();
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((l, k) => {
        for (const m of l.matchAll(RULE)) {
          if (seen.has(m[1]!)) continue;
          seen.add(m[1]!);
          out.set(m[1]!, [...(out.get(m[1]!) ?? []), { file, line: k + 1 }]);
        }
      });
  }
  return out;
}

/** A statement's inline markdown (code spans, emphasis) as HTML. */
function statement(md: string | undefined): string {
  return md === undefined
    ? '(named in the text; stated in the chapters below)'
    : new Marked().parseInline(md, { async: false });
}

function renderRules(
  rules: readonly string[],
  statements: ReadonlyMap<string, string>,
  named: ReadonlyMap<string, ReadonlySet<string>>,
  sources: ReadonlyMap<string, readonly SourceHit[]>,
  codeLink: (file: string, line?: number) => string | null,
  titles: readonly [string, string][],
): string {
  const title = new Map(titles);
  const link = (h: SourceHit) => {
    const href = codeLink(h.file, h.line);
    return href ? `<a href="${esc(href)}">${esc(h.file)}:${h.line}</a>` : `${esc(h.file)}:${h.line}`;
  };
  const rows = rules.map((r) => {
    const hits = sources.get(r) ?? [];
    const mods = hits.filter((h) => !h.file.startsWith('test/'));
    const tests = hits.filter((h) => h.file.startsWith('test/'));
    const chapters = [...(named.get(r) ?? [])].sort().map((c) => `<a href="${c}">${esc(title.get(c) ?? c)}</a>`);
    return [
      `<section class="rule" id="${r}"><h2>${r}</h2><p>${statement(statements.get(r))}</p>`,
      `<p class="where">stated or named in: ${chapters.join(', ') || 'none'}</p>`,
      `<p class="where">modules: ${mods.map(link).join(', ') || 'none'}</p>`,
      `<p class="where">tests: ${tests.map(link).join(', ') || 'none'}</p></section>`,
    ].join('\n');
  });
  return (
    `<h1>The rules</h1><p>G1–G5 (spec ch. 5) and the invariants INV-n (spec ch. 12): ` +
    `where each is stated, and the modules and tests that name it.</p>\n${rows.join('\n')}`
  );
}

/** The machines of model/ as state diagrams, the transitions the conformance paths take marked. */
function renderMachines(): { html: string; diagrams: number } {
  const parts = [
    '<h1>The machines</h1>',
    '<p>Each XState machine of <code>model/</code> (spec ch. 10) as a state diagram drawn from its definition. ',
    'A transition taken by the paths of its conformance test (<code>model/path-coverage.ts</code>: ' +
      'every shortest path, then one per transition they miss) is marked ✓, one never taken ✗.</p>',
  ];
  for (const m of MACHINES) {
    const covered = machinePathCoverage(m.name);
    const mark = (id: string) => (covered === null ? '' : covered.has(id) ? ' ✓' : ' ✗');
    const transitions = listTransitions(m.machine);
    const diagram = renderMermaid(m.machine, (t) => mark(t.id));
    const n = covered === null ? null : transitions.filter((t) => covered.has(t.id)).length;
    const rows = transitions.map((t) => {
      const cls = covered === null ? '' : covered.has(t.id) ? 'covered' : 'uncovered';
      const target = t.targets.map((x) => x.split('.').slice(1).join('.')).join(', ') || '(stays)';
      const source = esc(t.source.split('.').slice(1).join('.') || '(any)');
      const label = esc(transitionLabel(t));
      const taken = mark(t.id).trim() || '–';
      return `<tr class="${cls}"><td>${source}</td><td>${label}</td><td>${esc(target)}</td><td>${taken}</td></tr>`;
    });
    parts.push(
      `<section class="machine" id="machine-${esc(m.name)}" data-states="${esc(stateNames(m.machine).join(' '))}">`,
    );
    parts.push(`<h2>${esc(m.machine.id)} <small>(${esc(m.module)})</small></h2>`);
    parts.push(`<p>${transitions.length} transitions${n === null ? '' : `, ${n} taken by the conformance paths`}.</p>`);
    parts.push(`<pre class="mermaid">${esc(diagram)}</pre>`);
    parts.push(
      `<details><summary>transitions</summary><table><tr><th>from</th><th>event [guard] / ` +
        `actions</th><th>to</th><th>taken</th></tr>${rows.join('')}</table></details></section>`,
    );
  }
  return { html: parts.join('\n'), diagrams: MACHINES.length };
}

function stateNames(machine: (typeof MACHINES)[number]['machine']): string[] {
  const out: string[] = [];
  const walk = (node: { states: Record<string, unknown>; key: string }, top: boolean) => {
    if (!top) out.push(node.key);
    for (const c of Object.values(node.states)) walk(c as typeof node, false);
  };
  walk(machine.root as unknown as { states: Record<string, unknown>; key: string }, true);
  return out;
}

/** A source file as a page with a line anchor per line. */
function renderCode(root: string, file: string): string {
  const depth = file.split('/').length; // code/<file>: one level per folder, plus code/
  const back = '../'.repeat(depth);
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const body = lines
    .map(
      (l, k) =>
        `<span id="L${k + 1}"><a class="ln" href="#L${k + 1}">${String(k + 1).padStart(4)}</a>  ${esc(l)}</span>`,
    )
    .join('\n');
  return page(
    { title: file, root: back, nav: NAV.map(([t, h]) => [t, back + h] as const) },
    `<h1>${esc(file)}</h1><pre class="code">${body}</pre>`,
  );
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, name) => {
    const p = join(dir, name);
    const s = statSync(p);
    return n + (s.isDirectory() ? dirBytes(p) : s.size);
  }, 0);
}
