/**
 * Vault session transcripts (spec ch. 9, `sessions.json`): every frame a client (or the relay)
 * sends a single-replica vault and every frame the vault answers, in hex, for registration and
 * recovery with the right password, a wrong one, on an exhausted record and for an unknown
 * credential, plus an abandoned session that expires and refused frames (replays, tampered
 * frames). Each side's randomness is listed, draw by draw, where it is drawn, so that:
 *
 *   a vault implementation, loaded with `keys` and `pre`, fed each step's `frame` (or the expiry
 *   event) at `now` with the step's `vaultRandom`, answers exactly `replies` and ends in `post`;
 *   a client implementation, run through each operation with its `clientRandom` and fed the
 *   recorded `replies`, sends exactly the recorded frames and ends with `result`.
 *
 * The generator and both verifiers run one driver (`runOperation`, over the client's step
 * functions of src/client/session.ts) and one vault (src/vault/single.ts); the storage's own
 * randomness (seal nonces) is kept apart, as it is no part of the protocol.
 * @module
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { type Bytes, type Rng, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { type ClientContext, type Outcome, fault, onRecoverResponse, onRegisterDone, onRegisterResponse, onReleased, startRecovery, startRegistration } from '../client/session.ts';
import { fromWire, toWire, type WireFrame, type WireResult, wireResult } from '../conform/adapter-protocol.ts';
import { MemoryHsm, MemoryToken } from '../hsm/memory.ts';
import { opaqueServerKeyKind, oprfSeedKind } from '../vault/keys.ts';
import type { Frame } from '../vault/protocol.ts';
import { type VaultState, EMPTY_VAULT } from '../vault/records.ts';
import { vaultConfig, pinnedClientContext } from '../vault/setup.ts';
import { SingleReplicaVault, type VaultSteps } from '../vault/single.ts';
import { MemoryHostStorage, saveSealed } from '../vault/storage.ts';

/** A client operation: `probe` is a recovery that stops at its KE2 (no KE3, no abort: an attacker's guess). */
export interface SessionOperation {
  readonly op: 'register' | 'recover' | 'probe';
  readonly credentialId: string;
  readonly password: string;
  /** register: K and the guess limit. */
  readonly key?: string;
  readonly guessLimit?: number;
  /** What the client ends with. */
  readonly result: WireResult;
}

export interface SessionStep {
  readonly now: number;
  /** The operation whose client sent `frame` (index into `operations`); absent: the relay sent it. */
  readonly op?: number;
  /** The client's random draws before sending `frame`, in order (hex). */
  readonly clientRandom?: readonly string[];
  /** The frame delivered to the vault; absent: the session-expiry event. */
  readonly frame?: WireFrame;
  /** The vault's random draws while handling it, in order (hex). */
  readonly vaultRandom: readonly string[];
  readonly replies: readonly WireFrame[];
  /** The code of an Alert among the replies (a refusal outside the channel). */
  readonly code?: string;
}

export interface SessionVector {
  readonly name: string;
  readonly description: string;
  readonly suite: SuiteId;
  readonly sessionTtlMs: number;
  /** The vault's private keys, as the conformance adapter's `init` takes them. */
  readonly keys: { readonly opaqueServerPrivateKey: string; readonly oprfSeed: string; readonly channelPrivateKey: string };
  readonly publicKeys: { readonly opaqueServerPublicKey: string; readonly channelPublicKey: string };
  readonly pre: VaultState;
  readonly operations: readonly SessionOperation[];
  readonly steps: readonly SessionStep[];
  readonly post: VaultState;
}

const TTL = 30_000;

// ---------------------------------------------------------------------------------------------
// One vault, one client context, randomness that is recorded or replayed

/** An Rng that records its draws (hex) until `take`. */
function recording(base: Rng): { rng: Rng; take(): string[] } {
  let draws: string[] = [];
  return {
    rng: (n) => {
      const b = base(n);
      draws.push(toHex(b));
      return b;
    },
    take: () => [draws, (draws = [])][0]!,
  };
}

/** An Rng that gives back recorded draws, in order, and throws when asked for another length or for more. */
function replaying(where: string): { rng: Rng; load(draws: readonly string[]): void; left(): number } {
  let queue: string[] = [];
  return {
    rng: (n) => {
      const next = queue.shift();
      if (next === undefined) throw new VectorMismatch(`${where}: a random draw of ${n} bytes more than recorded`);
      if (next.length !== 2 * n) throw new VectorMismatch(`${where}: a random draw of ${n} bytes where ${next.length / 2} were recorded`);
      return fromHex(next);
    },
    load: (draws) => void (queue = [...draws]),
    left: () => queue.length,
  };
}

