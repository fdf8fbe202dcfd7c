/**
 * Bench suite `explorer`: explored states per second of `bkv explore` (src/explore/, spec ch. 10)
 * on the real replica, consensus and persistence code: each exploration of the default run, as
 * the command runs it (breadth first, symmetry reduction, every invariant on every transition).
 * Figure: ms per distinct state stored; ops/s is states per second, the figure `bkv explore`
 * prints. The state count is a function of the bounds: each call must find the same number, every
 * invariant holding.
 * @module
 */
import { explorations } from '../../src/explore/explore.ts';
import { RULES } from '../../src/replication/host.ts';
import { type BenchSuite, check, perUnit } from '../harness.ts';

export const explorerSuite: BenchSuite = {
  id: 'explorer',
  title: 'the explorer: `bkv explore` states per second, on the real code',
  async open(o) {
    const found = new Map<string, number>();
    return {
      tasks: explorations().map((e) => ({
        id: `explorer/${e.name.replace(/ /g, '-')}`,
        name: `bkv explore, ${e.name}: per state`,
        fn: () => {
          const r = e.run(RULES, o.quick ? { maxStates: 2000 } : {});
          check(r.violation === null, `the explorer found ${r.violation?.invariant} under the rules`);
          const seen = found.get(e.name);
          check(seen === undefined || r.states === seen, `the explorer found ${r.states} states, then ${seen}`);
          found.set(e.name, r.states);
          return perUnit(r.ms, r.states);
        },
        iterations: o.quick ? 1 : 2,
        time: 0,
        warmup: 0,
        note: e.describe,
      })),
      info: { explorations: explorations().map((e) => e.describe) },
      afterRun: async () => Object.fromEntries(found),
      dispose: () => {},
    };
  },
};
