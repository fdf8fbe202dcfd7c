/**
 * Fault scenarios against the simulated fleet (spec ch. 6, "Checking"): a scenario is a seed, a
 * fleet size, a schedule of faults and the clients' scripts. `runScenario` plays it in three
 * phases and checks it:
 *
 *   1. faults    the schedule plays out while the clients run their scripts; every step is
 *                checked for Raft safety, the record invariants and G1 (safety.ts)
 *   2. stable    the network heals and becomes reliable, crashed replicas restart, the scripts
 *                finish and the fleet converges; then a final recovery per credential (with its
 *                last registered password)
 *   3. checks    liveness: within `livenessMs` the fleet converges (a serving leader whose term
 *                every replica shares, none recovering, every replica applied up to the leader's
 *                commit index) and every final recovery completes `ok` (retried, as a client
 *                would, when an attempt ends without a verdict); the guess budget G5 and
 *                release-after-KE3 G3 on the ghost events (src/check/budget.ts); no acknowledged
 *                registration lost (src/check/lost-registration.ts); linearizability of the
 *                history against the record model (src/check/lincheck.ts, a successful recovery
 *                as its two commits: src/check/record-model.ts)
 *
 * A scenario is a plain value: a failure is replayed by running it again (with `trace: true` for
 * a readable line per step).
 * @module
 */
import type { Hsm } from '../hsm/hsm.ts';
import { randomInt, seededRng } from '../crypto/rng.ts';
import { toHex } from '../crypto/bytes.ts';
import { type VaultEvent, checkBudget } from '../check/budget.ts';
import { History, type Operation } from '../check/history.ts';
import { type LinOptions, checkLinearizable, describeRefutation, describeUnknown } from '../check/lincheck.ts';
import { findLostRegistration } from '../check/lost-registration.ts';
import { describeStep, recordModel } from '../check/record-model.ts';
import type { VaultConfig } from '../vault/node.ts';
import type { BrokenVariant } from '../broken/catalog.ts';
import { type Fault, type FleetStats, type RelayHook, type Timing, SimFleet, describeFault } from './fleet.ts';
import { RULES } from '../replication/host.ts';
import { type NetworkConditions, RELIABLE_NETWORK } from './network.ts';
import type { ReplicationLabels } from '../replication/provision.ts';
import { InvariantViolation } from '../check/invariants.ts';
import { type ClientOp, type ClientScript, type ClientTiming, ScriptedClient, keyBytes } from './client.ts';

export interface TimedFault {
  readonly at: number;
  readonly fault: Fault;
}

export interface Scenario {
  readonly seed: string;
  readonly n: number;
  /** Faults, at simulated times within the fault window. */
  readonly faults: readonly TimedFault[];
  readonly clients: readonly ClientScript[];
  /** Network conditions during the fault window. */
  readonly network?: Partial<NetworkConditions>;
  readonly faultWindowMs: number;
  /** Consensus timers (default DEFAULT_TIMING). */
  readonly timing?: Partial<Timing>;
  /**
   * Synthetic load during the fault window: every `everyMs`, a no-effect command (EndSession of a
   * session that does not exist) arrives at a random replica; a serving leader appends it. Cheap
   * log traffic for consensus-only runs, where client crypto would dominate.
   */
  readonly load?: { readonly everyMs: number };
}

export interface ScenarioEnv {
  /** Fresh, provisioned HSMs for a fleet of n (one per replica). */
  readonly hsms: (n: number) => readonly Hsm[];
  readonly labels: ReplicationLabels;
  readonly config: VaultConfig;
  /** A deliberately broken variant to run instead of the rules (src/broken/catalog.ts). */
  readonly broken?: BrokenVariant;
  readonly trace?: boolean;
  /** Simulated time allowed for phase 2 (default 20 s). */
  readonly livenessMs?: number;
  readonly timing?: Partial<Timing>;
  readonly clientTiming?: Partial<ClientTiming>;
  /** Sees the run's fleet once it is built (a report reads its logs afterwards: src/report/). */
  readonly observe?: (fleet: SimFleet) => void;
}

export interface ScenarioViolation {
  /** `INV-n` (spec ch. 12), `LIVENESS`, or `UNDECIDED` (the linearizability check gave no answer). */
  readonly invariant: string;
  readonly detail: string;
}

export interface ScenarioReport {
  readonly ok: boolean;
  readonly violation: ScenarioViolation | null;
  readonly stats: FleetStats & { readonly simulatedMs: number; readonly operations: number };
  readonly history: readonly Operation[];
  readonly trace: readonly string[];
  readonly fleet: SimFleet;
}

/** How often a final recovery that ended without a verdict is tried again. */
const FINAL_RETRIES = 3;

/** The final recovery a credential gets in phase 2: its last registered password, if any. */
export function finalOp(s: Scenario, credential: string): ClientOp | null {
  let password: string | null = null;
  for (const c of s.clients)
    if (c.credential === credential) for (const op of c.ops) if (op.kind === 'register') password = op.password;
  return password === null ? null : { kind: 'recover', password };
}

