/**
 * The history checkers (spec ch. 12): linearizability of record operations against the record
 * model, a lost acknowledged registration, and the guess budget G5 / release-after-KE3 G3 on the
 * fleet's ghost events. Each is shown accepting correct histories and catching a wrong one (and on
 * a broken fleet in test/scenarios.test.ts).
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { History, type OpInput, type OpOutput } from '../src/check/history.ts';
import { checkLinearizable } from '../src/check/lincheck.ts';
import { recordModel } from '../src/check/record-model.ts';
import { checkBudget, type VaultEvent } from '../src/check/budget.ts';
import { findLostRegistration } from '../src/check/lost-registration.ts';

type Step = [client: string, input: OpInput, completion: 'ok' | 'info' | 'fail', output?: OpOutput];

/** A history where each operation completes before the next starts. */
function sequential(steps: Step[]) {
  const h = new History();
  let t = 0;
  for (const [client, input, completion, output] of steps) {
    const id = h.invoke(client, 'alice', input, t++);
    h.complete(id, completion, t++, output);
  }
  return h.close();
}

const reg = (limit = 3): OpInput => ({ kind: 'register', password: 'pw', key: 'K', limit });
const rec = (password: string): OpInput => ({ kind: 'recover', password });
const wrong = (triesRemaining: number): OpOutput => ({ kind: 'WrongPassword', triesRemaining });
const recovered: OpOutput = { kind: 'Recovered', key: 'K' };

