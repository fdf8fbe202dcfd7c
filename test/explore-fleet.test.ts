/**
 * The explorer over the real replica code (src/explore/fleet.ts, spec ch. 10): the rules hold in
 * every state within the bounds, the bounds reach what the rules are about (a KE2, a spent budget,
 * a release, an exhausted record, a second term, a fork restart, a detected rollback), the symmetry
 * reduction loses no state, and each broken variant in the explorer's scope is refuted with the
 * invariant its catalog entry names. Deeper: `npx bkv explore --deep`.
 */
import { describe, expect, test } from 'vitest';
import { BROKEN } from '../src/broken/catalog.ts';
import { explorationOf, explorations, oneReplicaBound } from '../src/explore/explore.ts';
import { DEFAULT_FLEET_BOUND, type FleetBound, type FleetState, FleetSystem } from '../src/explore/fleet.ts';
import { search } from '../src/explore/search.ts';
import { RULES } from '../src/replication/host.ts';
import type { ReplicaStep, ReplicaSteps } from '../src/replication/replica.ts';

/** Three replicas, one forking host, one session, one kill: the bound of `bkv explore`'s three-replica runs. */
const THREE: FleetBound = {
  ...DEFAULT_FLEET_BOUND,
  replicas: 3,
  forking: 1,
  sessions: ['wrong'],
  limit: 1,
  maxTerm: 2,
  maxLog: 5,
  crashes: 1,
};

/** What a search reached, read off every state it stored. */
function reached(bound: FleetBound, depth?: number) {
  const seen = { ke2: false, spent: false, release: false, exhausted: false, secondTerm: false, recovering: false };
  const r = search(new FleetSystem(bound, RULES), {
    ...(depth !== undefined && { maxDepth: depth }),
    onState: (s: FleetState) => {
      if (s.sessions.some((x) => x.status === 'answered')) seen.ke2 = true;
      if (s.spent >= bound.limit) seen.spent = true;
      if (s.resets.length > 0) seen.release = true;
      for (const slot of s.slots) {
        const st = slot.up?.state;
        if (st === undefined) continue;
        if (st.node.vault.records['63']?.status === 'Exhausted') seen.exhausted = true;
        if (st.raft.durable.currentTerm >= 2 && st.raft.role === 'leader') seen.secondTerm = true;
        if (st.raft.durable.recovering) seen.recovering = true;
      }
    },
  });
  return { r, seen };
}