class VectorMismatch extends Error {}

interface Bench {
  readonly vault: SingleReplicaVault;
  readonly ctx: ClientContext;
  setNow(ms: number): void;
}

function openVault(v: Pick<SessionVector, 'suite' | 'sessionTtlMs' | 'keys'>, pre: VaultState, rng: Rng, steps?: VaultSteps): Bench {
  const suite = getSuite(v.suite);
  const config = vaultConfig({ suite, sessionTtlMs: v.sessionTtlMs });
  const sealRng = seededRng('bkv session vectors: seal nonces');
  const hsm = new MemoryHsm(new MemoryToken('vectors'), sealRng);
  hsm.importKey(config.labels.opaqueServer, opaqueServerKeyKind(suite), fromHex(v.keys.opaqueServerPrivateKey));
  hsm.importKey(config.labels.oprfSeed, oprfSeedKind(suite), fromHex(v.keys.oprfSeed));
  hsm.importKey(config.labels.channel, 'x25519', fromHex(v.keys.channelPrivateKey));
  hsm.generateKey(config.labels.seal, 'aes256gcm');
  const storage = new MemoryHostStorage();
  if (pre !== EMPTY_VAULT) saveSealed(hsm, config.labels.seal, storage, 1, pre, sealRng);
  let now = 0;
  const vault = SingleReplicaVault.open({ hsm, config, storage, rng, sealRng, clock: () => now, ...(steps && { steps }) });
  return { vault, ctx: pinnedClientContext(hsm, config), setNow: (ms) => void (now = ms) };
}

/**
 * The client side of one operation over `send` (a frame out, the vault's replies back): the
 * client's step functions, as BkvClient runs them.
 */
function runOperation(ctx: ClientContext, o: Omit<SessionOperation, 'result'>, rng: Rng, send: (f: Frame) => readonly Frame[]): WireResult {
  const first = (f: Frame) => send(f)[0] ?? null;
  const id = fromHex(o.credentialId);
  const password = fromHex(o.password);
  const result = (out: Outcome<Bytes | true>) => wireResult(out);
  if (o.op === 'register') {
    const { frame, session } = startRegistration(ctx, id, password, fromHex(o.key!), o.guessLimit!, rng);
    const answer = first(frame);
    if (!answer) return result(fault('Unavailable'));
    const next = onRegisterResponse(ctx, session, answer, rng);
    if ('outcome' in next) return result(next.outcome);
    const done = first(next.frame);
    return result(done ? onRegisterDone(ctx, session, done) : fault('Unavailable'));
  }
  const { frame, session } = startRecovery(ctx, id, password, rng);
  const answer = first(frame);
  if (!answer) return result(fault('Unavailable'));
  const next = onRecoverResponse(ctx, session, answer);
  if (!('frame' in next)) return result(next.outcome);
  if (o.op === 'probe') {
    if (!next.outcome) throw new Error('a probe is a guess: its password must be a wrong one');
    return result(next.outcome);
  }
  if (next.outcome) {
    send(next.frame); // RecoverAbort
    return result(next.outcome);
  }
  const released = first(next.frame);
  return result(released ? onReleased(ctx, session, released) : fault('Unavailable'));
}

