/**
 * A fleet of replica processes on one machine (spec ch. 15.1):
 *
 *   fleetUp(dir, n, hsm)  makes the N tokens, runs the ceremony of ch. 7 on them in this process and
 *                         publishes its artifact as epoch 1 through a witness log (D/deployment/),
 *                         installs the peer key, writes D/fleet.json and D/keys.json, then starts the
 *                         N replicas (`bkv serve --dir D --id i`) and the relay (`bkv relay --dir D`),
 *                         each detached in a process group of its own, its output in D/r<i>/log or
 *                         D/relay/log, and waits until a leader serves and the relay answers
 *   startReplica(dir, i)  (re)starts replica i and records its pid in fleet.json; startRelay the same
 *   fleetStatus(dir)      GET /v1/status of each replica (or "down"); relayStatus, the relay's
 *   fleetDown(dir)        SIGTERM to each process group, SIGKILL after a grace period, then the
 *                         HSM tokens are removed (the fleet's keys with them): a fleet brought down
 *                         is gone; its logs stay
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { toHex } from '../crypto/bytes.ts';
import { systemRng } from '../crypto/rng.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { MemoryHsm, MemoryToken } from '../hsm/memory.ts';
import { encodeDeploymentFiles, writeDeploymentFiles } from '../fleet/files.ts';
import { runDeployment } from '../fleet/deployment.ts';
import { installPeerKey, replicationLabels } from '../replication/provision.ts';
import { pinnedClientContext, vaultConfig } from '../vault/setup.ts';
import { EnvironmentError } from '../cli/exit.ts';
import { ROOT } from '../cli/paths.ts';
import { fileMemoryHsm, saveToken, writeAtomic } from './files.ts';
import {
  FLEET_FORMAT,
  type FleetFile,
  SERVE_TIMING,
  SOFTHSM_PIN,
  deploymentDir,
  keysPath,
  readFleet,
  relayDir,
  replicaDir,
  softHsmConf,
  tokenLabel,
  urlOf,
  writeFleet,
} from './layout.ts';
import type { RelayStatus } from './relay-server.ts';
import { type ReplicaStatus, type ServeLimits, httpCall } from './wire.ts';

export interface FleetUpOptions {
  readonly dir: string;
  readonly replicas: number;
  readonly hsm: 'memory' | 'softhsm';
  readonly sessionTtlMs?: number;
  readonly broken?: string | null;
  readonly chaosAdmin?: boolean;
  /** Limits of the endpoints in place of the defaults (spec ch. 15.4), written to fleet.json. */
  readonly limits?: Partial<ServeLimits>;
  /** How long to wait for a serving leader. */
  readonly waitMs?: number;
}

/** Free ports on 127.0.0.1, found by listening on port 0 (released before the replicas bind them). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((resolveServer, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolveServer(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The suite a backend runs (SoftHSM has no ristretto255 DH: its OPAQUE AKE is on Curve25519). */
export function suiteFor(hsm: 'memory' | 'softhsm'): SuiteId {
  return hsm === 'softhsm' ? 'ristretto255-SHA512+Curve25519' : 'ristretto255-SHA512';
}

/** The namespace `fleet up` publishes its fleet's bundle in. */
export const FLEET_NAMESPACE = 'bkv.serve.fleet_keys';

