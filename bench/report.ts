/**
 * What a bench run reports: the machine and versions, the tables, the ratios of bkv over its peers
 * and over the floor, and the targets of issue 9 with what was reached and what bounds each figure
 * (spec/11-benchmarks.md). Every ratio is of medians, numerator over denominator: below 1 means
 * bkv (the numerator) is faster.
 * @module
 */
import type { Budget, TaskMeasure } from './harness.ts';
import type { machineInfo, versions } from './machine.ts';
import { FLOOR_COUNTS } from './suites/floor.ts';
import type { ReplicatedProfile, describeRun } from './suites/replicated.ts';
import type { Breakdown, ServedTarget } from './suites/served-costs.ts';
import type { ServedCell } from './suites/served.ts';

export interface RatioSpec {
  readonly id: string;
  readonly label: string;
  readonly numerator: string;
  readonly denominator: string;
}

export interface TargetSpec extends RatioSpec {
  /** The target in the words of issue 9. */
  readonly target: string;
  /** Reached when the ratio is at most this. */
  readonly max: number;
}

/**
 * Counted in src/ (spec/11-benchmarks.md §11.6), for one wire-encoded ristretto255 login: bkv
 * decodes 8 elements where the floor decodes 6. Each element is decoded once by the message
 * decoder and its point reused by every 3DH multiplication (src/crypto/suite.ts), but noble's
 * RFC 9497 BlindEvaluate and Finalize take the encoded element and decode it once more.
 */
const BKV_DECODES_PER_LOGIN = 8;
const RECOVERY_MEM = 'vault/memory/ristretto255-SHA512/recovery';
const REPLICATED_1 = 'replicated/memory/1';
const REPLICATED_5 = 'replicated/memory/5/batched';
const VAULT_SIDE_SOFTHSM = 'vault/softhsm/ristretto255-SHA512+Curve25519/vault-side';
/** The crypto suite's whole ristretto255 login, measured again right after its floor. */
const LOGIN_BESIDE_FLOOR = 'floor/noble/ristretto255-SHA512/opaque-login';

export const TARGETS: readonly TargetSpec[] = [
  {
    id: 'vault-side-vs-opaque-ke',
    label: 'vault side of a login on SoftHSM / opaque-ke-wasm server side',
    target: "vault side (KE1 to KE2, then KE3 verified) at or below opaque-ke-wasm's time, on the SoftHSM-backed path",
    numerator: VAULT_SIDE_SOFTHSM,
    denominator: 'peers/serenity/server-side',
    max: 1.0,
  },
  {
    id: 'login-vs-opaque-ke',
    label: 'whole recovery (client + vault, memory, ristretto255) / opaque-ke-wasm whole login',
    target: 'full client plus vault login at most 1.5x opaque-ke-wasm',
    numerator: RECOVERY_MEM,
    denominator: 'peers/serenity/login',
    max: 1.5,
  },
  {
    id: 'login-vs-opaque-ts',
    label: 'whole recovery (client + vault, memory, ristretto255) / opaque-ts whole login',
    target: 'far ahead of opaque-ts (read here as: at most 0.5x, at least twice as fast)',
    numerator: RECOVERY_MEM,
    denominator: 'peers/opaque-ts/login',
    max: 0.5,
  },
  {
    id: 'overhead-vs-floor',
    label: 'OPAQUE login (ristretto255, Identity, wire encoded; measured beside its floor) / its floor (noble)',
    target: 'protocol overhead at most 1.10x the floor',
    numerator: LOGIN_BESIDE_FLOOR,
    denominator: 'floor/noble/ristretto255-SHA512/login',
    max: 1.1,
  },
  {
    id: 'replicas-keep-throughput',
    label:
      'ms per recovery, 5 replicas with batching / 1 replica ' +
      '(simulated fleet, memory; 1.25x is 80% of the recoveries per second)',
    target: "five replicas with batching keep at least 80% of one replica's recoveries per second",
    numerator: REPLICATED_5,
    denominator: REPLICATED_1,
    max: 1.25,
  },
];

