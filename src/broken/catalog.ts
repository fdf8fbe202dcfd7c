/**
 * The catalog of broken variants (spec ch. 13.4): one name per bug, used by `bkv check --broken`,
 * `bkv explore --broken`, the tests and the spec. Each variant is the correct rules (`RULES`,
 * src/replication/host.ts) with one piece wrapped or replaced from outside, and names the checker
 * that must catch it and the invariants that checker reports. A variant's `reach` says which runs
 * reach the bug: a scenario suite (or one attack of the attack suite) in the simulator, and whether
 * the explorer's scope holds it.
 * @module
 */
import type { ExploreScope } from '../explore/explore.ts';
import { type ReplicaRules, RULES } from '../replication/host.ts';
import {
  ACK_BEFORE_DURABLE,
  NO_RESEAL_AT_START,
  UNCHAINED_SEGMENTS,
  VERSION_REUSE,
  TRUST_HOST_STORAGE,
  VOTE_NOT_PERSISTED,
} from './persistence.ts';
import {
  commitAtHalf,
  ke2BeforeCommit,
  snapshotBeyondCommit,
  snapshotChunkUnchecked,
  snapshotDropsPending,
  voteWithoutLogCheck,
} from './replica.ts';
import * as vault from './vault.ts';

export type SuiteName = 'consensus' | 'attack' | 'guess-limit';

export interface BrokenVariant {
  readonly name: string;
  readonly summary: string;
  /** The checker that must catch it. */
  readonly checker: string;
  /** The invariants that checker reports (spec ch. 12). */
  readonly expected: readonly string[];
  /** The simulator's runs that reach it (`bkv check --broken`): a suite, and in the attack suite the attack. */
  readonly suite?: SuiteName;
  readonly attack?: string;
  /** The test that shows it caught. */
  readonly test: string;
  /**
   * Where `bkv explore --broken` finds its counterexample (src/explore/explore.ts); absent: outside
   * the explorer's scope.
   */
  readonly explore?: ExploreScope;
  /** The rules it runs. */
  rules(base: ReplicaRules): ReplicaRules;
}

const onVault =
  (f: (v: ReplicaRules['vault']) => ReplicaRules['vault']) =>
  (b: ReplicaRules): ReplicaRules => ({ ...b, vault: f(b.vault) });

