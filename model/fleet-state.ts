/**
 * The fleet model's vocabulary (spec ch. 10, "The fleet model"): its configuration and bounds,
 * the broken variants, the byte layout of a state, the actions and how they print, and the
 * record rules of ch. 5 over the committed log (as `model/record-machine.ts` states them; checked
 * against it in test/model-explore.test.ts). The transitions are in `fleet-model.ts`.
 * @module
 */
import { VaultError } from '../src/errors.ts';

/**
 * Deliberately broken variants, each with what it breaks and the invariant the explorer finds
 * violated first (test/model-explore.test.ts checks each claim).
 */
export const FLEET_MUTANTS = {
  'commit-without-majority': { what: 'a leader commits (and sends the KE2) as soon as an entry is in its own log', breaks: 'INV-3' },
  'count-after-ke3': { what: 'the KE2 leaves at once; the guess is counted only when KE3 or RecoverAbort arrives', breaks: 'INV-3' },
  'no-vote-persist': { what: 'a restarted replica forgets whom it voted for in its term', breaks: 'INV-8' },
  'vote-without-log-check': { what: "a replica grants its vote without checking that the candidate's log is up to date", breaks: 'INV-10' },
  'release-on-abort': { what: 'a leader treats RecoverAbort like a valid KE3 (Reset, release)', breaks: 'INV-2' },
  'no-exhaust': { what: 'a record with no guess left and no pending session is not marked Exhausted', breaks: 'INV-4' },
  'reset-keeps-pending': { what: 'Reset zeroes the attempts but leaves the other pending sessions pending', breaks: 'INV-7' },
  'stale-entry-term': { what: 'a leader of term t > 1 labels the entries it appends with term t - 1', breaks: 'INV-9' },
} as const satisfies Record<string, { what: string; breaks: string }>;
export type FleetMutant = keyof typeof FLEET_MUTANTS;

export interface FleetModelConfig {
  readonly replicas: number;
  readonly credentials: number;
  /** The guess limit of every record. */
  readonly limit: number;
  /** Recovery sessions in all (each picks its credential and password when it starts). */
  readonly sessions: number;
  readonly maxTerm: number;
  readonly maxLog: number;
  /** Replicas crash and restart. */
  readonly crashes: boolean;
  /**
   * A partition cuts a replica off from the others. `folded` (the default): not an action of its
   * own, since every state a run with partitions reaches, a run without them reaches too (a
   * partition only disables deliveries, and every delivery is optional); `explicit`: Partition(i)
   * and Heal are actions and the state records the cut (the same states, up to N + 1 times over).
   */
  readonly partitions: 'folded' | 'explicit';
  /** Messages are lost: a client's KE3 or RecoverAbort, a follower's answer to AppendEntries. */
  readonly drops: boolean;
  readonly mutant?: FleetMutant;
}

export const DEFAULT_FLEET_MODEL: FleetModelConfig = Object.freeze({
  replicas: 3,
  credentials: 2,
  limit: 2,
  sessions: 3,
  maxTerm: 2,
  maxLog: 4,
  crashes: true,
  partitions: 'folded',
  drops: true,
});

// ---------------------------------------------------------------------------------------------
// Encoding

export const ROLE = { Follower: 0, Candidate: 1, Leader: 2 } as const;
/** The message of a session in flight. */
export const MSG = { None: 0, Ke1: 1, Ke2: 2, Ke3: 3, Abort: 4 } as const;
export const OP = { None: 0, ConsumingGuess: 1, AwaitKE3: 2, Resetting: 3, Ending: 4 } as const;
/** A session's password: not started, not used yet (or no longer relevant), right, wrong. */
export const PW = { NotStarted: 0, Unused: 1, Right: 2, Wrong: 3 } as const;
export const CMD = { ConsumeGuess: 0, Reset: 1, EndSession: 2 } as const;
/** Ghost flags: a KE2 or a release left against its rule, or a term got a second leader. */
export const FLAG = { ReleaseWithoutKe3: 1, Ke2WithoutMajority: 2, SecondLeader: 4 } as const;

