/**
 * A running fleet's directory (spec ch. 15.3):
 *
 *   D/fleet.json         what every process reads: the replicas' addresses, the HSM backend, the
 *                        suite, the key labels, the pinned keys, the pids of the running replicas,
 *                        the relay's address and pid
 *   D/keys.json          what a client pins (the fleet's channel key and OPAQUE server key)
 *   D/deployment/        the ceremony's record as `bkv audit` reads it (spec ch. 8): roots.json (what
 *                        an over-the-air client pins), log.json, bundles/epoch-0001.json (the bundle a
 *                        client validates), evidence/fleet-1.json
 *   D/relay/log, pid     the relay process's log, and its pid
 *   D/r<i>/state.chain   replica i's sealed durable state: its chain, a base then segments (host storage,
 *                        spec ch. 6.6.1; chain-file.ts)
 *   D/r<i>/token.json    replica i's memory HSM token (--hsm memory)
 *   D/r<i>/log           one line per event
 *   D/r<i>/events.jsonl  what left replica i's HSM, for the checkers (ghost events, spec ch. 12)
 *   D/tokens/            the SoftHSM2 token directory (--hsm softhsm), one token per replica
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError } from '../cli/exit.ts';
import { readJsonFile } from '../cli/json-file.ts';
import { fromHex } from '../crypto/bytes.ts';
import { SUITE_IDS, getSuite, type SuiteId } from '../crypto/suite.ts';
import {
  NAME,
  malformed,
  readArray,
  readBool,
  readChoice,
  readConstant,
  readHex,
  readInt,
  readObject,
  readString,
} from '../fleet/json.ts';
import type { ClientContext } from '../client/session.ts';
import { replicationLabels, type ReplicationLabels } from '../replication/provision.ts';
import { MAX_REPLICAS } from '../replication/raft.ts';
import type { VaultConfig } from '../vault/node.ts';
import { pinnedContext, vaultConfig } from '../vault/setup.ts';
import { writeAtomic } from './files.ts';
import { type ServeLimits, decodeLimits } from './wire.ts';

export const FLEET_FORMAT = 'bkv-fleet/1';
export const SOFTHSM_PIN = '1234';

export interface Timing {
  readonly heartbeatMs: number;
  readonly electionMinMs: number;
  readonly electionMaxMs: number;
  readonly expiryTickMs: number;
}

/**
 * The timers of a served replica. Elections wait 0.8-1.6 s: a loaded machine can hold a process
 * (a tsx start, a burst of fsyncs) for hundreds of ms, and a shorter timeout turned every such
 * pause into a change of leader.
 */
export const SERVE_TIMING: Timing = Object.freeze({
  heartbeatMs: 100,
  electionMinMs: 800,
  electionMaxMs: 1600,
  expiryTickMs: 500,
});

export interface FleetFile {
  readonly format: typeof FLEET_FORMAT;
  readonly replicas: number;
  readonly hsm: 'memory' | 'softhsm';
  readonly suite: SuiteId;
  readonly prefix: string;
  readonly sessionTtlMs: number;
  /** host:port of each replica: its peer and client endpoint. */
  readonly addresses: readonly string[];
  /** The pids of the replica processes (null: not running). */
  readonly pids: readonly (number | null)[];
  readonly timing: Timing;
  /** A deliberately broken variant every replica runs (src/broken/catalog.ts), for chaos runs. */
  readonly broken: string | null;
  /** The replicas accept the chaos harness's partition requests (POST /v1/admin/drop). */
  readonly chaosAdmin: boolean;
  /** The public keys a client pins (hex). */
  readonly keys: { readonly channelKey: string; readonly opaqueServerKey: string };
  /** Limits of the replicas' and the relay's endpoints in place of the defaults (spec ch. 15.4). */
  readonly limits?: Partial<ServeLimits>;
  /** The relay process: its address (the client endpoint) and pid (null: not running). Absent: no relay. */
  readonly relay?: { readonly address: string; readonly pid: number | null };
}

export const fleetPath = (dir: string) => join(dir, 'fleet.json');
/** A replica's sealed durable state in its directory (host storage: its chain, chain-file.ts). */
export const SEALED_FILE = 'state.chain';
export const replicaDir = (dir: string, i: number) => join(dir, `r${i}`);
export const relayDir = (dir: string) => join(dir, 'relay');
export const deploymentDir = (dir: string) => join(dir, 'deployment');
export const keysPath = (dir: string) => join(dir, 'keys.json');
export const tokenLabel = (i: number) => `bkv-r${i}`;
export const softHsmConf = (dir: string) => join(dir, 'tokens', 'softhsm2.conf');

