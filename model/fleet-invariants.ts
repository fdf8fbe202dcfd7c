/**
 * The invariants of the fleet model (spec ch. 10 and ch. 12), as predicates over its states,
 * checked by the explorer in every reachable state. Names and meanings are those of spec ch. 12;
 * the statements say what each means in this model.
 * @module
 */
import type { FleetModel } from './fleet-model.ts';
import { FLAG, FleetLayout, ROLE, Records, entryTerm } from './fleet-state.ts';
import type { Invariant } from './invariants.ts';

function popcount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}

export function fleetInvariants(model: FleetModel): Invariant<Uint8Array>[] {
  const L = model.layout;
  const cfg = model.cfg;
  const n = L.n;
  const len = (s: Uint8Array, i: number) => s[L.r(i) + FleetLayout.LEN]!;
  const at = (s: Uint8Array, i: number, idx: number) => s[L.r(i) + L.logOffset + idx - 1]!;
  const rec = new Records(L);
  /** f holds for every record of every replica's applied prefix (only a leader's is not empty). */
  const everyRecord = (s: Uint8Array, f: (attempts: number, pending: number, exhausted: boolean) => boolean) => {
    for (let i = 0; i < n; i++) {
      const commit = s[L.r(i) + FleetLayout.COMMIT]!;
      if (commit === 0) continue;
      rec.load(s, i, commit);
      for (let c = 0; c < cfg.credentials; c++) if (!f(rec.attempts(c), rec.pending(c), rec.exhausted(c))) return false;
    }
    return true;
  };
  return [
    {
      id: 'INV-1',
      statement: `for every credential, at most limit (${cfg.limit}) KE2s have left the fleet since its last success (a committed Reset)`,
      holds: (s) => {
        for (let c = 0; c < cfg.credentials; c++) if (s[L.spentBase + c]! > cfg.limit) return false;
        return true;
      },
    },
    {
      id: 'INV-2',
      statement: 'K leaves only for a session whose KE3 verified (its client had the right password)',
      holds: (s) => (s[L.flags]! & FLAG.ReleaseWithoutKe3) === 0,
    },
    {
      id: 'INV-3',
      statement: 'a KE2 leaves only when its ConsumeGuess entry is in the logs of a majority',
      holds: (s) => (s[L.flags]! & FLAG.Ke2WithoutMajority) === 0,
    },
    {
      id: 'INV-4',
      statement: 'in every replica\'s applied records, a record is Exhausted exactly when attempts == limit and no session is pending (then no KE2 is produced for it)',
      holds: (s) => everyRecord(s, (a, p, x) => x === (a >= cfg.limit && p === 0)),
    },
    {
      id: 'INV-7',
      statement: 'in every replica\'s applied records, 0 <= attempts <= limit and pending sessions <= attempts',
      holds: (s) => everyRecord(s, (a, p) => a >= 0 && a <= cfg.limit && popcount(p) <= a),
    },
    {
      id: 'INV-8',
      statement: 'election safety: no term ever had two leaders',
      holds: (s) => {
        if ((s[L.flags]! & FLAG.SecondLeader) !== 0) return false;
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            const ri = L.r(i);
            const rj = L.r(j);
            if (s[ri + FleetLayout.ROLE] === ROLE.Leader && s[rj + FleetLayout.ROLE] === ROLE.Leader && s[ri + FleetLayout.TERM] === s[rj + FleetLayout.TERM]) return false;
          }
        }
        return true;
      },
    },
    {
      id: 'INV-9',
      statement: 'log matching: two logs with entries of the same term at an index agree up to that index',
      holds: (s) => {
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            for (let idx = Math.min(len(s, i), len(s, j)); idx >= 1; idx--) {
              if (entryTerm(at(s, i, idx)) !== entryTerm(at(s, j, idx))) continue;
              for (let x = idx; x >= 1; x--) if (at(s, i, x) !== at(s, j, x)) return false;
              break;
            }
          }
        }
        return true;
      },
    },
    {
      id: 'INV-10',
      statement: 'leader completeness: a leader holds every entry committed in an earlier term',
      holds: (s) => {
        const committed = s[L.committedLength]!;
        for (let i = 0; i < n; i++) {
          const ri = L.r(i);
          if (s[ri + FleetLayout.ROLE] !== ROLE.Leader) continue;
          const term = s[ri + FleetLayout.TERM]!;
          for (let idx = 1; idx <= committed; idx++) {
            if (s[L.commitTermBase + idx - 1]! >= term) continue;
            if (len(s, i) < idx || at(s, i, idx) !== s[L.committedBase + idx - 1]) return false;
          }
        }
        return true;
      },
    },
    {
      id: 'INV-11',
      statement: 'state machine safety: every replica\'s committed prefix is the one committed first, entry for entry',
      holds: (s) => {
        const committed = s[L.committedLength]!;
        for (let i = 0; i < n; i++) {
          const commit = s[L.r(i) + FleetLayout.COMMIT]!;
          if (commit > len(s, i)) return false;
          for (let idx = 1; idx <= Math.min(commit, committed); idx++) if (at(s, i, idx) !== s[L.committedBase + idx - 1]) return false;
        }
        return true;
      },
    },
  ];
}
