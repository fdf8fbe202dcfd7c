/**
 * `npx bkv explore`: every reachable state of a small fleet, every invariant in every state
 * (spec ch. 10, "The explorer"). Prints the configuration and its bounds, the states found per
 * breadth-first layer, and then either the totals (states, transitions, depth, time, states per
 * second) or the shortest schedule that violates an invariant, state by state.
 *
 *   npx bkv explore                           the default configuration (model/fleet-model.ts)
 *   npx bkv explore --broken count-after-ke3  a deliberately broken variant: its counterexample
 *
 * Exit code: 0 when the explorer found what it should (no violation in the correct model; a
 * violation in a broken one), 1 otherwise, 2 for a bad argument.
 * @module
 */
import { isVaultError } from '../errors.ts';
import { explore as exploreModel, type ExploreResult } from '../../model/explorer.ts';
import { FleetModel } from '../../model/fleet-model.ts';
import { DEFAULT_FLEET_MODEL, FLEET_MUTANTS, type FleetModelConfig, type FleetMutant } from '../../model/fleet-state.ts';
import { fleetInvariants } from '../../model/fleet-invariants.ts';

export interface ExploreArgs {
  readonly replicas?: number;
  readonly credentials?: number;
  readonly limit?: number;
  /** A mutant of model/fleet-model.ts (FLEET_MUTANTS). */
  readonly broken?: string;
  readonly sessions?: number;
  readonly maxTerm?: number;
  readonly maxLog?: number;
  readonly crashes?: boolean;
  readonly drops?: boolean;
  readonly partitions?: 'folded' | 'explicit';
  /** Check only these invariants (INV-n). */
  readonly only?: readonly string[];
  /** Stop after this many states (the run is then reported incomplete). */
  readonly maxStates?: number;
  readonly print: (line: string) => void;
  /** Under `--json`: receives the ExploreReport. */
  readonly json?: ((doc: object) => void) | null;
}

