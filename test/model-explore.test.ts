/**
 * The exhaustive explorer (spec ch. 10): the fleet model of model/fleet-model.ts explored
 * breadth-first, every invariant checked in every state. The CI configuration is the default one
 * with logs of at most 3 entries; BKV_DEEP=1 explores the default itself (4 entries, about half a
 * minute), as `npx bkv explore` does. Each broken variant is caught with its
 * shortest counterexample, each invariant is shown able to fail, and the reductions the explorer
 * relies on (symmetry, folded partitions) are checked against the unreduced exploration.
 */
import { initialTransition, transition } from 'xstate';
import { describe, expect, test } from 'vitest';
import { explore as exploreCommand } from '../src/cli/explore.ts';
import { explore } from '../model/explorer.ts';
import { FleetModel } from '../model/fleet-model.ts';
import { CMD, DEFAULT_FLEET_MODEL, FLEET_MUTANTS, FleetLayout, type FleetModelConfig, type FleetMutant, PW, Records } from '../model/fleet-state.ts';
import { FleetSymmetry } from '../model/fleet-symmetry.ts';
import { type RecordEvent, type RecordSnapshot, recordMachine } from '../model/record-machine.ts';

/** The configuration CI explores completely: the default, with logs of at most 3 entries. */
const CI_CONFIG: FleetModelConfig = { ...DEFAULT_FLEET_MODEL, maxLog: 3 };
const DEEP = process.env.BKV_DEEP === '1';
/** BKV_DEEP=1 explores the default configuration of `npx bkv explore` instead. */
const EXPLORED = DEEP ? DEFAULT_FLEET_MODEL : CI_CONFIG;

const hex = (s: Uint8Array) => Buffer.from(s).toString('hex');

describe('the correct model: every reachable state, every invariant', () => {
  const E = EXPLORED;
  test(`${DEEP ? 'default' : 'CI'} configuration (${E.replicas} replicas, ${E.credentials} credentials, limit ${E.limit}, ${E.sessions} sessions, terms <= ${E.maxTerm}, log <= ${E.maxLog}, crashes, drops): no violation, and the runs are not vacuous`, () => {
    const model = new FleetModel(E);
    const L = model.layout;
    const rec = new Records(L);
    const seen = { budgetSpent: false, secondTermLed: false, released: false, sessionEnded: false, guessRefused: false, recordExhausted: false };
    const r = explore(E, {
      onState: (s) => {
        for (let c = 0; c < E.credentials; c++) if (s[L.spentBase + c] === E.limit) seen.budgetSpent = true;
        if ((s[L.ledTerms]! & 2) !== 0) seen.secondTermLed = true;
        rec.v.fill(0);
        for (let x = 0; x < s[L.committedLength]!; x++) {
          const e = s[L.committedBase + x]!;
          const type = Math.floor(((e & 31) - 1) / E.sessions);
          const ok = rec.apply(s, e);
          if (type === CMD.Reset && ok) seen.released = true;
          if (type === CMD.EndSession && ok) seen.sessionEnded = true;
          if (type === CMD.ConsumeGuess && !ok) seen.guessRefused = true;
        }
        for (let c = 0; c < E.credentials; c++) if (rec.exhausted(c)) seen.recordExhausted = true;
      },
    });
    console.log(`[model-explore] ${DEEP ? 'default' : 'CI'} configuration: ${r.states.toLocaleString('en-US')} states, ${r.transitions.toLocaleString('en-US')} transitions, depth ${r.depth}, ${(r.ms / 1000).toFixed(1)} s, ${Math.round((r.states / r.ms) * 1000).toLocaleString('en-US')} states/s`);
    expect(r.violation).toBeNull();
    expect(r.complete).toBe(true);
    // exhausting a record takes `limit` guesses and as many ended sessions: 2 * limit entries
    expect(seen).toEqual({ budgetSpent: true, secondTermLed: true, released: true, sessionEnded: true, guessRefused: true, recordExhausted: E.maxLog >= 2 * E.limit });
  });
});

