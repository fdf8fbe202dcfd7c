/**
 * The sequential specification of one credential as its clients see it (spec ch. 12): the model
 * the linearizability checker uses. It is the record rules of src/vault/records.ts from outside:
 *
 *   ConsumeGuess  a recovery's KE1, answered at its KE2: a guess is spent and the KE2 says the
 *                 tries left, or `Locked` past the limit; the envelope opens with the right password
 *                 only, and that session is pending: its KE3 can still succeed
 *   Reset         the KE3 of a pending session with the right password: K is released, the
 *                 attempts go back to 0 and every pending session ends
 *
 * A recovery whose KE2 opened the envelope (`ke2` in the history) is two operations, one per
 * commit: its ConsumeGuess, answered `Ke2(tries)` when the KE2 came, and its Reset, from the KE3
 * sent then to the answer. Every other attempt (a wrong password, a probe, a forged KE3) has one
 * visible commit, its ConsumeGuess: the EndSession that ends it (abort, failed KE3, expiry) only
 * ends a session that could never reset, and changes nothing a client can see (an `Exhausted`
 * record refuses a KE1 as one at the limit does). An unknown credential answers like a wrong
 * password (fake KE2) or `Locked` and changes nothing.
 * @module
 */
import type { Model, ModelRef } from './lincheck.ts';
import { type Operation, describeOperation } from './history.ts';

export interface CredentialState {
  readonly password: string;
  readonly key: string;
  readonly limit: number;
  readonly used: number;
  /** The recoveries whose ConsumeGuess opened the envelope and whose session is pending (ids, ascending). */
  readonly pending: readonly number[];
}
/** null: not registered (the vault answers with fake KE2s). */
export type RecordModelState = CredentialState | null;

/** One linearization point of a recorded operation: a recovery with `ke2` is its ConsumeGuess and its Reset. */
export type RecordStep = Operation & { readonly commit?: 'ConsumeGuess' | 'Reset' };

/** A step as a trace shows it: a recovery split in two is named by its commit. */
export function describeStep(op: Operation | RecordStep): string {
  return 'commit' in op && op.commit ? `${describeOperation(op)} ${op.commit}` : describeOperation(op);
}

function spend(s: CredentialState, pending = s.pending): CredentialState {
  return { ...s, used: s.used + 1, pending };
}

const reset = (s: CredentialState): CredentialState => ({ ...s, used: 0, pending: [] });

/** The Reset of a recovery whose ConsumeGuess opened the envelope: only while its session is pending. */
function resetStep(s: RecordModelState, op: RecordStep): RecordModelState[] {
  if (s === null || !s.pending.includes(op.id)) return [];
  if (op.completion === 'info') return [reset(s)];
  return op.output?.kind === 'Recovered' && op.output.key === s.key ? [reset(s)] : [];
}

export const recordModel: Model<RecordModelState, Operation, RecordStep> = {
  init: () => null,
  // P-compositionality: the records of two credentials are independent (spec ch. 12.3)
  partition: (op) => op.credential,
  key: (s) => (s === null ? '-' : `${s.password}|${s.key}|${s.limit}|${s.used}|${s.pending.join(',')}`),
  split(op) {
    if (!op.ke2) return [op];
    const consumed: RecordStep = { ...op, commit: 'ConsumeGuess', return: op.ke2.at, completion: 'ok', output: { kind: 'Ke2', triesRemaining: op.ke2.triesRemaining } };
    return [consumed, { ...op, commit: 'Reset', call: op.ke2.at }];
  },
  step(s, op) {
    const inp = op.input;
    const out = op.output;
    if (inp.kind === 'register') {
      const next = { password: inp.password, key: inp.key, limit: inp.limit, used: 0, pending: [] };
      return op.completion === 'info' || out?.kind === 'Registered' ? [next] : [];
    }
    if (op.commit === 'Reset') return resetStep(s, op);
    const opened = inp.kind === 'recover' && out?.kind === 'Ke2';
    if (s === null) {
      // fake KE2: indistinguishable from a wrong password (it opens no envelope); the state does not change
      if (op.completion === 'info' || opened) return [];
      return out && (out.kind === 'WrongPassword' || out.kind === 'Locked' || out.kind === 'Ke2') ? [s] : [];
    }
    const left = s.limit - s.used;
    // unknown: the guess may have been spent (no KE3 was sent: no Reset)
    if (op.completion === 'info') return left > 0 ? [spend(s)] : [];
    if (!out) return [];
    switch (out.kind) {
      case 'Locked':
        return left <= 0 ? [s] : [];
      case 'Ke2':
        if (left <= 0 || out.triesRemaining !== left - 1) return [];
        if (inp.kind === 'probe') return [spend(s)];
        return opened && inp.password === s.password ? [spend(s, [...s.pending, op.id].sort((a, b) => a - b))] : [];
      case 'WrongPassword':
        return inp.kind === 'recover' && inp.password !== s.password && left > 0 && out.triesRemaining === left - 1 ? [spend(s)] : [];
      case 'Recovered':
      case 'Registered':
        return [];
    }
  },
};

/** The record model as a worker loads it (`checkLinearizableOnWorkers`). */
export const RECORD_MODEL: ModelRef = { module: import.meta.url, name: 'recordModel' };
