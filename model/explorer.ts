/**
 * Exhaustive exploration of the fleet model (spec ch. 10, "The explorer"): breadth-first search
 * over every state reachable from the initial one, checking every invariant in every state. A
 * state is stored once, as its bytes (the encoding is canonical: equal states have equal bytes),
 * in a packed array with an open-addressing hash table over it, and with the index of its parent
 * and the action that reached it, so that the first violation found comes with a shortest trace
 * (breadth-first: no shorter schedule violates any invariant).
 * @module
 */
import { FleetModel } from './fleet-model.ts';
import { type FleetModelConfig, describeAction } from './fleet-state.ts';
import { fleetInvariants } from './fleet-invariants.ts';
import { FleetSymmetry } from './fleet-symmetry.ts';
import type { Invariant } from './invariants.ts';

/** States stored as bytes in one growing buffer, deduplicated by hash. */
export class StateStore {
  readonly width: number;
  #bytes: Uint8Array;
  #parent: Int32Array;
  #action: Int32Array;
  #table: Int32Array;
  #mask: number;
  count = 0;

  constructor(width: number, capacity = 1 << 16) {
    if (width % 4 !== 0) throw new Error(`state width ${width} is not a multiple of 4`);
    this.width = width;
    this.#bytes = new Uint8Array(width * capacity);
    this.#parent = new Int32Array(capacity);
    this.#action = new Int32Array(capacity);
    this.#table = new Int32Array(capacity * 2).fill(-1);
    this.#mask = capacity * 2 - 1;
  }

  /** A 32-bit hash of a state (its width is a multiple of 4), word by word. */
  static hash(s: Uint8Array): number {
    let h = 0x811c9dc5;
    for (let x = 0; x < s.length; x += 4) {
      const w = s[x]! | (s[x + 1]! << 8) | (s[x + 2]! << 16) | (s[x + 3]! << 24);
      h = Math.imul(h ^ w, 0x01000193);
      h ^= h >>> 13;
    }
    return (h ^ (h >>> 16)) >>> 0;
  }

