/**
 * Conformance of a replica's role (spec ch. 6, ch. 10): `model/replica-machine.ts` against the
 * consensus steps of `src/replication/raft.ts` for replica 0 of a fleet of 5, with its durable
 * state sealed to host storage and its ballot kept in a MemoryHsm (`src/replication/durable.ts`),
 * exactly as the fleet driver persists and restarts a replica. The other replicas are the
 * messages the events stand for: votes from replicas 1..3, a candidate and leader replica 4.
 * After every step the role (Restarting = a recovering follower, Crashed = no process), term,
 * vote, candidate's vote count, whether the log holds entries and `recovering` must be the
 * model's, and INV-8 (the replica's share of election safety) must hold.
 */
import fc from 'fast-check';
import { assign, initialTransition, transition } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../src/crypto/canonical.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { type DurableStore, type Persistence, SEALED_PERSISTENCE, freshNonce } from '../src/replication/durable.ts';
import { VOTE_NOT_PERSISTED } from '../src/broken/persistence.ts';
import type { Version } from '../src/vault/storage.ts';
import {
  type Durable,
  type RaftConfig,
  type RaftState,
  type RaftStep,
  handleAppendEntriesRequest,
  handleAppendEntriesResponse,
  handleRequestVoteRequest,
  handleRequestVoteResponse,
  initialRaftState,
  lastLogTerm,
  onElectionTimeout,
  restartRaft,
} from '../src/replication/raft.ts';
import { MemoryHostStorage } from '../src/vault/storage.ts';
import { type Adapter, ChoiceCommand, ConformanceError, runEvents, runPath, setupRun } from '../model/conformance.ts';
import { TransitionCoverage, formatCoverage } from '../model/coverage.ts';
import { findViolations } from '../model/invariants.ts';
import { coveringPaths, pathEvents } from '../model/paths.ts';
import { REPLICA_MAX_TERM, REPLICA_PATH_EVENTS, replicaAdmissible } from '../model/path-events.ts';

const DEEP = process.env.BKV_DEEP === '1';
import {
  DEFAULT_REPLICA_FLEET,
  REPLICA_INVARIANTS,
  type ReplicaEvent,
  type ReplicaSnapshot,
  replicaMachine,
} from '../model/replica-machine.ts';

const MAX_TERM = REPLICA_MAX_TERM;
const CANDIDATE = 4; // the peer that asks for votes and then leads
const SEAL = 'model/replica/seal';
const EVENTS = REPLICA_PATH_EVENTS;
const admissibleUpTo = replicaAdmissible;
const admissible = admissibleUpTo(MAX_TERM);

interface ReplicaSut {
  readonly config: RaftConfig;
  readonly store: DurableStore & { storage: MemoryHostStorage };
  readonly rng: ReturnType<typeof seededRng>;
  /** null while crashed. */
  raft: RaftState<never> | null;
  /** What was last sealed (what a restart starts from when the host keeps it). */
  persisted: Durable<never>;
  version: Version;
  /** The persistence rule its host runs (durable.ts, or a broken variant). */
  readonly persistence: Persistence;
}

function live(sut: ReplicaSut): RaftState<never> {
  if (sut.raft === null) throw new Error('the replica is crashed');
  return sut.raft;
}

/** The fleet driver's rule: persist the durable state when it changed, before anything is released. */
function apply(sut: ReplicaSut, step: RaftStep<never>): void {
  sut.raft = step.state;
  if (canonicalJson(step.state.durable) !== canonicalJson(sut.persisted)) {
    sut.version = sut.persistence.persist(sut.store, sut.version, step.state.durable, sut.rng);
    sut.persisted = step.state.durable;
  }
}

const termOf = (s: RaftState<never>, t: 'stale' | 'current' | 'next') =>
  s.durable.currentTerm + (t === 'next' ? 1 : t === 'stale' ? -1 : 0);

let replicas = 0;

