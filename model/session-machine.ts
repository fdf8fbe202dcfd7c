/**
 * The client's recovery session (spec ch. 3 and ch. 10), with the vault's record as the client's
 * session sees it. One session at a time; each event is one protocol action of one party, or a
 * fault, and the state says which message is in flight:
 *
 *   RecoverStart          the client sends Handshake1(RecoverStart: KE1)       (startRecovery)
 *   HandleRecoverStart    the vault consumes a guess, commits it, answers KE2,  (handleRecoverStart,
 *                         or refuses (no guess left)                            onCommitted)
 *   OnRecoverResponse     the client reads KE2: right password -> KE3;          (onRecoverResponse)
 *                         wrong -> RecoverAbort and WrongPassword; refusal -> Locked
 *   HandleRecoverFinish   the vault verifies KE3, commits Reset, releases K     (handleRecoverFinish)
 *                         (or answers an alert when the session's channel is gone)
 *   HandleRecoverAbort    the vault ends the session; its guess stays spent     (handleRecoverAbort)
 *   OnReleased            the client opens K                                    (onReleased)
 *   DropMessage           the message in flight is lost; the client gives up
 *   SessionExpiry         the TTL passes: every pending session ends, channels close (handleSessionExpiry)
 *   Restart               the vault replica restarts: channels are lost, so the sessions they served
 *                         end (their guesses stay spent); records are not (spec ch. 6, "Serving")
 *   Register              the client registers again: a new record and budget   (startRegistration ...)
 *
 * Timeouts, crashes and losses are events (no `after`, no `invoke`), so a path is a schedule.
 * `ke2SinceSuccess` is ghost state (proof-only): KE2s that left the vault since the last Reset
 * or Register, for INV-1.
 * @module
 */
import { assertEvent, assign, setup, type SnapshotFrom } from 'xstate';
import { ke2BudgetViolation } from '../src/check/invariants.ts';
import type { Invariant } from './invariants.ts';

export type Password = 'right' | 'wrong';

export interface SessionContext {
  readonly guessLimit: number;
  /** The record's attempts and pending sessions (durable at the vault). */
  readonly attemptsUsed: number;
  readonly pending: number;
  /** The current session's password; null before the first session. */
  readonly password: Password | null;
  /** The vault still holds the current session's channel (volatile: lost on expiry and restart). */
  readonly channel: boolean;
  /** Tries remaining, as the last KE2 said. */
  readonly triesRemaining: number | null;
  /** Why the last session ended without a verdict. */
  readonly fault: 'Unavailable' | 'UnknownSession' | null;
  /** Ghost: KE2s that left the vault since the last success (Reset) or registration. */
  readonly ke2SinceSuccess: number;
}

export type SessionEvent =
  | { readonly type: 'RecoverStart'; readonly password: Password }
  | { readonly type: 'HandleRecoverStart' }
  | { readonly type: 'OnRecoverResponse' }
  | { readonly type: 'HandleRecoverFinish' }
  | { readonly type: 'HandleRecoverAbort' }
  | { readonly type: 'OnReleased' }
  | { readonly type: 'DropMessage' }
  | { readonly type: 'SessionExpiry' }
  | { readonly type: 'Restart' }
  | { readonly type: 'Register' };

export const DEFAULT_SESSION_LIMIT = 2;

