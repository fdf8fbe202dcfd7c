/**
 * The relay as a hook of the simulator (src/sim/network.ts `RelayHook`, installed by `runScenario`
 * for the fault window): it sees every frame both ways, forwarding unchanged changes nothing, it
 * can drop and alter frames, and a broken variant that only a hostile relay reaches
 * (`ack-before-commit`, through the attack `isolate-on-write`) is still caught.
 */
import { describe, expect, it } from 'vitest';
import { getBroken } from '../src/broken/catalog.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import { huntBroken } from '../src/scenarios/mutants.ts';
import { runOne } from '../src/scenarios/suites.ts';
import { type Scenario, type ScenarioRelay, type ScenarioRun, runScenario } from '../src/sim/scenario.ts';
import type { Frame } from '../src/vault/protocol.ts';

const fleets = memoryFleets('sim-relay-hook');
const env = { ...fleets, trace: true };
const WINDOW_MS = 1500;
const scenario: Scenario = {
  seed: 'relay-hook',
  n: 3,
  faults: [],
  faultWindowMs: WINDOW_MS,
  network: { maxDelayMs: 5 },
  clients: [
    {
      name: 'owner/a',
      credential: 'a',
      startAt: 0,
      ops: [
        { kind: 'register', password: 'pw', key: 'K', limit: 3 },
        { kind: 'recover', password: 'pw' },
      ],
    },
  ],
};

interface Seen {
  readonly toReplica: { at: number; kind: string }[];
  readonly toClient: { at: number; kind: string; alert: string | null }[];
}

/** A relay that records every frame and passes each through `alter` (null: dropped). */
function recording(seen: Seen, alter: (f: Frame, dir: 'in' | 'out') => Frame | null = (f) => f) {
  return (run: ScenarioRun): ScenarioRelay => ({
    toReplica(client, to, frame) {
      seen.toReplica.push({ at: run.fleet.now, kind: frame.kind });
      const f = alter(frame, 'in');
      if (f) run.fleet.network.forward(client, to, f);
    },
    toClient(client, frame, from) {
      const alert = frame.kind === 'Alert' ? new TextDecoder().decode(frame.bytes) : null;
      seen.toClient.push({ at: run.fleet.now, kind: frame.kind, alert });
      const f = alter(frame, 'out');
      if (f) run.fleet.network.deliver(client, f, from);
    },
  });
}

const empty = (): Seen => ({ toReplica: [], toClient: [] });
/** Trace lines of frames from the client that reached a replica, with their times. */
const arrivals = (trace: readonly string[]) =>
  trace.flatMap((l) => {
    const m = /^\s*(\d+) ms {2}owner\/a -> r\d (Handshake1|Transport) /.exec(l);
    return m ? [Number(m[1])] : [];
  });

describe('the relay is a hook of the simulator', () => {
  it('sees every frame both ways during the fault window; forwarding them unchanged changes nothing', () => {
    const seen = empty();
    const hooked = runScenario(scenario, env, { relay: recording(seen) });
    const plain = runScenario(scenario, env);
    expect(plain.ok).toBe(true);
    expect(hooked.ok).toBe(true);
    expect(hooked.trace).toEqual(plain.trace);
    expect(hooked.history).toEqual(plain.history);
    expect(new Set(seen.toReplica.map((f) => f.kind))).toEqual(new Set(['Handshake1', 'Transport']));
    expect(seen.toClient.some((f) => f.kind === 'Handshake2')).toBe(true);
    expect([...seen.toReplica, ...seen.toClient].every((f) => f.at <= WINDOW_MS)).toBe(true);
    // every client frame that reached a replica in the window went through the hook
    expect(arrivals(hooked.trace).filter((at) => at <= WINDOW_MS).length).toBeLessThanOrEqual(seen.toReplica.length);
    expect(plain.history.map((o) => o.completion)).toEqual(['ok', 'ok', 'ok']); // and the final recovery
  });

  it('can drop frames: none reaches a replica in the window; the honest relay after it lets the scripts finish', () => {
    const seen = empty();
    const r = runScenario(scenario, env, { relay: recording(seen, () => null) });
    expect(seen.toReplica.length).toBeGreaterThan(0);
    expect(seen.toClient).toEqual([]);
    expect(arrivals(r.trace).filter((at) => at <= WINDOW_MS)).toEqual([]);
    expect(arrivals(r.trace).length).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
  });

  it('can alter frames: an altered Handshake1 is refused with a closed Alert, its operation not ok', () => {
    const seen = empty();
    const flip = (f: Frame, dir: 'in' | 'out'): Frame =>
      dir === 'in' && f.kind === 'Handshake1' ? { ...f, bytes: f.bytes.map((b, i) => (i === 5 ? b ^ 1 : b)) } : f;
    const r = runScenario(scenario, env, { relay: recording(seen, flip) });
    expect(seen.toClient.some((f) => f.alert === 'ChannelDecryptFailed')).toBe(true);
    expect(r.history[0]!.completion).not.toBe('ok');
    expect(r.ok).toBe(true); // the vault changed nothing it should not have: every check holds
  });

  it('a broken variant only a hostile relay reaches (ack-before-commit, isolate-on-write) is still caught', () => {
    const b = getBroken('ack-before-commit');
    expect(b.attack).toBe('isolate-on-write');
    const caught = huntBroken(b, fleets, 'relay-hook', 3);
    expect(caught?.name).toBe('isolate-on-write');
    expect(caught?.violation?.invariant).toBe('INV-6');
    expect(caught!.attacks).toBeGreaterThan(0);
    // the correct rules pass the same run
    const correct = runOne('attack', caught!.seed, caught!.run, fleets);
    expect(correct.ok).toBe(true);
  });
});
