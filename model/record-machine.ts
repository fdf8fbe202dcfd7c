/**
 * The record lifecycle (spec ch. 5 and ch. 10): one credential's record in the vault's replicated
 * state machine, as `src/vault/records.ts` implements it. Events are the commands of the log, with
 * their names (`Register`, `ConsumeGuess`, `Reset`, `EndSession`, `Delete`); a refused command
 * is a transition too (it stays in its state and records the refusal's code), so the model says
 * exactly which commands every replica refuses.
 *
 *   NotRegistered --Register--> Registered --EndSession [last pending, budget spent]--> Exhausted
 *   Registered: ConsumeGuess spends a guess and opens a pending session (G1, G2); Reset (after a
 *   valid KE3) zeroes the attempts and ends every pending session (G3); EndSession ends one (G2:
 *   its guess stays spent); a record with no guess left and no pending session is Exhausted, its
 *   secret material erased (G4). Register replaces the record with a new budget, Delete removes it.
 *
 * A ConsumeGuess is spent on the record as it is when it commits: one whose KE1 arrived before a
 * re-registration committed spends a guess of the new budget (its KE2 is computed from that record).
 * @module
 */
import { assertEvent, assign, setup, type SnapshotFrom } from 'xstate';
import { MAX_GUESS_LIMIT } from '../src/vault/records.ts';
import { type RecordView, recordViolations } from '../src/check/invariants.ts';
import type { Invariant } from './invariants.ts';

/** The outcome of the last command: `ok`, or the code records.ts refuses it with. */
export type RecordOutcome = 'ok' | 'RecordNotFound' | 'GuessLimitExceeded' | 'UnknownSession' | 'InvalidParameter';

export interface RecordContext {
  /** 0 when not registered. */
  readonly guessLimit: number;
  readonly attemptsUsed: number;
  /** Pending sessions (their guess is spent, their KE3 may still come), sorted. */
  readonly pending: readonly string[];
  /** null before the first command. */
  readonly outcome: RecordOutcome | null;
}

export type EndReason = 'abort' | 'failed' | 'expired';

export type RecordEvent =
  | { readonly type: 'Register'; readonly guessLimit: number }
  | { readonly type: 'ConsumeGuess'; readonly sessionId: string }
  | { readonly type: 'Reset'; readonly sessionId: string }
  | { readonly type: 'EndSession'; readonly sessionId: string; readonly reason: EndReason }
  | { readonly type: 'Delete' };

const EMPTY: RecordContext = { guessLimit: 0, attemptsUsed: 0, pending: [], outcome: null };

const sessionOf = (e: RecordEvent): string | null => ('sessionId' in e ? e.sessionId : null);
const isPending = (c: RecordContext, e: RecordEvent): boolean => {
  const s = sessionOf(e);
  return s !== null && c.pending.includes(s);
};

