/**
 * Model-based conformance (spec ch. 10): a machine of `model/` and the implementation in `src/`
 * are driven with the same events, and after every step the implementation's observable state,
 * in the model's terms, must equal what the model's snapshot says, and every invariant of the
 * machine must hold. An `Adapter` is the only glue: how to make a fresh implementation, how to
 * apply one event to it, and what to compare.
 *
 * The event sequences come from `xstate/graph` paths (`runPath`) or from fast-check command
 * sequences (test/model-*.test.ts); both go through `checkStep`, and both record transition
 * coverage.
 * @module
 */
import { type AnyMachineSnapshot, type AnyStateMachine, type EventObject, initialTransition, transition } from 'xstate';
import type { TestPath } from 'xstate/graph';
import type { AsyncCommand } from 'fast-check';
import { canonicalJson } from '../src/crypto/canonical.ts';
import type { TransitionCoverage } from './coverage.ts';
import { type Invariant, findViolations } from './invariants.ts';

export interface Adapter<S extends AnyMachineSnapshot, E extends EventObject, Sut> {
  readonly machine: AnyStateMachine;
  readonly invariants: readonly Invariant<S>[];
  /** The finite event payloads the paths and the random runs draw from. */
  readonly events: readonly E[];
  /** Bounds a traversal (for instance a highest term); default: every handled event. */
  readonly filter?: (snapshot: S, event: E) => boolean;
  create(): Sut | Promise<Sut>;
  step(sut: Sut, event: E): void | Promise<void>;
  /** What the implementation shows, in the model's terms (JSON data). */
  observe(sut: Sut): unknown;
  /** What the model's snapshot says the implementation must show. */
  expect(snapshot: S): unknown;
  dispose?(sut: Sut): void;
}

export class ConformanceError extends Error {
  constructor(
    message: string,
    readonly trace: readonly string[],
  ) {
    super(`${message}\n  after: ${trace.length === 0 ? '(initial state)' : trace.join(' -> ')}`);
    this.name = 'ConformanceError';
  }
}

/** `EndSession{sessionId:s1,reason:expired}`: an event as the traces print it. */
export function describeEvent(e: { type: string }): string {
  const { type, ...rest } = e as Record<string, unknown> & { type: string };
  const keys = Object.keys(rest);
  return keys.length === 0 ? type : `${type}{${keys.map((k) => `${k}:${String(rest[k])}`).join(',')}}`;
}

/** The events of `adapter.events` the snapshot handles and the filter admits. */
export function enabledEvents<S extends AnyMachineSnapshot, E extends EventObject, Sut>(
  adapter: Adapter<S, E, Sut>,
  snapshot: S,
): E[] {
  return adapter.events.filter(
    (e) => adapter.machine.getTransitionData(snapshot, e).length > 0 && (adapter.filter?.(snapshot, e) ?? true),
  );
}

/** Compares the implementation with the snapshot and checks the invariants; throws with the trace. */
export function checkStep<S extends AnyMachineSnapshot, E extends EventObject, Sut>(
  adapter: Adapter<S, E, Sut>,
  sut: Sut,
  snapshot: S,
  trace: readonly string[],
): void {
  const violated = findViolations(adapter.invariants, snapshot);
  if (violated.length > 0)
    throw new ConformanceError(
      `model ${adapter.machine.id}: ${violated.join(', ')} violated in ` +
        `${canonicalJson(snapshot.value)} ${canonicalJson(snapshot.context)}`,
      trace,
    );
  const expected = canonicalJson(adapter.expect(snapshot));
  const observed = canonicalJson(adapter.observe(sut));
  if (expected !== observed)
    throw new ConformanceError(
      `${adapter.machine.id}: the implementation differs from the model\n` +
        `  model:          ${expected}\n` +
        `  implementation: ${observed}`,
      trace,
    );
}

/** One run: a fresh implementation, then `events` one by one, checked after each. Returns the final snapshot. */
export async function runEvents<S extends AnyMachineSnapshot, E extends EventObject, Sut>(
  adapter: Adapter<S, E, Sut>,
  events: readonly E[],
  coverage?: TransitionCoverage,
): Promise<S> {
  const sut = await adapter.create();
  try {
    let snapshot = initialTransition(adapter.machine)[0] as S;
    const trace: string[] = [];
    checkStep(adapter, sut, snapshot, trace);
    for (const event of events) {
      coverage?.record(snapshot, event);
      trace.push(describeEvent(event));
      await adapter.step(sut, event);
      snapshot = transition(adapter.machine, snapshot, event)[0] as S;
      checkStep(adapter, sut, snapshot, trace);
    }
    return snapshot;
  } finally {
    adapter.dispose?.(sut);
  }
}