export const BROKEN: readonly BrokenVariant[] = [
  {
    name: 'commit-at-half',
    test: 'test/scenarios.test.ts',
    summary: 'an entry commits on floor(N/2) replicas, one short of a majority',
    checker: 'Raft safety',
    expected: ['INV-3', 'INV-9', 'INV-10', 'INV-11'],
    suite: 'consensus',
    explore: { system: 'fleet', bound: { sessions: [], maxTerm: 3, crashes: 0 }, depth: 8 },
    rules: (b) => ({ ...b, commitQuorum: commitAtHalf }),
  },
  {
    name: 'vote-without-log-check',
    test: 'test/scenarios.test.ts',
    summary: "a voter grants its vote without checking that the candidate's log is as up to date as its own",
    checker: 'Raft safety',
    expected: ['INV-3', 'INV-9', 'INV-10', 'INV-11'],
    suite: 'consensus',
    explore: { system: 'fleet', bound: { forking: 0, sessions: [], maxTerm: 3, crashes: 0 }, depth: 8 },
    rules: (b) => ({ ...b, replica: voteWithoutLogCheck(b.replica) }),
  },
  {
    name: 'trust-host-storage',
    test: 'test/scenarios.test.ts',
    summary: "no anchor and no ballot: the host's blob is taken as it comes",
    checker: 'Raft safety under rollback',
    expected: ['INV-1', 'INV-3', 'INV-8', 'INV-9', 'INV-10', 'INV-11', 'INV-15'],
    suite: 'attack',
    attack: 'storage-fork',
    explore: { system: 'persistence' },
    rules: (b) => ({ ...b, persistence: TRUST_HOST_STORAGE }),
  },
  {
    name: 'ack-before-durable',
    test: 'test/chaos.test.ts',
    summary: 'nothing is written durably (no sealed state, anchor or ballot): a replica acknowledges from memory',
    checker: 'Raft safety (in the simulator); no acknowledged registration lost (in a chaos run)',
    expected: ['INV-5', 'INV-6', 'INV-8', 'INV-9', 'INV-10', 'INV-11'],
    suite: 'consensus',
    rules: (b) => ({ ...b, persistence: ACK_BEFORE_DURABLE }),
  },
  {
    name: 'vote-not-persisted',
    test: 'test/replication-raft.test.ts',
    summary: 'the vote is neither sealed nor in the ballot: a restarted replica votes twice in a term',
    checker: 'election safety',
    expected: ['INV-8', 'INV-15'],
    explore: { system: 'persistence' },
    rules: (b) => ({ ...b, persistence: VOTE_NOT_PERSISTED }),
  },
  {
    name: 'version-reuse',
    test: 'test/storage-fork.test.ts',
    summary:
      'the persistence of 6ee2d9d: a life numbers its saves from the version it loaded, so two blobs share a version',
    checker: 'the guess budget under a storage fork',
    expected: ['INV-1', 'INV-3', 'INV-8', 'INV-10', 'INV-15'],
    suite: 'attack',
    attack: 'storage-fork-fleet',
    explore: { system: 'persistence' },
    rules: (b) => ({ ...b, persistence: VERSION_REUSE }),
  },
  {
    name: 'no-reseal-at-start',
    test: 'test/storage-fork.test.ts',
    summary:
      'the persistence of 84e9c74: a start seals nothing unless it detected a rollback, so two lives started on ' +
      'one blob leave sibling orphans, and effects released with no save are forgotten',
    checker: 'the guess budget under a storage fork',
    expected: ['INV-1', 'INV-3', 'INV-8', 'INV-10', 'INV-11', 'INV-15'],
    suite: 'attack',
    attack: 'storage-fork-siblings',
    explore: { system: 'persistence' },
    rules: (b) => ({ ...b, persistence: NO_RESEAL_AT_START }),
  },
  {
    name: 'unchained-segments',
    test: 'test/durable-segments.test.ts',
    summary: 'a loader that applies the segments the host presents without checking that each follows the one before',
    checker: 'the chain check of the sealed segments (a dropped, reordered or spliced segment is refused)',
    expected: ['INV-15'],
    rules: (b) => ({ ...b, persistence: UNCHAINED_SEGMENTS }),
  },
  {
    name: 'snapshot-beyond-commit',
    test: 'test/scenarios.test.ts',
    summary: 'a replica compacts into its snapshot entries it has received but not seen committed',
    checker: 'Raft safety (a snapshot stands only for committed entries)',
    expected: ['INV-11'],
    suite: 'consensus',
    explore: {
      system: 'fleet',
      bound: { sessions: [], maxTerm: 2, crashes: 0, forking: 0, snapshotEvery: 1 },
      depth: 8,
    },
    rules: (b) => ({ ...b, replica: snapshotBeyondCommit(b.replica) }),
  },
  {
    name: 'snapshot-chunk-unchecked',
    test: 'test/replication-snapshot.test.ts',
    summary: 'a follower takes an InstallSnapshot chunk without checking that the bytes it holds are of its snapshot',
    checker: 'state machine safety of snapshots (a snapshot is the records applied at its index)',
    expected: ['INV-11'],
    rules: (b) => ({ ...b, replica: snapshotChunkUnchecked(b.replica) }),
  },
  {
    name: 'snapshot-drops-pending',
    test: 'test/scenarios.test.ts',
    summary: 'a snapshot leaves out the pending sessions and gives their spent guesses back',
    checker: 'state machine safety of snapshots (a snapshot is the records applied at its index)',
    expected: ['INV-11', 'INV-1'],
    suite: 'guess-limit',
    rules: (b) => ({ ...b, replica: snapshotDropsPending(b.replica) }),
  },
  {
    name: 'ke2-before-commit',
    test: 'test/scenarios.test.ts',
    summary: 'the leader sends a KE2 as soon as its ConsumeGuess is in its own log',
    checker: 'G1 (a KE2 only after its ConsumeGuess commits)',
    expected: ['INV-3'],
    suite: 'guess-limit',
    rules: (b) => ({ ...b, replica: ke2BeforeCommit(b.replica) }),
  },
  {
    name: 'count-at-ke3',
    test: 'test/scenarios.test.ts',
    summary: 'a guess stays spent only if its KE3 fails: an aborted or expired session gives it back',
    checker: 'G5 (the guess budget, src/check/budget.ts)',
    expected: ['INV-1'],
    suite: 'guess-limit',
    explore: { system: 'fleet', bound: { replicas: 1, sessions: ['wrong', 'wrong'], crashes: 0, maxLog: 8 } },
    rules: onVault(vault.countAtKe3),
  },
  {
    name: 'never-erase',
    test: 'test/scenarios.test.ts',
    summary: 'G4 never fires: a record at its limit with no pending session keeps its secrets',
    checker: "erasure at the limit (INV-4, the fleet's safety monitor)",
    expected: ['INV-4'],
    suite: 'guess-limit',
    explore: { system: 'fleet', bound: { replicas: 1, sessions: ['wrong'], crashes: 0, maxLog: 8 } },
    rules: onVault(vault.neverErase),
  },
  {
    name: 'reset-keeps-pending',
    test: 'test/scenarios.test.ts',
    summary: 'a Reset zeroes the attempts but leaves the other pending sessions pending',
    checker: "pending sessions within the attempts (INV-7, the fleet's safety monitor)",
    expected: ['INV-7'],
    suite: 'guess-limit',
    explore: { system: 'fleet', bound: { replicas: 1, limit: 2, sessions: ['right', 'wrong'], crashes: 0, maxLog: 8 } },
    rules: onVault(vault.resetKeepsPending),
  },
  {
    name: 'release-without-ke3',
    test: 'test/scenarios.test.ts',
    summary: 'the KE3 MAC verdict is ignored: any KE3 resets the attempts and releases K',
    checker: 'G3 (a reset and K only after a verified KE3, src/check/budget.ts)',
    expected: ['INV-2'],
    suite: 'guess-limit',
    rules: onVault(vault.releaseWithoutKe3),
  },
  {
    name: 'stale-tries',
    test: 'test/scenarios.test.ts',
    summary: 'the KE2 reports the tries left as they were before its own guess',
    checker: 'linearizability (src/check/lincheck.ts)',
    expected: ['INV-5'],
    suite: 'guess-limit',
    rules: onVault(vault.staleTries),
  },
  {
    name: 'stale-guess-refused',
    test: 'test/scenarios.test.ts',
    summary: 'a guess whose record was re-registered after its KE1 is refused and answered with a fake KE2',
    // the owner holding the password is told it is wrong (INV-6), or an attacker is told tries of no budget (INV-5)
    checker: 'no acknowledged registration lost and linearizability (src/check/lost-registration.ts, lincheck.ts)',
    expected: ['INV-6', 'INV-5'],
    suite: 'guess-limit',
    rules: onVault(vault.staleGuessRefused),
  },
  {
    name: 'reset-any-registration',
    test: 'test/session-registration.test.ts',
    summary: 'a Reset of a session pending again on a newer registration is applied (its KE3 proved an old password)',
    checker: 'a session belongs to one registration (G3, G5), an explicit trace',
    expected: ['INV-2'],
    rules: onVault(vault.resetAnyRegistration),
  },
  {
    name: 'ack-before-commit',
    test: 'test/scenarios.test.ts',
    summary: 'RegisterDone is sent when the Register is proposed, before it commits',
    checker: 'no acknowledged registration lost (src/check/lost-registration.ts)',
    expected: ['INV-6'],
    suite: 'attack',
    attack: 'isolate-on-write',
    rules: onVault(vault.ackBeforeCommit),
  },
  {
    name: 'reset-without-pending',
    test: 'test/vault-model.test.ts',
    summary: 'a Reset is applied for a session that is not pending (ended, expired, or of an older registration)',
    checker: 'the record rules, model-based (G3)',
    expected: ['INV-2'],
    rules: onVault(vault.resetWithoutPending),
  },
  {
    name: 'no-guess-limit',
    test: 'test/vault-model.test.ts',
    summary: 'a ConsumeGuess at the limit is accepted',
    checker: 'the record rules, model-based (G4, G5)',
    // INV-7 when the guess beyond the limit leaves a pending session more than attempts used (the
    // monitor sees the record before the budget check sees the KE2s)
    expected: ['INV-1', 'INV-4', 'INV-7'],
    suite: 'guess-limit',
    rules: onVault(vault.noGuessLimit),
  },
  {
    name: 'refund-on-abort',
    test: 'test/vault-adversarial.test.ts',
    summary: 'a RecoverAbort gives its guess back',
    checker: 'the record rules, model-based (G2)',
    expected: ['INV-1'],
    rules: onVault(vault.refundOnAbort),
  },
  {
    name: 'expiry-ends-no-session',
    test: 'test/vault-model.test.ts',
    summary: 'expiry closes channels but never ends pending sessions: an abandoned KE2 blocks G4 forever',
    checker: 'the record rules, model-based (G4)',
    expected: ['INV-4'],
    rules: onVault(vault.expiryEndsNoSession),
  },
  {
    name: 'alert-closes-channel',
    test: 'test/vault-bad-input.test.ts',
    summary: 'a frame the vault cannot decrypt or place closes its channel: the relay could end any session',
    checker: 'bad input changes nothing',
    expected: ['INV-12'],
    rules: onVault(vault.alertClosesChannel),
  },
  {
    name: 'refused-ke3-ends-session',
    test: 'test/vault-bad-input.test.ts',
    summary: 'a refused Transport frame on a channel awaiting KE3 ends its session as a failed attempt',
    checker: 'bad input changes nothing',
    expected: ['INV-12'],
    rules: onVault(vault.refusedKe3EndsSession),
  },
  {
    name: 'free-text-alert',
    test: 'test/vault-bad-input.test.ts',
    summary: 'refusals answered with a reason outside the closed error codes',
    checker: 'bad input gets a closed code',
    expected: ['INV-12'],
    rules: onVault(vault.freeTextAlert),
  },
  {
    name: 'fake-tries-constant',
    test: 'test/vault-unknown.test.ts',
    summary: 'the fake tries of an unknown credential never go down: a probe tells it from a registered one',
    checker: 'enumeration resistance, side by side',
    expected: ['§3.2'],
    rules: onVault(vault.fakeTriesConstant),
  },
  {
    name: 'no-commit-for-unknown',
    test: 'test/vault-unknown.test.ts',
    summary: "an unknown credential's guess is not committed: its fake KE2 leaves sooner than a real one",
    checker: 'enumeration resistance, side by side',
    expected: ['§3.2'],
    rules: onVault(vault.noCommitForUnknown),
  },
];

/** The rules of variant `name` (the correct ones wrapped), for a runtime or a test. */
export function brokenRules(name: string, base: ReplicaRules = RULES): ReplicaRules {
  return getBroken(name).rules(base);
}

export function getBroken(name: string): BrokenVariant {
  const m = BROKEN.find((x) => x.name === name);
  if (!m) throw new RangeError(`no broken variant ${name} (known: ${BROKEN.map((x) => x.name).join(', ')})`);
  return m;
}