/** Makes the tokens and deploys the fleet's keys in them, published as epoch 1; returns the pinned keys. */
async function provision(
  dir: string,
  n: number,
  backend: 'memory' | 'softhsm',
  prefix: string,
): Promise<FleetFile['keys']> {
  const suite = getSuite(suiteFor(backend));
  let hsms: Hsm[];
  let finish: () => void;
  if (backend === 'memory') {
    const tokens = Array.from({ length: n }, (_, i) => new MemoryToken(tokenLabel(i)));
    hsms = tokens.map((t) => new MemoryHsm(t, systemRng));
    finish = () => tokens.forEach((t, i) => saveToken(join(replicaDir(dir, i), 'token.json'), t));
  } else {
    const { createTokenDir, initTokenInProcess, loadSoftHsmModule, finalizeSoftHsm } = await import('../hsm/pkcs11.ts');
    const { SoftHsm } = await import('../hsm/softhsm.ts');
    const conf = createTokenDir(join(dir, 'tokens'), [], SOFTHSM_PIN);
    process.env.SOFTHSM2_CONF = conf;
    const module = loadSoftHsmModule();
    for (let i = 0; i < n; i++) initTokenInProcess(module, tokenLabel(i), SOFTHSM_PIN);
    hsms = Array.from({ length: n }, (_, i) => new SoftHsm({ token: tokenLabel(i), pin: SOFTHSM_PIN }));
    finish = () => {
      for (const h of hsms) h.close();
      finalizeSoftHsm();
    };
  }
  // the witness, the operator and the vendor are other parties: here, memory HSMs of this process, gone after it
  const d = runDeployment({
    namespace: FLEET_NAMESPACE,
    suite,
    replicas: n,
    fleets: 1,
    openReplica: (_fleetId, i) => ({ hsm: hsms[i]!, prefix }),
    operator: { hsm: MemoryHsm.create('bkv-operator', systemRng), label: 'operator/counter-signing' },
    vendorHsm: MemoryHsm.create('bkv-vendor', systemRng),
    witnessHsm: MemoryHsm.create('bkv-witness', systemRng),
    rng: systemRng,
    startTime: Date.now(),
  });
  const labels = replicationLabels(prefix);
  for (const hsm of hsms) installPeerKey(hsm, labels);
  writeDeploymentFiles(deploymentDir(dir), encodeDeploymentFiles(d.record));
  const config = vaultConfig({ suite, labels });
  const ctx = pinnedClientContext(hsms[0]!, config);
  finish();
  return { channelKey: toHex(ctx.channelKey), opaqueServerKey: toHex(ctx.opaqueServerKey) };
}

/** Deploys and starts a fleet in `dir` (new or empty). */
export async function fleetUp(o: FleetUpOptions, print: (line: string) => void): Promise<FleetFile> {
  const dir = resolve(o.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new EnvironmentError(`${dir} is not empty (a fleet is there already? bkv fleet down --dir ${o.dir})`);
  }
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < o.replicas; i++) mkdirSync(replicaDir(dir, i), { recursive: true });
  const prefix = 'bkv-serve';
  const keys = await provision(dir, o.replicas, o.hsm, prefix);
  const ports = await freePorts(o.replicas + 1);
  const relayPort = ports.pop()!;
  const fleet: FleetFile = {
    format: FLEET_FORMAT,
    replicas: o.replicas,
    hsm: o.hsm,
    suite: suiteFor(o.hsm),
    prefix,
    sessionTtlMs: o.sessionTtlMs ?? 60_000,
    addresses: ports.map((p) => `127.0.0.1:${p}`),
    pids: ports.map(() => null),
    timing: SERVE_TIMING,
    broken: o.broken ?? null,
    chaosAdmin: o.chaosAdmin === true,
    keys,
    ...(o.limits !== undefined && Object.keys(o.limits).length > 0 && { limits: o.limits }),
    relay: { address: `127.0.0.1:${relayPort}`, pid: null },
  };
  writeFleet(dir, fleet);
  writeAtomic(keysPath(dir), JSON.stringify({ suite: fleet.suite, ...keys }, null, 2) + '\n');
  for (let i = 0; i < o.replicas; i++) startReplica(dir, i);
  startRelay(dir);
  const leader = await waitForLeader(dir, o.waitMs ?? 20_000);
  // a fleet that does not come up is stopped (its logs stay), not left running behind an error
  const fail = async (why: string) => {
    await fleetDown(dir);
    return new EnvironmentError(`${why}; the fleet was stopped (its logs stay)`);
  };
  if (leader === null) throw await fail(`no leader served within ${(o.waitMs ?? 20_000) / 1000} s (see ${dir}/r*/log)`);
  if (!(await waitForRelay(dir, 10_000))) throw await fail(`the relay did not answer (see ${dir}/relay/log)`);
  print(
    `fleet of ${o.replicas} up in ${dir} (${o.hsm} HSMs, suite ${fleet.suite}): ` +
      `leader r${leader.id} in term ${leader.term}`,
  );
  return readFleet(dir);
}