describe('each broken variant is caught: the invariant it breaks (FLEET_MUTANTS), with a shortest counterexample', () => {
  test.each(Object.keys(FLEET_MUTANTS) as FleetMutant[])('%s', (mutant) => {
    const r = explore({ ...DEFAULT_FLEET_MODEL, mutant });
    expect(r.violation?.invariants).toContain(FLEET_MUTANTS[mutant].breaks);
    // the trace is replayed from the initial state (explorer.ts checks each step) and is as long as the depth
    expect(r.violation!.trace.length).toBe(r.depth + 1);
    expect(r.violation!.trace[0]!.action).toBeNull();
  });

  test('INV-1 and INV-11 can fail too: the guess budget when a KE2 leaves before its guess is counted, state machine safety when a leader commits alone', () => {
    const budget = explore({ ...DEFAULT_FLEET_MODEL, mutant: 'count-after-ke3' }, { only: ['INV-1'] });
    expect(budget.violation?.invariants).toEqual(['INV-1']);
    const safety = explore({ ...DEFAULT_FLEET_MODEL, mutant: 'commit-without-majority' }, { only: ['INV-11'] });
    expect(safety.violation?.invariants).toEqual(['INV-11']);
  });

});

describe('the reductions lose nothing', () => {
  test('symmetry: the canonical forms of the states found without it are exactly the states found with it', () => {
    const config: FleetModelConfig = { ...DEFAULT_FLEET_MODEL, sessions: 2, maxLog: 2 };
    const sym = new FleetSymmetry(new FleetModel(config).layout);
    const canonical = new Uint8Array(sym.layout.size);
    const full = new Set<string>();
    const plain = explore(config, {
      symmetry: false,
      onState: (s) => {
        sym.canonicalize(s, canonical);
        full.add(hex(canonical));
      },
    });
    const reduced = new Set<string>();
    const r = explore(config, { onState: (s) => void reduced.add(hex(s)) });
    expect(plain.violation).toBeNull();
    expect(r.violation).toBeNull();
    expect(reduced.size).toBe(r.states);
    expect(reduced).toEqual(full);
    console.log(`[model-explore] symmetry: ${plain.states.toLocaleString('en-US')} states without, ${r.states.toLocaleString('en-US')} with (x${(plain.states / r.states).toFixed(1)})`);
  });

  test('partitions: with Partition and Heal as actions, the states reached (the cut set aside) are those reached without them', () => {
    const folded: FleetModelConfig = { ...DEFAULT_FLEET_MODEL, sessions: 2, credentials: 1, maxLog: 2 };
    const layout = new FleetModel(folded).layout;
    const sym = new FleetSymmetry(layout);
    const canonical = new Uint8Array(layout.size);
    const withCuts = new Set<string>();
    const cut = explore(
      { ...folded, partitions: 'explicit' },
      {
        onState: (s) => {
          const uncut = s.slice();
          uncut[layout.partition] = 0;
          sym.canonicalize(uncut, canonical);
          withCuts.add(hex(canonical));
        },
      },
    );
    const without = new Set<string>();
    const r = explore(folded, { onState: (s) => void without.add(hex(s)) });
    expect(cut.violation).toBeNull();
    expect(cut.states).toBeGreaterThan(r.states);
    expect(withCuts).toEqual(without);
  });
});

