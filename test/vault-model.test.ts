/**
 * Model-based test of the single-replica vault (spec ch. 5, G1-G4 at one replica; INV-4, INV-7),
 * with fast-check commands, on both HSM backends. The model is the record rules themselves
 * (`applyCommand`), applied to the commands each client action commits, plus what a client sees of
 * the vault's volatile state (open channels, a held KE3, the fake-record tries): it predicts what
 * the client sees and what the record holds after any sequence of:
 *
 *   Register(limit 1..5)   re-registration included: a new password, a new K, a new budget
 *   Recover(right|wrong)   the whole flow; a wrong password ends with RecoverAbort
 *   Abandon(right|wrong)   KE1 -> KE2, then the client goes away (never sends KE3 or abort)
 *   Hold / SendHeld        a right-password KE3 kept back, then sent later (after anything)
 *   Expire(advance)        the injected clock moves, then the session-expiry event
 *   Restart                the replica reopens from the same host storage and HSM token
 *   Delete                 the record is removed (authorized by the relay)
 *
 * Checked after every command: attempts stay within the limit, K is released only after a valid
 * KE3 of a pending session, an Exhausted record never gets a KE2 again and has its secret material
 * erased, a fault is never reported as a wrong password. The broken vaults of the catalog that
 * break a record rule (src/broken/catalog.ts) are each caught.
 *
 * Seed: BKV_SEED (default: random, printed). Runs: BKV_RUNS (default 20 per backend).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Bytes, toHex, utf8 } from '../src/crypto/bytes.ts';
import { generateBackupKey } from '../src/client/client.ts';
import {
  type Outcome,
  type RecoverySession,
  onRecoverResponse,
  onReleased,
  startRecovery,
} from '../src/client/session.ts';
import {
  type Command,
  type Outcome as RecordOutcome,
  type VaultRecord,
  type VaultState,
  DEFAULT_GUESS_LIMIT,
  EMPTY_VAULT,
  applyCommand,
  triesRemaining,
} from '../src/vault/records.ts';
import type { Frame } from '../src/vault/protocol.ts';
import type { ReplicaRules } from '../src/replication/host.ts';
import { brokenRules } from '../src/broken/catalog.ts';
import { ALICE, BACKENDS, type Backend, memoryBackend, TTL_MS, VaultWorld } from './support/vault-world.ts';

const SEED = Number(process.env.BKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.BKV_RUNS ?? 20);
console.log(`[vault-model] seed ${SEED}, ${RUNS} runs per backend (reproduce: BKV_SEED=${SEED} BKV_RUNS=${RUNS})`);

// ------------------------------------------------------------------------------------------------
// The model: the record rules themselves (applyCommand, spec ch. 5), over the commands a client's
// actions commit, with a session named by its start time; plus what a client sees of the vault's
// volatile state (open channels, a held KE3, the fake-record tries).

const CREDENTIAL = toHex(ALICE);

interface Model {
  /** The records as the rules make them. */
  vault: VaultState;
  /** Start times of the open channels awaiting KE3 (volatile: a restart closes them). */
  channels: number[];
  /** Start time of the session whose KE3 is held back, if any. */
  held: number | null;
  /** Probes of the unknown credential since the last restart (the vault's volatile fake tries). */
  fakeUsed: number;
}

const initialModel = (): Model => ({ vault: EMPTY_VAULT, channels: [], held: null, fakeUsed: 0 });

function commit(m: Model, cmd: Command): RecordOutcome {
  const r = applyCommand(m.vault, cmd);
  m.vault = r.state;
  return r.outcome;
}

const session = (at: number) => String(at);
const recordOf = (m: Model) => m.vault.records[CREDENTIAL];

/** What a KE1 gets: a KE2 with the tries left after this guess, or Locked. Commits its ConsumeGuess. */
function modelKe1(m: Model, at: number): { ke2: true; tries: number; fake: boolean } | { ke2: false } {
  const rec = recordOf(m);
  if (!rec) {
    if (m.fakeUsed + 1 > DEFAULT_GUESS_LIMIT) return { ke2: false };
    m.fakeUsed += 1;
    return { ke2: true, tries: DEFAULT_GUESS_LIMIT - m.fakeUsed, fake: true };
  }
  const o = commit(m, {
    type: 'ConsumeGuess',
    credentialId: CREDENTIAL,
    sessionId: session(at),
    at,
  });
  return o.ok && o.record ? { ke2: true, tries: triesRemaining(o.record), fake: false } : { ke2: false };
}

function endSession(m: Model, at: number, reason: 'abort' | 'failed' | 'expired'): void {
  commit(m, { type: 'EndSession', credentialId: CREDENTIAL, sessionId: session(at), reason });
}

function reset(m: Model, at: number): void {
  // the registration its KE2 came from: the current one (a re-registration ends every pending session)
  const registration = recordOf(m)?.transcriptHash ?? '';
  commit(m, { type: 'Reset', credentialId: CREDENTIAL, sessionId: session(at), registration });
}

