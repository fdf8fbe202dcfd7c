/**
 * The transitions of an XState machine, read from its definition, and the transition coverage of
 * a set of runs (spec ch. 10, "Conformance"). A transition is one candidate of one state's `on`
 * entry: a guarded branch is a transition of its own, so 100% coverage means every guard of every
 * state was taken at least once. The diagrams (mermaid.ts) are drawn from the same list.
 *
 *   listTransitions(machine)          every transition, in definition order, with a stable id
 *   new TransitionCoverage(machine)   record(snapshot, event) before each step; report()
 * @module
 */
import type {
  AnyEventObject,
  AnyMachineSnapshot,
  AnyStateMachine,
  AnyStateNode,
  AnyTransitionDefinition,
} from 'xstate';

export interface TransitionInfo {
  /** `source|event|k`: the k-th candidate of `event` in state `source`. */
  readonly id: string;
  /** State node id, e.g. `record.Registered`. */
  readonly source: string;
  readonly event: string;
  readonly index: number;
  /** Target state ids; empty for a transition that stays in its state (a self-loop in the diagram). */
  readonly targets: readonly string[];
  readonly guard: string | null;
  /** Names of the actions it runs (assignments are unnamed unless declared in `setup`). */
  readonly actions: readonly string[];
  readonly definition: AnyTransitionDefinition;
}

function nameOf(x: unknown): string | null {
  if (x === undefined || x === null) return null;
  if (typeof x === 'string') return x;
  if (typeof x === 'object' && 'type' in x && typeof (x as { type: unknown }).type === 'string')
    return (x as { type: string }).type;
  return null;
}

/** Every state node of the machine, depth first, in definition order (the root first). */
export function listStateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (node: AnyStateNode) => {
    out.push(node);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root);
  return out;
}

export function listTransitions(machine: AnyStateMachine): TransitionInfo[] {
  const out: TransitionInfo[] = [];
  for (const node of listStateNodes(machine)) {
    for (const [event, candidates] of node.transitions) {
      candidates.forEach((t, index) => {
        const guard = t.guard === undefined ? null : nameOf(t.guard);
        if (t.guard !== undefined && guard === null)
          throw new Error(`${node.id} on ${event}: every guard must be named (declare it in setup)`);
        out.push({
          id: `${node.id}|${event}|${index}`,
          source: node.id,
          event,
          index,
          targets: (t.target ?? []).map((s: AnyStateNode) => s.id),
          guard,
          actions: t.actions.map(nameOf).filter((a): a is string => a !== null),
          definition: t,
        });
      });
    }
  }
  return out;
}

export interface CoverageReport {
  readonly machine: string;
  readonly total: number;
  readonly covered: number;
  /** Ids of the transitions never taken. */
  readonly missing: readonly string[];
  /** How often each transition was taken, by id. */
  readonly counts: ReadonlyMap<string, number>;
}

export class TransitionCoverage {
  readonly machine: AnyStateMachine;
  readonly #byDefinition = new Map<AnyTransitionDefinition, TransitionInfo>();
  readonly #counts = new Map<string, number>();

  constructor(machine: AnyStateMachine) {
    this.machine = machine;
    for (const t of listTransitions(machine)) {
      this.#byDefinition.set(t.definition, t);
      this.#counts.set(t.id, 0);
    }
  }

  /** The transitions `event` takes from `snapshot` (none when the event is not handled there). */
  taken(snapshot: AnyMachineSnapshot, event: AnyEventObject): TransitionInfo[] {
    return this.machine.getTransitionData(snapshot, event).map((d: AnyTransitionDefinition) => {
      const t = this.#byDefinition.get(d);
      if (t === undefined)
        throw new Error(`transition of ${d.source.id} on ${event.type} is not in the machine's definition`);
      return t;
    });
  }

  /** Records the transitions `event` takes from `snapshot`; call it before stepping. */
  record(snapshot: AnyMachineSnapshot, event: AnyEventObject): TransitionInfo[] {
    const taken = this.taken(snapshot, event);
    for (const t of taken) this.#counts.set(t.id, (this.#counts.get(t.id) ?? 0) + 1);
    return taken;
  }

  /** Adds the counts of another tracker of the same machine. */
  merge(other: TransitionCoverage): void {
    for (const [id, n] of other.#counts) this.#counts.set(id, (this.#counts.get(id) ?? 0) + n);
  }

  report(): CoverageReport {
    const missing = [...this.#counts].filter(([, n]) => n === 0).map(([id]) => id);
    return {
      machine: this.machine.id,
      total: this.#counts.size,
      covered: this.#counts.size - missing.length,
      missing,
      counts: new Map(this.#counts),
    };
  }
}

/** One line per machine: `record: 27/27 transitions (100.0%)`, and the missing ones if any. */
export function formatCoverage(r: CoverageReport): string {
  const pct = r.total === 0 ? 100 : (100 * r.covered) / r.total;
  const head = `${r.machine}: ${r.covered}/${r.total} transitions (${pct.toFixed(1)}%)`;
  return r.missing.length === 0 ? head : `${head}; never taken: ${r.missing.join(', ')}`;
}
