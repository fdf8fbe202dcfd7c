/**
 * The vault's replicated state machine: the records and the commands that change them
 * (spec ch. 5, "The guess limit"). `applyCommand` is pure and deterministic, so every replica
 * that applies the same committed log reaches the same state; the single-replica vault and the
 * replicated fleet both apply exactly this function (the replication layer adds no rule of its own).
 *
 *   Register      replace the record of a credential (new password, new K, new budget)
 *   ConsumeGuess  attempts += 1 and the session becomes pending          (G1, G2: before KE2)
 *   Reset         attempts = 0 and all pending sessions end                (G3: after a valid KE3)
 *   EndSession    a pending session ends without success (abort, failed KE3, expiry)
 *   Delete        the record is removed
 *
 * After every command: a record with attempts == limit and no pending session becomes
 * `Exhausted`, and its secret material (OPAQUE record, sealed payload) is erased (G4).
 * @module
 */
import { VaultError } from '../errors.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { asTable, markedEntries, withEntry } from './record-table.ts';

/** Moved to src/crypto/canonical.ts (shared with the fleet documents); re-exported for existing importers. */
export { canonicalJson };

/** Hex of a credential identifier, a session id: map keys and log-friendly. */
export type Hex = string;

export const DEFAULT_GUESS_LIMIT = 10;
export const MAX_GUESS_LIMIT = 255;

export type RecordStatus = 'Registered' | 'Exhausted';

export interface VaultRecord {
  readonly status: RecordStatus;
  /** Increments on each registration of this credential: a session belongs to one generation. */
  readonly generation: number;
  /** RFC 9807 RegistrationRecord bytes (hex); erased when Exhausted. */
  readonly registrationRecord: Hex | null;
  /** K sealed by the client under a key derived from export_key (hex); erased when Exhausted. */
  readonly sealedPayload: Hex | null;
  /** SHA-256 of the registration transcript (hex). */
  readonly transcriptHash: Hex;
  /**
   * The registration's random OPRF salt (hex): the OPRF key is derived from the credential id and
   * this salt, so a RegistrationResponse never evaluates the OPRF key of an existing record
   * (spec ch. 5, "One OPRF key per registration"). Absent only in the record-rule vectors, which
   * run no OPAQUE; the vault then derives the key from the id alone.
   */
  readonly oprfSalt?: Hex;
  readonly guessLimit: number;
  readonly attemptsUsed: number;
  /** Sessions whose KE2 may have left (their guess is spent), with the time their KE1 was accepted. */
  readonly pending: Readonly<Record<Hex, number>>;
}

export interface VaultState {
  readonly records: Readonly<Record<Hex, VaultRecord>>;
}

export const EMPTY_VAULT: VaultState = Object.freeze({ records: Object.freeze({}) });

export type Command =
  | {
      readonly type: 'Register';
      readonly credentialId: Hex;
      readonly registrationRecord: Hex;
      readonly sealedPayload: Hex;
      readonly transcriptHash: Hex;
      readonly oprfSalt?: Hex;
      readonly guessLimit: number;
    }
  | {
      readonly type: 'ConsumeGuess';
      readonly credentialId: Hex;
      readonly sessionId: Hex;
      readonly at: number;
    }
  | {
      readonly type: 'Reset';
      readonly credentialId: Hex;
      readonly sessionId: Hex;
      /** The `transcriptHash` of the registration its KE2 was computed from (whose password its KE3 proved). */
      readonly registration: Hex;
    }
  | {
      readonly type: 'EndSession';
      readonly credentialId: Hex;
      readonly sessionId: Hex;
      readonly reason: 'abort' | 'failed' | 'expired';
    }
  | { readonly type: 'Delete'; readonly credentialId: Hex };

export type CommandType = Command['type'];

export type Outcome =
  | { readonly ok: true; readonly record: VaultRecord | null }
  | {
      readonly ok: false;
      readonly code: 'RecordNotFound' | 'GuessLimitExceeded' | 'UnknownSession' | 'InvalidParameter';
    };

export function triesRemaining(r: VaultRecord): number {
  return r.guessLimit - r.attemptsUsed;
}

export function isGuessLimitValid(limit: unknown): limit is number {
  return Number.isInteger(limit) && (limit as number) >= 1 && (limit as number) <= MAX_GUESS_LIMIT;
}