const isPending = (m: Model, at: number) => session(at) in (recordOf(m)?.pending ?? {});

// ------------------------------------------------------------------------------------------------
// The real system

interface Real {
  readonly world: VaultWorld;
  /** The current registration's password and K. */
  password: Bytes;
  key: Bytes;
  held: { session: RecoverySession; ke3: Frame } | null;
  generation: number;
}

const PASSWORDS = (g: number) => utf8(`password of registration ${g}`);
const WRONG = utf8('not the password');

function expectOutcome<T>(got: Outcome<T>, want: Outcome<T>): void {
  expect(got).toEqual(want);
}

/** The invariants, and the record equal to the model's prediction. */
function checkRecord(m: Model, r: Real): void {
  const rec = r.world.record(ALICE);
  const want = recordOf(m);
  if (!want) {
    expect(rec).toBeUndefined();
    return;
  }
  expect(rec).toBeDefined();
  if (!rec) return;
  expect(rec.attemptsUsed).toBeLessThanOrEqual(rec.guessLimit); // INV-7
  expect(Object.keys(rec.pending).length).toBeLessThanOrEqual(rec.attemptsUsed); // INV-7
  const seen = (x: VaultRecord) => ({
    status: x.status,
    limit: x.guessLimit,
    attemptsUsed: x.attemptsUsed,
    pending: Object.values(x.pending).sort((a, b) => a - b),
  });
  expect(seen(rec)).toEqual(seen(want));
  // INV-4: Exhausted means erased
  if (rec.status === 'Exhausted') expect([rec.registrationRecord, rec.sealedPayload]).toEqual([null, null]);
  else expect(rec.registrationRecord !== null && rec.sealedPayload !== null).toBe(true);
}

type Cmd = fc.AsyncCommand<Model, Real>;

class Register implements Cmd {
  constructor(readonly limit: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    r.generation += 1;
    r.password = PASSWORDS(r.generation);
    r.key = generateBackupKey(r.world.rng);
    expectOutcome(await r.world.client.register(ALICE, r.password, r.key, this.limit), { ok: true, value: true });
    commit(m, {
      type: 'Register',
      credentialId: CREDENTIAL,
      registrationRecord: '',
      sealedPayload: '',
      transcriptHash: '',
      guessLimit: this.limit,
    });
    checkRecord(m, r);
  }
  toString = () => `Register(${this.limit})`;
}

class Recover implements Cmd {
  constructor(readonly right: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const at = r.world.now + 1;
    const got = await r.world.client.recover(ALICE, this.right ? r.password : WRONG);
    const k = modelKe1(m, at);
    if (!k.ke2) expectOutcome(got, { ok: false, kind: 'Locked' });
    else if (this.right && !k.fake) {
      expect(got.ok && toHex(got.value)).toBe(toHex(r.key));
      reset(m, at);
    } else {
      expectOutcome(got, { ok: false, kind: 'WrongPassword', triesRemaining: k.tries });
      if (!k.fake) endSession(m, at, 'abort'); // the client's RecoverAbort ended it
    }
    checkRecord(m, r);
  }
  toString = () => `Recover(${this.right ? 'right' : 'wrong'})`;
}

/** KE1 sent, KE2 received, then the client goes away: the guess stays spent (G2). */
class Abandon implements Cmd {
  constructor(readonly right: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const at = r.world.now + 1;
    const { frame, session } = startRecovery(r.world.ctx, ALICE, this.right ? r.password : WRONG, r.world.rng);
    const answer = await r.world.relay.exchange(frame);
    expect(answer).not.toBeNull();
    const next = onRecoverResponse(r.world.ctx, session, answer!);
    const k = modelKe1(m, at);
    if (!k.ke2) expect(next).toEqual({ outcome: { ok: false, kind: 'Locked' } });
    else {
      m.channels.push(at);
      if (this.right && !k.fake) expect('frame' in next && next.outcome === undefined).toBe(true);
      else
        expect('frame' in next && next.outcome).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: k.tries });
    }
    checkRecord(m, r);
  }
  toString = () => `Abandon(${this.right ? 'right' : 'wrong'})`;
}

/** A right-password recovery whose KE3 is computed and kept back. */
class Hold implements Cmd {
  check = (m: Readonly<Model>) => recordOf(m) !== undefined && m.held === null;
  async run(m: Model, r: Real) {
    const at = r.world.now + 1;
    const { frame, session } = startRecovery(r.world.ctx, ALICE, r.password, r.world.rng);
    const next = onRecoverResponse(r.world.ctx, session, (await r.world.relay.exchange(frame))!);
    const k = modelKe1(m, at);
    if (!k.ke2) expect(next).toEqual({ outcome: { ok: false, kind: 'Locked' } });
    else {
      expect('frame' in next && next.outcome === undefined).toBe(true);
      if ('frame' in next) r.held = { session, ke3: next.frame };
      m.held = at;
      m.channels.push(at);
    }
    checkRecord(m, r);
  }
  toString = () => 'Hold';
}