/**
 * A scenario as it runs, for its hooks: the fleet, the history, the clients (scripted and started
 * since), and what a driver of the fault window (phase 1) can do besides waiting: start a client
 * now (it joins the history and the checks like a scripted one).
 */
export interface ScenarioRun {
  readonly scenario: Scenario;
  readonly fleet: SimFleet;
  readonly history: History;
  readonly clients: readonly ScriptedClient[];
  startClient(script: ClientScript): ScriptedClient;
}

/** A relay for the fault window: a hook of the simulator's network (`SimNetwork.relay`). */
export interface ScenarioRelay extends RelayHook {
  /** Called once the scenario is set up, before the fault window: the relay's own schedule. */
  start?(): void;
}

export interface ScenarioHooks {
  /** Phase 1 instead of `s.faultWindowMs` of the schedule: an adaptive adversary injecting faults. */
  readonly drive?: (run: ScenarioRun) => void;
  /** The relay between the clients and the fleet during phase 1 (honest afterwards). */
  readonly relay?: (run: ScenarioRun) => ScenarioRelay;
}

/**
 * Plays scenario `s` and checks it. Phase 1 is `s.faultWindowMs` of its schedule, or `hooks.drive`:
 * an adaptive adversary (an attack of the catalog) that injects faults as the run unfolds; during
 * phase 1, `hooks.relay` (a hostile relay, src/scenarios/hostile-relay.ts) carries every frame
 * between the clients and the fleet.
 */
export function runScenario(s: Scenario, env: ScenarioEnv, hooks: ScenarioHooks = {}): ScenarioReport {
  const fleet = new SimFleet({
    hsms: env.hsms(s.n),
    labels: env.labels,
    config: env.config,
    seed: s.seed,
    network: s.network ?? {},
    ...(env.broken && { rules: env.broken.rules(RULES) }),
    ...(env.trace && { trace: true }),
    timing: { ...env.timing, ...s.timing },
  });
  env.observe?.(fleet);
  const history = new History();
  const keyNames = new Map<string, string>();
  for (const c of s.clients)
    for (const op of c.ops) if (op.kind === 'register') keyNames.set(toHex(keyBytes(op.key)), op.key);
  const clientOptions = (name: string, timing?: Partial<ClientTiming>) => ({
    history,
    keyNames,
    rng: seededRng(`${s.seed}/client/${name}`),
    timing: { ...env.clientTiming, ...timing },
  });
  const clients = s.clients.map((c) => new ScriptedClient(fleet, c, clientOptions(c.name)));
  for (const f of s.faults) fleet.schedule(f.at, f.fault);
  if (s.load) {
    const rng = seededRng(`${s.seed}/load`);
    for (let at = s.load.everyMs, k = 0; at < s.faultWindowMs; at += s.load.everyMs, k++) {
      fleet.proposeAt(at, randomInt(rng, s.n), {
        type: 'EndSession',
        credentialId: '00',
        sessionId: k.toString(16).padStart(8, '0'),
        reason: 'expired',
      });
    }
  }
  const run: ScenarioRun = {
    scenario: s,
    fleet,
    history,
    clients,
    startClient(script) {
      for (const op of script.ops) if (op.kind === 'register') keyNames.set(toHex(keyBytes(op.key)), op.key);
      const c = new ScriptedClient(fleet, script, clientOptions(script.name));
      clients.push(c);
      return c;
    },
  };
  const relay = hooks.relay?.(run);
  if (relay) {
    fleet.network.relay = relay;
    relay.start?.();
  }

  let violation: ScenarioViolation | null = null;
  const finals: ScriptedClient[] = [];
  try {
    // 1. faults
    if (hooks.drive) hooks.drive(run);
    else fleet.runFor(s.faultWindowMs);
    // 2. stable: an honest relay; heal, reliable network, every replica up; the scripts finish
    fleet.network.relay = null;
    fleet.calm();
    fleet.inject({ type: 'Heal' });
    fleet.inject({ type: 'Network', conditions: RELIABLE_NETWORK });
    for (const r of fleet.replicas()) if (!r.up) fleet.inject({ type: 'Restart', replica: r.id });
    const livenessMs = env.livenessMs ?? 20_000;
    const deadline = fleet.now + livenessMs;
    const scriptsDone = fleet.runUntil(() => clients.every((c) => c.done) && isConverged(fleet), livenessMs);
    // then, on the converged fleet and once the scripts are done, a final recovery per credential
    if (scriptsDone) {
      for (const credential of new Set(s.clients.map((c) => c.credential))) {
        const op = finalOp(s, credential);
        if (op === null) continue;
        const script: ClientScript = { name: `final/${credential}`, credential, ops: [op], startAt: fleet.now };
        finals.push(
          new ScriptedClient(fleet, script, clientOptions(script.name, { maxRedirects: 1000, timeoutMs: 5000 })),
        );
      }
    }
    // 3. liveness: each final recovery completes `ok`. A client whose attempt ended without a
    // verdict retries, as a real one would (a leader change right after healing, caused by messages
    // lost before it, can cost one attempt); a few retries, all within the deadline.
    const succeeded = (c: ScriptedClient) => c.done && c.records.at(-1)?.completion === 'ok';
    let live = scriptsDone;
    for (let retry = 0; live && retry <= FINAL_RETRIES; retry++) {
      live = fleet.runUntil(() => isConverged(fleet) && finals.every((c) => c.done), Math.max(0, deadline - fleet.now));
      if (!live || finals.every(succeeded)) break;
      for (const c of finals) if (!succeeded(c)) c.append(fleet, [c.records.at(-1)!.op]);
    }
    if (!live) {
      violation = { invariant: 'LIVENESS', detail: describeStall(fleet, [...clients, ...finals]) };
    } else if (!finals.every(succeeded)) {
      violation = {
        invariant: 'LIVENESS',
        detail:
          `the final recovery after stabilization failed ${FINAL_RETRIES + 1} times: ` +
          `${finals.flatMap((c) => c.records.map((r) => r.completion)).join(', ')}`,
      };
    }
  } catch (e) {
    if (!(e instanceof InvariantViolation)) throw e;
    violation = { invariant: e.invariant, detail: e.detail };
  }
  const ops = history.close();
  if (violation === null) violation = checkHistory(fleet.events, ops);
  const stats = { ...fleet.stats, simulatedMs: fleet.now, operations: ops.length };
  return { ok: violation === null, violation, stats, history: ops, trace: fleet.trace, fleet };
}

