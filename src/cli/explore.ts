/**
 * `npx bkv explore`: the real replica, consensus and persistence code searched exhaustively
 * (spec ch. 10, "The explorer"; src/explore/explore.ts): the persistence rule, a fleet of one, a
 * fleet of 3 with a forking host. Prints each exploration's bounds, its layers as it goes, and
 * then the totals (states, transitions, depth, time, states per second), or the shortest schedule
 * that breaks an invariant, step by step with the replicas' state after each.
 *
 *   npx bkv explore                       the default explorations
 *   npx bkv explore --deep                larger bounds
 *   npx bkv explore --broken count-at-ke3 a broken variant: its counterexample, where it lies
 *
 * Exit code: 0 when the explorer found what it should (no violation under the rules; a violation
 * under a broken variant), 1 otherwise.
 * @module
 */
import { type BrokenVariant, BROKEN, getBroken } from '../broken/catalog.ts';
import { type Exploration, explorationOf, explorations } from '../explore/explore.ts';
import type { SearchResult } from '../explore/search.ts';
import { RULES } from '../replication/host.ts';
import { UsageError } from './args.ts';

export interface ExploreArgs {
  readonly broken?: string;
  readonly deep?: boolean;
  readonly maxStates?: number;
  readonly print: (line: string) => void;
  readonly json?: ((doc: object) => void) | null;
}

/** One exploration in the JSON document of `bkv explore --json` (spec ch. 14). */
export interface ExploredReport {
  readonly name: string;
  readonly bounds: string;
  readonly complete: boolean;
  readonly depthBounded: boolean;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly seconds: number;
  readonly statesPerSecond: number;
  readonly memoryMiB: number;
  readonly violation: { readonly invariant: string; readonly detail: string; readonly trace: readonly string[] } | null;
}

/** The document of `bkv explore --json`. */
export interface ExploreReport {
  readonly schema: 'bkv-explore/2';
  readonly ok: boolean;
  readonly broken: string | null;
  readonly explorations: readonly ExploredReport[];
}

const fmt = (n: number) => n.toLocaleString('en-US');

function reportOf(e: Exploration, r: SearchResult): ExploredReport {
  return {
    name: e.name,
    bounds: e.describe,
    complete: r.complete,
    depthBounded: r.depthBounded,
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    seconds: Math.round(r.ms) / 1000,
    statesPerSecond: r.ms > 0 ? Math.round((r.states / r.ms) * 1000) : r.states,
    memoryMiB: Math.round(r.memoryBytes / 2 ** 20),
    violation: r.violation && {
      invariant: r.violation.invariant,
      detail: r.violation.detail,
      trace: r.violation.trace,
    },
  };
}

function printResult(x: ExploredReport, print: (line: string) => void): void {
  const head =
    `${fmt(x.states)} states, ${fmt(x.transitions)} transitions, depth ${x.depth}, ${x.seconds.toFixed(1)} s ` +
    `(${fmt(x.statesPerSecond)} states/s, ${x.memoryMiB} MiB)`;
  const v = x.violation;
  if (v === null) {
    if (x.complete) print(`  exhausted: ${head}; every invariant holds in every state`);
    else if (x.depthBounded) print(`  every schedule of ${x.depth} actions: ${head}; every invariant holds`);
    else print(`  stopped (state limit): ${head}; no violation so far`);
    return;
  }
  print(`  counterexample after ${head}`);
  print(`  ${v.invariant} violated: ${v.detail}`);
  print(`  shortest schedule (${v.trace.length} actions):`);
  print('    0. the initial state');
  v.trace.forEach((action, k) => print(`    ${k + 1}. ${action}`));
}

function variantOf(name: string): BrokenVariant {
  let b: BrokenVariant;
  try {
    b = getBroken(name);
  } catch {
    throw new UsageError(
      `unknown --broken "${name}" (in the explorer's scope: ${BROKEN.filter((x) => x.explore)
        .map((x) => x.name)
        .join(', ')})`,
    );
  }
  if (!b.explore)
    throw new UsageError(
      `${b.name} is outside the explorer's scope (the client channel is abstract there): ${b.test} catches it`,
    );
  return b;
}

export function explore(args: ExploreArgs): number {
  const { print } = args;
  const broken = args.broken === undefined ? null : variantOf(args.broken);
  const runs = broken ? [explorationOf(broken)] : explorations(args.deep === true);
  const rules = broken ? broken.rules(RULES) : RULES;
  print(
    `bkv explore: the real replica, consensus and persistence code, every state within bounds (spec ch. 10)` +
      `${broken ? `, broken variant ${broken.name}: ${broken.summary}` : ''}`,
  );
  const reports: ExploredReport[] = [];
  for (const e of runs) {
    print(`${e.name}: ${e.describe}`);
    let last = -Infinity;
    const t0 = performance.now();
    const r = e.run(rules, {
      ...(args.maxStates !== undefined && { maxStates: args.maxStates }),
      onLayer: (depth, states) => {
        const ms = performance.now() - t0;
        if (ms - last < 2000) return;
        last = ms;
        print(`  depth ${depth}: ${fmt(states)} states (${(ms / 1000).toFixed(1)} s)`);
      },
    });
    const x = reportOf(e, r);
    printResult(x, print);
    reports.push(x);
  }
  const ok = broken
    ? reports.some((x) => x.violation !== null)
    : reports.every((x) => x.violation === null && (x.complete || x.depthBounded));
  if (!ok)
    print(
      broken ? `FAILED: the broken variant ${broken.name} was not caught within these bounds` : 'FAILED: see above',
    );
  args.json?.({
    schema: 'bkv-explore/2',
    ok,
    broken: broken?.name ?? null,
    explorations: reports,
  } satisfies ExploreReport);
  return ok ? 0 : 1;
}
