/**
 * A Jepsen-style test of the real fleet (spec ch. 15.5): a fleet of replica processes in a
 * temporary directory, concurrent clients, a nemesis that injects real faults, a history with
 * real time stamps, and the simulator's checkers on it.
 *
 *   1. up       `fleetUp` with the chaos admin endpoint on (partitions), session TTL 3 s
 *   2. run      C clients, two per credential, for S seconds: registrations (a new password and K
 *               each), recoveries with the right and with a wrong password, each recorded invoke /
 *               ok / fail / info (src/check/history.ts); meanwhile the nemesis, every 0.7-2 s:
 *                 kill       SIGKILL of a replica (the leader half the time), restarted 0.3-1.5 s later
 *                            on its files: the crash lands anywhere, inside a save included
 *                 pause      SIGSTOP, SIGCONT 0.3-1.5 s later
 *                 partition  one replica cut off from the others (its peer traffic dropped both
 *                            ways), healed 0.5-2 s later
 *                 rollback   SIGKILL, its host chain rolled back or spliced (chaos-host.ts), restarted
 *                 torn       SIGKILL, its last write torn (chaos-host.ts), restarted
 *                 crash      every replica SIGKILLed at once, all restarted 0.3-1.5 s later
 *               at most f = floor(N/2) replicas down or paused at once (a crash only when none is)
 *   3. heal     every replica up and connected; each credential's clients recover once more with
 *               the right password: every one must succeed (liveness after healing)
 *   4. check    linearizability of the history against the record model (src/check/lincheck.ts,
 *               record-model.ts), no acknowledged registration lost (lost-registration.ts), the
 *               guess budget G5 and release only after a verified KE3 (G3, budget.ts) on what left
 *               the HSMs (every replica's events.jsonl)
 *
 * The seed fixes every choice of the clients and the nemesis; the instants are the machine's, so a
 * run is repeated in kind, not step for step (the replay line says so).
 * @module
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type VaultEvent, checkBudget } from '../check/budget.ts';
import { History, type Operation, type OpOutput, describeOperation } from '../check/history.ts';
import { checkLinearizable, describeRefutation, describeUnknown } from '../check/lincheck.ts';
import { findLostRegistration } from '../check/lost-registration.ts';
import { describeStep, recordModel } from '../check/record-model.ts';
import type { ClientContext } from '../client/session.ts';
import {
  onDeleted,
  onRecoverResponse,
  onRegisterDone,
  onRegisterResponse,
  onReleased,
  startDeletion,
  startRecovery,
  startRegistration,
} from '../client/session.ts';
import { type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { keyBytes } from '../sim/client.ts';
import { type OncePerEntry, budgetEvents } from '../sim/ghosts.ts';
import { chance, randomBetween } from '../sim/network.ts';
import type { Frame } from '../vault/protocol.ts';
import {
  fleetDown,
  fleetStatuses,
  fleetUp,
  replicaRunning,
  signalRelay,
  signalReplica,
  sleep,
  startReplica,
  waitForLeader,
  waitForReplica,
} from './fleet.ts';
import { rollBackChain, tearChain } from './chaos-host.ts';
import { HttpRelay } from './http-relay.ts';
import { type FleetFile, SEALED_FILE, fleetClientContext, readFleet, replicaDir, urlOf } from './layout.ts';
import { type LoggedGhost, wallTime } from './replica-server.ts';
import { closeConnections, httpCall } from './wire.ts';

export type FaultKind = 'kill' | 'pause' | 'partition' | 'rollback' | 'torn' | 'crash';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'rollback', 'torn', 'crash'];

export interface ChaosOptions {
  readonly replicas: number;
  readonly seconds: number;
  readonly seed: string;
  readonly hsm?: 'memory' | 'softhsm';
  readonly faults?: readonly FaultKind[];
  /** Clients (two per credential). */
  readonly clients?: number;
  /** A broken variant every replica runs (src/broken/catalog.ts). */
  readonly broken?: string | null;
  /** Keep the fleet directory (history, events, logs) here; default: a temporary one, removed unless a check failed. */
  readonly out?: string;
  readonly print: (line: string) => void;
}