/**
 * The checks after a run: G5 and G3 on the ghost events, then a lost registration and
 * linearizability on the history (`lin`: its budgets, by default the checker's).
 */
export function checkHistory(
  events: readonly VaultEvent[],
  ops: readonly Operation[],
  lin: LinOptions = {},
): ScenarioViolation | null {
  const budget = checkBudget(events);
  if (budget.length > 0) {
    const v = budget[0]!;
    return { invariant: v.rule === 'G5' ? 'INV-1' : 'INV-2', detail: v.message };
  }
  const lost = findLostRegistration(ops);
  if (lost !== null) return { invariant: 'INV-6', detail: lost };
  const r = checkLinearizable(recordModel, ops, lin);
  if (r.verdict === 'not-linearizable') {
    const detail = `history not linearizable for credential ${r.partition}: ${describeRefutation(r, describeStep)}`;
    return { invariant: 'INV-5', detail };
  }
  // no answer is no pass: the run fails, as undecided (spec ch. 12.3.1)
  if (r.verdict === 'unknown') return { invariant: 'UNDECIDED', detail: `INV-5 not decided: ${describeUnknown(r)}` };
  return null;
}

/**
 * A serving leader whose term every replica shares, nobody recovering, every replica up to the
 * leader's commit and applied.
 */
export function isConverged(fleet: SimFleet): boolean {
  const leader = fleet.leader();
  if (leader === null) return false;
  const { commitIndex, durable } = fleet.replica(leader).state!.raft;
  return fleet.replicas().every((r) => {
    const raft = r.state?.raft;
    return (
      raft !== undefined &&
      !raft.durable.recovering &&
      raft.durable.currentTerm === durable.currentTerm &&
      raft.commitIndex === commitIndex &&
      r.state!.lastApplied === commitIndex
    );
  });
}

function describeStall(fleet: SimFleet, clients: readonly ScriptedClient[]): string {
  const replicas = fleet
    .replicas()
    .map((r) =>
      r.state
        ? `r${r.id} ${r.state.raft.role}${r.state.raft.durable.recovering ? ' (recovering)' : ''} ` +
          `term ${r.state.raft.durable.currentTerm} log ${r.state.raft.durable.log.length} ` +
          `commit ${r.state.raft.commitIndex}`
        : `r${r.id} down`,
    )
    .join('; ');
  const waiting = clients.filter((c) => !c.done).map((c) => c.name);
  return (
    `no convergence after stabilization: ${replicas}` +
    `${waiting.length ? `; clients still waiting: ${waiting.join(', ')}` : ''}`
  );
}

/** One line per fault, for a counterexample. */
export function describeSchedule(s: Scenario): string {
  const faults = s.faults.length
    ? s.faults.map((f) => `  ${String(f.at).padStart(5)} ms  ${describeFault(f.fault)}`).join('\n')
    : '  (no faults)';
  const clients = s.clients
    .map((c) => `  ${c.name} on ${c.credential} from ${c.startAt} ms: ${c.ops.map(describeOp).join(', ')}`)
    .join('\n');
  const extra =
    `${s.timing ? `, timing ${JSON.stringify(s.timing)}` : ''}` +
    `${s.load ? `, load every ${s.load.everyMs} ms` : ''}`;
  return (
    `seed ${JSON.stringify(s.seed)}, ${s.n} replicas, fault window ${s.faultWindowMs} ms, ` +
    `network ${JSON.stringify(s.network ?? {})}${extra}\nfaults:\n${faults}` +
    `${clients ? `\nclients:\n${clients}` : ''}`
  );
}

function describeOp(op: ClientOp): string {
  if (op.kind === 'register') return `register(${op.password}, limit ${op.limit})`;
  return op.kind === 'probe' || op.kind === 'delete' ? op.kind : `${op.kind}(${op.password})`;
}