export const replicaAdapter: Adapter<ReplicaSnapshot, ReplicaEvent, ReplicaSut> = {
  machine: replicaMachine,
  invariants: REPLICA_INVARIANTS,
  events: EVENTS,
  filter: admissible,
  create() {
    const rng = seededRng(`model-replica ${replicas++}`);
    const hsm = MemoryHsm.create('replica-0', rng);
    hsm.generateKey(SEAL, 'aes256gcm');
    const config: RaftConfig = { id: 0, n: DEFAULT_REPLICA_FLEET, maxBatch: 16 };
    const raft = initialRaftState<never>(config);
    return {
      config,
      store: { hsm, sealLabel: SEAL, storage: new MemoryHostStorage() },
      rng,
      raft,
      persisted: raft.durable,
      version: 0n,
      persistence: SEALED_PERSISTENCE,
    };
  },
  step(sut, e) {
    switch (e.type) {
      case 'ElectionTimeout':
        return apply(sut, onElectionTimeout(live(sut)));
      case 'HandleRequestVoteRequest': {
        const s = live(sut);
        const log = s.durable.log;
        // a candidate whose log is behind ours has an empty log and lastLogTerm 0
        const [lastLogIndex, lastTerm] = e.upToDate ? [log.length, lastLogTerm(log)] : [0, 0];
        return apply(
          sut,
          handleRequestVoteRequest(s, CANDIDATE, {
            type: 'RequestVoteRequest',
            term: termOf(s, e.term),
            lastLogIndex,
            lastLogTerm: lastTerm,
          }),
        );
      }
      case 'HandleRequestVoteResponse': {
        const s = live(sut);
        const granted = s.candidate?.votesGranted ?? [];
        const from = [1, 2, 3, 4].find((j) => !granted.includes(j)) ?? 1;
        return apply(
          sut,
          handleRequestVoteResponse(s, from, {
            type: 'RequestVoteResponse',
            term: termOf(s, e.term),
            voteGranted: e.granted,
          }),
        );
      }
      case 'HandleAppendEntriesRequest': {
        // the leader's log is taken to be ours (logs are abstracted); `echo`: sent after our restart
        const s = live(sut);
        const log = s.durable.log;
        return apply(
          sut,
          handleAppendEntriesRequest(s, CANDIDATE, {
            type: 'AppendEntriesRequest',
            term: termOf(s, e.term),
            prevLogIndex: 0,
            prevLogTerm: 0,
            entries: log,
            leaderCommit: 0,
            leaderLastIndex: log.length,
            recoveryNonce: e.echo ? s.recoveryNonce : null,
          }),
        );
      }
      case 'HandleAppendEntriesResponse': {
        const s = live(sut);
        return apply(
          sut,
          handleAppendEntriesResponse(s, 1, {
            type: 'AppendEntriesResponse',
            term: termOf(s, e.term),
            success: false,
            matchIndex: 0,
            lastLogIndex: 0,
            recoveryNonce: null,
          }),
        );
      }
      case 'Crash':
        live(sut);
        sut.raft = null;
        return;
      case 'Restart': {
        if (sut.raft !== null) throw new Error('restart of a live replica');
        if (e.storage === 'rolledBack') sut.store.storage.rollback(1);
        const loaded = sut.persistence.load<never>(sut.store, sut.rng); // seals what it resumes from first
        sut.version = loaded.version;
        sut.persisted = loaded.durable;
        sut.raft = restartRaft(sut.config, loaded.durable, loaded.durable.recovering ? freshNonce(sut.rng) : null);
        return;
      }
    }
  },
  observe(sut) {
    const s = sut.raft;
    const d = s?.durable ?? sut.persisted;
    const role =
      s === null
        ? 'Crashed'
        : s.role === 'leader'
          ? 'Leader'
          : s.role === 'candidate'
            ? 'Candidate'
            : d.recovering
              ? 'Restarting'
              : 'Follower';
    return {
      state: role,
      term: d.currentTerm,
      votedFor:
        d.votedFor === null
          ? 'none'
          : d.votedFor === 0
            ? 'self'
            : d.votedFor === CANDIDATE
              ? 'peer'
              : `replica ${d.votedFor}`,
      votes: s?.role === 'candidate' ? s.candidate!.votesGranted.length : null,
      hasEntries: d.log.length > 0,
      recovering: d.recovering,
    };
  },
  expect(s) {
    const c = s.context;
    return {
      state: s.value,
      term: c.term,
      votedFor: c.votedFor,
      votes: s.matches('Candidate') ? c.votes : null,
      hasEntries: c.hasEntries,
      recovering: c.recovering,
    };
  },
};

