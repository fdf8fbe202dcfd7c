/**
 * Bench suite `scale`: the cost of one recovery as the number of registered credentials grows
 * (issue 19). 3 replicas in the simulator, memory HSMs and SoftHSM, every message DELAY_MS of
 * simulated time, the replicas snapshotting as served ones do (DEFAULT_SNAPSHOT_EVERY entries or
 * DEFAULT_SNAPSHOT_EVERY_BYTES bytes, and no sooner than DEFAULT_SNAPSHOT_GROWTH entries a record).
 *
 *   a run      a fresh fleet (`SimFleet`, the monitor off); a serving leader; CLIENTS simulated
 *              clients register with OPAQUE (untimed).
 *   the fill   (untimed) up to SIZE credentials, by the snapshot the proposal of `SIZE - CLIENTS`
 *              Register entries would leave (`seedRecords`): the leader's applied records, plus
 *              copies of the first client's committed Register under other credential ids, each
 *              applied by the record rules (`applyCommand`), become the snapshot at the index those
 *              entries would have had, in the current term; every replica is stopped, that
 *              snapshot is sealed by its own HSM as its new base (a new incarnation, its anchor and
 *              ballot moved by the persistence rule), and it is started again from it. Every
 *              replica so holds the same committed records, unsealed and decoded from its own
 *              storage; a leader is elected again. Only the log of the fill is skipped.
 *   timed      every client recovers ROUNDS times, all at once, through the protocol against its
 *              real record; each recovery must release that client's K. The wall clock of the
 *              simulation over their number (ms per recovery); beside it the process's CPU time.
 *   bytes      the bytes the replicas' HSMs sealed for host storage during the recoveries, over
 *              their number (every sealed byte is written to a host).
 *
 * After the recoveries, untimed by the table: a rejoining replica's catch-up (`measureCatchUp`: a
 * follower stopped while the leader commits HISTORIES entries that re-register fill credentials,
 * which lengthens the history and leaves the state's size alone; then the wall clock from its
 * restart until it has applied the leader's last entry), then the time of a snapshot and of an
 * InstallSnapshot of the whole records (`measureSnapshot`) and the heap of one replica's records
 * per credential, measured with a forced collection (`gc`) before and after installing them.
 * Sizes: 10^2, 10^4, 10^5; `--deep` adds 10^6; `--quick` (and the smoke test): 10^2 and 10^3.
 * @module
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { History } from '../../src/check/history.ts';
import { toHex } from '../../src/crypto/bytes.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import { tableSize } from '../../src/vault/record-table.ts';
import { type Command, type VaultState, applyCommand } from '../../src/vault/records.ts';
import { ScriptedClient, keyBytes } from '../../src/sim/client.ts';
import { SimFleet } from '../../src/sim/fleet.ts';
import type { SimStorage } from '../../src/sim/hosts.ts';
import { type FleetFactory, memoryFleets } from '../../src/scenarios/fleets.ts';
import {
  DEFAULT_SNAPSHOT_EVERY,
  DEFAULT_SNAPSHOT_GROWTH,
  RULES,
  raftConfig,
  replicaEnv,
} from '../../src/replication/host.ts';
import { persistDurable } from '../../src/replication/durable.ts';
import { openPeerMessage, readVaultCommand, sealPeerMessage } from '../../src/replication/peer-auth.ts';
import {
  type Durable,
  DEFAULT_SNAPSHOT_CHUNK_BYTES,
  EMPTY_DURABLE,
  compactLog,
  lastIndexOf,
  snapshotChunk,
  snapshotIndex,
} from '../../src/replication/raft.ts';
import { handlePeerMessage, restartReplica } from '../../src/replication/replica.ts';
import { MemoryChainStorage, beginIncarnation } from '../../src/vault/storage.ts';
import { type BenchSuite, type BenchTask, check, keepSoftHsmConf, perUnit } from '../harness.ts';
import { type ScaleRow, scaleSummary } from './scale-report.ts';

const DELAY_MS = 2;
const REPLICAS = 3;
const CLIENTS = 8;
const ROUNDS = 3;
const CLIENT_TIMING = { thinkMinMs: 0, thinkMaxMs: 2 };
/** Committed entries a stopped follower misses before it rejoins (`--quick`: fewer). */
const historiesOf = (quick: boolean) => (quick ? [100, 2000] : [1000, 3000, 10_000]);

