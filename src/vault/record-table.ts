/**
 * The record table at scale (issue 19): `VaultState.records` stays a read-only object for every
 * reader (`records[id]`, `id in records`, `Object.entries`, JSON, spreading), but an update no
 * longer copies every record. A table is a Proxy over a persistent map:
 *
 *   up to SMALL entries   one Map, copied on write (what spreading the object did)
 *   beyond                a two-level trie of 64 x 64 slots by a hash of the id, each leaf a Map:
 *                         an update copies two arrays of 64 and one leaf (n / 4096 entries)
 *
 * Reads are O(1); an update is O(1 + n / 4096) (10^6 records: leaves of about 250). Enumeration
 * keeps the order of a plain object (integer-like keys ascending, then the others in the order
 * they were first added), so everything derived from the table (orphan EndSessions, vectors,
 * explorer keys) is unchanged. Old versions are never mutated: the explorer keeps them.
 * @module
 */

interface Slot<V> {
  readonly value: V;
  /** When the key was added (an update keeps it; a key deleted and added again gets a new one). */
  readonly seq: number;
}

type Leaf<V> = ReadonlyMap<string, Slot<V>>;

interface Inner<V> {
  readonly size: number;
  readonly nextSeq: number;
  /** Small tables: one map. */
  readonly small: Leaf<V> | null;
  /** Large tables: 64 x 64 leaves. */
  readonly trie: readonly (readonly (Leaf<V> | undefined)[] | undefined)[] | null;
  /** The keys the writer marked (few: records with a pending session), so that they are found without a scan. */
  readonly marked: ReadonlySet<string>;
}

const SMALL = 256;
const BITS = 6;
const WIDTH = 1 << BITS;

function hash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function leafOf<V>(t: Inner<V>, key: string): Leaf<V> | undefined {
  if (t.small !== null) return t.small;
  const h = hash(key);
  return t.trie![h & (WIDTH - 1)]?.[(h >>> BITS) & (WIDTH - 1)];
}

function lookup<V>(t: Inner<V>, key: string): Slot<V> | undefined {
  return leafOf(t, key)?.get(key);
}

function* slots<V>(t: Inner<V>): Generator<[string, Slot<V>]> {
  if (t.small !== null) {
    yield* t.small;
    return;
  }
  for (const mid of t.trie!) for (const leaf of mid ?? []) if (leaf) yield* leaf;
}

function toTrie<V>(entries: Iterable<[string, Slot<V>]>): Inner<V>['trie'] {
  const trie: (Map<string, Slot<V>> | undefined)[][] = [];
  for (const [k, s] of entries) {
    const h = hash(k);
    const mid = (trie[h & (WIDTH - 1)] ??= []);
    (mid[(h >>> BITS) & (WIDTH - 1)] ??= new Map()).set(k, s);
  }
  return trie;
}

function update<V>(t: Inner<V>, key: string, value: V | null, mark: boolean): Inner<V> {
  const old = lookup(t, key);
  if (value === null && old === undefined) return t;
  const slot = value === null ? null : { value, seq: old?.seq ?? t.nextSeq };
  const size = t.size + (old === undefined ? 1 : 0) - (slot === null ? 1 : 0);
  const nextSeq = old === undefined ? t.nextSeq + 1 : t.nextSeq;
  const isMarked = mark && slot !== null;
  let marked = t.marked;
  if (isMarked !== marked.has(key)) {
    const m = new Set(marked);
    if (isMarked) m.add(key);
    else m.delete(key);
    marked = m;
  }
  if (t.small !== null && size > SMALL) {
    const all = new Map(t.small);
    all.set(key, slot!);
    return { size, nextSeq, small: null, trie: toTrie(all), marked };
  }
  const write = (leaf: Leaf<V> | undefined) => {
    const next = new Map(leaf);
    if (slot === null) next.delete(key);
    else next.set(key, slot);
    return next;
  };
  if (t.small !== null) return { size, nextSeq, small: write(t.small), trie: null, marked };
  const h = hash(key);
  const a = h & (WIDTH - 1);
  const b = (h >>> BITS) & (WIDTH - 1);
  const trie = t.trie!.slice();
  const mid = (trie[a] ?? []).slice();
  mid[b] = write(mid[b]);
  trie[a] = mid;
  return { size, nextSeq, small: null, trie, marked };
}

