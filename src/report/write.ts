/**
 * `writeRunReport(dir, report)`: a run report (format.ts) as a folder that opens from disk
 * (spec ch. 14.6): `report.json` (the data), `index.html` (the figures, then each run: verdict,
 * replay command, violation, timeline, linearizability, counterexample) and `assets/report.css`.
 * No script: the timeline and the steps are SVG and HTML written here. `bkv check --report DIR`
 * writes one; `bkv explore` and `bkv chaos` build a `RunReport` from their own records and call it.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_REPORT_SCHEMA, type ReportRun, type RunReport } from './format.ts';
import { REPORT_CSS, esc, page } from './html.ts';
import { renderCounterexample } from './steps.ts';
import { TIMELINE_LEGEND, renderTimeline } from './timeline.ts';

/** Writes the report's folder; returns the path of its index.html. */
export function writeRunReport(dir: string, report: RunReport): string {
  if (report.schema !== RUN_REPORT_SCHEMA)
    throw new TypeError(`report: schema expected ${RUN_REPORT_SCHEMA}, got ${String(report.schema)}`);
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'assets', 'report.css'), REPORT_CSS);
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 1) + '\n');
  const index = join(dir, 'index.html');
  writeFileSync(index, renderRunReport(report));
  return index;
}

export function renderRunReport(r: RunReport): string {
  const verdict = r.ok ? '<span class="verdict-ok">ok</span>' : '<span class="verdict-bad">FAILED</span>';
  const figures = r.figures.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('');
  const toc = r.runs.map(
    (x) =>
      `<li><a href="#${esc(x.id)}">${esc(x.title)}</a> ` +
      `${x.ok ? 'ok' : `<b>${esc(x.violation?.invariant ?? 'failed')}</b>`}</li>`,
  );
  const body = [
    `<h1>${esc(r.title)}</h1>`,
    `<p>${verdict} · <code>${esc(r.command)}</code> · data: <a href="report.json">report.json</a></p>`,
    `<table class="figures">${figures}</table>`,
    r.runs.length ? `<h2>Runs</h2><ul>${toc.join('')}</ul>` : '<p>No run to show.</p>',
    ...r.runs.map(renderRun),
  ];
  return page({ title: r.title }, body.join('\n'));
}

function renderRun(run: ReportRun): string {
  const out = [`<section class="run" id="${esc(run.id)}"><h2>${esc(run.title)}</h2>`];
  const verdict = run.ok
    ? '<span class="verdict-ok">checks passed</span> (a sample run)'
    : '<span class="verdict-bad">failed</span>';
  out.push(`<p>${verdict}</p>`);
  if (run.replay) out.push(`<p class="replay">replay: <code>${esc(run.replay.command)}</code></p>`);
  const v = run.violation;
  if (v) {
    const why = v.why
      ? `<p>${esc(v.why)}: ${v.operations.length ? v.operations.map((id) => `#${id}`).join(', ') : 'none'}</p>`
      : '';
    out.push(
      `<div class="violation-box" ` +
        `data-invariant="${esc(v.invariant)}"><b>${esc(v.invariant)}</b>${why}<pre>${esc(v.detail)}</pre></div>`,
    );
  }
  if (run.timeline) {
    out.push('<h3>Timeline</h3>', TIMELINE_LEGEND);
    out.push(`<div class="scroll">${renderTimeline(run.timeline, v, run.linearizability)}</div>`);
  }
  const lin = run.linearizability;
  if (lin) {
    out.push(
      `<h3>Linearizability: credential ${esc(lin.partition)}</h3><p>The ` +
        `longest linearizable prefix (numbered on the timeline):</p><ol>`,
    );
    out.push(
      ...lin.longest.map((s) => `<li><code>${esc(s.label)}</code> ⇒ <code>${esc(s.state)}</code></li>`),
      '</ol>',
    );
    out.push(
      '<p>None of these can come next:</p><ul>',
      ...lin.stuck.map((s) => `<li><code>${esc(s.label)}</code></li>`),
      '</ul>',
    );
  }
  if (run.counterexample) {
    out.push(
      '<h3>Steps</h3><p class="where">The end of the run, step by step; ' +
        "each step's <i>state</i> unfolds the state of every replica after it.</p>",
    );
    out.push(renderCounterexample(run.counterexample, v?.detail));
  }
  if (run.schedule) out.push(`<details><summary>schedule</summary><pre>${esc(run.schedule)}</pre></details>`);
  out.push('</section>');
  return out.join('\n');
}
