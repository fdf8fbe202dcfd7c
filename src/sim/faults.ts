/**
 * The faults of the simulated fleet (spec ch. 6 §6.8, the adversary of ch. 1 as a host and a
 * network): what a host can do to its replica (kill it, now or between two durable writes of a
 * save; restart it; restart it on an older or a newer kept blob) and what the network can do
 * (partitions, and its conditions: delays, drops, duplicates, replays, tampering). A fault is
 * scheduled at a simulated time or injected now by a driver; `calm` ends the fault window (phase 2
 * of a scenario): armed crashes are called off and scheduled faults dropped.
 * @module
 */
import type { Hosts } from './hosts.ts';
import type { NetworkConditions, Partition } from './network.ts';
import type { Observers } from './observers.ts';

export type Fault =
  /**
   * The host kills the replica: now, or (`afterWrites` k >= 1) right after its k-th next durable
   * write, so between two HSM calls of a save or a start (src/sim/crash.ts).
   */
  | { readonly type: 'Crash'; readonly replica: number; readonly afterWrites?: number }
  | { readonly type: 'Restart'; readonly replica: number }
  /**
   * The host restarts the replica on the blob `saves` saves before its latest, not counting the starts'
   * reseals (`SimStorage.rollbackSaves`), none at all if more.
   */
  | { readonly type: 'Rollback'; readonly replica: number; readonly saves: number }
  /** The host restarts the replica on its kept blob number `blob` (0-based), older or newer: a fork. */
  | { readonly type: 'Fork'; readonly replica: number; readonly blob: number }
  | { readonly type: 'Partition'; readonly groups: readonly (readonly number[])[] }
  | { readonly type: 'Heal' }
  | { readonly type: 'Network'; readonly conditions: Partial<NetworkConditions> };

export interface FaultEvent {
  readonly type: 'Fault';
  readonly fault: Fault;
}

/** The network's side of the faults: its partition and its conditions. */
export interface FaultyNetwork {
  readonly partition: Partition;
  update(conditions: Partial<NetworkConditions>): void;
}

export class Faults {
  readonly #hosts: Hosts;
  readonly #network: FaultyNetwork;
  readonly #observers: Observers;
  readonly #push: (at: number, e: FaultEvent) => void;
  readonly #now: () => number;
  #calm = false;

  constructor(
    hosts: Hosts,
    network: FaultyNetwork,
    observers: Observers,
    push: (at: number, e: FaultEvent) => void,
    now: () => number,
  ) {
    this.#hosts = hosts;
    this.#network = network;
    this.#observers = observers;
    this.#push = push;
    this.#now = now;
  }

  /** Schedules a fault at absolute simulated time `at` (now, if that is past). */
  schedule(at: number, fault: Fault): void {
    this.#push(Math.max(at, this.#now()), { type: 'Fault', fault });
  }

  /**
   * The hosts stop attacking: every crash armed inside a save is called off, and faults scheduled
   * for later are dropped. A fault injected from now on still applies.
   */
  calm(): void {
    for (const h of this.#hosts.all) h.crash.disarm();
    this.#calm = true;
  }

  /** A scheduled fault's time has come; false when it was called off. */
  fire(e: FaultEvent): boolean {
    if (this.#calm) return false;
    this.apply(e.fault);
    return true;
  }

  /** Applies a fault now. */
  apply(f: Fault): void {
    const hosts = this.#hosts;
    this.#observers.faultLog.push({ at: this.#now(), fault: f });
    this.#observers.log(() => `FAULT ${describeFault(f)}`);
    switch (f.type) {
      case 'Crash': {
        const h = hosts.get(f.replica);
        if (f.afterWrites === undefined || f.afterWrites < 1) hosts.crash(h);
        else if (h.state !== null) h.crash.arm(f.afterWrites);
        return;
      }
      case 'Restart': {
        const h = hosts.get(f.replica);
        if (h.state !== null) return;
        this.#observers.stats.restarts++;
        hosts.start(h);
        return;
      }
      case 'Rollback': {
        const h = hosts.get(f.replica);
        hosts.restartOn(h, () => h.storage.rollbackSaves(Math.max(0, f.saves)));
        return;
      }
      case 'Fork': {
        const h = hosts.get(f.replica);
        const kept = h.storage.history.length;
        if (kept === 0) return;
        hosts.restartOn(h, () => h.storage.present(Math.min(Math.max(0, f.blob), kept - 1)));
        return;
      }
      case 'Partition':
        this.#network.partition.split(f.groups);
        return;
      case 'Heal':
        this.#network.partition.heal();
        return;
      case 'Network':
        this.#network.update(f.conditions);
        return;
    }
  }
}

export function describeFault(f: Fault): string {
  switch (f.type) {
    case 'Crash':
      return f.afterWrites ? `Crash(r${f.replica}, after ${f.afterWrites} durable writes)` : `Crash(r${f.replica})`;
    case 'Restart':
      return `${f.type}(r${f.replica})`;
    case 'Rollback':
      return `Rollback(r${f.replica}, ${f.saves} saves)`;
    case 'Fork':
      return `Fork(r${f.replica}, blob ${f.blob})`;
    case 'Partition':
      return `Partition(${f.groups.map((g) => `{${g.map((r) => `r${r}`).join(',')}}`).join(' | ')})`;
    case 'Heal':
      return 'Heal';
    case 'Network':
      return `Network(${JSON.stringify(f.conditions)})`;
  }
}
