/**
 * The history checkers (spec ch. 12): linearizability of record operations against the record
 * model, a lost acknowledged registration, and the guess budget G5 / release-after-KE3 G3 on the
 * fleet's ghost events. Each is shown accepting correct histories and catching a wrong one (and on
 * a broken fleet in test/scenarios.test.ts).
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { History, type OpInput, type OpOutput, type Operation, describeOperation } from '../src/check/history.ts';
import { checkLinearizable, describeUnknown } from '../src/check/lincheck.ts';
import { recordModel } from '../src/check/record-model.ts';
import { checkBudget, type VaultEvent } from '../src/check/budget.ts';
import { findLostRegistration } from '../src/check/lost-registration.ts';
import { recordsHistoryArb } from './support/lincheck-histories.ts';

/** An operation of a sequential history; `ke2`: the tries the KE2 of a recovery whose envelope opened said remain. */
type Step = [client: string, input: OpInput, completion: 'ok' | 'info' | 'fail', output?: OpOutput, ke2?: number];

/** A history where each operation completes before the next starts. */
function sequential(steps: Step[]) {
  const h = new History();
  let t = 0;
  for (const [client, input, completion, output, ke2] of steps) {
    const id = h.invoke(client, 'alice', input, t++);
    if (ke2 !== undefined) h.opened(id, t++, ke2);
    h.complete(id, completion, t++, output);
  }
  return h.close();
}

/** A history from events at increasing times: `invoke` returns the id its other events name. */
function timeline() {
  const h = new History();
  let t = 0;
  return {
    invoke: (client: string, input: OpInput) => h.invoke(client, 'alice', input, t++),
    opened: (id: number, tries: number) => h.opened(id, t++, tries),
    complete: (id: number, completion: 'ok' | 'info', output?: OpOutput) => h.complete(id, completion, t++, output),
    /** An operation invoked and answered with nothing else in between. */
    op(client: string, input: OpInput, output: OpOutput) {
      this.complete(this.invoke(client, input), 'ok', output);
    },
    close: () => h.close(),
  };
}

const reg = (limit = 3): OpInput => ({ kind: 'register', password: 'pw', key: 'K', limit });
const rec = (password: string): OpInput => ({ kind: 'recover', password });
const wrong = (triesRemaining: number): OpOutput => ({ kind: 'WrongPassword', triesRemaining });
const recovered: OpOutput = { kind: 'Recovered', key: 'K' };
/** true or false: an `unknown` (no answer) fails the test. */
function linearizable(ops: readonly Operation[]): boolean {
  const r = checkLinearizable(recordModel, ops);
  if (r.verdict === 'unknown') throw new Error(`no answer: ${describeUnknown(r)}`);
  return r.verdict === 'linearizable';
}

