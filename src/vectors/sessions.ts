/**
 * Vault session transcripts (spec ch. 9, `sessions.json`): every frame a client (or the relay)
 * sends a single-replica vault and every frame the vault answers, in hex, for registration and
 * recovery with the right password, a wrong one, a KE3 with a wrong MAC, on an exhausted record,
 * across a re-registration and for an unknown credential, plus an abandoned session that expires
 * and refused frames (replays, tampered frames). Each side's randomness is listed, draw by draw,
 * where it is drawn, so that:
 *
 *   a vault implementation, loaded with `keys` and `pre`, fed each step's `frame` (or the expiry
 *   event) at `now` with the step's `vaultRandom`, answers exactly `replies` and ends in `post`;
 *   a client implementation, run through each operation with its `clientRandom` and fed the
 *   recorded `replies`, sends exactly the recorded frames and ends with `result`.
 *
 * The generator and both verifiers run one driver (`runOperation`, over the client's step
 * functions of src/client/session.ts) and one vault (src/vault/single.ts); the storage's own
 * randomness (seal nonces) is kept apart, as it is no part of the protocol. Regenerate with
 * `npx bkv vectors generate --out test/vectors`.
 * @module
 */
import { type Rng, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { initiatorFinish } from '../crypto/noise.ts';
import { clientFinishLogin } from '../crypto/opaque-client.ts';
import { decodeKE2, encodeKE3 } from '../crypto/opaque-messages.ts';
import {
  type ClientContext,
  type Outcome,
  type RecoverySession,
  fault,
  onRecoverResponse,
  onRegisterDone,
  onRegisterResponse,
  onReleased,
  startRecovery,
  startRegistration,
} from '../client/session.ts';
import { fromWire, toWire, type WireFrame, type WireResult, wireResult } from '../conform/adapter-protocol.ts';
import { isVaultError } from '../errors.ts';
import { MemoryHsm, MemoryToken } from '../hsm/memory.ts';
import {
  type VaultPrivateKeys,
  type VaultPublicKeys,
  generateVaultKeys,
  importVaultKeys,
  publicKeyBytes,
} from '../vault/imported-keys.ts';
import { type Frame, decodeResponse, encodeRequest } from '../vault/protocol.ts';
import { type Command, type VaultState, EMPTY_VAULT } from '../vault/records.ts';
import { pinnedContext, vaultConfig } from '../vault/setup.ts';
import { persistDurable } from '../replication/durable.ts';
import type { ReplicaRules } from '../replication/host.ts';
import type { Entry } from '../replication/raft.ts';
import { SingleReplicaVault } from '../vault/single.ts';
import { MemoryHostStorage, beginIncarnation } from '../vault/storage.ts';

/**
 * A client operation. `probe`: a recovery that stops at its KE2 (no KE3, no abort: an attacker's
 * guess). `wrong-mac`: a recovery whose client opens the envelope and then sends, in the channel,
 * its KE3 with the last byte of `client_mac` XORed with 0x01 (no conforming client does this: it
 * shows the vault's MAC check, spec §9.1.3).
 */
export interface SessionOperation {
  readonly op: 'register' | 'recover' | 'probe' | 'wrong-mac';
  readonly credentialId: string;
  readonly password: string;
  /** register: K and the guess limit. */
  readonly key?: string;
  readonly guessLimit?: number;
  /** What the client ends with. */
  readonly result: WireResult;
}

export interface SessionStep {
  /**
   * The vault's clock, in ms: 1000 at the first step, 10 more at each next one, and the TTL + 1 more before an expiry
   * event.
   */
  readonly now: number;
  /**
   * The operation whose client sent `frame` (0-based index into `operations`); absent: the relay sent it, or the expiry
   * event.
   */
  readonly op?: number;
  /** Present iff `op` is: the client's random draws before sending `frame`, in order (hex; may be empty). */
  readonly clientRandom?: readonly string[];
  /** The frame delivered to the vault; absent: the session-expiry event. */
  readonly frame?: WireFrame;
  /** The vault's random draws while handling it, in order (hex). */
  readonly vaultRandom: readonly string[];
  /** The vault's frames, in the order it sends them (the expiry event's Alerts: in the order their channels opened). */
  readonly replies: readonly WireFrame[];
  /** The text of the first Alert among the replies (a refusal outside the channel); absent when there is none. */
  readonly code?: string;
}

export interface SessionVector {
  readonly name: string;
  readonly description: string;
  readonly suite: SuiteId;
  readonly sessionTtlMs: number;
  /** The vault's private keys, as the conformance adapter's `init` takes them. */
  readonly keys: VaultPrivateKeys;
  /** Their public halves: what the clients pin. */
  readonly publicKeys: VaultPublicKeys;
  readonly pre: VaultState;
  readonly operations: readonly SessionOperation[];
  readonly steps: readonly SessionStep[];
  readonly post: VaultState;
}

const TTL = 30_000;

// ---------------------------------------------------------------------------------------------
// One vault, one client context, randomness that is recorded or replayed

/** An Rng that records its draws (hex); `take` hands over those made since the last `take`. */
function recording(base: Rng): { rng: Rng; take(): string[] } {
  let draws: string[] = [];
  return {
    rng: (n) => {
      const b = base(n);
      draws.push(toHex(b));
      return b;
    },
    take() {
      const taken = draws;
      draws = [];
      return taken;
    },
  };
}

/** An Rng that gives back the loaded draws, in order, and throws when asked for another length or for more. */
function replaying(): { rng: Rng; load(draws: readonly string[]): void; left(): number } {
  let queue: string[] = [];
  return {
    rng: (n) => {
      const next = queue.shift();
      if (next === undefined) throw new VectorMismatch(`a random draw of ${n} bytes more than recorded`);
      if (next.length !== 2 * n)
        throw new VectorMismatch(`a random draw of ${n} bytes where ${next.length / 2} were recorded`);
      return fromHex(next);
    },
    load: (draws) => void (queue = [...draws]),
    left: () => queue.length,
  };
}

class VectorMismatch extends Error {}

interface Bench {
  readonly vault: SingleReplicaVault;
  /** The public halves of the keys, as the vault's HSM reports them. */
  readonly publicKeys: VaultPublicKeys;
  setNow(ms: number): void;
}

/**
 * The log that registers every record of `pre` (one committed Register each): what a vector's
 * `pre` stands for. A record a single Register does not produce (attempts used, pending sessions,
 * a later generation) cannot be a `pre`.
 */
function registrations(pre: VaultState): Entry<Command>[] {
  return Object.entries(pre.records).map(([credentialId, r]) => {
    if (r.status !== 'Registered' || r.generation !== 1 || r.attemptsUsed !== 0 || Object.keys(r.pending).length > 0) {
      throw new RangeError(`pre: record ${credentialId} is not what one Register produces`);
    }
    const { registrationRecord, sealedPayload, transcriptHash, oprfSalt, guessLimit } = r;
    const command: Command = {
      type: 'Register',
      credentialId,
      registrationRecord: registrationRecord!,
      sealedPayload: sealedPayload!,
      transcriptHash,
      ...(oprfSalt !== undefined && { oprfSalt }),
      guessLimit,
    };
    return { term: 1, command };
  });
}

/**
 * A fresh vault: `keys` imported into a new memory HSM, the log that registers `pre` sealed into
 * its empty host storage (whatever made `pre` is not replayed), the clock at `setNow`'s value.
 */
function openVault(
  v: Pick<SessionVector, 'suite' | 'sessionTtlMs' | 'keys'>,
  pre: VaultState,
  rng: Rng,
  rules?: ReplicaRules,
): Bench {
  const config = vaultConfig({ suite: getSuite(v.suite), sessionTtlMs: v.sessionTtlMs });
  const sealRng = seededRng('bkv session vectors: seal nonces');
  const hsm = new MemoryHsm(new MemoryToken('vectors'), sealRng);
  const publicKeys = importVaultKeys(hsm, config, v.keys);
  const storage = new MemoryHostStorage();
  const store = { hsm, sealLabel: config.labels.seal, storage };
  persistDurable(
    store,
    beginIncarnation(hsm, store.sealLabel),
    { currentTerm: 1, votedFor: 0, log: registrations(pre), recovering: false },
    sealRng,
  );
  let now = 0;
  const vault = SingleReplicaVault.open({
    hsm,
    config,
    storage,
    rng,
    sealRng,
    clock: () => now,
    ...(rules && { rules }),
  });
  if (canonicalJson(vault.state) !== canonicalJson(pre))
    throw new RangeError('pre: the registrations do not give back pre');
  return { vault, publicKeys, setNow: (ms) => void (now = ms) };
}

/** What every client of the vector pins: `publicKeys`, and the protocol of `vaultConfig`. */
const clientContext = (v: Pick<SessionVector, 'suite' | 'publicKeys'>): ClientContext =>
  pinnedContext(vaultConfig({ suite: getSuite(v.suite) }), publicKeyBytes(v.publicKeys));

/**
 * The client side of one operation over `send` (a frame out, the vault's replies back): the
 * client's step functions, as BkvClient runs them.
 */
function runOperation(
  ctx: ClientContext,
  o: Omit<SessionOperation, 'result'>,
  rng: Rng,
  send: (f: Frame) => readonly Frame[],
): WireResult {
  const first = (f: Frame) => send(f)[0] ?? null;
  const id = fromHex(o.credentialId);
  const password = fromHex(o.password);
  if (o.op === 'register') {
    const { frame, session } = startRegistration(ctx, id, password, fromHex(o.key!), o.guessLimit!, rng);
    const answer = first(frame);
    if (!answer) return wireResult(fault('Unavailable'));
    const next = onRegisterResponse(ctx, session, answer, rng);
    if ('outcome' in next) return wireResult(next.outcome);
    const done = first(next.frame);
    return wireResult(done ? onRegisterDone(ctx, session, done) : fault('Unavailable'));
  }
  const { frame, session } = startRecovery(ctx, id, password, rng);
  const answer = first(frame);
  if (!answer) return wireResult(fault('Unavailable'));
  const next = o.op === 'wrong-mac' ? sendWrongMac(ctx, session, answer) : onRecoverResponse(ctx, session, answer);
  if (!('frame' in next)) return wireResult(next.outcome);
  if (o.op === 'probe') {
    if (!next.outcome) throw new Error('a probe is a guess: its password must be a wrong one');
    return wireResult(next.outcome);
  }
  if (next.outcome) {
    send(next.frame); // RecoverAbort
    return wireResult(next.outcome);
  }
  const released = first(next.frame);
  return wireResult(released ? onReleased(ctx, session, released) : fault('Unavailable'));
}

/**
 * The `wrong-mac` client, in place of onRecoverResponse: Handshake2(KE2) -> Transport(RecoverFinish)
 * whose KE3 is the one the password gives with the last byte of `client_mac` XORed with 0x01,
 * encrypted in the channel like a genuine one. The session keeps its keys, so that K released
 * anyway would open.
 */
function sendWrongMac(
  ctx: ClientContext,
  s: RecoverySession,
  answer: Frame,
): { frame: Frame; outcome?: undefined } | { outcome: Outcome<never> } {
  try {
    if (answer.kind !== 'Handshake2') return { outcome: fault('ChannelStateError') };
    const { payload, transport } = initiatorFinish(s.noise, answer.bytes);
    const response = decodeResponse(ctx.params.suite, payload);
    if (response.type !== 'RecoverResponse') return { outcome: fault('UnknownMessageType') };
    const fin = clientFinishLogin(
      ctx.params,
      s.opaque,
      decodeKE2(ctx.params.suite, response.ke2),
      ctx.serverIdentity ? { serverIdentity: ctx.serverIdentity } : {},
    );
    const ke3 = Uint8Array.from(encodeKE3(fin.ke3));
    ke3[ke3.length - 1]! ^= 0x01;
    const sent = transport.send(encodeRequest({ type: 'RecoverFinish', ke3 }));
    s.transport = sent.transport;
    s.sessionKey = fin.sessionKey;
    s.exportKey = fin.exportKey;
    return { frame: { channel: s.channel, kind: 'Transport', bytes: sent.message } };
  } catch (e) {
    if (isVaultError(e)) return { outcome: fault(e.code) };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Generation

/** The text of the first Alert among `frames`. */
const alertCodeOf = (frames: readonly Frame[]) => {
  const alert = frames.find((f) => f.kind === 'Alert');
  return alert ? new TextDecoder().decode(alert.bytes) : undefined;
};

function flipped(f: Frame, at: number): Frame {
  const bytes = Uint8Array.from(f.bytes);
  bytes[at % bytes.length]! ^= 0x01;
  return { ...f, bytes };
}

/** Records a vector: operations by clients, frames by the relay, the expiry event. */
class Recorder {
  readonly operations: SessionOperation[] = [];
  readonly steps: SessionStep[] = [];
  now = 1_000;
  readonly #seed: string;
  readonly #bench: Bench;
  readonly #ctx: ClientContext;
  readonly #vault: ReturnType<typeof recording>;
  #started = 0;

  constructor(v: Pick<SessionVector, 'suite' | 'sessionTtlMs' | 'keys' | 'publicKeys'>, pre: VaultState, seed: string) {
    this.#seed = seed;
    this.#vault = recording(seededRng(`${seed} vault`));
    this.#bench = openVault(v, pre, this.#vault.rng);
    this.#ctx = clientContext(v);
  }

  get state(): VaultState {
    return this.#bench.vault.state;
  }

  /** Delivers `frame` (null: the expiry event) at `now`; `client`: the operation that sent it, and its draws. */
  #deliver(frame: Frame | null, client?: Pick<SessionStep, 'op' | 'clientRandom'>): Frame[] {
    this.#bench.setNow(this.now);
    const replies = frame === null ? this.#bench.vault.expireSessions() : this.#bench.vault.deliver(frame);
    const code = alertCodeOf(replies);
    this.steps.push({
      now: this.now,
      ...client,
      ...(frame && { frame: toWire(frame) }),
      vaultRandom: this.#vault.take(),
      replies: replies.map(toWire),
      ...(code !== undefined && { code }),
    });
    this.now += 10;
    return replies;
  }

  /**
   * Runs a client operation, its client drawing from randomness of its own. `meanwhile` happens
   * just before the client's frame number `frame` reaches the vault (the relay acting on that
   * frame, or another client's whole operation).
   */
  run(
    o: Omit<SessionOperation, 'result'>,
    meanwhile?: { readonly frame: number; readonly do: (f: Frame) => void },
  ): void {
    const op = this.#started++;
    const client = recording(seededRng(`${this.#seed} client ${op}`));
    let sent = 0;
    const send = (f: Frame) => {
      if (meanwhile?.frame === sent++) meanwhile.do(f);
      return this.#deliver(f, { op, clientRandom: client.take() });
    };
    this.operations[op] = { ...o, result: runOperation(this.#ctx, o, client.rng, send) };
  }

  /** The relay re-sends the frame of step k. */
  replay(k: number): void {
    this.#deliver(fromWire(this.steps[k]!.frame!));
  }

  /** The relay sends `f` with byte `at` flipped. */
  flip(f: Frame, at: number): void {
    this.#deliver(flipped(f, at));
  }

  /** The relay sends the frame of step k with byte `at` flipped. */
  tamper(k: number, at: number): void {
    this.flip(fromWire(this.steps[k]!.frame!), at);
  }

  expire(afterMs: number): void {
    this.now += afterMs;
    this.#deliver(null);
  }
}

const hex = (s: string) => toHex(utf8(s));
const ALICE = hex('alice');
const register = (password: string, guessLimit: number) =>
  ({
    op: 'register',
    credentialId: ALICE,
    password: hex(password),
    key: hex('the backup key K, 32 bytes long.'),
    guessLimit,
  }) as const;
const recover = (password: string, op: 'recover' | 'probe' | 'wrong-mac' = 'recover', credentialId = ALICE) =>
  ({ op, credentialId, password: hex(password) }) as const;

interface Script {
  readonly name: string;
  readonly description: string;
  /** Operations run before the vector starts: their end state is `pre`. */
  readonly setup: (r: Recorder) => void;
  readonly run: (r: Recorder) => void;
}

const SCRIPTS: readonly Script[] = [
  {
    name: 'register',
    description:
      'a registration on an empty vault: RegisterStart in Handshake1, ' +
      'RegisterResponse in Handshake2, RegisterFinish and RegisterDone in the channel',
    setup: () => {},
    run: (r) => r.run(register('correct horse', 10)),
  },
  {
    name: 'recover-right-password',
    description:
      'a recovery with the right password: KE1 spends a guess (9 tries left in KE2), ' +
      'the KE3 verifies, K is released sealed under the session key, the attempts go back to 0',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => r.run(recover('correct horse')),
  },
  {
    name: 'recover-wrong-password',
    description:
      'a recovery with a wrong password: the KE2 says 9 tries left, ' +
      'the envelope does not open, the client sends RecoverAbort; the guess stays spent',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => r.run(recover('battery staple')),
  },
  {
    name: 'recover-wrong-mac',
    description:
      'a KE3 with a wrong MAC in a sound channel (operation wrong-mac): ' +
      'the client opens the envelope with the right password, then sends its KE3 with the last byte ' +
      'of client_mac flipped; the MAC check fails, so the vault ends the session as ' +
      'failed and answers Error(ClientAuthenticationFailed) with 9 tries left, ' +
      'which the client reports as WrongPassword: K is not released and the guess stays spent',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => r.run(recover('correct horse', 'wrong-mac')),
  },
  {
    name: 'reregistered-during-recovery',
    description:
      'a recovery with the right password whose KE3 reaches the vault after a second ' +
      'client registered the credential again (another password): the new registration ' +
      'ends every pending session, so the KE3, whose MAC verifies against the old record, ' +
      'finds its session gone; the vault answers Error(UnknownSession) ' +
      'and releases nothing (the client reports Fault), and the new record keeps 0 attempts used',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => r.run(recover('correct horse'), { frame: 1, do: () => r.run(register('battery staple', 10)) }),
  },
  {
    name: 'exhausted',
    description:
      'a record with a limit of 2: two wrong passwords (the second leaves 0 tries and, ' +
      'once aborted, the record Exhausted and erased), then the right password is refused ' +
      'in Handshake2 with Error(GuessLimitExceeded), which the client reports as Locked',
    setup: (r) => r.run(register('correct horse', 2)),
    run: (r) => {
      r.run(recover('battery staple'));
      r.run(recover('staple battery'));
      r.run(recover('correct horse'));
    },
  },
  {
    name: 'locked-with-pending',
    description:
      'a record with a limit of 2: two probes leave 0 tries with both sessions pending (the ' +
      'record stays Registered: as far as the vault knows, either could still succeed), ' +
      'so the right password is refused in Handshake2 with Error(GuessLimitExceeded), ' +
      "which the client reports as Locked; the expiry event closes both probes' channels (two Alerts " +
      'SessionExpired) and ends both sessions, and the record becomes Exhausted and erased',
    setup: (r) => r.run(register('correct horse', 2)),
    run: (r) => {
      r.run(recover('a guess', 'probe'));
      r.run(recover('another guess', 'probe'));
      r.run(recover('correct horse'));
      r.expire(TTL + 1);
    },
  },
  {
    name: 'unknown-credential',
    description:
      'recoveries for a credential that was never registered: a fake KE2 (derived from ' +
      'the OPRF seed and the credential id, so the same for the same id) ' +
      'whose envelope never opens, answered like a wrong password; the stored records do not change',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => {
      r.run(recover('a guess', 'recover', hex('mallory')));
      r.run(recover('another guess', 'recover', hex('mallory')));
    },
  },
  {
    name: 'abandoned-then-expired',
    description:
      'a probe: KE1, then nothing after the KE2 (no KE3, no abort); ' +
      'the session stays pending until the expiry event ends it, and its guess stays spent',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => {
      r.run(recover('a guess', 'probe'));
      r.expire(TTL + 1);
    },
  },
  {
    name: 'refused-frames',
    description:
      'frames the relay sends that a vault must refuse without any change: ' +
      'a replayed Handshake1 (SessionReplayed); that Handshake1 with one byte flipped, ' +
      'first in the payload (byte 40), later in the ephemeral key (byte 7), ' +
      'each ChannelDecryptFailed; a KE3 with one byte flipped just before the ' +
      'genuine one (ChannelDecryptFailed: the channel stays open); and that KE3 sent ' +
      'again after its session ended (UnknownSession). Between them a wrong ' +
      'guess and a probe spend their guesses, and the right password still recovers',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => {
      r.run(recover('battery staple'));
      r.replay(0);
      r.tamper(0, 40);
      r.run(recover('horse battery', 'probe'));
      r.tamper(0, 7);
      r.run(recover('correct horse'), { frame: 1, do: (f) => r.flip(f, 20) });
      r.replay(r.steps.length - 1);
    },
  },
];

/** The records as stored: plain JSON. */
const stored = (s: VaultState) => JSON.parse(canonicalJson(s)) as VaultState;

function generate(script: Script, suite: SuiteId): SessionVector {
  const seed = `bkv session vectors ${suite} ${script.name}`;
  const base = { suite, sessionTtlMs: TTL, ...generateVaultKeys(getSuite(suite), seededRng(`${seed} keys`)) };
  const setup = new Recorder(base, EMPTY_VAULT, `${seed} setup`);
  script.setup(setup);
  const pre = stored(setup.state);
  const r = new Recorder(base, pre, seed);
  script.run(r);
  return {
    name: `${script.name} (${suite})`,
    description: script.description,
    ...base,
    pre,
    operations: r.operations,
    steps: r.steps,
    post: stored(r.state),
  };
}

/** Every script on the default suite; registration and the right password on the other two. */
export function generateSessionVectors(): SessionVector[] {
  return [
    ...SCRIPTS.map((s) => generate(s, 'ristretto255-SHA512')),
    ...(['P256-SHA256', 'ristretto255-SHA512+Curve25519'] as const).flatMap((suite) =>
      SCRIPTS.slice(0, 2).map((s) => generate(s, suite)),
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Verification: the vault side and the client side, each against the recorded other side

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);
const excerpt = (x: unknown) => `${canonicalJson(x).slice(0, 80)}…`;

/**
 * Feeds every step to a vault loaded with `keys` and `pre`; problems found (empty: the vault
 * agrees). Also checks the file itself: `publicKeys` are the halves of `keys`, and each `code` is
 * the first Alert of its `replies`. `rules`: the vault's rules (default bkv's; the tests pass broken ones).
 */
export function verifyVaultSide(v: SessionVector, rules?: ReplicaRules): string[] {
  const problems: string[] = [];
  const random = replaying();
  const bench = openVault(v, v.pre, random.rng, rules);
  if (!same(bench.publicKeys, v.publicKeys))
    problems.push(
      `${v.name}: publicKeys are not the public halves of keys: the vault derives ${canonicalJson(bench.publicKeys)}`,
    );
  v.steps.forEach((s, k) => {
    const at = `${v.name}: step ${k}`;
    if (alertCodeOf(s.replies.map(fromWire)) !== s.code)
      problems.push(`${at}: code ${s.code ?? '(absent)'} is not the first Alert of the recorded replies`);
    bench.setNow(s.now);
    random.load(s.vaultRandom);
    try {
      const replies = (s.frame ? bench.vault.deliver(fromWire(s.frame)) : bench.vault.expireSessions()).map(toWire);
      if (!same(replies, s.replies))
        problems.push(`${at}: the vault answered ${excerpt(replies)}, expected ${excerpt(s.replies)}`);
      if (random.left() > 0) problems.push(`${at}: the vault drew ${random.left()} random values fewer than recorded`);
    } catch (e) {
      if (!(e instanceof VectorMismatch)) throw e;
      problems.push(`${at}: ${e.message}`);
    }
  });
  if (!same(bench.vault.state, v.post)) problems.push(`${v.name}: the vault's state after the steps is not post`);
  return problems;
}

/** Runs every operation's client, pinning `publicKeys`, against the recorded replies; problems found. */
export function verifyClientSide(v: SessionVector): string[] {
  const problems: string[] = [];
  const ctx = clientContext(v);
  v.operations.forEach((o, i) => {
    const at = `${v.name}: operation ${i}`;
    const steps = v.steps.filter((s) => s.op === i);
    const random = replaying();
    random.load(steps.flatMap((s) => s.clientRandom ?? []));
    let k = 0;
    let left = random.left(); // the draws still to come after the frame now sent
    const send = (f: Frame): readonly Frame[] => {
      const step = steps[k++];
      if (!step || !same(toWire(f), step.frame))
        throw new VectorMismatch(`the client's frame ${k - 1} differs from the recorded one`);
      left -= step.clientRandom?.length ?? 0;
      if (random.left() !== left)
        throw new VectorMismatch(
          `the client's draws before its frame ${k - 1} are not the ${step.clientRandom?.length ?? 0} recorded for it`,
        );
      return step.replies.map(fromWire);
    };
    try {
      const result = runOperation(ctx, o, random.rng, send);
      if (!same(result, o.result))
        problems.push(`${at}: the client ended with ${canonicalJson(result)}, expected ${canonicalJson(o.result)}`);
      if (k !== steps.length) problems.push(`${at}: the client sent ${k} frames of ${steps.length}`);
      if (random.left() > 0) problems.push(`${at}: the client drew ${random.left()} random values fewer than recorded`);
    } catch (e) {
      if (!(e instanceof VectorMismatch)) throw e;
      problems.push(`${at}: ${e.message}`);
    }
  });
  return problems;
}

export const verifySessionVectors = (vs: readonly SessionVector[]): string[] =>
  vs.flatMap((v) => [...verifyVaultSide(v), ...verifyClientSide(v)]);