// ---------------------------------------------------------------------------------------------
// Generation

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
  readonly #bench: Bench;
  readonly #vault: ReturnType<typeof recording>;
  readonly #client: ReturnType<typeof recording>;

  constructor(v: Pick<SessionVector, 'suite' | 'sessionTtlMs' | 'keys'>, pre: VaultState, seed: string) {
    this.#vault = recording(seededRng(`${seed} vault`));
    this.#client = recording(seededRng(`${seed} client`));
    this.#bench = openVault(v, pre, this.#vault.rng);
  }

  get state(): VaultState {
    return this.#bench.vault.state;
  }

  #deliver(frame: Frame | null, op?: number): Frame[] {
    this.#bench.setNow(this.now);
    const clientRandom = op === undefined ? undefined : this.#client.take();
    const replies = frame === null ? this.#bench.vault.expireSessions() : this.#bench.vault.deliver(frame);
    const code = alertCodeOf(replies);
    this.steps.push({ now: this.now, ...(op !== undefined && { op, clientRandom }), ...(frame && { frame: toWire(frame) }), vaultRandom: this.#vault.take(), replies: replies.map(toWire), ...(code !== undefined && { code }) });
    this.now += 10;
    return replies;
  }

  /** Runs a client operation; `tamper`: the relay first sends that frame of it with byte `at` flipped. */
  run(o: Omit<SessionOperation, 'result'>, tamper?: { readonly frame: number; readonly at: number }): WireResult {
    const index = this.operations.length;
    let sent = 0;
    const send = (f: Frame) => {
      if (tamper?.frame === sent++) this.#deliver(flipped(f, tamper.at));
      return this.#deliver(f, index);
    };
    const result = runOperation(this.#bench.ctx, o, this.#client.rng, send);
    this.operations.push({ ...o, result });
    return result;
  }

  /** The relay re-sends the frame of step k. */
  replay(k: number): void {
    this.#deliver(fromWire(this.steps[k]!.frame!));
  }

  /** The relay sends the frame of step k with byte `at` flipped. */
  tamper(k: number, at: number): void {
    this.#deliver(flipped(fromWire(this.steps[k]!.frame!), at));
  }

  expire(afterMs: number): void {
    this.now += afterMs;
    this.#deliver(null);
  }
}

const hex = (s: string) => toHex(utf8(s));
const ALICE = hex('alice');
const register = (password: string, guessLimit: number) => ({ op: 'register', credentialId: ALICE, password: hex(password), key: hex('the backup key K, 32 bytes long.'), guessLimit }) as const;
const recover = (password: string, op: 'recover' | 'probe' = 'recover', credentialId = ALICE) => ({ op, credentialId, password: hex(password) }) as const;

interface Script {
  readonly name: string;
  readonly description: string;
  /** Operations run before the vector starts: their end state is `pre`. */
  readonly setup: (r: Recorder) => void;
  readonly run: (r: Recorder) => void;
}

const SCRIPTS: readonly Script[] = [
  { name: 'register', description: 'a registration on an empty vault: RegisterStart in Handshake1, RegisterResponse in Handshake2, RegisterFinish and RegisterDone in the channel', setup: () => {}, run: (r) => r.run(register('correct horse', 10)) },
  { name: 'recover-right-password', description: 'a recovery with the right password: KE1 spends a guess (9 tries left in KE2), the KE3 verifies, K is released sealed under the session key, the attempts go back to 0', setup: (r) => r.run(register('correct horse', 10)), run: (r) => r.run(recover('correct horse')) },
  { name: 'recover-wrong-password', description: 'a recovery with a wrong password: the KE2 says 9 tries left, the envelope does not open, the client sends RecoverAbort; the guess stays spent', setup: (r) => r.run(register('correct horse', 10)), run: (r) => r.run(recover('battery staple')) },
  {
    name: 'exhausted',
    description: 'a record with a limit of 2: two wrong passwords (the second leaves 0 tries and, once aborted, the record Exhausted and erased), then the right password is answered Locked',
    setup: (r) => r.run(register('correct horse', 2)),
    run: (r) => {
      r.run(recover('battery staple'));
      r.run(recover('staple battery'));
      r.run(recover('correct horse'));
    },
  },
  {
    name: 'locked-with-pending',
    description: 'a record with a limit of 2: two probes leave 0 tries with both sessions pending (the record stays Registered, either could still succeed), so the right password is answered Locked; the expiry event ends both sessions and the record becomes Exhausted and erased',
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
    description: 'recoveries for a credential that was never registered: a fake KE2 (derived from the OPRF seed and the credential id, so the same for the same id) whose envelope never opens, answered like a wrong password; the stored records do not change',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => {
      r.run(recover('a guess', 'recover', hex('mallory')));
      r.run(recover('another guess', 'recover', hex('mallory')));
    },
  },
  {
    name: 'abandoned-then-expired',
    description: 'a probe: KE1, then nothing after the KE2 (no KE3, no abort); the session stays pending until the expiry event ends it, and its guess stays spent',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => {
      r.run(recover('a guess', 'probe'));
      r.expire(TTL + 1);
    },
  },
  {
    name: 'refused-frames',
    description: 'frames the relay sends that a vault must refuse without any change: a replayed Handshake1 (SessionReplayed), a Handshake1 with one byte flipped, in the ephemeral key and in the payload, a KE3 with one byte flipped just before the genuine one (ChannelDecryptFailed: the channel stays open), and that KE3 sent again after its session ended (UnknownSession); between them a wrong guess and a probe spend their guesses, and the right password still recovers',
    setup: (r) => r.run(register('correct horse', 10)),
    run: (r) => {
      r.run(recover('battery staple'));
      r.replay(0);
      r.tamper(0, 40);
      r.run(recover('horse battery', 'probe'));
      r.tamper(0, 7);
      r.run(recover('correct horse'), { frame: 1, at: 20 });
      r.replay(r.steps.length - 1);
    },
  },
];

function vaultKeys(suiteId: SuiteId, seed: string): Pick<SessionVector, 'keys' | 'publicKeys'> {
  const suite = getSuite(suiteId);
  const rng = seededRng(`${seed} keys`);
  const server = suite.group.deriveDiffieHellmanKeyPair(rng(32));
  const channel = rng(32);
  return {
    keys: { opaqueServerPrivateKey: toHex(server.privateKey), oprfSeed: toHex(rng(suite.Nh)), channelPrivateKey: toHex(channel) },
    publicKeys: { opaqueServerPublicKey: toHex(server.publicKey), channelPublicKey: toHex(x25519.getPublicKey(channel)) },
  };
}

function generate(script: Script, suite: SuiteId): SessionVector {
  const seed = `bkv session vectors ${suite} ${script.name}`;
  const base = { suite, sessionTtlMs: TTL, ...vaultKeys(suite, seed) };
  const setup = new Recorder(base, EMPTY_VAULT, `${seed} setup`);
  script.setup(setup);
  const pre = JSON.parse(canonicalJson(setup.state)) as VaultState;
  const r = new Recorder(base, pre, seed);
  script.run(r);
  return { name: `${script.name} (${suite})`, description: script.description, ...base, pre, operations: r.operations, steps: r.steps, post: JSON.parse(canonicalJson(r.state)) as VaultState };
}

/** Every script on the default suite; registration and the right password on the other two. */
export function generateSessionVectors(): SessionVector[] {
  return [...SCRIPTS.map((s) => generate(s, 'ristretto255-SHA512')), ...(['P256-SHA256', 'ristretto255-SHA512+Curve25519'] as const).flatMap((suite) => SCRIPTS.slice(0, 2).map((s) => generate(s, suite)))];
}

// ---------------------------------------------------------------------------------------------
// Verification: the vault side and the client side, each against the recorded other side

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/**
 * Feeds every step to a vault loaded with `pre`; problems found (empty: the vault agrees).
 * `steps`: the vault's rules (default bkv's; the tests pass broken ones).
 */
export function verifyVaultSide(v: SessionVector, steps?: VaultSteps): string[] {
  const problems: string[] = [];
  const random = replaying(`${v.name}: vault`);
  const bench = openVault(v, v.pre, random.rng, steps);
  v.steps.forEach((s, k) => {
    bench.setNow(s.now);
    random.load(s.vaultRandom);
    try {
      const replies = (s.frame ? bench.vault.deliver(fromWire(s.frame)) : bench.vault.expireSessions()).map(toWire);
      if (!same(replies, s.replies)) problems.push(`${v.name}: step ${k}: the vault answered ${canonicalJson(replies).slice(0, 80)}…, expected ${canonicalJson(s.replies).slice(0, 80)}…`);
      if (random.left() > 0) problems.push(`${v.name}: step ${k}: the vault drew ${random.left()} random values fewer than recorded`);
    } catch (e) {
      if (!(e instanceof VectorMismatch)) throw e;
      problems.push(`step ${k}: ${e.message}`);
    }
  });
  if (!same(bench.vault.state, v.post)) problems.push(`${v.name}: the vault's state after the steps is not post`);
  return problems;
}

/** Runs every operation's client against the recorded replies; problems found. */
export function verifyClientSide(v: SessionVector): string[] {
  const problems: string[] = [];
  const ctx = openVault(v, EMPTY_VAULT, () => new Uint8Array(0)).ctx; // the pinned keys only
  v.operations.forEach((o, i) => {
    const steps = v.steps.filter((s) => s.op === i);
    const random = replaying(`${v.name}: operation ${i}`);
    random.load(steps.flatMap((s) => s.clientRandom ?? []));
    let k = 0;
    const send = (f: Frame): readonly Frame[] => {
      const step = steps[k++];
      if (!step || !same(toWire(f), step.frame)) throw new VectorMismatch(`${v.name}: operation ${i}: the client's frame ${k - 1} differs from the recorded one`);
      return step.replies.map(fromWire);
    };
    try {
      const result = runOperation(ctx, o, random.rng, send);
      if (!same(result, o.result)) problems.push(`${v.name}: operation ${i}: the client ended with ${canonicalJson(result)}, expected ${canonicalJson(o.result)}`);
      if (k !== steps.length) problems.push(`${v.name}: operation ${i}: the client sent ${k} frames of ${steps.length}`);
      if (random.left() > 0) problems.push(`${v.name}: operation ${i}: the client drew ${random.left()} random values fewer than recorded`);
    } catch (e) {
      if (!(e instanceof VectorMismatch)) throw e;
      problems.push(e.message);
    }
  });
  return problems;
}

export const verifySessionVectors = (vs: readonly SessionVector[]): string[] => vs.flatMap((v) => [...verifyVaultSide(v), ...verifyClientSide(v)]);
