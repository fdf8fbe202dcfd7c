/**
 * fast-check arbitraries of fault scenarios for the replicated vault (spec ch. 6), and the fleets
 * they run on. A scenario is a plain value (src/sim/scenario.ts): fast-check shrinks a
 * failing one to a minimal schedule by dropping faults, client operations and network trouble.
 *
 * Fleets: memory HSMs provisioned once per size and cloned per scenario (a clone is a fresh fleet
 * with the same keys).
 */
import fc from 'fast-check';
import type { Suite } from '../../src/crypto/suite.ts';
import type { Fault } from '../../src/sim/fleet.ts';
import type { NetworkConditions } from '../../src/sim/network.ts';
import type { Scenario, ScenarioEnv, TimedFault } from '../../src/sim/scenario.ts';
import { memoryFleets as memoryFleetFactory } from '../../src/scenarios/fleets.ts';
import type { ClientOp, ClientScript } from '../../src/sim/client.ts';

/** Memory fleets: provisioned once per size, cloned for each scenario (src/scenarios/fleets.ts). */
export function memoryFleets(prefix = 'bkv-test'): Pick<ScenarioEnv, 'hsms' | 'labels' | 'config'> & { suite: Suite } {
  const { hsms, labels, config } = memoryFleetFactory(prefix);
  return { hsms, labels, config, suite: config.params.suite };
}

export interface Shape {
  readonly sizes: readonly number[];
  readonly faultWindowMs: number;
  readonly maxFaults: number;
  /** How many distinct replicas the host may roll back (f: within the bound; f + 1: beyond it). */
  readonly rollbackReplicas: (n: number) => number;
  /** Client scripts (G1-G5 and linearizability), or consensus alone (no-op entries only). */
  readonly clients: boolean;
  /** Fault kinds to draw from. */
  readonly kinds?: readonly Fault['type'][];
}

const ALL_KINDS: readonly Fault['type'][] = ['Crash', 'Restart', 'Rollback', 'Partition', 'Heal', 'Network'];

/**
 * A fault drawn for the largest fleet and fitted to the scenario's size n afterwards (replica ids
 * modulo n), so that fast-check shrinks sizes and faults independently (no `chain`). For a crash,
 * maybe its restart after `downMs` (a bounce: the two shrink together).
 */
interface FaultDraw {
  readonly kind: Fault['type'];
  readonly replica: number;
  readonly group: readonly number[];
  readonly saves: number;
  readonly downMs: number | null;
  readonly conditions: Partial<NetworkConditions>;
}

function faultDrawArb(kinds: readonly Fault['type'][]): fc.Arbitrary<FaultDraw> {
  return fc.record({
    kind: fc.constantFrom(...kinds),
    replica: fc.nat({ max: MAX_N - 1 }),
    group: fc.uniqueArray(fc.nat({ max: MAX_N - 1 }), { minLength: 1, maxLength: MAX_N - 1 }),
    saves: fc.integer({ min: 1, max: 30 }),
    downMs: fc.option(fc.integer({ min: 0, max: 400 }), { nil: null }),
    conditions: fc.record({ dropRate: fc.constantFrom(0, 0.1, 0.3), duplicateRate: fc.constantFrom(0, 0.1), slowRate: fc.constantFrom(0, 0.2) }),
  });
}

/** The faults a draw stands for in a fleet of n (none when it does not apply). */
function fitFault(d: FaultDraw, n: number, rollbackable: number): { fault: Fault; downMs: number | null }[] {
  const replica = d.replica % n;
  switch (d.kind) {
    case 'Crash':
      return [{ fault: { type: 'Crash', replica }, downMs: d.downMs }];
    case 'Restart':
      return [{ fault: { type: 'Restart', replica }, downMs: null }];
    case 'Rollback':
      return rollbackable > 0 ? [{ fault: { type: 'Rollback', replica: d.replica % rollbackable, saves: d.saves }, downMs: null }] : [];
    case 'Fork':
      return rollbackable > 0 ? [{ fault: { type: 'Fork', replica: d.replica % rollbackable, blob: d.saves }, downMs: null }] : [];
    case 'Partition': {
      const group = [...new Set(d.group.map((r) => r % n))];
      return group.length < n ? [{ fault: { type: 'Partition', groups: [group] }, downMs: null }] : [];
    }
    case 'Heal':
      return [{ fault: { type: 'Heal' }, downMs: null }];
    case 'Network':
      return [{ fault: { type: 'Network', conditions: d.conditions }, downMs: null }];
  }
}

const MAX_N = 9;

const networkArb = fc.record({
  maxDelayMs: fc.integer({ min: 2, max: 30 }),
  slowRate: fc.constantFrom(0, 0.05, 0.2),
  dropRate: fc.constantFrom(0, 0.02, 0.1),
  duplicateRate: fc.constantFrom(0, 0.05),
  replayRate: fc.constantFrom(0, 0.02),
  tamperRate: fc.constantFrom(0, 0.02),
  clientDropRate: fc.constantFrom(0, 0.02),
});

