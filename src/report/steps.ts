/**
 * A counterexample as a sequence diagram, one table row per step: the lifelines (replicas, then
 * clients) drawn in each row's SVG strip, a message as an arrow between two of them, a fault as a
 * band across the lifelines it concerns, any other event as a dot; then the step's text, and the
 * state of every lifeline after it, folded (`<details>`). The last row states the violated INV-n.
 * @module
 */
import type { Counterexample, CounterexampleStep } from './format.ts';
import { esc } from './html.ts';

const COL = 64;
const ROW = 22;

export function renderCounterexample(c: Counterexample, detail?: string): string {
  const cols = new Map(c.participants.map((p, i) => [p, i]));
  const width = Math.max(1, c.participants.length) * COL;
  const cx = (p: string) => (cols.get(p) ?? 0) * COL + COL / 2;
  const lifelines = c.participants
    .map((p) => `<line class="lifeline" x1="${cx(p)}" x2="${cx(p)}" y1="0" y2="${ROW}"/>`)
    .join('');
  const head = c.participants.map((p) => `<text x="${cx(p)}" y="14" text-anchor="middle">${esc(p)}</text>`).join('');
  const rows: string[] = [];
  rows.push(`<tr><td class="t"></td><td><svg width="${width}" height="${ROW}">${head}</svg></td><td></td></tr>`);
  if (c.omitted)
    rows.push(`<tr><td></td><td colspan="2" class="where">… ${c.omitted} earlier steps not shown</td></tr>`);
  c.steps.forEach((s, k) => {
    const strip = `<svg width="${width}" height="${ROW}">${lifelines}${glyph(s, cx)}</svg>`;
    const at = s.at === undefined ? `${k + 1}.` : String(s.at);
    rows.push(
      `<tr class="step ${esc(s.kind)}" data-step="${k}"><td class="t">${esc(at)}</td><td>${strip}</td>` +
        `<td class="lbl">${esc(stepText(s))}${states(s)}</td></tr>`,
    );
  });
  if (c.invariant) {
    const text = `${c.invariant} violated${detail ? `: ${detail.split('\n')[0]}` : ''}`;
    rows.push(
      `<tr class="violated" data-invariant="${esc(c.invariant)}"><td></td><td colspan="2">${esc(text)}</td></tr>`,
    );
  }
  return `<div class="scroll"><table class="steps">${rows.join('\n')}</table></div>`;
}

function stepText(s: CounterexampleStep): string {
  if (s.kind === 'message') return `${s.from} → ${s.to}: ${s.label}`;
  return s.kind === 'fault' ? `FAULT ${s.label}` : s.label;
}

function glyph(s: CounterexampleStep, cx: (p: string) => number): string {
  const mid = ROW / 2;
  if (s.kind === 'message' && s.from !== undefined && s.to !== undefined) {
    const x1 = cx(s.from);
    const x2 = cx(s.to);
    if (x1 === x2) return `<circle class="note-dot" cx="${x1}" cy="${mid}" r="4"/>`;
    const dir = x2 > x1 ? 1 : -1;
    const tip = x2 - dir * 2;
    const head = `M${tip} ${mid} L${tip - dir * 7} ${mid - 4} L${tip - dir * 7} ${mid + 4} Z`;
    return (
      `<line class="msg" x1="${x1}" x2="${tip - dir * 6}" ` +
      `y1="${mid}" y2="${mid}"/><path class="msg-head" d="${head}"/>`
    );
  }
  const over = s.over ?? [];
  if (over.length === 0) return '';
  const xs = over.map(cx);
  if (s.kind === 'fault') {
    const x0 = Math.min(...xs) - COL / 2 + 4;
    return (
      `<rect class="fault-band" x="${x0}" y="3" ` +
      `width="${Math.max(...xs) - Math.min(...xs) + COL - 8}" height="${ROW - 6}" rx="3"/>`
    );
  }
  return xs.map((x) => `<circle class="note-dot" cx="${x}" cy="${mid}" r="4"/>`).join('');
}

function states(s: CounterexampleStep): string {
  if (!s.states) return '';
  const boxes = Object.entries(s.states).map(
    ([who, lines]) => `<div><b>${esc(who)}</b><br>${lines.map(esc).join('<br>')}</div>`,
  );
  return `<details><summary>state</summary><div class="state">${boxes.join('')}</div></details>`;
}
