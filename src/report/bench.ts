/**
 * The bench results (`bench/results.json`, schema bkv-bench/1, spec ch. 11) as charts: a login and
 * a recovery against the peers and the floor, the server's side of a login the same way, the
 * replicated vault per number of replicas (batched and not), and every target of spec 11 as its
 * ratio against its bound. A target whose two tasks are in a chart is also drawn there, as a
 * line at `max` times its denominator. `npm run bench -- --report DIR` writes the page with its
 * results; `bkv report` puts it in the site.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Bar, type BarChart, type LineChart, type TargetLine, renderBarChart, renderLineChart } from './charts.ts';
import { REPORT_CSS, esc, page } from './html.ts';

/** What the charts read of a bench results file. */
export interface BenchResults {
  readonly schema: string;
  readonly date: string;
  readonly seed: string;
  readonly machine?: { readonly cpuModel?: string; readonly cpus?: number };
  readonly versions?: { readonly node?: string; readonly gitCommit?: string | null };
  readonly tasks: readonly { readonly id: string; readonly name: string; readonly medianMs: number }[];
  readonly targets: readonly {
    readonly id: string;
    readonly label: string;
    readonly numerator: string;
    readonly denominator: string;
    readonly value: number | null;
    readonly max: number;
    readonly reached: boolean | null;
    readonly target?: string;
  }[];
}

type Row = readonly [id: string, label: string, series: string];

const LOGIN: readonly Row[] = [
  ['floor/libsodium/ristretto255-SHA512/login', 'floor: libsodium, ristretto255 login', 'floor'],
  ['floor/noble/ristretto255-SHA512/login', 'floor: noble, ristretto255 login', 'floor'],
  ['peers/serenity/login', 'opaque-ke (wasm): whole login', 'peers'],
  ['peers/opaque-ts/login', 'opaque-ts (P-256): whole login', 'peers'],
  ['crypto/opaque/ristretto255-SHA512/Identity/login', 'bkv: OPAQUE login, ristretto255', 'bkv'],
  ['vault/memory/ristretto255-SHA512/recovery', 'bkv: whole recovery, memory HSM', 'bkv'],
  ['vault/softhsm/ristretto255-SHA512+Curve25519/recovery', 'bkv: whole recovery, SoftHSM', 'bkv'],
];

const SERVER: readonly Row[] = [
  ['floor/libsodium/ristretto255-SHA512/login-server-side', 'floor: libsodium, server side', 'floor'],
  ['floor/noble/ristretto255-SHA512/login-server-side', 'floor: noble, server side', 'floor'],
  ['peers/serenity/server-side', 'opaque-ke (wasm): server side', 'peers'],
  ['peers/opaque-ts/server-side', 'opaque-ts (P-256): server side', 'peers'],
  ['vault/memory/ristretto255-SHA512/vault-side', 'bkv: vault side, memory HSM', 'bkv'],
  ['vault/softhsm/ristretto255-SHA512+Curve25519/vault-side', 'bkv: vault side, SoftHSM', 'bkv'],
];

/** The replicated bench's task ids: `replicated/<backend>/<n>[/batched|/unbatched]`. */
const REPLICATED = /^replicated\/(memory|softhsm)\/(\d+)(?:\/(batched|unbatched))?$/;

export interface BenchCharts {
  readonly bars: readonly BarChart[];
  readonly lines: readonly LineChart[];
}

