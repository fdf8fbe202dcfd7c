/**
 * The one scenario generator (spec ch. 13.1): fast-check arbitraries of fault scenarios for the
 * simulated fleet, used by `bkv check` (the consensus and guess-limit suites, `--broken`), by the
 * tests and by the bench. A scenario is a plain value (src/sim/scenario.ts), so fast-check shrinks
 * a failing one to a small schedule by dropping faults, clients, operations and network trouble.
 *
 * Reproducibility: run k of a suite with seed S is the value fast-check draws with the seed
 * `fcSeed(suite, S, k)` at path `0`; a shrunk scenario is the value at the path fast-check reports
 * (`0:3:1:…`). Both are named by a replay token (src/scenarios/suites.ts). The arbitraries are
 * unbiased (`fc.noBias`): every run draws from the same distribution, whatever its index.
 *
 * Every fault is drawn for the largest fleet and fitted to the scenario's size n afterwards
 * (replica ids modulo n), so that fast-check shrinks sizes and faults independently (no `chain`).
 * @module
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { Fault, Timing } from '../sim/fleet.ts';
import type { NetworkConditions } from '../sim/network.ts';
import type { Scenario, TimedFault } from '../sim/scenario.ts';
import type { ClientOp, ClientScript } from '../sim/client.ts';

export const faultTolerance = (n: number): number => (n - 1) / 2;

/**
 * The kinds of fault a draw may be. `Fork` is a storage fork by the host of a replica within f:
 * it kills the replica right after a blob is written (an orphan), restarts it on the blob before,
 * and later on one of its last few blobs (the orphan, maybe).
 */
export type FaultKind = 'Crash' | 'Restart' | 'Rollback' | 'Fork' | 'Partition' | 'Heal' | 'Network';

export const ALL_FAULTS: readonly FaultKind[] = [
  'Crash',
  'Restart',
  'Rollback',
  'Fork',
  'Partition',
  'Heal',
  'Network',
];

const MAX_N = 9;

interface FaultDraw {
  readonly at: number;
  readonly kind: FaultKind;
  readonly replica: number;
  /** Crash: inside a save, right after the replica's k-th next durable write (spec ch. 6). */
  readonly afterWrites: number | null;
  /** Crash: restarted this long after (inside a save: 100 ms more); Fork: the first restart's delay. */
  readonly downMs: number | null;
  readonly group: readonly number[];
  readonly saves: number;
  readonly forkSaves: number;
  readonly forkBackMs: number;
  readonly forkLaterMs: number;
  readonly conditions: Partial<NetworkConditions>;
}

const option = <T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 100 - percent }, { arbitrary: arb, weight: percent });

function faultDrawArb(kinds: readonly FaultKind[], windowMs: number): fc.Arbitrary<FaultDraw> {
  return fc.record({
    at: fc.integer({ min: 0, max: windowMs }),
    kind: fc.constantFrom(...kinds),
    replica: fc.nat({ max: MAX_N - 1 }),
    afterWrites: option(fc.integer({ min: 1, max: 4 }), 40),
    downMs: option(fc.integer({ min: 0, max: 400 }), 50),
    group: fc.uniqueArray(fc.nat({ max: MAX_N - 1 }), { minLength: 1, maxLength: MAX_N - 1 }),
    saves: fc.integer({ min: 1, max: 30 }),
    forkSaves: fc.integer({ min: 1, max: 4 }),
    forkBackMs: fc.integer({ min: 50, max: 300 }),
    forkLaterMs: fc.integer({ min: 100, max: 800 }),
    conditions: fc.record({
      dropRate: fc.constantFrom(0, 0.1, 0.3),
      duplicateRate: fc.constantFrom(0, 0.1),
      slowRate: fc.constantFrom(0, 0.2),
    }),
  });
}