export const RATIOS: readonly RatioSpec[] = [
  {
    id: 'recovery-over-floor',
    label: 'whole recovery (memory, ristretto255) / its floor (login + Noise NK, noble)',
    numerator: RECOVERY_MEM,
    denominator: 'floor/noble/ristretto255-SHA512/recovery',
  },
  {
    id: 'vault-side-memory-over-floor',
    label: "vault side (memory, ristretto255) / the server's floor (noble)",
    numerator: 'vault/memory/ristretto255-SHA512/vault-side',
    denominator: 'floor/noble/ristretto255-SHA512/recovery-server-side',
  },
  {
    id: 'vault-side-softhsm-over-floor',
    label: "vault side (SoftHSM, Curve25519 3DH) / the server's floor (noble)",
    numerator: VAULT_SIDE_SOFTHSM,
    denominator: 'floor/noble/ristretto255-SHA512+Curve25519/recovery-server-side',
  },
  {
    id: 'recovery-softhsm-over-floor',
    label: 'whole recovery (SoftHSM, Curve25519 3DH) / its floor (noble)',
    numerator: 'vault/softhsm/ristretto255-SHA512+Curve25519/recovery',
    denominator: 'floor/noble/ristretto255-SHA512+Curve25519/recovery',
  },
  {
    id: 'softhsm-over-memory',
    label: 'vault side, SoftHSM / memory (same suite)',
    numerator: VAULT_SIDE_SOFTHSM,
    denominator: 'vault/memory/ristretto255-SHA512+Curve25519/vault-side',
  },
  {
    id: 'vault-side-memory-vs-opaque-ke',
    label: 'vault side (memory, ristretto255) / opaque-ke-wasm server side',
    numerator: 'vault/memory/ristretto255-SHA512/vault-side',
    denominator: 'peers/serenity/server-side',
  },
  {
    id: 'opaque-login-vs-opaque-ke',
    label: 'OPAQUE login, same KSF (Argon2id t=1 m=8 p=1), no channel / opaque-ke-wasm whole login',
    numerator: 'crypto/opaque/ristretto255-SHA512/Argon2id(t=1,m=8,p=1)/login',
    denominator: 'peers/serenity/login',
  },
  {
    id: 'p256-login-vs-opaque-ts',
    label: 'OPAQUE login P256-SHA256 / opaque-ts P-256 whole login',
    numerator: 'crypto/opaque/P256-SHA256/Identity/login',
    denominator: 'peers/opaque-ts/login',
  },
  {
    id: 'replicated-3-over-1',
    label: 'ms per recovery, 3 replicas with batching / 1 replica',
    numerator: 'replicated/memory/3/batched',
    denominator: REPLICATED_1,
  },
  {
    id: 'replicated-5-unbatched-over-1',
    label: 'ms per recovery, 5 replicas without batching / 1 replica',
    numerator: 'replicated/memory/5/unbatched',
    denominator: REPLICATED_1,
  },
  {
    id: 'replicated-1-over-vault',
    label: '1 replica in the simulator, per recovery / single-replica vault, whole recovery (memory)',
    numerator: REPLICATED_1,
    denominator: RECOVERY_MEM,
  },
  {
    id: 'replicated-softhsm-over-vault',
    label: '3 SoftHSM replicas with batching, per recovery / single-replica SoftHSM vault, whole recovery',
    numerator: 'replicated/softhsm/3/batched',
    denominator: 'vault/softhsm/ristretto255-SHA512+Curve25519/recovery',
  },
  {
    id: 'noble-over-libsodium-floor',
    label: 'floor: noble / libsodium (ristretto255 login)',
    numerator: 'floor/noble/ristretto255-SHA512/login',
    denominator: 'floor/libsodium/ristretto255-SHA512/login',
  },
  {
    id: 'opaque-ke-over-libsodium-floor',
    label: 'opaque-ke-wasm whole login / libsodium floor',
    numerator: 'peers/serenity/login',
    denominator: 'floor/libsodium/ristretto255-SHA512/login',
  },
];

export interface RatioResult {
  readonly id: string;
  readonly label: string;
  readonly numerator: string;
  readonly denominator: string;
  readonly value: number | null;
}

export interface TargetResult extends RatioResult {
  readonly target: string;
  readonly max: number;
  readonly reached: boolean | null;
  readonly bound: string;
}

