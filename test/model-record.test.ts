/**
 * Conformance of the record lifecycle (spec ch. 5, ch. 10): `model/record-machine.ts` against
 * `applyCommand` of `src/vault/records.ts`. Every shortest path of the machine (xstate/graph),
 * extended to take every transition, and long fast-check command sequences drive both with the
 * same commands; after every step the record (status, limit, attempts, pending sessions, erased
 * secret material) and the command's outcome must be the model's, and INV-4 and INV-7 must hold.
 * Transition coverage is printed and must be 100%.
 */
import fc from 'fast-check';
import { assign, initialTransition, transition } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { describe, expect, test } from 'vitest';
import { type Command, type VaultState, EMPTY_VAULT, applyCommand } from '../src/vault/records.ts';
import { type Adapter, ConformanceError, EventCommand, runEvents, runPath, setupRun } from '../model/conformance.ts';
import { TransitionCoverage, formatCoverage } from '../model/coverage.ts';
import { findViolations } from '../model/invariants.ts';
import { RECORD_INVARIANTS, type RecordEvent, type RecordSnapshot, recordMachine } from '../model/record-machine.ts';
import { coveringPaths, pathEvents } from '../model/paths.ts';
import { RECORD_PATH_EVENTS, RECORD_PATH_LIMIT, RECORD_PATH_SESSIONS } from '../model/path-events.ts';

const DEEP = process.env.BKV_DEEP === '1';

const CREDENTIAL = 'c0ffee';
const LIMIT = RECORD_PATH_LIMIT;
const SESSIONS = RECORD_PATH_SESSIONS;
const EVENTS = RECORD_PATH_EVENTS;

interface RecordSut {
  state: VaultState;
  outcome: string | null;
  /** A refusal returned the very same state object (records.ts: refusals change nothing). */
  refusalsUnchanged: boolean;
}

/** The command records.ts receives for a model event. */
function toCommand(sut: RecordSut, e: RecordEvent): Command {
  switch (e.type) {
    case 'Register':
      return {
        type: 'Register',
        credentialId: CREDENTIAL,
        registrationRecord: 'aa',
        sealedPayload: 'bb',
        transcriptHash: 'cc',
        guessLimit: e.guessLimit,
      };
    case 'ConsumeGuess':
      return { type: 'ConsumeGuess', credentialId: CREDENTIAL, sessionId: e.sessionId, at: 0 };
    case 'Reset':
      // the registration the session's KE2 came from: the current one (a model session never outlives it)
      return {
        type: 'Reset',
        credentialId: CREDENTIAL,
        sessionId: e.sessionId,
        registration: sut.state.records[CREDENTIAL]?.transcriptHash ?? '',
      };
    case 'EndSession':
      return { type: 'EndSession', credentialId: CREDENTIAL, sessionId: e.sessionId, reason: e.reason };
    case 'Delete':
      return { type: 'Delete', credentialId: CREDENTIAL };
  }
}

const recordAdapter: Adapter<RecordSnapshot, RecordEvent, RecordSut> = {
  machine: recordMachine,
  invariants: RECORD_INVARIANTS,
  events: EVENTS,
  create: () => ({ state: EMPTY_VAULT, outcome: null, refusalsUnchanged: true }),
  step(sut, e) {
    const before = sut.state;
    const { state, outcome } = applyCommand(before, toCommand(sut, e));
    sut.state = state;
    sut.outcome = outcome.ok ? 'ok' : outcome.code;
    if (!outcome.ok && state !== before) sut.refusalsUnchanged = false;
  },
  observe(sut) {
    const r = sut.state.records[CREDENTIAL];
    return {
      state: r?.status ?? 'NotRegistered',
      guessLimit: r?.guessLimit ?? 0,
      attemptsUsed: r?.attemptsUsed ?? 0,
      pending: Object.keys(r?.pending ?? {}).sort(),
      outcome: sut.outcome,
      erased: r !== undefined && r.registrationRecord === null && r.sealedPayload === null,
      refusalsUnchanged: sut.refusalsUnchanged,
    };
  },
  expect(s) {
    return {
      state: s.value,
      guessLimit: s.context.guessLimit,
      attemptsUsed: s.context.attemptsUsed,
      pending: s.context.pending,
      outcome: s.context.outcome,
      erased: s.value === 'Exhausted',
      refusalsUnchanged: true,
    };
  },
};

