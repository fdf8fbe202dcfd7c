/**
 * The linearizability checker itself (src/check/lincheck.ts, spec ch. 12.3): three answers, any
 * history length, every partition checked, on worker threads too, and a trace with every
 * operation of the longest linearizable prefix. Known-answer histories written here for each
 * case; a property that it agrees with a brute-force checker (test/support/lincheck-histories.ts)
 * on random small histories of a register and of the record rules, shown able to fail by broken
 * variants (one that drops the real-time order, one whose memo merges states); and the checker
 * before issue 23 (bench/lincheck-baseline.ts) failing the cases it got wrong.
 * Seeds: BKV_SEED fixes the fast-check seed (always printed).
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { History, type OpInput, type OpOutput, type Operation } from '../src/check/history.ts';
import {
  type LinOptions,
  type LinResult,
  type Model,
  type TimedOperation,
  checkLinearizable,
  checkLinearizableOnWorkers,
  describeRefutation,
} from '../src/check/lincheck.ts';
import { RECORD_MODEL, describeStep, recordModel } from '../src/check/record-model.ts';
import { checkHistory } from '../src/sim/scenario.ts';
import { checkLinearizableBaseline } from '../bench/lincheck-baseline.ts';
import {
  type RegisterInput,
  type RegisterOp,
  bruteForce,
  changeOneCount,
  hardBesideEasy,
  pastTheCount,
  recordsHistoryArb,
  registerHistoryArb,
  registerModel,
} from './support/lincheck-histories.ts';

const seed = Number(process.env.BKV_SEED ?? Date.now() % 2 ** 31);
console.log(`[lincheck] fast-check seed ${seed} (reproduce: BKV_SEED=${seed})`);

const REGISTER_MODEL = {
  module: new URL('./support/lincheck-histories.ts', import.meta.url).href,
  name: 'registerModel',
};
const since = (t0: number) => `${(performance.now() - t0).toFixed(0)} ms`;

/** A register history where each operation completes before the next starts. */
function sequentialRegister(steps: readonly [RegisterInput, (number | boolean)?, ('ok' | 'info')?][]): RegisterOp[] {
  return steps.map(([input, output, completion = 'ok'], id) => ({
    id,
    key: 'k',
    client: 0,
    input,
    call: 2 * id,
    return: completion === 'info' ? Infinity : 2 * id + 1,
    completion,
    ...(output !== undefined && { output }),
  }));
}
const write = (value: number): RegisterInput => ({ kind: 'write', value });
const read: RegisterInput = { kind: 'read' };
const cas = (from: number, to: number): RegisterInput => ({ kind: 'cas', from, to });

const reg = (limit: number): OpInput => ({ kind: 'register', password: 'pw', key: 'K', limit });
const rec = (password: string): OpInput => ({ kind: 'recover', password });
const wrong = (triesRemaining: number): OpOutput => ({ kind: 'WrongPassword', triesRemaining });

function refuted<R extends TimedOperation, O extends TimedOperation>(r: LinResult<R, O>) {
  if (r.verdict !== 'not-linearizable') throw new Error(`expected a refutation, got ${r.verdict}`);
  return r;
}