export function benchCharts(r: BenchResults): BenchCharts {
  const median = new Map(r.tasks.map((t) => [t.id, t.medianMs]));
  const bars = (rows: readonly Row[]): Bar[] =>
    rows.flatMap(([id, label, series]) =>
      median.has(id) ? [{ label, value: median.get(id)!, series, note: id }] : [],
    );
  const lines = (rows: readonly Row[]): TargetLine[] => {
    const ids = new Set(rows.map((x) => x[0]));
    return r.targets
      .filter((t) => ids.has(t.numerator) && ids.has(t.denominator) && median.has(t.denominator))
      .map((t) => ({
        label: `target ${t.id}: ≤ ${t.max}× ${rows.find((x) => x[0] === t.denominator)![1]}`,
        value: t.max * median.get(t.denominator)!,
      }));
  };
  const out: BarChart[] = [
    {
      id: 'chart-login',
      title: 'A login and a recovery: bkv, the peers and the floor (median ms)',
      unit: 'ms',
      log: true,
      bars: bars(LOGIN),
      lines: lines(LOGIN),
    },
    {
      id: 'chart-server',
      title: "The server's side of a login (median ms)",
      unit: 'ms',
      log: true,
      bars: bars(SERVER),
      lines: lines(SERVER),
    },
  ];
  const targets = r.targets.filter((t) => t.value !== null);
  if (targets.length > 0) {
    out.push({
      id: 'chart-targets',
      title: 'The targets of spec 11: each ratio against its bound (the tick on its row)',
      unit: 'ratio',
      log: true,
      bars: targets.map((t) => ({
        label: t.id,
        value: t.value!,
        target: t.max,
        series: t.reached ? 'reached' : 'not reached',
        note: `${t.label}${t.target ? `\n${t.target}` : ''}`,
      })),
    });
  }
  const series = new Map<string, [number, number][]>();
  for (const t of r.tasks) {
    const m = REPLICATED.exec(t.id);
    if (!m) continue;
    const name = `${m[1]}${m[3] ? `, ${m[3]}` : ''}`;
    series.set(name, [...(series.get(name) ?? []), [Number(m[2]), t.medianMs]]);
  }
  // a single replica has nothing to batch: its point starts every memory curve
  const one = median.get('replicated/memory/1');
  if (one !== undefined) for (const [name, pts] of series) if (name.startsWith('memory, ')) pts.push([1, one]);
  series.delete('memory');
  const keep = r.targets.find((t) => t.id === 'replicas-keep-throughput');
  const keepLabel = keep ? `target: ≤ ${keep.max}× one replica` : '';
  const lineCharts: LineChart[] =
    series.size === 0
      ? []
      : [
          {
            id: 'chart-replicas',
            title: 'The replicated vault: ms per recovery by number of replicas (simulated fleet)',
            unit: 'ms per recovery',
            xLabel: 'replicas',
            series: [...series].map(([name, points]) => ({ name, points })),
            lines: keep && one !== undefined ? [{ label: keepLabel, value: keep.max * one }] : [],
          },
        ];
  return { bars: out.filter((c) => c.bars.length > 0), lines: lineCharts };
}

export function renderBench(r: BenchResults): string {
  const c = benchCharts(r);
  const machine = r.machine?.cpuModel ? `, ${esc(r.machine.cpuModel)} × ${r.machine.cpus ?? '?'}` : '';
  const node = r.versions?.node ? `, Node ${esc(r.versions.node)}` : '';
  const commit = r.versions?.gitCommit ? `, commit ${esc(r.versions.gitCommit)}` : '';
  const about = `${esc(r.date)}, seed ${esc(r.seed)}${machine}${node}${commit}`;
  return [
    `<p>Measured ${about}. Hover a bar for its task and figure.</p>`,
    ...c.bars.map(renderBarChart),
    ...c.lines.map(renderLineChart),
  ].join('\n');
}

/** `npm run bench -- --report DIR`: the charts and the results beside them. */
export function writeBenchReport(dir: string, r: BenchResults): string {
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'assets', 'report.css'), REPORT_CSS);
  writeFileSync(join(dir, 'results.json'), JSON.stringify(r, null, 2) + '\n');
  const index = join(dir, 'index.html');
  writeFileSync(
    index,
    page(
      { title: 'bkv bench' },
      `<h1>bkv bench</h1>\n<p>data: <a href="results.json">results.json</a></p>\n${renderBench(r)}`,
    ),
  );
  return index;
}
