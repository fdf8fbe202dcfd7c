/**
 * Scenarios with a hostile relay (spec ch. 13): the same three phases and checks as `runScenario`
 * (src/sim/scenario.ts), with every frame between the honest clients and the fleet passing
 * through an adversary during the fault window: it may forward, hold back (reorder), alter, drop
 * or replay frames, and inject its own. The relay sees only channel ids, frame kinds and
 * ciphertext (spec ch. 3); the runner tells it which credential a channel belongs to only so that
 * a replayed KE1, which may spend a guess, is recorded in the history as an `info` probe.
 *
 * The honest clients are the scripted clients of src/sim/client.ts, given a view of
 * the fleet whose `sendFrame` and client registration go through the adversary.
 * @module
 */
import { RULES } from '../replication/host.ts';
import { toHex } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import type { Rng } from '../crypto/bytes.ts';
import { History } from '../check/history.ts';
import type { Frame } from '../vault/protocol.ts';
import { type ClientEndpoint, SimFleet } from '../sim/fleet.ts';
import { RELIABLE_NETWORK } from '../sim/network.ts';
import { InvariantViolation } from '../check/invariants.ts';
import { type Scenario, type ScenarioEnv, type ScenarioReport, type ScenarioViolation, checkHistory, finalOp, isConverged } from '../sim/scenario.ts';
import { type ClientScript, ScriptedClient, keyBytes } from '../sim/client.ts';

export const ADVERSARY = 'mitm';

export interface RelayAdversary {
  /** A frame of honest client `client` (on `credential`) for replica `to`. */
  onClientFrame(r: HostileRelay, client: string, credential: string, to: number, frame: Frame): void;
  /** A frame of replica `from` for honest client `client` (default: delivered). */
  onReplicaFrame?(r: HostileRelay, client: string, frame: Frame, from: number): void;
  /** Called once at the start: the adversary's own schedule. */
  start?(r: HostileRelay): void;
}

/** What the adversary can do: the relay's powers. */
export class HostileRelay implements ClientEndpoint {
  readonly fleet: SimFleet;
  readonly rng: Rng;
  readonly history: History;
  /** Honest while false (after the fault window). */
  active = true;
  attacks = 0;
  readonly #endpoints = new Map<string, ClientEndpoint>();
  readonly #views = new Map<string, SimFleet>();
  readonly #later = new Map<number, () => void>();
  #token = 0;

  constructor(fleet: SimFleet, history: History, seed: string) {
    this.fleet = fleet;
    this.history = history;
    this.rng = seededRng(`${seed}/relay`);
    fleet.addClient(ADVERSARY, this);
  }

  /** Sends an honest client's frame on (its answers come back to the client). */
  forward(client: string, to: number, frame: Frame): void {
    this.fleet.sendFrame(client, to, frame);
  }

  /** Hands a replica's frame to an honest client. */
  deliver(client: string, frame: Frame, from: number): void {
    this.#endpoints.get(client)?.onFrame(this.#views.get(client)!, frame, from);
  }

  /**
   * Sends a frame as the relay itself (a replay, a forgery): answers come to the relay. A
   * Handshake1 for a known credential is recorded as an `info` probe: it may spend a guess.
   */
  inject(to: number, frame: Frame, credential?: string): void {
    this.attacks++;
    if (credential !== undefined && frame.kind === 'Handshake1') this.history.invoke(ADVERSARY, credential, { kind: 'probe' }, this.fleet.tick());
    this.fleet.sendFrame(ADVERSARY, to % this.fleet.n, frame);
  }

  /** Runs `action` after `ms` of simulated time. */
  later(ms: number, action: () => void): void {
    const token = ++this.#token;
    this.#later.set(token, action);
    this.fleet.wake(ADVERSARY, this.fleet.now + ms, token);
  }

  onFrame(): void {
    // answers to the relay's own frames: nothing to do with them
  }

  onWake(_fleet: SimFleet, token: number): void {
    const action = this.#later.get(token);
    this.#later.delete(token);
    action?.();
  }