  #equals(index: number, s: Uint8Array): boolean {
    const b = this.#bytes;
    const o = index * this.width;
    for (let x = 0; x < this.width; x++) if (b[o + x] !== s[x]) return false;
    return true;
  }

  #grow(): void {
    const capacity = this.#parent.length * 2;
    const bytes = new Uint8Array(this.width * capacity);
    bytes.set(this.#bytes);
    this.#bytes = bytes;
    const parent = new Int32Array(capacity);
    parent.set(this.#parent);
    this.#parent = parent;
    const action = new Int32Array(capacity);
    action.set(this.#action);
    this.#action = action;
    this.#table = new Int32Array(capacity * 2).fill(-1);
    this.#mask = capacity * 2 - 1;
    for (let i = 0; i < this.count; i++) {
      let slot = StateStore.hash(this.get(i)) & this.#mask;
      while (this.#table[slot] !== -1) slot = (slot + 1) & this.#mask;
      this.#table[slot] = i;
    }
  }

  /** Adds `s` (copied) unless present; returns its index, or -1 when it was already there. */
  add(s: Uint8Array, parent: number, action: number): number {
    let slot = StateStore.hash(s) & this.#mask;
    for (;;) {
      const i = this.#table[slot]!;
      if (i === -1) break;
      if (this.#equals(i, s)) return -1;
      slot = (slot + 1) & this.#mask;
    }
    if (this.count === this.#parent.length) {
      this.#grow();
      return this.add(s, parent, action);
    }
    const index = this.count++;
    this.#bytes.set(s, index * this.width);
    this.#parent[index] = parent;
    this.#action[index] = action;
    this.#table[slot] = index;
    return index;
  }

  /** A view of state `index` (valid until the store grows). */
  get(index: number): Uint8Array {
    return this.#bytes.subarray(index * this.width, (index + 1) * this.width);
  }
  parent(index: number): number {
    return this.#parent[index]!;
  }
  action(index: number): number {
    return this.#action[index]!;
  }
  /** Bytes held by the store. */
  get memory(): number {
    return this.#bytes.byteLength + this.#parent.byteLength * 2 + this.#table.byteLength;
  }
}

export interface TraceStep {
  /** null for the initial state. */
  readonly action: string | null;
  /** What the action made visible: commits, a KE2 or K leaving, an answer. */
  readonly effects: readonly string[];
  readonly state: string;
}

export interface Violation {
  /** The invariants that fail in the last state of the trace. */
  readonly invariants: readonly string[];
  readonly statements: readonly string[];
  readonly trace: readonly TraceStep[];
}

export interface ExploreResult {
  readonly config: FleetModelConfig;
  /** Distinct states visited (all reachable ones when `complete`). */
  readonly states: number;
  /** Transitions taken (edges, including those to states already seen). */
  readonly transitions: number;
  /** Length of the longest shortest path from the initial state. */
  readonly depth: number;
  readonly ms: number;
  readonly complete: boolean;
  readonly violation: Violation | null;
  readonly invariants: readonly string[];
  readonly memoryBytes: number;
}

export interface ExploreOptions {
  /** Check only these invariants (default: all of the fleet model's). */
  readonly only?: readonly string[];
  /** Stop (incomplete) after this many states. */
  readonly maxStates?: number;
  /** Called after each breadth-first layer. */
  readonly onLayer?: (depth: number, states: number, ms: number) => void;
  /** Milliseconds, for the timing; default performance.now. */
  readonly clock?: () => number;
  /** Store one state per class of renamed replicas, credentials and sessions (default true). */
  readonly symmetry?: boolean;
  /** Called with every state stored (a view, valid during the call). */
  readonly onState?: (state: Uint8Array) => void;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let x = 0; x < a.length; x++) if (a[x] !== b[x]) return false;
  return true;
}

/** Breadth-first search of every reachable state; stops at the first state that violates an invariant. */
export function explore(config: FleetModelConfig, o: ExploreOptions = {}): ExploreResult {
  const clock = o.clock ?? (() => performance.now());
  const start = clock();
  const model = new FleetModel(config);
  const all = fleetInvariants(model);
  const invariants: Invariant<Uint8Array>[] = o.only ? all.filter((inv) => o.only!.includes(inv.id)) : all;
  if (o.only) for (const id of o.only) if (!all.some((inv) => inv.id === id)) throw new Error(`unknown invariant ${id}`);
  const store = new StateStore(model.layout.size);
  const symmetry = o.symmetry === false ? null : new FleetSymmetry(model.layout);
  const canonical = new Uint8Array(model.layout.size);
  const canon = (s: Uint8Array): Uint8Array => {
    if (symmetry === null) return s;
    symmetry.canonicalize(s, canonical);
    return canonical;
  };
  const maxStates = o.maxStates ?? Infinity;
  let transitions = 0;
  let depth = 0;
  let violation: Violation | null = null;

  const check = (index: number): boolean => {
    const s = store.get(index);
    o.onState?.(s);
    const failed = invariants.filter((inv) => !inv.holds(s));
    if (failed.length === 0) return true;
    violation = { invariants: failed.map((f) => f.id), statements: failed.map((f) => f.statement), trace: traceTo(model, symmetry, store, index) };
    return false;
  };

  store.add(canon(model.initial()), -1, 0);
  let ok = check(0);
  let layerStart = 0;
  let layerEnd = 1;
  while (ok && layerStart < layerEnd && store.count < maxStates) {
    for (let index = layerStart; index < layerEnd && ok; index++) {
      const current = store.get(index);
      model.expand(current, (action, next) => {
        if (!ok) return;
        transitions++;
        if (sameBytes(current, next)) return; // a step that changes nothing (a follower's restart, a repeated AppendEntries)
        const added = store.add(canon(next), index, action);
        if (added >= 0) ok = check(added);
      });
    }
    if (!ok) {
      depth += 1;
      break;
    }
    layerStart = layerEnd;
    layerEnd = store.count;
    if (layerEnd > layerStart) depth += 1;
    o.onLayer?.(depth, store.count, clock() - start);
  }
  const complete = violation === null && layerStart >= layerEnd;
  return { config, states: store.count, transitions, depth, ms: clock() - start, complete, violation, invariants: invariants.map((i) => i.id), memoryBytes: store.memory };
}

/**
 * The schedule from the initial state to state `index`, replayed in the initial state's names:
 * each stored action names replicas as its (canonical) parent does, so it is renamed into the
 * concrete run before it is applied, and the run is checked to stay in the stored class.
 */
function traceTo(model: FleetModel, symmetry: FleetSymmetry | null, store: StateStore, index: number): TraceStep[] {
  const chain: number[] = [];
  for (let i = index; i !== -1; i = store.parent(i)) chain.push(i);
  chain.reverse();
  let concrete = model.initial();
  const steps: TraceStep[] = [{ action: null, effects: [], state: model.describeState(concrete) }];
  model.effects = [];
  // names: canonical (stored) -> concrete
  let toConcrete = symmetry === null ? null : FleetSymmetry.invert(symmetry.canonicalize(concrete, new Uint8Array(concrete.length)));
  for (const i of chain.slice(1)) {
    const action = toConcrete === null ? store.action(i) : FleetSymmetry.renameAction(store.action(i), toConcrete);
    let found: Uint8Array | null = null;
    let effects: string[] = [];
    model.expand(concrete, (a, next) => {
      if (a === action && found === null) {
        found = next.slice();
        effects = [...model.effects!];
      }
    });
    if (found === null) throw new Error(`trace replay: ${describeAction(action)} is not enabled`);
    concrete = found;
    if (symmetry !== null) {
      const c = new Uint8Array(concrete.length);
      toConcrete = FleetSymmetry.invert(symmetry.canonicalize(concrete, c));
      if (c.some((b, x) => b !== store.get(i)[x])) throw new Error('trace replay left the stored state');
    }
    steps.push({ action: describeAction(action), effects, state: model.describeState(concrete) });
  }
  model.effects = null;
  return steps;
}