export const CMD_NAMES = ['ConsumeGuess', 'Reset', 'EndSession'] as const;
export const ROLE_NAMES = ['F', 'C', 'L'] as const;
export const MSG_NAMES = ['-', 'KE1', 'KE2', 'KE3', 'Abort'] as const;
export const OP_NAMES = ['-', 'ConsumingGuess', 'AwaitKE3', 'Resetting', 'Ending'] as const;

/**
 * Byte offsets of a state. Per replica: term, votedFor (0 none, j+1), role, votes (bit mask),
 * commitIndex, log length, matchIndex per peer (a leader's), log entries. An entry is
 * `term * 32 + command`, command = 1 + type * sessions + session. Per session: credential,
 * password, message in flight, channel replica (0 none, i+1), channel op.
 */
export class FleetLayout {
  readonly n: number;
  readonly majority: number;
  readonly partition = 0;
  readonly replicaBase: number;
  readonly replicaSize: number;
  readonly sessionBase: number;
  readonly spentBase: number;
  /** Ghost: bit t-1 set once term t has had a leader. */
  readonly ledTerms: number;
  readonly committedLength: number;
  readonly committedBase: number;
  readonly commitTermBase: number;
  readonly flags: number;
  readonly size: number;
  // replica fields (relative)
  static readonly TERM = 0;
  static readonly VOTED = 1;
  static readonly ROLE = 2;
  static readonly VOTES = 3;
  static readonly COMMIT = 4;
  static readonly LEN = 5;
  static readonly MATCH = 6;
  readonly logOffset: number;
  // session fields (relative)
  static readonly CRED = 0;
  static readonly PASSWORD = 1;
  static readonly MSG = 2;
  static readonly CHANNEL = 3;
  static readonly OP = 4;
  static readonly SESSION_SIZE = 5;

  constructor(readonly cfg: FleetModelConfig) {
    checkConfig(cfg);
    this.n = cfg.replicas;
    this.majority = Math.floor(cfg.replicas / 2) + 1;
    this.logOffset = FleetLayout.MATCH + cfg.replicas;
    this.replicaSize = this.logOffset + cfg.maxLog;
    this.replicaBase = 1;
    this.sessionBase = this.replicaBase + cfg.replicas * this.replicaSize;
    this.spentBase = this.sessionBase + cfg.sessions * FleetLayout.SESSION_SIZE;
    this.ledTerms = this.spentBase + cfg.credentials;
    this.committedLength = this.ledTerms + 1;
    this.committedBase = this.committedLength + 1;
    this.commitTermBase = this.committedBase + cfg.maxLog;
    this.flags = this.commitTermBase + cfg.maxLog;
    this.size = (this.flags + 4) & ~3; // padded to whole 32-bit words (zeros), for hashing

  }

  r(i: number): number {
    return this.replicaBase + i * this.replicaSize;
  }
  s(k: number): number {
    return this.sessionBase + k * FleetLayout.SESSION_SIZE;
  }
  entry(term: number, type: number, session: number): number {
    return term * 32 + 1 + type * this.cfg.sessions + session;
  }
}

export function entryTerm(e: number): number {
  return e >> 5;
}
export function entryCommand(e: number, sessions: number): { type: number; session: number } {
  const c = (e & 31) - 1;
  return { type: Math.floor(c / sessions), session: c % sessions };
}

function checkConfig(c: FleetModelConfig): void {
  const bad = (what: string) => {
    throw new VaultError('InvalidParameter', what);
  };
  const int = (v: number, lo: number, hi: number, name: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) bad(`${name} expected an integer in ${lo}..${hi}, got ${v}`);
  };
  int(c.replicas, 1, 7, 'replicas');
  if (c.replicas % 2 === 0) bad(`replicas expected an odd number, got ${c.replicas}`);
  int(c.credentials, 1, 4, 'credentials');
  int(c.limit, 1, 7, 'limit');
  int(c.sessions, 1, 10, 'sessions');
  int(c.maxTerm, 1, 7, 'maxTerm');
  int(c.maxLog, 1, 12, 'maxLog');
  if (c.partitions !== 'folded' && c.partitions !== 'explicit') bad(`partitions expected "folded" or "explicit", got ${String(c.partitions)}`);
  if (c.mutant !== undefined && !(c.mutant in FLEET_MUTANTS)) bad(`unknown mutant "${c.mutant}" (known: ${Object.keys(FLEET_MUTANTS).join(', ')})`);
}