describe('three answers: every partition checked, the first refutation wins', () => {
  test('a hard partition first, easy refutations beside it: refuted, in a few thousand states', () => {
    const ops = hardBesideEasy();
    const t0 = performance.now();
    const r = refuted(checkLinearizable(recordModel, ops));
    console.log(`[lincheck] hard beside easy: refuted ${r.partition} in ${since(t0)}, ${r.stats.explored} states`);
    expect(r.partition).toMatch(/^e[1-5]$/);
    expect(r.stats.partitions).toBe(6);
    expect(r.stats.explored).toBeLessThan(50_000);
    // partitions one after the other, each with its whole budget (as before issue 23): the hard one eats it first
    const inTurn = refuted(checkLinearizable(recordModel, ops, { budget: 200_000, slice: 200_000 }));
    expect(inTurn.stats.explored).toBeGreaterThan(200_000);
  });

  test('the hard partition alone: unknown, named, after its whole budget (states or memory); never a pass', () => {
    const h = new History();
    const t = pastTheCount(h, 'hard', 20, 0, 0);
    // a linearizable partition beside it does not make the answer a pass
    h.complete(h.invoke('c', 'fine', reg(3), t), 'ok', t + 1, { kind: 'Registered' });
    const r = checkLinearizable(recordModel, h.close(), { budget: 200_000 });
    const over = { partition: 'hard', operations: 22, explored: 200_000, reason: 'states' };
    expect(r.verdict === 'unknown' && r.overBudget).toEqual([over]);
    // the same partition with a 1 MiB memory budget: its memo does not fit
    const small = checkLinearizable(recordModel, h.ops, { memoryBytes: 2 ** 20 });
    const named = small.verdict === 'unknown' && small.overBudget.map((p) => [p.partition, p.reason]);
    expect(named).toEqual([['hard', 'memory']]);
    expect(small.stats.peakMemoBytes).toBeLessThanOrEqual(2 ** 20);
  });

  test('bkv check: an undecided history is a failed run, UNDECIDED, naming the partition', () => {
    const h = new History();
    pastTheCount(h, 'hard', 16, 0, 0);
    const v = checkHistory([], h.close(), { budget: 10_000 });
    expect(v?.invariant).toBe('UNDECIDED');
    const named = /^INV-5 not decided: no partition refuted, 1 undecided: partition hard \(18 operations\)/;
    expect(v?.detail).toMatch(named);
    expect(v?.detail).toContain('10000 states explored, its whole states budget');
  });

  test('options are checked: name, expected, actual', () => {
    const bad = (options: LinOptions) => () => checkLinearizable(registerModel, [], options);
    expect(bad({ budget: 0 })).toThrow('lincheck: budget expected a positive integer, got 0');
    expect(bad({ slice: 1.5 })).toThrow('lincheck: slice expected a positive integer, got 1.5');
  });
});

describe('any history length', () => {
  const N = 50_000;
  /** write(0), read -> 0, write(2), read -> 2, ..., the last read answered `last` */
  const writesAndReads = (last: number) =>
    sequentialRegister(
      Array.from({ length: N }, (_, k) => (k % 2 === 0 ? [write(k % 7)] : [read, k === N - 1 ? last : (k - 1) % 7])),
    );

  test(`${N} sequential register operations: linearizable, no stack error; one read changed: refuted`, () => {
    const t0 = performance.now();
    const ok = checkLinearizable(registerModel, writesAndReads((N - 2) % 7));
    console.log(`[lincheck] ${N} sequential operations: ${ok.verdict} in ${since(t0)}, ${ok.stats.explored} states`);
    expect(ok.verdict).toBe('linearizable');
    expect(ok.stats).toMatchObject({ largest: N, explored: N + 1 });
    const r = refuted(checkLinearizable(registerModel, writesAndReads(9)));
    expect(r.longest.length).toBe(N - 1);
    expect(r.stuck.map((o) => o.id)).toEqual([N - 1]);
  });

  test(`${N} sequential record operations (wrong guesses and recoveries): linearizable`, () => {
    const h = new History();
    let t = 0;
    const limit = 5;
    h.complete(h.invoke('c', 'alice', reg(limit), t++), 'ok', t++, { kind: 'Registered' });
    let used = 0;
    for (let k = 1; k < N; k++) {
      if (used === limit - 1) {
        const id = h.invoke('c', 'alice', rec('pw'), t++);
        h.opened(id, t++, limit - used - 1);
        h.complete(id, 'ok', t++, { kind: 'Recovered', key: 'K' });
        used = 0;
      } else h.complete(h.invoke('a', 'alice', rec(`x${k}`), t++), 'ok', t++, wrong(limit - ++used));
    }
    const r = checkLinearizable(recordModel, h.close());
    expect(r.verdict).toBe('linearizable');
    expect(r.stats.largest).toBeGreaterThan(N);
  });

  test('1,000 writes that got no answer, concurrent with 10,000 sequential operations after them: linearizable', () => {
    // the returns far from call order (∞ first): the entries are sorted by a merge sort, not by insertion
    const lost = Array.from({ length: 1000 }, (_, id): RegisterOp => {
      return { id, key: 'k', client: id + 1, input: write(0), call: id, return: Infinity, completion: 'info' };
    });
    const steps = Array.from({ length: 10_000 }, (_, k) => (k % 2 === 0 ? [write(k % 7)] : [read, (k - 1) % 7]));
    const after = sequentialRegister(steps as [RegisterInput, number?][]);
    const later = after.map((o) => ({ ...o, id: o.id + 1000, call: o.call + 1000, return: o.return + 1000 }));
    const ops = [...lost, ...later];
    const r = checkLinearizable(registerModel, ops);
    expect(r.verdict).toBe('linearizable');
    expect(r.stats.explored).toBe(11_001);
  });

  test('the checker before issue 23 overflows its stack on 10,000 sequential operations', () => {
    const ops = sequentialRegister(Array.from({ length: 10_000 }, (_, k) => [write(k % 7)]));
    expect(() => checkLinearizableBaseline(registerModel, ops)).toThrow(/call stack/);
  });
});