/** Drives the implementation along an `xstate/graph` path with `path.test`, checking every state it passes. */
export async function runPath<S extends AnyMachineSnapshot, E extends EventObject, Sut>(
  adapter: Adapter<S, E, Sut>,
  path: TestPath<S, E>,
  coverage?: TransitionCoverage,
): Promise<void> {
  const sut = await adapter.create();
  try {
    let previous: S | null = null;
    const trace: string[] = [];
    const exec = async (step: { event: E }) => {
      if (previous === null) throw new Error('a path event before its initial state');
      coverage?.record(previous, step.event);
      trace.push(describeEvent(step.event));
      await adapter.step(sut, step.event);
    };
    const types = [...new Set(adapter.events.map((e) => e.type as string))];
    await path.test({
      events: Object.fromEntries(types.map((t) => [t, exec])) as never,
      states: {
        '*': (snapshot: S) => {
          checkStep(adapter, sut, snapshot, trace);
          previous = snapshot;
        },
      },
    });
  } finally {
    adapter.dispose?.(sut);
  }
}

/** The model side of a fast-check run: the machine's snapshot and the trace so far. */
export interface ModelBox<S> {
  snapshot: S;
  readonly trace: string[];
}

/**
 * One event as a fast-check command (`fc.commands`): enabled when the model's snapshot handles it
 * (and the adapter's filter admits it); running it steps the model and the implementation and
 * checks them with `checkStep`.
 */
export class EventCommand<S extends AnyMachineSnapshot, E extends EventObject, Sut>
  implements AsyncCommand<ModelBox<S>, { sut: Sut }>
{
  constructor(
    readonly adapter: Adapter<S, E, Sut>,
    readonly event: E,
    readonly coverage?: TransitionCoverage,
  ) {}
  check(m: Readonly<ModelBox<S>>): boolean {
    return (
      this.adapter.machine.getTransitionData(m.snapshot, this.event).length > 0 &&
      (this.adapter.filter?.(m.snapshot, this.event) ?? true)
    );
  }
  async run(m: ModelBox<S>, r: { sut: Sut }): Promise<void> {
    this.coverage?.record(m.snapshot, this.event);
    m.trace.push(describeEvent(this.event));
    await this.adapter.step(r.sut, this.event);
    m.snapshot = transition(this.adapter.machine, m.snapshot, this.event)[0] as S;
    checkStep(this.adapter, r.sut, m.snapshot, m.trace);
  }
  toString(): string {
    return describeEvent(this.event);
  }
}

/** The initial model and a fresh implementation, for `fc.asyncModelRun`. */
export async function setupRun<S extends AnyMachineSnapshot, E extends EventObject, Sut>(
  adapter: Adapter<S, E, Sut>,
): Promise<{ model: ModelBox<S>; real: { sut: Sut } }> {
  const snapshot = initialTransition(adapter.machine)[0] as S;
  const sut = await adapter.create();
  checkStep(adapter, sut, snapshot, []);
  return { model: { snapshot, trace: [] }, real: { sut } };
}

/**
 * A random step as a fast-check command: it takes the `choice`-th (modulo) event that is enabled
 * in the model's snapshot, so every generated command runs and random schedules go deep.
 */
export class ChoiceCommand<S extends AnyMachineSnapshot, E extends EventObject, Sut>
  implements AsyncCommand<ModelBox<S>, { sut: Sut }>
{
  #taken: E | null = null;
  constructor(
    readonly adapter: Adapter<S, E, Sut>,
    readonly choice: number,
    readonly coverage?: TransitionCoverage,
  ) {}
  check(m: Readonly<ModelBox<S>>): boolean {
    return enabledEvents(this.adapter, m.snapshot).length > 0;
  }
  async run(m: ModelBox<S>, r: { sut: Sut }): Promise<void> {
    const enabled = enabledEvents(this.adapter, m.snapshot);
    this.#taken = enabled[this.choice % enabled.length]!;
    await new EventCommand(this.adapter, this.#taken, this.coverage).run(m, r);
  }
  toString(): string {
    return this.#taken === null ? `choice ${this.choice}` : describeEvent(this.#taken);
  }
}
