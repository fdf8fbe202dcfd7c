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
  readonly ids: Int32Array;
}

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
  readonly #transitions = new Map<number, Transitions<S>>();
  #transitionBytes = 0;
  #remaining = 0;
  #cursor: number;
  #fixedBytes = 0;

  /** `ops`: the operations of one partition (no `fail` ones: they did not happen). */
  constructor(model: StepModel<S, O>, ops: readonly O[], budget: MemoryBudget) {
    this.#model = model;
    this.#budget = budget;
    const n = ops.length;
    this.#ops = ops;
    this.#set = new Linearized(n);
    this.#memo = new Memo(budget);
    const nodes = 2 * n + 1;
    this.#next = new Int32Array(nodes);
    this.#prev = new Int32Array(nodes);
    this.#op = new Int32Array(nodes);
    this.#match = new Int32Array(nodes);
    this.#frameNode = new Int32Array(n);
    this.#frameAlt = new Int32Array(n);
    this.#frameStateId = new Int32Array(n);
    this.#bestNode = new Int32Array(n);
    this.#bestAlt = new Int32Array(n);
    this.#frameState = new Array<S>(n);
    this.#frameAlts = new Array<Transitions<S>>(n);
    this.#link();
    for (const o of ops) if (o.completion !== 'info') this.#remaining++;
    this.#cursor = this.#next[HEAD]!;
    this.#state = model.init();
    // the typed arrays above, the zobrist words and the bitset, two arrays of references
    const fixed = 4 * (4 * nodes + 6 * n) + this.#set.words.byteLength + 16 * n;
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
      if (++this.explored >= limit) {
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

  /** The sorted entries, linked after the head. */
  #link(): void {
    const n = this.#ops.length;
    const time = (x: number) => (x < n ? this.#ops[x]!.call : this.#ops[x - n]!.return);
    // entry x < n: the call of operation x; x >= n: the return of operation x - n
    const order = Array.from({ length: 2 * n }, (_, x) => x).sort((a, b) => {
      const ta = time(a);
      const tb = time(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      return (a < n ? 0 : 1) - (b < n ? 0 : 1) || a - b;
    });
    const nodeOf = new Int32Array(2 * n);
    order.forEach((x, p) => (nodeOf[x] = p + 1));
    let last = HEAD;
    this.#op[HEAD] = NIL;
    for (const x of order) {
      const node = nodeOf[x]!;
      this.#op[node] = x < n ? x : x - n;
      this.#match[node] = x < n ? nodeOf[x + n]! : NIL;
      this.#prev[node] = last;
      this.#next[last] = node;
      last = node;
    }
    this.#next[last] = NIL;
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
   * cached by (state id, operation) while the cache holds less than an eighth of the memory
   * budget (then it starts again empty). Null when the budget has no room for a new state.
   */
  #successors(i: number, op: O): Transitions<S> | null {
    const key = this.#stateId * this.#ops.length + i;
    const cached = this.#transitions.get(key);
    if (cached !== undefined) return cached;
    const states = this.#model.step(this.#state, op);
    const ids = new Int32Array(states.length);
    for (let k = 0; k < states.length; k++) {
      const id = this.#intern(states[k]!);
      if (id < 0) return null;
      ids[k] = id;
    }
    const t = { states, ids };
    const bytes = 128 + 12 * states.length;
    if (this.#transitionBytes + bytes > this.#budget.limit / 8) this.#forgetTransitions();
    if (this.#budget.take(bytes)) {
      this.#transitions.set(key, t);
      this.#transitionBytes += bytes;
    }
    return t;
  }

  #forgetTransitions(): void {
    this.#transitions.clear();
    this.#budget.give(this.#transitionBytes);
    this.#transitionBytes = 0;
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
    this.#forgetTransitions();
    this.#budget.give(this.#fixedBytes);
    this.#fixedBytes = 0;
    this.#ids.clear();
    this.#frameState.length = 0;
    this.#frameAlts.length = 0;
    return status;
  }
}
