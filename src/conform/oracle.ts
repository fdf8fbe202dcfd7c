/**
 * The oracle of the randomized conformance scenarios: what a client must observe from a correct
 * vault, per credential, from the outcomes alone (G1-G4 as the client sees them).
 * @module
 */
export interface CredentialModel {
  limit: number;
  used: number;
  /** sessions whose guess is spent and whose KE3 has not come (abandoned after KE2) */
  pending: number;
  password: string;
  key: string;
}

export type Expected =
  | { kind: 'Recovered'; key: string }
  | { kind: 'WrongPassword'; triesRemaining: number }
  | { kind: 'Locked' }
  | { kind: 'WrongPasswordFake' };

/** The outcome a recovery attempt must have, and the model after it. */
export function expectRecover(m: CredentialModel | undefined, password: string): Expected {
  if (!m) return { kind: 'WrongPasswordFake' };
  if (m.used >= m.limit) return { kind: 'Locked' };
  if (password === m.password) return { kind: 'Recovered', key: m.key };
  return { kind: 'WrongPassword', triesRemaining: m.limit - m.used - 1 };
}

export function afterRecover(m: CredentialModel, e: Expected): void {
  if (e.kind === 'Recovered') {
    m.used = 0;
    m.pending = 0;
  } else if (e.kind === 'WrongPassword') m.used += 1;
}

/** An attempt abandoned after KE2 (no KE3, no abort): its guess stays spent until and after expiry. */
export function afterAbandon(m: CredentialModel): void {
  if (m.used < m.limit) {
    m.used += 1;
    m.pending += 1;
  }
}
