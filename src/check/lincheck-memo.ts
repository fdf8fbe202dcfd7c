/**
 * The memo of the linearizability search (spec ch. 12.3, src/check/lincheck-search.ts): the set of
 * (linearized operations, model state) pairs already explored, as Lowe's memoization keeps it and
 * porcupine's `cache` does, in typed arrays so that its size is counted and bounded.
 *
 *   Linearized   the bitset of the operations linearized so far, with its Zobrist hash (a random
 *                word per operation, xor-ed in and out as a bit is set and cleared) kept up to date
 *                at every step, and its canonical window: `full` words all ones below, zero words
 *                from `top` on. A memo entry stores only the window's words, so a long history
 *                linearized from its start costs one or two words an entry, not n / 32.
 *   Memo         an open-addressing hash table of entries (hash, state id, window); equality is
 *                exact (a hash collision costs a comparison, never a wrong answer).
 *   MemoryBudget the bytes every live memo may hold together; a memo that would grow past it says
 *                so, and its partition is reported `unknown` (lincheck.ts).
 * @module
 */

/** The bytes the memos of one check may take together; each growth asks for its share. */
export class MemoryBudget {
  used = 0;
  peak = 0;
  constructor(readonly limit: number) {}

  /** Takes `bytes` if they fit under the limit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** murmur3's finalizer: spreads the bits of a 32-bit value. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** The set of linearized operations 0..n-1. */
export class Linearized {
  readonly words: Int32Array;
  /** Words 0..full-1 are all ones. */
  full = 0;
  /** Words from top on are zero (top >= full). */
  top = 0;
  /** The xor of the Zobrist words of the operations in the set. */
  hash = 0;
  readonly #zobrist: Int32Array;

  /** The words of the bitset of n operations. */
  static words(n: number): number {
    return (n + 31) >>> 5;
  }

  /** `take(length)`: zeroed storage for its words and its n Zobrist words. */
  constructor(
    readonly n: number,
    take: (length: number) => Int32Array = (length) => new Int32Array(length),
  ) {
    this.words = take(Linearized.words(n));
    // a fixed random word per operation (a function of its index: checks are reproducible)
    this.#zobrist = take(n);
    for (let i = 0; i < n; i++) this.#zobrist[i] = mix32(Math.imul(i + 1, 0x9e3779b9) ^ 0x5bd1e995);
  }

  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  set(i: number): void {
    const w = i >>> 5;
    const words = this.words;
    words[w] = words[w]! | (1 << (i & 31));
    this.hash ^= this.#zobrist[i]!;
    if (w >= this.top) this.top = w + 1;
    if (w === this.full && words[w] === -1) {
      let f = w + 1;
      while (f < words.length && words[f] === -1) f++;
      this.full = f;
      if (this.top < f) this.top = f;
    }
  }

  clear(i: number): void {
    const w = i >>> 5;
    const words = this.words;
    words[w] = words[w]! & ~(1 << (i & 31));
    this.hash ^= this.#zobrist[i]!;
    if (w < this.full) this.full = w;
    if (w === this.top - 1 && words[w] === 0) {
      let t = w;
      while (t > this.full && words[t - 1] === 0) t--;
      this.top = t;
    }
  }
}

/** An entry: state id, full, top, offset of its words in the pool (one cache line, not four arrays). */
const STRIDE = 4;
const NONE = new Int32Array(0);

/** The explored (linearized set, state id) pairs of one partition. */
export class Memo {
  /** per slot: the hash, and the entry index + 1 (0: empty); at most half the slots are used */
  #table: Int32Array<ArrayBuffer>;
  #entries: Int32Array<ArrayBuffer>;
  #pool: Int32Array<ArrayBuffer>;
  #poolUsed = 0;
  size = 0;
  #bytes = 0;

  /** `expected`: the entries it will likely hold (a search of n operations with little to backtrack: about n). */
  constructor(
    readonly budget: MemoryBudget,
    expected = 4,
  ) {
    let slots = 8;
    while (slots < 2 * expected && slots < 1 << 12) slots *= 2;
    this.#table = new Int32Array(2 * slots);
    this.#entries = new Int32Array((STRIDE * slots) / 2);
    this.#pool = new Int32Array(slots);
  }

