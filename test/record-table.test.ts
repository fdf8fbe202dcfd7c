/**
 * The record table (src/vault/record-table.ts) against the plain object it replaces: after any
 * sequence of sets and deletes, small or past the trie threshold, the same keys in the same order,
 * the same values, the same JSON, the same `in`; every earlier version unchanged; the marked
 * entries those a filter over every entry finds.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type Durable, EMPTY_DURABLE } from '../src/replication/raft.ts';
import { restartReplica } from '../src/replication/replica.ts';
import { asTable, markedEntries, tableSize, withEntry } from '../src/vault/record-table.ts';
import type { Command, VaultState } from '../src/vault/records.ts';

type Op = { key: string; value: number | null };
const isMarked = (v: number) => v % 3 === 0;

function check(ops: readonly Op[]) {
  let table: Readonly<Record<string, number>> = {};
  let model: Record<string, number> = {};
  const versions: [Readonly<Record<string, number>>, string][] = [];
  for (const { key, value } of ops) {
    table = withEntry(table, key, value, isMarked);
    model = { ...model };
    if (value === null) delete model[key];
    else model[key] = value;
    versions.push([table, JSON.stringify(model)]);
  }
  expect(Object.keys(table)).toEqual(Object.keys(model));
  expect(JSON.stringify(table)).toBe(JSON.stringify(model));
  expect({ ...table }).toEqual(model);
  expect(tableSize(table)).toBe(Object.keys(model).length);
  for (const { key } of ops) {
    expect(key in table).toBe(key in model);
    expect(table[key]).toBe(model[key]);
  }
  expect(markedEntries(table, isMarked)).toEqual(Object.entries(model).filter(([, v]) => isMarked(v)));
  for (const [v, json] of versions) expect(JSON.stringify(v)).toBe(json); // no version was changed
}

const key = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1, maxLength: 3 }),
  fc.nat(40).map(String),
);
const op = fc.record({ key, value: fc.option(fc.nat(20), { freq: 4 }) });

describe('the record table (record-table.ts)', () => {
  test('behaves as the plain object, small tables', () => {
    const seed = Number(process.env.BKV_SEED ?? Date.now() % 2 ** 31);
    console.log(`[record-table] fast-check seed ${seed} (replay: BKV_SEED=${seed})`);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => check(ops)),
      { seed },
    );
  });

  test('behaves as the plain object past the trie threshold', () => {
    const many = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => ({ key: ((i * 7919 + seed) % 400).toString(16), value: (i % 5) * seed }));
    check(many(900, 3));
    check([...many(600, 1), ...many(300, 2).map((o) => ({ ...o, value: null }))]);
  });

  test('a plain object handed in is taken in its order, and left as it was', () => {
    const plain = { b: 1, '2': 2, a: 3 };
    const t = withEntry(plain, 'c', 6, isMarked);
    expect(Object.keys(t)).toEqual(['2', 'b', 'a', 'c']);
    expect(plain).toEqual({ b: 1, '2': 2, a: 3 });
    expect(markedEntries(t, isMarked)).toEqual([
      ['a', 3],
      ['c', 6],
    ]);
  });

  test('asTable takes a plain object once (same keys, order, values); a table is returned as it is', () => {
    const plain = { b: 1, '2': 2, a: 3 };
    const t = asTable(plain, isMarked);
    expect(t).not.toBe(plain);
    expect(asTable(t, isMarked)).toBe(t);
    expect([Object.keys(t), JSON.stringify(t), tableSize(t)]).toEqual([['2', 'b', 'a'], JSON.stringify(plain), 3]);
    expect(markedEntries(t, isMarked)).toEqual([['a', 3]]);
  });

  test('a replica restarted from a decoded snapshot holds its records as a table, not the plain object', () => {
    const records = JSON.parse(JSON.stringify({ aa: { pending: {} } })) as VaultState['records'];
    const durable: Durable<Command> = {
      ...(EMPTY_DURABLE as Durable<Command>),
      snapshot: { index: 1, term: 1, state: { records } },
    };
    const s = restartReplica({ id: 0, n: 1, maxBatch: 1 }, durable, null);
    const held = s.node.vault.records;
    expect(asTable(held, () => false)).toBe(held); // a table already: its first update costs O(1)
    expect({ ...held }).toEqual(records);
  });
});