/** The held KE3 arrives: K only if its session is still pending on an open channel (G3). */
class SendHeld implements Cmd {
  check = (m: Readonly<Model>) => m.held !== null;
  async run(m: Model, r: Real) {
    const at = m.held!;
    const { session, ke3 } = r.held!;
    const answer = await r.world.relay.exchange(ke3);
    const got = answer ? onReleased(r.world.ctx, session, answer) : null;
    if (m.channels.includes(at) && isPending(m, at)) {
      expect(got?.ok && toHex(got.value)).toBe(toHex(r.key));
      reset(m, at);
    } else {
      // the session ended (expired, reset by another recovery, re-registered, deleted) or its channel is gone (restart)
      expect(got).toEqual({ ok: false, kind: 'Fault', code: 'UnknownSession' });
    }
    m.channels = m.channels.filter((t) => t !== at);
    m.held = null;
    r.held = null;
    checkRecord(m, r);
  }
  toString = () => 'SendHeld';
}

class Expire implements Cmd {
  constructor(readonly advance: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const frames = r.world.expire(this.advance);
    const now = r.world.now;
    const old = (t: number) => now - t >= TTL_MS;
    const alerts = frames.filter((f) => f.kind === 'Alert' && new TextDecoder().decode(f.bytes) === 'SessionExpired');
    expect(alerts.length).toBe(m.channels.filter(old).length);
    expect(frames.length).toBe(alerts.length);
    m.channels = m.channels.filter((t) => !old(t));
    for (const t of Object.values(recordOf(m)?.pending ?? {}).filter(old)) endSession(m, t, 'expired');
    checkRecord(m, r);
  }
  toString = () => `Expire(+${this.advance} ms)`;
}

class Restart implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    r.world.restart();
    // a fleet of one elects itself anew: the sessions of its earlier life can never finish (their
    // channels are gone), so it ends them at once (spec ch. 6, "Serving"); their guesses stay spent
    for (const t of Object.values(recordOf(m)?.pending ?? {})) endSession(m, t, 'expired');
    m.channels = [];
    m.fakeUsed = 0;
    checkRecord(m, r);
  }
  toString = () => 'Restart';
}

class Delete implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    const got = await r.world.client.delete(ALICE);
    expectOutcome(got, recordOf(m) ? { ok: true, value: true } : { ok: false, kind: 'Fault', code: 'RecordNotFound' });
    commit(m, { type: 'Delete', credentialId: CREDENTIAL });
    checkRecord(m, r);
  }
  toString = () => 'Delete';
}

const COMMANDS = [
  fc.integer({ min: 1, max: 5 }).map((l) => new Register(l)),
  fc.boolean().map((right) => new Recover(right)),
  fc.boolean().map((right) => new Recover(right)),
  fc.boolean().map((right) => new Abandon(right)),
  fc.constant(new Hold()),
  fc.constant(new SendHeld()),
  fc.constantFrom(1, TTL_MS / 2, TTL_MS).map((a) => new Expire(a)),
  fc.constant(new Restart()),
  fc.constant(new Delete()),
];

/** The property: any command sequence keeps the vault equal to the model. */
function vaultProperty(backend: Backend, rules?: ReplicaRules) {
  return fc.asyncProperty(fc.nat(), fc.commands(COMMANDS, { size: '+1', maxCommands: 40 }), async (worldSeed, cmds) => {
    const world = new VaultWorld({
      backend,
      token: 'bkv-2',
      seed: `vault-model ${worldSeed}`,
      ...(rules && { rules }),
    });
    try {
      const real: Real = { world, password: PASSWORDS(0), key: new Uint8Array(32), held: null, generation: 0 };
      await fc.asyncModelRun(() => ({ model: initialModel(), real }), cmds);
    } finally {
      world.dispose();
    }
  });
}

describe.each(BACKENDS)('vault model: $name', ({ make }) => {
  let backend: Backend;
  beforeAll(() => void (backend = make()));
  afterAll(() => backend.teardown());

  test(
    'any sequence of register, recover, abandon, hold, expire, ' +
      'restart, delete follows the model (G1-G4; INV-2, INV-4, INV-7)',
    async () => {
      await fc.assert(vaultProperty(backend), { seed: SEED, numRuns: RUNS });
    },
  );
});

describe('the model test catches a broken vault', () => {
  const backend = memoryBackend('ristretto255-SHA512+Curve25519');
  test.each([
    'count-at-ke3',
    'reset-without-pending',
    'no-guess-limit',
    'refund-on-abort',
    'expiry-ends-no-session',
    'never-erase',
  ])('%s', async (name) => {
    const r = await fc.check(vaultProperty(backend, brokenRules(name)), { seed: 1, numRuns: 200, endOnFailure: true });
    expect(r.failed).toBe(true);
    console.log(`[vault-model] "${name}" caught after ${r.numRuns} runs: ${String(r.counterexample?.[1] ?? '')}`);
  });
});
