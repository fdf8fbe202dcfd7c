/**
 * A single-replica vault world for the vault and client tests: one HSM token (memory or SoftHSM),
 * the replica's host storage, an injected clock, a seeded rng, and a client talking to the vault
 * through a relay (direct, or wrapped by a test's adversary). `restart()` reopens the replica from
 * the same host storage and token, as a process restart does; `expire()` advances the clock and
 * raises the session-expiry event.
 *
 * SoftHSM: the run's private token store (test/support/global-setup.ts), tokens `bkv-2` .. `bkv-4`
 * (this file's allocation), every key label prefixed with a run-unique id, since other test files
 * share the tokens concurrently. No skipping: without SoftHSM the backend throws, naming the
 * install command.
 * @module
 */
import type { Bytes, Rng } from '../../src/crypto/bytes.ts';
import { utf8 } from '../../src/crypto/bytes.ts';
import { type NkInitiatorState, type Transport, initiatorFinish, initiatorStart } from '../../src/crypto/noise.ts';
import { ERROR_CODES, type ErrorCode, isVaultError } from '../../src/errors.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { getSuite, type Suite, type SuiteId } from '../../src/crypto/suite.ts';
import { BkvClient, type Relay } from '../../src/client/client.ts';
import { directRelay } from '../../src/client/relay.ts';
import { type ClientContext, newChannelId } from '../../src/client/session.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import { MemoryHsm, MemoryToken } from '../../src/hsm/memory.ts';
import { APT_INSTALL, finalizeSoftHsm, findSoftHsmLibrary, SoftHsm } from '../../src/hsm/softhsm.ts';
import { keyLabels, provisionVaultKeys, type KeyLabels } from '../../src/vault/keys.ts';
import type { VaultConfig, VaultNode } from '../../src/vault/node.ts';
import { type Frame, type Response, decodeResponse } from '../../src/vault/protocol.ts';
import type { VaultRecord, VaultState } from '../../src/vault/records.ts';
import { pinnedClientContext, vaultConfig } from '../../src/vault/setup.ts';
import type { ReplicaRules } from '../../src/replication/host.ts';
import { SingleReplicaVault } from '../../src/vault/single.ts';
import { MemoryHostStorage } from '../../src/vault/storage.ts';
import { softHsmTestPin, uniqueRunId } from './global-setup.ts';

/** The tokens of the run's store that the vault tests use (other files use others, or prefix). */
export const VAULT_TEST_TOKENS = ['bkv-2', 'bkv-3', 'bkv-4'] as const;
export type VaultTestToken = (typeof VAULT_TEST_TOKENS)[number];

export interface Backend {
  readonly name: 'memory' | 'softhsm';
  /** The suite this backend runs: PKCS#11 has no ristretto255, so SoftHSM runs the Curve25519 3DH. */
  readonly suite: Suite;
  /** Opens the HSM of `token`: a new handle each time (a restart closes the old one first). */
  open(token: VaultTestToken): Hsm;
  /** Closes every handle; finalizes the PKCS#11 module (SoftHSM). Call in afterAll. */
  teardown(): void;
}

export function memoryBackend(suiteId: SuiteId = 'ristretto255-SHA512'): Backend {
  const tokens = new Map<string, MemoryToken>();
  let n = 0;
  return {
    name: 'memory',
    suite: getSuite(suiteId),
    open(token) {
      if (!tokens.has(token)) tokens.set(token, new MemoryToken(token));
      return new MemoryHsm(tokens.get(token)!, seededRng(`memory hsm ${token} ${n++}`));
    },
    teardown() {},
  };
}