  /** The fleet as honest client `credential` sees it: its frames go through the adversary. */
  viewFor(adversary: RelayAdversary, credential: string): SimFleet {
    const fleet = this.fleet;
    const relay = this;
    const view: SimFleet = new Proxy(fleet, {
      get(t, p) {
        if (p === 'sendFrame') return (client: string, to: number, frame: Frame) => (relay.active ? adversary.onClientFrame(relay, client, credential, to, frame) : t.sendFrame(client, to, frame));
        if (p === 'addClient') {
          return (id: string, endpoint: ClientEndpoint) => {
            relay.#endpoints.set(id, endpoint);
            relay.#views.set(id, view);
            t.addClient(id, {
              onFrame: (_f, frame, from) => (relay.active && adversary.onReplicaFrame ? adversary.onReplicaFrame(relay, id, frame, from) : endpoint.onFrame(view, frame, from)),
              onWake: (_f, token) => endpoint.onWake(view, token),
            });
          };
        }
        const v: unknown = Reflect.get(t, p, t);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    return view;
  }
}

/** runScenario's phases and checks, with `adversary` in the relay during the fault window. */
export function runWithRelay(s: Scenario, env: ScenarioEnv, adversary: RelayAdversary): ScenarioReport & { attacks: number } {
  const fleet = new SimFleet({
    hsms: env.hsms(s.n),
    labels: env.labels,
    config: env.config,
    seed: s.seed,
    network: s.network ?? {},
    ...(env.broken && { rules: env.broken.rules(RULES) }),
    ...(env.trace && { trace: true }),
    timing: { ...env.timing, ...s.timing },
  });
  env.observe?.(fleet);
  const history = new History();
  const relay = new HostileRelay(fleet, history, s.seed);
  const keyNames = new Map<string, string>();
  for (const c of s.clients) for (const op of c.ops) if (op.kind === 'register') keyNames.set(toHex(keyBytes(op.key)), op.key);
  const make = (c: ClientScript, timing?: object) =>
    new ScriptedClient(relay.viewFor(adversary, c.credential), c, { history, keyNames, rng: seededRng(`${s.seed}/client/${c.name}`), timing: { ...env.clientTiming, ...timing } });
  const clients = s.clients.map((c) => make(c));
  for (const f of s.faults) fleet.schedule(f.at, f.fault);
  adversary.start?.(relay);
  let violation: ScenarioViolation | null = null;
  const finals: ScriptedClient[] = [];
  try {
    fleet.runFor(s.faultWindowMs);
    relay.active = false;
    fleet.inject({ type: 'Heal' });
    fleet.inject({ type: 'Network', conditions: RELIABLE_NETWORK });
    for (const r of fleet.replicas()) if (!r.up) fleet.inject({ type: 'Restart', replica: r.id });
    const livenessMs = env.livenessMs ?? 20_000;
    const deadline = fleet.now + livenessMs;
    const scriptsDone = fleet.runUntil(() => clients.every((c) => c.done) && isConverged(fleet), livenessMs);
    if (scriptsDone) {
      for (const credential of new Set(s.clients.map((c) => c.credential))) {
        const op = finalOp(s, credential);
        if (op !== null) finals.push(make({ name: `final/${credential}`, credential, ops: [op], startAt: fleet.now }, { maxRedirects: 1000, timeoutMs: 5000 }));
      }
    }
    const converged = () => isConverged(fleet) && finals.every((c) => c.done);
    if (!scriptsDone || !fleet.runUntil(converged, Math.max(0, deadline - fleet.now))) {
      violation = { invariant: 'LIVENESS', detail: `no convergence after stabilization; clients still waiting: ${[...clients, ...finals].filter((c) => !c.done).map((c) => c.name).join(', ') || 'none'}` };
    } else {
      const failed = finals.flatMap((c) => c.records).find((r) => r.completion !== 'ok');
      if (failed) violation = { invariant: 'LIVENESS', detail: `the final recovery after stabilization completed ${failed.completion}` };
    }
  } catch (e) {
    if (!(e instanceof InvariantViolation)) throw e;
    violation = { invariant: e.invariant, detail: e.detail };
  }
  const ops = history.close();
  if (violation === null) violation = checkHistory(fleet.events, ops);
  const stats = { ...fleet.stats, simulatedMs: fleet.now, operations: ops.length };
  return { ok: violation === null, violation, stats, history: ops, trace: fleet.trace, fleet, attacks: relay.attacks };
}