/** An HSM that counts the bytes it seals (what its host is then given to store). */
export function countingHsm(hsm: Hsm): { hsm: Hsm; sealed: { bytes: number; calls: number } } {
  const sealed = { bytes: 0, calls: 0 };
  const wrapped = new Proxy(hsm, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop !== 'seal') return (v as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const out = (v as (...a: unknown[]) => Uint8Array).apply(target, args);
        sealed.bytes += out.length;
        sealed.calls += 1;
        return out;
      };
    },
  });
  return { hsm: wrapped, sealed };
}

/** A forced full collection, if this process can have one (`node --expose-gc`, or V8's flag set now). */
function collector(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

export interface CatchUp {
  /** Entries committed while the follower was stopped. */
  readonly history: number;
  /** Wall clock from its restart until it applied the leader's last entry. */
  readonly ms: number;
  /** It was sent the leader's snapshot (else the entries it lacked, by AppendEntries). */
  readonly installed: boolean;
}

export interface ScaleRun extends SnapshotCost {
  readonly backend: string;
  readonly credentials: number;
  readonly recoveries: number;
  readonly wallMs: number;
  /** The process's CPU time (user + system) over the recoveries: steadier than the wall clock on a shared machine. */
  readonly cpuMsPerRecovery: number;
  readonly bytesPerRecovery: number;
  readonly savesPerRecovery: number;
  /** Log entries committed per recovery (ConsumeGuess, Reset): what brings the next snapshot nearer. */
  readonly entriesPerRecovery: number;
  /** The fill: the records built, sealed as each replica's base, the replicas restarted from it, a leader elected. */
  readonly fillMs: number;
  readonly logLength: number;
  readonly snapshotIndex: number;
  readonly catchUp: readonly CatchUp[];
}

const fillId = (k: number) => `f${k.toString(16).padStart(31, '0')}`;

type Register = Extract<Command, { type: 'Register' }>;

/** The first committed Register of the leader's log (a real registration, made through OPAQUE). */
function registerTemplate(fleet: SimFleet): Register {
  const l = fleet.leader()!;
  const e = fleet.replica(l).state!.raft.durable.log.find((x) => x.command?.type === 'Register');
  check(e !== undefined, 'no Register entry in the leader log after the registrations');
  return e.command as Register;
}

/** Runs the fleet until a leader serves; its id. */
function serveLeader(fleet: SimFleet, id: string): number {
  const serving = () => fleet.leader() !== null;
  check(fleet.runUntil(serving, 10_000), `${id}: no serving leader after 10 s of simulated time`);
  return fleet.leader()!;
}

/** Runs the fleet until the replicas `among` have applied the leader's last entry. */
function settle(fleet: SimFleet, among: readonly number[], ms: number): boolean {
  return fleet.runUntil(() => {
    const l = fleet.leader();
    if (l === null) return false;
    const last = lastIndexOf(fleet.replica(l).state!.raft.durable);
    return among.every((i) => (fleet.replica(i).state?.lastApplied ?? -1) >= last);
  }, ms);
}

const ALL = Array.from({ length: REPLICAS }, (_, i) => i);

/** The fill of the module header: every replica restarted from the same sealed snapshot of `size` records. */
export function seedRecords(
  fleet: SimFleet,
  hsms: readonly Hsm[],
  sealLabel: string,
  template: Register,
  size: number,
  seed: string,
): void {
  const id = `scale/${size}`;
  check(settle(fleet, ALL, 60_000), `${id}: the registrations did not reach every replica`);
  const st = fleet.replica(fleet.leader()!).state!;
  let vault: VaultState = st.node.vault;
  for (let k = CLIENTS; k < size; k++) {
    const r = applyCommand(vault, { ...template, credentialId: fillId(k) });
    check(r.outcome.ok, `${id}: the record rules refused a fill registration`);
    vault = r.state;
  }
  const snapshot = { index: st.lastApplied + size - CLIENTS, term: st.raft.durable.currentTerm, state: vault };
  const rng = seededRng(`${seed}/seed`);
  for (const i of ALL) {
    const d = fleet.replica(i).state!.raft.durable;
    const durable: Durable<Command> = { ...d, log: [], snapshot };
    fleet.inject({ type: 'Crash', replica: i });
    const storage = fleet.storage(i) as SimStorage;
    storage.saving = durable; // ghost: what the blob holds
    persistDurable({ hsm: hsms[i]!, sealLabel, storage }, beginIncarnation(hsms[i]!, sealLabel), durable, rng);
  }
  for (const i of ALL) fleet.inject({ type: 'Restart', replica: i });
  serveLeader(fleet, id);
  check(settle(fleet, ALL, 60_000), `${id}: the replicas did not settle after the fill`);
  for (const i of ALL) {
    const n = tableSize(fleet.replica(i).state!.node.vault.records);
    check(n === size, `${id}: replica ${i} holds ${n} records after the fill, expected ${size}`);
  }
}

/**
 * A follower stopped while the leader commits `history` entries (re-registrations of fill
 * credentials: the records' number is unchanged), then restarted: the wall clock until it has
 * applied the leader's last entry.
 */
export function measureCatchUp(fleet: SimFleet, template: Register, size: number, history: number): CatchUp {
  const id = `scale/${size}/catch-up ${history}`;
  const l = serveLeader(fleet, id);
  const f = (l + 1) % REPLICAS;
  fleet.inject({ type: 'Crash', replica: f });
  const live = ALL.filter((i) => i !== f);
  for (let done = 0; done < history; ) {
    const n = Math.min(DEFAULT_SNAPSHOT_EVERY, history - done);
    const cmds = Array.from({ length: n }, (_, j): Command => {
      const k = CLIENTS + ((done + j) % Math.max(1, size - CLIENTS));
      return { ...template, credentialId: fillId(k) };
    });
    const l1 = fleet.leader()!;
    const target = lastIndexOf(fleet.replica(l1).state!.raft.durable) + n;
    fleet.proposeAt(fleet.now, l1, cmds);
    const appended = () => lastIndexOf(fleet.replica(l1).state!.raft.durable) >= target;
    check(fleet.runUntil(appended, 10_000) && settle(fleet, live, 600_000), `${id}: the history did not commit`);
    done += n;
  }
  const installed0 = fleet.stats.snapshotsInstalled;
  const t0 = performance.now();
  fleet.inject({ type: 'Restart', replica: f });
  const caughtUp = settle(fleet, ALL, 600_000);
  const ms = performance.now() - t0;
  check(caughtUp, `${id}: the follower did not catch up`);
  const n = tableSize(fleet.replica(f).state!.node.vault.records);
  check(n === size, `${id}: ${n} records after the catch-up, expected ${size}`);
  return { history, ms: Math.round(ms * 10) / 10, installed: fleet.stats.snapshotsInstalled > installed0 };
}

/** One run at `size` credentials on `factory`'s HSMs (module header); throws unless every recovery released its K. */
export function runScale(factory: FleetFactory, size: number, seed: string, histories: readonly number[]): ScaleRun {
  const counted = factory.hsms(REPLICAS).map(countingHsm);
  const fleet = new SimFleet({
    hsms: counted.map((c) => c.hsm),
    labels: factory.labels,
    config: factory.config,
    seed,
    network: { minDelayMs: DELAY_MS, maxDelayMs: DELAY_MS },
    checks: false,
    snapshotEvery: DEFAULT_SNAPSHOT_EVERY,
    snapshotChunkBytes: DEFAULT_SNAPSHOT_CHUNK_BYTES, // as served replicas (the simulator's 512 is for small states)
  });
  const id = `scale/${factory.backend}/${size}`;
  serveLeader(fleet, id);
  const history = new History();
  const keyNames = new Map(Array.from({ length: CLIENTS }, (_, i) => [toHex(keyBytes(`K-${i}`)), `K-${i}`] as const));
  const clients = Array.from({ length: CLIENTS }, (_, i) => {
    const ops = [{ kind: 'register', password: `pw-${i}`, key: `K-${i}`, limit: 10 }] as const;
    const script = { name: `client-${i}`, credential: `alice-${i}`, startAt: fleet.now, ops };
    const rng = seededRng(`${seed}/${script.name}`);
    return new ScriptedClient(fleet, script, { history, keyNames, rng, timing: CLIENT_TIMING });
  });
  check(
    fleet.runUntil(() => clients.every((x) => x.done), 60_000),
    `${id}: registrations did not complete`,
  );

  const t0 = performance.now();
  check(settle(fleet, ALL, 60_000), `${id}: the registrations did not reach every replica`);
  const template = registerTemplate(fleet);
  seedRecords(fleet, counted.map((c) => c.hsm), factory.labels.seal, template, size, seed);
  const fillMs = performance.now() - t0;

  const index0 = lastIndexOf(fleet.replica(fleet.leader()!).state!.raft.durable);
  collector()?.(); // the fill's garbage (its sealed and parsed copies) is not the recoveries' to collect
  const bytes0 = counted.reduce((a, c) => a + c.sealed.bytes, 0);
  const saves0 = counted.reduce((a, c) => a + c.sealed.calls, 0);
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  clients.forEach((x, i) =>
    x.append(
      fleet,
      Array.from({ length: ROUNDS }, () => ({ kind: 'recover', password: `pw-${i}` }) as const),
    ),
  );
  const done = fleet.runUntil(() => clients.every((x) => x.done), 600_000);
  const wallMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu1);
  check(done, `${id}: recoveries did not complete`);
  const recoveries = history.ops.filter((o) => o.input.kind === 'recover');
  check(recoveries.length === CLIENTS * ROUNDS, `${id}: ${recoveries.length} recoveries, expected ${CLIENTS * ROUNDS}`);
  for (const o of recoveries) {
    const key = `K-${o.client.slice('client-'.length)}`;
    check(
      o.completion === 'ok' && o.output?.kind === 'Recovered' && o.output.key === key,
      `${id}: ${o.client} got no ${key}`,
    );
  }
  const bytes = counted.reduce((a, c) => a + c.sealed.bytes, 0) - bytes0;
  const saves = counted.reduce((a, c) => a + c.sealed.calls, 0) - saves0;
  const d = fleet.replica(fleet.leader()!).state!.raft.durable;
  const logLength = lastIndexOf(d);
  const snapIndex = snapshotIndex(d);
  const catchUp = histories.map((h) => measureCatchUp(fleet, template, size, h));
  const snap = measureSnapshot(fleet, counted.map((c) => c.hsm), factory, template, size, seed);
  return {
    backend: factory.backend,
    credentials: size,
    recoveries: recoveries.length,
    wallMs,
    cpuMsPerRecovery: Math.round(((cpu.user + cpu.system) / 1000 / recoveries.length) * 100) / 100,
    bytesPerRecovery: Math.round(bytes / recoveries.length),
    savesPerRecovery: Math.round((saves / recoveries.length) * 100) / 100,
    entriesPerRecovery: Math.round(((logLength - index0) / recoveries.length) * 100) / 100,
    fillMs: Math.round(fillMs),
    logLength,
    snapshotIndex: snapIndex,
    catchUp,
    ...snap,
  };
}

