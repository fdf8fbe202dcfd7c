/**
 * The commands of a running fleet (spec ch. 15): `bkv serve`, `bkv fleet up|status|down`, and the
 * client commands `bkv register`, `bkv recover`, `bkv delete` against it. A password is read from
 * stdin (a prompt that does not echo on a terminal), never from the command line.
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { brokenRules, getBroken } from '../broken/catalog.ts';
import { BkvClient, backupKeyToDigits, generateBackupKey } from '../client/client.ts';
import { describeOutcome, type Outcome } from '../client/session.ts';
import { type Bytes, toHex, utf8 } from '../crypto/bytes.ts';
import { systemRng } from '../crypto/rng.ts';
import { RULES } from '../replication/host.ts';
import {
  fleetDown,
  fleetStatuses,
  fleetUp,
  openReplicaHsm,
  replicaRunning,
  requireTokens,
  startReplica,
} from '../serve/fleet.ts';
import { HttpRelay } from '../serve/http-relay.ts';
import { fleetClientContext, readFleet, replicaDir } from '../serve/layout.ts';
import { ReplicaServer } from '../serve/replica-server.ts';
import { closeConnections } from '../serve/wire.ts';
import { choiceOption, type Parsed, stringOption, UsageError } from './args.ts';
import type { Io } from './command.ts';
import { EnvironmentError, EXIT } from './exit.ts';

/** `bkv serve --dir D --id I`: runs replica I of the fleet in D until SIGTERM or SIGINT. */
export async function serve(dir: string, id: number): Promise<number> {
  const f = readFleet(dir);
  if (id >= f.replicas)
    throw new UsageError(`--id expected 0..${f.replicas - 1} (the fleet has ${f.replicas} replicas)`);
  requireTokens(dir, f);
  lockReplica(dir, id);
  const hsm = await openReplicaHsm(dir, f, id);
  const rules = f.broken === null ? RULES : brokenRules(f.broken);
  const server = new ReplicaServer({ dir, id, fleet: f, hsm, rules });
  await server.start();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void server.stop().then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // a chaos run's replica ends with the harness that started it, however the harness ends
    const parent = process.ppid;
    if (f.chaosAdmin) setInterval(() => process.ppid !== parent && stop(), 500).unref();
  });
  return EXIT.ok;
}

/** One process per replica: D/r<i>/pid names the one that runs it; another one still alive is refused. */
function lockReplica(dir: string, id: number): void {
  const path = join(replicaDir(dir, id), 'pid');
  const other = existsSync(path) ? Number(readFileSync(path, 'utf8')) : NaN;
  if (Number.isInteger(other) && other !== process.pid) {
    let running = true;
    try {
      process.kill(other, 0);
    } catch {
      running = false;
    }
    if (running) throw new EnvironmentError(`replica ${id} of ${dir} already runs (pid ${other})`);
  }
  writeFileSync(path, String(process.pid));
}

export interface FleetUpArgs {
  readonly dir: string;
  readonly replicas: number;
  readonly hsm: 'memory' | 'softhsm';
  readonly sessionTtlMs?: number;
}

export async function fleetUpCommand(a: FleetUpArgs, io: Io): Promise<number> {
  const f = await fleetUp(a, io.print);
  io.print(`client endpoints: ${f.addresses.map((x, i) => `r${i} http://${x}`).join(', ')}`);
  io.print(`pinned keys: ${a.dir}/keys.json; ceremony evidence: ${a.dir}/evidence.json; logs: ${a.dir}/r<i>/log`);
  io.print(`next: echo PASSWORD | bkv register --dir ${a.dir} --credential alice`);
  io.json?.({ dir: a.dir, replicas: f.replicas, hsm: f.hsm, suite: f.suite, addresses: f.addresses, pids: f.pids });
  return EXIT.ok;
}

export async function fleetStatusCommand(dir: string, io: Io): Promise<number> {
  const f = readFleet(dir);
  const statuses = await fleetStatuses(dir);
  io.print(`fleet of ${f.replicas} in ${dir} (${f.hsm} HSMs${f.broken ? `, broken variant ${f.broken}` : ''})`);
  statuses.forEach((s, i) => {
    const where = `r${i} ${f.addresses[i]}`.padEnd(22);
    if (s === null) return io.print(`  ${where} down${f.pids[i] ? ` (pid ${f.pids[i]} does not answer)` : ''}`);
    const role = s.serving ? 'leader (serving)' : s.role;
    io.print(
      `  ${where} ${role.padEnd(16)} term ${s.term}, commit ${s.commitIndex}, applied ${s.lastApplied}, ` +
        `log ${s.logLength}, ${s.records} records${s.recovering ? ', recovering' : ''}, ` +
        `pid ${s.pid}, up ${Math.round(s.upMs / 1000)} s`,
    );
  });
  const up = statuses.filter((s) => s !== null).length;
  const serving = statuses.some((s) => s?.serving);
  io.print(`${up} of ${f.replicas} up; ${serving ? 'a leader serves' : 'no leader serves'}`);
  io.json?.({ dir, replicas: statuses.map((s, i) => s ?? { id: i, down: true }) });
  return up > f.replicas / 2 && serving ? EXIT.ok : EXIT.failed;
}

export async function fleetStartCommand(dir: string, id: number | undefined, io: Io): Promise<number> {
  const f = readFleet(dir);
  requireTokens(dir, f);
  if (id !== undefined && id >= f.replicas) throw new UsageError(`--id expected 0..${f.replicas - 1}`);
  const down = [...Array(f.replicas).keys()].filter((i) => !replicaRunning(f, i) && (id === undefined || id === i));
  for (const i of down) startReplica(dir, i);
  io.print(down.length ? `started ${down.map((i) => `r${i}`).join(', ')}` : 'nothing to start: every replica runs');
  io.json?.({ dir, started: down });
  return EXIT.ok;
}

export async function fleetDownCommand(dir: string, io: Io): Promise<number> {
  const stopped = await fleetDown(dir);
  io.print(`fleet in ${dir} down: ${stopped} replica process${stopped === 1 ? '' : 'es'} stopped, HSM tokens removed`);
  io.json?.({ dir, stopped });
  return EXIT.ok;
}

/** The password: the first line of stdin (a prompt that does not echo when stdin is a terminal). */
export async function readPassword(prompt = 'password: '): Promise<Bytes> {
  const tty = process.stdin.isTTY === true;
  if (tty) process.stderr.write(prompt);
  const rl = createInterface({ input: process.stdin, terminal: tty, output: tty ? process.stderr : undefined });
  if (tty) (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  const line = await new Promise<string | null>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(null));
  });
  rl.close();
  if (tty) process.stderr.write('\n');
  if (line === null || line === '') throw new UsageError('no password on stdin (echo PASSWORD | bkv ...)');
  return utf8(line);
}

