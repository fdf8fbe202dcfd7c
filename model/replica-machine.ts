/**
 * A replica's role (spec ch. 6 and ch. 10): the consensus of `src/replication/raft.ts` seen from
 * one replica, with logs abstracted to "has entries or not" and the other replicas reduced to the
 * messages they send it. Restarts go through the sealed host storage and the HSM ballot of
 * `src/replication/durable.ts`: a replica whose host rolled its storage back restarts Restarting
 * (Raft's follower with `recovering` set: it neither votes nor campaigns) until a leader's
 * AppendEntries echoes its fresh recovery nonce.
 *
 *   Follower  --ElectionTimeout--> Candidate --HandleRequestVoteResponse [majority]--> Leader
 *   any of them --(a message of a higher term)--> Follower;  --Crash--> Crashed
 *   Crashed --Restart [storage intact]--> Follower | [rolled back, or was recovering]--> Restarting
 *   (either way the start reseals what it resumes from, so even at term 0 a lost blob is a rollback)
 *   Restarting --HandleAppendEntriesRequest [echoes its nonce]--> Follower
 *
 * Message terms are relative to the replica's: `stale` (one below), `current`, `next` (one above).
 * Crashes, restarts and the host's rollback are events; there are no timers.
 * @module
 */
import { assign, setup, type SnapshotFrom } from 'xstate';
import type { Invariant } from './invariants.ts';

export type RelativeTerm = 'stale' | 'current' | 'next';

export interface ReplicaContext {
  /** Fleet size (odd); a majority is floor(n/2) + 1. */
  readonly n: number;
  readonly term: number;
  /** Whom it voted for in `term`: nobody, itself, or the candidate that asked. */
  readonly votedFor: 'none' | 'self' | 'peer';
  /** Votes granted to it in `term` (itself included), while a candidate. */
  readonly votes: number;
  /** Its log is not empty (a leader appends a no-op of its term). */
  readonly hasEntries: boolean;
  /** Rolled back: no vote, no candidacy until caught up (durable). */
  readonly recovering: boolean;
  /** A start has sealed its state (every start reseals what it resumes from): its host now holds a blob. */
  readonly resealed: boolean;
}

export type ReplicaEvent =
  | { readonly type: 'ElectionTimeout' }
  | { readonly type: 'HandleRequestVoteRequest'; readonly term: 'current' | 'next'; readonly upToDate: boolean }
  | { readonly type: 'HandleRequestVoteResponse'; readonly term: 'current' | 'next'; readonly granted: boolean }
  | { readonly type: 'HandleAppendEntriesRequest'; readonly term: RelativeTerm; readonly echo: boolean }
  | { readonly type: 'HandleAppendEntriesResponse'; readonly term: 'next' }
  | { readonly type: 'Crash' }
  | { readonly type: 'Restart'; readonly storage: 'intact' | 'rolledBack' };

export const DEFAULT_REPLICA_FLEET = 5;

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

const termOf = (e: ReplicaEvent): RelativeTerm | null => ('term' in e ? e.term : null);
/** Raft §5.4.1 from the voter's side: the candidate's log is at least as up to date (an empty log is behind none). */
const isLogOk = (c: ReplicaContext, e: ReplicaEvent) =>
  e.type === 'HandleRequestVoteRequest' && (e.upToDate || !c.hasEntries);

