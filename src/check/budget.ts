/**
 * The guess budget G5, checked on what left the HSMs (ghost events recorded by the scenario
 * engine, spec ch. 12): between two successful recoveries (or a registration and the next success)
 * at most `limit` KE2s of one registration leave the fleet, since each KE2 lets its holder test
 * exactly one password; and the attempts are reset, and K released, only in a session whose KE3 MAC
 * the vault verified (G3), for the registration whose password that KE3 proved.
 *
 * Every event names the registration it belongs to (its `transcriptHash`), as the replica that
 * recorded it knew it: a stale leader's KE2 computed from an older record counts against that
 * record, whatever the event order across replicas says. A session is named by credential,
 * registration and session id (an id pending again on a newer registration, a Handshake1 replayed,
 * spec ch. 5 §5.6, is another session); a KE2 by its log entry too (the same id pending twice on one
 * registration spends two guesses; the same entry sent twice is one).
 *
 * A KE2 counts in the window of its log entry, not of the instant it left: between the last Reset
 * entry of its registration before it and the next. A deposed leader can send the KE2 of a guess
 * committed before a Reset after that Reset took effect elsewhere (its acknowledgements held back);
 * that guess was spent, and zeroed, before the Reset, and charging it after would report a fourth
 * KE2 where the log holds three (third review of issue 15). A replica applies the entries in order,
 * so every Reset before a KE2's entry is known by the time the KE2 leaves.
 *
 *   Registered   a registration took effect (once per entry)
 *   Ke2Sent      a KE2 left an HSM, computed from `registration`, for the log entry `index`
 *   Ke3Verified  the vault checked a session's KE3 MAC and it was right: it proved the password of
 *                `registration`, the one its KE2 was computed from
 *   Reset        a Reset of `registration` took effect (once per entry): its budget restarts
 *   Released     K of `registration` left an HSM on a session's channel
 * @module
 */
import { ke2BudgetViolation } from './invariants.ts';

interface Named {
  readonly credential: string;
  /** The registration's `transcriptHash`. */
  readonly registration: string;
  readonly at: number;
}

export type VaultEvent =
  | (Named & { readonly type: 'Registered'; readonly limit: number })
  | (Named & { readonly type: 'Ke2Sent'; readonly session: string; readonly index: number })
  | (Named & { readonly type: 'Reset'; readonly session: string; readonly index: number })
  | (Named & { readonly type: 'Ke3Verified' | 'Released'; readonly session: string });

export interface Violation {
  readonly rule: 'G5' | 'G3';
  readonly credential: string;
  readonly message: string;
  readonly at: number;
}

export function checkBudget(events: readonly VaultEvent[]): Violation[] {
  const violations: Violation[] = [];
  /** Per registration: its limit, its Reset entries so far, and the KE2s spent in each window (by its first index). */
  const budget = new Map<string, { limit: number; resets: number[]; spent: Map<number, number> }>();
  const verified = new Set<string>();
  const seenKe2 = new Set<string>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    const registration = `${e.credential}/${e.registration}`;
    if (e.type === 'Registered') {
      budget.set(registration, { limit: e.limit, resets: [0], spent: new Map() });
      continue;
    }
    const b = budget.get(registration);
    const session = `${registration}/${e.session}`;
    switch (e.type) {
      case 'Ke2Sent': {
        const entry = `${session}@${e.index}`;
        if (!b || seenKe2.has(entry)) break; // the same entry's KE2 sent again (a duplicate frame)
        seenKe2.add(entry);
        const window = Math.max(...b.resets.filter((r) => r < e.index));
        const spent = (b.spent.get(window) ?? 0) + 1;
        b.spent.set(window, spent);
        const over = ke2BudgetViolation(spent, b.limit);
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
        b?.resets.push(e.index);
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
