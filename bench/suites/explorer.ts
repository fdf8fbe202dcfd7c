/**
 * Bench suite `explorer`: explored states per second of `bkv explore` (model/explorer.ts, spec
 * ch. 10), on a small configuration of the fleet model: `explore` as the command calls it
 * (breadth-first, symmetry reduction, every invariant in every state), until every reachable
 * state is found. Figure: ms per distinct state stored; ops/s is states per second, the figure
 * `bkv explore` prints. The state count is a function of the configuration: each call must find
 * the same number, every invariant holding.
 * @module
 */
import { explore } from '../../model/explorer.ts';
import { DEFAULT_FLEET_MODEL, type FleetModelConfig } from '../../model/fleet-state.ts';
import { type BenchSuite, check, perUnit } from '../harness.ts';

/** `bkv explore --credentials 1 --sessions 2 --max-log 3`: the default fleet, smaller. */
export const SMALL_FLEET_MODEL: FleetModelConfig = Object.freeze({ ...DEFAULT_FLEET_MODEL, credentials: 1, sessions: 2, maxLog: 3 });

export const explorerSuite: BenchSuite = {
  id: 'explorer',
  title: 'the explorer: `bkv explore` states per second',
  async open() {
    let states: number | undefined;
    let transitions = 0;
    return {
      tasks: [
        {
          id: 'explorer/small',
          name: `bkv explore, ${SMALL_FLEET_MODEL.replicas} replicas, ${SMALL_FLEET_MODEL.credentials} credential, ${SMALL_FLEET_MODEL.sessions} sessions, log <= ${SMALL_FLEET_MODEL.maxLog}: per state`,
          fn: () => {
            const r = explore(SMALL_FLEET_MODEL);
            check(r.complete && r.violation === null, `the explorer did not exhaust the small configuration without a violation (${r.violation?.invariants.join(', ')})`);
            check(states === undefined || r.states === states, `the explorer found ${r.states} states, then ${states}`);
            states = r.states;
            transitions = r.transitions;
            return perUnit(r.ms, r.states);
          },
          iterations: 3,
          time: 0,
          warmup: 1,
          note: 'symmetry reduction on; crashes, message loss, folded partitions; terms <= 2',
        },
      ],
      info: { config: SMALL_FLEET_MODEL },
      afterRun: async () => ({ states, transitions }),
      dispose: () => {},
    };
  },
};
