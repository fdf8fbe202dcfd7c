/**
 * The finite event payloads the conformance tests draw their paths from (spec ch. 10,
 * "Conformance"), one list per machine: what `xstate/graph` traverses in test/model-*.test.ts, and
 * what model/path-coverage.ts walks to mark the transitions those paths take in `bkv report`.
 * @module
 */
import type { BundleDefect, BundleEvent } from './bundle-machine.ts';
import type { RecordEvent } from './record-machine.ts';
import type { ReplicaEvent, ReplicaSnapshot } from './replica-machine.ts';
import type { SessionEvent } from './session-machine.ts';

export const RECORD_PATH_LIMIT = 2;
export const RECORD_PATH_SESSIONS = ['s1', 's2', 's3'];

/** The record's paths: a limit-2 budget, three sessions, one invalid limit. */
export const RECORD_PATH_EVENTS: RecordEvent[] = [
  { type: 'Register', guessLimit: RECORD_PATH_LIMIT },
  { type: 'Register', guessLimit: 0 },
  ...RECORD_PATH_SESSIONS.map((sessionId) => ({ type: 'ConsumeGuess' as const, sessionId })),
  ...RECORD_PATH_SESSIONS.map((sessionId) => ({ type: 'Reset' as const, sessionId })),
  ...RECORD_PATH_SESSIONS.map((sessionId) => ({ type: 'EndSession' as const, sessionId, reason: 'expired' as const })),
  { type: 'Delete' },
];

export const SESSION_PATH_EVENTS: SessionEvent[] = [
  { type: 'RecoverStart', password: 'right' },
  { type: 'RecoverStart', password: 'wrong' },
  ...(
    [
      'HandleRecoverStart',
      'OnRecoverResponse',
      'HandleRecoverFinish',
      'HandleRecoverAbort',
      'OnReleased',
      'DropMessage',
      'SessionExpiry',
      'Restart',
      'Register',
    ] as const
  ).map((type) => ({ type })),
];

/** Terms are bounded for the traversal (the machine itself is not). */
export const REPLICA_MAX_TERM = 3;

export const REPLICA_PATH_EVENTS: ReplicaEvent[] = [
  { type: 'ElectionTimeout' },
  { type: 'HandleRequestVoteRequest', term: 'current', upToDate: true },
  { type: 'HandleRequestVoteRequest', term: 'current', upToDate: false },
  { type: 'HandleRequestVoteRequest', term: 'next', upToDate: true },
  { type: 'HandleRequestVoteRequest', term: 'next', upToDate: false },
  { type: 'HandleRequestVoteResponse', term: 'current', granted: true },
  { type: 'HandleRequestVoteResponse', term: 'current', granted: false },
  { type: 'HandleRequestVoteResponse', term: 'next', granted: false },
  { type: 'HandleAppendEntriesRequest', term: 'stale', echo: false },
  { type: 'HandleAppendEntriesRequest', term: 'current', echo: false },
  { type: 'HandleAppendEntriesRequest', term: 'current', echo: true },
  { type: 'HandleAppendEntriesRequest', term: 'next', echo: false },
  { type: 'HandleAppendEntriesRequest', term: 'next', echo: true },
  { type: 'HandleAppendEntriesResponse', term: 'next' },
  { type: 'Crash' },
  { type: 'Restart', storage: 'intact' },
  { type: 'Restart', storage: 'rolledBack' },
];

/** What the environment can send: no request or leader message of term 0 or below, no term above `maxTerm`. */
export function replicaAdmissible(maxTerm: number) {
  return (s: ReplicaSnapshot, e: ReplicaEvent): boolean => {
    const t = s.context.term;
    if ('term' in e && e.term === 'next' && t >= maxTerm) return false;
    if (e.type === 'ElectionTimeout' && (s.matches('Follower') || s.matches('Candidate')) && t >= maxTerm) return false;
    if ('term' in e && e.term !== 'next' && e.type !== 'HandleRequestVoteResponse' && t < 1) return false;
    return true;
  };
}

export const BUNDLE_EPOCHS = [1, 2, 3];
export const BUNDLE_DEFECTS: BundleDefect[] = [
  'unsigned',
  'witnessSignature',
  'operatorSignature',
  'digest',
  'namespace',
  'timestamp',
  'role',
];

export const BUNDLE_PATH_EVENTS: BundleEvent[] = [
  { type: 'InstallPinned' },
  { type: 'InstallOverTheAir' },
  ...(['none', 'pinned', 'other'] as const).map((served) => ({ type: 'ValidatePinned' as const, served })),
  ...BUNDLE_EPOCHS.flatMap((epoch) =>
    (['log', 'fork'] as const).map((source) => ({
      type: 'ValidateBundle' as const,
      epoch,
      source,
      defect: 'none' as const,
    })),
  ),
  // every defect at epoch 2: refused whatever the client holds, and role (checked after the epoch) meets every case
  ...BUNDLE_DEFECTS.map((defect) => ({ type: 'ValidateBundle' as const, epoch: 2, source: 'log' as const, defect })),
];