export interface ChaosResult {
  readonly seed: string;
  readonly replicas: number;
  readonly seconds: number;
  readonly broken: string | null;
  readonly operations: { readonly total: number; readonly ok: number; readonly fail: number; readonly info: number };
  readonly byKind: Record<string, number>;
  readonly faults: Record<FaultKind, number>;
  readonly violations: readonly string[];
  readonly linearizable: 'linearizable' | 'not-linearizable' | 'unknown';
  readonly replay: string;
  /** Where the history, the events and the logs are (null: removed, the run was clean). */
  readonly kept: string | null;
}

interface Credential {
  readonly name: string;
  /** The latest acknowledged registration's password and key names (what "right" means). */
  password: string | null;
  key: string | null;
  generation: number;
}

const WRONG = 'wrong';
const LIMIT = 10;

/** One client: operations back to back on its credential until `until()` is false. */
class ChaosClient {
  readonly name: string;
  readonly #cred: Credential;
  readonly #ctx: ClientContext;
  readonly #relay: HttpRelay;
  readonly #history: History;
  readonly #rng: Rng;
  readonly #keyNames: Map<string, string>;

  constructor(name: string, cred: Credential, f: FleetFile, history: History, rng: Rng, keyNames: Map<string, string>) {
    this.name = name;
    this.#cred = cred;
    this.#ctx = fleetClientContext(f);
    this.#relay = new HttpRelay(f.addresses, { deadlineMs: 4000, requestTimeoutMs: 5000 });
    this.#relay.leaderGuess = randomBetween(rng, 0, f.replicas - 1);
    this.#history = history;
    this.#rng = rng;
    this.#keyNames = keyNames;
  }