export interface ClientArgs {
  readonly dir: string;
  readonly credential: string;
  readonly limit?: number;
}

function client(dir: string): { client: BkvClient; relay: HttpRelay } {
  const f = readFleet(dir);
  const relay = new HttpRelay(f.addresses);
  return { client: new BkvClient(fleetClientContext(f), relay, systemRng), relay };
}

function outcomeDoc(o: Outcome<unknown>): object {
  if (o.ok) return { ok: true };
  if (o.kind === 'WrongPassword') return { ok: false, outcome: 'WrongPassword', triesRemaining: o.triesRemaining };
  if (o.kind === 'Locked') return { ok: false, outcome: 'Locked', triesRemaining: 0 };
  return { ok: false, outcome: 'Fault', code: o.code };
}

export async function registerCommand(a: ClientArgs, io: Io): Promise<number> {
  const password = await readPassword();
  const { client: c } = client(a.dir);
  const key = generateBackupKey(systemRng);
  try {
    let o = await c.register(utf8(a.credential), password, key, a.limit);
    // the leader changed between the two frames: the RegisterFinish was refused unseen, so start again
    for (let k = 0; k < 3 && !o.ok && o.kind === 'Fault' && o.code === 'NotLeader'; k++) {
      o = await c.register(utf8(a.credential), password, key, a.limit);
    }
    if (!o.ok) {
      io.print(`register ${a.credential}: ${describeOutcome(o)}`);
      io.json?.({ credential: a.credential, ...outcomeDoc(o) });
      return EXIT.failed;
    }
    const digits = backupKeyToDigits(key);
    io.print(`registered ${a.credential} (guess limit ${a.limit ?? 10}); K = ${digits}`);
    io.json?.({ credential: a.credential, ok: true, key: digits, limit: a.limit ?? 10 });
    return EXIT.ok;
  } finally {
    closeConnections();
  }
}

export async function recoverCommand(a: ClientArgs, io: Io): Promise<number> {
  const password = await readPassword();
  const { client: c } = client(a.dir);
  try {
    const o = await c.recover(utf8(a.credential), password);
    if (o.ok) {
      const digits = backupKeyToDigits(o.value);
      io.print(`recovered ${a.credential}; K = ${digits}`);
      io.json?.({ credential: a.credential, ok: true, key: digits });
      return EXIT.ok;
    }
    io.print(`recover ${a.credential}: ${describeOutcome(o)}`);
    io.json?.({ credential: a.credential, ...outcomeDoc(o) });
    return EXIT.failed;
  } finally {
    closeConnections();
  }
}

export async function deleteCommand(a: ClientArgs, io: Io): Promise<number> {
  const { client: c } = client(a.dir);
  try {
    const o = await c.delete(utf8(a.credential));
    io.print(o.ok ? `deleted ${a.credential}` : `delete ${a.credential}: ${describeOutcome(o)}`);
    io.json?.({ credential: a.credential, ...outcomeDoc(o) });
    return o.ok ? EXIT.ok : EXIT.failed;
  } finally {
    closeConnections();
  }
}

export async function chaosCommand(a: Parsed, io: Io): Promise<number> {
  const { runChaos, FAULT_KINDS } = await import('../serve/chaos.ts');
  const broken = stringOption(a, 'broken') ?? null;
  if (broken !== null) {
    try {
      getBroken(broken);
    } catch (e) {
      throw new UsageError((e as Error).message); // an unknown name: the list of the known ones
    }
  }
  const listed = String(a.options.faults).split(',');
  if (listed.includes('none') && listed.length > 1) throw new UsageError('--faults none goes alone');
  const faults = FAULT_KINDS.filter((k) => listed.includes(k));
  const seed = stringOption(a, 'seed') ?? toHex(systemRng(6));
  const out = stringOption(a, 'out');
  const r = await runChaos({
    replicas: Number(a.options.replicas),
    seconds: Number(a.options.seconds),
    seed,
    faults,
    clients: Number(a.options.clients),
    hsm: choiceOption(a, 'hsm', ['memory', 'softhsm'] as const, 'memory'),
    broken,
    ...(out !== undefined && { out }),
    print: io.print,
  });
  io.json?.(r);
  if (broken !== null) {
    io.print(r.violations.length > 0 ? `broken variant ${broken}: caught` : `broken variant ${broken}: NOT caught`);
    return r.violations.length > 0 ? EXIT.ok : EXIT.failed;
  }
  return r.violations.length === 0 ? EXIT.ok : EXIT.failed;
}