/** The document of `bkv explore --json` (spec ch. 14): the figures of the text report. */
export interface ExploreReport {
  readonly schema: 'bkv-explore/1';
  /** The explorer found what it should: no violation in the correct model, one in a broken variant. */
  readonly ok: boolean;
  readonly config: FleetModelConfig;
  readonly invariants: readonly string[];
  readonly complete: boolean;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly seconds: number;
  readonly statesPerSecond: number;
  readonly memoryMiB: number;
  /** The shortest schedule to a violated invariant: each step's action and effects (the states are in the text). */
  readonly violation: {
    readonly invariants: readonly string[];
    readonly statements: readonly string[];
    readonly steps: readonly { readonly action: string | null; readonly effects: readonly string[] }[];
  } | null;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function describeConfig(c: FleetModelConfig): string[] {
  const faults = [
    c.crashes ? 'crashes (a replica restarts from its sealed state and HSM ballot)' : null,
    c.drops ? 'message loss (KE3, RecoverAbort, answers to AppendEntries)' : null,
    c.partitions === 'explicit' ? 'partitions (explicit: Partition/Heal actions)' : 'partitions (folded: they reach no state that message loss does not)',
  ].filter((x) => x !== null);
  return [
    `  fleet: ${c.replicas} replicas, ${c.credentials} credentials with guess limit ${c.limit}, ${c.sessions} recovery sessions`,
    `  bounds: terms <= ${c.maxTerm}, log length <= ${c.maxLog}`,
    `  faults: ${faults.join('; ')}`,
  ];
}

function report(r: ExploreResult, print: (line: string) => void): void {
  const rate = r.ms > 0 ? Math.round((r.states / r.ms) * 1000) : r.states;
  const head = `${fmt(r.states)} states, ${fmt(r.transitions)} transitions, depth ${r.depth}, ${(r.ms / 1000).toFixed(1)} s (${fmt(rate)} states/s, ${(r.memoryBytes / 2 ** 20).toFixed(0)} MiB)`;
  if (r.violation === null) {
    print(r.complete ? `  exhausted: ${head}; every invariant holds in every state` : `  stopped (state limit): ${head}; no violation so far`);
    return;
  }
  const v = r.violation;
  print(`  counterexample after ${head}`);
  v.invariants.forEach((id, k) => print(`  ${id} violated: ${v.statements[k]}`));
  print(`  shortest schedule (${v.trace.length - 1} steps):`);
  v.trace.forEach((step, k) => {
    print(k === 0 ? '  0. initial state' : `  ${k}. ${step.action}${step.effects.length ? ` -- ${step.effects.join('; ')}` : ''}`);
    print(step.state);
  });
}

export function explore(args: ExploreArgs): number {
  const { print } = args;
  if (args.broken !== undefined && !(args.broken in FLEET_MUTANTS)) {
    print(`bkv explore: unknown --broken "${args.broken}"; known:`);
    for (const [name, m] of Object.entries(FLEET_MUTANTS)) print(`  ${name.padEnd(24)} ${m.what} (breaks ${m.breaks})`);
    return 2;
  }
  const config: FleetModelConfig = {
    ...DEFAULT_FLEET_MODEL,
    ...(args.replicas !== undefined && { replicas: args.replicas }),
    ...(args.credentials !== undefined && { credentials: args.credentials }),
    ...(args.limit !== undefined && { limit: args.limit }),
    ...(args.sessions !== undefined && { sessions: args.sessions }),
    ...(args.maxTerm !== undefined && { maxTerm: args.maxTerm }),
    ...(args.maxLog !== undefined && { maxLog: args.maxLog }),
    ...(args.crashes !== undefined && { crashes: args.crashes }),
    ...(args.drops !== undefined && { drops: args.drops }),
    ...(args.partitions !== undefined && { partitions: args.partitions }),
    ...(args.broken !== undefined && { mutant: args.broken as FleetMutant }),
  };
  let invariants: string[];
  try {
    invariants = fleetInvariants(new FleetModel(config)).map((i) => i.id);
  } catch (e) {
    if (isVaultError(e)) {
      print(`bkv explore: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const only = args.only?.length ? args.only : undefined;
  const unknown = only?.filter((id) => !invariants.includes(id)) ?? [];
  if (unknown.length > 0) {
    print(`bkv explore: unknown invariant ${unknown.join(', ')} (known: ${invariants.join(', ')})`);
    return 2;
  }
  print(`bkv explore: every reachable state of the fleet model (spec ch. 10)${config.mutant ? `, broken: ${config.mutant} (${FLEET_MUTANTS[config.mutant].what})` : ''}`);
  for (const line of describeConfig(config)) print(line);
  print(`  symmetry: replicas, credentials and sessions are interchangeable; one state is stored per class`);
  print(`  invariants: ${(only ?? invariants).join(', ')}`);
  let lastPrint = -Infinity;
  const r = exploreModel(config, {
    ...(only && { only }),
    ...(args.maxStates !== undefined && { maxStates: args.maxStates }),
    onLayer: (depth, states, ms) => {
      if (ms - lastPrint < 1000 && depth > 1) return;
      lastPrint = ms;
      print(`  depth ${depth}: ${fmt(states)} states (${(ms / 1000).toFixed(1)} s)`);
    },
  });
  report(r, print);
  const expected = config.mutant === undefined ? r.violation === null && r.complete : r.violation !== null;
  if (!expected) print(config.mutant === undefined ? '  FAILED: see above' : `  FAILED: the broken variant ${config.mutant} was not caught within these bounds`);
  const v = r.violation;
  const doc: ExploreReport = {
    schema: 'bkv-explore/1',
    ok: expected,
    config,
    invariants: only ?? invariants,
    complete: r.complete,
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    seconds: Math.round(r.ms) / 1000,
    statesPerSecond: r.ms > 0 ? Math.round((r.states / r.ms) * 1000) : r.states,
    memoryMiB: Math.round(r.memoryBytes / 2 ** 20),
    violation: v && {
      invariants: v.invariants,
      statements: v.statements,
      steps: v.trace.map((t) => ({ action: t.action, effects: t.effects })),
    },
  };
  args.json?.(doc);
  return expected ? 0 : 1;
}
