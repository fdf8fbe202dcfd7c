/**
 * The real fleets of the `served` bench suite: replica processes on 127.0.0.1 (src/serve/fleet.ts),
 * one at a time, in a temporary directory, and clients that talk to them over HTTP with the client
 * library (`BkvClient` over `HttpRelay`, as `bkv recover` does).
 *
 *   ServedFleets.up(backend, n)    a new fleet of n replicas on that HSM backend (`fleetUp`), the one
 *                                  up before it brought down first: every cell starts on a fresh fleet
 *                                  (a replica's chain file grows with its log until its next base,
 *                                  spec ch. 15.6)
 *   fleet.clients(c)               c clients, each with its own credential, registered (untimed)
 *   runRecoveries(clients, stop)   every client recovers with its password, back to back, until the
 *                                  stop condition; each recovery must release that client's K
 *
 * Cleanup, however the run ends: `dispose()` brings the fleet down (processes, SoftHSM tokens) and
 * removes the directory; the fleets run with the chaos harness's parent watch (`chaosAdmin`: a
 * replica stops when the process that started it is gone), SIGINT and SIGTERM kill the replicas'
 * process groups before the bench exits, and a watcher process removes the directory when the
 * bench process ends, even by SIGKILL (src/hsm/private-tokens.ts).
 * @module
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BkvClient, generateBackupKey } from '../../src/client/client.ts';
import { type Bytes, type Rng, utf8 } from '../../src/crypto/bytes.ts';
import type { Outcome } from '../../src/client/session.ts';
import { fleetDown, fleetStatuses, fleetUp, signalReplica, waitForLeader } from '../../src/serve/fleet.ts';
import { HttpRelay } from '../../src/serve/http-relay.ts';
import {
  type FleetFile,
  SEALED_FILE,
  fleetClientContext,
  readFleet,
  replicaDir,
  urlOf,
} from '../../src/serve/layout.ts';
import { type ReplicaStatus, httpCall } from '../../src/serve/wire.ts';
import { check, equalBytes } from '../harness.ts';

export type Backend = 'memory' | 'softhsm';

export interface ServedClient {
  readonly name: string;
  readonly client: BkvClient;
  readonly credential: Bytes;
  readonly password: Bytes;
  readonly key: Bytes;
}

/** What a run of recoveries gives: each recovery's latency, and those that got no answer. */
export interface RecoveryRun {
  readonly latenciesMs: number[];
  /** Recoveries that ended with no answer (Unavailable: a timeout, a change of leader); not counted. */
  readonly unavailable: number;
  readonly wallMs: number;
}

/** Until `ms` have passed, or each client has done `perClient` recoveries, whichever comes first. */
export interface Stop {
  readonly ms: number;
  readonly perClient: number;
}