export function softHsmBackend(): Backend {
  try {
    findSoftHsmLibrary();
  } catch (e) {
    throw new Error(`SoftHSM2 is required by the vault tests (no skipping): ${APT_INSTALL}\n${(e as Error).message}`);
  }
  const pin = softHsmTestPin();
  const opened: Hsm[] = [];
  return {
    name: 'softhsm',
    suite: getSuite('ristretto255-SHA512+Curve25519'),
    open(token) {
      const h = new SoftHsm({ token, pin });
      opened.push(h);
      return h;
    },
    teardown() {
      for (const h of opened) h.close();
      finalizeSoftHsm();
    },
  };
}

export const BACKENDS = [
  { name: 'memory', make: () => memoryBackend() },
  { name: 'softhsm', make: () => softHsmBackend() },
] as const;

const RUN = uniqueRunId();
let worlds = 0;
/** Key labels no other world (in this or another test process) uses. */
export function freshLabels(what: string): KeyLabels {
  return keyLabels(`${RUN}/${what}-${worlds++}`);
}

export const TTL_MS = 60_000;
export const ALICE = utf8('alice@example');

export interface WorldOptions {
  readonly backend: Backend;
  readonly token?: VaultTestToken;
  /** Seeds the world's rng (the client's, the vault's); printed by the tests that randomize. */
  readonly seed: string;
  readonly labels?: KeyLabels;
  readonly rules?: ReplicaRules;
  /** Opens the replica (default: the single-replica vault over the world's HSM and storage). */
  readonly driver?: (world: VaultWorld) => VaultDriver;
  /** Wraps the direct relay (an adversary); default: none. */
  readonly relay?: (direct: Relay) => Relay;
}

/** What the tests drive a replica through: the single-replica vault, or a legacy driver kept for comparison. */
export interface VaultDriver {
  deliver(frame: Frame): Frame[];
  expireSessions(): Frame[];
  readonly state: VaultState;
  readonly node: VaultNode;
}

/** One vault replica, its host, its clock, and a client. */
export class VaultWorld {
  readonly backend: Backend;
  readonly token: VaultTestToken;
  readonly rng: Rng;
  readonly config: VaultConfig;
  readonly storage = new MemoryHostStorage();
  readonly ctx: ClientContext;
  readonly client: BkvClient;
  /** Every frame the relay carried, both ways. */
  readonly log: Frame[];
  readonly relay: Relay;
  /** The injected clock (ms). Each delivered frame takes 1 ms. */
  now = 1_000;
  hsm: Hsm;
  vault: VaultDriver;
  readonly #rules: ReplicaRules | undefined;
  readonly #driver: ((world: VaultWorld) => VaultDriver) | undefined;

  constructor(o: WorldOptions) {
    this.backend = o.backend;
    this.token = o.token ?? 'bkv-2';
    this.rng = seededRng(o.seed);
    this.config = vaultConfig({
      suite: o.backend.suite,
      labels: o.labels ?? freshLabels('world'),
      sessionTtlMs: TTL_MS,
    });
    this.#rules = o.rules;
    this.#driver = o.driver;
    this.hsm = o.backend.open(this.token);
    provisionVaultKeys(this.hsm, this.config.params.suite, this.config.labels);
    this.vault = this.#open();
    this.ctx = pinnedClientContext(this.hsm, this.config);
    const direct = directRelay((f) => this.deliver(f));
    this.log = direct.log;
    this.relay = o.relay ? o.relay(direct) : direct;
    this.client = new BkvClient(this.ctx, this.relay, this.rng);
  }

  #open(): VaultDriver {
    if (this.#driver) return this.#driver(this);
    const rules = this.#rules ? { rules: this.#rules } : {};
    return SingleReplicaVault.open({
      hsm: this.hsm,
      config: this.config,
      storage: this.storage,
      rng: this.rng,
      clock: () => this.now,
      ...rules,
    });
  }

  /** ALICE's attemptsUsed after every delivered frame and expiry event (null: no record). */
  readonly attemptsTrace: (number | null)[] = [];

  /** The relay hands a frame to the vault. */
  deliver(frame: Frame): Frame[] {
    this.now += 1;
    const out = this.vault.deliver(frame);
    this.attemptsTrace.push(this.record()?.attemptsUsed ?? null);
    return out;
  }

