/**
 * Bench suite `checkers`: how fast the seeded simulator of `bkv check` and the history checkers
 * of spec ch. 12-13 go (issue 9).
 *
 *   scenarios   `runSuite` (src/scenarios/suites.ts) of each `bkv check` suite on memory fleets
 *               (`memoryFleets`, as `bkv check` runs): the first runs of `consensus` and
 *               `guess-limit`, the attack catalog once through. Each run is simulated with the
 *               safety monitor checking every step, then its history is checked (G5 and G3,
 *               linearizability, liveness). Figure: ms per scenario step (an event the fleet
 *               processed), so ops/s is the steps per second `bkv check` prints.
 *   workers     the consensus runs of `bkv check --workers N` for N = 1 and 2 (src/scenarios/workers.ts):
 *               the same runs dealt to N worker threads, wall-clock ms per step, the workers' start
 *               included (what `bkv check --workers N` gains on this machine)
 *   histories   histories of real guess-limit runs (simulated once, at open): the
 *               linearizability check against the record model (src/check/lincheck.ts), ms per
 *               operation; the guess-budget check on the same runs' ghost events
 *               (src/check/budget.ts), ms per event.
 * @module
 */
import { checkBudget } from '../../src/check/budget.ts';
import { checkLinearizable } from '../../src/check/lincheck.ts';
import { recordModel } from '../../src/check/record-model.ts';
import { runScenario } from '../../src/sim/scenario.ts';
import { memoryFleets } from '../../src/scenarios/fleets.ts';
import { type SuiteName, runSuite, suiteScenario } from '../../src/scenarios/suites.ts';
import { ATTACKS } from '../../src/scenarios/attacks.ts';
import { runOnWorkers } from '../../src/scenarios/workers.ts';
import { type BenchSuite, type BenchTask, check, perUnit } from '../harness.ts';

/** Runs per call of each suite, and guess-limit runs whose histories are checked. */
const RUNS_OF = (quick: boolean) =>
  quick
    ? { consensus: 1, attack: 2, 'guess-limit': 1, histories: 2, threaded: 2 }
    : { consensus: 8, attack: ATTACKS.length, 'guess-limit': 4, histories: 8, threaded: 48 };

export const checkersSuite: BenchSuite = {
  id: 'checkers',
  title: 'the checkers: `bkv check` scenario steps per second, history checks per operation',
  async open(ctx) {
    const seed = `${ctx.seed}/checkers`;
    const env = memoryFleets('bkv-bench-check');
    const runs = RUNS_OF(ctx.quick);
    const scenarioTask = (suite: SuiteName): BenchTask => ({
      id: `checkers/scenarios/${suite}`,
      name: `bkv check --suite ${suite}: ${runs[suite]} runs, per step`,
      fn: () => {
        const s = runSuite(suite, seed, runs[suite], env);
        check(
          s.violations === 0,
          `${suite}: ${s.violations} runs did not end as expected (${s.failures.map((f) => f.token).join(', ')})`,
        );
        return perUnit(s.ms, s.steps);
      },
      iterations: suite === 'consensus' ? 4 : 2, // consensus runs are short: more calls for the same time
      time: 0,
      warmup: 1,
      ...(suite === 'consensus' && {
        note: "every step checked by the safety monitor; each run's history checked after it, as `bkv check` does",
      }),
    });

    const threadedTask = (workers: number): BenchTask => ({
      id: `checkers/scenarios/consensus-workers-${workers}`,
      name: `bkv check --suite consensus --workers ${workers}: ${runs.threaded} runs, per step (wall clock)`,
      fn: async () => {
        const t0 = performance.now();
        let steps = 0;
        const ids = Array.from({ length: runs.threaded }, (_, k) => k);
        await runOnWorkers({ suite: 'consensus', seed, runs: ids, prefix: 'bkv-bench-check' }, workers, (r) => {
          check(r.ok, `consensus run ${r.run} failed: ${r.violation?.invariant}`);
          steps += r.steps;
        });
        return perUnit(performance.now() - t0, steps);
      },
      iterations: 2,
      time: 0,
      warmup: 0,
      ...(workers === 2 && {
        note: "the same runs as the row above, on 2 threads; the machine's other load shares them",
      }),
    });

    // real histories: guess-limit runs as `bkv check` makes them (run k of the suite with the seed)
    const runsChecked = Array.from({ length: runs.histories }, (_, k) =>
      runScenario(suiteScenario('guess-limit', seed, k).scenario, env),
    );
    for (const r of runsChecked)
      check(r.ok, `guess-limit run failed: ${r.violation?.invariant} ${r.violation?.detail}`);
    const histories = runsChecked.map((r) => r.history);
    const events = runsChecked.map((r) => r.fleet.events);
    const operations = histories.reduce((n, h) => n + h.length, 0);
    const eventCount = events.reduce((n, e) => n + e.length, 0);
    let explored = 0;

    const tasks: BenchTask[] = [
      scenarioTask('consensus'),
      scenarioTask('attack'),
      scenarioTask('guess-limit'),
      threadedTask(1),
      threadedTask(2),
      {
        id: 'checkers/history/linearizability',
        name: `linearizability, ${histories.length} guess-limit histories (${operations} ops), per op`,
        fn: () => {
          const t0 = performance.now();
          explored = 0;
          for (const h of histories) {
            const r = checkLinearizable(recordModel, h);
            check(r.verdict === 'linearizable', `a history of a passing run is ${r.verdict}`);
            explored += r.stats.explored;
          }
          return perUnit(performance.now() - t0, operations);
        },
      },
      {
        id: 'checkers/history/budget',
        name: `guess budget G5/G3, the same runs (${eventCount} events), per event`,
        fn: () => {
          const t0 = performance.now();
          for (const e of events) check(checkBudget(e).length === 0, 'the budget check refused a passing run');
          return perUnit(performance.now() - t0, eventCount);
        },
      },
    ];
    return {
      tasks,
      info: { runs, historyOperations: operations, historyEvents: eventCount },
      afterRun: async () => ({
        linearizability: { operations, statesExploredPerOperation: Math.round((explored / operations) * 100) / 100 },
      }),
      dispose: () => {},
    };
  },
};
