/**
 * The sequential specification of one credential as its clients see it (spec ch. 12): the model
 * the linearizability checker uses. Every change of a record is `applyCommand`'s (src/vault/records.ts),
 * the one statement of the record rules; this model only says which commands a client's operation
 * commits and what its answer must then have been:
 *
 *   ConsumeGuess  a recovery's KE1, answered at its KE2: a guess is spent and the KE2 says the
 *                 tries left, or `Locked` past the limit; the envelope opens with the right password
 *                 only, and that session is pending: its KE3 can still succeed
 *   Reset         the KE3 of a pending session with the right password: K is released, the
 *                 attempts go back to 0 and every pending session ends
 *   Delete        the record is gone (`Deleted`); with no record, `NotFound` and no change
 *
 * A recovery whose KE2 opened the envelope (`ke2` in the history) is two operations, one per
 * commit: its ConsumeGuess, answered `Ke2(tries)` when the KE2 came, and its Reset, from the KE3
 * sent then to the answer. Every other attempt (a wrong password, a probe, a forged KE3) has one
 * visible commit, its ConsumeGuess, taken here together with the EndSession that ends it (abort,
 * failed KE3, expiry): that session could never reset, and its end changes nothing a client can see
 * (an `Exhausted` record refuses a KE1 as one at the limit does). An unknown credential answers like a wrong
 * password (fake KE2) or `Locked` and changes nothing.
 * @module
 */
import type { Model, ModelRef } from './lincheck.ts';
import { type Operation, describeOperation } from './history.ts';
import { type Command, type VaultRecord, applyCommand } from '../vault/records.ts';

/**
 * A registered credential: the vault's own record (src/vault/records.ts), whose every change is
 * `applyCommand`'s, and what the client chose at registration (the password and K, which the record
 * holds only as OPAQUE and sealed bytes).
 */
export interface CredentialState {
  readonly password: string;
  readonly key: string;
  readonly record: VaultRecord;
}
/** null: not registered (the vault answers with fake KE2s). */
export type RecordModelState = CredentialState | null;

/** One linearization point of a recorded operation: a recovery with `ke2` is its ConsumeGuess and its Reset. */
export type RecordStep = Operation & { readonly commit?: 'ConsumeGuess' | 'Reset' };

/** A step as a trace shows it: a recovery split in two is named by its commit. */
export function describeStep(op: Operation | RecordStep): string {
  return 'commit' in op && op.commit ? `${describeOperation(op)} ${op.commit}` : describeOperation(op);
}

const CREDENTIAL = 'c';
type Body<T extends Command['type']> = Omit<Extract<Command, { type: T }>, 'type' | 'credentialId'>;

/** `applyCommand` on the one record of the model; null when the record rules refuse the command. */
function apply(s: CredentialState, cmd: Command): CredentialState | null {
  const { state, outcome } = applyCommand({ records: { [CREDENTIAL]: s.record } }, cmd);
  const record = state.records[CREDENTIAL];
  return outcome.ok && record ? { ...s, record } : null;
}
const command = <T extends Command['type']>(type: T, body: Body<T>) =>
  ({ type, credentialId: CREDENTIAL, ...body }) as Command;
const session = (op: RecordStep) => `s${op.id}`;

/** A recovery's KE1 spends a guess; `keep`: its session stays pending (its KE3 may still reset). */
function consumeGuess(s: CredentialState, op: RecordStep, keep: boolean): CredentialState | null {
  const sessionId = session(op);
  const spent = apply(s, command('ConsumeGuess', { sessionId, at: 0 }));
  return spent === null || keep ? spent : apply(spent, command('EndSession', { sessionId, reason: 'failed' }));
}

const triesLeft = (s: CredentialState) => s.record.guessLimit - s.record.attemptsUsed;

/** The Reset of a recovery whose ConsumeGuess opened the envelope: only while its session is pending. */
function resetStep(s: RecordModelState, op: RecordStep): RecordModelState[] {
  if (s === null) return [];
  const released = op.completion === 'info' || (op.output?.kind === 'Recovered' && op.output.key === s.key);
  const reset = command('Reset', { sessionId: session(op), registration: s.record.transcriptHash });
  const next = released ? apply(s, reset) : null;
  return next ? [next] : [];
}

