/**
 * The HTML of the reports (spec ch. 14.6): escaping, the page shell and the one style sheet. Every
 * page is static: it opens from disk, loads nothing from the network, and needs no script except
 * mermaid's where a page has diagrams (assets.ts copies it from node_modules).
 * @module
 */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text (or an attribute value) as HTML. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export interface PageOptions {
  readonly title: string;
  /** Path from the page to the site's root (`""` or `"../"`), for the assets. */
  readonly root?: string;
  /** The page has `<pre class="mermaid">` blocks: load mermaid and draw them. */
  readonly mermaid?: boolean;
  /** Links at the top: [text, href]. */
  readonly nav?: readonly (readonly [string, string])[];
}

/** A whole page around `body`. */
export function page(o: PageOptions, body: string): string {
  const root = o.root ?? '';
  const nav = o.nav?.length
    ? `<nav>${o.nav.map(([t, h]) => `<a href="${esc(h)}">${esc(t)}</a>`).join(' · ')}</nav>`
    : '';
  const scripts = o.mermaid
    ? `<script src="${root}assets/mermaid.tiny.js"></script><script src="${root}assets/diagrams.js"></script>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(o.title)}</title><link rel="stylesheet" href="${root}assets/report.css"></head>
<body>${nav}<main>
${body}
</main>${scripts}</body></html>
`;
}

/** Draws every `pre.mermaid` once the page is loaded; a diagram that fails to parse is a console error. */
export const DIAGRAMS_JS = `// bkv report: draw the mermaid diagrams of the page (mermaid.tiny.js, bundled: no network)
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral' });
mermaid.run({ querySelector: 'pre.mermaid' }).then(
  () => document.body.setAttribute('data-diagrams', 'drawn'),
  (e) => { document.body.setAttribute('data-diagrams', 'failed'); console.error('mermaid:', e); },
);
`;

export const REPORT_CSS = `:root { --ok: #2e7d32; --fail: #9e9e9e; --info: #f9a825; --bad: #c62828; --named: #6a1b9a;
  --crash: #e57373; --partition: #64b5f6; --network: #bdbdbd; --rollback: #8e24aa; --fork: #ff7043; --torn: #d81b60;
  --ink: #1f2328; --muted: #656d76; --line: #d0d7de; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; }
main { max-width: 1400px; margin: 0 auto; padding: 1rem 2rem 4rem; }
nav { padding: .5rem 2rem; border-bottom: 1px solid var(--line); background: #f6f8fa; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
code, pre { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f6f8fa; padding: .6rem .8rem; overflow: auto; border-radius: 6px; }
pre.mermaid { background: none; text-align: center; }
table { border-collapse: collapse; margin: .5rem 0; }
td, th { border: 1px solid var(--line); padding: .2rem .5rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
.figures td:first-child { color: var(--muted); }
.verdict-ok { color: var(--ok); font-weight: 600; } .verdict-bad { color: var(--bad); font-weight: 600; }
.violation-box { border-left: 4px solid var(--bad); background: #fdecea; padding: .5rem .8rem; margin: .5rem 0; }
.violation-box pre { background: #fff; max-height: 18rem; }
.replay code { user-select: all; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg .lane-label { fill: var(--muted); } svg .axis line { stroke: var(--line); }
svg .op.ok { fill: var(--ok); } svg .op.fail { fill: var(--fail); } svg .op.info { fill: var(--info); }
svg .op:hover, svg .step-row:hover { opacity: .75; }
svg .op.named { stroke: var(--named); stroke-width: 3; }
svg .prefix-badge { font-size: 9px; fill: #fff; font-weight: 700; }
svg .band.crash { fill: var(--crash); } svg .band.partition { fill: var(--partition); }
svg .band.network { fill: var(--network); opacity: .5; } svg .band.torn-save { fill: var(--torn); }
svg .mark.rollback { fill: var(--rollback); } svg .mark.fork { fill: var(--fork); }
svg .term { fill: #e8eaf6; stroke: #9fa8da; } svg .term.alt { fill: #c5cae9; }
svg .violation line { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 5 3; }
svg .violation text { fill: var(--bad); font-weight: 700; font-size: 12px; }
svg .lifeline { stroke: var(--line); } svg .msg { stroke: #455a64; fill: none; } svg .msg-head { fill: #455a64; }
svg .fault-band { fill: var(--crash); opacity: .6; } svg .note-dot { fill: #78909c; }
.legend span { display: inline-block; margin-right: 1rem; }
.legend i { display: inline-block; width: .9rem; height: .9rem;
  margin-right: .3rem; vertical-align: -2px; border-radius: 2px; }
.steps { border-collapse: collapse; } .steps td { border: none; border-bottom: 1px solid #eee; padding: 0 .4rem; }
.steps td.t { color: var(--muted); text-align: right; white-space: nowrap; }
.steps td.lbl { font-size: 12px; max-width: 70rem; overflow-wrap: anywhere; }
.steps tr.fault td.lbl { color: var(--bad); } .steps tr.violated td { background: #fdecea; font-weight: 600; }
.steps details summary { cursor: pointer; color: var(--muted); font-size: 12px; }
.steps .state { display: flex; gap: 1rem; flex-wrap: wrap; font-size: 11.5px; }
.steps .state div { border: 1px solid var(--line); border-radius: 4px; padding: .2rem .4rem; min-width: 13rem; }
svg .bar { opacity: .9; } svg .target line { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 4 3; }
svg .target text { fill: var(--bad); }
.rule-link { text-decoration: none; border-bottom: 1px dotted; }
.where { font-size: 12.5px; color: var(--muted); }
.quote-source { font-size: 12px; color: var(--muted); margin-bottom: -.6rem; }
.covered { color: var(--ok); } .uncovered { color: var(--bad); }
`;