export const recordMachine = setup({
  types: {} as { context: RecordContext; events: RecordEvent },
  guards: {
    isValidLimit: ({ event }) =>
      event.type === 'Register' &&
      Number.isInteger(event.guessLimit) &&
      event.guessLimit >= 1 &&
      event.guessLimit <= MAX_GUESS_LIMIT,
    hasNoGuessLeft: ({ context }) => context.attemptsUsed >= context.guessLimit,
    isPending: ({ context, event }) => isPending(context, event),
    /** G4: the last pending session of a spent budget ends. */
    endsLastSessionOfSpentBudget: ({ context, event }) =>
      isPending(context, event) && context.pending.length === 1 && context.attemptsUsed >= context.guessLimit,
  },
  actions: {
    register: assign(({ event }) => {
      assertEvent(event, 'Register');
      return { guessLimit: event.guessLimit, attemptsUsed: 0, pending: [], outcome: 'ok' as const };
    }),
    consumeGuess: assign(({ context, event }) => {
      assertEvent(event, 'ConsumeGuess');
      return {
        attemptsUsed: context.attemptsUsed + 1,
        pending: [...context.pending, event.sessionId].sort(),
        outcome: 'ok' as const,
      };
    }),
    resetAttempts: assign({ attemptsUsed: 0, pending: [], outcome: 'ok' as const }),
    endSession: assign(({ context, event }) => {
      assertEvent(event, 'EndSession');
      return { pending: context.pending.filter((s) => s !== event.sessionId), outcome: 'ok' as const };
    }),
    remove: assign({ ...EMPTY, outcome: 'ok' as const }),
    refuse: assign((_, params: { code: Exclude<RecordOutcome, 'ok'> }) => ({ outcome: params.code })),
  },
}).createMachine({
  id: 'record',
  initial: 'NotRegistered',
  context: EMPTY,
  states: {
    NotRegistered: {
      on: {
        Register: [
          { guard: 'isValidLimit', target: 'Registered', actions: 'register' },
          { actions: { type: 'refuse', params: { code: 'InvalidParameter' } } },
        ],
        ConsumeGuess: { actions: { type: 'refuse', params: { code: 'RecordNotFound' } } },
        Reset: { actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
        EndSession: { actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
        Delete: { actions: { type: 'refuse', params: { code: 'RecordNotFound' } } },
      },
    },
    Registered: {
      on: {
        Register: [
          { guard: 'isValidLimit', target: 'Registered', actions: 'register' },
          { actions: { type: 'refuse', params: { code: 'InvalidParameter' } } },
        ],
        ConsumeGuess: [
          { guard: 'hasNoGuessLeft', actions: { type: 'refuse', params: { code: 'GuessLimitExceeded' } } },
          { guard: 'isPending', actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
          { actions: 'consumeGuess' },
        ],
        Reset: [
          { guard: 'isPending', actions: 'resetAttempts' },
          { actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
        ],
        EndSession: [
          { guard: 'endsLastSessionOfSpentBudget', target: 'Exhausted', actions: 'endSession' },
          { guard: 'isPending', actions: 'endSession' },
          { actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
        ],
        Delete: { target: 'NotRegistered', actions: 'remove' },
      },
    },
    Exhausted: {
      on: {
        Register: [
          { guard: 'isValidLimit', target: 'Registered', actions: 'register' },
          { actions: { type: 'refuse', params: { code: 'InvalidParameter' } } },
        ],
        ConsumeGuess: { actions: { type: 'refuse', params: { code: 'GuessLimitExceeded' } } },
        Reset: { actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
        EndSession: { actions: { type: 'refuse', params: { code: 'UnknownSession' } } },
        Delete: { target: 'NotRegistered', actions: 'remove' },
      },
    },
  },
});

export type RecordSnapshot = SnapshotFrom<typeof recordMachine>;

/**
 * The record as INV-4 and INV-7 read it (src/check/invariants.ts, the predicates the explorer and the monitor call).
 */
function recordView(s: RecordSnapshot): RecordView | null {
  if (s.matches('NotRegistered')) return null;
  const { attemptsUsed, guessLimit, pending } = s.context;
  const exhausted = s.matches('Exhausted');
  return {
    status: exhausted ? 'Exhausted' : 'Registered',
    attemptsUsed,
    guessLimit,
    pending: pending.length,
    erased: exhausted,
  };
}

const holdsFor = (id: 'INV-4' | 'INV-7') => (s: RecordSnapshot) => {
  const r = recordView(s);
  return r === null || !recordViolations(r).some((v) => v.invariant === id);
};

export const RECORD_INVARIANTS: readonly Invariant<RecordSnapshot>[] = [
  {
    id: 'INV-4',
    statement:
      'a record with attempts == limit and no pending session is Exhausted, ' +
      'and an Exhausted record has no guess left and no pending session',
    holds: holdsFor('INV-4'),
  },
  {
    id: 'INV-7',
    statement: 'a registered record has 0 <= attemptsUsed <= guessLimit and at most attemptsUsed pending sessions',
    holds: holdsFor('INV-7'),
  },
];