export function readFleet(dir: string): FleetFile {
  const path = fleetPath(dir);
  if (!existsSync(path)) throw new EnvironmentError(`${path}: no fleet here (bkv fleet up --dir ${dir} makes one)`);
  return readJsonFile(path, decodeFleetFile);
}

const ADDRESS = /^[^\s:]+:\d{1,5}$/;
/** host:port, the port in 1..65535. */
function address(x: unknown, path: string): string {
  const a = readString(x, path, ADDRESS);
  readInt(Number(a.slice(a.lastIndexOf(':') + 1)), `${path} (its port)`, 1, 65_535);
  return a;
}
/** A pid of a process bkv started: never 1 (init), never one a signal would spread from (0, negative). */
const pid = (x: unknown, path: string) => (x === null ? null : readInt(x, path, 2));

/** fleet.json, every member checked (a hand-edited or damaged file is MalformedMessage naming the member). */
export function decodeFleetFile(x: unknown): FleetFile {
  const o = readObject(x, 'fleet', FLEET_MEMBERS, ['limits', 'relay']);
  readConstant(o.format, 'fleet.format', FLEET_FORMAT);
  const replicas = readInt(o.replicas, 'fleet.replicas', 1, MAX_REPLICAS);
  const list = (k: 'addresses' | 'pids') => {
    const a = readArray(o[k], `fleet.${k}`, replicas);
    if (a.length !== replicas) throw malformed(`fleet.${k}`, `expected ${replicas} elements, got ${a.length}`);
    return a;
  };
  const t = readObject(o.timing, 'fleet.timing', ['heartbeatMs', 'electionMinMs', 'electionMaxMs', 'expiryTickMs']);
  const ms = (k: keyof Timing) => readInt(t[k], `fleet.timing.${k}`, 1, 3_600_000);
  const keys = readObject(o.keys, 'fleet.keys', ['channelKey', 'opaqueServerKey']);
  const relay = o.relay === undefined ? undefined : readObject(o.relay, 'fleet.relay', ['address', 'pid']);
  return {
    format: FLEET_FORMAT,
    replicas,
    hsm: readChoice(o.hsm, 'fleet.hsm', ['memory', 'softhsm'] as const),
    suite: readChoice(o.suite, 'fleet.suite', SUITE_IDS),
    prefix: readString(o.prefix, 'fleet.prefix', NAME),
    sessionTtlMs: readInt(o.sessionTtlMs, 'fleet.sessionTtlMs', 1),
    addresses: list('addresses').map((a, i) => address(a, `fleet.addresses[${i}]`)),
    pids: list('pids').map((p, i) => pid(p, `fleet.pids[${i}]`)),
    timing: {
      heartbeatMs: ms('heartbeatMs'),
      electionMinMs: ms('electionMinMs'),
      electionMaxMs: ms('electionMaxMs'),
      expiryTickMs: ms('expiryTickMs'),
    },
    broken: o.broken === null ? null : readString(o.broken, 'fleet.broken', NAME),
    chaosAdmin: readBool(o.chaosAdmin, 'fleet.chaosAdmin'),
    keys: {
      channelKey: readHex(keys.channelKey, 'fleet.keys.channelKey', 32),
      opaqueServerKey: readHex(keys.opaqueServerKey, 'fleet.keys.opaqueServerKey'),
    },
    ...(o.limits !== undefined && { limits: decodeLimits(o.limits, 'fleet.limits') }),
    ...(relay && {
      relay: {
        address: address(relay.address, 'fleet.relay.address'),
        pid: pid(relay.pid, 'fleet.relay.pid'),
      },
    }),
  };
}

const FLEET_MEMBERS = [
  'format',
  'replicas',
  'hsm',
  'suite',
  'prefix',
  'sessionTtlMs',
  'addresses',
  'pids',
  'timing',
  'broken',
  'chaosAdmin',
  'keys',
];

export function writeFleet(dir: string, f: FleetFile): void {
  writeAtomic(fleetPath(dir), JSON.stringify(f, null, 2) + '\n');
}

export function fleetLabelsOf(f: FleetFile): ReplicationLabels {
  return replicationLabels(f.prefix);
}

export function fleetConfig(f: FleetFile): VaultConfig {
  return vaultConfig({ suite: getSuite(f.suite), labels: fleetLabelsOf(f), sessionTtlMs: f.sessionTtlMs });
}

/** What a client of this fleet pins. */
export function fleetClientContext(f: FleetFile): ClientContext {
  return pinnedContext(fleetConfig(f), {
    channelKey: fromHex(f.keys.channelKey),
    opaqueServerKey: fromHex(f.keys.opaqueServerKey),
  });
}

export function urlOf(address: string, path: string): string {
  return `http://${address}${path}`;
}
