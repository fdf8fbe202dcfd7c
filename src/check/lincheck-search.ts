/**
 * The search of one partition (spec ch. 12.3): Wing & Gong's linearizability search with Lowe's
 * memoization, as porcupine's `checkSingle` runs it (anishathalye/porcupine, checker.go), made
 * iterative and resumable:
 *
 *   entries   each operation is a call entry and a return entry, sorted by time (calls before
 *             returns at equal times), in a doubly linked list over typed arrays. The operations
 *             that may go next are the call entries before the first return entry.
 *   step      try the next candidate with each state the model allows (and, for an `info`
 *             operation, as not having happened); a (linearized set, state) pair not yet in the
 *             memo is pushed on an explicit stack, the operation is lifted out of the list
 *             (`lift`) and the walk restarts at the head
 *   backtrack reaching a return entry means its operation should have been linearized before:
 *             pop the last choice, put its entries back (`unlift`) and try its next alternative,
 *             then the candidates after it; a return entry with an empty stack refutes
 *
 * No recursion (any history length), no scan of all operations per step (the walk sees only the
 * candidates), and the memo (lincheck-memo.ts) takes its bytes from a budget. `run(limit)` stops
 * after `limit` explored states and can be called again: the scheduler (lincheck.ts) gives each
 * partition a slice at a time. The longest linearizable prefix seen is kept for the trace.
 * @module
 */
import type { Completion } from './history.ts';
import { Linearized, Memo, type MemoryBudget } from './lincheck-memo.ts';

/** What the search needs of an operation: history.ts `Operation` is one. */
export interface TimedOperation {
  readonly id: number;
  /** logical time of the invocation and of the completion (Infinity for `info`) */
  readonly call: number;
  readonly return: number;
  readonly completion: Completion;
}

/** A sequential specification: the states `op` can lead to from `state` (none: it cannot happen there). */
export interface StepModel<S, O> {
  init(): S;
  step(state: S, op: O): readonly S[];
  /** A canonical key of a state: equal keys, equal states. */
  key(state: S): string;
}

/** running: may go on; memory: its memo went over the memory budget; stopped: given up (over its states). */
export type SearchStatus = 'running' | 'linearizable' | 'refuted' | 'memory' | 'stopped';

/** One operation of a linearization and the model state after it. */
export interface TraceStep<O> {
  readonly op: O;
  readonly state: string;
}

/** The states an operation leads to from a state, and their ids. */
interface Transitions<S> {
  readonly states: readonly S[];
  readonly ids: readonly number[];
}

/**
 * The indices 0..n-1 by `time(i)`, then index: an insertion sort, since times come nearly in
 * order (calls in recorded order, returns in call order), or the engine's sort when they do not
 * (more than 8 shifts per item).
 */
export function orderByTime(n: number, time: (i: number) => number): number[] {
  // plain arrays: most partitions are small, and small typed arrays cost more to make
  const order: number[] = [];
  const times: number[] = [];
  let shifts = 0;
  for (let i = 0; i < n; i++) {
    const t = time(i);
    let j = i;
    // shift the later times up; equal times keep index order
    while (j > 0 && times[j - 1]! > t) {
      times[j] = times[j - 1]!;
      order[j] = order[j - 1]!;
      j--;
    }
    times[j] = t;
    order[j] = i;
    shifts += i - j;
    if (shifts > 8 * n) {
      const byTime = (a: number, b: number) => {
        const ta = time(a);
        const tb = time(b);
        if (ta !== tb) return ta < tb ? -1 : 1;
        return a - b;
      };
      return Array.from({ length: n }, (_, k) => k).sort(byTime);
    }
  }
  return order;
}

/** Slots of the transition cache at first, and at most (it doubles when it misses often). */
const CACHE_SLOTS = 64;
const CACHE_MAX_SLOTS = 1 << 16;
/** Bytes counted per slot of the cache: its two ids, a reference, the successors it keeps (a guess). */
const CACHE_SLOT_BYTES = 64;

const HEAD = 0;
const NIL = -1;
/** Bytes counted for a state key the search has seen. */
const keyBytes = (key: string) => 2 * key.length + 64;