describe('the trace: every operation of the longest linearizable prefix', () => {
  test('write(1); read -> 1; read -> 2: the read that leaves the state unchanged is in it', () => {
    const ops = sequentialRegister([[write(1)], [read, 1], [read, 2]]);
    const r = refuted(checkLinearizable(registerModel, ops));
    expect(r.longest.map((s) => [s.op.id, s.state])).toEqual([
      [0, '1'],
      [1, '1'],
    ]);
    expect(r.stuck.map((o) => o.id)).toEqual([2]);
    // the checker before issue 23 dropped it (the reason for this test)
    expect(checkLinearizableBaseline(registerModel, ops).longest?.map((o) => o.id)).toEqual([0]);
  });

  test('a failed compare-and-set, and a record answered Locked, are in it too', () => {
    const failedCas = sequentialRegister([[write(1)], [cas(2, 3), false], [read, 3]]);
    const r = refuted(checkLinearizable(registerModel, failedCas));
    expect(r.longest.map((s) => s.op.id)).toEqual([0, 1]);
    const h = new History();
    let t = 0;
    const op = (client: string, input: OpInput, output: OpOutput) => {
      h.complete(h.invoke(client, 'alice', input, t++), 'ok', t++, output);
    };
    op('c', reg(1), { kind: 'Registered' });
    op('a', rec('x'), wrong(0));
    op('a', rec('y'), { kind: 'Locked' });
    op('a', rec('z'), wrong(0));
    const locked = refuted(checkLinearizable(recordModel, h.close()));
    expect(locked.longest.map((s) => s.op.output?.kind)).toEqual(['Registered', 'WrongPassword', 'Locked']);
    const text = describeRefutation(locked, describeStep);
    expect(text).toContain('3. #2 a alice recover(y) -> Locked [4, 5]  => pw|K|Exhausted|1|1|');
  });

  test('an info operation taken as having happened is marked; one left out is not in it', () => {
    const lostWrite = (firstRead: number) =>
      sequentialRegister([
        [write(1), undefined, 'info'],
        [read, firstRead],
        [read, 2],
      ]);
    const taken = refuted(checkLinearizable(registerModel, lostWrite(1)));
    expect(taken.longest.map((s) => [s.op.id, s.op.completion])).toEqual([
      [0, 'info'],
      [1, 'ok'],
    ]);
    const text = describeRefutation(taken, (o) => `#${o.id} ${o.input.kind}`);
    expect(text).toContain('1. #0 write (info: taken as having happened)  => 1');
    expect(text).toContain('2. #1 read  => 1');
    const left = refuted(checkLinearizable(registerModel, lostWrite(0)));
    expect(left.longest.map((s) => s.op.id)).toEqual([1]);
  });
});

