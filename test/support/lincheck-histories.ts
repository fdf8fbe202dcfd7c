/**
 * Histories for the linearizability checker's tests and bench (spec ch. 12.3): a register model,
 * generators of register histories and of record-rule histories, and a brute-force checker that
 * tries every order consistent with real time, with no memo and no list, to compare against.
 *
 *   registerModel         a read/write/compare-and-set register per key (partitioned by key)
 *   registerHistoryArb    clients run operations one after the other on a real register, each
 *                         taking effect at a random point of its interval; `info` ones (a crash:
 *                         the client stops) took effect or not; optionally one output changed
 *   recordsHistoryArb     the record rules themselves (`applyCommand`, src/vault/records.ts) with
 *                         an owner and attackers interleaved at random, cut off anywhere
 *   bruteForce            linearizable or not, by enumeration (small histories only)
 * @module
 */
import fc from 'fast-check';
import { History, type OpInput, type OpOutput, type Operation } from '../../src/check/history.ts';
import type { Model, TimedOperation } from '../../src/check/lincheck.ts';
import { type Command, type VaultState, EMPTY_VAULT, applyCommand } from '../../src/vault/records.ts';

export type RegisterInput =
  | { readonly kind: 'write'; readonly value: number }
  | { readonly kind: 'read' }
  | { readonly kind: 'cas'; readonly from: number; readonly to: number };

export interface RegisterOp extends TimedOperation {
  readonly key: string;
  readonly client: number;
  readonly input: RegisterInput;
  /** a read's value, a compare-and-set's success; none for a write or an `info` operation */
  readonly output?: number | boolean;
}

/** A register per key, 0 at first. */
export const registerModel: Model<number, RegisterOp> = {
  init: () => 0,
  key: (s) => String(s),
  partition: (op) => op.key,
  split: (op) => [op],
  step(s, op) {
    const { input, output } = op;
    const info = op.completion === 'info';
    switch (input.kind) {
      case 'write':
        return [input.value];
      case 'read':
        return info || output === s ? [s] : [];
      case 'cas':
        if (info) return s === input.from ? [input.to] : [s];
        return (s === input.from) === output ? [output ? input.to : s] : [];
    }
  },
};

/** What a register does with `input` in state `s`: the next state and the output. */
function apply(s: number, input: RegisterInput): { next: number; output?: number | boolean } {
  if (input.kind === 'write') return { next: input.value };
  if (input.kind === 'read') return { next: s, output: s };
  return s === input.from ? { next: input.to, output: true } : { next: s, output: false };
}

const registerInputArb = (values: number): fc.Arbitrary<RegisterInput> =>
  fc.oneof(
    fc.nat(values - 1).map((value): RegisterInput => ({ kind: 'write', value })),
    fc.constant<RegisterInput>({ kind: 'read' }),
    fc.tuple(fc.nat(values - 1), fc.nat(values - 1)).map(([from, to]): RegisterInput => ({ kind: 'cas', from, to })),
  );

export interface RegisterHistoryShape {
  readonly keys: number;
  readonly clients: number;
  /** operations per client, at most */
  readonly ops: number;
  readonly values: number;
  /** relative weights of the completions (default ok 4, info 1, fail 1) */
  readonly completions?: { readonly ok: number; readonly info: number; readonly fail: number };
  /** fast-check's size of the arrays (default: its own, small) */
  readonly size?: fc.SizeForArbitrary;
}

/**
 * Register histories: each client's operations one after the other (a gap, then a duration, in
 * small integer times so that some call and return times are equal), each taking effect at a
 * random point of its interval. An `info` operation is a crash: it took effect or not, its return
 * is ∞ and its client stops. A `fail` operation did not happen. `changed`: one output altered.
 */