function median(tasks: ReadonlyMap<string, TaskMeasure>, id: string): number | undefined {
  return tasks.get(id)?.medianMs;
}

export function computeRatio(tasks: ReadonlyMap<string, TaskMeasure>, r: RatioSpec): RatioResult {
  const a = median(tasks, r.numerator);
  const b = median(tasks, r.denominator);
  return {
    id: r.id,
    label: r.label,
    numerator: r.numerator,
    denominator: r.denominator,
    value: a !== undefined && b !== undefined && b > 0 ? a / b : null,
  };
}

const ms = (x: number | undefined) => (x === undefined ? '?' : `${x.toFixed(x < 1 ? 3 : 2)} ms`);

/** What the suites report after their tasks (results.json `suites.*.after`), as the bounds read it. */
export interface SuitesAfter {
  readonly vault?: { readonly profile?: Record<string, ProfileEntry> };
  readonly replicated?: {
    readonly configs?: Record<string, ReturnType<typeof describeRun>>;
    readonly profile?: ReplicatedProfile;
  };
}

/** What bounds each target's figure, said with the run's own numbers. */
function describeBound(id: string, t: ReadonlyMap<string, TaskMeasure>, after: SuitesAfter): string {
  const m = (k: string) => median(t, k);
  const projected = (bkv: string, floorNoble: string, floorSodium: string) => {
    const [b, n, s] = [m(bkv), m(floorNoble), m(floorSodium)];
    return b !== undefined && n !== undefined && s !== undefined ? b - n + s : undefined;
  };
  switch (id) {
    case 'vault-side-vs-opaque-ke': {
      const p = after.vault?.profile?.['softhsm/ristretto255-SHA512+Curve25519'];
      const top = p
        ? Object.entries(p.hsmCalls)
            .sort((a, b) => b[1].msPerRecovery - a[1].msPerRecovery)
            .slice(0, 3)
            .map(([k, v]) => `${k} ${v.msPerRecovery.toFixed(2)} ms (${v.callsPerRecovery}x)`)
            .join(', ')
        : 'no profile';
      return (
        `vault side ${ms(m(VAULT_SIDE_SOFTHSM))}; profiled (timing wrapper on every Hsm call): ` +
        `${ms(p?.vaultSideMs)} of which ` +
        `in SoftHSM ${ms(p?.hsmMs)} (${top}), on the host ${ms(p?.hostMs)}; ` +
        `the server's floor alone is ` +
        `${ms(m('floor/noble/ristretto255-SHA512+Curve25519/recovery-server-side'))} with noble, ` +
        `${ms(m('floor/libsodium/ristretto255-SHA512+Curve25519/recovery-server-side'))} with libsodium`
      );
    }
    case 'login-vs-opaque-ke': {
      const p = projected(
        RECOVERY_MEM,
        'floor/noble/ristretto255-SHA512/recovery',
        'floor/libsodium/ristretto255-SHA512/recovery',
      );
      const s = m('peers/serenity/login');
      return (
        `pure-TypeScript group arithmetic: the noble floor of a recovery is ` +
        `${ms(m('floor/noble/ristretto255-SHA512/recovery'))} alone ` +
        `(opaque-ke-wasm's whole login: ${ms(s)}); ` +
        `with libsodium's arithmetic in its place the same recovery would take about ${ms(p)}` +
        (p !== undefined && s !== undefined ? ` (${(p / s).toFixed(2)}x)` : '')
      );
    }
    case 'login-vs-opaque-ts':
      return (
        `opaque-ts spends ${ms(m('peers/opaque-ts/login'))} a login ` +
        `(P-256 through @cloudflare/voprf-ts and async WebCrypto); ` +
        `bkv's own P-256 login takes ${ms(m('crypto/opaque/P256-SHA256/Identity/login'))}`
      );
    case 'overhead-vs-floor': {
      const [a, b, d] = [
        m(LOGIN_BESIDE_FLOOR),
        m('floor/noble/ristretto255-SHA512/login'),
        m('floor/noble/unit/ristretto255/decode'),
      ];
      if (a === undefined || b === undefined || d === undefined) return 'not measured';
      const extra = BKV_DECODES_PER_LOGIN - FLOOR_COUNTS.login.decode;
      const decodes = extra * d;
      return (
        `overhead ${ms(a - b)} over the floor: ${extra} element decodes more than the floor's ` +
        `${FLOOR_COUNTS.login.decode} (${ms(decodes)}: noble's BlindEvaluate and Finalize ` +
        `decode again the element the message decoder checked), and about ${ms(a - b - decodes)} of hashing ` +
        `(SHA-512: HKDF, HMAC, expand_message_xmd) and encoding; ` +
        `without the two decodes: ${((a - decodes) / b).toFixed(2)}x`
      );
    }
    case 'replicas-keep-throughput': {
      const [one, five] = [m(REPLICATED_1), m(REPLICATED_5)];
      const c = after.replicated?.configs?.[REPLICATED_5];
      const profile = after.replicated?.profile;
      /** The fleet's sealed saves and peer MACs (made and checked) per recovery, from the profile. */
      const work = (id: string) => {
        const calls = profile?.[id]?.hsmCalls;
        if (calls === undefined) return 'no profile';
        const seal = calls.seal ?? { callsPerRecovery: 0, msPerRecovery: 0 };
        const mac = calls.hmac ?? { callsPerRecovery: 0, msPerRecovery: 0 };
        return (
          `${seal.callsPerRecovery} sealed saves (${ms(seal.msPerRecovery)}) and ` +
          `${mac.callsPerRecovery} peer MACs (${ms(mac.msPerRecovery)})`
        );
      };
      return (
        `one core runs the whole simulation (clients, leader, followers): ` +
        `${ms(one)} a recovery with 1 replica, ${ms(five)} with 5, ` +
        `both bound by the leader's and the clients' cryptography, which replication does not change; ` +
        `per recovery the 5-replica fleet makes ${work(REPLICATED_5)}, ` +
        `1 replica ${work(REPLICATED_1)}, at ${c?.entriesPerAppendEntries ?? '?'} entries per AppendEntries and ` +
        `${c?.guessHops.mean ?? '?'} message delays per committed guess; ` +
        `without batching 5 replicas make ${work('replicated/memory/5/unbatched')}`
      );
    }
    default:
      return '';
  }
}