/** Starts replica i detached (its own process group), appends its output to D/r<i>/log, records its pid. */
export function startReplica(dir: string, i: number): number {
  const f = readFleet(dir);
  const pid = spawnBkv(dir, f, replicaDir(dir, i), ['serve', '--dir', dir, '--id', String(i)]);
  const pids = [...readFleet(dir).pids];
  pids[i] = pid;
  writeFleet(dir, { ...readFleet(dir), pids });
  return pid;
}

/** Starts the relay detached (its own process group), appends its output to D/relay/log, records its pid. */
export function startRelay(dir: string): number {
  const f = readFleet(dir);
  if (f.relay === undefined) throw new EnvironmentError(`${dir}: this fleet has no relay`);
  mkdirSync(relayDir(dir), { recursive: true });
  const pid = spawnBkv(dir, f, relayDir(dir), ['relay', '--dir', dir]);
  const g = readFleet(dir);
  writeFleet(dir, { ...g, relay: { address: g.relay!.address, pid } });
  return pid;
}

/** `bkv args` detached, its output appended to `logDir`/log; its pid. */
function spawnBkv(dir: string, f: FleetFile, logDir: string, args: string[]): number {
  const log = openSync(join(logDir, 'log'), 'a');
  const bin = join(ROOT, 'bin', 'bkv.js');
  const child = spawn(process.execPath, [bin, ...args], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, ...(f.hsm === 'softhsm' && { SOFTHSM2_CONF: softHsmConf(dir) }) },
  });
  closeSync(log);
  child.unref();
  return child.pid!;
}

/** Opens replica i's HSM, as `bkv serve` does. */
export async function openReplicaHsm(dir: string, f: FleetFile, i: number): Promise<Hsm> {
  if (f.hsm === 'memory') return fileMemoryHsm(join(replicaDir(dir, i), 'token.json'), systemRng);
  process.env.SOFTHSM2_CONF = softHsmConf(dir);
  const { SoftHsm } = await import('../hsm/softhsm.ts');
  return new SoftHsm({ token: tokenLabel(i), pin: SOFTHSM_PIN });
}

/** Each replica's status, or null when it does not answer. */
export async function fleetStatuses(dir: string, timeoutMs = 1000): Promise<(ReplicaStatus | null)[]> {
  const f = readFleet(dir);
  return Promise.all(
    f.addresses.map(async (a) => {
      try {
        const r = await httpCall(urlOf(a, '/v1/status'), 'GET', null, timeoutMs);
        return r.status === 200 ? (JSON.parse(r.body) as ReplicaStatus) : null;
      } catch {
        return null;
      }
    }),
  );
}

/** The relay's status, or null when it does not answer (or the fleet has none). */
export async function relayStatus(dir: string, timeoutMs = 1000): Promise<RelayStatus | null> {
  const f = readFleet(dir);
  if (f.relay === undefined) return null;
  try {
    const r = await httpCall(urlOf(f.relay.address, '/v1/status'), 'GET', null, timeoutMs);
    return r.status === 200 ? (JSON.parse(r.body) as RelayStatus) : null;
  } catch {
    return null;
  }
}

async function waitForRelay(dir: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await relayStatus(dir, 500)) !== null) return true;
    await sleep(100);
  }
  return false;
}

/** The serving leader with the highest term, once one serves (null past `ms`). */
export async function waitForLeader(dir: string, ms: number): Promise<ReplicaStatus | null> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = await fleetStatuses(dir, 500);
    const leaders = s.filter((x): x is ReplicaStatus => x !== null && x.serving);
    if (leaders.length > 0) return leaders.sort((a, b) => b.term - a.term)[0]!;
    await sleep(100);
  }
  return null;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Replica i's process (the pid fleet.json records) exists, answering or not (it may be starting, or paused). */
