/**
 * Where the time of a served recovery goes (bench suite `served`), and the targets of issue 17 §4.
 *
 *   unit costs   medians, measured in this process right after the cell of one client of each
 *                fleet (so under the load that cell saw): one save as a served replica writes it
 *                (src/serve/chain-file.ts `FileChainStorage.append`: a record written at the end of
 *                its chain file, fsync) of as many bytes as a leader's save wrote during the cell
 *                (GET /v1/status `hostBytes` over `persists`); one HSM counter advance on a SoftHSM token and on the
 *                file-backed memory HSM (`fileMemoryHsm`: the token rewritten atomically); the
 *                server side of one recovery (the single-process vault's `deliver`, its HSM counter
 *                calls taken out) and the client side (the rest of the whole recovery); the HTTP
 *                round trips to the leader are measured after every cell (bench/suites/served.ts)
 *   counts       per recovery, from the cell of one client: the leader's sealed saves and a
 *                follower's (GET /v1/status `persists`), HSM counter advances per save (the
 *                simulator's count over the same step functions), 2 client frames (each on a
 *                connection of its own), and with followers 2 commits, each an AppendEntries and
 *                its answer on kept-alive connections
 *   breakdown    the serial path of one recovery at one client:
 *                  fsync        (leader saves + follower saves) x save
 *                  HSM          (leader saves + follower saves) x counters per save x counter advance
 *                  crypto       server side + client side
 *                  network      2 x fresh round trip + (followers ? 2 x kept-alive round trip : 0)
 *                  replica CPU  the leader's CPU per recovery (/proc) beyond the server crypto, plus a
 *                               follower's: sealing the durable state, JSON, HTTP, peer MACs
 *                each as a share of the measured p50; the rest is waiting (for a core on a shared
 *                machine, for the disk) and what the estimates miss; it can come out negative
 *                where they overlap (the replica CPU includes the CPU side of its writes)
 * @module
 */
import { join } from 'node:path';
import type { Rng } from '../../src/crypto/bytes.ts';
import { getSuite } from '../../src/crypto/suite.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import { MemoryHsm, MemoryToken } from '../../src/hsm/memory.ts';
import { deployReplicatedFleet } from '../../src/replication/provision.ts';
import { FileChainStorage } from '../../src/serve/chain-file.ts';
import { fileMemoryHsm, saveToken } from '../../src/serve/files.ts';
import { suiteFor } from '../../src/serve/fleet.ts';
import { keepSoftHsmConf } from '../harness.ts';
import { type Backend, percentile } from './served-fleet.ts';
import type { ServedCell } from './served.ts';
import { registeredVault, timingHsm } from './vault.ts';

export interface UnitCosts {
  readonly runs: number;
  /** The bytes of one save (what a leader's save wrote to its chain file during the cell, on average). */
  readonly saveBytes: number;
  /** One save of that size (an append: write, fsync), ms. */
  readonly saveMs: number;
  /** One HSM counter advance on the backend (file-backed memory HSM: the token rewritten atomically). */
  readonly counterMs: number;
  /** The vault side of one recovery without its HSM counter calls, ms. */
  readonly serverCryptoMs: number;
  /** The client side of one recovery (whole recovery minus vault side), ms. */
  readonly clientCryptoMs: number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function medianOf(runs: number, f: (k: number) => void): number {
  const ms: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    f(k);
    ms.push(performance.now() - t0);
  }
  return round3(percentile(ms, 50));
}

async function cryptoCost(hsm: Hsm, backend: Backend, rng: Rng, runs: number) {
  const t = timingHsm(hsm);
  const v = await registeredVault(t.hsm, suiteFor(backend), rng, 'served-costs');
  await v.recover(); // warm
  const server: number[] = [];
  const client: number[] = [];
  for (let k = 0; k < runs; k++) {
    t.spent.clear();
    const t0 = performance.now();
    const vaultMs = await v.recover();
    const whole = performance.now() - t0;
    const counters = (t.spent.get('advanceCounter')?.ms ?? 0) + (t.spent.get('readCounter')?.ms ?? 0);
    server.push(vaultMs - counters);
    client.push(whole - vaultMs);
  }
  return { serverCryptoMs: round3(percentile(server, 50)), clientCryptoMs: round3(percentile(client, 50)) };
}

/**
 * The unit costs of one backend (the module header), medians of `runs` samples (the crypto of
 * runs / 4 recoveries); files in `dir`, SoftHSM in a private token directory. Measured right
 * after a cell, so that they see the machine as the cell did.
 */
export async function measureUnitCosts(
  dir: string,
  backend: Backend,
  runs: number,
  saveBytes: number,
  rng: Rng,
): Promise<UnitCosts> {
  const blob = rng(saveBytes);
  const chain = new FileChainStorage(join(dir, 'unit-chain'));
  chain.save(rng(64));
  const saveMs = medianOf(runs, () => chain.append(blob));
  const cryptoRuns = Math.max(2, Math.round(runs / 4));
  const anchor = (hsm: Hsm) => medianOf(runs, (k) => hsm.advanceCounter('served-costs#anchor', BigInt(k + 1)));
  if (backend === 'memory') {
    const token = new MemoryToken('served-costs');
    deployReplicatedFleet([new MemoryHsm(token, rng)], getSuite(suiteFor('memory')), 'served-costs', rng);
    const tokenPath = join(dir, 'unit-token.json');
    saveToken(tokenPath, token);
    const counterMs = anchor(fileMemoryHsm(tokenPath, rng));
    const crypto = await cryptoCost(MemoryHsm.create('served-costs', rng), 'memory', rng, cryptoRuns);
    return { runs, saveBytes, saveMs, counterMs, ...crypto };
  }
  const restore = keepSoftHsmConf();
  const { createPrivateTokens } = await import('../../src/hsm/private-tokens.ts');
  const tokens = createPrivateTokens(['served-counter', 'served-crypto']);
  try {
    const counterHsm = tokens.open('served-counter');
    const counterMs = anchor(counterHsm);
    counterHsm.close();
    const cryptoHsm = tokens.open('served-crypto');
    const crypto = await cryptoCost(cryptoHsm, 'softhsm', rng, cryptoRuns);
    cryptoHsm.close();
    return { runs, saveBytes, saveMs, counterMs, ...crypto };
  } finally {
    tokens.dispose();
    restore();
  }
}

