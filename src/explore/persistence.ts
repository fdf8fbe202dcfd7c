/**
 * The persistence rule explored exhaustively (spec ch. 6, "The persistence rule"; ch. 10): one
 * replica, its HSM counters and a host that keeps every blob it was ever given, with the real
 * `Persistence` (durable.ts over storage.ts, or a broken variant) doing every save and load. The
 * replica's state is a Raft `Durable` whose log holds numbers; its effects are abstract: after a
 * save the replica acknowledges its log, or grants its vote, and it may release either again at any
 * time with no save at all, as raft.ts does (a vote re-granted to the candidate it holds, entries it
 * holds acknowledged again). The host's moves are ordinary actions:
 *
 *   Append          the replica appends an entry and saves       (crash after 0..3 durable writes)
 *   NewTerm         the replica sees a new term and saves         (idem)
 *   Vote(c)         the replica votes for candidate c and saves   (idem)
 *   Reack, Regrant  the replica acknowledges its log, or grants the vote it holds, again: no save
 *   Crash           the host kills the replica
 *   Restart(b)      the host restarts it on kept blob b, or on none; the start seals what it
 *                   resumes from (crash after 0..5 durable writes of the start)
 *
 * An effect leaves only once its save is complete. The property, checked at every restart: a
 * replica that does not know it was rolled back (neither this start detected it nor its state is
 * `recovering`, sealed by a start that did) wakes on a state holding every effect that left
 * (its log at least as long as every acknowledgement, its vote in a term the one it granted); and
 * one that knows it starts from a term and vote no older than those it granted. At bound
 * (`steps` protocol actions, `crashes` kills) the search is exhausted: every state, breadth first,
 * so that the first violation comes with a shortest trace.
 * @module
 */
import { seededRng } from '../crypto/rng.ts';
import type { Persistence } from '../replication/durable.ts';
import type { Durable } from '../replication/raft.ts';
import { CrashPoint, HostCrash } from '../sim/crash.ts';
import { MemoryHostStorage, type Version } from '../vault/storage.ts';
import { modelHsm } from './model-hsm.ts';
import { type Explorable, type SearchResult, type Transition, search } from './search.ts';

const SEAL = 'seal';
/** Most durable writes a save makes (blob, anchor, ballot): a crash after each. */
const CRASH_POINTS = [0, 1, 2, 3] as const;
/** Most durable writes a start makes (the anchor's catch-up, the incarnation, then a save): a crash after each. */
const START_CRASH_POINTS = [0, 1, 2, 3, 4, 5] as const;

export interface PersistenceBound {
  /** Protocol actions (Append, NewTerm, Vote) in all. */
  readonly steps: number;
  /** Kills by the host in all (a crash inside a save counts). */
  readonly crashes: number;
}

export const DEFAULT_PERSISTENCE_BOUND: PersistenceBound = { steps: 3, crashes: 2 };

interface State {
  /** The live replica's durable state, null while it is down. */
  readonly live: Durable<number> | null;
  readonly version: Version;
  readonly blobs: readonly Uint8Array[];
  readonly counters: ReadonlyMap<string, bigint>;
  /** Ghost: the longest log acknowledged, and each term's vote granted, since the last detected rollback. */
  readonly acked: number;
  readonly granted: readonly (readonly [term: number, candidate: number])[];
  readonly steps: number;
  readonly crashes: number;
}

/** Names blobs by small integers (equal bytes, equal names), so that a state's key stays short. */
class BlobNames {
  readonly #ids = new WeakMap<Uint8Array, number>();
  readonly #interned = new Map<string, number>();
  id(b: Uint8Array): number {
    let id = this.#ids.get(b);
    if (id === undefined) {
      const text = Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
      id = this.#interned.get(text) ?? this.#interned.size;
      this.#interned.set(text, id);
      this.#ids.set(b, id);
    }
    return id;
  }
}

function keyOf(s: State, names: BlobNames): string {
  const counters = [...s.counters]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return JSON.stringify([
    s.live,
    String(s.version),
    s.blobs.map((b) => names.id(b)),
    counters,
    s.acked,
    s.granted,
    s.steps,
    s.crashes,
  ]);
}

/** The replica's HSM and storage as they stand in `s`, a crash armed after `crashAfter` writes (0: none). */
function world(s: State, crashAfter: number) {
  const model = modelHsm('explore', SEAL, s.counters);
  const storage = new MemoryHostStorage();
  for (const b of s.blobs) storage.save(b);
  const crash = new CrashPoint(0);
  if (crashAfter > 0) crash.arm(crashAfter);
  const store = { hsm: crash.hsm(model.hsm), sealLabel: SEAL, storage: crash.storage(storage) };
  return { store, storage, counters: model.counters };
}

const rng = seededRng('explore persistence'); // nonces: the model's seal ignores them

/** Outcome of one action: the next state and whether it was a violation. */
type Next = { readonly label: string; readonly state: State; readonly violation?: string };

function save(p: Persistence, s: State, live: Durable<number>, label: string, effect: (s: State) => State): Next[] {
  const out: Next[] = [];
  for (const k of CRASH_POINTS) {
    const w = world(s, k);
    const steps = s.steps + 1;
    try {
      // (a crash point beyond this save's writes: the save completes, the same state as without)
      const version = p.persist(w.store, s.version, live, rng);
      out.push({
        label,
        state: effect({ ...s, live, version, blobs: w.storage.history.slice(), counters: w.counters(), steps }),
      });
    } catch (e) {
      if (!(e instanceof HostCrash)) throw e;
      out.push({
        label: `${label}, killed after ${k} durable write(s)`,
        state: {
          ...s,
          live: null,
          blobs: w.storage.history.slice(),
          counters: w.counters(),
          steps,
          crashes: s.crashes + 1,
        },
      });
    }
  }
  return out;
}