export const sessionMachine = setup({
  types: {} as { context: SessionContext; events: SessionEvent; input: { guessLimit?: number } | undefined },
  guards: {
    hasGuessLeft: ({ context }) => context.attemptsUsed < context.guessLimit,
    isRightPassword: ({ context }) => context.password === 'right',
    holdsChannel: ({ context }) => context.channel,
  },
  actions: {
    startSession: assign(({ event }) => {
      assertEvent(event, 'RecoverStart');
      return { password: event.password, channel: false, triesRemaining: null, fault: null };
    }),
    consumeGuess: assign(({ context }) => ({
      attemptsUsed: context.attemptsUsed + 1,
      pending: context.pending + 1,
      channel: true,
      triesRemaining: context.guessLimit - context.attemptsUsed - 1,
      ke2SinceSuccess: context.ke2SinceSuccess + 1,
    })),
    closeChannel: assign({ channel: false }),
    resetAttempts: assign({ attemptsUsed: 0, pending: 0, channel: false, ke2SinceSuccess: 0 }),
    endSession: assign(({ context }) => ({ pending: context.pending - 1, channel: false })),
    expireSessions: assign({ pending: 0, channel: false }),
    endOrphanedSessions: assign({ pending: 0, channel: false }),
    register: assign({
      attemptsUsed: 0,
      pending: 0,
      password: null,
      channel: false,
      triesRemaining: null,
      fault: null,
      ke2SinceSuccess: 0,
    }),
    fail: assign((_, params: { fault: 'Unavailable' | 'UnknownSession' }) => ({ fault: params.fault })),
  },
}).createMachine({
  id: 'session',
  initial: 'Ready',
  context: ({ input }) => ({
    guessLimit: input?.guessLimit ?? DEFAULT_SESSION_LIMIT,
    attemptsUsed: 0,
    pending: 0,
    password: null,
    channel: false,
    triesRemaining: null,
    fault: null,
    ke2SinceSuccess: 0,
  }),
  on: {
    SessionExpiry: { actions: 'expireSessions' },
    Restart: { actions: 'endOrphanedSessions' },
  },
  states: {
    /** No message in flight: before the first session, or after a verdict. */
    Ready: {
      initial: 'Idle',
      on: {
        RecoverStart: { target: 'Recovering', actions: 'startSession' },
        Register: { target: '.Idle', actions: 'register' },
      },
      states: {
        Idle: {},
        Recovered: {},
        WrongPassword: {},
        Locked: {},
        Faulted: {},
      },
    },
    /** One message of the current session is in flight. */
    Recovering: {
      initial: 'Ke1InFlight',
      on: {
        DropMessage: { target: 'Ready.Faulted', actions: { type: 'fail', params: { fault: 'Unavailable' } } },
      },
      states: {
        Ke1InFlight: {
          on: {
            HandleRecoverStart: [
              { guard: 'hasGuessLeft', target: 'Ke2InFlight', actions: 'consumeGuess' },
              { target: 'RefusalInFlight' },
            ],
          },
        },
        Ke2InFlight: {
          on: { OnRecoverResponse: [{ guard: 'isRightPassword', target: 'Ke3InFlight' }, { target: 'AbortInFlight' }] },
        },
        RefusalInFlight: {
          on: { OnRecoverResponse: { target: '#session.Ready.Locked' } },
        },
        Ke3InFlight: {
          on: {
            HandleRecoverFinish: [
              { guard: 'holdsChannel', target: 'ReleaseInFlight', actions: 'resetAttempts' },
              { target: 'AlertInFlight' },
            ],
          },
        },
        /** The client already knows: WrongPassword. */
        AbortInFlight: {
          on: {
            HandleRecoverAbort: [
              { guard: 'holdsChannel', target: '#session.Ready.WrongPassword', actions: 'endSession' },
              { target: '#session.Ready.WrongPassword' },
            ],
            DropMessage: { target: '#session.Ready.WrongPassword' },
          },
        },
        ReleaseInFlight: {
          on: { OnReleased: { target: '#session.Ready.Recovered' } },
        },
        AlertInFlight: {
          on: {
            OnReleased: {
              target: '#session.Ready.Faulted',
              actions: { type: 'fail', params: { fault: 'UnknownSession' } },
            },
          },
        },
      },
    },
  },
});

export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>;

export const SESSION_INVARIANTS: readonly Invariant<SessionSnapshot>[] = [
  {
    id: 'INV-1',
    statement:
      'between two successes (or a registration and the first success) at most guessLimit KE2s leave the vault',
    holds: (s) => ke2BudgetViolation(s.context.ke2SinceSuccess, s.context.guessLimit) === null,
  },
  {
    id: 'INV-2',
    statement: 'K is recovered only in a session whose password was right (its KE3 verified)',
    holds: (s) => !s.matches({ Ready: 'Recovered' }) || s.context.password === 'right',
  },
  {
    id: 'INV-7',
    statement: 'the record has 0 <= pending sessions <= attemptsUsed <= guessLimit',
    holds: (s) =>
      0 <= s.context.pending &&
      s.context.pending <= s.context.attemptsUsed &&
      s.context.attemptsUsed <= s.context.guessLimit,
  },
];
