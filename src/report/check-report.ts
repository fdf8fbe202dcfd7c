/**
 * `bkv check --report DIR` (spec ch. 14.6): the run report of a check. Each failing run (at most
 * `MAX_REPORTED`) is replayed with its trace on and reported in full (simulation.ts); a suite
 * without a failure shows its first run as a sample, so that a passing check still shows what its
 * runs look like. The replays must run on the check's own fleets (SoftHSM tokens are created once
 * per process), before they are disposed: `reportRuns` then, `writeCheckReport` once the check's
 * JSON document is made.
 * @module
 */
import { getBroken } from '../broken/catalog.ts';
import type { ScenarioEnv } from '../sim/scenario.ts';
import { brokenEnv } from '../scenarios/mutants.ts';
import type { RunResult, SuiteName } from '../scenarios/suites.ts';
import { runOne } from '../scenarios/suites.ts';
import type { CheckReport } from '../cli/check.ts';
import { RUN_REPORT_SCHEMA, type ReportRun, type RunReport } from './format.ts';
import { reportSimulatedRun } from './simulation.ts';
import { writeRunReport } from './write.ts';

/** Failing runs replayed into a report; the others are counted in its figures. */
export const MAX_REPORTED = 10;

/**
 * The runs of the report: the failures, then run 0 of each planned suite without one. `env`: the
 * check's (a failure of a broken variant is replayed on that variant, named by its token).
 */
export function reportRuns(
  env: ScenarioEnv,
  failures: readonly RunResult[],
  plan: readonly { readonly suite: SuiteName }[],
  seed: string,
): ReportedRuns {
  const t0 = performance.now();
  const runs: ReportRun[] = failures.slice(0, MAX_REPORTED).map((f) => replay(f, env));
  if (failures.length === 0) for (const { suite } of plan) runs.push(replay(runOne(suite, seed, 0, env), env));
  return { runs, ms: performance.now() - t0 };
}

/** The runs of a report, and the time their replays took. */
export interface ReportedRuns {
  readonly runs: readonly ReportRun[];
  readonly ms: number;
}

function replay(r: RunResult, base: ScenarioEnv): ReportRun {
  const env = r.broken !== undefined && base.broken === undefined ? brokenEnv(base, getBroken(r.broken)) : base;
  try {
    return reportSimulatedRun(r, env);
  } catch (e) {
    // e.g. the SoftHSM tokens of the check are used up: the run is listed, not drawn
    const token = r.token;
    return {
      id: `${r.suite}-${r.run}`,
      title: `${r.suite} run ${r.run} (${r.name}): not replayed for the report (${(e as Error).message})`,
      ok: r.ok,
      replay: { token, command: `npx bkv check --replay ${token}` },
      ...(r.violation && { violation: { ...r.violation, operations: [] } }),
    };
  }
}

/** The command line a check was run with, from its parsed options. */
export function commandLine(options: Readonly<Record<string, string | true>>): string {
  const parts = Object.entries(options).map(([k, v]) =>
    v === true ? `--${k}` : `--${k} ${/^[\w./:=,-]+$/.test(v) ? v : JSON.stringify(v)}`,
  );
  return ['npx bkv check', ...parts].join(' ');
}

export function checkRunReport(doc: CheckReport, runs: readonly ReportRun[], command: string): RunReport {
  const broken = doc.broken;
  const figures: [string, string | number][] = [
    ['seed', doc.seed],
    ['replicas on', doc.hsm],
    ['plan', doc.plan.map((p) => `${p.suite} x${p.runs}`).join(', ')],
    ...(broken
      ? [
          [
            'broken variant',
            `${broken.variant}: must be caught by ${broken.checker}; caught by ${broken.caughtBy ?? 'nothing'}`,
          ] as [string, string],
        ]
      : []),
    ['scenarios', doc.scenarios],
    ['steps', doc.steps],
    ['faults injected', doc.faults],
    ['attacks tried', doc.attacks],
    ['violations', doc.violations],
    ['steps per second', doc.stepsPerSecond],
    ['seconds', doc.seconds],
  ];
  const title = broken
    ? `bkv check --broken ${broken.variant}`
    : `bkv check: ${doc.plan.map((p) => p.suite).join(', ')}`;
  return { schema: RUN_REPORT_SCHEMA, title, command, ok: doc.ok, figures, runs, document: doc };
}

/** Writes the report; prints where, and how long the replays and the writing took. */
export function writeCheckReport(
  dir: string,
  doc: CheckReport,
  runs: ReportedRuns,
  command: string,
  print: (line: string) => void,
): void {
  const t0 = performance.now();
  const index = writeRunReport(dir, checkRunReport(doc, runs.runs, command));
  const ms = Math.round(runs.ms + performance.now() - t0);
  print(`report: ${index} (${runs.runs.length} runs drawn; ${ms} ms to replay them and write it)`);
}