describe('the fleet explorer on the real code', () => {
  test(
    'one replica, its host forking at will: ' +
      'exhausted, every invariant holds, and it reaches what the rules are about',
    () => {
      const one = explorations().find((e) => e.name === 'one replica')!;
      const { r, seen } = reached(oneReplicaBound());
      console.log(
        `[explore-fleet] ${one.describe}: ${r.states} states, ${r.transitions} transitions, depth ${r.depth}, ` +
          `${(r.ms / 1000).toFixed(1)} s`,
      );
      expect(r.violation).toBeNull();
      expect(r.complete).toBe(true);
      expect(seen).toEqual({
        ke2: true,
        spent: true,
        release: true,
        exhausted: true,
        secondTerm: true,
        recovering: true,
      });
    },
    300_000,
  );

  test(
    'three replicas, one forking host: every schedule of 8 actions, no violation; ' +
      'a second leader and a KE2 reached',
    () => {
      const { r, seen } = reached(THREE, 8);
      console.log(`[explore-fleet] three replicas, depth 8: ${r.states} states, ${(r.ms / 1000).toFixed(1)} s`);
      expect(r.violation).toBeNull();
      expect(r.depthBounded).toBe(true);
      expect(seen.ke2 && seen.secondTerm).toBe(true);
    },
    300_000,
  );

  test(
    'the symmetry reduction: ' + 'the canonical forms of the states found without it are the states found with it',
    () => {
      const bound: FleetBound = {
        ...DEFAULT_FLEET_BOUND,
        replicas: 3,
        forking: 0,
        sessions: ['wrong'],
        limit: 1,
        maxTerm: 2,
        crashes: 1,
      };
      const reduced = new FleetSystem(bound, RULES);
      const withKeys = new Set<string>();
      const without = new Set<string>();
      const a = search(reduced, { maxDepth: 6, onState: (s) => void withKeys.add(reduced.key(s)) });
      const full = new FleetSystem(bound, RULES, false);
      const b = search(full, { maxDepth: 6, onState: (s) => void without.add(reduced.key(s)) });
      console.log(
        `[explore-fleet] symmetry: ${b.states} states without, ${a.states} with (x${(b.states / a.states).toFixed(1)})`,
      );
      expect(b.states).toBeGreaterThan(2 * a.states);
      expect(without).toEqual(withKeys);
    },
    300_000,
  );

  const scoped = BROKEN.filter((b) => b.explore !== undefined);
  const fleetScoped = scoped.filter((b) => b.explore?.system === 'fleet');
  test.each(scoped.map((b) => [b.name, b] as const))(
    'the broken variant %s is refuted with the invariant it names',
    (_name, b) => {
      const r = explorationOf(b).run(b.rules(RULES));
      expect(r.violation, `${b.name} not caught`).not.toBeNull();
      expect(b.expected).toContain(r.violation!.invariant);
      console.log(
        `[explore-fleet] ${b.name}: ${r.violation!.invariant} after ${r.states} states, ` +
          `depth ${r.violation!.trace.length}`,
      );
      if (b.explore?.system !== 'fleet') return;
      // the trace is a schedule: replayed action by action from the initial state, its last action breaks the invariant
      const sys = new FleetSystem(
        { ...DEFAULT_FLEET_BOUND, ...(b.explore as { bound: Partial<FleetBound> }).bound },
        b.rules(RULES),
      );
      let state = sys.initial();
      const trace = r.violation!.trace;
      trace.forEach((label, k) => {
        const t = sys.successors(state).find((x) => x.label === label);
        expect(t, `step ${k + 1} of the trace (${label}) is not enabled`).toBeDefined();
        expect(t!.violation?.invariant).toBe(k === trace.length - 1 ? r.violation!.invariant : undefined);
        state = t!.state;
      });
    },
    300_000,
  );

  test('the scope is not empty, and every variant of the catalog names where it is caught', () => {
    expect(fleetScoped.map((b) => b.name)).toEqual(
      expect.arrayContaining(['commit-at-half', 'count-at-ke3', 'never-erase']),
    );
    for (const b of BROKEN)
      if (b.explore === undefined) expect(() => explorationOf(b)).toThrow(/not in the explorer's scope/);
  });
});

describe('the fleet explorer with snapshots (spec ch. 6.6.2)', () => {
  test('three replicas compacting at every step that applies: no violation; snapshots taken and installed', () => {
    const count = { taken: 0, installed: 0 };
    const counted = (f: (...a: never[]) => ReplicaStep) =>
      ((...a: never[]) => {
        const st = f(...a);
        for (const g of st.ghost) if (g.type === 'Snapshot') count[g.installed ? 'installed' : 'taken']++;
        return st;
      }) as never;
    const replica = Object.fromEntries(Object.entries(RULES.replica).map(([k, f]) => [k, counted(f)]));
    const rules = { ...RULES, replica: replica as unknown as ReplicaSteps };
    const snapshots = explorations().find((e) => e.name === 'three replicas, snapshots')!;
    const bound: FleetBound = { ...THREE, snapshotEvery: 1 };
    expect(snapshots.describe).toContain('a snapshot every 1 applied entries');
    const r = search(new FleetSystem(bound, rules), { maxDepth: 10 });
    console.log(
      `[explore-fleet] three replicas, snapshots, depth 10: ${r.states} states, ${count.taken} snapshot steps, ` +
        `${count.installed} InstallSnapshot steps, ${(r.ms / 1000).toFixed(1)} s`,
    );
    expect(r.violation).toBeNull();
    expect(count.taken).toBeGreaterThan(0);
    expect(count.installed).toBeGreaterThan(0);
  }, 300_000);
});