export interface ProfileEntry {
  readonly runs: number;
  readonly vaultSideMs: number;
  readonly hsmMs: number;
  readonly hostMs: number;
  readonly hsmCalls: Record<string, { callsPerRecovery: number; msPerRecovery: number }>;
}

export function computeTargets(tasks: ReadonlyMap<string, TaskMeasure>, after: SuitesAfter = {}): TargetResult[] {
  return TARGETS.map((tg) => {
    const r = computeRatio(tasks, tg);
    const bound =
      r.value === null
        ? 'not measured: a task is missing (skipped, or failed its self-check: ' +
          'see suites.*.info.skipped and suites.*.taskErrors)'
        : describeBound(tg.id, tasks, after);
    return { ...r, target: tg.target, max: tg.max, reached: r.value === null ? null : r.value <= tg.max, bound };
  });
}

export interface Results {
  readonly schema: 'bkv-bench/1';
  readonly date: string;
  readonly seed: string;
  readonly budget: Budget;
  readonly durationMs: number;
  readonly machine: ReturnType<typeof machineInfo>;
  readonly versions: ReturnType<typeof versions>;
  /**
   * `error`: the suite failed to open or to finish; `taskErrors`: the tasks that failed their self-check
   * (no figure).
   */
  readonly suites: Record<
    string,
    {
      title: string;
      info?: Record<string, unknown>;
      after?: Record<string, unknown>;
      error?: string;
      taskErrors?: Record<string, string>;
    }
  >;
  readonly tasks: readonly (TaskMeasure & { suite: string })[];
  readonly ratios: readonly RatioResult[];
  readonly targets: readonly TargetResult[];
}

// ----------------------------------------------------------------------------------------------
// Printing

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** A median for the table: µs below 0.01 ms, where 4 decimals of ms would lose it. */
function formatMs(x: number): string {
  return x < 0.01 ? `${(x * 1000).toFixed(3)} µs` : `${x.toFixed(x < 1 ? 4 : 2)} ms`;
}

