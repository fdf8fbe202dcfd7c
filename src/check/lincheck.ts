/**
 * A linearizability checker in the manner of porcupine (Wing & Gong's search with Lowe's
 * memoization): a model is a pure `step(state, input, output) -> next | null`; a history is
 * linearizable when some order of its operations, consistent with real time, is accepted by the
 * model. `info` operations may have happened or not: they are tried both ways, and never bound
 * the order of later operations (their return time is infinite). Histories are partitioned per
 * credential first (P-compositionality), as porcupine partitions by key. An operation that takes
 * effect in several steps is split by the model into one operation per linearization point.
 * @module
 */
import type { Operation } from './history.ts';

export interface Model<S, O extends Operation = Operation> {
  init(): S;
  /**
   * The operations the search orders for a recorded one: itself, or one per step of an operation
   * that takes effect in several, each with its own interval of real time.
   */
  split(op: Operation): readonly O[];
  /**
   * The states `op` can lead to with its recorded output (empty: the model forbids it). An `info`
   * operation has no output: its successors are every state it may have produced.
   */
  step(state: S, op: O): readonly S[];
  /** A canonical key of a state, for memoization. */
  key(state: S): string;
}

export interface LinResult {
  readonly ok: boolean;
  /** On failure: the recorded operations of the failing partition, for the trace. */
  readonly partition?: readonly Operation[];
  /** The longest prefix of a linearization found (of the model's operations), for the trace. */
  readonly longest?: readonly Operation[];
  readonly explored: number;
}

/** Checks one partition of recorded operations. */
export function checkPartition<S, O extends Operation>(model: Model<S, O>, ops: readonly Operation[], budget = 2_000_000): LinResult {
  // `fail` operations did not happen: they take no part in the order.
  const recorded = ops.filter((o) => o.completion !== 'fail');
  const live = recorded.flatMap((o) => model.split(o)).sort((a, b) => a.call - b.call);
  const n = live.length;
  const memo = new Set<string>();
  let explored = 0;
  let longest: O[] = [];
  const done = new Uint8Array(n);
  const order: O[] = [];

  const search = (state: S, remaining: number): boolean => {
    if (remaining === 0) return true;
    if (++explored > budget) throw new Error(`lincheck: search budget of ${budget} states exceeded (history of ${n} operations)`);
    // the earliest return among pending ok operations bounds which can go next
    let minReturn = Infinity;
    for (let i = 0; i < n; i++) if (!done[i] && live[i]!.return < minReturn) minReturn = live[i]!.return;
    // all remaining are info: they may all have not happened
    if (minReturn === Infinity && live.every((o, i) => done[i] || o.completion === 'info')) return true;
    for (let i = 0; i < n; i++) {
      const o = live[i]!;
      if (done[i] || o.call > minReturn) continue;
      const tries = o.completion === 'info' ? [...model.step(state, o), state] : model.step(state, o);
      for (const s of tries) {
        done[i] = 1;
        const memoKey = `${model.key(s)}|${done.join('')}`;
        if (!memo.has(memoKey)) {
          memo.add(memoKey);
          if (s !== state) order.push(o);
          if (order.length > longest.length) longest = [...order];
          if (search(s, remaining - 1)) return true;
          if (s !== state) order.pop();
        }
        done[i] = 0;
      }
    }
    return false;
  };
  const ok = search(model.init(), n);
  return ok ? { ok, explored } : { ok, explored, partition: recorded, longest };
}

/** Partitions by credential and checks each partition. */
export function checkLinearizable<S, O extends Operation>(model: Model<S, O>, ops: readonly Operation[]): LinResult {
  const parts = new Map<string, Operation[]>();
  for (const o of ops) {
    const p = parts.get(o.credential) ?? [];
    p.push(o);
    parts.set(o.credential, p);
  }
  let explored = 0;
  for (const p of parts.values()) {
    const r = checkPartition(model, p);
    explored += r.explored;
    if (!r.ok) return { ...r, explored };
  }
  return { ok: true, explored };
}
