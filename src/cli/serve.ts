/**
 * The commands of a running fleet (spec ch. 15): `bkv serve`, `bkv relay`, `bkv fleet
 * up|status|start|down`, and the client commands `bkv register`, `bkv recover`, `bkv delete`
 * against it (through its relay: client-target.ts). A password is read from stdin (a prompt that
 * does not echo on a terminal), never from the command line.
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
  relayRunning,
  relayStatus,
  replicaRunning,
  requireTokens,
  startRelay,
  startReplica,
} from '../serve/fleet.ts';
import { endpointRelay } from '../serve/http-relay.ts';
import { deploymentDir, keysPath, readFleet, relayDir, replicaDir } from '../serve/layout.ts';
import { CLIENT_TIMEOUT_MS, RelayServer } from '../serve/relay-server.ts';
import { ReplicaServer } from '../serve/replica-server.ts';
import { type ServeLimits, closeConnections } from '../serve/wire.ts';
import { choiceOption, type Parsed, stringOption, UsageError } from './args.ts';
import { type TargetArgs, resolveTarget } from './client-target.ts';
import type { Io } from './command.ts';
import { EnvironmentError, EXIT } from './exit.ts';

/** `bkv serve --dir D --id I`: runs replica I of the fleet in D until SIGTERM or SIGINT. */
export async function serve(dir: string, id: number): Promise<number> {
  const f = readFleet(dir);
  if (id >= f.replicas)
    throw new UsageError(`--id expected 0..${f.replicas - 1} (the fleet has ${f.replicas} replicas)`);
  requireTokens(dir, f);
  lockProcess(join(replicaDir(dir, id), 'pid'), `replica ${id} of ${dir}`);
  const hsm = await openReplicaHsm(dir, f, id);
  const rules = f.broken === null ? RULES : brokenRules(f.broken);
  const server = new ReplicaServer({ dir, id, fleet: f, hsm, rules, ...(f.limits && { limits: f.limits }) });
  await server.start();
  await untilStopped(() => server.stop(), f.chaosAdmin);
  return EXIT.ok;
}

export interface RelayArgs {
  readonly dir?: string;
  readonly listen?: string;
  readonly replicas?: string;
}

/**
 * `bkv relay --dir D` (the address and the replicas from fleet.json) or `bkv relay --listen
 * host:port --replicas host:port,...`: the relay process, until SIGTERM or SIGINT.
 */
export async function relay(a: RelayArgs): Promise<number> {
  const f = a.dir === undefined ? null : readFleet(a.dir);
  const listen = a.listen ?? f?.relay?.address;
  const replicas = a.replicas?.split(',') ?? f?.addresses;
  if (listen === undefined || replicas === undefined)
    throw new UsageError('relay needs --dir D (a fleet with a relay), or --listen host:port --replicas host:port,...');
  for (const x of [listen, ...replicas])
    if (!/^[^\s/]+:\d{1,5}$/.test(x)) throw new UsageError(`expected host:port, got ${JSON.stringify(x)}`);
  if (a.dir !== undefined) lockProcess(join(relayDir(a.dir), 'pid'), `the relay of ${a.dir}`);
  const server = new RelayServer({ listen, replicas, ...(f?.limits && { limits: f.limits }) });
  await server.start();
  await untilStopped(() => server.stop(), f?.chaosAdmin === true);
  return EXIT.ok;
}

/** Resolves once `stop` has run after SIGTERM or SIGINT (or, for a chaos run's process, once its parent is gone). */
function untilStopped(stop: () => Promise<void>, withParent: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const once = () => {
      if (stopping) return;
      stopping = true;
      void stop().then(resolve);
    };
    process.once('SIGTERM', once);
    process.once('SIGINT', once);
    // a chaos run's processes end with the harness that started them, however the harness ends
    const parent = process.ppid;
    if (withParent) setInterval(() => process.ppid !== parent && once(), 500).unref();
  });
}

/** One process per role: `path` names the pid of the one that runs it; another one still alive is refused. */
function lockProcess(path: string, what: string): void {
  const other = existsSync(path) ? Number(readFileSync(path, 'utf8')) : NaN;
  if (Number.isInteger(other) && other !== process.pid) {
    let running = true;
    try {
      process.kill(other, 0);
    } catch {
      running = false;
    }
    if (running) throw new EnvironmentError(`${what} already runs (pid ${other})`);
  }
  writeFileSync(path, String(process.pid));
}

export interface FleetUpArgs {
  readonly dir: string;
  readonly replicas: number;
  readonly hsm: 'memory' | 'softhsm';
  readonly sessionTtlMs?: number;
  readonly limits?: Partial<ServeLimits>;
}

