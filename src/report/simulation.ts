/**
 * The report of a run of the simulated fleet (`bkv check`, spec ch. 13): the run is replayed with
 * its trace on (a run is a function of its suite, seed and index), and the fleet's logs give the
 * timeline: the history's logical ticks mapped to simulated milliseconds (`tickTimes`), crashes and
 * restarts (`lifeLog`), faults as they struck (`faultLog`), elections (`leaderLog`). The checker
 * that failed is asked again for what it names:
 *
 *   INV-1, INV-2  the budget checker (src/check/budget.ts) on the ghost events: the operations of
 *                 the credential open when the KE2s it counts left (INV-2: when K left)
 *   INV-5         the linearizability checker: the stuck operations, and its longest prefix
 *   others        the operations the detail names (`#id`), and the moment the run stopped
 *
 * The counterexample is the end of the trace, each line with every replica's state after it.
 * @module
 */
import { fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { checkBudget } from '../check/budget.ts';
import type { Operation } from '../check/history.ts';
import { checkLinearizable } from '../check/lincheck.ts';
import { recordModel } from '../check/record-model.ts';
import type { ReplicaState } from '../replication/replica.ts';
import { describeFault, type SimFleet } from '../sim/fleet.ts';
import type { ScenarioEnv } from '../sim/scenario.ts';
import { type RunResult, runOne } from '../scenarios/suites.ts';
import type {
  Counterexample,
  CounterexampleStep,
  ReportRun,
  ReportViolation,
  Timeline,
  TimelineFault,
} from './format.ts';
import { clientLanes, leaderTerms, linearizability, timelineOperations } from './history.ts';

/** Trace lines a counterexample shows (the end of the run). */
export const COUNTEREXAMPLE_STEPS = 60;

/** Replays run `r` with its trace on and reports it. */
export function reportSimulatedRun(r: RunResult, env: ScenarioEnv): ReportRun {
  let fleet: SimFleet | null = null;
  const traced = runOne(r.suite, r.seed, r.run, { ...env, trace: true, observe: (f) => (fleet = f) }, r.fc?.path);
  return simulatedRun(traced, fleet);
}

/** The report of a traced run; `fleet`: the run's fleet (null for an attack that runs none). */
export function simulatedRun(r: RunResult, fleet: SimFleet | null): ReportRun {
  const id = `${r.suite}-${r.run}`.replace(/[^A-Za-z0-9-]/g, '-');
  const title =
    `${r.suite} run ${r.run} (${r.name}${r.broken ? `, broken variant ${r.broken}` : ''}), ` +
    `seed ${JSON.stringify(r.seed)}`;
  const time = fleet ? tickTime(fleet) : (t: number) => t;
  const timeline = fleet ? fleetTimeline(fleet, r.history) : historyOnly(r.history);
  const lin = r.violation?.invariant === 'INV-5' ? linearizability(checkLinearizable(recordModel, r.history)) : null;
  const violation = r.violation && nameOperations(r, fleet, time, lin?.stuck.map((s) => s.op) ?? null, timeline.end);
  return {
    id,
    title,
    ok: r.ok,
    replay: { token: r.token, command: `npx bkv check --replay ${r.token}` },
    schedule: r.schedule,
    timeline,
    ...(violation && { violation }),
    ...(lin && { linearizability: lin }),
    ...(fleet &&
      fleet.traceStates.length > 0 && { counterexample: counterexample(fleet, r.violation?.invariant, violation?.at) }),
  };
}

/** Tick t of the history's logical clock happened at this simulated ms. */
function tickTime(fleet: SimFleet): (t: number) => number {
  return (t) => fleet.tickTimes[t - 1] ?? fleet.now;
}

function historyOnly(ops: readonly Operation[]): Timeline {
  const operations = timelineOperations(ops);
  const end = Math.max(1, ...operations.map((o) => o.end ?? o.start + 1));
  return { unit: 'tick', end, clients: clientLanes(ops), replicas: [], operations, faults: [], terms: [] };
}

export function fleetTimeline(fleet: SimFleet, ops: readonly Operation[]): Timeline {
  const end = Math.max(fleet.now, 1);
  return {
    unit: 'ms',
    end,
    clients: clientLanes(ops),
    replicas: Array.from({ length: fleet.n }, (_, i) => `r${i}`),
    operations: timelineOperations(ops, tickTime(fleet)),
    faults: faultBands(fleet, end),
    terms: leaderTerms(fleet.leaderLog, end),
  };
}

/** Down time from the life log; partitions and network conditions until they end; rollbacks and forks as points. */
export function faultBands(fleet: SimFleet, end: number): TimelineFault[] {
  const bands: TimelineFault[] = [];
  const downSince = new Map<number, number>();
  const closeDown = (replica: number, at: number) => {
    const from = downSince.get(replica);
    if (from === undefined) return;
    downSince.delete(replica);
    const cause = [...fleet.faultLog]
      .reverse()
      .find((f) => f.at <= from && f.fault.type === 'Crash' && f.fault.replica === replica);
    const inSave = cause?.fault.type === 'Crash' && cause.fault.afterWrites !== undefined && cause.at < from;
    const torn = inSave ? ` (crashed inside a save: ${describeFault(cause.fault)} at ${cause.at} ms)` : '';
    const label = `r${replica} down ${from}–${at} ms${torn}`;
    bands.push({ kind: inSave ? 'torn-save' : 'crash', replicas: [replica], start: from, end: at, label });
  };
  for (const e of fleet.lifeLog) {
    if (!e.up) downSince.set(e.replica, e.at);
    else closeDown(e.replica, e.at);
  }
  for (const r of [...downSince.keys()]) closeDown(r, end);
  let partition: { at: number; replicas: number[]; label: string } | null = null;
  let network: { at: number; label: string } | null = null;
  for (const { at, fault } of fleet.faultLog) {
    if (fault.type === 'Rollback' || fault.type === 'Fork') {
      bands.push({
        kind: fault.type.toLowerCase(),
        replicas: [fault.replica],
        start: at,
        end: null,
        label: `${describeFault(fault)} at ${at} ms`,
      });
    }
    if (fault.type === 'Partition' || fault.type === 'Heal') {
      if (partition)
        bands.push({
          kind: 'partition',
          replicas: partition.replicas,
          start: partition.at,
          end: at,
          label: partition.label,
        });
      partition =
        fault.type === 'Heal'
          ? null
          : { at, replicas: cutOff(fault.groups, fleet.n), label: `${describeFault(fault)} from ${at} ms` };
    }
    if (fault.type === 'Network') {
      if (network)
        bands.push({ kind: 'network', replicas: all(fleet.n), start: network.at, end: at, label: network.label });
      network = lossy(fault.conditions) ? { at, label: `${describeFault(fault)} from ${at} ms` } : null;
    }
  }
  if (partition)
    bands.push({ kind: 'partition', replicas: partition.replicas, start: partition.at, end, label: partition.label });
  if (network) bands.push({ kind: 'network', replicas: all(fleet.n), start: network.at, end, label: network.label });
  return bands.sort((a, b) => a.start - b.start);
}

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The replicas cut off from the largest side of a partition. */
function cutOff(groups: readonly (readonly number[])[], n: number): number[] {
  const listed = new Set(groups.flat());
  const sides = [...groups.map((g) => [...g]), all(n).filter((r) => !listed.has(r))].filter((g) => g.length > 0);
  const largest = sides.reduce((a, b) => (b.length > a.length ? b : a), [] as number[]);
  return all(n).filter((r) => !largest.includes(r));
}

function lossy(c: object): boolean {
  const x = c as Record<string, unknown>;
  return ['dropRate', 'duplicateRate', 'replayRate', 'tamperRate', 'clientDropRate', 'slowRate'].some(
    (k) => typeof x[k] === 'number' && x[k] > 0,
  );
}

/** The violation with the operations its checker names (module header). */
function nameOperations(
  r: RunResult,
  fleet: SimFleet | null,
  time: (t: number) => number,
  stuck: readonly number[] | null,
  end: number,
): ReportViolation {
  const v = r.violation!;
  const base = { invariant: v.invariant, detail: v.detail };
  if ((v.invariant === 'INV-1' || v.invariant === 'INV-2') && fleet) {
    const named = budgetOperations(fleet, r.history);
    if (named) return { ...base, operations: named.ids, at: time(named.at), why: named.why };
  }
  if (stuck)
    return {
      ...base,
      operations: stuck,
      at: end,
      why: 'the operations none of which can follow the longest linearizable prefix',
    };
  const known = new Set(r.history.map((o) => o.id));
  const ids = [...v.detail.matchAll(/#(\d+)\b/g)].map((m) => Number(m[1])).filter((id) => known.has(id));
  return {
    ...base,
    operations: [...new Set(ids)],
    at: fleet ? fleet.now : end,
    ...(ids.length > 0 && { why: 'the operations the detail names' }),
  };
}

/** INV-1: the KE2s the budget counted up to the one over it; INV-2: the release without a verified KE3. */
function budgetOperations(
  fleet: SimFleet,
  ops: readonly Operation[],
): { ids: number[]; at: number; why: string } | null {
  const v = checkBudget(fleet.events)[0];
  if (v === undefined) return null;
  const events = [...fleet.events]
    .sort((a, b) => a.at - b.at)
    .filter((e) => e.credential === v.credential && e.at <= v.at);
  let moments: number[];
  let why: string;
  if (v.rule === 'G5') {
    const since = [...events].reverse().find((e) => e.type === 'Registered' || e.type === 'Reset')?.at ?? 0;
    const sessions = new Map<string, number>();
    for (const e of events)
      if (e.type === 'Ke2Sent' && e.at > since && !sessions.has(e.session)) sessions.set(e.session, e.at);
    moments = [...sessions.values()];
    why = `the operations on the record open when the ${moments.length} KE2s counted since its last reset left`;
  } else {
    moments = [v.at];
    why = 'the operations on the record open when the session was reset or K left without a verified KE3';
  }
  const name = credentialName(v.credential);
  const ids = ops
    .filter(
      (o) => o.credential === name && o.input.kind !== 'register' && moments.some((t) => o.call < t && t < o.return),
    )
    .map((o) => o.id);
  return { ids, at: v.at, why };
}

/** The history names a credential by its text; the fleet by its bytes in hex (src/sim/client.ts). */
function credentialName(hex: string): string {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(fromHex(hex));
    return toHex(utf8(text)) === hex ? text : hex;
  } catch {
    return hex;
  }
}

const LINE = /^\s*(\d+) ms {2}(.*)$/;
const ARROW = /^(\S+) -> (\S+) (.*)$/;

/**
 * The trace lines up to the violation (`until`, in ms: default the end of the run) as steps, the
 * last `limit` of them, with every replica's state after each.
 */
export function counterexample(
  fleet: SimFleet,
  invariant: string | undefined,
  until = Infinity,
  limit = COUNTEREXAMPLE_STEPS,
): Counterexample {
  let to = fleet.traceStates.length;
  while (to > 0 && fleet.traceStates[to - 1]!.at > until) to--;
  const from = Math.max(0, to - limit);
  const replicas = Array.from({ length: fleet.n }, (_, i) => `r${i}`);
  const clients = new Set<string>();
  const steps: CounterexampleStep[] = [];
  for (let k = from; k < to; k++) {
    const m = LINE.exec(fleet.trace[k]!);
    const at = m ? Number(m[1]) : fleet.traceStates[k]!.at;
    const text = m ? m[2]! : fleet.trace[k]!;
    const states = Object.fromEntries(fleet.traceStates[k]!.replicas.map((s, i) => [`r${i}`, describeReplica(s)]));
    const arrow = ARROW.exec(text);
    if (arrow) {
      for (const p of [arrow[1]!, arrow[2]!]) if (!replicas.includes(p)) clients.add(p);
      steps.push({ kind: 'message', at, from: arrow[1]!, to: arrow[2]!, label: arrow[3]!, states });
    } else if (text.startsWith('FAULT ')) {
      const over = [...new Set([...text.matchAll(/\br(\d+)\b/g)].map((x) => `r${x[1]}`))];
      steps.push({ kind: 'fault', at, label: text.slice(6), over: over.length > 0 ? over : replicas, states });
    } else {
      const who = /^(r\d+)\b/.exec(text)?.[1];
      steps.push({ kind: 'note', at, label: text, over: who ? [who] : replicas, states });
    }
  }
  return { participants: [...replicas, ...clients], ...(invariant && { invariant }), omitted: from, steps };
}

/** A replica's state in a few lines: its role and log, then each record. */
export function describeReplica(s: ReplicaState | null): string[] {
  if (s === null) return ['down'];
  const raft = s.raft;
  const d = raft.durable;
  const flags = `${s.serving ? ' (serving)' : ''}${d.recovering ? ' (recovering)' : ''}`;
  const head = `${raft.role}${flags}, term ${d.currentTerm}`;
  const lines = [head, `log ${d.log.length}, commit ${raft.commitIndex}, applied ${s.lastApplied}`];
  for (const [credential, rec] of Object.entries(s.node.vault.records)) {
    const pending = Object.keys(rec.pending).length;
    lines.push(
      `${credentialName(credential)}: ${rec.status}, ` +
        `${rec.attemptsUsed}/${rec.guessLimit} attempts${pending ? `, ${pending} pending` : ''}`,
    );
  }
  return lines;
}