export function registerHistoryArb(shape: RegisterHistoryShape): fc.Arbitrary<{ ops: RegisterOp[]; changed: boolean }> {
  const weights = shape.completions ?? { ok: 4, info: 1, fail: 1 };
  const opArb = fc.record({
    key: fc.nat(shape.keys - 1),
    input: registerInputArb(shape.values),
    gap: fc.nat(3),
    duration: fc.nat(6),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    completion: fc.oneof(
      ...(['ok', 'info', 'fail'] as const).map((c) => ({ arbitrary: fc.constant(c), weight: weights[c] })),
    ),
    happened: fc.boolean(),
  });
  const size = shape.size === undefined ? {} : { size: shape.size };
  const scriptArb = fc.array(opArb, { maxLength: shape.ops, ...size });
  const clientsArb = fc.array(scriptArb, { minLength: 1, maxLength: shape.clients, ...size });
  const changeArb = fc.option(fc.nat(), { nil: undefined });
  return fc.record({ clients: clientsArb, change: changeArb }).map(({ clients, change }) => {
    type Planned = { op: Omit<RegisterOp, 'output'>; at: number; effect: boolean };
    const planned: Planned[] = [];
    clients.forEach((script, client) => {
      let t = 0;
      for (const s of script) {
        const call = t + s.gap;
        const ret = call + s.duration;
        const { input, completion } = s;
        const end = completion === 'info' ? Infinity : ret;
        const op = { id: 0, key: `k${s.key}`, client, input, call, return: end, completion };
        const effect = completion === 'ok' || (completion === 'info' && s.happened);
        planned.push({ op, at: call + s.at * s.duration, effect });
        t = ret;
        if (s.completion === 'info') break;
      }
    });
    // the register: each operation takes effect at its point, in that order
    const state = new Map<string, number>();
    const outputs = new Map<Planned, number | boolean | undefined>();
    for (const p of [...planned].sort((a, b) => a.at - b.at)) {
      if (!p.effect) continue;
      const r = apply(state.get(p.op.key) ?? 0, p.op.input);
      state.set(p.op.key, r.next);
      outputs.set(p, r.output);
    }
    const ops = planned.map((p, id): RegisterOp => {
      const output = p.op.completion === 'ok' ? outputs.get(p) : undefined;
      return { ...p.op, id, ...(output !== undefined && { output }) };
    });
    const changeable = ops.filter((o) => o.output !== undefined);
    if (change === undefined || changeable.length === 0) return { ops, changed: false };
    const target = changeable[change % changeable.length]!;
    const shift = 1 + (change % (shape.values - 1 || 1));
    const was = target.output!;
    const output = typeof was === 'boolean' ? !was : (was + shift) % shape.values;
    return { ops: ops.map((o) => (o === target ? { ...o, output } : o)), changed: true };
  });
}

/**
 * A client of the record rules: a right password, one whose session expires before its KE3, a
 * wrong one, a probe, a forged KE3.
 */
type Attempt = 'right' | 'late' | 'wrong' | 'probe' | 'forge';

const reg = (limit: number): OpInput => ({ kind: 'register', password: 'pw', key: 'K', limit });
const rec = (password: string): OpInput => ({ kind: 'recover', password });
const wrong = (triesRemaining: number): OpOutput => ({ kind: 'WrongPassword', triesRemaining });

export interface RecordsHistoryShape {
  readonly maxLimit: number;
  readonly clients: { readonly min: number; readonly max: number };
  readonly attempts: number;
  /** most client steps run before the cut (default 120; each attempt takes 3 to 5) */
  readonly steps?: number;
  /** fast-check's size of the arrays (default: its own, small) */
  readonly size?: fc.SizeForArbitrary;
}

/**
 * Histories of the record rules themselves (`applyCommand`, src/vault/records.ts): a registration,
 * then an owner and attackers on the credential, each a client whose events (its invocation, each
 * command it has committed, the answer it gets) are interleaved at random. A run may stop anywhere:
 * the operations still open are `info`.
 */
export function recordsHistoryArb(
  shape: RecordsHistoryShape = { maxLimit: 3, clients: { min: 2, max: 4 }, attempts: 4 },
): fc.Arbitrary<{ ops: Operation[] }> {
  const attempt = fc.constantFrom<Attempt>('right', 'late', 'wrong', 'probe', 'forge');
  const size = shape.size === undefined ? {} : { size: shape.size };
  return fc
    .record({
      limit: fc.integer({ min: 1, max: shape.maxLimit }),
      clients: fc.array(fc.array(attempt, { minLength: 1, maxLength: shape.attempts, ...size }), {
        minLength: shape.clients.min,
        maxLength: shape.clients.max,
        ...size,
      }),
      schedule: fc.array(fc.nat(), { maxLength: shape.steps ?? 120, ...size }),
    })
    .map(({ limit, clients, schedule }) => ({ ops: recordsHistory(limit, clients, schedule) }));
}

