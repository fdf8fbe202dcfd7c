/**
 * What `bkv explore` explores (spec ch. 10, "The explorer"): three systems over the real code,
 * each searched breadth first (search.ts), every invariant on every transition:
 *
 *   persistence     one replica's persistence rule (persistence.ts): every save, every kill between
 *                   its durable writes, every restart on any blob its host kept; exhausted
 *   one replica     a fleet of one whose host forks at will, with clients (fleet.ts); exhausted
 *   three replicas  a fleet of 3, one of whose hosts forks (rollback and forks of f = 1), every
 *                   schedule of at most `depth` actions
 *
 * `deep` raises the bounds. A broken variant of the catalog (src/broken/catalog.ts) is explored in
 * the system and bound its entry names, where its counterexample lies.
 * @module
 */
import type { BrokenVariant } from '../broken/catalog.ts';
import { type ReplicaRules, RULES } from '../replication/host.ts';
import { DEFAULT_FLEET_BOUND, type FleetBound, type FleetState, FleetSystem } from './fleet.ts';
import { DEFAULT_PERSISTENCE_BOUND, type PersistenceBound, PersistenceSystem } from './persistence.ts';
import { type Explorable, type SearchOptions, type SearchResult, search } from './search.ts';

/** Where a broken variant's counterexample lies: a system, its bound, and a depth. */
export type ExploreScope =
  | { readonly system: 'persistence'; readonly bound?: Partial<PersistenceBound> }
  | { readonly system: 'fleet'; readonly bound: Partial<FleetBound>; readonly depth?: number };

export interface Exploration {
  readonly name: string;
  /** One line: what is explored, within which bounds. */
  readonly describe: string;
  /** The depth bound (undefined: exhausted). */
  readonly depth?: number;
  run(rules: ReplicaRules, o?: SearchOptions<unknown>): SearchResult;
}

const persistence = (bound: PersistenceBound): Exploration => ({
  name: 'persistence',
  describe:
    `one replica's persistence: ${bound.steps} saving actions, ` +
    `${bound.crashes} kills (between any two durable writes), restarts on any kept blob`,
  run: (rules, o) => search(new PersistenceSystem(rules.persistence, bound), o as SearchOptions<unknown>),
});

const fleet = (name: string, bound: FleetBound, depth?: number): Exploration => ({
  name,
  describe: describeFleet(bound, depth),
  ...(depth !== undefined && { depth }),
  run: (rules, o) =>
    search(new FleetSystem(bound, rules) as Explorable<FleetState>, {
      ...(o as SearchOptions<FleetState>),
      ...(depth !== undefined && { maxDepth: depth }),
    }),
});

export function describeFleet(b: FleetBound, depth?: number): string {
  const faults = [
    `${b.crashes} kill(s)${b.crashInSaves ? ' (inside saves too)' : ''}`,
    b.forking > 0 ? `${b.forking} forking host(s) keeping ${b.keep} blobs` : null,
    'any message delivered late or never',
    b.duplicates > 0 ? `${b.duplicates} duplicate(s)` : null,
  ].filter((x) => x !== null);
  const clients = b.sessions.length
    ? `sessions ${b.sessions.join(', ')} on a record of limit ${b.limit}`
    : 'no clients';
  const within = depth === undefined ? 'exhausted' : `every schedule of at most ${depth} actions`;
  const snapshots = b.snapshotEvery === undefined ? '' : `; a snapshot every ${b.snapshotEvery} applied entries`;
  const log = `log <= ${b.maxLog}${snapshots}`;
  return `${b.replicas} replica(s), ${clients}; terms <= ${b.maxTerm}, ${log}; ${faults.join(', ')}; ${within}`;
}

/** The bound of the one-replica exploration: its host forking at will, 2 crashes (3 with `deep`). */
export function oneReplicaBound(deep = false): FleetBound {
  return {
    ...DEFAULT_FLEET_BOUND,
    replicas: 1,
    forking: 1,
    sessions: ['wrong', 'wrong', 'right'],
    limit: 2,
    maxTerm: 3,
    maxLog: 9,
    crashes: deep ? 3 : 2,
  };
}

/** The explorations of `bkv explore` (`deep`: `--deep`). */
export function explorations(deep = false): Exploration[] {
  const one = oneReplicaBound(deep);
  const three: FleetBound = {
    ...DEFAULT_FLEET_BOUND,
    replicas: 3,
    forking: 1,
    sessions: ['wrong'],
    limit: 1,
    maxTerm: deep ? 3 : 2,
    maxLog: 5,
    crashes: deep ? 2 : 1,
  };
  // every replica compacts its log at every step that applies entries: a snapshot at each point a
  // replica may take one, followers behind one caught up by InstallSnapshot (spec ch. 6.6.2)
  const snapshots: FleetBound = { ...three, snapshotEvery: 1 };
  return [
    persistence(deep ? { steps: 4, crashes: 3 } : DEFAULT_PERSISTENCE_BOUND),
    fleet('one replica', one),
    fleet('three replicas', three, deep ? 14 : 10),
    fleet('three replicas, snapshots', snapshots, deep ? 12 : 10),
  ];
}

/** The exploration in which a broken variant is refuted. */
export function explorationOf(b: BrokenVariant): Exploration {
  const scope = b.explore;
  if (scope === undefined) throw new RangeError(`${b.name} is not in the explorer's scope (${b.test} catches it)`);
  if (scope.system === 'persistence') return persistence({ ...DEFAULT_PERSISTENCE_BOUND, ...scope.bound });
  return fleet(
    `${scope.bound.replicas ?? DEFAULT_FLEET_BOUND.replicas} replica(s)`,
    { ...DEFAULT_FLEET_BOUND, ...scope.bound },
    scope.depth,
  );
}

export const CORRECT_RULES: ReplicaRules = RULES;
