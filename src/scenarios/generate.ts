/**
 * Seeded scenario generation (spec ch. 13): a scenario is a function of a seed string, so a run
 * is replayed from its seed alone (the replay token of `bkv check`). Two shapes:
 *
 *   consensus    faults only: crashes (now, or inside a save: between two of its HSM calls),
 *                restarts, host-storage rollbacks and forks (an orphan kept and swapped back in) of
 *                at most f distinct replicas, partitions, heals, lossy, duplicating and slow
 *                networks, replays and tampering between replicas; no-op load
 *   guess-limit  several credentials, each registered by its owner and guessed at concurrently by
 *                attackers (wrong passwords, probes, forged KE3s) well beyond its limit, under faults,
 *                while the owner recovers with the right password (three credentials in four): a
 *                successful recovery, two commits (ConsumeGuess, then Reset), racing the guesses
 *
 * Each credential also gets a final recovery with its password once the fleet is healed (runScenario).
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { randomInt, seededRng } from '../crypto/rng.ts';
import type { Fault } from '../sim/fleet.ts';
import { type NetworkConditions, chance, randomBetween } from '../sim/network.ts';
import type { Scenario, TimedFault } from '../sim/scenario.ts';
import type { ClientOp, ClientScript } from '../sim/client.ts';

export const faultTolerance = (n: number): number => (n - 1) / 2;

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[randomInt(rng, xs.length)]!;
}

export interface FaultShape {
  readonly n: number;
  readonly windowMs: number;
  readonly count: number;
  /** How many distinct replicas the host may roll back (f: within the bound). */
  readonly rollbackReplicas: number;
  readonly kinds: readonly Fault['type'][];
}