export interface SnapshotCost {
  /** A snapshot of the leader's records: compaction, then its base sealed for the host (ms). */
  readonly snapshotMs: number;
  readonly snapshotBytes: number;
  /**
   * An InstallSnapshot of it to an empty follower: the message MACed, opened and decoded, the
   * records taken, the follower's base sealed (ms).
   */
  readonly installSnapshotMs: number;
  /**
   * The heap one replica's records take per credential: after a forced collection, the records
   * installed from the snapshot and one command applied to them (their persistent table built),
   * against before. null when this process cannot force a collection.
   */
  readonly heapBytesPerCredential: number | null;
}

/**
 * The cost of a snapshot and of an InstallSnapshot at this size, on the fleet's HSMs once its run
 * is over (their anchors move: the fleet is not used again). Throws unless the follower ends with
 * every record.
 */
export function measureSnapshot(
  fleet: SimFleet,
  hsms: readonly Hsm[],
  fleets: Pick<FleetFactory, 'labels' | 'config'>,
  template: Register,
  size: number,
  seed: string,
): SnapshotCost {
  const l = fleet.leader()!;
  const f = (l + 1) % REPLICAS;
  const st = fleet.replica(l).state!;
  const rng = seededRng(`${seed}/snapshot`);
  const version = 1n << 50n; // past every version of the run
  const t0 = performance.now();
  const fresh = snapshotIndex(st.raft.durable) < st.lastApplied;
  const raft = fresh ? compactLog(st.raft, st.lastApplied, st.node.vault) : st.raft;
  const leaderStore = { hsm: hsms[l]!, sealLabel: fleets.labels.seal, storage: new MemoryChainStorage() };
  persistDurable(leaderStore, version, raft.durable, rng);
  const snapshotMs = performance.now() - t0;
  const snapshotBytes = leaderStore.storage.history[0]!.length;

  const gc = collector();
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t1 = performance.now();
  // the leader's snapshot in InstallSnapshot chunks (spec ch. 6.6.2), each sealed, opened and stepped
  const config = raftConfig(RULES, f, REPLICAS, 256);
  const env = replicaEnv(RULES, hsms[f]!, rng, 0, fleets.config);
  let step = { state: restartReplica(config, EMPTY_DURABLE as Durable<Command>, null) };
  for (let offset = 0, done = false; !done; ) {
    const message = snapshotChunk(raft, offset, null);
    const envelope = sealPeerMessage(hsms[l]!, fleets.labels.peerMac, l, f, message);
    const opened = openPeerMessage(hsms[f]!, fleets.labels.peerMac, f, envelope, readVaultCommand);
    step = handlePeerMessage(step.state, l, opened, env);
    offset += Buffer.from(message.data, 'base64').length;
    done = message.done;
  }
  const followerStore = { hsm: hsms[f]!, sealLabel: fleets.labels.seal, storage: new MemoryChainStorage() };
  persistDurable(followerStore, version, step.state.raft.durable, rng);
  const installSnapshotMs = performance.now() - t1;
  const vault = step.state.node.vault;
  const records = Object.keys(vault.records).length;
  check(records === size, `scale/${size}: ${records} records after an InstallSnapshot, expected ${size}`);
  // the first apply after it builds the persistent table over the decoded records (record-table.ts)
  const applied = applyCommand(vault, { ...template, credentialId: fillId(size) }).state;
  let heapBytesPerCredential: number | null = null;
  if (gc !== null) {
    gc();
    heapBytesPerCredential = Math.round((process.memoryUsage().heapUsed - heap0) / size);
  }
  // both still held while the heap was measured: the snapshot's records and the table over them
  check(tableSize(applied.records) === size + 1 && tableSize(vault.records) === size, `scale/${size}: the apply`);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    snapshotMs: round(snapshotMs),
    snapshotBytes,
    installSnapshotMs: round(installSnapshotMs),
    heapBytesPerCredential,
  };
}

