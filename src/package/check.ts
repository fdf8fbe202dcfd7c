/**
 * `bkv/check`: histories and checkers (spec ch. 12): the guess budget, linearizability, lost registrations.
 * @module
 */
export * from '../check/history.ts';
export * from '../check/budget.ts';
export * from '../check/lincheck.ts';
export * from '../check/lost-registration.ts';
export * from '../check/record-model.ts';
export * from '../check/invariants.ts';
