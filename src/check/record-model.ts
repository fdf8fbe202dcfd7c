/**
 * The sequential specification of one credential as its clients see it (spec ch. 12): the model
 * the linearizability checker uses. It is G1-G4 from outside: a wrong password spends a guess and
 * reports the tries left, the right one recovers K and resets the attempts, no guess is answered
 * past the limit, an unknown credential answers like a wrong password (fake KE2) or `Locked`.
 * @module
 */
import type { Model } from './lincheck.ts';
import type { Operation } from './history.ts';

export interface CredentialState {
  readonly password: string;
  readonly key: string;
  readonly limit: number;
  readonly used: number;
}
/** null: not registered (the vault answers with fake KE2s). */
export type RecordModelState = CredentialState | null;

function spend(s: CredentialState): CredentialState {
  return { ...s, used: s.used + 1 };
}

export const recordModel: Model<RecordModelState> = {
  init: () => null,
  key: (s) => (s === null ? '-' : `${s.password}|${s.key}|${s.limit}|${s.used}`),
  step(s, op: Operation) {
    const inp = op.input;
    const out = op.output;
    if (inp.kind === 'register') {
      const next = { password: inp.password, key: inp.key, limit: inp.limit, used: 0 };
      return op.completion === 'info' || out?.kind === 'Registered' ? [next] : [];
    }
    if (s === null) {
      // fake KE2: indistinguishable from a wrong password; the state does not change
      if (op.completion === 'info') return [];
      return out && (out.kind === 'WrongPassword' || out.kind === 'Locked' || out.kind === 'Ke2') ? [s] : [];
    }
    const left = s.limit - s.used;
    if (op.completion === 'info') {
      // unknown: the guess may have been spent, and with the right password K may have been released
      if (left <= 0) return [];
      return inp.kind === 'recover' && inp.password === s.password ? [spend(s), { ...s, used: 0 }] : [spend(s)];
    }
    if (!out) return [];
    switch (out.kind) {
      case 'Locked':
        return left <= 0 ? [s] : [];
      case 'Ke2':
        return inp.kind === 'probe' && left > 0 && out.triesRemaining === left - 1 ? [spend(s)] : [];
      case 'WrongPassword':
        return inp.kind === 'recover' && inp.password !== s.password && left > 0 && out.triesRemaining === left - 1 ? [spend(s)] : [];
      case 'Recovered':
        return inp.kind === 'recover' && inp.password === s.password && left > 0 && out.key === s.key ? [{ ...s, used: 0 }] : [];
      case 'Registered':
        return [];
    }
  },
};
