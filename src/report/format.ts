/**
 * The run report (spec ch. 14.6): what a long-running command (`bkv check`, `bkv explore`,
 * `bkv chaos`) saw, as one JSON document that `writeRunReport` (write.ts) also renders as a static
 * page. Plain data, no functions: a runtime fills it from its own records and hands it over.
 *
 *   RunReport       the command, its figures, and its runs (the failing ones, or samples)
 *   ReportRun       one run: its verdict, replay, violation, timeline, linearizability, steps
 *   Timeline        Jepsen's and porcupine's view: a lane per client (operations as bars from
 *                   invocation to completion), a lane per replica (fault bands), leader terms on top
 *   Counterexample  a sequence of steps (messages between lifelines, faults, actions), each with
 *                   the state of every replica after it
 * @module
 */
import type { Completion } from '../check/history.ts';

export const RUN_REPORT_SCHEMA = 'bkv-run-report/1';

export interface RunReport {
  readonly schema: typeof RUN_REPORT_SCHEMA;
  /** A title for the page, e.g. `bkv check --broken count-at-ke3`. */
  readonly title: string;
  /** The command line that produced it. */
  readonly command: string;
  /** Whether the command succeeded (a broken variant caught is a success). */
  readonly ok: boolean;
  /** The command's figures, in order: `[["scenarios", 300], ["seed", "1"]]`. */
  readonly figures: readonly (readonly [string, string | number])[];
  readonly runs: readonly ReportRun[];
  /** The command's own JSON document (`bkv check --json`'s), kept as is. */
  readonly document?: unknown;
}

export interface ReportRun {
  /** Unique within the report (an HTML id). */
  readonly id: string;
  /** `guess-limit run 0 (broken variant count-at-ke3)`. */
  readonly title: string;
  /** The checks passed (a sample run), or a failure. */
  readonly ok: boolean;
  readonly replay?: { readonly token: string; readonly command: string };
  readonly violation?: ReportViolation;
  /** A description of the schedule (faults, clients), as text. */
  readonly schedule?: string;
  readonly timeline?: Timeline;
  readonly linearizability?: Linearizability;
  readonly counterexample?: Counterexample;
}

export interface ReportViolation {
  /** `INV-n` (spec ch. 12), `LIVENESS` or `UNDECIDED`. */
  readonly invariant: string;
  readonly detail: string;
  /** The ids of the timeline's operations the checker names. */
  readonly operations: readonly number[];
  /** When it was seen, in the timeline's unit (the run's end when the checker looks at the whole history). */
  readonly at?: number;
  /** How the named operations were found (e.g. "open when the KE2s over the budget left"). */
  readonly why?: string;
}

export interface Timeline {
  /** The unit of every time (`ms` of simulated or real time). */
  readonly unit: string;
  readonly end: number;
  /** Client lanes, top to bottom. */
  readonly clients: readonly string[];
  /** Replica lanes: `r0`, `r1`, ... */
  readonly replicas: readonly string[];
  readonly operations: readonly TimelineOperation[];
  readonly faults: readonly TimelineFault[];
  readonly terms: readonly LeaderTerm[];
}

export interface TimelineOperation {
  /** The history's operation id. */
  readonly id: number;
  readonly client: string;
  readonly credential: string;
  /** `recover(pw-0)`. */
  readonly input: string;
  /** `WrongPassword(1)`, or the completion when there is no output. */
  readonly output: string;
  readonly completion: Completion;
  readonly start: number;
  /** null: never completed (`info`), the bar runs to the end. */
  readonly end: number | null;
  /** More lines for the hover (the KE2 of a recovery, logical times). */
  readonly notes?: readonly string[];
}

export interface TimelineFault {
  /** `crash`, `partition`, `rollback`, `fork`, `network`, `torn-save`, ...: the band's colour. */
  readonly kind: string;
  /** Replica lanes it covers (indices into `replicas`). */
  readonly replicas: readonly number[];
  readonly start: number;
  /** null: a point in time (a rollback at restart); else the band's end. */
  readonly end: number | null;
  readonly label: string;
}

export interface LeaderTerm {
  readonly term: number;
  readonly leader: string;
  readonly start: number;
  readonly end: number;
}

export interface Linearizability {
  /** The partition (credential) that was refuted. */
  readonly partition: string;
  /**
   * The longest linearizable prefix: operation ids (with the commit, for a split recovery) and the state after each.
   */
  readonly longest: readonly { readonly op: number; readonly label: string; readonly state: string }[];
  /** The operations none of which can come next. */
  readonly stuck: readonly { readonly op: number; readonly label: string }[];
}

export interface Counterexample {
  /** Lifelines, left to right (replicas, then clients). */
  readonly participants: readonly string[];
  /** The invariant the last step violates, if any. */
  readonly invariant?: string;
  /** How many earlier steps were left out (a long run shows its end). */
  readonly omitted?: number;
  readonly steps: readonly CounterexampleStep[];
}

export interface CounterexampleStep {
  /** What happened: the message, the fault or the action. */
  readonly label: string;
  readonly at?: number;
  /** A message from one lifeline to another; a fault or action names the lifelines it concerns in `over`. */
  readonly from?: string;
  readonly to?: string;
  readonly over?: readonly string[];
  readonly kind: 'message' | 'fault' | 'action' | 'note';
  /** The state after the step, per lifeline (or one entry for the whole system), as short lines of text. */
  readonly states?: Readonly<Record<string, readonly string[]>>;
}
