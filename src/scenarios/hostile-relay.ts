/**
 * The hostile relay (spec ch. 13): a hook of the simulator's network (`RelayHook`,
 * src/sim/network.ts) that `runScenario` installs for the fault window, so that every frame
 * between the honest clients and the fleet passes through an adversary: it may forward, hold back
 * (reorder), alter, drop or replay frames, and inject its own. The relay sees only channel ids,
 * frame kinds and ciphertext (spec ch. 3); it is told which credential a client's frames are for
 * only so that a replayed KE1, which may spend a guess, is recorded in the history as an `info`
 * probe. The scenario's phases and checks are `runScenario`'s, unchanged.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import type { History } from '../check/history.ts';
import type { Frame } from '../vault/protocol.ts';
import type { ClientEndpoint, SimFleet } from '../sim/fleet.ts';
import {
  type Scenario,
  type ScenarioEnv,
  type ScenarioRelay,
  type ScenarioReport,
  type ScenarioRun,
  runScenario,
} from '../sim/scenario.ts';

/** The relay's own client name (answers to the frames it injects come to it). */
export const ADVERSARY = 'mitm';

/** An adversary in the relay: what it does with each frame. */
export interface RelayAdversary {
  /** A frame of honest client `client` (on `credential`) for replica `to`. */
  onClientFrame(r: HostileRelay, client: string, credential: string, to: number, frame: Frame): void;
  /** A frame of replica `from` for honest client `client` (default: delivered). */
  onReplicaFrame?(r: HostileRelay, client: string, frame: Frame, from: number): void;
  /** Called once at the start: the adversary's own schedule. */
  start?(r: HostileRelay): void;
}

/** The relay's powers, and the hook that hands each frame to the adversary. */
export class HostileRelay implements ScenarioRelay, ClientEndpoint {
  readonly fleet: SimFleet;
  readonly rng: Rng;
  readonly history: History;
  attacks = 0;
  readonly #run: ScenarioRun;
  readonly #adversary: RelayAdversary;
  readonly #later = new Map<number, () => void>();
  #token = 0;

  constructor(run: ScenarioRun, adversary: RelayAdversary) {
    this.#run = run;
    this.#adversary = adversary;
    this.fleet = run.fleet;
    this.history = run.history;
    this.rng = seededRng(`${run.scenario.seed}/relay`);
    run.fleet.addClient(ADVERSARY, this);
  }

  // The hook (src/sim/network.ts `RelayHook`)

  start(): void {
    this.#adversary.start?.(this);
  }

  toReplica(client: string, to: number, frame: Frame): void {
    if (client === ADVERSARY) return this.fleet.network.forward(client, to, frame);
    const credential = this.#run.clients.find((c) => c.name === client)?.credential ?? '';
    this.#adversary.onClientFrame(this, client, credential, to, frame);
  }

  toClient(client: string, frame: Frame, from: number): void {
    if (client === ADVERSARY || !this.#adversary.onReplicaFrame) return this.deliver(client, frame, from);
    this.#adversary.onReplicaFrame(this, client, frame, from);
  }

  // The powers

  /** Sends an honest client's frame on (its answers come back to the client). */
  forward(client: string, to: number, frame: Frame): void {
    this.fleet.network.forward(client, to, frame);
  }

  /** Hands a replica's frame to an honest client. */
  deliver(client: string, frame: Frame, from: number): void {
    this.fleet.network.deliver(client, frame, from);
  }

  /**
   * Sends a frame as the relay itself (a replay, a forgery): answers come to the relay. A
   * Handshake1 for a known credential is recorded as an `info` probe: it may spend a guess.
   */
  inject(to: number, frame: Frame, credential?: string): void {
    this.attacks++;
    if (credential !== undefined && frame.kind === 'Handshake1') {
      this.history.invoke(ADVERSARY, credential, { kind: 'probe' }, this.fleet.tick());
    }
    this.fleet.network.forward(ADVERSARY, to % this.fleet.n, frame);
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
}

/** `runScenario` with `adversary` in the relay during the fault window; `attacks`: its actions. */
export function runWithRelay(
  s: Scenario,
  env: ScenarioEnv,
  adversary: RelayAdversary,
): ScenarioReport & { attacks: number } {
  const made: { relay?: HostileRelay } = {};
  const r = runScenario(s, env, { relay: (run) => (made.relay = new HostileRelay(run, adversary)) });
  return { ...r, attacks: made.relay?.attacks ?? 0 };
}
