/**
 * Bench suite `lincheck`: the linearizability checker (src/check/lincheck.ts, spec ch. 12.3)
 * against the one before issue 23 (bench/lincheck-baseline.ts), on a fixed set of generated
 * histories (fast-check samples with a seed derived from the run's; test/support/lincheck-histories.ts):
 *
 *   records      histories of the record rules (`applyCommand`): an owner and up to 3 attackers
 *                on a credential, interleaved at random, cut off anywhere; all linearizable
 *   register     register histories of 4 keys, 8 clients of up to 40 operations each, crashes
 *                (`info`) included, some with one output changed (not linearizable)
 *   sequential   4,000 register operations one after the other (the baseline is quadratic there)
 *   hard+easy    a partition whose refutation takes more than 2,000,000 states, first, beside five
 *                refuted in a few thousand (the new checker only: the baseline spends its whole
 *                budget on the first partition, then throws)
 *
 * Figure of each task: ms per explored state (ops/s: states per second; each checker counts its
 * own states: memo entries, or search calls for the baseline). After the run: histories per second
 * of each, and the answers (both checkers must agree on every history: the self-check).
 * @module
 */
import fc from 'fast-check';
import { type LinResult, type Model, type TimedOperation, checkLinearizable } from '../../src/check/lincheck.ts';
import { recordModel } from '../../src/check/record-model.ts';
import { checkLinearizableBaseline } from '../lincheck-baseline.ts';
import { hardBesideEasy, recordsHistoryArb, registerHistoryArb } from '../../test/support/lincheck-histories.ts';
import { registerModel } from '../../test/support/lincheck-histories.ts';
import { type BenchSuite, type BenchTask, check, perUnit } from '../harness.ts';

interface Workload {
  readonly name: string;
  readonly histories: readonly (readonly TimedOperation[])[];
  readonly model: Model<unknown, TimedOperation, TimedOperation>;
  readonly baseline: boolean;
}

/** A 31-bit fast-check seed from the run's seed string (FNV-1a). */
function numericSeed(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 2 ** 31;
}

function workloads(seed: number, quick: boolean): Workload[] {
  const [records, registers, sequential] = quick ? [20, 4, 1000] : [200, 20, 4000];
  const any = <S, R extends TimedOperation, O extends TimedOperation>(m: Model<S, R, O>) =>
    m as unknown as Workload['model'];
  const completions = { ok: 98, info: 1, fail: 1 };
  const registerShape = { keys: 4, clients: 8, ops: 100, values: 5, completions, size: 'max' as const };
  const recordsShape = { maxLimit: 5, clients: { min: 2, max: 6 }, attempts: 6, steps: 200, size: 'max' as const };
  const writes = Array.from({ length: sequential }, (_, id) => ({
    id,
    key: 'k',
    client: 0,
    input: { kind: 'write' as const, value: id % 7 },
    call: 2 * id,
    return: 2 * id + 1,
    completion: 'ok' as const,
  }));
  const sample = <T>(arb: fc.Arbitrary<{ ops: T[] }>, numRuns: number) =>
    fc.sample(arb, { seed, numRuns }).map((h) => h.ops);
  const recordHistories = sample(recordsHistoryArb(recordsShape), records);
  const registerHistories = sample(registerHistoryArb(registerShape), registers);
  return [
    { name: 'records', model: any(recordModel), baseline: true, histories: recordHistories },
    { name: 'register', model: any(registerModel), baseline: true, histories: registerHistories },
    { name: 'sequential', model: any(registerModel), baseline: true, histories: [writes] },
    { name: 'hard+easy', model: any(recordModel), baseline: false, histories: [hardBesideEasy()] },
  ];
}

interface Tally {
  ms: number;
  states: number;
  histories: number;
}

export const lincheckSuite: BenchSuite = {
  id: 'lincheck',
  title: 'the linearizability checker: states per second, before (the baseline) and after issue 23',
  async open(ctx) {
    const seed = numericSeed(`${ctx.seed}/lincheck`);
    const loads = workloads(seed, ctx.quick);
    const tallies = new Map<string, Tally>();
    const answers = new Map<string, boolean[]>();
    const tasks: BenchTask[] = [];
    for (const w of loads) {
      // the new checker's answers first: the baseline must give the same
      const verdicts = w.histories.map((h) => checkLinearizable(w.model, h).verdict);
      check(!verdicts.includes('unknown'), `${w.name}: a history without an answer`);
      answers.set(
        w.name,
        verdicts.map((v) => v === 'linearizable'),
      );
      const operations = w.histories.reduce((k, h) => k + h.length, 0);
      const histories = count(w.histories.length, 'history', 'histories');
      for (const impl of w.baseline ? (['baseline', 'lincheck'] as const) : (['lincheck'] as const)) {
        const id = `lincheck/${w.name}/${impl}`;
        const tally: Tally = { ms: 0, states: 0, histories: 0 };
        tallies.set(id, tally);
        tasks.push({
          id,
          name: `${impl === 'baseline' ? 'before' : 'after'}: ${w.name}, ${histories} (${operations} ops), per state`,
          fn: () => {
            let states = 0;
            const t0 = performance.now();
            w.histories.forEach((h, k) => {
              const ok = impl === 'baseline' ? checkLinearizableBaseline(w.model, h) : answerOf(w.model, h);
              check(ok.ok === answers.get(w.name)![k], `${w.name} history ${k}: ${impl} answers ${ok.ok}`);
              states += ok.explored;
            });
            const ms = performance.now() - t0;
            tally.ms += ms;
            tally.states += states;
            tally.histories += w.histories.length;
            return perUnit(ms, states);
          },
          iterations: 10,
          time: 0,
          warmup: 1,
        });
      }
    }
    const info = Object.fromEntries(
      loads.map((w) => {
        const linearizable = answers.get(w.name)!.filter(Boolean).length;
        const operations = w.histories.reduce((k, h) => k + h.length, 0);
        return [w.name, { histories: w.histories.length, operations, linearizable }];
      }),
    );
    return {
      tasks,
      info: { seed, workloads: info },
      afterRun: async () => ({
        perSecond: Object.fromEntries(
          [...tallies].map(([id, t]) => {
            const histories = Math.round((t.histories / t.ms) * 1000 * 10) / 10;
            const states = Math.round((t.states / t.ms) * 1000);
            return [id, { histories, states, statesPerHistory: Math.round(t.states / Math.max(1, t.histories)) }];
          }),
        ),
      }),
      dispose: () => {},
    };
  },
};

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function answerOf(model: Workload['model'], ops: readonly TimedOperation[]): { ok: boolean; explored: number } {
  const r = checkLinearizable(model, ops);
  check(r.verdict !== 'unknown', 'no answer');
  return { ok: r.verdict === 'linearizable', explored: r.stats.explored };
}