describe('linearizability (INV-5: record operations are linearizable per credential)', () => {
  test('a correct sequential history is accepted', () => {
    const ops = sequential([
      ['c', reg(2), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(1)],
      ['c', rec('pw'), 'ok', recovered],
      ['a', rec('x'), 'ok', wrong(1)],
      ['a', rec('y'), 'ok', wrong(0)],
      ['c', rec('pw'), 'ok', { kind: 'Locked' }],
    ]);
    expect(checkLinearizable(recordModel, ops).ok).toBe(true);
  });

  test('an extra guess past the limit is caught', () => {
    const ops = sequential([
      ['c', reg(1), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(0)],
      ['a', rec('y'), 'ok', wrong(0)],
    ]);
    expect(checkLinearizable(recordModel, ops).ok).toBe(false);
  });

  test('a lost registration is caught: the right password answered like an unknown credential', () => {
    const ops = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['c', rec('pw'), 'ok', wrong(9)],
    ]);
    expect(checkLinearizable(recordModel, ops).ok).toBe(false);
  });

  test('a refunded guess is caught: the tries go back up without a success', () => {
    const ops = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(2)],
      ['a', { kind: 'probe' }, 'ok', { kind: 'Ke2', triesRemaining: 1 }],
      ['a', rec('y'), 'ok', wrong(1)],
    ]);
    expect(checkLinearizable(recordModel, ops).ok).toBe(false);
  });

  test('info operations may or may not have happened; a lost answer still spends its guess', () => {
    const ok = sequential([
      ['c', reg(2), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'info'],
      ['a', rec('y'), 'ok', wrong(0)],
    ]);
    expect(checkLinearizable(recordModel, ok).ok).toBe(true);
    const skipped = sequential([
      ['c', reg(2), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'info'],
      ['a', rec('y'), 'ok', wrong(1)],
    ]);
    expect(checkLinearizable(recordModel, skipped).ok).toBe(true);
  });

  test('concurrent operations are ordered by their outputs', () => {
    const h = new History();
    const r = h.invoke('c', 'alice', reg(3), 0);
    h.complete(r, 'ok', 1, { kind: 'Registered' });
    const a = h.invoke('a', 'alice', rec('x'), 2);
    const b = h.invoke('b', 'alice', rec('y'), 3);
    h.complete(b, 'ok', 4, wrong(2));
    h.complete(a, 'ok', 5, wrong(1));
    expect(checkLinearizable(recordModel, h.close()).ok).toBe(true);
  });

  test('property: every history of a correct sequential vault is accepted, and changing one output is caught', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.constantFrom('pw', 'x', 'y', 'probe'), { maxLength: 12 }), fc.nat(), (limit, attempts, which) => {
        // the reference: a sequential vault
        let used = 0;
        const steps: Step[] = [['c', reg(limit), 'ok', { kind: 'Registered' }]];
        for (const p of attempts) {
          const left = limit - used;
          if (left <= 0) steps.push(['c', p === 'probe' ? { kind: 'probe' } : rec(p), 'ok', { kind: 'Locked' }]);
          else if (p === 'probe') steps.push(['a', { kind: 'probe' }, 'ok', { kind: 'Ke2', triesRemaining: left - 1 }]), (used += 1);
          else if (p === 'pw') steps.push(['c', rec(p), 'ok', recovered]), (used = 0);
          else steps.push(['a', rec(p), 'ok', wrong(left - 1)]), (used += 1);
        }
        expect(checkLinearizable(recordModel, sequential(steps)).ok).toBe(true);
        // one output changed: a wrong-password count off by one is never linearizable
        const i = 1 + (which % Math.max(1, steps.length - 1));
        const s = steps[i];
        if (s && s[3] && 'triesRemaining' in s[3]) {
          const changed = [...steps];
          changed[i] = [s[0], s[1], s[2], { ...s[3], triesRemaining: s[3].triesRemaining + 1 }];
          expect(checkLinearizable(recordModel, sequential(changed)).ok).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('guess budget (INV-1: G5) and release after a verified KE3 (INV-2: G3)', () => {
  type Spec = VaultEvent extends infer E ? (E extends VaultEvent ? Omit<E, 'at'> : never) : never;
  const ev = (events: Spec[]): VaultEvent[] => events.map((e, at) => ({ ...e, at }) as VaultEvent);
  test('limit KE2s between successes pass; one more is a G5 violation', () => {
    const base: Spec[] = [{ type: 'Registered', credential: 'c', limit: 2 }, ...[1, 2].map((i) => ({ type: 'Ke2Sent' as const, credential: 'c', session: `s${i}` }))];
    expect(checkBudget(ev(base))).toEqual([]);
    const over = checkBudget(ev([...base, { type: 'Ke2Sent', credential: 'c', session: 's3' }]));
    expect(over.map((v) => v.rule)).toEqual(['G5']);
  });
  test('a success resets the budget; a duplicate KE2 frame is not a second guess', () => {
    const events = ev([
      { type: 'Registered', credential: 'c', limit: 1 },
      { type: 'Ke2Sent', credential: 'c', session: 's1' },
      { type: 'Ke2Sent', credential: 'c', session: 's1' },
      { type: 'Ke3Verified', credential: 'c', session: 's1' },
      { type: 'Reset', credential: 'c', session: 's1' },
      { type: 'Released', credential: 'c', session: 's1' },
      { type: 'Ke2Sent', credential: 'c', session: 's2' },
    ]);
    expect(checkBudget(events)).toEqual([]);
  });
  test('a Reset without a Released (K lost on the way) still restarts the budget; a Released alone does not', () => {
    const base: Spec[] = [
      { type: 'Registered', credential: 'c', limit: 1 },
      { type: 'Ke2Sent', credential: 'c', session: 's1' },
      { type: 'Ke3Verified', credential: 'c', session: 's1' },
    ];
    expect(checkBudget(ev([...base, { type: 'Reset', credential: 'c', session: 's1' }, { type: 'Ke2Sent', credential: 'c', session: 's2' }]))).toEqual([]);
    expect(checkBudget(ev([...base, { type: 'Released', credential: 'c', session: 's1' }, { type: 'Ke2Sent', credential: 'c', session: 's2' }])).map((v) => v.rule)).toEqual(['G5']);
  });
  test('a reset or K released without a verified KE3 of that session is a G3 violation', () => {
    const base: Spec[] = [
      { type: 'Registered', credential: 'c', limit: 3 },
      { type: 'Ke2Sent', credential: 'c', session: 's1' },
      { type: 'Ke2Sent', credential: 'c', session: 's2' },
      { type: 'Ke3Verified', credential: 'c', session: 's2' },
    ];
    expect(checkBudget(ev([...base, { type: 'Reset', credential: 'c', session: 's1' }])).map((v) => v.rule)).toEqual(['G3']);
    expect(checkBudget(ev([...base, { type: 'Released', credential: 'c', session: 's1' }])).map((v) => v.rule)).toEqual(['G3']);
  });
});

describe('no acknowledged registration lost (INV-6)', () => {
  test('the right password answered like a wrong one after an acknowledged registration is a witness', () => {
    const ops = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['c', rec('pw'), 'ok', wrong(9)],
    ]);
    expect(findLostRegistration(ops)).toMatch(/^acknowledged registration lost: #0 c alice register\(pw, limit 3\)/);
  });

  test('no witness when the registration was not acknowledged, or another one may have replaced it', () => {
    const unacknowledged = sequential([
      ['c', reg(3), 'info'],
      ['c', rec('pw'), 'ok', wrong(9)],
    ]);
    expect(findLostRegistration(unacknowledged)).toBeNull();
    expect(checkLinearizable(recordModel, unacknowledged).ok).toBe(true);
    const replaced = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['d', { kind: 'register', password: 'other', key: 'K2', limit: 3 }, 'info'],
      ['c', rec('pw'), 'ok', wrong(2)],
    ]);
    expect(findLostRegistration(replaced)).toBeNull();
    expect(checkLinearizable(recordModel, replaced).ok).toBe(true);
    const correct = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(2)],
      ['c', rec('pw'), 'ok', recovered],
    ]);
    expect(findLostRegistration(correct)).toBeNull();
  });
});