export async function fleetUpCommand(a: FleetUpArgs, io: Io): Promise<number> {
  const f = await fleetUp(a, io.print);
  const url = `http://${f.relay!.address}`;
  const dep = deploymentDir(a.dir);
  io.print(`client endpoint (the relay, pid ${f.relay!.pid}): ${url}`);
  io.print(`replicas: ${f.addresses.map((x, i) => `r${i} ${x}`).join(', ')}`);
  io.print(`logs: ${a.dir}/r<i>/log, ${a.dir}/relay/log`);
  io.print(`pinned keys: ${keysPath(a.dir)}; bundle: ${dep}/bundles/epoch-0001.json with ${dep}/roots.json`);
  io.print(`ceremony record (bkv audit ${dep}): ${dep}`);
  io.print(`next: echo PASSWORD | bkv register --vault ${url} --keys ${keysPath(a.dir)} --credential alice`);
  io.json?.({
    dir: a.dir,
    replicas: f.replicas,
    hsm: f.hsm,
    suite: f.suite,
    endpoint: url,
    relay: f.relay,
    addresses: f.addresses,
    pids: f.pids,
  });
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
  const r = await relayStatus(dir);
  if (f.relay !== undefined) {
    const where = `relay ${f.relay.address}`.padEnd(22);
    if (r === null) io.print(`  ${where} down${f.relay.pid ? ` (pid ${f.relay.pid} does not answer)` : ''}`);
    else
      io.print(
        `  ${where} ${'relaying'.padEnd(16)} to r${r.leaderGuess} first, ${r.frames.answered} frames answered, ` +
          `${r.frames.refused} refused, ${r.frames.lost} lost, pid ${r.pid}, up ${Math.round(r.upMs / 1000)} s`,
      );
  }
  const up = statuses.filter((s) => s !== null).length;
  const serving = statuses.some((s) => s?.serving);
  const relayed = f.relay === undefined || r !== null;
  io.print(
    `${up} of ${f.replicas} up; ${serving ? 'a leader serves' : 'no leader serves'}` +
      (f.relay === undefined ? '' : `; the relay ${r === null ? 'is down' : `serves http://${f.relay.address}`}`),
  );
  io.json?.({ dir, replicas: statuses.map((s, i) => s ?? { id: i, down: true }), relay: r ?? { down: true } });
  return up > f.replicas / 2 && serving && relayed ? EXIT.ok : EXIT.failed;
}

export async function fleetStartCommand(dir: string, id: number | undefined, io: Io): Promise<number> {
  const f = readFleet(dir);
  requireTokens(dir, f);
  if (id !== undefined && id >= f.replicas) throw new UsageError(`--id expected 0..${f.replicas - 1}`);
  const down = [...Array(f.replicas).keys()].filter((i) => !replicaRunning(f, i) && (id === undefined || id === i));
  for (const i of down) startReplica(dir, i);
  const relayDown = id === undefined && f.relay !== undefined && !relayRunning(f);
  if (relayDown) startRelay(dir);
  const started = [...down.map((i) => `r${i}`), ...(relayDown ? ['the relay'] : [])];
  io.print(started.length ? `started ${started.join(', ')}` : 'nothing to start: every process runs');
  io.json?.({ dir, started: down, relay: relayDown });
  return EXIT.ok;
}

export async function fleetDownCommand(dir: string, io: Io): Promise<number> {
  const stopped = await fleetDown(dir);
  const relayed = readFleet(dir).relay === undefined ? '' : ' and the relay';
  const what = `${stopped} replica process${stopped === 1 ? '' : 'es'}${relayed}`;
  io.print(`fleet in ${dir} down: ${what} stopped, HSM tokens removed`);
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

export interface ClientArgs extends TargetArgs {
  readonly credential: string;
  readonly limit?: number;
}

/** A client of the endpoint the arguments name (client-target.ts): one POST per frame, never resent. */
function client(a: ClientArgs): { c: BkvClient; describe: (o: Outcome<unknown>) => string } {
  const t = resolveTarget(a, Date.now());
  const c = new BkvClient(t.context, endpointRelay(t.address, CLIENT_TIMEOUT_MS), systemRng);
  const describe = (o: Outcome<unknown>) =>
    describeOutcome(o) +
    (!o.ok && o.kind === 'Fault' && o.code === 'Unavailable'
      ? ` (no answer from the vault at http://${t.address})`
      : '');
  return { c, describe };
}

function outcomeDoc(o: Outcome<unknown>): object {
  if (o.ok) return { ok: true };
  if (o.kind === 'WrongPassword') return { ok: false, outcome: 'WrongPassword', triesRemaining: o.triesRemaining };
  if (o.kind === 'Locked') return { ok: false, outcome: 'Locked', triesRemaining: 0 };
  return { ok: false, outcome: 'Fault', code: o.code };
}

export async function registerCommand(a: ClientArgs, io: Io): Promise<number> {
  const { c, describe } = client(a);
  const password = await readPassword();
  const key = generateBackupKey(systemRng);
  try {
    let o = await c.register(utf8(a.credential), password, key, a.limit);
    // the leader changed between the two frames: the RegisterFinish was refused unseen, so start again
    for (let k = 0; k < 3 && !o.ok && o.kind === 'Fault' && o.code === 'NotLeader'; k++) {
      o = await c.register(utf8(a.credential), password, key, a.limit);
    }
    if (!o.ok) {
      io.print(`register ${a.credential}: ${describe(o)}`);
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
  const { c, describe } = client(a);
  const password = await readPassword();
  try {
    const o = await c.recover(utf8(a.credential), password);
    if (o.ok) {
      const digits = backupKeyToDigits(o.value);
      io.print(`recovered ${a.credential}; K = ${digits}`);
      io.json?.({ credential: a.credential, ok: true, key: digits });
      return EXIT.ok;
    }
    io.print(`recover ${a.credential}: ${describe(o)}`);
    io.json?.({ credential: a.credential, ...outcomeDoc(o) });
    return EXIT.failed;
  } finally {
    closeConnections();
  }
}

export async function deleteCommand(a: ClientArgs, io: Io): Promise<number> {
  const { c, describe } = client(a);
  try {
    const o = await c.delete(utf8(a.credential));
    io.print(o.ok ? `deleted ${a.credential}` : `delete ${a.credential}: ${describe(o)}`);
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