export function formatTaskTable(title: string, rows: readonly TaskMeasure[]): string {
  const w = Math.max(40, ...rows.map((r) => r.name.length));
  const head =
    `${pad('task', w)}  ${pad('median', 11, true)}  ${pad('ops/s', 9, true)}  ` +
    `${pad('±rme', 7, true)}  ${pad('n', 5, true)}`;
  const lines = rows.map(
    (r) =>
      `${pad(r.name, w)}  ${pad(formatMs(r.medianMs), 11, true)}  ` +
      `${pad(r.opsPerSec.toFixed(r.opsPerSec < 10 ? 2 : 0), 9, true)}  ` +
      `${pad(r.rme.toFixed(1) + '%', 7, true)}  ${pad(String(r.samples), 5, true)}`,
  );
  return [`\n## ${title}`, head, '-'.repeat(head.length), ...lines].join('\n');
}

export function formatProfile(profile: Record<string, ProfileEntry>): string {
  const out = [
    "\n## vault side, profiled: where a recovery's vault time goes (per recovery; timing wrapper on every Hsm call)",
  ];
  for (const [k, p] of Object.entries(profile)) {
    out.push(
      `- ${k}: ${p.vaultSideMs.toFixed(2)} ms = HSM ${p.hsmMs.toFixed(2)} ms + host ${p.hostMs.toFixed(2)} ms ` +
        `(${p.runs} recoveries)`,
    );
    const calls = Object.entries(p.hsmCalls).sort((a, b) => b[1].msPerRecovery - a[1].msPerRecovery);
    for (const [name, c] of calls)
      out.push(`    ${pad(name, 14)} ${pad(c.msPerRecovery.toFixed(3) + ' ms', 10, true)}  ${c.callsPerRecovery}x`);
  }
  return out.join('\n');
}

export function formatReplicated(configs: Record<string, ReturnType<typeof describeRun>>): string {
  const out = [
    '\n## replicated: per configuration (its last run; message delays between replicas, in units of one network delay)',
  ];
  for (const [id, c] of Object.entries(configs)) {
    out.push(
      `- ${pad(id, 30)} per committed guess ${c.guessHops.mean} (${c.guessHops.min}-${c.guessHops.max}), ` +
        `per Reset ${c.resetHops.mean}; ` +
        `${c.entriesPerAppendEntries ?? '-'} entries per AppendEntries; ` +
        `per recovery ${c.peerMessagesPerRecovery} peer messages, ${c.sealedSavesPerRecovery} sealed saves; ` +
        `${c.recoveries} recoveries in ${c.simulatedMs} simulated ms`,
    );
  }
  return out.join('\n');
}

export function formatRatios(ratios: readonly RatioResult[], targets: readonly TargetResult[]): string {
  const out = ['\n## targets (issue 9)'];
  for (const t of targets) {
    const verdict = t.reached === null ? 'not measured' : t.reached ? 'REACHED' : 'not reached';
    out.push(
      `- ${t.target}\n    ${t.label}: ${t.value === null ? '?' : t.value.toFixed(2) + 'x'} (target <= ${t.max}x): ` +
        `${verdict}\n    bound: ${t.bound}`,
    );
  }
  out.push('\n## ratios (medians; < 1: the numerator is faster)');
  for (const r of ratios) out.push(`- ${pad(r.value === null ? '?' : r.value.toFixed(2) + 'x', 8, true)}  ${r.label}`);
  return out.join('\n');
}

/** What the `served` suite reports after its cells (results.json `suites.served.after`). */
export interface ServedAfter {
  readonly loadAtOpen: readonly number[];
  readonly cells: readonly ServedCell[];
  readonly breakdowns: readonly Breakdown[];
  readonly targets: readonly ServedTarget[];
}

const RUNTIMES = ['processes', 'simulator', 'vault'];
const cellsOrder = (a: ServedCell, b: ServedCell) =>
  RUNTIMES.indexOf(a.runtime) - RUNTIMES.indexOf(b.runtime) ||
  b.backend.localeCompare(a.backend) ||
  a.replicas - b.replicas ||
  a.clients - b.clients;