const REPLICA_FLEET = `fleet of ${DEFAULT_REPLICA_FLEET}, terms <= ${MAX_TERM}`;
describe(`replica role: model/replica-machine.ts = src/replication/raft.ts + durable.ts (${REPLICA_FLEET})`, () => {
  const model = createTestModel(replicaMachine, { events: EVENTS, filterEvents: admissible });
  const shortest = model.getShortestPaths();
  const paths = coveringPaths(model, replicaMachine, shortest, EVENTS, admissible);

  const missed = paths.length - shortest.length;
  test(`every shortest path (${shortest.length}, plus ${missed} for missed transitions), step by step`, async () => {
    const coverage = new TransitionCoverage(replicaMachine);
    for (const path of paths) await runPath(replicaAdapter, path, coverage);
    const report = coverage.report();
    const stepCount = paths.reduce((n, p) => n + p.steps.length - 1, 0);
    console.log(`[model-replica] graph paths: ${paths.length} (${stepCount} steps), ${formatCoverage(report)}`);
    expect(report.missing).toEqual([]);
  });

  test('random schedules (fast-check commands), step by step; coverage printed', async () => {
    const coverage = new TransitionCoverage(replicaMachine);
    const deeper = { ...replicaAdapter, filter: admissibleUpTo(12) };
    const seed = Number(process.env.BKV_SEED ?? Date.now() % 2 ** 31);
    console.log(`[model-replica] fast-check seed ${seed}`);
    await fc.assert(
      // random runs go further: terms up to 12
      fc.asyncProperty(
        fc.commands([fc.nat().map((choice) => new ChoiceCommand(deeper, choice, coverage))], {
          maxCommands: 100,
          size: 'max',
        }),
        async (cmds) => {
          await fc.asyncModelRun(() => setupRun(deeper), cmds);
        },
      ),
      { numRuns: Number(process.env.BKV_RUNS ?? 100), seed },
    );
    console.log(`[model-replica] random runs: ${formatCoverage(coverage.report())}`);
  });
});

const SIMPLE_PATHS = DEEP
  ? 'BKV_DEEP=1: states told apart by role, term and recovery'
  : 'states told apart by role and term; BKV_DEEP=1 goes further';
describe(`simple paths (getSimplePaths; ${SIMPLE_PATHS})`, () => {
  test('every simple path, step by step', async () => {
    const serializeState = DEEP
      ? (s: ReplicaSnapshot) => JSON.stringify([s.value, s.context.term, s.context.recovering])
      : (s: ReplicaSnapshot) => JSON.stringify([s.value, s.context.term]);
    const paths = createTestModel(replicaMachine, {
      events: EVENTS,
      filterEvents: admissible,
      serializeState: serializeState as never,
    }).getSimplePaths();
    const coverage = new TransitionCoverage(replicaMachine);
    const runs = pathEvents(replicaMachine, paths, admissible);
    for (const run of runs) await runEvents(replicaAdapter, run, coverage);
    const stepCount = runs.reduce((n, r) => n + r.length, 0);
    console.log(
      `[model-replica] simple paths: ${runs.length} (${stepCount} steps), ${formatCoverage(coverage.report())}`,
    );
    expect(runs.length).toBe(paths.length);
  });
});

describe('the checks can fail', () => {
  test(
    'a replica whose vote is not persisted (the broken ' + 'variant vote-not-persisted) is caught at its restart',
    async () => {
      const forgetful: typeof replicaAdapter = {
        ...replicaAdapter,
        create() {
          const sut = replicaAdapter.create() as ReplicaSut;
          return { ...sut, persistence: VOTE_NOT_PERSISTED };
        },
      };
      const events: ReplicaEvent[] = [
        { type: 'HandleRequestVoteRequest', term: 'next', upToDate: true },
        { type: 'Crash' },
        { type: 'Restart', storage: 'intact' },
      ];
      await expect(runEvents(replicaAdapter, events)).resolves.toBeDefined();
      await expect(runEvents(forgetful, events)).rejects.toThrow(ConformanceError);
    },
  );

  test('INV-8 fails on a machine that makes a leader on any granted vote', () => {
    const run = (m: typeof replicaMachine, events: ReplicaEvent[]) =>
      events.reduce((s, e) => transition(m, s, e)[0], initialTransition(m, {})[0]);
    const oneVote: ReplicaEvent[] = [
      { type: 'ElectionTimeout' },
      { type: 'HandleRequestVoteResponse', term: 'current', granted: true },
    ];
    expect(findViolations(REPLICA_INVARIANTS, run(replicaMachine, oneVote))).toEqual([]);
    const hasty = replicaMachine.provide({
      guards: { winsElection: ({ event }) => event.type === 'HandleRequestVoteResponse' && event.granted },
    });
    expect(findViolations(REPLICA_INVARIANTS, run(hasty, oneVote))).toEqual(['INV-8']);
    const selfless = replicaMachine.provide({
      actions: { startElection: assign(({ context }) => ({ term: context.term + 1, votes: 1 })) },
    });
    expect(findViolations(REPLICA_INVARIANTS, run(selfless, oneVote.slice(0, 1)))).toEqual(['INV-8']);
  });
});