/** The faults a draw stands for in a fleet of n whose host may roll back `rollbackable` replicas (none: n/a). */
function fitFault(d: FaultDraw, n: number, rollbackable: number): TimedFault[] {
  const replica = d.replica % n;
  const at = d.at;
  switch (d.kind) {
    case 'Crash': {
      const crash: Fault = { type: 'Crash', replica, ...(d.afterWrites !== null && { afterWrites: d.afterWrites }) };
      if (d.downMs === null) return [{ at, fault: crash }];
      const down = d.afterWrites !== null ? 100 + d.downMs : d.downMs;
      return [
        { at, fault: crash },
        { at: at + down, fault: { type: 'Restart', replica } },
      ];
    }
    case 'Fork': {
      if (rollbackable === 0) return [];
      const r = d.replica % rollbackable;
      const back = at + d.forkBackMs;
      return [
        { at, fault: { type: 'Crash', replica: r, afterWrites: 1 } },
        { at: back, fault: { type: 'Rollback', replica: r, saves: 1 } },
        { at: back + d.forkLaterMs, fault: { type: 'Rollback', replica: r, saves: d.forkSaves } },
      ];
    }
    case 'Restart':
      return [{ at, fault: { type: 'Restart', replica } }];
    case 'Rollback':
      return rollbackable > 0
        ? [{ at, fault: { type: 'Rollback', replica: d.replica % rollbackable, saves: d.saves } }]
        : [];
    case 'Partition': {
      const group = [...new Set(d.group.map((r) => r % n))].slice(0, n - 1);
      return [{ at, fault: { type: 'Partition', groups: [group] } }];
    }
    case 'Heal':
      return [{ at, fault: { type: 'Heal' } }];
    case 'Network':
      return [{ at, fault: { type: 'Network', conditions: d.conditions } }];
  }
}

/** What a scenario arbitrary draws. */
export interface Shape {
  readonly sizes: readonly number[];
  readonly faultWindowMs: number;
  readonly maxFaults: number;
  /** How many distinct replicas the host may roll back or fork (f: within the bound; f + 1: beyond it). */
  readonly rollbackReplicas: (n: number) => number;
  readonly kinds: readonly FaultKind[];
  readonly clients: fc.Arbitrary<ClientScript[]>;
  readonly network: fc.Arbitrary<Partial<NetworkConditions> | undefined>;
  readonly timing?: fc.Arbitrary<Partial<Timing> | undefined>;
  /** Synthetic load's period (ms), if any. */
  readonly load?: fc.Arbitrary<number | undefined>;
}

