/**
 * The bench's baseline (bench/suites/lincheck.ts): the linearizability search as it was before
 * issue 23 (src/check/lincheck.ts at commit 6ee2d9d), kept only to measure the new checker
 * against. Its algorithm is unchanged: a recursive search, a per-step scan of every operation for
 * the earliest return, memo keys that join the done-array into a string, partitions one after
 * the other, an exception past the budget. Its types are widened to the new `Model` (and its
 * partition function) so that it runs the same models on the same histories. Not used by `src/`.
 * @module
 */
import type { Model, TimedOperation } from '../src/check/lincheck.ts';

export interface BaselineResult {
  readonly ok: boolean;
  readonly explored: number;
}

/** Checks one partition of recorded operations. */
export function checkPartition<S, R extends TimedOperation, O extends TimedOperation>(
  model: Model<S, R, O>,
  ops: readonly R[],
  budget = 2_000_000,
): BaselineResult & { longest?: readonly O[] } {
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
    if (++explored > budget) {
      throw new Error(`lincheck: search budget of ${budget} states exceeded (history of ${n} operations)`);
    }
    let minReturn = Infinity;
    for (let i = 0; i < n; i++) if (!done[i] && live[i]!.return < minReturn) minReturn = live[i]!.return;
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
  return ok ? { ok, explored } : { ok, explored, longest };
}

/** Partitions (in the order their keys first appear) and checks each in turn. */
export function checkLinearizableBaseline<S, R extends TimedOperation, O extends TimedOperation>(
  model: Model<S, R, O>,
  ops: readonly R[],
): BaselineResult & { longest?: readonly O[] } {
  const parts = new Map<string, R[]>();
  for (const o of ops) {
    const key = model.partition?.(o) ?? '';
    const p = parts.get(key) ?? [];
    p.push(o);
    parts.set(key, p);
  }
  let explored = 0;
  for (const p of parts.values()) {
    const r = checkPartition(model, p);
    explored += r.explored;
    if (!r.ok) return { ...r, explored };
  }
  return { ok: true, explored };
}