/**
 * Clients: credential `a` has one owner (register, then its own mix of right and wrong passwords,
 * probes, and maybe a re-registration); credential `b` has an owner that registers, then recovers
 * with its password while two attackers guess concurrently (wrong passwords and probes).
 */
const clientsArb: fc.Arbitrary<ClientScript[]> = fc
  .record({
    limitA: fc.integer({ min: 2, max: 5 }),
    limitB: fc.integer({ min: 1, max: 4 }),
    ownerOps: fc.array(fc.constantFrom<ClientOp>({ kind: 'recover', password: 'pa' }, { kind: 'recover', password: 'wrong-a' }, { kind: 'probe' }, { kind: 'register', password: 'pa2', key: 'Ka2', limit: 3 }), { maxLength: 4 }),
    attack1: fc.array(fc.constantFrom<ClientOp>({ kind: 'recover', password: 'guess-1' }, { kind: 'probe' }), { maxLength: 4 }),
    attack2: fc.array(fc.constantFrom<ClientOp>({ kind: 'recover', password: 'guess-2' }, { kind: 'probe' }), { maxLength: 3 }),
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
    const scripts: ClientScript[] = [
      { name: 'owner-a', credential: 'a', startAt: c.startA, ops: [{ kind: 'register', password: 'pa', key: 'Ka', limit: c.limitA }, ...ownerOps] },
      { name: 'owner-b', credential: 'b', startAt: c.startB, ops: [{ kind: 'register', password: 'pb', key: 'Kb', limit: c.limitB }] },
    ];
    if (c.attack1.length) scripts.push({ name: 'attacker-1', credential: 'b', startAt: c.startB + 400, ops: c.attack1 });
    if (c.attack2.length) scripts.push({ name: 'attacker-2', credential: 'b', startAt: c.startB + 450, ops: c.attack2 });
    if (c.recoveriesB) scripts.push({ name: 'owner-b.recovery', credential: 'b', startAt: c.startB + 420, ops: Array.from({ length: c.recoveriesB }, () => ({ kind: 'recover' as const, password: 'pb' })) });
    return scripts;
  });

/** Contended elections: timeouts close together, so candidates collide and votes split. */
const timingArb = fc.option(fc.constantFrom({ electionMinMs: 100, electionMaxMs: 130, heartbeatMs: 40 }, { electionMinMs: 60, electionMaxMs: 80, heartbeatMs: 25 }), { nil: undefined });

export function scenarioArb(shape: Shape): fc.Arbitrary<Scenario> {
  return fc
    .record({
      n: fc.constantFrom(...shape.sizes),
      seed: fc.integer({ min: 0, max: 2 ** 30 }).map((k) => `s${k}`),
      faults: fc.array(fc.record({ at: fc.integer({ min: 0, max: shape.faultWindowMs }), draw: faultDrawArb(shape.kinds ?? ALL_KINDS) }), { maxLength: shape.maxFaults }),
      network: fc.option(networkArb, { nil: undefined }),
      timing: timingArb,
      load: shape.clients ? fc.constant(undefined) : fc.option(fc.integer({ min: 5, max: 40 }), { nil: undefined }),
      clients: shape.clients ? clientsArb : fc.constant([] as ClientScript[]),
    })
    .map(({ n, seed, faults, network, timing, load, clients }) => {
      const timed: TimedFault[] = [];
      for (const { at, draw } of faults) {
        for (const { fault, downMs } of fitFault(draw, n, shape.rollbackReplicas(n))) {
          timed.push({ at, fault });
          if (downMs !== null && fault.type === 'Crash') timed.push({ at: at + downMs, fault: { type: 'Restart', replica: fault.replica } });
        }
      }
      return {
        seed,
        n,
        faults: timed.sort((x, y) => x.at - y.at),
        clients,
        faultWindowMs: shape.faultWindowMs,
        ...(network && { network }),
        ...(timing && { timing }),
        ...(load !== undefined && { load: { everyMs: load } }),
      };
    });
}

/** Run counts and seeds from the environment: BKV_RUNS scales every suite, BKV_DEEP=1 multiplies by 10. */
export function runsFor(dflt: number): number {
  const scale = Number(process.env.BKV_RUNS ?? '1');
  const deep = process.env.BKV_DEEP === '1' ? 10 : 1;
  return Math.max(1, Math.round(dflt * (Number.isFinite(scale) && scale > 0 ? scale : 1) * deep));
}

/** fast-check's seed: BKV_SEED, or fresh (always printed, so any run can be replayed). */
export function runSeed(): number {
  const s = process.env.BKV_SEED;
  return s !== undefined ? Number(s) : (Date.now() ^ (process.pid << 8)) | 0;
}

