/**
 * The guess budget G5, checked on what left the HSMs (ghost events recorded by the scenario
 * engine, spec ch. 12): between two successful recoveries (or a registration and the next success)
 * at most `limit` KE2s leave the fleet for a record, since each KE2 lets its holder test exactly
 * one password; and the attempts are reset, and K released, only in a session whose KE3 MAC the
 * vault verified (G3), for the registration whose password that KE3 proved. A session is named by
 * credential, registration and session id: a session id pending again on a newer registration (a
 * Handshake1 replayed, spec ch. 5 §5.6) is another session, its KE2 another guess.
 *
 *   Registered   a registration took effect (once per entry), named by its `transcriptHash`
 *   Ke2Sent      a KE2 for a registered record left an HSM (under the registration then current)
 *   Ke3Verified  the vault checked a session's KE3 MAC and it was right: it proved the password of
 *                `registration`, the one its KE2 was computed from
 *   Reset        a Reset took effect (once per entry): the attempts are back to 0, the budget restarts
 *   Released     K left an HSM on a session's channel
 * @module
 */
import { ke2BudgetViolation } from './invariants.ts';

export type VaultEvent =
  | {
      readonly type: 'Registered';
      readonly credential: string;
      readonly registration: string;
      readonly limit: number;
      readonly at: number;
    }
  | {
      readonly type: 'Ke3Verified';
      readonly credential: string;
      readonly session: string;
      readonly registration: string;
      readonly at: number;
    }
  | {
      readonly type: 'Ke2Sent' | 'Reset' | 'Released';
      readonly credential: string;
      readonly session: string;
      readonly at: number;
    };

export interface Violation {
  readonly rule: 'G5' | 'G3';
  readonly credential: string;
  readonly message: string;
  readonly at: number;
}

export function checkBudget(events: readonly VaultEvent[]): Violation[] {
  const violations: Violation[] = [];
  const budget = new Map<string, { limit: number; spent: number; registration: string }>();
  const verified = new Set<string>();
  const seenKe2 = new Set<string>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    if (e.type === 'Registered') {
      budget.set(e.credential, { limit: e.limit, spent: 0, registration: e.registration });
      continue;
    }
    const b = budget.get(e.credential);
    // a KE3 is evidence for the registration it proved; the rest happen under the current one
    const session = `${e.credential}/${e.type === 'Ke3Verified' ? e.registration : b?.registration}/${e.session}`;
    switch (e.type) {
      case 'Ke2Sent': {
        if (!b || seenKe2.has(session)) break; // a fake KE2, or the same KE2 re-sent (a duplicate frame)
        seenKe2.add(session);
        b.spent += 1;
        const over = ke2BudgetViolation(b.spent, b.limit);
        if (over !== null) violations.push({ rule: 'G5', credential: e.credential, at: e.at, message: over });
        break;
      }
      case 'Ke3Verified':
        verified.add(session);
        break;
      case 'Reset':
        if (!verified.has(session))
          violations.push({
            rule: 'G3',
            credential: e.credential,
            at: e.at,
            message: `the attempts were reset by session ${e.session} without a verified KE3`,
          });
        if (b) b.spent = 0;
        break;
      case 'Released':
        if (!verified.has(session))
          violations.push({
            rule: 'G3',
            credential: e.credential,
            at: e.at,
            message: `K released in session ${e.session} without a verified KE3`,
          });
        break;
    }
  }
  return violations;
}