function recordsHistory(
  limit: number,
  clients: readonly (readonly Attempt[])[],
  schedule: readonly number[],
): Operation[] {
  const h = new History();
  let t = 0;
  let vault: VaultState = EMPTY_VAULT;
  const commit = (cmd: Command) => {
    const r = applyCommand(vault, cmd);
    vault = r.state;
    return r.outcome;
  };
  const registration = h.invoke('owner', 'alice', reg(limit), t++);
  const registered = { registrationRecord: '00', sealedPayload: '00', transcriptHash: '00', guessLimit: limit };
  commit({ type: 'Register', credentialId: 'alice', ...registered });
  h.complete(registration, 'ok', t++, { kind: 'Registered' });
  function* client(name: string, attempts: readonly Attempt[]): Generator<void, void, void> {
    for (const [k, a] of attempts.entries()) {
      const password = a === 'right' || a === 'late' ? 'pw' : `${name}-${k}`;
      const input: OpInput = a === 'probe' ? { kind: 'probe' } : rec(password);
      const id = h.invoke(name, 'alice', input, t++);
      yield;
      const sessionId = `${name}/${k}`;
      const session = (reason: 'abort' | 'failed' | 'expired'): Command => {
        return { type: 'EndSession', credentialId: 'alice', sessionId, reason };
      };
      const consumed = commit({ type: 'ConsumeGuess', credentialId: 'alice', sessionId, at: 0 });
      yield;
      if (!consumed.ok) {
        h.complete(id, 'ok', t++, { kind: 'Locked' });
        continue;
      }
      const tries = consumed.record!.guessLimit - consumed.record!.attemptsUsed;
      if (a === 'probe' || a === 'wrong') {
        h.complete(id, 'ok', t++, a === 'probe' ? { kind: 'Ke2', triesRemaining: tries } : wrong(tries));
        yield;
        commit(session(a === 'probe' ? 'expired' : 'abort'));
      } else if (a === 'forge') {
        commit(session('failed'));
        yield;
        h.complete(id, 'ok', t++, wrong(tries));
      } else {
        h.opened(id, t++, tries);
        yield;
        if (a === 'late') commit(session('expired'));
        const registration = consumed.record!.transcriptHash;
        const reset = commit({ type: 'Reset', credentialId: 'alice', sessionId, registration });
        yield;
        // a refused KE3 (the session ended) is no verdict the client can name: `info`
        h.complete(id, reset.ok ? 'ok' : 'info', t++, reset.ok ? { kind: 'Recovered', key: 'K' } : undefined);
      }
      yield;
    }
  }
  const running = clients.map((attempts, c) => client(`c${c}`, attempts));
  for (const pick of schedule) {
    if (running.length === 0) break;
    const i = pick % running.length;
    if (running[i]!.next().done) running.splice(i, 1);
  }
  return h.close();
}

/** One count of a record history changed by one (an answer's tries, or a recovery's KE2), if it has any. */
export function changeOneCount(ops: readonly Operation[], pick: number): Operation[] | null {
  const counted = ops.filter((o) => o.ke2 !== undefined || (o.output !== undefined && 'triesRemaining' in o.output));
  if (counted.length === 0) return null;
  const target = counted[pick % counted.length]!;
  const delta = pick % 2 === 0 ? 1 : -1;
  const { ke2 } = target;
  const output = target.output as OpOutput & { triesRemaining: number };
  const changed: Operation =
    ke2 !== undefined
      ? { ...target, ke2: { ...ke2, triesRemaining: ke2.triesRemaining + delta } }
      : { ...target, output: { ...output, triesRemaining: output.triesRemaining + delta } as OpOutput };
  return ops.map((o) => (o === target ? changed : o));
}

/**
 * A credential registered with a limit, `before` wrong guesses one after the other, then `infos`
 * concurrent guesses that get no answer (`info`: each spent a guess or not) and, concurrent with
 * them, one answered with a count that needs one more guess than there were. Not linearizable,
 * and refuted only once every subset of the `info` guesses has been tried: about 2^infos * infos / 2 states.
 */
export function pastTheCount(h: History, credential: string, infos: number, before: number, t: number): number {
  const limit = before + infos + 5;
  const r = h.invoke('owner', credential, reg(limit), t++);
  h.complete(r, 'ok', t++, { kind: 'Registered' });
  for (let k = 0; k < before; k++) {
    h.complete(h.invoke('a', credential, rec(`w${k}`), t++), 'ok', t++, wrong(limit - k - 1));
  }
  for (let k = 0; k < infos; k++) h.invoke(`i${k}`, credential, rec(`x${k}`), t++);
  const last = h.invoke('b', credential, rec('y'), t++);
  h.complete(last, 'ok', t++, wrong(limit - before - infos - 2));
  return t;
}

/** A hard partition (20 `info` guesses, more than 2,000,000 states to refute) first, then five easy ones, larger. */
export function hardBesideEasy(): Operation[] {
  const h = new History();
  let t = pastTheCount(h, 'hard', 20, 0, 0);
  for (const c of ['e1', 'e2', 'e3', 'e4', 'e5']) t = pastTheCount(h, c, 8, 30, t);
  return h.close();
}

/**
 * Linearizable or not, by enumeration: every order of the operations (split by the model) in which
 * none comes before one that returned before its call, each `info` one taken with each state the
 * model allows or left out, until one order is accepted. Exponential: a handful of operations.
 */
export function bruteForce<S, R extends TimedOperation, O extends TimedOperation>(
  model: Model<S, R, O>,
  ops: readonly R[],
): boolean {
  const live = ops.filter((o) => o.completion !== 'fail').flatMap((o) => model.split(o));
  const used = live.map(() => false);
  const search = (state: S): boolean => {
    if (live.every((o, i) => used[i] || o.completion === 'info')) return true;
    for (const [i, o] of live.entries()) {
      if (used[i] || live.some((p, j) => !used[j] && p.return < o.call)) continue;
      used[i] = true;
      const found = model.step(state, o).some(search) || (o.completion === 'info' && search(state));
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(model.init());
}
