/**
 * The transitions the conformance tests' graph paths take (spec ch. 10): for a machine of
 * model/docs.ts, every shortest path over its path events (path-events.ts), extended by
 * `coveringPaths` with one path per transition they miss, walked with `TransitionCoverage.taken`.
 * The tests drive the implementation along the same paths and require all of them taken; `bkv
 * report` marks them on the machines' diagrams.
 * @module
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { bundleMachine } from './bundle-machine.ts';
import { TransitionCoverage } from './coverage.ts';
import {
  BUNDLE_PATH_EVENTS,
  RECORD_PATH_EVENTS,
  REPLICA_MAX_TERM,
  REPLICA_PATH_EVENTS,
  SESSION_PATH_EVENTS,
  replicaAdmissible,
} from './path-events.ts';
import { coveringPaths } from './paths.ts';
import { recordMachine } from './record-machine.ts';
import { replicaMachine } from './replica-machine.ts';
import { sessionMachine } from './session-machine.ts';

interface Plan {
  readonly machine: AnyStateMachine;
  readonly events: readonly EventObject[];
  readonly filter?: (s: AnyMachineSnapshot, e: EventObject) => boolean;
}

const PLANS: Readonly<Record<string, Plan>> = {
  record: { machine: recordMachine, events: RECORD_PATH_EVENTS },
  session: { machine: sessionMachine, events: SESSION_PATH_EVENTS },
  replica: {
    machine: replicaMachine,
    events: REPLICA_PATH_EVENTS,
    filter: replicaAdmissible(REPLICA_MAX_TERM) as Plan['filter'],
  },
  bundle: { machine: bundleMachine, events: BUNDLE_PATH_EVENTS },
};

/** The ids (coverage.ts) of the transitions the paths take; null for a machine without a plan. */
export function machinePathCoverage(name: string): Set<string> | null {
  const plan = PLANS[name];
  if (plan === undefined) return null;
  const filter = plan.filter ?? (() => true);
  const model = createTestModel(plan.machine, { events: [...plan.events], filterEvents: filter });
  const paths = coveringPaths(model, plan.machine, model.getShortestPaths(), plan.events, filter);
  const coverage = new TransitionCoverage(plan.machine);
  const taken = new Set<string>();
  for (const p of paths)
    for (let i = 1; i < p.steps.length; i++)
      for (const t of coverage.taken(p.steps[i - 1]!.state, p.steps[i]!.event)) taken.add(t.id);
  return taken;
}