describe('agrees with a brute-force checker (every order consistent with real time)', () => {
  type Checker = <S, R extends TimedOperation, O extends TimedOperation>(
    m: Model<S, R, O>,
    ops: readonly R[],
  ) => boolean;
  const checker: Checker = (m, ops) => {
    const v = checkLinearizable(m, ops).verdict;
    if (v === 'unknown') throw new Error('no answer on a small history');
    return v === 'linearizable';
  };
  const tally = { yes: 0, no: 0 };
  const registerProperty = (check: Checker) =>
    fc.property(registerHistoryArb({ keys: 1, clients: 3, ops: 3, values: 3 }), ({ ops }) => {
      const expected = bruteForce(registerModel, ops);
      tally[expected ? 'yes' : 'no']++;
      expect(check(registerModel, ops), JSON.stringify(ops)).toBe(expected);
    });

  test('a register: random histories of up to 3 clients, each output possibly changed', () => {
    fc.assert(registerProperty(checker), { seed, numRuns: 500 });
    console.log(`[lincheck] register histories: ${tally.yes} linearizable, ${tally.no} not`);
    expect(Math.min(tally.yes, tally.no)).toBeGreaterThan(50);
  });

  test('a register per key: the partitions together answer as each key alone', () => {
    fc.assert(
      fc.property(registerHistoryArb({ keys: 3, clients: 3, ops: 4, values: 2 }), ({ ops }) => {
        const keys = [...new Set(ops.map((o) => o.key))];
        const expected = keys.every((k) =>
          bruteForce(
            registerModel,
            ops.filter((o) => o.key === k),
          ),
        );
        expect(checker(registerModel, ops)).toBe(expected);
      }),
      { seed, numRuns: 300 },
    );
  });

  test('the record rules: random histories, one count possibly changed by one', () => {
    const counts = { yes: 0, no: 0 };
    const shape = { maxLimit: 2, clients: { min: 1, max: 3 }, attempts: 2 };
    fc.assert(
      fc.property(recordsHistoryArb(shape), fc.option(fc.nat(), { nil: undefined }), ({ ops }, change) => {
        const history = (change !== undefined && changeOneCount(ops, change)) || ops;
        const expected = bruteForce(recordModel, history);
        counts[expected ? 'yes' : 'no']++;
        expect(checker(recordModel, history), history.map(describeStep).join('\n')).toBe(expected);
      }),
      { seed, numRuns: 400 },
    );
    console.log(`[lincheck] record histories: ${counts.yes} linearizable, ${counts.no} not`);
    expect(Math.min(counts.yes, counts.no)).toBeGreaterThan(40);
  });

  test('broken variants are caught: one that drops the real-time order, one whose memo merges states', () => {
    const concurrent = <R extends TimedOperation>(ops: readonly R[]) =>
      ops.map((o) => ({ ...o, call: 0, return: o.completion === 'info' ? Infinity : 1e9 }));
    const dropsRealTime: Checker = (m, ops) => checker(m, concurrent(ops));
    const mergesStates: Checker = (m, ops) => checker({ ...m, key: () => 'one state' }, ops);
    for (const broken of [dropsRealTime, mergesStates]) {
      expect(fc.check(registerProperty(broken), { seed: 1, numRuns: 500 }).failed).toBe(true);
    }
  });
});

describe('on worker threads (the model named by module and export)', () => {
  test('the hard partition beside easy ones, on 2 workers: refuted', async () => {
    const r = await checkLinearizableOnWorkers(RECORD_MODEL, hardBesideEasy(), { workers: 2 });
    expect(r.verdict).toBe('not-linearizable');
    expect(r.verdict === 'not-linearizable' && r.partition).toMatch(/^e[1-5]$/);
  });

  test('a register history of 4 keys on 3 workers: the same answer as in one thread', async () => {
    const [sample] = fc.sample(registerHistoryArb({ keys: 4, clients: 6, ops: 30, values: 4 }), { seed, numRuns: 1 });
    const ops = sample!.ops;
    const here = checkLinearizable(registerModel, ops);
    const there = await checkLinearizableOnWorkers(REGISTER_MODEL, ops, { workers: 3 });
    expect(there.verdict).toBe(here.verdict);
    expect(there.stats.partitions).toBe(here.stats.partitions);
  });

  test('a module without the model, or a bad worker count, is refused', async () => {
    await expect(checkLinearizableOnWorkers({ ...RECORD_MODEL, name: 'nothing' }, [], { workers: 1 })).rejects.toThrow(
      /exports no model named nothing/,
    );
    await expect(checkLinearizableOnWorkers(RECORD_MODEL, [], { workers: 0 })).rejects.toThrow(
      'lincheck: workers expected an integer from 1 to 64, got 0',
    );
  });
});