export const replicaMachine = setup({
  types: {} as { context: ReplicaContext; events: ReplicaEvent; input: { n?: number } | undefined },
  guards: {
    isNextTerm: ({ event }) => termOf(event) === 'next',
    isStaleTerm: ({ event }) => termOf(event) === 'stale',
    /** A vote request of the next term that this replica grants once it has adopted the term. */
    grantsNextTerm: ({ context, event }) => termOf(event) === 'next' && !context.recovering && isLogOk(context, event),
    /** A vote request of its own term: it has not voted for anyone else, and the log is ok. */
    grantsCurrentTerm: ({ context, event }) =>
      termOf(event) === 'current' && !context.recovering && context.votedFor !== 'self' && isLogOk(context, event),
    isGrantedVote: ({ event }) =>
      event.type === 'HandleRequestVoteResponse' && event.term === 'current' && event.granted,
    winsElection: ({ context, event }) =>
      event.type === 'HandleRequestVoteResponse' &&
      event.term === 'current' &&
      event.granted &&
      context.votes + 1 >= majority(context.n),
    echoesNonceNextTerm: ({ event }) =>
      event.type === 'HandleAppendEntriesRequest' && event.echo && event.term === 'next',
    echoesNonce: ({ event }) => event.type === 'HandleAppendEntriesRequest' && event.echo && event.term !== 'stale',
    restartsRecovering: ({ context, event }) =>
      event.type === 'Restart' &&
      (context.recovering || (event.storage === 'rolledBack' && (context.term > 0 || context.resealed))),
  },
  actions: {
    startElection: assign(({ context }) => ({ term: context.term + 1, votedFor: 'self' as const, votes: 1 })),
    countVote: assign(({ context }) => ({ votes: context.votes + 1 })),
    /** Raft §8: the new leader appends a no-op of its term. */
    appendNoOp: assign({ hasEntries: true }),
    adoptNextTerm: assign(({ context }) => ({ term: context.term + 1, votedFor: 'none' as const, votes: 0 })),
    grantVote: assign({ votedFor: 'peer' as const }),
    stopRecovering: assign({ recovering: false }),
    loseVolatileState: assign({ votes: 0 }),
    /** Term and vote come back from the HSM ballot; the log is gone. */
    restartFromBallot: assign({ recovering: true, hasEntries: false, resealed: true }),
    /** The start seals the state it resumes from. */
    reseal: assign({ resealed: true }),
    stepDown: assign({ votes: 0 }),
  },
}).createMachine({
  id: 'replica',
  initial: 'Follower',
  context: ({ input }) => ({
    n: input?.n ?? DEFAULT_REPLICA_FLEET,
    term: 0,
    votedFor: 'none',
    votes: 0,
    hasEntries: false,
    recovering: false,
    resealed: false,
  }),
  states: {
    Follower: {
      on: {
        ElectionTimeout: { target: 'Candidate', actions: 'startElection' },
        HandleRequestVoteRequest: [
          { guard: 'grantsNextTerm', actions: ['adoptNextTerm', 'grantVote'] },
          { guard: 'isNextTerm', actions: 'adoptNextTerm' },
          { guard: 'grantsCurrentTerm', actions: 'grantVote' },
          {}, // refused: it voted for another candidate of this term, or its log is ahead
        ],
        HandleRequestVoteResponse: [{ guard: 'isNextTerm', actions: 'adoptNextTerm' }, {}],
        HandleAppendEntriesRequest: [{ guard: 'isStaleTerm' }, { guard: 'isNextTerm', actions: 'adoptNextTerm' }, {}],
        Crash: { target: 'Crashed', actions: 'loseVolatileState' },
      },
    },
    Candidate: {
      on: {
        ElectionTimeout: { target: 'Candidate', actions: 'startElection' },
        HandleRequestVoteResponse: [
          { guard: 'isNextTerm', target: 'Follower', actions: 'adoptNextTerm' },
          { guard: 'winsElection', target: 'Leader', actions: ['countVote', 'appendNoOp'] },
          { guard: 'isGrantedVote', actions: 'countVote' },
          {}, // refused
        ],
        HandleRequestVoteRequest: [
          { guard: 'grantsNextTerm', target: 'Follower', actions: ['adoptNextTerm', 'grantVote'] },
          { guard: 'isNextTerm', target: 'Follower', actions: 'adoptNextTerm' },
          {}, // it voted for itself
        ],
        HandleAppendEntriesRequest: [
          { guard: 'isStaleTerm' },
          { guard: 'isNextTerm', target: 'Follower', actions: 'adoptNextTerm' },
          { target: 'Follower', actions: 'stepDown' }, // a leader of its own term exists
        ],
        Crash: { target: 'Crashed', actions: 'loseVolatileState' },
      },
    },
    Leader: {
      on: {
        ElectionTimeout: {}, // a leader does not campaign
        // a late vote
        HandleRequestVoteResponse: [{ guard: 'isNextTerm', target: 'Follower', actions: 'adoptNextTerm' }, {}],
        HandleRequestVoteRequest: [
          { guard: 'grantsNextTerm', target: 'Follower', actions: ['adoptNextTerm', 'grantVote'] },
          { guard: 'isNextTerm', target: 'Follower', actions: 'adoptNextTerm' },
          {},
        ],
        // stale, or its own term: ignored
        HandleAppendEntriesRequest: [{ guard: 'isNextTerm', target: 'Follower', actions: 'adoptNextTerm' }, {}],
        HandleAppendEntriesResponse: { target: 'Follower', actions: 'adoptNextTerm' },
        Crash: { target: 'Crashed', actions: 'loseVolatileState' },
      },
    },
    Restarting: {
      on: {
        ElectionTimeout: {}, // no candidacy while recovering
        // adopts the term, never votes
        HandleRequestVoteRequest: [{ guard: 'isNextTerm', actions: 'adoptNextTerm' }, {}],
        HandleAppendEntriesRequest: [
          { guard: 'echoesNonceNextTerm', target: 'Follower', actions: ['adoptNextTerm', 'stopRecovering'] },
          { guard: 'echoesNonce', target: 'Follower', actions: 'stopRecovering' },
          { guard: 'isNextTerm', actions: 'adoptNextTerm' }, // an old (replayed) leader message: still recovering
          {},
        ],
        Crash: { target: 'Crashed', actions: 'loseVolatileState' },
      },
    },
    Crashed: {
      on: {
        Restart: [
          { guard: 'restartsRecovering', target: 'Restarting', actions: 'restartFromBallot' },
          { target: 'Follower', actions: 'reseal' },
        ],
      },
    },
  },
});

export type ReplicaSnapshot = SnapshotFrom<typeof replicaMachine>;

export const REPLICA_INVARIANTS: readonly Invariant<ReplicaSnapshot>[] = [
  {
    id: 'INV-8',
    statement:
      "one replica's share of election safety: a Candidate or Leader voted for itself " +
      'in its term, and only a Leader holds the votes of a majority of the fleet',
    holds: (s) => {
      const c = s.context;
      if (s.matches('Leader')) return c.votedFor === 'self' && c.votes >= majority(c.n);
      if (s.matches('Candidate')) return c.votedFor === 'self' && c.votes >= 1 && c.votes < majority(c.n);
      return true;
    },
  },
];
