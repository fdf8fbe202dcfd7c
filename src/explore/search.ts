/**
 * Breadth-first search over every state of a system reachable from its initial one (spec ch. 10),
 * checking its invariants on every transition, in the manner of TLC and Stateright. States are
 * values; the search stores only their fingerprints (64 bits of hash of a canonical key, as TLC
 * does: two distinct states collide with probability about n^2 / 2^65 for n states, below 10^-6
 * for 10^7 states), with the index of the parent and the action that reached each, so that the
 * first violation comes with a shortest trace (breadth first: no shorter schedule violates anything).
 * @module
 */

/** A transition: the action's readable name, the next state, and the invariant it broke, if any. */
export interface Transition<S> {
  readonly label: string;
  readonly state: S;
  readonly violation?: { readonly invariant: string; readonly detail: string };
}

export interface Explorable<S> {
  initial(): S;
  /** A canonical key: equal for states no future tells apart. */
  key(s: S): string;
  successors(s: S): readonly Transition<S>[];
}

export interface SearchViolation {
  readonly invariant: string;
  readonly detail: string;
  /** The actions from the initial state, the violating one last. */
  readonly trace: readonly string[];
}

export interface SearchResult {
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly ms: number;
  /** Every reachable state was visited (no state limit was hit, and no state lay beyond the depth bound). */
  readonly complete: boolean;
  /**
   * The search stopped at the depth bound with states left to expand: every schedule of `depth`
   * actions was checked.
   */
  readonly depthBounded: boolean;
  readonly violation: SearchViolation | null;
  /** Bytes of the fingerprint table. */
  readonly memoryBytes: number;
}

export interface SearchOptions<S> {
  /** Stop (incomplete) after this many states. */
  readonly maxStates?: number;
  /** Expand no state deeper than this: every schedule of at most `maxDepth` actions is checked. */
  readonly maxDepth?: number;
  /** Called on every new state (for coverage). */
  readonly onState?: (s: S) => void;
  /** Called after each breadth-first layer. */
  readonly onLayer?: (depth: number, states: number) => void;
}

/** Two 32-bit hashes of a string (FNV-1a with different bases, then avalanched). */
function fingerprint(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ key.length;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b ^= b >>> 16;
  b = Math.imul(b, 0xc2b2ae35);
  b ^= b >>> 13;
  return [a >>> 0, b >>> 0];
}

/** Fingerprints in an open-addressing table, with each state's parent and action. */
class Visited {
  #hi = new Uint32Array(1 << 16);
  #lo = new Uint32Array(1 << 16);
  #used = new Uint8Array(1 << 16);
  #slotOf = new Int32Array(1 << 16);
  parent: Int32Array = new Int32Array(1 << 15);
  action: Int32Array = new Int32Array(1 << 15);
  count = 0;

  get bytes(): number {
    return this.#hi.byteLength * 2 + this.#used.byteLength + this.#slotOf.byteLength + this.parent.byteLength * 2;
  }

  /** Adds the state; its index, or -1 when it was there already. */
  add(hi: number, lo: number, parent: number, action: number): number {
    if (this.count * 2 >= this.#hi.length) this.#grow();
    const mask = this.#hi.length - 1;
    let slot = (hi ^ Math.imul(lo, 0x9e3779b1)) & mask;
    while (this.#used[slot]) {
      if (this.#hi[slot] === hi && this.#lo[slot] === lo) return -1;
      slot = (slot + 1) & mask;
    }
    this.#used[slot] = 1;
    this.#hi[slot] = hi;
    this.#lo[slot] = lo;
    const index = this.count++;
    this.#slotOf[slot] = index;
    if (index >= this.parent.length) {
      const p = new Int32Array(this.parent.length * 2);
      p.set(this.parent);
      this.parent = p;
      const a = new Int32Array(this.action.length * 2);
      a.set(this.action);
      this.action = a;
    }
    this.parent[index] = parent;
    this.action[index] = action;
    return index;
  }

  #grow(): void {
    const hi = this.#hi;
    const lo = this.#lo;
    const used = this.#used;
    const slotOf = this.#slotOf;
    const size = hi.length * 2;
    this.#hi = new Uint32Array(size);
    this.#lo = new Uint32Array(size);
    this.#used = new Uint8Array(size);
    this.#slotOf = new Int32Array(size);
    const mask = size - 1;
    for (let s = 0; s < hi.length; s++) {
      if (!used[s]) continue;
      let slot = (hi[s]! ^ Math.imul(lo[s]!, 0x9e3779b1)) & mask;
      while (this.#used[slot]) slot = (slot + 1) & mask;
      this.#used[slot] = 1;
      this.#hi[slot] = hi[s]!;
      this.#lo[slot] = lo[s]!;
      this.#slotOf[slot] = slotOf[s]!;
    }
  }
}

/** Breadth-first search of `sys`. */
export function search<S>(sys: Explorable<S>, o: SearchOptions<S> = {}): SearchResult {
  const t0 = performance.now();
  const visited = new Visited();
  const labels: string[] = [];
  const labelIds = new Map<string, number>();
  const labelId = (l: string) => {
    let id = labelIds.get(l);
    if (id === undefined) {
      id = labels.length;
      labels.push(l);
      labelIds.set(l, id);
    }
    return id;
  };
  const trace = (index: number, last: string): string[] => {
    const out = [last];
    for (let k = index; k > 0; k = visited.parent[k]!) out.unshift(labels[visited.action[k]!]!);
    return out;
  };
  const init = sys.initial();
  const [h0, l0] = fingerprint(sys.key(init));
  visited.add(h0, l0, -1, labelId('Start'));
  o.onState?.(init);
  let frontier: { state: S; index: number }[] = [{ state: init, index: 0 }];
  let transitions = 0;
  let depth = 0;
  const result = (complete: boolean, violation: SearchViolation | null, depthBounded = false): SearchResult => ({
    states: visited.count,
    transitions,
    depth,
    ms: performance.now() - t0,
    complete,
    depthBounded,
    violation,
    memoryBytes: visited.bytes,
  });
  while (frontier.length > 0) {
    if (o.maxDepth !== undefined && depth >= o.maxDepth) return result(false, null, true);
    const next: { state: S; index: number }[] = [];
    for (const { state, index } of frontier) {
      for (const t of sys.successors(state)) {
        transitions++;
        if (t.violation) return result(false, { ...t.violation, trace: trace(index, t.label) });
        const [hi, lo] = fingerprint(sys.key(t.state));
        const k = visited.add(hi, lo, index, labelId(t.label));
        if (k < 0) continue;
        o.onState?.(t.state);
        next.push({ state: t.state, index: k });
        if (o.maxStates !== undefined && visited.count >= o.maxStates) {
          depth++;
          return result(false, null);
        }
      }
    }
    if (next.length > 0) {
      depth++;
      o.onLayer?.(depth, visited.count);
    }
    frontier = next;
  }
  return result(true, null);
}