// ---------------------------------------------------------------------------------------------
// Actions

export const ACTION = {
  ElectionTimeout: 1,
  RequestVote: 2,
  AppendEntries: 4,
  AppendEntriesLost: 5,
  Restart: 6,
  Partition: 7,
  Heal: 8,
  RecoverStart: 9,
  HandleRecoverStart: 10,
  OnRecoverResponse: 11,
  HandleRecoverFinish: 12,
  HandleRecoverAbort: 13,
  SessionExpiry: 14,
  DropMessage: 15,
} as const;
const ACTION_NAMES = Object.fromEntries(Object.entries(ACTION).map(([k, v]) => [v, k])) as Record<number, string>;

/** An action as one integer: kind | a << 8 | b << 16 | c << 24. */
export function encodeAction(kind: number, a = 0, b = 0, c = 0): number {
  return kind | (a << 8) | (b << 16) | (c << 24);
}

export function describeAction(code: number): string {
  const kind = code & 255;
  const a = (code >> 8) & 255;
  const b = (code >> 16) & 255;
  const c = (code >> 24) & 255;
  const name = ACTION_NAMES[kind] ?? `?${kind}`;
  switch (kind) {
    case ACTION.ElectionTimeout:
    case ACTION.Restart:
    case ACTION.Partition:
      return `${name}(r${a})`;
    case ACTION.RequestVote:
    case ACTION.AppendEntries:
    case ACTION.AppendEntriesLost:
      return `${name}(r${a} -> r${b})`;
    case ACTION.Heal:
      return name;
    case ACTION.RecoverStart:
      return `${name}(s${a}, credential c${b})`;
    case ACTION.OnRecoverResponse:
      return `${name}(s${a}, ${b === PW.Right ? 'right' : 'wrong'} password)`;
    case ACTION.HandleRecoverStart:
    case ACTION.HandleRecoverFinish:
    case ACTION.HandleRecoverAbort:
    case ACTION.SessionExpiry:
      return `${name}(r${a}, s${b})`;
    default:
      return `${name}(s${a})`;
  }
}

// ---------------------------------------------------------------------------------------------
// The record rules over the committed log (records.ts, as record-machine.ts states them)

/** attempts, pending (bit mask of sessions), exhausted (0/1), per credential, in a scratch array. */
export class Records {
  readonly v: Int32Array;
  constructor(readonly layout: FleetLayout) {
    this.v = new Int32Array(3 * layout.cfg.credentials);
  }
  attempts(c: number): number {
    return this.v[3 * c]!;
  }
  pending(c: number): number {
    return this.v[3 * c + 1]!;
  }
  exhausted(c: number): boolean {
    return this.v[3 * c + 2] === 1;
  }
  /** The records after applying log[1..upTo] of replica i. */
  load(s: Uint8Array, i: number, upTo: number): this {
    this.v.fill(0);
    const base = this.layout.r(i) + this.layout.logOffset;
    for (let x = 0; x < upTo; x++) this.apply(s, s[base + x]!);
    return this;
  }
  /** Applies one entry; returns whether the command was accepted (refusals change nothing). */
  apply(s: Uint8Array, e: number): boolean {
    const L = this.layout;
    const { type, session } = entryCommand(e, L.cfg.sessions);
    const c = s[L.s(session) + FleetLayout.CRED]!;
    const bit = 1 << session;
    const v = this.v;
    const a = 3 * c;
    switch (type) {
      case CMD.ConsumeGuess:
        if (v[a + 2] === 1 || v[a]! >= L.cfg.limit || (v[a + 1]! & bit) !== 0) return false;
        v[a]! += 1;
        v[a + 1]! |= bit;
        return true;
      case CMD.Reset:
        if ((v[a + 1]! & bit) === 0) return false;
        v[a] = 0;
        v[a + 1] = L.cfg.mutant === 'reset-keeps-pending' ? v[a + 1]! & ~bit : 0;
        return true;
      default:
        if ((v[a + 1]! & bit) === 0) return false;
        v[a + 1]! &= ~bit;
        // G4: settle
        if (L.cfg.mutant !== 'no-exhaust' && v[a]! >= L.cfg.limit && v[a + 1] === 0) v[a + 2] = 1;
        return true;
    }
  }
}
