/**
 * The replicated vault in the simulator (src/sim/fleet.ts): deterministic runs on memory
 * and SoftHSM fleets, the demo story, G1 and its cost in message delays, rollback within and
 * beyond the bound, batching under load, forged replica messages. Every step of every run here is
 * checked by the safety monitor (INV-3, INV-7..11).
 */
import { lastIndexOf } from '../src/replication/raft.ts';
import { afterAll, describe, expect, test } from 'vitest';
import { toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import { BkvClient } from '../src/client/client.ts';
import { checkBudget } from '../src/check/budget.ts';
import { finalizeSoftHsm, SoftHsm } from '../src/hsm/softhsm.ts';
import { vaultConfig } from '../src/vault/setup.ts';
import { demoReplicas } from '../src/cli/demo-replicas.ts';
import { SimFleet } from '../src/sim/fleet.ts';
import { brokenRules } from '../src/broken/catalog.ts';
import type { ReplicaRules } from '../src/replication/host.ts';
import { entryKey } from '../src/check/invariants.ts';
import { deployReplicatedFleet } from '../src/replication/provision.ts';
import { FleetRelay } from '../src/sim/relay.ts';
import { type Scenario, describeSchedule, isConverged, runScenario } from '../src/sim/scenario.ts';
import { keyBytes } from '../src/sim/client.ts';
import { softHsmTestPin, uniqueRunId } from './support/global-setup.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';

const memory = memoryFleets('bkv-fleet-test');

function fleetOf(n: number, seed: string, network = {}, rules?: ReplicaRules) {
  return new SimFleet({
    hsms: memory.hsms(n),
    labels: memory.labels,
    config: memory.config,
    seed,
    network,
    ...(rules && { rules }),
  });
}

const owner = (startAt = 0) => ({
  name: 'owner',
  credential: 'alice',
  startAt,
  ops: [
    { kind: 'register', password: 'pw', key: 'K', limit: 4 },
    { kind: 'recover', password: 'wrong' },
    { kind: 'probe' },
    { kind: 'recover', password: 'pw' },
  ] as const,
});

describe('a fleet without faults', () => {
  test.each([3, 5, 7])('%i replicas elect a leader, serve every operation, and converge', (n) => {
    const s: Scenario = { seed: `calm-${n}`, n, faults: [], clients: [owner(100)], faultWindowMs: 1500 };
    const r = runScenario(s, memory);
    expect(r.violation).toBeNull();
    expect(r.history.map((o) => [o.completion, o.output?.kind])).toEqual([
      ['ok', 'Registered'],
      ['ok', 'WrongPassword'],
      ['ok', 'Ke2'],
      ['ok', 'Recovered'],
      ['ok', 'Recovered'], // the final recovery of phase 2
    ]);
    expect(isConverged(r.fleet)).toBe(true);
    const states = r.fleet.replicas().map((x) => JSON.stringify(x.state!.node.vault));
    expect(new Set(states).size).toBe(1); // every replica applied the same log to the same records
  });

  test('a run is a function of its seed and schedule', () => {
    const s: Scenario = {
      seed: 'replay',
      n: 5,
      faults: [
        { at: 400, fault: { type: 'Crash', replica: 1 } },
        { at: 900, fault: { type: 'Partition', groups: [[0, 2]] } },
      ],
      clients: [owner(50)],
      network: { dropRate: 0.05, maxDelayMs: 12 },
      faultWindowMs: 1500,
    };
    const a = runScenario(s, { ...memory, trace: true });
    const b = runScenario(s, { ...memory, trace: true });
    expect(a.trace.length).toBeGreaterThan(100);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
    const c = runScenario({ ...s, seed: 'replay-2' }, { ...memory, trace: true });
    expect(c.trace).not.toEqual(a.trace);
  });
});

describe('the demo story (bkv demo --replicas)', () => {
  test(
    'the leader crashes after the ConsumeGuess commit and before KE3; ' + 'the budget is unchanged by the crash',
    async () => {
      const lines: string[] = [];
      expect(await demoReplicas({ replicas: 5, hsm: 'memory', print: (l) => lines.push(l) })).toBe(0);
      const text = lines.join('\n');
      expect(text).toMatch(/crashes first/);
      expect(text).toMatch(/attempts used: .*3.*\(the crashed attempt is spent, once/);
      expect(text).toMatch(/attempts used 4 of 10 \(2 wrong \+ 1 crashed \+ this one\)/);
      expect(text).toMatch(/identical to the original/);
    },
  );
});

describe('G1: a KE2 leaves only after its guess is committed at a majority', () => {
  test(
    'every KE2 left with its ConsumeGuess sealed on a majority; ' + 'one costs at least one replica round trip',
    async () => {
      const d = 10;
      const fleet = fleetOf(5, 'g1-delays', { minDelayMs: d, maxDelayMs: d });
      fleet.runUntil(() => fleet.leader() !== null, 5000);
      const relay = new FleetRelay(fleet);
      relay.leaderGuess = fleet.leader()!;
      const rng = seededRng('g1 client');
      const client = new BkvClient(fleet.clientContext, relay, rng);
      expect((await client.register(utf8('alice'), utf8('pw'), keyBytes('K'), 255)).ok).toBe(true);
      const hops: number[] = [];
      for (let i = 0; i < 12; i++) {
        const sent = relay.log.length;
        const out = await client.recover(utf8('alice'), utf8(`wrong-${i}`));
        expect(out.ok).toBe(false);
        const h1 = relay.log[sent]!;
        const ke2 = relay.log.slice(sent).find((x) => x.dir === 'from' && x.frame.kind === 'Handshake2')!;
        hops.push((ke2.at - h1.at) / d - 2); // minus the two client hops
      }
      for (const k of fleet.ke2Log) expect(k.sealedOn).toBeGreaterThanOrEqual(3);
      const mean = hops.reduce((a, b) => a + b, 0) / hops.length;
      console.log(
        `[replication] message delays between replicas per committed guess (5 replicas, one client): ` +
          `mean ${mean.toFixed(2)}, min ${Math.min(...hops)}, max ${Math.max(...hops)}`,
      );
      expect(Math.min(...hops)).toBeGreaterThanOrEqual(2); // AppendEntries, then a majority's answers
    },
  );
});

describe('untrusted hosts: rollback', () => {
  async function prepared(n: number, seed: string, rules?: ReplicaRules) {
    const fleet = fleetOf(n, seed, {}, rules);
    fleet.runUntil(() => fleet.leader() !== null, 5000);
    const relay = new FleetRelay(fleet);
    const client = new BkvClient(fleet.clientContext, relay, seededRng(`${seed} client`));
    expect((await client.register(utf8('alice'), utf8('pw'), keyBytes('K'), 6)).ok).toBe(true);
    for (const w of ['w1', 'w2']) expect((await client.recover(utf8('alice'), utf8(w))).ok).toBe(false);
    fleet.runFor(200); // followers learn the commit index
    return { fleet, client, relay };
  }
  const attempts = (fleet: SimFleet) =>
    fleet.replicas().map((r) => r.state?.node.vault.records[toHex(utf8('alice'))]?.attemptsUsed);

  test(
    'rolling back f replicas, the leader among them, ' + 'to nothing loses no registration and refunds no guess',
    async () => {
      const { fleet, client } = await prepared(5, 'rollback-f');
      expect(attempts(fleet)).toEqual([2, 2, 2, 2, 2]);
      const leader = fleet.leader()!;
      fleet.inject({ type: 'Rollback', replica: leader, saves: 1000 });
      fleet.inject({ type: 'Rollback', replica: (leader + 1) % 5, saves: 3 });
      expect(fleet.stats.rollbacksDetected).toBe(2);
      expect(fleet.replica(leader).state!.raft.durable.recovering).toBe(true);
      expect(fleet.runUntil(() => isConverged(fleet), 10_000)).toBe(true);
      expect(attempts(fleet)).toEqual([2, 2, 2, 2, 2]);
      const right = await client.recover(utf8('alice'), utf8('pw'));
      expect(right.ok && toHex(right.value)).toBe(toHex(keyBytes('K')));
      expect(checkBudget(fleet.events)).toEqual([]);
    },
  );

  test(
    'a rollback of one save erases the whole sealed log it hid behind (INV-3 counts every entry); ' +
      'an undetected one erases nothing it may forgive',
    async () => {
      const { fleet } = await prepared(3, 'rollback-shallow');
      const follower = (fleet.leader()! + 1) % 3;
      const log = fleet.replica(follower).sealed.log;
      expect(log.length).toBeGreaterThan(2);
      fleet.inject({ type: 'Rollback', replica: follower, saves: 1 }); // the save before still holds nearly all of it
      expect(fleet.stats.rollbacksDetected).toBe(1);
      expect(fleet.replica(follower).sealed.log).toEqual([]);
      expect([...fleet.replica(follower).lostToRollback]).toEqual(log.map((e, k) => entryKey(k + 1, e.term)));

      const blind = (await prepared(3, 'rollback-shallow', brokenRules('trust-host-storage'))).fleet;
      const r = (blind.leader()! + 1) % 3;
      blind.inject({ type: 'Rollback', replica: r, saves: 2 });
      expect(blind.stats.rollbacksDetected).toBe(0);
      expect(blind.replica(r).lostToRollback.size).toBe(0);
    },
  );

  test(
    'rolling back f + 1 replicas, the leader among them: ' + 'the fleet halts rather than lose a guess or a record',
    async () => {
      const { fleet } = await prepared(3, 'rollback-f+1');
      const leader = fleet.leader()!;
      const other = (leader + 1) % 3;
      fleet.inject({ type: 'Rollback', replica: leader, saves: 1000 });
      fleet.inject({ type: 'Rollback', replica: other, saves: 1000 });
      fleet.runFor(10_000); // every step still checked for safety
      expect(fleet.leader()).toBeNull(); // one normal replica is no majority; the recovering never vote
      expect([leader, other].map((i) => fleet.replica(i).state!.raft.durable.recovering)).toEqual([true, true]);
      const survivor = fleet.replica(3 - leader - other).state!;
      expect(survivor.raft.durable.log.filter((e) => e.command?.type === 'ConsumeGuess')).toHaveLength(2);
    },
  );
});

describe('batching and authentication', () => {
  test('under load, one AppendEntries carries many operations', () => {
    const clients = Array.from({ length: 24 }, (_, i) => ({
      name: `c${i}`,
      credential: `u${i}`,
      startAt: 300,
      ops: [{ kind: 'register' as const, password: 'p', key: `K${i}`, limit: 3 }],
    }));
    const loaded = runScenario(
      { seed: 'batch', n: 5, faults: [], clients, faultWindowMs: 600, network: { minDelayMs: 5, maxDelayMs: 10 } },
      memory,
    );
    expect(loaded.violation).toBeNull();
    const single = runScenario(
      {
        seed: 'batch',
        n: 5,
        faults: [],
        clients: clients.slice(0, 1),
        faultWindowMs: 600,
        network: { minDelayMs: 5, maxDelayMs: 10 },
      },
      memory,
    );
    const batch = (r: typeof loaded) => r.stats.entriesShipped / r.stats.appendsWithEntries;
    const savesPerEntry = (r: typeof loaded) =>
      r.stats.persists / lastIndexOf(r.fleet.replica(r.fleet.leader()!).state!.raft.durable);
    console.log(
      `[replication] entries per AppendEntries: ${batch(single).toFixed(2)} with 1 client, ` +
        `${batch(loaded).toFixed(2)} with 24; sealed saves per log entry (5 replicas): ` +
        `${savesPerEntry(single).toFixed(2)} vs ${savesPerEntry(loaded).toFixed(2)}`,
    );
    expect(batch(loaded)).toBeGreaterThan(batch(single));
    expect(savesPerEntry(loaded)).toBeLessThan(savesPerEntry(single));
  });

  test('altered and misdirected replica messages are refused; the fleet stays safe and live', () => {
    const s: Scenario = {
      seed: 'tamper',
      n: 5,
      faults: [],
      clients: [owner(100)],
      faultWindowMs: 2000,
      network: { tamperRate: 0.3 },
    };
    const r = runScenario(s, memory);
    expect(r.violation).toBeNull();
    expect(r.stats.tampered).toBeGreaterThan(10);
    // every tampered message that arrived was refused (a few may still be in flight when the run ends)
    expect(r.stats.refused).toBeLessThanOrEqual(r.stats.tampered);
    expect(r.stats.refused).toBeGreaterThan(r.stats.tampered - 10);
  });
});

describe('SoftHSM-backed fleets (tokens bkv-5 .. bkv-9)', () => {
  const suite = getSuite('ristretto255-SHA512+Curve25519');
  const opened: SoftHsm[] = [];
  afterAll(() => {
    for (const h of opened) h.close();
    finalizeSoftHsm();
  });

  test.each([3, 5])('%i replicas on SoftHSM tokens: crash, rollback, and every check holds', (n) => {
    const pin = softHsmTestPin();
    const tokens = Array.from({ length: n }, (_, i) => `bkv-${5 + i}`);
    const rng = seededRng(`softhsm fleet ${n}`);
    const provisioned = tokens.map((token) => new SoftHsm({ token, pin }));
    opened.push(...provisioned);
    const { labels, deployment } = deployReplicatedFleet(provisioned, suite, `${uniqueRunId()}/f${n}`, rng);
    expect(deployment.evidence.transport).toBe('wrap-seed'); // SoftHSM cannot wrap 25519 keys
    let used = false;
    const hsms = () => {
      if (used) throw new Error('one scenario per fleet: SoftHSM tokens are not cloned');
      used = true;
      return provisioned;
    };
    const config = vaultConfig({ suite, labels, sessionTtlMs: 3000 });
    const s: Scenario = {
      seed: `softhsm-${n}`,
      n,
      faults: [
        { at: 700, fault: { type: 'Crash', replica: 0 } },
        { at: 1000, fault: { type: 'Rollback', replica: 1, saves: 4 } },
        { at: 1300, fault: { type: 'Restart', replica: 0 } },
      ],
      clients: [owner(100)],
      network: { dropRate: 0.05, maxDelayMs: 10 },
      faultWindowMs: 1800,
    };
    const t0 = performance.now();
    const r = runScenario(s, { hsms, labels, config });
    const ms = performance.now() - t0;
    console.log(
      `[replication] SoftHSM fleet of ${n}: ${r.stats.steps} steps, ` +
        `${r.stats.persists} sealed saves (anchor and ballot in the tokens), ${ms.toFixed(0)} ms, ` +
        `${((r.stats.steps / ms) * 1000).toFixed(0)} steps/s`,
    );
    if (r.violation) console.log(describeSchedule(s));
    expect(r.violation).toBeNull();
    expect(r.stats.rollbacksDetected).toBe(1);
    expect(provisioned[0]!.backend).toBe('softhsm');
    expect(r.history.find((o) => o.client === 'final/alice')?.output).toEqual({ kind: 'Recovered', key: 'K' });
  });
});