describe('record lifecycle: model/record-machine.ts = src/vault/records.ts', () => {
  const model = createTestModel(recordMachine, { events: EVENTS });
  const shortest = model.getShortestPaths();
  const paths = coveringPaths(model, recordMachine, shortest, EVENTS);
  const coverage = new TransitionCoverage(recordMachine);

  const missed = paths.length - shortest.length;
  test(
    `every shortest path (${shortest.length}), and one more ` +
      `path per transition they miss (${missed}), step by step`,
    async () => {
      for (const path of paths) await runPath(recordAdapter, path, coverage);
      const report = coverage.report();
      console.log(`[model-record] graph paths: ${paths.length}, ${formatCoverage(report)}`);
      expect(report.missing).toEqual([]);
    },
  );

  test(
    'long random command sequences (fast-check commands), ' + 'step by step; coverage of the random runs printed',
    async () => {
      const random = new TransitionCoverage(recordMachine);
      const sessions = fc.constantFrom('s1', 's2', 's3', 's4');
      const event: fc.Arbitrary<RecordEvent> = fc.oneof(
        {
          weight: 1,
          arbitrary: fc
            .oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(0, 256, 1.5))
            .map((guessLimit) => ({ type: 'Register' as const, guessLimit })),
        },
        {
          weight: 4,
          arbitrary: sessions.map((sessionId) => ({ type: 'ConsumeGuess' as const, sessionId })),
        },
        { weight: 2, arbitrary: sessions.map((sessionId) => ({ type: 'Reset' as const, sessionId })) },
        {
          weight: 4,
          arbitrary: fc
            .record({
              sessionId: sessions,
              reason: fc.constantFrom('abort' as const, 'failed' as const, 'expired' as const),
            })
            .map((e) => ({ type: 'EndSession' as const, ...e })),
        },
        { weight: 1, arbitrary: fc.constant({ type: 'Delete' as const }) },
      );
      const seed = Number(process.env.BKV_SEED ?? Date.now() % 2 ** 31);
      console.log(`[model-record] fast-check seed ${seed}`);
      await fc.assert(
        fc.asyncProperty(
          fc.commands([event.map((e) => new EventCommand(recordAdapter, e, random))], {
            maxCommands: 200,
            size: 'max',
          }),
          async (cmds) => {
            await fc.asyncModelRun(() => setupRun(recordAdapter), cmds);
          },
        ),
        { numRuns: Number(process.env.BKV_RUNS ?? 200), seed },
      );
      console.log(`[model-record] random runs: ${formatCoverage(random.report())}`);
    },
  );
});

const SIMPLE_PATHS = DEEP ? 'BKV_DEEP=1: limit 3, four sessions' : 'limit 2, three sessions; BKV_DEEP=1 goes further';
describe(`simple paths (getSimplePaths; ${SIMPLE_PATHS})`, () => {
  test(
    'every simple path over records told apart by status, ' + 'limit, attempts and pending sessions, step by step',
    async () => {
      const limit = DEEP ? 3 : 2;
      const sessions = DEEP ? ['s1', 's2', 's3', 's4'] : SESSIONS;
      const events: RecordEvent[] = [
        { type: 'Register', guessLimit: limit },
        { type: 'Register', guessLimit: 0 },
        ...sessions.flatMap((sessionId) => [
          { type: 'ConsumeGuess' as const, sessionId },
          { type: 'Reset' as const, sessionId },
          { type: 'EndSession' as const, sessionId, reason: 'failed' as const },
        ]),
        { type: 'Delete' },
      ];
      const serializeState = (s: RecordSnapshot) =>
        JSON.stringify([s.value, s.context.guessLimit, s.context.attemptsUsed, s.context.pending]);
      const paths = createTestModel(recordMachine, {
        events,
        serializeState: serializeState as never,
      }).getSimplePaths();
      const coverage = new TransitionCoverage(recordMachine);
      const runs = pathEvents(recordMachine, paths);
      for (const run of runs) await runEvents(recordAdapter, run, coverage);
      const stepCount = runs.reduce((n, r) => n + r.length, 0);
      console.log(
        `[model-record] simple paths: ${runs.length} (${stepCount} steps), ${formatCoverage(coverage.report())}`,
      );
      expect(runs.length).toBe(paths.length);
    },
  );
});

describe('the checks can fail', () => {
  test(
    'a record rule changed in the implementation (a ' + 'refunded guess on EndSession) is caught with its trace',
    async () => {
      const refunding: typeof recordAdapter = {
        ...recordAdapter,
        step(sut, e) {
          recordAdapter.step(sut, e);
          const r = sut.state.records[CREDENTIAL];
          if (e.type === 'EndSession' && sut.outcome === 'ok' && r && r.attemptsUsed > 0) {
            sut.state = { records: { ...sut.state.records, [CREDENTIAL]: { ...r, attemptsUsed: r.attemptsUsed - 1 } } };
          }
        },
      };
      const events: RecordEvent[] = [
        { type: 'Register', guessLimit: 2 },
        { type: 'ConsumeGuess', sessionId: 's1' },
        { type: 'EndSession', sessionId: 's1', reason: 'abort' },
      ];
      await expect(runEvents(refunding, events)).rejects.toThrow(ConformanceError);
      await expect(runEvents(recordAdapter, events)).resolves.toBeDefined();
    },
  );

  test(
    'INV-4 fails on a machine that never exhausts, ' + 'INV-7 on one that opens a session without counting its guess',
    () => {
      const run = (m: typeof recordMachine, events: RecordEvent[]) =>
        events.reduce((s, e) => transition(m, s, e)[0], initialTransition(m)[0]);
      const spend: RecordEvent[] = [
        { type: 'Register', guessLimit: 1 },
        { type: 'ConsumeGuess', sessionId: 's1' },
        { type: 'EndSession', sessionId: 's1', reason: 'failed' },
      ];
      expect(findViolations(RECORD_INVARIANTS, run(recordMachine, spend))).toEqual([]);
      const neverExhausts = recordMachine.provide({ guards: { endsLastSessionOfSpentBudget: () => false } });
      expect(findViolations(RECORD_INVARIANTS, run(neverExhausts, spend))).toEqual(['INV-4']);
      const uncounted = recordMachine.provide({
        actions: {
          consumeGuess: assign(({ context, event }) => ({
            pending: [...context.pending, (event as { sessionId: string }).sessionId],
          })),
        },
      });
      expect(findViolations(RECORD_INVARIANTS, run(uncounted, spend.slice(0, 2)))).toEqual(['INV-7']);
    },
  );
});