export function scenarioArb(shape: Shape): fc.Arbitrary<Scenario> {
  return fc.noBias(
    fc
      .record({
        n: fc.constantFrom(...shape.sizes),
        seed: fc.nat({ max: 2 ** 30 }),
        faults: fc.array(faultDrawArb(shape.kinds, shape.faultWindowMs), { maxLength: shape.maxFaults, size: 'max' }),
        network: shape.network,
        timing: shape.timing ?? fc.constant(undefined),
        load: shape.load ?? fc.constant(undefined),
        clients: shape.clients,
      })
      .map(({ n, seed, faults, network, timing, load, clients }): Scenario => {
        const timed = faults.flatMap((d) => fitFault(d, n, shape.rollbackReplicas(n)));
        return {
          seed: `s${seed}`,
          n,
          faults: timed.sort((x, y) => x.at - y.at),
          clients,
          faultWindowMs: shape.faultWindowMs,
          ...(network && { network }),
          ...(timing && { timing }),
          ...(load !== undefined && { load: { everyMs: load } }),
        };
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// The suites of `bkv check`

/** Lossy, duplicating, slow links and replays and tampering between replicas. */
export const networkArb: fc.Arbitrary<Partial<NetworkConditions>> = fc.record({
  maxDelayMs: fc.integer({ min: 2, max: 30 }),
  slowRate: fc.constantFrom(0, 0.05, 0.2),
  dropRate: fc.constantFrom(0, 0.02, 0.1),
  duplicateRate: fc.constantFrom(0, 0.05),
  replayRate: fc.constantFrom(0, 0.02),
  tamperRate: fc.constantFrom(0, 0.02),
});

/**
 * The consensus suite: faults only (crashes, inside saves too, restarts, rollbacks and forks of up
 * to f replicas, partitions, heals, network trouble), no-op load, 3 or 5 replicas.
 */
export const CONSENSUS_SHAPE: Shape = {
  sizes: [3, 5],
  faultWindowMs: 2000,
  maxFaults: 14,
  rollbackReplicas: faultTolerance,
  kinds: ALL_FAULTS,
  clients: fc.constant([]),
  network: networkArb,
  load: fc.integer({ min: 10, max: 40 }),
};

/** An attacker's operation: a wrong guess, a probe (abandoned after KE2) or a guess answered with a forged KE3. */
const attackOpArb = fc.oneof(
  { arbitrary: fc.constant('recover' as const), weight: 56 },
  { arbitrary: fc.constant('probe' as const), weight: 30 },
  { arbitrary: fc.constant('forge' as const), weight: 14 },
);

/** One credential of the guess-limit suite: its owner, 2-4 attackers guessing beyond the limit, maybe recoveries. */
const credentialArb = fc.record({
  limit: fc.integer({ min: 1, max: 4 }),
  startAt: fc.integer({ min: 0, max: 300 }),
  attackers: fc.array(
    fc.record({
      delayMs: fc.integer({ min: 0, max: 300 }),
      ops: fc.array(attackOpArb, { minLength: 1, maxLength: 6, size: 'max' }),
    }),
    { minLength: 2, maxLength: 4, size: 'max' },
  ),
  recoveries: option(
    fc.record({ count: fc.integer({ min: 1, max: 3 }), delayMs: fc.integer({ min: 0, max: 500 }) }),
    75,
  ),
  /**
   * The owner registers again, 1-3 times (a new K each, the same password), while the others run;
   * the first `deletes` of them after deleting the record.
   */
  reregistrations: option(
    fc.record({
      count: fc.integer({ min: 1, max: 3 }),
      delayMs: fc.integer({ min: 0, max: 300 }),
      deletes: fc.integer({ min: 0, max: 3 }),
    }),
    50,
  ),
});

/**
 * Several credentials, each registered by its owner and guessed at concurrently by attackers
 * (wrong passwords, probes, forged KE3s) beyond its limit, while the owner recovers with the right
 * password (three credentials in four): a successful recovery, two commits, racing the guesses; and
 * maybe registers again meanwhile (a new K), racing them too (spec ch. 5 §5.8), maybe deleting the
 * record before.
 */
export const guessLimitClientsArb: fc.Arbitrary<ClientScript[]> = fc
  .array(credentialArb, { minLength: 1, maxLength: 3, size: 'max' })
  .map((credentials) =>
    credentials.flatMap((c, i): ClientScript[] => {
      const credential = `cred-${i}`;
      const scripts: ClientScript[] = [
        {
          name: `owner-${i}`,
          credential,
          startAt: c.startAt,
          ops: [{ kind: 'register', password: `pw-${i}`, key: `K-${i}`, limit: c.limit }],
        },
      ];
      c.attackers.forEach((a, j) => {
        const name = `attacker-${i}.${j}`;
        const ops = a.ops.slice(0, c.limit + 2).map((kind, k): ClientOp => {
          if (kind === 'probe') return { kind };
          return { kind, password: `${name}-${kind === 'forge' ? 'forge' : 'guess'}-${k}` };
        });
        scripts.push({ name, credential, startAt: c.startAt + 400 + a.delayMs, ops });
      });
      if (c.recoveries) {
        const ops = Array.from(
          { length: c.recoveries.count },
          (): ClientOp => ({ kind: 'recover', password: `pw-${i}` }),
        );
        scripts.push({ name: `owner-${i}.recovery`, credential, startAt: c.startAt + 400 + c.recoveries.delayMs, ops });
      }
      if (c.reregistrations) {
        const { count, deletes } = c.reregistrations;
        const ops = Array.from({ length: count }, (_, k): ClientOp[] => [
          ...(k < deletes ? [{ kind: 'delete' } as const] : []),
          { kind: 'register', password: `pw-${i}`, key: `K-${i}.${k + 2}`, limit: c.limit },
        ]).flat();
        const startAt = c.startAt + 400 + c.reregistrations.delayMs;
        scripts.push({ name: `owner-${i}.again`, credential, startAt, ops });
      }
      return scripts;
    }),
  );

/** The guess-limit suite: 1-3 credentials under attack, owners recovering among them, under faults. */
export const GUESS_LIMIT_SHAPE: Shape = {
  sizes: [3, 5],
  faultWindowMs: 3000,
  maxFaults: 5,
  rollbackReplicas: faultTolerance,
  kinds: ['Crash', 'Restart', 'Rollback', 'Fork', 'Partition', 'Heal'],
  clients: guessLimitClientsArb,
  network: fc.record({
    maxDelayMs: fc.integer({ min: 2, max: 15 }),
    dropRate: fc.constantFrom(0, 0.02),
    clientDropRate: fc.constantFrom(0, 0.02),
  }),
};

export const SCENARIO_SUITES = {
  consensus: scenarioArb(CONSENSUS_SHAPE),
  'guess-limit': scenarioArb(GUESS_LIMIT_SHAPE),
};
export type ScenarioSuite = keyof typeof SCENARIO_SUITES;

// ---------------------------------------------------------------------------------------------
// Seeds, paths, shrinking

/** fast-check's seed of run k of a suite with seed S: 32 bits of SHA-256 of (suite, S, k). */
export function fcSeed(suite: string, seed: string, run: number): number {
  return createHash('sha256')
    .update(JSON.stringify([suite, seed, run]))
    .digest()
    .readInt32LE(0);
}

/** A shrink path fast-check reported (`0`, or `0:` followed by the shrinks taken). */
export const isPath = (p: string): boolean => /^0(:\d{1,6}){0,10000}$/.test(p);

/** The scenario at `path` (`0`: the run's own; longer: a shrunk one) of the arbitrary seeded `seed`. */
export function drawScenario(arb: fc.Arbitrary<Scenario>, seed: number, path = '0'): Scenario {
  return fc.sample(arb, { seed, path, numRuns: 1 })[0]!;
}

export interface Shrunk {
  readonly scenario: Scenario;
  /** fast-check's path to it. */
  readonly path: string;
  readonly shrinks: number;
}

/**
 * Shrinks the failing scenario at path `0` of the arbitrary seeded `seed`: fast-check tries smaller
 * scenarios for `budgetMs` and keeps the smallest on which `fails` still holds (the caller makes
 * `fails` check for the same violation, so that shrinking does not wander to another bug).
 */
export function shrinkScenario(
  arb: fc.Arbitrary<Scenario>,
  seed: number,
  fails: (s: Scenario) => boolean,
  budgetMs: number,
): Shrunk | null {
  const r = fc.check(
    fc.property(arb, (s) => !fails(s)),
    { seed, path: '0', numRuns: 1, interruptAfterTimeLimit: budgetMs },
  );
  if (!r.failed || r.counterexample === null || r.counterexamplePath === null) return null;
  return { scenario: r.counterexample[0], path: r.counterexamplePath, shrinks: r.numShrinks };
}

// ---------------------------------------------------------------------------------------------
// Shapes for the tests (test/replication-faults.test.ts): network trouble, contended elections and
// a synthetic load, each maybe

/** Every kind but forks (the consensus suite draws those). */
export const TEST_FAULTS: readonly FaultKind[] = ['Crash', 'Restart', 'Rollback', 'Partition', 'Heal', 'Network'];

/** Contended elections: timeouts close together, so candidates collide and votes split. */
export const contendedTimingArb: fc.Arbitrary<Partial<Timing> | undefined> = fc.option(
  fc.constantFrom(
    { electionMinMs: 100, electionMaxMs: 130, heartbeatMs: 40 },
    { electionMinMs: 60, electionMaxMs: 80, heartbeatMs: 25 },
  ),
  { nil: undefined },
);

/**
 * Clients: credential `a` has one owner (register, then its own mix of right and wrong passwords,
 * probes, and maybe a re-registration); credential `b` has an owner that registers, then recovers
 * with its password while two attackers guess concurrently (wrong passwords and probes).
 */
export const ownerAndAttackersArb: fc.Arbitrary<ClientScript[]> = fc
  .record({
    limitA: fc.integer({ min: 2, max: 5 }),
    limitB: fc.integer({ min: 1, max: 4 }),
    ownerOps: fc.array(
      fc.constantFrom<ClientOp>(
        { kind: 'recover', password: 'pa' },
        { kind: 'recover', password: 'wrong-a' },
        { kind: 'probe' },
        { kind: 'register', password: 'pa2', key: 'Ka2', limit: 3 },
      ),
      { maxLength: 4 },
    ),
    attack1: fc.array(fc.constantFrom<ClientOp>({ kind: 'recover', password: 'guess-1' }, { kind: 'probe' }), {
      maxLength: 4,
    }),
    attack2: fc.array(fc.constantFrom<ClientOp>({ kind: 'recover', password: 'guess-2' }, { kind: 'probe' }), {
      maxLength: 3,
    }),
    recoveriesB: fc.integer({ min: 0, max: 2 }),
    startA: fc.integer({ min: 0, max: 800 }),
    startB: fc.integer({ min: 0, max: 800 }),
  })
  .map((c) => {
    // after a re-registration the owner's password is pa2
    let password = 'pa';
    const ownerOps = c.ownerOps.map((op) => {
      if (op.kind === 'register') password = op.password;
      return op.kind === 'recover' && op.password === 'pa' ? { kind: 'recover' as const, password } : op;
    });
    const registerA: ClientOp = { kind: 'register', password: 'pa', key: 'Ka', limit: c.limitA };
    const scripts: ClientScript[] = [
      { name: 'owner-a', credential: 'a', startAt: c.startA, ops: [registerA, ...ownerOps] },
      {
        name: 'owner-b',
        credential: 'b',
        startAt: c.startB,
        ops: [{ kind: 'register', password: 'pb', key: 'Kb', limit: c.limitB }],
      },
    ];
    if (c.attack1.length)
      scripts.push({ name: 'attacker-1', credential: 'b', startAt: c.startB + 400, ops: c.attack1 });
    if (c.attack2.length)
      scripts.push({ name: 'attacker-2', credential: 'b', startAt: c.startB + 450, ops: c.attack2 });
    if (c.recoveriesB) {
      const ops = Array.from({ length: c.recoveriesB }, () => ({ kind: 'recover' as const, password: 'pb' }));
      scripts.push({ name: 'owner-b.recovery', credential: 'b', startAt: c.startB + 420, ops });
    }
    return scripts;
  });

/** A test's shape: sizes, window, faults, rollback bound, clients or load alone; network and timing maybe. */
export function testShape(o: {
  sizes: readonly number[];
  faultWindowMs: number;
  maxFaults: number;
  rollbackReplicas: (n: number) => number;
  clients: boolean;
  kinds?: readonly FaultKind[];
}): Shape {
  return {
    ...o,
    kinds: o.kinds ?? TEST_FAULTS,
    clients: o.clients ? ownerAndAttackersArb : fc.constant([]),
    network: fc.option(
      fc.tuple(networkArb, fc.constantFrom(0, 0.02)).map(([n, clientDropRate]) => ({ ...n, clientDropRate })),
      { nil: undefined },
    ),
    timing: contendedTimingArb,
    load: o.clients ? fc.constant(undefined) : fc.option(fc.integer({ min: 5, max: 40 }), { nil: undefined }),
  };
}
