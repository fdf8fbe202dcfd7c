/**
 * From a Jepsen-style history (src/check/history.ts) to the parts of a run report (format.ts) that
 * every runtime shares: the operations of the timeline, leader terms from a log of elections, and
 * the linearizability checker's answer (spec ch. 12.3) as the operations it names. `bkv check`
 * (simulation.ts) and `bkv chaos` (real processes) both build their reports with these.
 *
 *   timelineOperations(ops, time)   operations as bars; `time` maps the history's clock to the axis
 *   leaderTerms(log, end)           [start, end) of each term from the elections seen
 *   linearizability(result, time)   the refuted partition, its longest prefix, the stuck operations
 * @module
 */
import { type Operation, describeInput, describeOutput } from '../check/history.ts';
import type { LinResult } from '../check/lincheck.ts';
import type { RecordStep } from '../check/record-model.ts';
import type { LeaderTerm, Linearizability, TimelineOperation } from './format.ts';

/**
 * The operations of a history as timeline bars. `time` maps the history's clock (a logical tick in
 * the simulator, a timestamp elsewhere) to the timeline's axis; an `info` operation has no end.
 */
export function timelineOperations(
  ops: readonly Operation[],
  time: (t: number) => number = (t) => t,
): TimelineOperation[] {
  return ops.map((o) => {
    const finite = Number.isFinite(o.return);
    const notes = [`invoked at ${o.call}, ${finite ? `completed at ${o.return}` : 'never completed'} (history clock)`];
    if (o.ke2) notes.push(`KE2 received at ${o.ke2.at}: ${o.ke2.triesRemaining} tries left; its KE3 sent`);
    return {
      id: o.id,
      client: o.client,
      credential: o.credential,
      input: describeInput(o.input),
      output: describeOutput(o.output, o.completion),
      completion: o.completion,
      start: time(o.call),
      end: finite ? time(o.return) : null,
      notes,
    };
  });
}

/** The clients of a history, in the order they first act: the timeline's lanes. */
export function clientLanes(ops: readonly Operation[]): string[] {
  return [...new Set([...ops].sort((a, b) => a.call - b.call).map((o) => o.client))];
}

/** Each term from its election to the next election (or `end`). */
export function leaderTerms(log: readonly { at: number; replica: number; term: number }[], end: number): LeaderTerm[] {
  const sorted = [...log].sort((a, b) => a.at - b.at || a.term - b.term);
  return sorted.map((e, k) => ({ term: e.term, leader: `r${e.replica}`, start: e.at, end: sorted[k + 1]?.at ?? end }));
}

const stepLabel = (op: Operation | RecordStep): string => {
  const commit = 'commit' in op && op.commit ? ` (${op.commit})` : '';
  return `#${op.id} ${op.client} ${describeInput(op.input)} -> ${describeOutput(op.output, op.completion)}${commit}`;
};

/** A refutation of the linearizability checker, by operation id; null for any other verdict. */
export function linearizability(r: LinResult<Operation, Operation | RecordStep>): Linearizability | null {
  if (r.verdict !== 'not-linearizable') return null;
  return {
    partition: r.partition,
    longest: r.longest.map((s) => ({ op: s.op.id, label: stepLabel(s.op), state: s.state })),
    stuck: r.stuck.map((o) => ({ op: o.id, label: stepLabel(o) })),
  };
}