export class PartitionSearch<S, O extends TimedOperation> {
  status: SearchStatus = 'running';
  /** States explored: (linearized set, state) pairs added to the memo. */
  explored = 0;
  readonly #model: StepModel<S, O>;
  readonly #ops: readonly O[];
  readonly #budget: MemoryBudget;
  readonly #memo: Memo;
  readonly #set: Linearized;
  // the list: node 0 is the head, then 2n entries; #op: the entry's operation, #match: a call's return (NIL: a return)
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  readonly #op: Int32Array;
  readonly #match: Int32Array;
  // the stack: the node pushed, the alternative taken, and what to restore
  #depth = 0;
  readonly #frameNode: Int32Array;
  readonly #frameAlt: Int32Array;
  readonly #frameStateId: Int32Array;
  readonly #frameState: S[];
  readonly #frameAlts: Transitions<S>[];
  // the longest prefix seen: frames 0..bestLength-1, equal to the stack's below `agree`
  readonly #bestNode: Int32Array;
  readonly #bestAlt: Int32Array;
  #bestLength = 0;
  #agree = 0;
  // the current state, its id in #ids, and where the walk stands
  #state: S;
  #stateId: number;
  readonly #ids = new Map<string, number>();
  // the transition cache: its slots' state ids, operations and successors, and its misses
  #cachedState: number[] = new Array<number>(CACHE_SLOTS).fill(-1);
  #cachedOp: number[] = new Array<number>(CACHE_SLOTS).fill(-1);
  #cached = new Array<Transitions<S> | undefined>(CACHE_SLOTS);
  #misses = 0;
  #remaining = 0;
  #cursor: number;
  #fixedBytes = 0;