/** Random faults; a crash is followed by its restart after 0-400 ms half of the time. */
export function randomFaults(rng: Rng, o: FaultShape): TimedFault[] {
  const out: TimedFault[] = [];
  for (let k = 0; k < o.count; k++) {
    const at = randomBetween(rng, 0, o.windowMs);
    const replica = randomInt(rng, o.n);
    switch (pick(rng, o.kinds)) {
      case 'Crash': {
        // now, or inside a save: right after the replica's k-th next durable write (spec ch. 6)
        const afterWrites = chance(rng, 0.4) ? randomBetween(rng, 1, 4) : undefined;
        out.push({ at, fault: { type: 'Crash', replica, ...(afterWrites && { afterWrites }) } });
        if (chance(rng, 0.5)) out.push({ at: at + randomBetween(rng, afterWrites ? 100 : 0, afterWrites ? 600 : 400), fault: { type: 'Restart', replica } });
        break;
      }
      case 'Fork': {
        // a host within f keeps an orphan (killed right after a blob is written), restarts its
        // replica on the blob before it, and later on one of its last few blobs (the orphan, maybe)
        if (o.rollbackReplicas === 0) break;
        const r = randomInt(rng, o.rollbackReplicas);
        const back = at + randomBetween(rng, 50, 300);
        out.push({ at, fault: { type: 'Crash', replica: r, afterWrites: 1 } });
        out.push({ at: back, fault: { type: 'Rollback', replica: r, saves: 1 } });
        out.push({ at: back + randomBetween(rng, 100, 800), fault: { type: 'Rollback', replica: r, saves: randomBetween(rng, 1, 4) } });
        break;
      }
      case 'Restart':
        out.push({ at, fault: { type: 'Restart', replica } });
        break;
      case 'Rollback':
        if (o.rollbackReplicas > 0) out.push({ at, fault: { type: 'Rollback', replica: randomInt(rng, o.rollbackReplicas), saves: randomBetween(rng, 1, 30) } });
        break;
      case 'Partition': {
        const group = [...new Set(Array.from({ length: randomBetween(rng, 1, o.n - 1) }, () => randomInt(rng, o.n)))];
        out.push({ at, fault: { type: 'Partition', groups: [group] } });
        break;
      }
      case 'Heal':
        out.push({ at, fault: { type: 'Heal' } });
        break;
      case 'Network':
        out.push({ at, fault: { type: 'Network', conditions: { dropRate: pick(rng, [0, 0.1, 0.3]), duplicateRate: pick(rng, [0, 0.1]), slowRate: pick(rng, [0, 0.2]) } } });
        break;
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

export function randomNetwork(rng: Rng): Partial<NetworkConditions> {
  return {
    maxDelayMs: randomBetween(rng, 2, 30),
    slowRate: pick(rng, [0, 0.05, 0.2]),
    dropRate: pick(rng, [0, 0.02, 0.1]),
    duplicateRate: pick(rng, [0, 0.05]),
    replayRate: pick(rng, [0, 0.02]),
    tamperRate: pick(rng, [0, 0.02]),
  };
}

export const ALL_FAULTS: readonly Fault['type'][] = ['Crash', 'Restart', 'Rollback', 'Fork', 'Partition', 'Heal', 'Network'];

/** The consensus suite: faults only, no-op load, 3 or 5 replicas, rollback of up to f. */
export function consensusScenario(seed: string): Scenario {
  const rng = seededRng(`consensus/${seed}`);
  const n = pick(rng, [3, 5]);
  const windowMs = 2000;
  const faults = randomFaults(rng, { n, windowMs, count: randomBetween(rng, 2, 12), rollbackReplicas: faultTolerance(n), kinds: ALL_FAULTS });
  return { seed, n, faults, clients: [], faultWindowMs: windowMs, network: randomNetwork(rng), load: { everyMs: randomBetween(rng, 10, 40) } };
}

/** An attacker's script: `count` wrong guesses, probes (abandoned after KE2) and guesses answered with a forged KE3. */
export function attackerOps(rng: Rng, name: string, count: number): ClientOp[] {
  return Array.from({ length: count }, (_, i): ClientOp => (chance(rng, 0.3) ? { kind: 'probe' } : chance(rng, 0.2) ? { kind: 'forge', password: `${name}-forge-${i}` } : { kind: 'recover', password: `${name}-guess-${i}` }));
}

/** The guess-limit suite: 1-3 credentials, 2-4 attackers each, more guesses than the limit, owners recovering among them, under faults. */
export function guessLimitScenario(seed: string): Scenario {
  const rng = seededRng(`guess-limit/${seed}`);
  const n = pick(rng, [3, 5]);
  const windowMs = 3000;
  const clients: ClientScript[] = [];
  const credentials = randomBetween(rng, 1, 3);
  for (let c = 0; c < credentials; c++) {
    const credential = `cred-${c}`;
    const limit = randomBetween(rng, 1, 4);
    const start = randomBetween(rng, 0, 300);
    clients.push({ name: `owner-${c}`, credential, startAt: start, ops: [{ kind: 'register', password: `pw-${c}`, key: `K-${c}`, limit }] });
    const attackers = randomBetween(rng, 2, 4);
    for (let a = 0; a < attackers; a++) {
      const name = `attacker-${c}.${a}`;
      clients.push({ name, credential, startAt: start + 400 + randomBetween(rng, 0, 300), ops: attackerOps(rng, name, randomBetween(rng, 1, limit + 2)) });
    }
    // the owner recovers, 1-3 times, while the attackers guess (three credentials in four)
    if (chance(rng, 0.75)) {
      const recoveries = Array.from({ length: randomBetween(rng, 1, 3) }, (): ClientOp => ({ kind: 'recover', password: `pw-${c}` }));
      clients.push({ name: `owner-${c}.recovery`, credential, startAt: start + 400 + randomBetween(rng, 0, 500), ops: recoveries });
    }
  }
  const faults = randomFaults(rng, { n, windowMs, count: randomBetween(rng, 0, 5), rollbackReplicas: faultTolerance(n), kinds: ['Crash', 'Restart', 'Rollback', 'Fork', 'Partition', 'Heal'] });
  return { seed, n, faults, clients, faultWindowMs: windowMs, network: { maxDelayMs: randomBetween(rng, 2, 15), dropRate: pick(rng, [0, 0.02]), clientDropRate: pick(rng, [0, 0.02]) } };
}