  /** The replica restarts: channels and caches are lost; the records come back from sealed host storage. */
  restart(): void {
    this.reopenHsm();
    this.vault = this.#open();
  }

  /** A new handle on the same HSM token (the first half of a restart). */
  reopenHsm(): void {
    this.hsm.close();
    this.hsm = this.backend.open(this.token);
  }

  /** Time passes, then the session-expiry event; returns the frames it sends (alerts). */
  expire(advanceMs: number): Frame[] {
    this.now += advanceMs;
    const out = this.vault.expireSessions();
    this.attemptsTrace.push(this.record()?.attemptsUsed ?? null);
    return out;
  }

  record(id: Bytes = ALICE): VaultRecord | undefined {
    return this.vault.state.records[Buffer.from(id).toString('hex')];
  }

  /** Each open channel's phase: `stage/op`, by channel id. */
  phases(): Record<string, string> {
    return Object.fromEntries([...this.vault.node.channels].map(([id, ch]) => [id, `${ch.stage}/${ch.op.type}`]));
  }

  /** Deletes the world's keys (SoftHSM token objects outlive the process otherwise). */
  dispose(): void {
    this.reopenHsm(); // a fresh handle: the old one may have died with a C_Finalize (SoftHSM)
    for (const label of Object.values(this.config.labels)) if (this.hsm.hasKey(label)) this.hsm.deleteKey(label);
  }
}

// ------------------------------------------------------------------------------------------------
// Speaking the wire protocol by hand (the adversary's and the bad-input tests' view)

/** A Handshake1 carrying `payload` (any bytes), as a client would open a channel. */
export function handshake1(
  world: VaultWorld,
  payload: Bytes,
  channel: string = newChannelId(world.rng),
): { frame: Frame; state: NkInitiatorState } {
  const { message, state } = initiatorStart(world.ctx.noise, {
    responderStatic: world.ctx.channelKey,
    prologue: world.ctx.prologue,
    payload,
    rng: world.rng,
  });
  return { frame: { channel, kind: 'Handshake1', bytes: message }, state };
}

/** The client's reading of a Handshake2: the vault's response and the channel's transport. */
export function readHandshake2(
  world: VaultWorld,
  state: NkInitiatorState,
  frame: Frame,
): { response: Response; transport: Transport } {
  if (frame.kind !== 'Handshake2') throw new Error(`expected Handshake2, got ${frame.kind} ${alertText(frame)}`);
  const { payload, transport } = initiatorFinish(state, frame.bytes);
  return { response: decodeResponse(world.config.params.suite, payload), transport };
}

/** The client's reading of a Transport frame: the vault's response and the transport to use next. */
export function readTransport(
  world: VaultWorld,
  transport: Transport,
  frame: Frame,
): { response: Response; transport: Transport } {
  if (frame.kind !== 'Transport') throw new Error(`expected Transport, got ${frame.kind} ${alertText(frame)}`);
  const received = transport.receive(frame.bytes);
  return { response: decodeResponse(world.config.params.suite, received.payload), transport: received.transport };
}

export function alertText(frame: Frame): string {
  return frame.kind === 'Alert' ? new TextDecoder().decode(frame.bytes) : '';
}

export function isErrorCode(x: string): x is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(x);
}

/** A copy of `bytes` with byte `i` (negative: from the end) flipped. */
export function flipByte(bytes: Bytes, i: number): Bytes {
  const out = bytes.slice();
  const at = i < 0 ? out.length + i : i;
  out[at] = out[at]! ^ 0x01;
  return out;
}

/** The VaultError code `f` throws (fails the test if it throws anything else, or nothing). */
export function codeOf(f: () => unknown): ErrorCode {
  try {
    f();
  } catch (e) {
    if (isVaultError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a VaultError, nothing was thrown');
}