export type Part = 'fsync' | 'hsm' | 'crypto' | 'network' | 'replicaCpu' | 'rest';

export interface Breakdown {
  readonly backend: Backend;
  readonly replicas: number;
  /** The measured p50 at one client, ms. */
  readonly p50Ms: number;
  readonly counts: {
    readonly leaderSaves: number;
    readonly followerSaves: number;
    readonly countersPerSave: number | null;
    readonly freshRoundTrips: number;
    readonly keptAliveRoundTrips: number;
  };
  /** ms per recovery on the serial path, and its share of p50 (%). */
  readonly parts: Record<Part, { ms: number; percent: number }>;
}

/** The breakdown of each fleet configuration that has a one-client cell (the module header). */
export function computeBreakdowns(cells: readonly ServedCell[]): Breakdown[] {
  const out: Breakdown[] = [];
  for (const c of cells) {
    const k = c.unitCosts;
    if (c.runtime !== 'processes' || c.clients !== 1 || c.p50Ms === null || k === undefined) continue;
    const sims = cells.filter((s) => s.runtime === 'simulator' && s.backend === c.backend);
    const sim = sims.find((s) => s.replicas === c.replicas) ?? sims[0];
    const countersPerSave = sim?.countersPerSave ?? null;
    const followerSaves = c.replicas > 1 ? (c.followerPersists ?? 0) : 0;
    const saves = (c.leaderPersists ?? 0) + followerSaves;
    const keptAlive = c.replicas > 1 ? 2 : 0;
    const rt = c.roundTrip;
    const cpu = c.cpuMs;
    const ms: Record<Exclude<Part, 'rest'>, number> = {
      fsync: saves * k.saveMs,
      hsm: saves * (countersPerSave ?? 0) * k.counterMs,
      crypto: k.serverCryptoMs + k.clientCryptoMs,
      network: rt === undefined ? 0 : 2 * rt.freshMs + keptAlive * rt.keptAliveMs,
      // what the leader (and a follower, on the path of each commit) computes beyond the server crypto
      replicaCpu: cpu ? Math.max(0, cpu.leader - k.serverCryptoMs) + (cpu.follower ?? 0) : 0,
    };
    const known = Object.values(ms).reduce((a, b) => a + b, 0);
    const part = (x: number) => ({ ms: round3(x), percent: Math.round((x / c.p50Ms!) * 100) });
    out.push({
      backend: c.backend,
      replicas: c.replicas,
      p50Ms: c.p50Ms,
      counts: {
        leaderSaves: c.leaderPersists ?? 0,
        followerSaves,
        countersPerSave,
        freshRoundTrips: 2,
        keptAliveRoundTrips: keptAlive,
      },
      parts: {
        fsync: part(ms.fsync),
        hsm: part(ms.hsm),
        crypto: part(ms.crypto),
        network: part(ms.network),
        replicaCpu: part(ms.replicaCpu),
        rest: part(c.p50Ms - known),
      },
    });
  }
  return out;
}

export interface ServedTarget {
  readonly id: string;
  readonly target: string;
  readonly value: number | null;
  /** met when `value` is at least `min` (throughput kept) or below `max` (tail latency). */
  readonly bound: { readonly min?: number; readonly max?: number };
  readonly met: boolean | null;
}

/** Issue 17 §4, at 32 clients: 5 replicas keep >= 70% of one replica's recoveries per second; p99 < 10 x p50. */
export function computeTargets(cells: readonly ServedCell[]): ServedTarget[] {
  const at = (backend: Backend, replicas: number, clients: number) =>
    cells.find(
      (c) => c.runtime === 'processes' && c.backend === backend && c.replicas === replicas && c.clients === clients,
    );
  const out: ServedTarget[] = [];
  for (const backend of ['softhsm', 'memory'] as const) {
    const [one, five] = [at(backend, 1, 32), at(backend, 5, 32)];
    const value = one && five ? round3(five.perSecond / one.perSecond) : null;
    out.push({
      id: `served/${backend}/5-keeps-70%`,
      target: `${backend}: 5 replicas keep at least 70% of one replica's recoveries per second at 32 clients`,
      value,
      bound: { min: 0.7 },
      met: value === null ? null : value >= 0.7,
    });
    for (const replicas of [1, 3, 5]) {
      const c = at(backend, replicas, 32);
      const v = c && c.p50Ms && c.p99Ms !== null ? round3(c.p99Ms / c.p50Ms) : null;
      out.push({
        id: `served/${backend}/${replicas}/p99-under-10x-p50`,
        target: `${backend} ${replicas} replica${replicas > 1 ? 's' : ''}: p99 under 10x p50 at 32 clients`,
        value: v,
        bound: { max: 10 },
        met: v === null ? null : v < 10,
      });
    }
  }
  return out;
}