/** G4: erase the secret material of a record with no guess left and no pending session. */
function settle(r: VaultRecord): VaultRecord {
  if (r.status === 'Registered' && r.attemptsUsed >= r.guessLimit && Object.keys(r.pending).length === 0) {
    return { ...r, status: 'Exhausted', registrationRecord: null, sealedPayload: null };
  }
  return r;
}

const hasPending = (r: VaultRecord) => Object.keys(r.pending).length > 0;

/** One record changed: O(1) in the number of records (record-table.ts), the state before unchanged. */
function withRecord(state: VaultState, id: Hex, r: VaultRecord | null): VaultState {
  return { records: withEntry(state.records, id, r, hasPending) };
}

/**
 * The state with its records as a persistent table (record-table.ts): a snapshot decoded from
 * storage or from a leader holds a plain object, whose first update would otherwise take it, O(n),
 * inside a client's operation. A replica takes it when it restarts or installs a snapshot.
 */
export function withRecordTable(state: VaultState): VaultState {
  const records = asTable(state.records, hasPending);
  return records === state.records ? state : { records };
}

/** The records with a pending session, in the records' order, found without a scan of every record. */
export function pendingRecords(state: VaultState): [Hex, VaultRecord][] {
  return markedEntries(state.records, hasPending);
}

function without(pending: Readonly<Record<Hex, number>>, sessionId: Hex): Record<Hex, number> {
  const out = { ...pending };
  delete out[sessionId];
  return out;
}

/**
 * Applies one committed command. Refusals leave the state unchanged (the same object) and say why;
 * they are decided by the state alone, so every replica refuses the same commands.
 */
export function applyCommand(state: VaultState, cmd: Command): { state: VaultState; outcome: Outcome } {
  const refuse = (code: Extract<Outcome, { ok: false }>['code']) => ({ state, outcome: { ok: false as const, code } });
  const done = (r: VaultRecord | null) => ({
    state: withRecord(state, cmd.credentialId, r),
    outcome: { ok: true as const, record: r },
  });
  const r = state.records[cmd.credentialId];
  switch (cmd.type) {
    case 'Register': {
      if (!isGuessLimitValid(cmd.guessLimit)) return refuse('InvalidParameter');
      return done({
        status: 'Registered',
        generation: (r?.generation ?? 0) + 1,
        registrationRecord: cmd.registrationRecord,
        sealedPayload: cmd.sealedPayload,
        transcriptHash: cmd.transcriptHash,
        ...(cmd.oprfSalt !== undefined && { oprfSalt: cmd.oprfSalt }),
        guessLimit: cmd.guessLimit,
        attemptsUsed: 0,
        pending: {},
      });
    }
    case 'ConsumeGuess': {
      if (!r) return refuse('RecordNotFound');
      if (r.status === 'Exhausted' || r.attemptsUsed >= r.guessLimit) return refuse('GuessLimitExceeded');
      if (cmd.sessionId in r.pending) return refuse('UnknownSession'); // a session consumes exactly one guess
      return done({ ...r, attemptsUsed: r.attemptsUsed + 1, pending: { ...r.pending, [cmd.sessionId]: cmd.at } });
    }
    case 'Reset': {
      // a session id can be pending again on a later registration (a Handshake1 replayed once the
      // replay cache forgot it): a KE3 resets only the registration whose password it proved
      if (!r || !(cmd.sessionId in r.pending) || r.transcriptHash !== cmd.registration) return refuse('UnknownSession');
      return done({ ...r, attemptsUsed: 0, pending: {} });
    }
    case 'EndSession': {
      if (!r || !(cmd.sessionId in r.pending)) return refuse('UnknownSession');
      return done(settle({ ...r, pending: without(r.pending, cmd.sessionId) }));
    }
    case 'Delete': {
      if (!r) return refuse('RecordNotFound');
      return done(null);
    }
    default: {
      const never: never = cmd;
      throw new VaultError('UnknownMessageType', `unknown command ${JSON.stringify(never)}`);
    }
  }
}

/** Canonical JSON of the state (sorted keys): what "byte-identical state" means in tests and vectors. */
export function encodeVaultState(state: VaultState): string {
  return canonicalJson(state);
}