  /** `registers`: this client is its credential's registrar (one per credential, so the right password is known). */
  async run(until: () => boolean, registers: boolean): Promise<void> {
    while (until()) {
      const c = this.#cred;
      const r = this.#rng(1)[0]! / 256;
      if (registers && (c.password === null || r < 0.08)) await this.register();
      else if (registers && r < 0.11) await this.delete();
      else if (c.password !== null) await this.recover(r < 0.3 ? c.password : WRONG);
      await sleep(randomBetween(this.#rng, 5, 60));
    }
  }

  async register(): Promise<void> {
    const c = this.#cred;
    const g = ++c.generation;
    const password = `${c.name}-pw${g}-${this.name}`;
    const key = `${c.name}-k${g}-${this.name}`;
    this.#keyNames.set(toHex(keyBytes(key)), key);
    const id = this.#history.invoke(this.name, c.name, { kind: 'register', password, key, limit: LIMIT }, wallTime());
    const { frame, session } = startRegistration(
      this.#ctx,
      utf8(c.name),
      utf8(password),
      keyBytes(key),
      LIMIT,
      this.#rng,
    );
    const hello = await this.#relay.send(frame);
    // RegisterStart proposes nothing: without a RegisterFinish sent, nothing happened
    if (hello.kind !== 'answer') return this.#history.complete(id, 'fail', wallTime());
    const next = onRegisterResponse(this.#ctx, session, hello.frame, this.#rng);
    if ('outcome' in next) return this.#history.complete(id, 'fail', wallTime());
    const done = await this.#relay.send(next.frame);
    if (done.kind === 'answer' && onRegisterDone(this.#ctx, session, done.frame).ok) {
      this.#history.complete(id, 'ok', wallTime(), { kind: 'Registered' });
      c.password = password;
      c.key = key;
      return;
    }
    this.#history.complete(id, 'info', wallTime());
    c.password = null; // it may or may not have happened: register again before the next recovery
  }

  async delete(): Promise<void> {
    const c = this.#cred;
    c.password = null; // gone, or maybe gone: register again before the next recovery
    const id = this.#history.invoke(this.name, c.name, { kind: 'delete' }, wallTime());
    const { frame, session } = startDeletion(this.#ctx, utf8(c.name), this.#rng);
    const sent = await this.#relay.send(frame);
    if (sent.kind === 'refused') return this.#history.complete(id, 'fail', wallTime());
    const o = sent.kind === 'answer' ? onDeleted(this.#ctx, session, sent.frame) : null;
    if (o?.ok) return this.#history.complete(id, 'ok', wallTime(), { kind: 'Deleted' });
    if (o && o.kind === 'Fault' && o.code === 'RecordNotFound')
      return this.#history.complete(id, 'ok', wallTime(), { kind: 'NotFound' });
    this.#history.complete(id, 'info', wallTime());
  }

  async recover(password: string): Promise<boolean> {
    const c = this.#cred;
    const id = this.#history.invoke(this.name, c.name, { kind: 'recover', password }, wallTime());
    const { frame, session } = startRecovery(this.#ctx, utf8(c.name), utf8(password), this.#rng);
    const hello = await this.#relay.send(frame);
    if (hello.kind === 'refused') {
      this.#history.complete(id, 'fail', wallTime());
      return false;
    }
    if (hello.kind === 'lost') {
      this.#history.complete(id, 'info', wallTime());
      return false;
    }
    const r = onRecoverResponse(this.#ctx, session, hello.frame);
    const outcome = r.outcome;
    if ('frame' in r && !outcome) {
      // the envelope opened: the KE2's ConsumeGuess is done, the KE3 leaves (spec ch. 12)
      this.#history.opened(id, wallTime(), r.triesRemaining!);
      const released = await this.#relay.send(r.frame);
      const o = released.kind === 'answer' ? onReleased(this.#ctx, session, released.frame) : null;
      if (o?.ok) {
        const key = this.#keyNames.get(toHex(o.value)) ?? `unknown:${toHex(o.value).slice(0, 8)}`;
        this.#history.complete(id, 'ok', wallTime(), { kind: 'Recovered', key });
        return true;
      }
      this.#history.complete(id, 'info', wallTime());
      return false;
    }
    if ('frame' in r) void this.#relay.post(r.frame as Frame).catch(() => {}); // RecoverAbort
    let output: OpOutput | null = null;
    if (outcome && !outcome.ok && outcome.kind === 'WrongPassword')
      output = { kind: 'WrongPassword', triesRemaining: outcome.triesRemaining };
    if (outcome && !outcome.ok && outcome.kind === 'Locked') output = { kind: 'Locked' };
    if (output) this.#history.complete(id, 'ok', wallTime(), output);
    else this.#history.complete(id, 'info', wallTime());
    if (output?.kind === 'Locked' && c.password === password) c.password = null; // register anew
    return false;
  }
}

/** The ghost events of every replica, as the budget checker reads them (a registration and a reset once per entry). */
export function readGhostEvents(dir: string, n: number): VaultEvent[] {
  const events: VaultEvent[] = [];
  const all: LoggedGhost[] = [];
  for (let i = 0; i < n; i++) {
    const path = join(replicaDir(dir, i), 'events.jsonl');
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        all.push(JSON.parse(line) as LoggedGhost);
      } catch {
        // a line cut by a kill -9 in the middle of its write: it never completed, and its step released nothing
      }
    }
  }
  all.sort((a, b) => a.at - b.at);
  const once: OncePerEntry = { registered: new Set(), resets: new Set() };
  for (const g of all) events.push(...budgetEvents(g, () => g.at, once));
  return events;
}

/** How many older copies of each replica's sealed state the nemesis keeps (a rollback picks one). */
const COPIES_KEPT = 4;

/** The nemesis: real faults on the fleet's processes and files until `until()` is false. */
class Nemesis {
  readonly counts: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, rollback: 0, torn: 0, crash: 0 };
  readonly log: string[] = [];
  readonly #dir: string;
  readonly #rng: Rng;
  readonly #faults: readonly FaultKind[];
  readonly #impaired = new Set<number>();
  readonly #pending: Promise<void>[] = [];
  readonly #n: number;
  readonly #start = Date.now();
  /** Older copies of each replica's sealed chain file, as a host that keeps every blob it was given would. */
  readonly #copies = new Map<number, Buffer[]>();

  constructor(dir: string, n: number, faults: readonly FaultKind[], rng: Rng) {
    this.#dir = dir;
    this.#n = n;
    this.#faults = faults;
    this.#rng = rng;
  }

  async run(until: () => boolean): Promise<void> {
    if (this.#faults.length === 0) return;
    while (until()) {
      await sleep(randomBetween(this.#rng, 700, 2000));
      if (!until()) break;
      this.#keepCopies();
      const kind = this.#faults[randomBetween(this.#rng, 0, this.#faults.length - 1)]!;
      if (kind === 'crash') {
        // the whole fleet at once, and only a whole fleet: it waits until nothing else is impaired
        if (this.#impaired.size === 0) await this.#crash();
        continue;
      }
      const free = [...Array(this.#n).keys()].filter((i) => !this.#impaired.has(i));
      if (this.#impaired.size >= Math.floor(this.#n / 2) || free.length === 0) continue;
      let target = free[randomBetween(this.#rng, 0, free.length - 1)]!;
      if (chance(this.#rng, 0.5)) {
        const leader = (await fleetStatuses(this.#dir, 300)).find((s) => s?.serving);
        if (leader && free.includes(leader.id)) target = leader.id;
      }
      this.#pending.push(this.#inject(kind, target));
    }
    await Promise.all(this.#pending);
  }

  /** Copies each replica's sealed chain now and then (the whole file: its base and segments as they are). */
  #keepCopies(): void {
    for (let i = 0; i < this.#n; i++) {
      const path = join(replicaDir(this.#dir, i), SEALED_FILE);
      if (!chance(this.#rng, 0.5) || !existsSync(path)) continue;
      const kept = this.#copies.get(i) ?? [];
      kept.push(readFileSync(path));
      this.#copies.set(i, kept.slice(-COPIES_KEPT));
    }
  }

  async #inject(kind: FaultKind, i: number): Promise<void> {
    this.#impaired.add(i);
    this.counts[kind]++;
    const f = readFleet(this.#dir);
    this.#note(`${kind} r${i}`);
    if (kind === 'kill' || kind === 'rollback' || kind === 'torn') {
      signalReplica(f, i, 'SIGKILL');
      await sleep(randomBetween(this.#rng, 300, 1500));
      if (kind !== 'kill') this.#note(this.#tamper(kind, i));
      startReplica(this.#dir, i);
      this.#note(`restart r${i}`);
      // it counts as impaired until it answers again (a process takes a moment to start) and, when
      // its host lost what it had acted on, until it has caught up (a recovering replica neither
      // votes nor acknowledges: spec ch. 6), so that never more than f replicas lack their state
      if (!(await waitForReplica(this.#dir, i, 15_000))) this.#note(`r${i} does not answer 15 s after its restart`);
      else if (kind !== 'kill' && !(await waitCaughtUp(this.#dir, i, 20_000)))
        this.#note(`r${i} still recovering 20 s after its restart`);
    } else if (kind === 'pause') {
      signalReplica(f, i, 'SIGSTOP');
      await sleep(randomBetween(this.#rng, 300, 1500));
      signalReplica(f, i, 'SIGCONT');
      this.#note(`resume r${i}`);
    } else {
      const others = [...Array(this.#n).keys()].filter((j) => j !== i);
      await drop(f, i, others);
      await Promise.all(others.map((j) => drop(f, j, [i])));
      await sleep(randomBetween(this.#rng, 500, 2000));
      await Promise.all([...Array(this.#n).keys()].map((j) => drop(f, j, [])));
      this.#note(`heal r${i}`);
    }
    this.#impaired.delete(i);
  }

  /**
   * Every replica killed at once (a power cut of the fleet), all restarted 0.3-1.5 s later: what a
   * majority acknowledged must be on its disks and HSMs, since no peer is left to repair a replica
   * that kept it in memory only. Safety needs no bound on impaired replicas (spec ch. 15.5); the
   * fleet serves again once a majority has restarted. Impaired, all of them, until all answer.
   */
  async #crash(): Promise<void> {
    const all = [...Array(this.#n).keys()];
    for (const i of all) this.#impaired.add(i);
    this.counts.crash++;
    this.#note('crash: every replica');
    const f = readFleet(this.#dir);
    for (const i of all) signalReplica(f, i, 'SIGKILL');
    await sleep(randomBetween(this.#rng, 300, 1500));
    for (const i of all) startReplica(this.#dir, i);
    this.#note('restart every replica');
    for (const i of all)
      if (!(await waitForReplica(this.#dir, i, 15_000))) this.#note(`r${i} does not answer 15 s after its restart`);
    for (const i of all) this.#impaired.delete(i);
  }

  /** While replica i is down: its host rolls its sealed chain back, or tears its last write (chaos-host.ts). */
  #tamper(kind: 'rollback' | 'torn', i: number): string {
    const path = join(replicaDir(this.#dir, i), SEALED_FILE);
    const kept = this.#copies.get(i) ?? [];
    const t = kind === 'rollback' ? rollBackChain(path, kept, this.#rng) : tearChain(path, kept, this.#rng);
    return `r${i}: ${t.what} [${t.change}]`;
  }

  #note(text: string): void {
    this.log.push(`${((Date.now() - this.#start) / 1000).toFixed(2).padStart(7)} s  ${text}`);
  }
}

/** Waits until replica i is no longer recovering (true), or `ms` pass (false). */
async function waitCaughtUp(dir: string, i: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = (await fleetStatuses(dir, 500))[i];
    if (s && !s.recovering) return true;
    await sleep(200);
  }
  return false;
}

async function drop(f: FleetFile, i: number, peers: readonly number[]): Promise<void> {
  try {
    await httpCall(urlOf(f.addresses[i]!, '/v1/admin/drop'), 'POST', JSON.stringify({ peers }), 1000);
  } catch {
    // the replica is down: it starts connected
  }
}

/** Every replica up, running and connected again. */
async function heal(dir: string): Promise<void> {
  const f = readFleet(dir);
  for (let i = 0; i < f.replicas; i++) signalReplica(f, i, 'SIGCONT');
  for (let i = 0; i < f.replicas; i++) if (!replicaRunning(f, i)) startReplica(dir, i);
  const g = readFleet(dir);
  for (let i = 0; i < g.replicas; i++) await waitForReplica(dir, i, 15_000);
  await Promise.all([...Array(g.replicas).keys()].map((j) => drop(g, j, [])));
}

/** Runs a chaos test; the result says what was checked and what failed. */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const faults = o.faults ?? FAULT_KINDS;
  const clients = o.clients ?? 4;
  const broken = o.broken ?? null;
  const base = o.out ?? mkdtempSync(join(tmpdir(), 'bkv-chaos-'));
  const dir = join(base, 'fleet');
  mkdirSync(base, { recursive: true });
  const killAll = () => {
    if (!existsSync(join(dir, 'fleet.json'))) return;
    const f = readFleet(dir);
    for (let i = 0; i < f.replicas; i++) signalReplica(f, i, 'SIGKILL');
    signalRelay(f, 'SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    if (o.out === undefined) rmSync(base, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rng = seededRng(`bkv chaos/${o.seed}`);
  const replay =
    `bkv chaos --replicas ${o.replicas} --seconds ${o.seconds} --seed ${o.seed} ` +
    `--faults ${faults.join(',') || 'none'}${broken ? ` --broken ${broken}` : ''}`;
  let keep = false;
  try {
    o.print(
      `bkv chaos: ${o.replicas} replicas (${o.hsm ?? 'memory'} HSMs), ${clients} clients, ${o.seconds} s, ` +
        `faults ${faults.join(', ') || 'none'}, seed ${JSON.stringify(o.seed)}` +
        (broken ? `, broken variant ${broken}` : ''),
    );
    await fleetUp(
      {
        dir,
        replicas: o.replicas,
        hsm: o.hsm ?? 'memory',
        sessionTtlMs: 3000,
        broken,
        chaosAdmin: true,
        waitMs: 30_000,
      },
      o.print,
    );
    const f = readFleet(dir);
    const history = new History();
    const keyNames = new Map<string, string>();
    const creds: Credential[] = Array.from({ length: Math.max(1, Math.ceil(clients / 2)) }, (_, k) => ({
      name: `c${k}`,
      password: null,
      key: null,
      generation: 0,
    }));
    const runners = Array.from(
      { length: clients },
      (_, k) =>
        new ChaosClient(
          `client${k}`,
          creds[Math.floor(k / 2)]!,
          f,
          history,
          seededRng(`${o.seed}/client/${k}`),
          keyNames,
        ),
    );
    const end = Date.now() + o.seconds * 1000;
    const running = () => Date.now() < end;
    const nemesis = new Nemesis(dir, o.replicas, faults, rng);
    await Promise.all([nemesis.run(running), ...runners.map((c, k) => c.run(running, k % 2 === 0))]);

    // heal, then every credential must be recoverable (liveness)
    await heal(dir);
    const violations: string[] = [];
    const leader = await waitForLeader(dir, 30_000);
    if (leader === null) violations.push('LIVENESS: no leader served within 30 s after healing');
    else {
      // a registration and a recovery with its password, each credential: both must succeed
      for (const [k, c] of creds.entries()) {
        const runner = runners[k * 2]!;
        let ok = false;
        for (let attempt = 0; attempt < 3 && !ok; attempt++) {
          await runner.register();
          ok = c.password !== null && (await runner.recover(c.password));
          if (!ok) await sleep(500);
        }
        if (!ok) violations.push(`LIVENESS: ${c.name} not registered and recovered after healing (3 attempts)`);
      }
    }
    const ops = history.close();

    // checks
    const lin = checkLinearizable(recordModel, ops);
    if (lin.verdict === 'not-linearizable')
      violations.push(`INV-5 (linearizability): ${describeRefutation(lin, describeStep)}`);
    if (lin.verdict === 'unknown') o.print(`linearizability: unknown (${describeUnknown(lin)})`);
    const lost = findLostRegistration(ops);
    if (lost) violations.push(`INV-6: ${lost}`);
    const events = readGhostEvents(dir, o.replicas);
    for (const v of checkBudget(events))
      violations.push(`${v.rule === 'G5' ? 'INV-1 (G5)' : 'INV-2 (G3)'}: ${v.message} (credential ${v.credential})`);

    const count = (p: (x: Operation) => boolean) => ops.filter(p).length;
    const byKind: Record<string, number> = {};
    for (const x of ops) {
      const what = x.output?.kind ?? x.completion;
      const key = `${x.input.kind}:${x.completion === 'ok' ? what : x.completion}`;
      byKind[key] = (byKind[key] ?? 0) + 1;
    }
    writeFileSync(join(base, 'history.txt'), ops.map(describeOperation).join('\n') + '\n');
    writeFileSync(
      join(base, 'history.json'),
      JSON.stringify(ops, (_k, v) => (v === Infinity ? 'Infinity' : v), 1),
    );
    writeFileSync(join(base, 'nemesis.txt'), nemesis.log.join('\n') + '\n');
    const result: ChaosResult = {
      seed: o.seed,
      replicas: o.replicas,
      seconds: o.seconds,
      broken,
      operations: {
        total: ops.length,
        ok: count((x) => x.completion === 'ok'),
        fail: count((x) => x.completion === 'fail'),
        info: count((x) => x.completion === 'info'),
      },
      byKind,
      faults: nemesis.counts,
      violations,
      linearizable: lin.verdict,
      replay,
      kept: violations.length > 0 || o.out !== undefined ? base : null,
    };
    keep = result.kept !== null;
    o.print(
      `operations: ${ops.length} (${result.operations.ok} ok, ${result.operations.fail} fail, ` +
        `${result.operations.info} info): ${Object.entries(byKind)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
    );
    o.print(
      `faults: ${faults.map((k) => `${k} ${nemesis.counts[k]}`).join(', ') || 'none'}; ` +
        `KE2s that left: ${events.filter((e) => e.type === 'Ke2Sent').length}`,
    );
    o.print(
      `checks: linearizability ${lin.verdict}, no acknowledged registration lost, guess budget G5, ` +
        'release after KE3 G3, liveness after healing',
    );
    o.print(`violations: ${violations.length}`);
    for (const v of violations) o.print(`  ${v.split('\n').slice(0, 12).join('\n  ')}`);
    o.print(`seed ${JSON.stringify(o.seed)}; replay (same choices, the machine's timing): ${replay}`);
    if (result.kept) o.print(`history, nemesis, events and logs: ${base}`);
    return result;
  } finally {
    try {
      if (existsSync(join(dir, 'fleet.json'))) await fleetDown(dir, 1000);
    } finally {
      closeConnections();
      process.removeListener('exit', killAll);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    if (o.out === undefined && !keep) rmSync(base, { recursive: true, force: true });
  }
}
