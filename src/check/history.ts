/**
 * Histories in the manner of Jepsen: every client operation is recorded when invoked and when it
 * completes, as `ok` (happened, with its output), `fail` (definitely did not happen) or `info`
 * (unknown: lost answer, crash, timeout). For the guess limit an `info` recovery counts as a spent
 * guess (spec ch. 12). A recovery whose KE2 opened the envelope also records that KE2 (`ke2`): it
 * takes effect in two commits, ConsumeGuess before that KE2 and Reset after its KE3.
 * @module
 */
export type OpKind = 'register' | 'recover' | 'delete';

export interface RegisterInput {
  readonly kind: 'register';
  /** An opaque name of the password (never the password itself) and of K. */
  readonly password: string;
  readonly key: string;
  readonly limit: number;
}
export interface RecoverInput {
  readonly kind: 'recover';
  readonly password: string;
}
/** A KE1 whose session is abandoned after KE2 (no KE3): it spends a guess without a verdict. */
export interface ProbeInput {
  readonly kind: 'probe';
}
/** A deletion of the credential's record (spec ch. 5): `Deleted`, or `NotFound` when it has none. */
export interface DeleteInput {
  readonly kind: 'delete';
}
export type OpInput = RegisterInput | RecoverInput | ProbeInput | DeleteInput;

export type OpOutput =
  | { readonly kind: 'Registered' }
  | { readonly kind: 'Recovered'; readonly key: string }
  | { readonly kind: 'WrongPassword'; readonly triesRemaining: number }
  | { readonly kind: 'Locked' }
  | { readonly kind: 'Deleted' }
  | { readonly kind: 'NotFound' }
  /**
   * a KE2, with the tries the vault said remain: a probe's, or the first step of a recovery with `ke2`
   * (record-model.ts)
   */
  | { readonly kind: 'Ke2'; readonly triesRemaining: number };

export type Completion = 'ok' | 'fail' | 'info';

export interface Operation {
  readonly id: number;
  readonly client: string;
  readonly credential: string;
  readonly input: OpInput;
  /** logical time of the invocation and of the completion (Infinity for `info`) */
  readonly call: number;
  readonly return: number;
  readonly completion: Completion;
  readonly output?: OpOutput;
  /**
   * A recovery whose KE2 opened the envelope: when the client had that KE2, and sent its KE3, and
   * the tries the KE2 said remain. Its ConsumeGuess took effect before `at`; its Reset, if any,
   * after.
   */
  readonly ke2?: { readonly at: number; readonly triesRemaining: number };
}

type OpenOperation = Omit<Operation, 'return' | 'completion' | 'output'>;

/** Records a history as a run goes. Time is the run's logical clock (event counter). */
export class History {
  readonly ops: Operation[] = [];
  readonly #open = new Map<number, OpenOperation>();
  #next = 0;

  invoke(client: string, credential: string, input: OpInput, at: number): number {
    const id = this.#next++;
    this.#open.set(id, { id, client, credential, input, call: at });
    return id;
  }

  /** A recovery's KE2 opened the envelope, saying `triesRemaining`; its KE3 leaves now. */
  opened(id: number, at: number, triesRemaining: number): void {
    this.#open.set(id, { ...this.#get(id), ke2: { at, triesRemaining } });
  }

  complete(id: number, completion: Completion, at: number, output?: OpOutput): void {
    const o = this.#get(id);
    this.#open.delete(id);
    this.ops.push({ ...o, return: completion === 'info' ? Infinity : at, completion, ...(output && { output }) });
  }

  #get(id: number): OpenOperation {
    const o = this.#open.get(id);
    if (!o) throw new Error(`history: operation ${id} is not open`);
    return o;
  }

  /** Ends the run: every operation still open becomes `info` (its outcome is unknown). */
  close(): Operation[] {
    for (const id of [...this.#open.keys()]) this.complete(id, 'info', Infinity);
    return this.ops.sort((a, b) => a.call - b.call);
  }
}

export function describeInput(i: OpInput): string {
  if (i.kind === 'register') return `register(${i.password}, limit ${i.limit})`;
  return i.kind === 'recover' ? `recover(${i.password})` : i.kind;
}

export function describeOutput(o: OpOutput | undefined, completion: Completion): string {
  if (completion !== 'ok' || o === undefined) return completion;
  if ('triesRemaining' in o) return `${o.kind}(${o.triesRemaining})`;
  return o.kind === 'Recovered' ? `Recovered(${o.key})` : o.kind;
}

export function describeOperation(o: Operation): string {
  const ke2 = o.ke2 ? ` (KE2 at ${o.ke2.at}: ${o.ke2.triesRemaining} left)` : '';
  return (
    `#${o.id} ${o.client} ${o.credential} ${describeInput(o.input)} -> ${describeOutput(o.output, o.completion)} ` +
    `[${o.call}, ${o.return === Infinity ? '∞' : o.return}]${ke2}`
  );
}