export function replicaRunning(f: FleetFile, i: number): boolean {
  const pid = f.pids[i];
  return pid !== null && pid !== undefined && alive(pid);
}

/** The relay's process (the pid fleet.json records) exists. */
export function relayRunning(f: FleetFile): boolean {
  const pid = f.relay?.pid;
  return pid !== null && pid !== undefined && alive(pid);
}

/** Waits until replica i answers its status (true), or `ms` pass (false). */
export async function waitForReplica(dir: string, i: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await fleetStatuses(dir, 500))[i] !== null) return true;
    await sleep(100);
  }
  return false;
}

/** Whether process `pid` runs bkv (bin/bkv.js on its command line); true where /proc cannot tell. */
function isBkv(pid: number): boolean {
  if (!existsSync('/proc/self')) return true; // no /proc (not Linux): the pid file is all there is
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.endsWith(join('bin', 'bkv.js')));
  } catch {
    return false; // gone
  }
}

/** The process runs: it exists and is not a zombie (a killed child its parent has not reaped yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a pid reused by another program is not bkv's; nor is a zombie (its command line is empty)
  return isBkv(pid);
}

/** Sends `signal` to replica i's process group (it is its leader: spawned detached). */
export function signalReplica(f: FleetFile, i: number, signal: NodeJS.Signals): boolean {
  return signalGroup(f.pids[i], signal);
}

/** Sends `signal` to the relay's process group. */
export function signalRelay(f: FleetFile, signal: NodeJS.Signals): boolean {
  return signalGroup(f.relay?.pid, signal);
}

/**
 * Signals the process group of `pid` if it is one of bkv's (its command line names bin/bkv.js):
 * fleet.json is the host's file, and a pid of 1, or one reused by another program since, must not
 * turn `fleet down` into a kill of whatever it names.
 */
function signalGroup(pid: number | null | undefined, signal: NodeJS.Signals): boolean {
  if (pid === null || pid === undefined || !Number.isSafeInteger(pid) || pid < 2 || !isBkv(pid)) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops every replica and the relay (SIGTERM, then SIGKILL after `graceMs`), removes the tokens;
 * returns how many replicas were running.
 */
export async function fleetDown(dir: string, graceMs = 2000): Promise<number> {
  const f = readFleet(dir);
  let stopped = 0;
  for (let i = 0; i < f.replicas; i++) {
    if (replicaRunning(f, i)) stopped++;
    signalReplica(f, i, 'SIGCONT');
    signalReplica(f, i, 'SIGTERM');
  }
  signalRelay(f, 'SIGTERM');
  const pids = [...f.pids, f.relay?.pid ?? null];
  const end = Date.now() + graceMs;
  while (Date.now() < end && pids.some((p) => p !== null && alive(p))) await sleep(50);
  for (let i = 0; i < f.replicas; i++) signalReplica(f, i, 'SIGKILL');
  signalRelay(f, 'SIGKILL');
  const relay = f.relay && { relay: { address: f.relay.address, pid: null } };
  writeFleet(dir, { ...f, pids: f.pids.map(() => null), ...relay });
  rmSync(join(dir, 'tokens'), { recursive: true, force: true });
  for (let i = 0; i < f.replicas; i++) rmSync(join(replicaDir(dir, i), 'token.json'), { force: true });
  return stopped;
}

/** Refuses a directory that holds no fleet or a fleet already brought down. */
export function requireTokens(dir: string, f: FleetFile): void {
  const there =
    f.hsm === 'memory' ? existsSync(join(replicaDir(dir, 0), 'token.json')) : existsSync(join(dir, 'tokens'));
  if (!there) throw new VaultError('KeyNotFound', `${dir}: the fleet's tokens are gone (it was brought down)`);
}