/** The nearest-rank percentile (p in 0..100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  check(xs.length > 0, 'a percentile of no sample');
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Every client recovers back to back until `stop`; throws if a recovery released anything but its K. */
export async function runRecoveries(clients: readonly ServedClient[], stop: Stop, what: string): Promise<RecoveryRun> {
  const latenciesMs: number[] = [];
  let unavailable = 0;
  const t0 = performance.now();
  const end = t0 + stop.ms;
  await Promise.all(
    clients.map(async (c) => {
      for (let k = 0; k < stop.perClient && performance.now() < end; k++) {
        const s = performance.now();
        const r = await c.client.recover(c.credential, c.password);
        const ms = performance.now() - s;
        if (!r.ok && r.kind === 'Fault' && r.code === 'Unavailable') {
          unavailable++;
          continue;
        }
        const ok = r.ok && equalBytes(r.value, c.key);
        check(ok, `${what}: ${c.name}'s recovery did not release its K (${describe(r)})`);
        latenciesMs.push(ms);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  check(latenciesMs.length > 0, `${what}: no recovery succeeded (${unavailable} got no answer)`);
  return { latenciesMs, unavailable, wallMs };
}

function describe(o: Outcome<unknown>): string {
  if (o.ok) return 'another key';
  return o.kind === 'Fault' ? `Fault ${o.code}` : o.kind;
}

/** One fleet of replica processes, up. */
export class ServedFleet {
  readonly backend: Backend;
  readonly replicas: number;
  readonly dir: string;
  readonly #file: FleetFile;
  readonly #rng: Rng;
  readonly #clients: ServedClient[] = [];

  constructor(backend: Backend, replicas: number, dir: string, rng: Rng) {
    this.backend = backend;
    this.replicas = replicas;
    this.dir = dir;
    this.#file = readFleet(dir);
    this.#rng = rng;
  }

  /** The first c clients, registering those not registered yet (all at once, untimed). */
  async clients(c: number): Promise<ServedClient[]> {
    const ctx = fleetClientContext(this.#file);
    const fresh: ServedClient[] = [];
    for (let i = this.#clients.length; i < c; i++) {
      const relay = new HttpRelay(this.#file.addresses);
      fresh.push({
        name: `client-${i}`,
        client: new BkvClient(ctx, relay, this.#rng),
        credential: utf8(`bench-${i}`),
        password: utf8(`pw-${i}`),
        key: generateBackupKey(this.#rng),
      });
    }
    await Promise.all(fresh.map((x) => this.#register(x)));
    this.#clients.push(...fresh);
    return this.#clients.slice(0, c);
  }

  async #register(x: ServedClient): Promise<void> {
    let o = await x.client.register(x.credential, x.password, x.key);
    // the leader changed between the two frames (or did not answer in time): start again, as `bkv register` does
    for (let k = 0; k < 3 && !o.ok && o.kind === 'Fault'; k++) {
      o = await x.client.register(x.credential, x.password, x.key);
    }
    check(o.ok, `${this.backend} ${this.replicas}: ${x.name}'s registration failed (${describe(o)})`);
  }

  /** Each replica's status (null: it does not answer). */
  statuses(): Promise<(ReplicaStatus | null)[]> {
    return fleetStatuses(this.dir, 2000);
  }

  /** The serving leader's status (throws if none serves within 30 s). */
  async leader(): Promise<ReplicaStatus> {
    const l = await waitForLeader(this.dir, 30_000);
    check(l !== null, `${this.backend} ${this.replicas}: no serving leader`);
    return l;
  }

  /** The size in bytes of replica i's sealed chain file. */
  sealedBytes(i: number): number {
    try {
      return statSync(join(replicaDir(this.dir, i), SEALED_FILE)).size;
    } catch {
      return 0;
    }
  }

  /** Median ms of `runs` GET /v1/status round trips to replica i: on a connection of its own each, or kept alive. */
  async roundTripMs(i: number, runs: number, fresh: boolean): Promise<number> {
    const url = urlOf(this.#file.addresses[i]!, '/v1/status');
    const ms: number[] = [];
    for (let k = 0; k < runs; k++) {
      const t0 = performance.now();
      const r = await httpCall(url, 'GET', null, 2000, fresh);
      ms.push(performance.now() - t0);
      check(r.status === 200, `GET /v1/status of r${i}: HTTP ${r.status}`);
    }
    return percentile(ms, 50);
  }

  /** SIGKILL to every replica's process group (a signal handler's last resort; `down` is the clean way). */
  kill(): void {
    killFleet(this.dir);
  }
}

/** SIGKILL to the process group of every replica the fleet in `dir` has started so far (none: nothing). */
function killFleet(dir: string): void {
  if (!existsSync(join(dir, 'fleet.json'))) return;
  const f = readFleet(dir);
  for (let i = 0; i < f.replicas; i++) signalReplica(f, i, 'SIGKILL');
}

/** The fleets of one suite run, one up at a time, in one temporary directory (see the module header). */
export class ServedFleets {
  readonly base: string;
  #current: ServedFleet | null = null;
  /** The directory of a fleet being brought up (its replicas start before `fleetUp` returns). */
  #starting: string | null = null;
  #made = 0;
  readonly #log: (line: string) => void;
  readonly #rngFor: (label: string) => Rng;
  readonly #release: () => void;
  readonly #onSignal: (signal: NodeJS.Signals) => void;

  private constructor(base: string, release: () => void, log: (line: string) => void, rngFor: (l: string) => Rng) {
    this.base = base;
    this.#release = release;
    this.#log = log;
    this.#rngFor = rngFor;
    this.#onSignal = (signal) => {
      this.#current?.kill();
      if (this.#starting !== null) killFleet(this.#starting);
      this.#release();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
  }

  static async create(log: (line: string) => void, rngFor: (label: string) => Rng): Promise<ServedFleets> {
    const base = mkdtempSync(join(tmpdir(), 'bkv-bench-served-'));
    let release: () => void;
    try {
      const { removeWhenProcessEnds } = await import('../../src/hsm/private-tokens.ts');
      release = removeWhenProcessEnds(base);
    } catch {
      const remove = () => rmSync(base, { recursive: true, force: true });
      process.on('exit', remove);
      release = () => {
        process.removeListener('exit', remove);
        remove();
      };
    }
    return new ServedFleets(base, release, log, rngFor);
  }

  /** A new fleet of `replicas` on `backend`, up (the previous one down). */
  async up(backend: Backend, replicas: number): Promise<ServedFleet> {
    await this.down();
    const dir = join(this.base, `${backend}-${replicas}-${++this.#made}`);
    const t0 = performance.now();
    const say = (line: string) => this.#log(`served: ${line}`);
    this.#starting = dir;
    try {
      await fleetUp({ dir, replicas, hsm: backend, chaosAdmin: true, waitMs: 30_000 }, say);
    } catch (e) {
      killFleet(dir); // no leader in time: its replicas go with it
      throw e;
    } finally {
      this.#starting = null;
    }
    this.#log(`served: up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    this.#current = new ServedFleet(backend, replicas, dir, this.#rngFor(`served/${backend}/${replicas}`));
    return this.#current;
  }

  /** Brings the current fleet down (processes stopped, tokens removed). */
  async down(): Promise<void> {
    const c = this.#current;
    this.#current = null;
    if (c === null) return;
    try {
      await fleetDown(c.dir);
    } catch (e) {
      c.kill();
      throw e;
    }
    rmSync(c.dir, { recursive: true, force: true }); // its logs and sealed state: nothing reads them after the cell
  }

  /** Everything: the fleet down, the directory removed, the signal handlers gone. */
  async dispose(): Promise<void> {
    try {
      await this.down();
    } finally {
      process.removeListener('SIGINT', this.#onSignal);
      process.removeListener('SIGTERM', this.#onSignal);
      this.#release();
    }
  }
}
