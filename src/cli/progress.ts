/**
 * The progress bar of `bkv check` (spec ch. 13.5): on a terminal, one line redrawn in place on
 * stderr, with the suite, the scenarios done, the steps run and the violations found; elsewhere
 * (CI logs, pipes) nothing, and the command prints a line per scenario instead.
 * @module
 */

export interface ProgressState {
  readonly label: string;
  readonly done: number;
  readonly total: number;
  readonly steps: number;
  readonly violations: number;
}

export interface ProgressBar {
  /** Redraws the bar. */
  update(state: ProgressState): void;
  /** Erases the bar, so that a line can be printed where it was. */
  clear(): void;
}

/** The bar's text: `label [#####.....] done/total  steps steps  violations violations`, `width` cells of bar. */
export function renderProgress(s: ProgressState, width = 30): string {
  const filled = s.total > 0 ? Math.min(width, Math.floor((s.done / s.total) * width)) : width;
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const violations = `${s.violations} violation${s.violations === 1 ? '' : 's'}`;
  return `${s.label} [${bar}] ${s.done}/${s.total}  ${s.steps.toLocaleString('en-US')} steps  ${violations}`;
}

/** A bar on `stream` if it is a terminal (redrawn with a carriage return), else null. */
export function terminalProgressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar | null {
  if (!stream.isTTY) return null;
  // 0 or unknown: 80
  const columns = () => (stream.columns !== undefined && stream.columns >= 40 ? stream.columns - 1 : 79);
  return {
    update: (s) =>
      stream.write(`\r${renderProgress(s, Math.max(10, Math.min(30, columns() - 60))).slice(0, columns())}\x1b[K`),
    clear: () => stream.write('\r\x1b[K'),
  };
}
