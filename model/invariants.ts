/**
 * Invariants as named predicates (spec ch. 10 and ch. 12). Each one carries the name it has in
 * spec ch. 12 (`INV-n`), a one-line statement of what it says about *this* model, and a pure
 * predicate over a snapshot of the model. The model-based tests evaluate every predicate of a
 * machine after every step of every path (the explorer over the real code calls the predicates of
 * src/check/invariants.ts instead). Proof-only ("ghost") variables that a predicate needs are kept in the model's
 * state and labelled as such: they change no transition.
 * @module
 */

/** A named predicate over snapshots of type S. */
export interface Invariant<S> {
  /** The name in spec ch. 12, `INV-n`. */
  readonly id: string;
  /** One line: what holds in every reachable snapshot. */
  readonly statement: string;
  readonly holds: (snapshot: S) => boolean;
}

/** The ids of the invariants that do not hold in `snapshot`, in the order given. */
export function findViolations<S>(invariants: readonly Invariant<S>[], snapshot: S): string[] {
  return invariants.filter((inv) => !inv.holds(snapshot)).map((inv) => inv.id);
}

/** Orders invariant ids by their number (INV-2 before INV-10). */
export function compareInvariantIds(a: string, b: string): number {
  return Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, ''));
}