/** The served tables (markdown, as spec/11-benchmarks.md shows them), the breakdown and the targets of issue 17. */
export function formatServed(a: ServedAfter): string {
  const num = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const cells = [...a.cells].sort(cellsOrder);
  const out = [
    `\n## served: recoveries per second and latency (load average at the start ${a.loadAtOpen.join(' ')})`,
    '| runtime | HSM | replicas | clients | recoveries | rec/s | p50 ms | p99 ms | p99/p50 | load (1 min) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of cells) {
    const ratio = c.p50Ms && c.p99Ms !== null ? (c.p99Ms / c.p50Ms).toFixed(1) : '-';
    const extra =
      (c.unavailable > 0 ? ` (${c.unavailable} unavailable)` : '') + (c.leaderChanged ? ' (leader changed)' : '');
    out.push(
      `| ${c.runtime} | ${c.backend} | ${c.replicas} | ${c.clients} | ${c.recoveries}${extra} | ` +
        `${num(c.perSecond)} | ${num(c.p50Ms)} | ${num(c.p99Ms)} | ${ratio} | ${c.load.join(' → ')} |`,
    );
  }
  out.push(
    '\n## served: the processes, per recovery',
    '| HSM | replicas | clients | saves: leader, follower | CPU ms: leader, follower, clients | ' +
      'leader log, start → end | sealed KB, start → end | round trip ms, fresh / kept alive |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const c of cells.filter((x) => x.runtime === 'processes')) {
    const follower = c.replicas > 1 ? num(c.followerPersists, 2) : '-';
    const cpu = c.cpuMs ? `${num(c.cpuMs.leader)}, ${num(c.cpuMs.follower)}, ${num(c.cpuMs.clients)}` : '-';
    const kb = (x: number) => (x / 1024).toFixed(0);
    out.push(
      `| ${c.backend} | ${c.replicas} | ${c.clients} | ${num(c.leaderPersists, 2)}, ${follower} | ${cpu} | ` +
        `${c.logLength?.join(' → ') ?? '-'} | ${c.sealedBytes?.map(kb).join(' → ') ?? '-'} | ` +
        `${num(c.roundTrip?.freshMs, 2)} / ${num(c.roundTrip?.keptAliveMs, 2)} |`,
    );
  }
  out.push('\n## served: unit costs (medians, measured right after the cell of one client)');
  for (const c of cells) {
    const k = c.unitCosts;
    if (k === undefined) continue;
    out.push(
      `- after ${c.backend} ${c.replicas}: ` +
        `a save (${k.saveBytes} bytes appended, fsync) ${k.saveMs} ms, ` +
        `HSM counter advance ${k.counterMs} ms, crypto server ${k.serverCryptoMs} ms + client ${k.clientCryptoMs} ms ` +
        `(${k.runs} samples)`,
    );
  }
  out.push('\n## served: where the time of one recovery goes (one client; shares of its p50)');
  const names = {
    fsync: 'fsync',
    hsm: 'HSM',
    crypto: 'crypto',
    network: 'network',
    replicaCpu: 'replica CPU',
    rest: 'rest',
  };
  for (const b of a.breakdowns) {
    const parts = (Object.keys(names) as (keyof typeof names)[])
      .map((k) => `${names[k]} ${b.parts[k].percent}% (${b.parts[k].ms.toFixed(1)} ms)`)
      .join(', ');
    const n = b.counts;
    out.push(
      `- ${b.backend} ${b.replicas}: p50 ${b.p50Ms} ms = ${parts}; per recovery ${n.leaderSaves} saves by the ` +
        `leader and ${n.followerSaves} by a follower, ${n.countersPerSave ?? '?'} counter advances per save, ` +
        `${n.freshRoundTrips} client round trips, ${n.keptAliveRoundTrips} peer round trips`,
    );
  }
  out.push('\n## served: targets (issue 17)');
  for (const t of a.targets) {
    const verdict = t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met';
    const bound = t.bound.min !== undefined ? `>= ${t.bound.min}` : `< ${t.bound.max}`;
    out.push(`- ${t.target}: ${t.value === null ? '?' : t.value.toFixed(2)} (${bound}): ${verdict}`);
  }
  return out.join('\n');
}
