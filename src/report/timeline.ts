/**
 * A history as a timeline, in SVG (the view of Jepsen's and porcupine's reports): leader terms on
 * top, a lane per replica with its fault bands, a lane per client with its operations as bars from
 * invocation to completion, coloured by outcome (ok, fail, info: an `info` bar runs to the end).
 * Hovering a bar or a band shows its details (SVG titles). For a violation: a dashed line at the
 * moment it was seen, labelled with its INV-n; the operations the checker names outlined; the
 * operations of the longest linearizable prefix numbered in their linearization order.
 * @module
 */
import type { Linearizability, ReportViolation, Timeline } from './format.ts';
import { esc } from './html.ts';

const LABEL_W = 150;
const TERM_H = 18;
const REPLICA_H = 16;
const CLIENT_H = 22;
const AXIS_H = 24;
const TOP = 18;

/** The plot's width: wider for longer runs, within reason. */
const plotWidth = (t: Timeline) => Math.round(Math.min(3000, Math.max(1000, t.operations.length * 8)));

export function renderTimeline(t: Timeline, violation?: ReportViolation, lin?: Linearizability): string {
  const w = plotWidth(t);
  const x = (v: number) => LABEL_W + (Math.max(0, Math.min(v, t.end)) / t.end) * w;
  const replicaTop = TOP + TERM_H + 6;
  const clientTop = replicaTop + t.replicas.length * REPLICA_H + (t.replicas.length ? 8 : 0);
  const height = clientTop + t.clients.length * CLIENT_H + AXIS_H;
  const out: string[] = [];
  out.push(`<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + w + 20}" height="${height}">`);
  // leader terms
  out.push(`<text class="lane-label" x="4" y="${TOP + 13}">leader terms</text><g class="terms">`);
  for (const [k, term] of t.terms.entries()) {
    const x0 = x(term.start);
    const tw = Math.max(1, x(term.end) - x0);
    const tip = `term ${term.term}: ${term.leader} leads from ${term.start} to ${term.end} ${t.unit}`;
    out.push(
      `<g><rect class="term${k % 2 ? ' alt' : ''}" x="${x0}" y="${TOP}" ` +
        `width="${tw}" height="${TERM_H}"><title>${esc(tip)}</title></rect>`,
    );
    if (tw > 34) out.push(`<text x="${x0 + 3}" y="${TOP + 13}">t${term.term} ${esc(term.leader)}</text>`);
    out.push('</g>');
  }
  out.push('</g>');
  // replica lanes and fault bands
  t.replicas.forEach((r, i) => {
    const y = replicaTop + i * REPLICA_H;
    out.push(`<text class="lane-label" x="4" y="${y + 12}">${esc(r)}</text>`);
    out.push(
      `<line class="lifeline" x1="${LABEL_W}" x2="${LABEL_W + w}" ` +
        `y1="${y + REPLICA_H / 2}" y2="${y + REPLICA_H / 2}"/>`,
    );
  });
  out.push('<g class="faults">');
  for (const f of t.faults) {
    for (const r of f.replicas) {
      const y = replicaTop + r * REPLICA_H;
      const kind = esc(f.kind);
      if (f.end === null) {
        const cx = x(f.start);
        const d =
          `M${cx} ${y + 1} L${cx + 6} ${y + REPLICA_H / 2} L${cx} ` +
          `${y + REPLICA_H - 1} L${cx - 6} ${y + REPLICA_H / 2} Z`;
        out.push(`<path class="mark ${kind}" d="${d}"><title>${esc(f.label)}</title></path>`);
      } else {
        const bw = Math.max(2, x(f.end) - x(f.start));
        out.push(
          `<rect class="band ${kind}" x="${x(f.start)}" y="${y + 2}" width="${bw}" ` +
            `height="${REPLICA_H - 4}"><title>${esc(f.label)}</title></rect>`,
        );
      }
    }
  }
  out.push('</g>');
  // client lanes
  const lane = new Map(t.clients.map((c, i) => [c, i]));
  const named = new Set(violation?.operations ?? []);
  const order = new Map<number, number[]>();
  lin?.longest.forEach((s, k) => order.set(s.op, [...(order.get(s.op) ?? []), k + 1]));
  t.clients.forEach((c, i) =>
    out.push(`<text class="lane-label" x="4" y="${clientTop + i * CLIENT_H + 15}">${esc(c)}</text>`),
  );
  out.push('<g class="operations">');
  for (const o of t.operations) {
    const y = clientTop + (lane.get(o.client) ?? 0) * CLIENT_H + 3;
    const x0 = x(o.start);
    const bw = Math.max(3, x(o.end ?? t.end) - x0);
    const when = `${o.start}–${o.end === null ? '∞' : o.end} ${t.unit}`;
    const tip = [`#${o.id} ${o.client} on ${o.credential}: ${o.input} -> ${o.output} [${when}]`, ...(o.notes ?? [])];
    if (named.has(o.id)) tip.push(`named by the ${violation!.invariant} check`);
    const steps = order.get(o.id);
    if (steps) tip.push(`linearization step ${steps.join(', ')} of the longest prefix`);
    const cls = `op ${o.completion}${named.has(o.id) ? ' named' : ''}${steps ? ' prefix' : ''}`;
    const rect =
      `<rect class="${cls}" data-op="${o.id}" x="${x0}" ` + `y="${y}" width="${bw}" height="${CLIENT_H - 6}" rx="3">`;
    out.push(`<g>${rect}<title>${esc(tip.join('\n'))}</title></rect>`);
    const text = steps ? steps.join(',') : bw > 60 ? o.input : '';
    if (text)
      out.push(
        `<text class="${steps ? 'prefix-badge' : ''}" x="${x0 + 3}" ` +
          `y="${y + 12}" pointer-events="none">${esc(text)}</text>`,
      );
    out.push('</g>');
  }
  out.push('</g>');
  // axis
  const axisY = clientTop + t.clients.length * CLIENT_H + 4;
  out.push(`<g class="axis"><line x1="${LABEL_W}" x2="${LABEL_W + w}" y1="${axisY}" y2="${axisY}"/>`);
  for (const v of ticks(t.end))
    out.push(
      `<line x1="${x(v)}" x2="${x(v)}" y1="${axisY}" ` +
        `y2="${axisY + 4}"/><text x="${x(v) - 8}" y="${axisY + 16}">${v}</text>`,
    );
  out.push(`<text class="lane-label" x="4" y="${axisY + 16}">${esc(t.unit)}</text></g>`);
  // the violation
  if (violation?.at !== undefined) {
    const vx = x(violation.at);
    const detail = `${violation.invariant} seen at ${violation.at} ${t.unit}: ${violation.detail.split('\n')[0]}`;
    out.push(`<g class="violation" data-invariant="${esc(violation.invariant)}"><title>${esc(detail)}</title>`);
    out.push(`<line x1="${vx}" x2="${vx}" y1="${TOP - 4}" y2="${axisY}"/>`);
    out.push(`<text x="${Math.min(vx + 4, LABEL_W + w - 40)}" y="${TOP - 6}">${esc(violation.invariant)}</text></g>`);
  }
  out.push('</svg>');
  return out.join('\n');
}

/** About ten round tick values in [0, end]. */
export function ticks(end: number): number[] {
  const raw = end / 10;
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = 0; v <= end + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The legend of the timeline's colours. */
export const TIMELINE_LEGEND = `<p class="legend">${[
  ['var(--ok)', 'ok'],
  ['var(--fail)', 'fail (did not happen)'],
  ['var(--info)', 'info (unknown: runs to the end)'],
  ['var(--crash)', 'replica down'],
  ['var(--torn)', 'down after a crash inside a save'],
  ['var(--partition)', 'cut off by a partition'],
  ['var(--network)', 'lossy network'],
  ['var(--rollback)', 'rollback'],
  ['var(--fork)', 'fork'],
]
  .map(([c, l]) => `<span><i style="background:${c}"></i>${l}</span>`)
  .join('')}<span><i style="border:3px solid var(--named)"></i>named by the failed check</span></p>`;
