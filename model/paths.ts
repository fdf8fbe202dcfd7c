/**
 * Test paths through a machine (spec ch. 10, "Conformance"). `xstate/graph` gives the shortest
 * path to every state; a transition that leads to an already reached state (a self-loop, a
 * refusal, a second way in) lies on no shortest path. `coveringPaths` adds, for each such
 * transition, the shortest path to a state where it is enabled followed by its event, so that the
 * paths together take every reachable transition of the machine.
 * @module
 */
import { type AnyMachineSnapshot, type AnyStateMachine, type EventObject, initialTransition, transition } from 'xstate';
import type { TestModel, TestPath } from 'xstate/graph';
import { TransitionCoverage } from './coverage.ts';

/** `paths`, plus one path per transition they do not take (shortest path to its source, then its event). */
export function coveringPaths<S extends AnyMachineSnapshot, E extends EventObject>(
  model: TestModel<S, E, unknown>,
  machine: AnyStateMachine,
  paths: readonly TestPath<S, E>[],
  events: readonly E[],
  filter: (snapshot: S, event: E) => boolean = () => true,
): TestPath<S, E>[] {
  const coverage = new TransitionCoverage(machine);
  const covered = new Set<string>();
  const walk = (p: TestPath<S, E>) => {
    for (let i = 1; i < p.steps.length; i++)
      for (const t of coverage.taken(p.steps[i - 1]!.state, p.steps[i]!.event)) covered.add(t.id);
  };
  paths.forEach(walk);
  const extra: TestPath<S, E>[] = [];
  for (const p of model.getShortestPaths({ allowDuplicatePaths: true })) {
    for (const e of events) {
      if (!filter(p.state, e)) continue;
      const taken = coverage.taken(p.state, e);
      if (taken.length === 0 || taken.every((t) => covered.has(t.id))) continue;
      const sequence = [...p.steps.slice(1).map((s) => s.event), e];
      const [path] = model.getPathsFromEvents(sequence, { filterEvents: filter });
      if (path === undefined) throw new Error(`no path for ${sequence.map((x) => x.type).join(' -> ')}`);
      extra.push(path);
      walk(path);
    }
  }
  return [...paths, ...extra];
}

/**
 * The events of each path, for `runEvents`. With a coarse `serializeState` (a simple-path
 * traversal needs one) a path's snapshots are those of the first state the traversal met under
 * each key, not necessarily the ones its events reach; so the events are replayed from the
 * initial state instead, each taken only while the state actually reached handles it.
 */
export function pathEvents<S extends AnyMachineSnapshot, E extends EventObject>(
  machine: AnyStateMachine,
  paths: readonly TestPath<S, E>[],
  filter: (snapshot: S, event: E) => boolean = () => true,
): E[][] {
  return paths.map((p) => {
    let snapshot = initialTransition(machine)[0] as S;
    const out: E[] = [];
    for (const step of p.steps.slice(1)) {
      if (machine.getTransitionData(snapshot, step.event).length === 0 || !filter(snapshot, step.event)) break;
      out.push(step.event);
      snapshot = transition(machine, snapshot, step.event)[0] as S;
    }
    return out;
  });
}
