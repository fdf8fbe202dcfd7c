/**
 * Test support for the witness service: witnesses on 127.0.0.1 (port 0) over temporary
 * directories, each closed by `closeAll`; fleets deployed on memory HSMs with a seeded rng; and
 * `rewrite`, which wraps a witness's handler to change what it serves on one route (a misbehaving
 * witness is built around the real one, never inside it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRng } from '../../src/crypto/rng.ts';
import { getSuite } from '../../src/crypto/suite.ts';
import { MemoryHsm } from '../../src/hsm/memory.ts';
import { type DeployedFleets, deployFleets } from '../../src/fleet/deployment.ts';
import { WitnessClient } from '../../src/fleet/witness-client.ts';
import { type RunningWitness, listenWitness, openWitnessService } from '../../src/fleet/witness-server.ts';
import type { WitnessHandler, WitnessService } from '../../src/fleet/witness-service.ts';

export const NS = 'meta.encrypted_backups.fleet_keys.v1';
export const START = Date.UTC(2026, 0, 1);

export interface TestWitness {
  readonly service: WitnessService;
  readonly url: string;
  readonly client: WitnessClient;
  readonly dir: string;
  close(): Promise<void>;
}

const running: RunningWitness[] = [];
const dirs: string[] = [];

export function tempDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `bkv-${name}-`));
  dirs.push(d);
  return d;
}

/** A witness clock: one second per reading, from a day after START (after every artifact's issuedAt). */
export function witnessClock(): () => number {
  let t = START + 24 * 3600 * 1000;
  return () => (t += 1000);
}

/** A witness over `dir` (a fresh one by default) whose key comes from `keySeed`; `wrap` changes what it serves. */
export async function startWitness(
  o: { dir?: string; keySeed?: string; wrap?: (h: WitnessHandler) => WitnessHandler; clock?: () => number } = {},
): Promise<TestWitness> {
  const dir = o.dir ?? tempDir('witness');
  const service = openWitnessService(dir, o.clock ?? witnessClock(), seededRng(o.keySeed ?? 'witness key'));
  const handler: WitnessHandler = (r) => service.handle(r);
  const r = await listenWitness(o.wrap ? o.wrap(handler) : handler, '127.0.0.1', 0);
  running.push(r);
  return { service, url: r.url, client: new WitnessClient(r.url, { timeoutMs: 5_000 }), dir, close: () => r.close() };
}

export async function closeAll(): Promise<void> {
  for (const r of running.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Two fleets (a rotation: three artifacts), one replica each, on memory HSMs; artifacts issued at START. */
export function planFleets(seed: string, namespace = NS): DeployedFleets {
  const rng = seededRng(seed);
  return deployFleets({
    namespace,
    suite: getSuite('ristretto255-SHA512'),
    replicas: 1,
    fleets: 2,
    openReplica: (fleetId, i) => ({ hsm: MemoryHsm.create(`${fleetId}-r${i}`, rng), prefix: `w/${fleetId}/r${i}` }),
    operator: { hsm: MemoryHsm.create('operator', rng), label: 'w/operator' },
    vendorHsm: MemoryHsm.create('vendor', rng),
    rng,
    startTime: START,
    rotationAfterMs: 0,
    migrationWindowMs: 0,
  });
}

/** Wraps a handler: for requests `match` selects, the JSON it serves is passed through `edit`. */
export function rewrite(
  match: (method: string, path: string) => boolean,
  edit: (json: any) => unknown,
): (h: WitnessHandler) => WitnessHandler {
  return (h) => (req) => {
    const res = h(req);
    if (res.status !== 200 || !match(req.method, decodeURIComponent(req.path))) return res;
    return { ...res, body: JSON.stringify(edit(JSON.parse(res.body))) };
  };
}
