/**
 * Delivery of replica messages in hand-driven fleet tests: every message among the replicas
 * `among` is delivered, in order, with the messages each delivery sends; the others are lost.
 */
export interface Addressed {
  readonly to: number;
  readonly from: number;
}

export function settleAmong<O extends Addressed>(outs: readonly O[], among: readonly number[], deliver: (o: O) => O[]) {
  const queue = [...outs];
  while (queue.length > 0) {
    const o = queue.shift()!;
    if (among.includes(o.to) && among.includes(o.from)) queue.push(...deliver(o));
  }
}