/**
 * A deletion: `Delete` through the record rules, answered `Deleted` or (no record) `NotFound`;
 * either way none is left.
 */
function deleteStep(s: RecordModelState, op: RecordStep): RecordModelState[] {
  const { outcome } = applyCommand({ records: s ? { [CREDENTIAL]: s.record } : {} }, command('Delete', {}));
  if (op.completion === 'info') return [null];
  return op.output?.kind === (outcome.ok ? 'Deleted' : 'NotFound') ? [null] : [];
}

/** A registration: a new generation of the record, whatever was there (the password and K are the client's). */
function register(op: RecordStep, s: RecordModelState): CredentialState | null {
  if (op.input.kind !== 'register') return null;
  const { password, key, limit } = op.input;
  const body = { registrationRecord: '', sealedPayload: '', transcriptHash: '', guessLimit: limit };
  const { state, outcome } = applyCommand({ records: s ? { [CREDENTIAL]: s.record } : {} }, command('Register', body));
  const record = state.records[CREDENTIAL];
  return outcome.ok && record ? { password, key, record } : null;
}

export const recordModel: Model<RecordModelState, Operation, RecordStep> = {
  init: () => null,
  // P-compositionality: the records of two credentials are independent (spec ch. 12.3)
  partition: (op) => op.credential,
  key: (s) => {
    if (s === null) return '-';
    const r = s.record;
    const pending = Object.keys(r.pending).sort().join(',');
    return `${s.password}|${s.key}|${r.status}|${r.guessLimit}|${r.attemptsUsed}|${pending}`;
  },
  split(op) {
    if (!op.ke2) return [op];
    const consumed: RecordStep = {
      ...op,
      commit: 'ConsumeGuess',
      return: op.ke2.at,
      completion: 'ok',
      output: { kind: 'Ke2', triesRemaining: op.ke2.triesRemaining },
    };
    return [consumed, { ...op, commit: 'Reset', call: op.ke2.at }];
  },
  step(s, op) {
    const inp = op.input;
    const out = op.output;
    if (inp.kind === 'register') {
      const next = op.completion === 'info' || out?.kind === 'Registered' ? register(op, s) : null;
      return next ? [next] : [];
    }
    if (inp.kind === 'delete') return deleteStep(s, op);
    if (op.commit === 'Reset') return resetStep(s, op);
    const opened = inp.kind === 'recover' && out?.kind === 'Ke2';
    if (s === null) {
      // fake KE2: indistinguishable from a wrong password (it opens no envelope); the state does not change
      if (op.completion === 'info' || opened) return [];
      return out && (out.kind === 'WrongPassword' || out.kind === 'Locked' || out.kind === 'Ke2') ? [s] : [];
    }
    // unknown: the guess may have been spent (no KE3 was sent: no Reset, its session ends)
    if (op.completion === 'info') {
      const spent = consumeGuess(s, op, false);
      return spent ? [spent] : [];
    }
    if (!out) return [];
    const right = inp.kind === 'recover' && inp.password === s.password;
    switch (out.kind) {
      case 'Locked':
        return consumeGuess(s, op, false) === null ? [s] : [];
      case 'Ke2':
      case 'WrongPassword': {
        // a probe and a wrong password end their session; the right password's stays pending for its KE3
        const fits = out.kind === 'Ke2' ? inp.kind === 'probe' || (opened && right) : inp.kind === 'recover' && !right;
        const next = fits ? consumeGuess(s, op, opened) : null;
        return next && triesLeft(next) === out.triesRemaining ? [next] : [];
      }
      case 'Recovered':
      case 'Registered':
      case 'Deleted':
      case 'NotFound':
        return [];
    }
  },
};

/** The record model as a worker loads it (`checkLinearizableOnWorkers`). */
export const RECORD_MODEL: ModelRef = { module: import.meta.url, name: 'recordModel' };