  /** The bytes it holds (counted in its budget). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether it fits at all: the initial arrays. */
  open(): boolean {
    const initial = this.#table.byteLength + this.#entries.byteLength + this.#pool.byteLength;
    if (!this.budget.take(initial)) return false;
    this.#bytes = initial;
    return true;
  }

  /**
   * Adds (`set`, `state`) unless it is there: 1 added, 0 already there, -1 no memory for it.
   */
  add(set: Linearized, state: number): 1 | 0 | -1 {
    const h = set.hash ^ Math.imul(state + 1, 0x27d4eb2f);
    const { full, top, words } = set;
    let table = this.#table;
    const entries = this.#entries;
    const pool = this.#pool;
    let mask = (table.length >>> 1) - 1;
    let at = mix32(h) & mask;
    for (let slot = table[2 * at + 1]!; slot !== 0; slot = table[2 * at + 1]!) {
      if (table[2 * at] === h) {
        const e = STRIDE * (slot - 1);
        if (entries[e] === state && entries[e + 1] === full && entries[e + 2] === top) {
          const off = entries[e + 3]! - full;
          let w = full;
          while (w < top && pool[off + w] === words[w]) w++;
          if (w === top) return 0;
        }
      }
      at = (at + 1) & mask;
    }
    const span = top - full;
    if (!this.#reserve(span)) return -1;
    if (this.#table !== table) {
      // the table grew: find the free slot again
      table = this.#table;
      mask = (table.length >>> 1) - 1;
      at = mix32(h) & mask;
      while (table[2 * at + 1] !== 0) at = (at + 1) & mask;
    }
    const e = STRIDE * this.size++;
    const ent = this.#entries;
    ent[e] = state;
    ent[e + 1] = full;
    ent[e + 2] = top;
    ent[e + 3] = this.#poolUsed;
    this.#pool.set(words.subarray(full, top), this.#poolUsed);
    this.#poolUsed += span;
    table[2 * at] = h;
    table[2 * at + 1] = this.size;
    return 1;
  }

  /** Releases every byte it holds. */
  release(): void {
    this.budget.give(this.#bytes);
    this.#bytes = 0;
    [this.#table, this.#entries, this.#pool] = [NONE, NONE, NONE];
    this.size = 0;
  }

  /** Room for one more entry of `span` words, growing the arrays (if the budget allows). */
  #reserve(span: number): boolean {
    const entries = STRIDE * (this.size + 1) > this.#entries.length;
    const table = 2 * (this.size + 1) > this.#table.length >>> 1;
    let poolLength = this.#pool.length;
    while (this.#poolUsed + span > poolLength) poolLength *= 2;
    const poolGrowth = 4 * (poolLength - this.#pool.length);
    const grow = (entries ? this.#entries.byteLength : 0) + (table ? this.#table.byteLength : 0) + poolGrowth;
    if (grow === 0) return true;
    if (!this.budget.take(grow)) return false;
    this.#bytes += grow;
    if (entries) this.#entries = grown(this.#entries, 2 * this.#entries.length);
    if (poolLength > this.#pool.length) this.#pool = grown(this.#pool, poolLength);
    if (table) this.#rehash(2 * this.#table.length);
    return true;
  }

  #rehash(length: number): void {
    const old = this.#table;
    const table = new Int32Array(length);
    const mask = (length >>> 1) - 1;
    for (let s = 0; s < old.length; s += 2) {
      if (old[s + 1] === 0) continue;
      let at = mix32(old[s]!) & mask;
      while (table[2 * at + 1] !== 0) at = (at + 1) & mask;
      table[2 * at] = old[s]!;
      table[2 * at + 1] = old[s + 1]!;
    }
    this.#table = table;
  }
}

function grown(a: Int32Array<ArrayBuffer>, length: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}