export function scaleSizes(quick: boolean, deep: boolean): number[] {
  return quick ? [100, 1000] : deep ? [100, 10_000, 100_000, 1_000_000] : [100, 10_000, 100_000];
}

export const scaleSuite: BenchSuite = {
  id: 'scale',
  title: 'cost per recovery as the credentials grow (3 replicas, memory HSMs and SoftHSM)',
  async open(ctx) {
    const seed = `${ctx.seed}/scale`;
    const sizes = scaleSizes(ctx.quick, ctx.deep === true);
    const histories = historiesOf(ctx.quick);
    const last = new Map<string, ScaleRun>();
    const task = (factory: FleetFactory, size: number, warmup: number, note?: string): BenchTask => ({
      id: `scale/${factory.backend}/3/${size}`,
      name: `${factory.backend} 3 replicas, ${size} credentials: ${CLIENTS} clients x ${ROUNDS}, per recovery`,
      fn: () => {
        ctx.log(`scale: ${factory.backend}, ${size} credentials`);
        const r = runScale(factory, size, seed, histories);
        last.set(`${factory.backend}/${size}`, r);
        ctx.log(`scale: ${JSON.stringify(r)}`);
        return perUnit(r.wallMs, r.recoveries);
      },
      iterations: 1,
      time: 0,
      warmup,
      ...(note !== undefined && { note }),
    });
    const memory = memoryFleets('bkv-bench');
    const memoryNote = 'a fresh fleet filled to the size (untimed, spec 11.9); wall clock of the recoveries over them';
    // the first size runs twice: a JIT warm-up
    const first = (i: number, note: string) => [i === 0 ? 1 : 0, i === 0 ? note : undefined] as const;
    const tasks: BenchTask[] = sizes.map((size, i) => task(memory, size, ...first(i, memoryNote)));
    const restoreConf = keepSoftHsmConf();
    let softhsm: FleetFactory | undefined;
    const skipped: Record<string, string> = {};
    try {
      const { softHsmFleets } = await import('../../src/scenarios/fleets.ts');
      softhsm = await softHsmFleets(REPLICAS * (sizes.length + 1), 'bkv-bench-scale');
      const sh = softhsm;
      const note = 'ristretto255-SHA512+Curve25519; fresh tokens per run; the first size runs twice (a warm-up)';
      tasks.push(...sizes.map((size, i) => task(sh, size, ...first(i, note))));
    } catch (e) {
      restoreConf();
      skipped.softhsm = (e as Error).message;
      ctx.log(`scale: SoftHSM skipped (the memory rows only): ${skipped.softhsm}`);
    }
    return {
      tasks,
      info: { delayMs: DELAY_MS, replicas: REPLICAS, clients: CLIENTS, rounds: ROUNDS, sizes, histories, skipped },
      afterRun: async () => {
        const rows: ScaleRow[] = [...last.values()].map((r) => {
          // each replica takes a snapshot every max(DEFAULT_SNAPSHOT_EVERY, g x records) entries (the
          // entry trigger fires first: these entries are far below a KiB): its share per recovery
          const interval = Math.max(DEFAULT_SNAPSHOT_EVERY, DEFAULT_SNAPSHOT_GROWTH * r.credentials);
          const share = r.entriesPerRecovery / interval;
          const msPerRecovery = Math.round((r.wallMs / r.recoveries) * 100) / 100;
          const snapshotBytesPerRecovery = Math.round(share * r.snapshotBytes * REPLICAS);
          const snapshotMsPerRecovery = Math.round(share * r.snapshotMs * 100) / 100;
          return { ...r, msPerRecovery, snapshotBytesPerRecovery, snapshotMsPerRecovery };
        });
        return scaleSummary(rows, Math.max(...sizes.filter((s) => s <= 100_000)));
      },
      dispose: () => {
        softhsm?.dispose();
        restoreConf();
      },
    };
  },
};
