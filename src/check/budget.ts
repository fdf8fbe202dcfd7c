/**
 * The guess budget G5, checked on what left the HSMs (ghost events recorded by the scenario
 * engine, spec ch. 12): between two successful recoveries (or a registration and the next success)
 * at most `limit` KE2s leave the fleet for a record, since each KE2 lets its holder test exactly
 * one password; and K is released only in a session whose KE3 verified (G3).
 * @module
 */
export type VaultEvent =
  | { readonly type: 'Registered'; readonly credential: string; readonly limit: number; readonly at: number }
  | { readonly type: 'Ke2Sent'; readonly credential: string; readonly session: string; readonly at: number }
  | { readonly type: 'Ke3Verified'; readonly credential: string; readonly session: string; readonly at: number }
  | { readonly type: 'Released'; readonly credential: string; readonly session: string; readonly at: number };

export interface Violation {
  readonly rule: 'G5' | 'G3';
  readonly credential: string;
  readonly message: string;
  readonly at: number;
}

export function checkBudget(events: readonly VaultEvent[]): Violation[] {
  const violations: Violation[] = [];
  const budget = new Map<string, { limit: number; spent: number; sessions: Set<string> }>();
  const verified = new Set<string>();
  const seenKe2 = new Set<string>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    const b = budget.get(e.credential);
    switch (e.type) {
      case 'Registered':
        budget.set(e.credential, { limit: e.limit, spent: 0, sessions: new Set() });
        break;
      case 'Ke2Sent': {
        const key = `${e.credential}/${e.session}`;
        if (!b || seenKe2.has(key)) break; // a fake KE2, or the same KE2 re-sent (a duplicate frame)
        seenKe2.add(key);
        b.spent += 1;
        b.sessions.add(e.session);
        if (b.spent > b.limit) violations.push({ rule: 'G5', credential: e.credential, at: e.at, message: `KE2 number ${b.spent} left the fleet for a record with limit ${b.limit} since its last success` });
        break;
      }
      case 'Ke3Verified':
        verified.add(`${e.credential}/${e.session}`);
        break;
      case 'Released':
        if (!verified.has(`${e.credential}/${e.session}`)) violations.push({ rule: 'G3', credential: e.credential, at: e.at, message: `K released in session ${e.session} without a verified KE3` });
        if (b) {
          b.spent = 0;
          b.sessions.clear();
        }
        break;
    }
  }
  return violations;
}