describe("the fleet model's record rules are the record machine's", () => {
  test.each([1, 2, 3])('limit %i: every reachable record, every command, the same next record', (limit) => {
    const sessions = 3;
    const model = new FleetModel({ ...DEFAULT_FLEET_MODEL, credentials: 1, sessions, limit });
    const L = model.layout;
    const state = model.initial();
    for (let k = 0; k < sessions; k++) state[L.s(k) + FleetLayout.PASSWORD] = PW.Unused; // started, credential 0
    const events: { record: RecordEvent; type: number; k: number }[] = [];
    for (let k = 0; k < sessions; k++) {
      events.push({ record: { type: 'ConsumeGuess', sessionId: `s${k}`, stale: false }, type: CMD.ConsumeGuess, k });
      events.push({ record: { type: 'Reset', sessionId: `s${k}` }, type: CMD.Reset, k });
      events.push({ record: { type: 'EndSession', sessionId: `s${k}`, reason: 'expired' }, type: CMD.EndSession, k });
    }
    const view = (r: Records) => ({ attempts: r.attempts(0), pending: r.pending(0), exhausted: r.exhausted(0) });
    const fromMachine = (m: RecordSnapshot) => ({
      attempts: m.context.attemptsUsed,
      pending: m.context.pending.reduce((mask, id) => mask | (1 << Number(id.slice(1))), 0),
      exhausted: m.value === 'Exhausted',
    });
    // breadth-first over the machine's reachable records, the fleet model's Records alongside
    const start = transition(recordMachine, initialTransition(recordMachine)[0], { type: 'Register', guessLimit: limit })[0];
    const queue: { m: RecordSnapshot; log: number[] }[] = [{ m: start, log: [] }];
    const seen = new Set<string>();
    let checked = 0;
    while (queue.length > 0) {
      const { m, log } = queue.shift()!;
      const key = JSON.stringify([m.value, m.context.attemptsUsed, m.context.pending]);
      if (seen.has(key)) continue;
      seen.add(key);
      const rec = new Records(L);
      for (const e of log) rec.apply(state, e);
      expect(view(rec)).toEqual(fromMachine(m));
      for (const e of events) {
        const next = transition(recordMachine, m, e.record)[0];
        const entry = L.entry(1, e.type, e.k);
        const r2 = new Records(L);
        for (const x of log) r2.apply(state, x);
        const ok = r2.apply(state, entry);
        expect(view(r2)).toEqual(fromMachine(next));
        expect(ok).toBe(next.context.outcome === 'ok');
        checked++;
        queue.push({ m: next, log: [...log, entry] });
      }
    }
    expect(checked).toBe(seen.size * events.length);
  });
});

describe('npx bkv explore', () => {
  const run = (args: Parameters<typeof exploreCommand>[0] extends infer A ? Omit<A, 'print'> : never) => {
    const lines: string[] = [];
    const code = exploreCommand({ ...args, print: (l) => lines.push(l) });
    return { code, out: lines.join('\n') };
  };

  test('a small configuration: its bounds, the state count and the rate', () => {
    const { code, out } = run({ sessions: 1, credentials: 1, maxLog: 2 });
    expect(code).toBe(0);
    expect(out).toMatch(/bounds: terms <= 2, log length <= 2/);
    expect(out).toMatch(/exhausted: [\d,]+ states, [\d,]+ transitions, depth \d+, [\d.]+ s \([\d,]+ states\/s/);
  });

  test('--broken: the counterexample, step by step; an unknown mutant or a bad size is a usage error', () => {
    const { code, out } = run({ broken: 'count-after-ke3' });
    expect(code).toBe(0);
    expect(out).toMatch(/INV-3 violated/);
    expect(out).toMatch(/shortest schedule \(4 steps\)/);
    expect(out).toMatch(/HandleRecoverStart\(r\d, s\d\)/);
    expect(run({ broken: 'no-such-bug' }).code).toBe(2);
    expect(run({ replicas: 2 }).code).toBe(2);
    expect(run({ only: ['INV-99'] }).code).toBe(2);
  });

  test('a broken variant the bounds are too small to catch is reported as a failure (exit 1)', () => {
    const { code, out } = run({ broken: 'no-exhaust', sessions: 2, credentials: 1, maxLog: 2 });
    expect(code).toBe(1);
    expect(out).toMatch(/was not caught within these bounds/);
  });
});
