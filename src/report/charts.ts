/**
 * Charts in SVG, written here (a charting library would be larger than these two shapes): a bar
 * chart (one horizontal bar per row, coloured by series, on a linear or a log scale) and a line
 * chart (a curve per series over a numeric x), both with target lines drawn across the plot and,
 * for a bar, a target of its own (a tick on its row). Every bar and point carries its series
 * (`data-series`) and its value in its hover title.
 * @module
 */
import { esc } from './html.ts';
import { ticks } from './timeline.ts';

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly series: string;
  /** A target of this row alone (a tick on the row); reached when the value is at most it. */
  readonly target?: number;
  readonly note?: string;
}

export interface TargetLine {
  readonly label: string;
  readonly value: number;
}

export interface BarChart {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly log?: boolean;
  readonly bars: readonly Bar[];
  readonly lines?: readonly TargetLine[];
}

export interface LineChart {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly xLabel: string;
  readonly series: readonly { readonly name: string; readonly points: readonly (readonly [number, number])[] }[];
  readonly lines?: readonly TargetLine[];
}

const PALETTE = ['#1565c0', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#ad1457', '#5d4037'];
const LABEL_W = 340;
const PLOT_W = 560;
const ROW_H = 22;

/** Series whose name says their colour. */
const NAMED: Readonly<Record<string, string>> = { reached: '#2e7d32', 'not reached': '#c62828' };

/** A colour per series, in order of appearance. */
function colours(names: readonly string[]): Map<string, string> {
  return new Map([...new Set(names)].map((n, i) => [n, NAMED[n] ?? PALETTE[i % PALETTE.length]!]));
}

function legend(c: ReadonlyMap<string, string>): string {
  const items = [...c].map(([n, col]) => `<span><i style="background:${col}"></i>${esc(n)}</span>`);
  return `<p class="legend">${items.join('')}</p>`;
}

/** x of a value: linear from 0, or log10 over the values' decades. */
function scale(values: readonly number[], log: boolean): { x: (v: number) => number; grid: number[] } {
  const max = Math.max(...values);
  if (!log) {
    const top = max * 1.1 || 1;
    return { x: (v) => (v / top) * PLOT_W, grid: ticks(top) };
  }
  const lo = Math.floor(Math.log10(Math.min(...values.filter((v) => v > 0))));
  const hi = Math.ceil(Math.log10(max * 1.05));
  const span = Math.max(1, hi - lo);
  const grid = Array.from({ length: span + 1 }, (_, k) => 10 ** (lo + k));
  return { x: (v) => ((Math.log10(Math.max(v, 10 ** lo)) - lo) / span) * PLOT_W, grid };
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));
/** A grid value: as short as it can be. */
const gridText = (v: number) => String(Number(v.toPrecision(3)));