  /** `ops`: the operations of one partition (no `fail` ones: they did not happen). */
  constructor(model: StepModel<S, O>, ops: readonly O[], budget: MemoryBudget) {
    this.#model = model;
    this.#budget = budget;
    const n = ops.length;
    this.#ops = ops;
    const nodes = 2 * n + 1;
    // one allocation for every array of fixed size (a partition is often a handful of operations)
    const words = Linearized.words(n);
    const block = new Int32Array(4 * nodes + 7 * n + words);
    let used = 0;
    const take = (length: number) => block.subarray(used, (used += length));
    this.#set = new Linearized(n, take);
    this.#memo = new Memo(budget, n + 1);
    [this.#next, this.#prev, this.#op, this.#match] = [take(nodes), take(nodes), take(nodes), take(nodes)];
    [this.#frameNode, this.#frameAlt, this.#frameStateId] = [take(n), take(n), take(n)];
    [this.#bestNode, this.#bestAlt] = [take(n), take(n)];
    this.#frameState = new Array<S>(n);
    this.#frameAlts = new Array<Transitions<S>>(n);
    this.#link();
    for (const o of ops) if (o.completion !== 'info') this.#remaining++;
    this.#cursor = this.#next[HEAD]!;
    this.#state = model.init();
    // the typed arrays above, the arrays of references, the successors cached (a guess)
    const fixed = block.byteLength + 16 * n + CACHE_SLOTS * CACHE_SLOT_BYTES;
    this.#stateId = -1;
    if (!budget.take(fixed)) {
      this.#finish('memory');
      return;
    }
    this.#fixedBytes = fixed;
    if (!this.#memo.open()) {
      this.#finish('memory');
      return;
    }
    this.#stateId = this.#intern(this.#state);
    if (this.#stateId < 0 || this.#memo.add(this.#set, this.#stateId) < 0) this.#finish('memory');
    else this.explored = 1;
  }

  /** Bytes of the memo (counted in the budget while the search runs). */
  get memoBytes(): number {
    return this.#memo.bytes;
  }

  /** Searches until an answer, or until `limit` states have been explored in all. */
  run(limit: number): SearchStatus {
    if (this.status !== 'running') return this.status;
    const next = this.#next;
    const opOf = this.#op;
    const match = this.#match;
    const set = this.#set;
    const memo = this.#memo;
    let e = this.#cursor;
    let alts: Transitions<S> | null = null;
    let from = 0;
    for (;;) {
      if (this.#remaining === 0) return this.#finish('linearizable');
      if (match[e] === NIL) {
        // a return entry: its operation should have come before; undo the last choice
        if (this.#depth === 0) return this.#finish('refuted');
        const d = this.#pop();
        e = this.#frameNode[d]!;
        alts = this.#frameAlts[d]!;
        from = this.#frameAlt[d]! + 1;
        continue;
      }
      const i = opOf[e]!;
      const op = this.#ops[i]!;
      if (alts === null) {
        alts = this.#successors(i, op);
        if (alts === null) return this.#finish('memory');
        from = 0;
      }
      // the alternatives: each state the model allows, then for `info` not having happened
      const { states, ids } = alts;
      const count = states.length + (op.completion === 'info' ? 1 : 0);
      let pushed = false;
      for (let k = from; k < count; k++) {
        const after = k < states.length ? states[k]! : this.#state;
        const id = k < states.length ? ids[k]! : this.#stateId;
        set.set(i);
        const added = memo.add(set, id);
        if (added === 1) {
          this.#push(e, k, alts, after, id);
          pushed = true;
          break;
        }
        set.clear(i);
        if (added < 0) return this.#finish('memory');
      }
      alts = null;
      if (!pushed) {
        e = next[e]!;
        continue;
      }
      e = next[HEAD]!;
      // the limit reached: pause (unless that was the last operation to linearize)
      if (++this.explored >= limit && this.#remaining > 0) {
        this.#cursor = e;
        return this.status;
      }
    }
  }

  /** The longest linearizable prefix found, each operation with the state after it (`info` ones not taken left out). */
  longest(): TraceStep<O>[] {
    const trace: TraceStep<O>[] = [];
    let state = this.#model.init();
    for (let j = 0; j < this.#bestLength; j++) {
      const op = this.#ops[this.#op[this.#bestNode[j]!]!]!;
      const alts = this.#model.step(state, op);
      const k = this.#bestAlt[j]!;
      if (k >= alts.length) continue; // an `info` operation taken as not having happened
      state = alts[k]!;
      trace.push({ op, state: this.#model.key(state) });
    }
    return trace;
  }

  /** The operations that could come after the longest prefix (by real time), none of which the model allows there. */
  stuck(): O[] {
    const done = new Uint8Array(this.#ops.length);
    for (let j = 0; j < this.#bestLength; j++) done[this.#op[this.#bestNode[j]!]!] = 1;
    let bound = Infinity;
    this.#ops.forEach((o, i) => {
      if (!done[i] && o.return < bound) bound = o.return;
    });
    return this.#ops.filter((o, i) => !done[i] && o.call <= bound);
  }

  /**
   * The entries in time order, linked after the head: the calls (the operations come sorted by
   * call) merged with the returns sorted by time, a call first at equal times.
   */
  #link(): void {
    const ops = this.#ops;
    const n = ops.length;
    const returns = orderByTime(n, (i) => ops[i]!.return);
    const callNode: number[] = new Array<number>(n).fill(0);
    const returnNode: number[] = new Array<number>(n).fill(0);
    let c = 0;
    let r = 0;
    for (let node = 1; node <= 2 * n; node++) {
      if (c < n && ops[c]!.call <= ops[returns[r]!]!.return) {
        callNode[c] = node;
        this.#op[node] = c++;
      } else {
        const i = returns[r++]!;
        returnNode[i] = node;
        this.#op[node] = i;
      }
      this.#prev[node] = node - 1;
      this.#next[node - 1] = node;
    }
    this.#next[2 * n] = NIL;
    this.#op[HEAD] = NIL;
    this.#match[HEAD] = NIL;
    for (let i = 0; i < n; i++) {
      this.#match[callNode[i]!] = returnNode[i]!;
      this.#match[returnNode[i]!] = NIL;
    }
  }

  #push(e: number, k: number, alts: Transitions<S>, after: S, id: number): void {
    const d = this.#depth++;
    this.#frameNode[d] = e;
    this.#frameAlt[d] = k;
    this.#frameAlts[d] = alts;
    this.#frameState[d] = this.#state;
    this.#frameStateId[d] = this.#stateId;
    this.#state = after;
    this.#stateId = id;
    if (this.#ops[this.#op[e]!]!.completion !== 'info') this.#remaining--;
    this.#lift(e);
  }

  /** Pops the last choice and restores what it changed; the frame stays readable. */
  #pop(): number {
    const d = this.#depth;
    if (d > this.#bestLength) {
      // a longer prefix than any before: copy what differs from the last one kept
      this.#bestNode.set(this.#frameNode.subarray(this.#agree, d), this.#agree);
      this.#bestAlt.set(this.#frameAlt.subarray(this.#agree, d), this.#agree);
      this.#bestLength = d;
    }
    const top = d - 1;
    this.#depth = top;
    if (this.#agree > top) this.#agree = top;
    const e = this.#frameNode[top]!;
    const i = this.#op[e]!;
    this.#set.clear(i);
    this.#unlift(e);
    if (this.#ops[i]!.completion !== 'info') this.#remaining++;
    this.#state = this.#frameState[top]!;
    this.#stateId = this.#frameStateId[top]!;
    this.#frameState[top] = undefined as S;
    return top;
  }

  /** Takes a call entry and its return out of the list. */
  #lift(e: number): void {
    const next = this.#next;
    const prev = this.#prev;
    next[prev[e]!] = next[e]!;
    prev[next[e]!] = prev[e]!;
    const m = this.#match[e]!;
    next[prev[m]!] = next[m]!;
    if (next[m] !== NIL) prev[next[m]!] = prev[m]!;
  }

  /** Puts them back, in the reverse order. */
  #unlift(e: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const m = this.#match[e]!;
    next[prev[m]!] = m;
    if (next[m] !== NIL) prev[next[m]!] = m;
    next[prev[e]!] = e;
    prev[next[e]!] = e;
  }

  /**
   * The states operation `i` leads to from the current state, with their ids: the model's step,
   * kept in a direct-mapped cache by (state id, operation) (a search tries the same operation
   * from the same state many times). Null when the budget has no room for a new state.
   */
  #successors(i: number, op: O): Transitions<S> | null {
    const at = (Math.imul(this.#stateId + 1, 0x9e3779b1) + i) & (this.#cached.length - 1);
    const cached = this.#cached[at];
    if (cached !== undefined && this.#cachedState[at] === this.#stateId && this.#cachedOp[at] === i) return cached;
    if (++this.#misses > 4 * this.#cached.length && !this.#growCache()) return null;
    const states = this.#model.step(this.#state, op);
    const ids: number[] = [];
    for (const s of states) {
      const id = this.#intern(s);
      if (id < 0) return null;
      ids.push(id);
    }
    const t = { states, ids };
    const slot = (Math.imul(this.#stateId + 1, 0x9e3779b1) + i) & (this.#cached.length - 1);
    this.#cached[slot] = t;
    this.#cachedState[slot] = this.#stateId;
    this.#cachedOp[slot] = i;
    return t;
  }

  /** A cache that misses more than 4 times per slot doubles (empty), while the budget allows. */
  #growCache(): boolean {
    this.#misses = 0;
    const slots = this.#cached.length;
    if (slots >= CACHE_MAX_SLOTS) return true;
    if (!this.#budget.take(slots * CACHE_SLOT_BYTES)) return false;
    this.#fixedBytes += slots * CACHE_SLOT_BYTES;
    this.#cachedState = new Array<number>(2 * slots).fill(-1);
    this.#cachedOp = new Array<number>(2 * slots).fill(-1);
    this.#cached = new Array<Transitions<S> | undefined>(2 * slots);
    return true;
  }

  /** The id of a state's key; -1 when the budget has no room for a new one. */
  #intern(state: S): number {
    const key = this.#model.key(state);
    const id = this.#ids.get(key);
    if (id !== undefined) return id;
    if (!this.#budget.take(keyBytes(key))) return -1;
    this.#fixedBytes += keyBytes(key);
    this.#ids.set(key, this.#ids.size);
    return this.#ids.size - 1;
  }

  /** Gives up a running search: its memory goes back to the budget. */
  stop(): void {
    if (this.status === 'running') this.#finish('stopped');
  }

  #finish(status: Exclude<SearchStatus, 'running'>): SearchStatus {
    this.status = status;
    this.#memo.release();
    this.#cached.length = 0;
    this.#budget.give(this.#fixedBytes);
    this.#fixedBytes = 0;
    this.#ids.clear();
    this.#frameState.length = 0;
    this.#frameAlts.length = 0;
    return status;
  }
}