const INDEX = /^(0|[1-9][0-9]*)$/;
const isIndex = (k: string) => INDEX.test(k) && Number(k) < 2 ** 32 - 1;

/** The keys in a plain object's order. */
function orderedKeys<V>(t: Inner<V>, all: [string, Slot<V>][] = [...slots(t)]): string[] {
  const ints = all.filter(([k]) => isIndex(k)).sort(([a], [b]) => Number(a) - Number(b));
  const rest = all.filter(([k]) => !isIndex(k)).sort(([, x], [, y]) => x.seq - y.seq);
  return [...ints, ...rest].map(([k]) => k);
}

const inners = new WeakMap<object, Inner<unknown>>();

function view<V>(t: Inner<V>): Readonly<Record<string, V>> {
  const handler: ProxyHandler<Record<string, V>> = {
    get: (target, key) => (typeof key === 'string' ? lookup(t, key)?.value : Reflect.get(target, key)),
    has: (target, key) => (typeof key === 'string' ? lookup(t, key) !== undefined : Reflect.has(target, key)),
    ownKeys: () => orderedKeys(t),
    getOwnPropertyDescriptor: (_, key) => {
      const s = typeof key === 'string' ? lookup(t, key) : undefined;
      return s === undefined ? undefined : { value: s.value, writable: false, enumerable: true, configurable: true };
    },
    set: () => false,
    deleteProperty: () => false,
    defineProperty: () => false,
  };
  const p = new Proxy({} as Record<string, V>, handler);
  inners.set(p, t as Inner<unknown>);
  return p;
}

function innerOf<V>(table: Readonly<Record<string, V>>, isMarked: (v: V) => boolean): Inner<V> {
  const known = inners.get(table) as Inner<V> | undefined;
  if (known !== undefined) return known;
  // a plain object (a literal, parsed JSON): taken once, in its own order
  const entries = Object.entries(table).map(([k, value], seq): [string, Slot<V>] => [k, { value, seq }]);
  const size = entries.length;
  const marked = new Set(entries.filter(([, s]) => isMarked(s.value)).map(([k]) => k));
  if (size <= SMALL) return { size, nextSeq: size, small: new Map(entries), trie: null, marked };
  return { size, nextSeq: size, small: null, trie: toTrie(entries), marked };
}

/**
 * `table` with `key` set to `value` (null: removed); `table` itself is unchanged. `isMarked` says
 * which values `markedEntries` lists (the same function at every call on a table's lineage).
 */
export function withEntry<V>(
  table: Readonly<Record<string, V>>,
  key: string,
  value: V | null,
  isMarked: (v: V) => boolean,
): Readonly<Record<string, V>> {
  return view(update(innerOf(table, isMarked), key, value, value !== null && isMarked(value)));
}

/**
 * `table` as a table of this module: itself if it is one; a plain object (a decoded snapshot) is
 * taken now, in O(n), rather than at its first update, which would then pay for it.
 */
export function asTable<V>(
  table: Readonly<Record<string, V>>,
  isMarked: (v: V) => boolean,
): Readonly<Record<string, V>> {
  return inners.has(table) ? table : view(innerOf(table, isMarked));
}

/** The entries whose value `isMarked`, in the table's order, without a scan of a table built by `withEntry`. */
export function markedEntries<V>(table: Readonly<Record<string, V>>, isMarked: (v: V) => boolean): [string, V][] {
  const t = inners.get(table) as Inner<V> | undefined;
  if (t === undefined) return Object.entries(table).filter(([, v]) => isMarked(v));
  const all = [...t.marked].map((k): [string, Slot<V>] => [k, lookup(t, k)!]);
  return orderedKeys(t, all).map((k) => [k, lookup(t, k)!.value]);
}

/** The number of entries, without enumerating them. */
export function tableSize(table: Readonly<Record<string, unknown>>): number {
  return inners.get(table)?.size ?? Object.keys(table).length;
}