export function renderBarChart(c: BarChart): string {
  const all = [
    ...c.bars.map((b) => b.value),
    ...c.bars.flatMap((b) => (b.target ? [b.target] : [])),
    ...(c.lines ?? []).map((l) => l.value),
  ];
  const { x, grid } = scale(all, c.log === true);
  const col = colours(c.bars.map((b) => b.series));
  const top = 10 + (c.lines?.length ?? 0) * 14;
  const h = top + c.bars.length * ROW_H + 26;
  const out = [
    `<svg class="chart" id="${esc(c.id)}" xmlns="http://www.w3.org/2000/svg" ` +
      `width="${LABEL_W + PLOT_W + 70}" height="${h}">`,
  ];
  const axisY = top + c.bars.length * ROW_H + 4;
  out.push('<g class="axis">');
  for (const g of grid)
    out.push(
      `<line x1="${LABEL_W + x(g)}" x2="${LABEL_W + x(g)}" y1="${top - 4}" ` +
        `y2="${axisY}"/><text x="${LABEL_W + x(g) - 6}" y="${axisY + 14}">${gridText(g)}</text>`,
    );
  out.push(`<text class="lane-label" x="4" y="${axisY + 14}">${esc(c.unit)}${c.log ? ' (log scale)' : ''}</text></g>`);
  c.bars.forEach((b, i) => {
    const y = top + i * ROW_H;
    const reached = b.target !== undefined && b.value <= b.target;
    const targetNote =
      b.target !== undefined ? ` (target ≤ ${fmt(b.target)}: ${reached ? 'reached' : 'not reached'})` : '';
    const tip = `${b.label}: ${fmt(b.value)} ${c.unit}${targetNote}${b.note ? `\n${b.note}` : ''}`;
    out.push(`<text x="${LABEL_W - 6}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(
      `<rect class="bar" data-series="${esc(b.series)}" x="${LABEL_W}" ` +
        `y="${y + 3}" width="${Math.max(1, x(b.value))}" height="${ROW_H - 6}" ` +
        `fill="${col.get(b.series)}"><title>${esc(tip)}</title></rect>`,
    );
    out.push(`<text x="${LABEL_W + Math.max(1, x(b.value)) + 4}" y="${y + 15}">${fmt(b.value)}</text>`);
    if (b.target !== undefined) {
      const tx = LABEL_W + x(b.target);
      out.push(
        `<g class="target"><line x1="${tx}" x2="${tx}" y1="${y}" ` +
          `y2="${y + ROW_H}"/><title>target ≤ ${fmt(b.target)}</title></g>`,
      );
    }
  });
  (c.lines ?? []).forEach((l, k) => {
    const lx = LABEL_W + x(l.value);
    out.push(`<g class="target"><line x1="${lx}" x2="${lx}" y1="${8 + k * 14}" y2="${axisY}"/>`);
    const title = esc(`${l.label}: ${fmt(l.value)} ${c.unit}`);
    out.push(`<text x="${lx + 4}" y="${8 + k * 14 + 8}">${esc(l.label)}</text><title>${title}</title></g>`);
  });
  out.push('</svg>');
  return `<figure><figcaption><b>${esc(c.title)}</b></figcaption>${legend(col)}${out.join('\n')}</figure>`;
}

export function renderLineChart(c: LineChart): string {
  const W = 640;
  const H = 280;
  const L = 60;
  const T = 20 + (c.lines?.length ?? 0) * 14;
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...c.series.flatMap((s) => s.points.map((p) => p[1])), ...(c.lines ?? []).map((l) => l.value)];
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const yTop = Math.max(...ys) * 1.1 || 1;
  const px = (v: number) => L + (x1 === x0 ? W / 2 : ((v - x0) / (x1 - x0)) * W);
  const py = (v: number) => T + H - (v / yTop) * H;
  const col = colours(c.series.map((s) => s.name));
  const out = [
    `<svg class="chart" id="${esc(c.id)}" xmlns="http://www.w3.org/2000/svg" ` +
      `width="${L + W + 180}" height="${T + H + 40}">`,
  ];
  out.push('<g class="axis">');
  for (const g of ticks(yTop))
    out.push(
      `<line x1="${L}" x2="${L + W}" y1="${py(g)}" y2="${py(g)}"/><text ` +
        `x="${L - 36}" y="${py(g) + 4}">${gridText(g)}</text>`,
    );
  for (const v of [...new Set(xs)]) out.push(`<text x="${px(v) - 3}" y="${T + H + 16}">${v}</text>`);
  out.push(
    `<text class="lane-label" x="${L + W / 2 - 30}" y="${T + H + 32}">${esc(c.xLabel)}</text><text ` +
      `class="lane-label" x="4" y="${T - 6}">${esc(c.unit)}</text></g>`,
  );
  for (const s of c.series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const colour = col.get(s.name)!;
    out.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2" ` +
        `points="${pts.map((p) => `${px(p[0])},${py(p[1])}`).join(' ')}"/>`,
    );
    for (const p of pts) {
      const tip = `${s.name}, ${c.xLabel} ${p[0]}: ${fmt(p[1])} ${c.unit}`;
      out.push(
        `<circle class="bar" data-series="${esc(s.name)}" cx="${px(p[0])}" ` +
          `cy="${py(p[1])}" r="4" fill="${colour}"><title>${esc(tip)}</title></circle>`,
      );
    }
    const last = pts.at(-1);
    if (last) out.push(`<text x="${px(last[0]) + 8}" y="${py(last[1]) + 4}">${esc(s.name)}</text>`);
  }
  (c.lines ?? []).forEach((l, k) => {
    out.push(`<g class="target"><line x1="${L}" x2="${L + W}" y1="${py(l.value)}" y2="${py(l.value)}"/>`);
    out.push(`<text x="${L + 4}" y="${14 + k * 14}">${esc(`${l.label}: ${fmt(l.value)} ${c.unit}`)}</text></g>`);
  });
  out.push('</svg>');
  return `<figure><figcaption><b>${esc(c.title)}</b></figcaption>${legend(col)}${out.join('\n')}</figure>`;
}