function restart(p: Persistence, s: State, blob: number | null, k: number): Next {
  const w = world(s, k);
  if (blob === null) w.storage.rollback(w.storage.history.length);
  else w.storage.present(blob);
  const on = blob === null ? 'no blob' : `blob ${blob}`;
  const crashes = s.crashes + (k > 0 ? 1 : 0);
  try {
    const loaded = p.load<number>(w.store, rng);
    const version = loaded.version;
    const d = loaded.durable;
    const next: State = { ...s, live: d, version, blobs: w.storage.history.slice(), counters: w.counters(), crashes };
    const label = `Restart(${on})${loaded.rolledBack ? ': rolled back, recovering' : ''}`;
    const older = s.granted.find(([t, c]) => d.currentTerm < t || (d.currentTerm === t && d.votedFor !== c));
    if (older)
      return {
        label,
        state: next,
        violation:
          `woke in term ${d.currentTerm} voting ${d.votedFor ?? 'nobody'}, ` +
          `after granting its vote to ${older[1]} in term ${older[0]}`,
      };
    // a recovering state (this start's, or one sealed by a start that detected a rollback) knows it
    const knows = loaded.rolledBack || d.recovering;
    if (!knows && d.log.length < s.acked)
      return {
        label,
        state: next,
        violation:
          `woke on a log of ${d.log.length} without knowing it was rolled back, ` + `after acknowledging ${s.acked}`,
      };
    return { label, state: knows ? { ...next, acked: 0 } : next };
  } catch (e) {
    if (!(e instanceof HostCrash)) throw e;
    return {
      label: `Restart(${on}), killed after ${k} durable write(s)`,
      state: { ...s, live: null, blobs: w.storage.history.slice(), counters: w.counters(), crashes },
    };
  }
}

function successors(p: Persistence, s: State, bound: PersistenceBound): Next[] {
  const out: Next[] = [];
  const canCrash = s.crashes < bound.crashes;
  const saves = (live: Durable<number>, label: string, effect: (x: State) => State) =>
    save(p, s, live, label, effect).filter((n) => canCrash || n.state.crashes === s.crashes);
  const d = s.live;
  if (d !== null) {
    if (s.steps < bound.steps) {
      out.push(
        ...saves({ ...d, log: [...d.log, { term: d.currentTerm, command: s.steps }] }, 'Append', (x) => ({
          ...x,
          acked: Math.max(x.acked, x.live!.log.length),
        })),
      );
      out.push(...saves({ ...d, currentTerm: d.currentTerm + 1, votedFor: null }, 'NewTerm', (x) => x));
      if (d.votedFor === null && !d.recovering) {
        for (const c of [1, 2]) {
          out.push(
            ...saves({ ...d, votedFor: c }, `Vote(${c})`, (x) => ({
              ...x,
              granted: [...x.granted, [d.currentTerm, c] as const],
            })),
          );
        }
      }
    }
    // effects that need no save: what the replica holds, released again
    if (!d.recovering && d.log.length > s.acked) out.push({ label: 'Reack', state: { ...s, acked: d.log.length } });
    const vote = d.votedFor;
    if (!d.recovering && vote !== null && !s.granted.some(([t, c]) => t === d.currentTerm && c === vote)) {
      out.push({ label: 'Regrant', state: { ...s, granted: [...s.granted, [d.currentTerm, vote] as const] } });
    }
    if (canCrash) out.push({ label: 'Crash', state: { ...s, live: null, crashes: s.crashes + 1 } });
    return out;
  }
  for (const blob of [null, ...s.blobs.keys()]) {
    for (const k of START_CRASH_POINTS) {
      if (k > 0 && !canCrash) continue;
      out.push(restart(p, s, blob, k));
    }
  }
  return out;
}

/** The persistence rule as an explorable system (search.ts): one replica and its host, within `bound`. */
export class PersistenceSystem implements Explorable<State> {
  readonly #names = new BlobNames();
  constructor(
    readonly persistence: Persistence,
    readonly bound: PersistenceBound = DEFAULT_PERSISTENCE_BOUND,
  ) {}

  initial(): State {
    const w = world(
      { live: null, version: 0n, blobs: [], counters: new Map(), acked: 0, granted: [], steps: 0, crashes: 0 },
      0,
    );
    const first = this.persistence.load<number>(w.store, rng);
    const blobs = w.storage.history.slice();
    return {
      live: first.durable,
      version: first.version,
      blobs,
      counters: w.counters(),
      acked: 0,
      granted: [],
      steps: 0,
      crashes: 0,
    };
  }

  key(s: State): string {
    return keyOf(s, this.#names);
  }

  successors(s: State): Transition<State>[] {
    return successors(this.persistence, s, this.bound).map((n) =>
      n.violation === undefined
        ? { label: n.label, state: n.state }
        : { label: n.label, state: n.state, violation: { invariant: 'INV-15', detail: n.violation } },
    );
  }
}

/** Every state of the persistence rule `p` within `bound`, breadth first. */
export function explorePersistence(p: Persistence, bound: PersistenceBound = DEFAULT_PERSISTENCE_BOUND): SearchResult {
  return search(new PersistenceSystem(p, bound));
}
