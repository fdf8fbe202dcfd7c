/**
 * The `scale` suite's summary (bench/suites/scale.ts): its rows, the targets of issue 19 (ms and
 * bytes per recovery at 10^5 credentials within 1.2x of the figures at 10^2, per HSM backend), and
 * the table `npm run bench` prints.
 * @module
 */
import { loadavg } from 'node:os';
import type { ScaleRun } from './scale.ts';

export interface ScaleRow extends ScaleRun {
  readonly msPerRecovery: number;
  /**
   * What snapshots add per recovery, amortized: the recovery's entries bring each replica's next
   * snapshot that much nearer (entries per recovery / max(DEFAULT_SNAPSHOT_EVERY, g x records)), and a snapshot seals
   * every record. Bytes: of the 3 replicas; ms: of one replica's snapshot (each runs on its own machine).
   */
  readonly snapshotBytesPerRecovery: number;
  readonly snapshotMsPerRecovery: number;
}

/** Issue 19: a figure at the target size at most this times the figure at 10^2. */
export const SCALE_TARGET_MAX = 1.2;
const BASE_SIZE = 100;

export interface ScaleTarget {
  readonly backend: string;
  readonly figure: (typeof FIGURES)[number];
  readonly at: number;
  /** figure at `at` over figure at 10^2; null when either was not measured. */
  readonly ratio: number | null;
  readonly met: boolean | null;
}

export type ScaleAfter = {
  readonly runs: readonly ScaleRow[];
  readonly targets: readonly ScaleTarget[];
  /** The load average (1, 5, 15 min) when the summary was made: the machine is shared. */
  readonly load: readonly number[];
};

const FIGURES = ['msPerRecovery', 'cpuMsPerRecovery', 'bytesPerRecovery', 'withSnapshots'] as const;

const LABELS: Record<(typeof FIGURES)[number], string> = {
  msPerRecovery: 'ms per recovery (wall clock)',
  cpuMsPerRecovery: 'CPU ms per recovery',
  bytesPerRecovery: 'bytes written per recovery',
  withSnapshots: 'bytes written per recovery, snapshots amortized in',
};

/** A figure of a row; `withSnapshots`: bytes per recovery with the snapshots' amortized share. */
function figureOf(r: ScaleRow, f: (typeof FIGURES)[number]): number {
  return f === 'withSnapshots' ? r.bytesPerRecovery + r.snapshotBytesPerRecovery : r[f];
}

/** The ratios of each backend's figures at `at` credentials over those at 10^2, and whether each is within 1.2x. */
export function computeScaleTargets(rows: readonly ScaleRow[], at: number): ScaleTarget[] {
  const backends = [...new Set(rows.map((r) => r.backend))];
  return backends.flatMap((backend) => {
    const base = rows.find((r) => r.backend === backend && r.credentials === BASE_SIZE);
    const top = rows.find((r) => r.backend === backend && r.credentials === at);
    return FIGURES.map((figure): ScaleTarget => {
      const [b, t] = [base && figureOf(base, figure), top && figureOf(top, figure)];
      const ratio = b !== undefined && t !== undefined && b > 0 ? Math.round((t / b) * 100) / 100 : null;
      return { backend, figure, at, ratio, met: ratio === null ? null : ratio <= SCALE_TARGET_MAX };
    });
  });
}

export function scaleSummary(rows: readonly ScaleRow[], at: number): ScaleAfter {
  const load = loadavg().map((x) => Math.round(x * 100) / 100);
  return { runs: rows, targets: computeScaleTargets(rows, at), load };
}

export function formatScale(a: ScaleAfter): string {
  const histories = [...new Set(a.runs.flatMap((r) => r.catchUp.map((c) => c.history)))];
  const catchUp = (r: ScaleRow, h: number) => {
    const c = r.catchUp.find((x) => x.history === h);
    return c === undefined ? '-' : `${c.ms.toFixed(0)}${c.installed ? ' (snap)' : ''}`;
  };
  const head = [
    'HSM',
    'credentials',
    'ms/recovery',
    'CPU ms/rec.',
    'bytes/rec.',
    '+ snapshots, amortized',
    'snapshot ms',
    'InstallSnapshot ms',
    'sealed B/cred.',
    'heap B/cred.',
    ...histories.map((h) => `catch-up ms after ${h} entries`),
    'fill s',
  ];
  const out = [
    `\n## scale: cost per recovery as the credentials grow (load average ${a.load.join(' ')})`,
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
  ];
  for (const r of a.runs) {
    const cells = [
      r.backend,
      r.credentials.toLocaleString('en-US'),
      r.msPerRecovery.toFixed(1),
      r.cpuMsPerRecovery.toFixed(1),
      r.bytesPerRecovery.toLocaleString('en-US'),
      `${r.snapshotBytesPerRecovery.toLocaleString('en-US')} B, ${r.snapshotMsPerRecovery.toFixed(2)} ms`,
      r.snapshotMs.toFixed(1),
      r.installSnapshotMs.toFixed(1),
      Math.round(r.snapshotBytes / r.credentials).toString(),
      r.heapBytesPerCredential === null ? '-' : r.heapBytesPerCredential.toString(),
      ...histories.map((h) => catchUp(r, h)),
      (r.fillMs / 1000).toFixed(1),
    ];
    out.push(`| ${cells.join(' | ')} |`);
  }
  out.push(`\ntargets (issue 19): at ${a.targets[0]?.at ?? '-'} credentials within ${SCALE_TARGET_MAX}x of 100`);
  for (const t of a.targets) {
    const verdict = t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met';
    out.push(`  ${t.backend}, ${LABELS[t.figure]}: ${t.ratio === null ? '-' : `${t.ratio}x`} ${verdict}`);
  }
  return out.join('\n');
}
