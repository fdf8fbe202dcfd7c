/**
 * The simulated network and clock (spec ch. 6, "Simulation"): a discrete-event queue over
 * simulated milliseconds, and the network's behaviour drawn from a seeded rng. Nothing here reads
 * a real clock or a global random source, so a run is a function of its seed and its schedule.
 *
 *   delay      uniform in [minDelayMs, maxDelayMs] per message (so messages reorder); with
 *              probability slowRate, uniform in [maxDelayMs, slowDelayMs] instead (a slow path)
 *   drop       with probability dropRate
 *   duplicate  with probability duplicateRate, a second copy after another delay
 *   replay     with probability replayRate, a copy much later (up to replayDelayMs): an old message
 *   tamper     with probability tamperRate, one byte of the body flipped (the MAC must catch it)
 *   partition  a group per replica; a message between different groups is lost on arrival
 *
 * Events at the same time are processed in the order they were scheduled (a sequence number breaks
 * ties), so the order of events is total and reproducible.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { randomInt } from '../crypto/rng.ts';

export interface NetworkConditions {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly slowRate: number;
  readonly slowDelayMs: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly replayRate: number;
  readonly replayDelayMs: number;
  readonly tamperRate: number;
  /** Loss on the client <-> replica links (through the relay). */
  readonly clientDropRate: number;
}

export const RELIABLE_NETWORK: NetworkConditions = Object.freeze({
  minDelayMs: 1,
  maxDelayMs: 5,
  slowRate: 0,
  slowDelayMs: 300,
  dropRate: 0,
  duplicateRate: 0,
  replayRate: 0,
  replayDelayMs: 1000,
  tamperRate: 0,
  clientDropRate: 0,
});

/** A uniform float in [0, 1) from an rng (53 bits). */
export function randomUnit(rng: Rng): number {
  const b = rng(7);
  let x = 0;
  for (let i = 0; i < 7; i++) x = x * 256 + b[i]!;
  return (x % 2 ** 53) / 2 ** 53;
}

/** A uniform integer in [lo, hi]. */
export function randomBetween(rng: Rng, lo: number, hi: number): number {
  return hi <= lo ? lo : lo + randomInt(rng, hi - lo + 1);
}

export function chance(rng: Rng, p: number): boolean {
  return p > 0 && randomUnit(rng) < p;
}

interface Slot<E> {
  readonly time: number;
  readonly seq: number;
  readonly event: E;
}

/** A min-heap of events by (time, seq). */
export class EventQueue<E> {
  #heap: Slot<E>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, event: E): void {
    const h = this.#heap;
    h.push({ time, seq: this.#seq++, event });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  peekTime(): number | undefined {
    return this.#heap[0]?.time;
  }

  pop(): { time: number; event: E } | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return { time: top.time, event: top.event };
  }

  /** The pending events, in no particular order (for inspection and tracing). */
  pending(): readonly E[] {
    return this.#heap.map((s) => s.event);
  }

  #less(a: Slot<E>, b: Slot<E>): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }
}

/** Partition groups: replica -> group id. All in group 0 means connected. */
export class Partition {
  #group: number[];
  constructor(n: number) {
    this.#group = new Array<number>(n).fill(0);
  }
  /** Splits the replicas into `groups` (replicas not named form one more group). */
  split(groups: readonly (readonly number[])[]): void {
    const next = new Array<number>(this.#group.length).fill(groups.length);
    groups.forEach((g, k) => g.forEach((r) => (next[r] = k)));
    this.#group = next;
  }
  heal(): void {
    this.#group.fill(0);
  }
  connected(a: number, b: number): boolean {
    return this.#group[a] === this.#group[b];
  }
  get isHealed(): boolean {
    return this.#group.every((g) => g === this.#group[0]);
  }
  describe(): string {
    const groups = new Map<number, number[]>();
    this.#group.forEach((g, r) => groups.set(g, [...(groups.get(g) ?? []), r]));
    return [...groups.values()].map((g) => `{${g.map((r) => `r${r}`).join(',')}}`).join(' | ');
  }
}