describe('linearizability (INV-5: record operations are linearizable per credential)', () => {
  test('a correct sequential history is accepted', () => {
    const ops = sequential([
      ['c', reg(2), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(1)],
      ['c', rec('pw'), 'ok', recovered, 0],
      ['a', rec('x'), 'ok', wrong(1)],
      ['a', rec('y'), 'ok', wrong(0)],
      ['c', rec('pw'), 'ok', { kind: 'Locked' }],
    ]);
    expect(linearizable(ops)).toBe(true);
  });

  test('an extra guess past the limit is caught', () => {
    const ops = sequential([
      ['c', reg(1), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(0)],
      ['a', rec('y'), 'ok', wrong(0)],
    ]);
    expect(linearizable(ops)).toBe(false);
  });

  test('a lost registration is caught: the right password answered like an unknown credential', () => {
    const ops = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['c', rec('pw'), 'ok', wrong(9)],
    ]);
    expect(linearizable(ops)).toBe(false);
  });

  test('a refunded guess is caught: the tries go back up without a success', () => {
    const ops = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(2)],
      ['a', { kind: 'probe' }, 'ok', { kind: 'Ke2', triesRemaining: 1 }],
      ['a', rec('y'), 'ok', wrong(1)],
    ]);
    expect(linearizable(ops)).toBe(false);
  });

  test('info operations may or may not have happened; a lost answer still spends its guess', () => {
    const ok = sequential([
      ['c', reg(2), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'info'],
      ['a', rec('y'), 'ok', wrong(0)],
    ]);
    expect(linearizable(ok)).toBe(true);
    const skipped = sequential([
      ['c', reg(2), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'info'],
      ['a', rec('y'), 'ok', wrong(1)],
    ]);
    expect(linearizable(skipped)).toBe(true);
  });

  test(
    'a recovery whose KE3 got no answer may have reset the attempts; ' +
      'one that never had its KE2 sent no KE3 and cannot have',
    () => {
      const afterKe3 = (lost: Step): Step[] => [
        ['c', reg(2), 'ok', { kind: 'Registered' }],
        ['a', rec('x'), 'ok', wrong(1)],
        lost,
        ['a', rec('y'), 'ok', wrong(1)],
      ];
      expect(linearizable(sequential(afterKe3(['c', rec('pw'), 'info', undefined, 0])))).toBe(true);
      expect(linearizable(sequential(afterKe3(['c', rec('pw'), 'info'])))).toBe(false);
    },
  );

  test('concurrent operations are ordered by their outputs', () => {
    const h = new History();
    const r = h.invoke('c', 'alice', reg(3), 0);
    h.complete(r, 'ok', 1, { kind: 'Registered' });
    const a = h.invoke('a', 'alice', rec('x'), 2);
    const b = h.invoke('b', 'alice', rec('y'), 3);
    h.complete(b, 'ok', 4, wrong(2));
    h.complete(a, 'ok', 5, wrong(1));
    expect(linearizable(h.close())).toBe(true);
  });

  describe('a successful recovery is two steps: ConsumeGuess before its KE2, Reset after its KE3', () => {
    /**
     * The owner's KE2 says `ownerTries`; an attacker is answered `during` between that KE2 and K, and `after` once K
     * came.
     */
    function race(limit: number, ownerTries: number, during: OpOutput, after: OpOutput) {
      const t = timeline();
      t.op('c', reg(limit), { kind: 'Registered' });
      const owner = t.invoke('c', rec('pw'));
      t.opened(owner, ownerTries);
      t.op('a', rec('x'), during);
      t.complete(owner, 'ok', recovered);
      t.op('a', rec('y'), after);
      return t.close();
    }

    test(
      'an attacker between the two sees the owner’s guess spent ' +
        '(or is Locked by it), and the Reset restores the budget',
      () => {
        // these histories are what the fleet does; as one step, no point of the recovery explains them
        expect(linearizable(race(3, 2, wrong(1), wrong(2)))).toBe(true);
        expect(linearizable(race(1, 0, { kind: 'Locked' }, wrong(0)))).toBe(true);
        // the Reset may also come before the attacker's guess
        expect(linearizable(race(3, 2, wrong(2), wrong(1)))).toBe(true);
      },
    );

    test('tries that no interleaving of the two steps allows are caught', () => {
      // after K the attempts are back to 0, whatever came between: 1 left of 2 is the only answer
      expect(linearizable(race(2, 1, wrong(0), wrong(0)))).toBe(false);
      // Locked while the attempts were below the limit, before and after the owner's guess
      expect(linearizable(race(3, 2, { kind: 'Locked' }, wrong(2)))).toBe(false);
      // the owner's KE2 reports the tries as they were before its own guess (the `stale-tries` fleet)
      expect(linearizable(race(3, 3, wrong(1), wrong(2)))).toBe(false);
    });

    test(
      'a Reset ends every pending session: of two concurrent recoveries, ' +
        'the second succeeds only if the first reset before its guess',
      () => {
        const twoDevices = (secondTries: number) => {
          const t = timeline();
          t.op('c', reg(3), { kind: 'Registered' });
          const d1 = t.invoke('d1', rec('pw'));
          t.opened(d1, 2);
          const d2 = t.invoke('d2', rec('pw'));
          t.opened(d2, secondTries);
          t.complete(d1, 'ok', recovered);
          t.complete(d2, 'ok', recovered);
          return t.close();
        };
        expect(linearizable(twoDevices(2))).toBe(true); // d1's Reset, then d2's ConsumeGuess
        // d2's guess came after d1's: one Reset ends the other's session
        expect(linearizable(twoDevices(1))).toBe(false);
      },
    );

    test('a registration in between ends the session: its Reset cannot release the new K', () => {
      const t = timeline();
      t.op('c', reg(3), { kind: 'Registered' });
      const owner = t.invoke('c', rec('pw'));
      t.opened(owner, 2);
      t.op('c', { kind: 'register', password: 'pw', key: 'K2', limit: 3 }, { kind: 'Registered' });
      t.complete(owner, 'ok', { kind: 'Recovered', key: 'K2' });
      expect(linearizable(t.close())).toBe(false);
    });

    test(
      'property: every history of the record rules (src/vault/records.ts) ' +
        'with clients interleaved at random is accepted',
      () => {
        fc.assert(
          fc.property(recordsHistoryArb(), ({ ops }) => {
            expect(linearizable(ops), ops.map(describeOperation).join('\n')).toBe(true);
          }),
          { numRuns: 1000 },
        );
      },
    );
  });

  test('a deletion: the record is gone (fake KE2s, NotFound) until a registration; a key after it is caught', () => {
    const del: OpInput = { kind: 'delete' };
    const ops = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(2)],
      ['c', del, 'ok', { kind: 'Deleted' }],
      ['c', rec('pw'), 'ok', wrong(7)], // a fake KE2: any count
      ['c', del, 'ok', { kind: 'NotFound' }],
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['c', rec('pw'), 'ok', recovered, 2],
    ]);
    expect(linearizable(ops)).toBe(true);
    expect(findLostRegistration(ops)).toBeNull(); // the deletion explains the wrong password
    // K released with no registration since the deletion; NotFound while the record is there
    const resurrected = [...ops.slice(0, 3).map((o) => [o.client, o.input, o.completion, o.output] as Step)];
    expect(linearizable(sequential([...resurrected, ['c', rec('pw'), 'ok', recovered, 2]]))).toBe(false);
    expect(
      linearizable(sequential([['c', reg(3), 'ok', { kind: 'Registered' }], ['c', del, 'ok', { kind: 'NotFound' }]])),
    ).toBe(false);
    // a deletion with no answer may or may not have happened: both continuations are accepted
    for (const after of [wrong(1), wrong(5)])
      expect(
        linearizable(
          sequential([
            ['c', reg(3), 'ok', { kind: 'Registered' }],
            ['a', rec('x'), 'ok', wrong(2)],
            ['c', del, 'info'],
            ['a', rec('y'), 'ok', after],
          ]),
        ),
      ).toBe(true);
  });

  test('property: every history of a correct sequential vault is accepted, and changing one output is caught', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.constantFrom('pw', 'x', 'y', 'probe'), { maxLength: 12 }),
        fc.nat(),
        (limit, attempts, which) => {
          // the reference: a sequential vault
          let used = 0;
          const steps: Step[] = [['c', reg(limit), 'ok', { kind: 'Registered' }]];
          for (const p of attempts) {
            const left = limit - used;
            if (left <= 0) steps.push(['c', p === 'probe' ? { kind: 'probe' } : rec(p), 'ok', { kind: 'Locked' }]);
            else if (p === 'probe')
              (steps.push(['a', { kind: 'probe' }, 'ok', { kind: 'Ke2', triesRemaining: left - 1 }]), (used += 1));
            else if (p === 'pw') (steps.push(['c', rec(p), 'ok', recovered, left - 1]), (used = 0));
            else (steps.push(['a', rec(p), 'ok', wrong(left - 1)]), (used += 1));
          }
          expect(linearizable(sequential(steps))).toBe(true);
          // one count changed (an answer's, or a successful recovery's KE2): off by one is never linearizable
          const i = 1 + (which % Math.max(1, steps.length - 1));
          const s = steps[i];
          if (s?.[4] !== undefined) {
            const changed = [...steps];
            changed[i] = [s[0], s[1], s[2], s[3], s[4] + 1];
            expect(linearizable(sequential(changed))).toBe(false);
          } else if (s && s[3] && 'triesRemaining' in s[3]) {
            const changed = [...steps];
            changed[i] = [s[0], s[1], s[2], { ...s[3], triesRemaining: s[3].triesRemaining + 1 }];
            expect(linearizable(sequential(changed))).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

/**
 * Budget events, written short: `registered(R, limit)` a registration R; `ke2(s, i, R)` a KE2 of session s
 * for log entry i computed from R; `ke3`, `reset`, `released` of session s for registration R. Each
 * gets its position as its time.
 */
const registered = (registration: string, limit: number) => ({
  type: 'Registered' as const,
  credential: 'c',
  registration,
  limit,
});
const ke2 = (session: string, index: number, registration = 'R1') => ({
  type: 'Ke2Sent' as const,
  credential: 'c',
  registration,
  session,
  index,
});
const of =
  <T extends 'Ke3Verified' | 'Released'>(type: T) =>
  (session: string, registration = 'R1') => ({ type, credential: 'c', registration, session });
const ke3 = of('Ke3Verified');
const released = of('Released');
/** The Reset of session s at log entry `index`. */
const reset = (session: string, index: number, registration = 'R1') => ({
  type: 'Reset' as const,
  credential: 'c',
  registration,
  session,
  index,
});
type Spec = VaultEvent extends infer E ? (E extends VaultEvent ? Omit<E, 'at'> : never) : never;
const ev = (events: Spec[]): VaultEvent[] => events.map((e, at) => ({ ...e, at }) as VaultEvent);
const rules = (events: Spec[]) => checkBudget(ev(events)).map((v) => v.rule);

describe('guess budget (INV-1: G5) and release after a verified KE3 (INV-2: G3)', () => {
  test('limit KE2s between successes pass; one more is a G5 violation', () => {
    const base: Spec[] = [registered('R1', 2), ke2('s1', 2), ke2('s2', 3)];
    expect(checkBudget(ev(base))).toEqual([]);
    expect(rules([...base, ke2('s3', 4)])).toEqual(['G5']);
  });
  test("a success resets the budget; the same entry's KE2 sent twice is not a second guess", () => {
    expect(
      rules([registered('R1', 1), ke2('s1', 2), ke2('s1', 2), ke3('s1'), reset('s1', 3), released('s1'), ke2('s2', 4)]),
    ).toEqual([]);
  });
  test('one session id pending twice on one registration (two entries) spends two guesses', () => {
    // a Handshake1 replayed after its session ended and the replay cache forgot it (spec 5.6)
    expect(rules([registered('R1', 1), ke2('s1', 2), ke2('s1', 5)])).toEqual(['G5']);
  });
  test('a Reset without a Released (K lost on the way) still restarts the budget; a Released alone does not', () => {
    const base: Spec[] = [registered('R1', 1), ke2('s1', 2), ke3('s1')];
    expect(rules([...base, reset('s1', 3), ke2('s2', 4)])).toEqual([]);
    expect(rules([...base, released('s1'), ke2('s2', 4)])).toEqual(['G5']);
  });
  test("a KE2 counts in the window of its log entry: a deposed leader's, sent after a later Reset", () => {
    // third review of issue 15: the guess of entry 3 was spent, and zeroed, before the Reset of entry
    // 7; its KE2 left a deposed leader only after that Reset. Three guesses after the Reset are three
    const late: Spec[] = [registered('R1', 3), ke2('o', 2), ke2('a', 3), ke3('o'), reset('o', 7)];
    const held: Spec[] = [registered('R1', 3), ke2('o', 2), ke3('o'), reset('o', 7), ke2('a', 3)];
    const after = [8, 9, 10].map((i) => ke2(`b${i}`, i));
    expect(rules([...late, ...after])).toEqual([]);
    expect(rules([...held, ...after])).toEqual([]);
    expect(rules([...held, ...after, ke2('b11', 11)])).toEqual(['G5']); // a fourth after the Reset
    // before the Reset: entries 2, 3 and 4 of limit 3 pass; a held-back entry 5 is a fourth there
    expect(rules([...held, ke2('a4', 4), ...after])).toEqual([]);
    expect(rules([...held, ke2('a4', 4), ke2('a5', 5), ...after])).toEqual(['G5']);
  });
  test('a reset or K released without a verified KE3 of that session is a G3 violation', () => {
    const base: Spec[] = [registered('R1', 3), ke2('s1', 2), ke2('s2', 3), ke3('s2')];
    expect(rules([...base, reset('s1', 4)])).toEqual(['G3']);
    expect(rules([...base, released('s1')])).toEqual(['G3']);
  });
});

describe('every event counts for the registration it names (G3, G5 across registrations)', () => {
  // s0 opened under R1; R2 registered; s0 pending again on R2 (a replayed Handshake1, spec 5.6),
  // its KE3 verified for R1 (the old channel's login state) or for R2; then a Reset of R2 and K
  const replayed = (proved: string): Spec[] => [
    registered('R1', 10),
    ke2('s0', 2),
    registered('R2', 10),
    ...[1, 2, 3, 4, 5].map((i) => ke2(`s${i}`, 3 + i, 'R2')),
    ke2('s0', 9, 'R2'),
    ke3('s0', proved),
    reset('s0', 10, 'R2'),
    released('s0', 'R2'),
  ];
  test("an old registration's KE3 is no evidence for a reset of the new one; the new one's is", () => {
    expect(checkBudget(ev(replayed('R1'))).map((v) => [v.rule, v.message])).toEqual([
      ['G3', 'the attempts were reset by session s0 without a verified KE3'],
      ['G3', 'K released in session s0 without a verified KE3'],
    ]);
    expect(checkBudget(ev(replayed('R2')))).toEqual([]);
  });
  test('a session id pending again on a new registration is a new guess there', () => {
    expect(
      rules([registered('R1', 1), ke2('s0', 2), registered('R2', 1), ke2('s1', 4, 'R2'), ke2('s0', 5, 'R2')]),
    ).toEqual(['G5']);
  });
  test("a stale leader's KE2 from the old record, recorded after the new registration, counts against the old", () => {
    // found by review: with the KE2 charged to the newest registration in event order, 3 wrong
    // guesses at R2 (limit 3) after it were reported as a fourth
    expect(
      rules([
        registered('R1', 3),
        registered('R2', 3),
        ke2('s0', 2, 'R1'),
        ke2('s1', 4, 'R2'),
        ke2('s2', 5, 'R2'),
        ke2('s3', 6, 'R2'),
      ]),
    ).toEqual([]);
  });
  test("a stale leader's release of the old registration's K, recorded after a newer one: no G3 violation", () => {
    expect(
      rules([registered('R1', 3), ke2('s0', 2), ke3('s0'), registered('R2', 3), reset('s0', 4), released('s0')]),
    ).toEqual([]);
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
    expect(linearizable(unacknowledged)).toBe(true);
    const replaced = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['d', { kind: 'register', password: 'other', key: 'K2', limit: 3 }, 'info'],
      ['c', rec('pw'), 'ok', wrong(2)],
    ]);
    expect(findLostRegistration(replaced)).toBeNull();
    expect(linearizable(replaced)).toBe(true);
    const correct = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['a', rec('x'), 'ok', wrong(2)],
      ['c', rec('pw'), 'ok', recovered],
    ]);
    expect(findLostRegistration(correct)).toBeNull();
    const deleted = sequential([
      ['c', reg(3), 'ok', { kind: 'Registered' }],
      ['c', { kind: 'delete' }, 'info'],
      ['c', rec('pw'), 'ok', wrong(9)],
    ]);
    expect(findLostRegistration(deleted)).toBeNull();
  });
});
