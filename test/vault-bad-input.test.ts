/**
 * Bad input (spec ch. 5 "Bad input", DESIGN §3.2; INV-12), on both HSM backends: every frame kind,
 * every request type, truncated, extended, garbage and out-of-phase bytes, on a fresh channel and
 * on channels in each phase (awaiting RegisterFinish, awaiting KE3 for a real record, awaiting KE3
 * for a fake one). Each is answered with exactly one frame carrying a closed VaultError code (an
 * Alert, or an Error response inside the channel), and leaves `encodeVaultState(vault.state)`
 * byte-identical, every channel's phase unchanged, and nothing committed to host storage.
 *
 * An exhaustive list of cases, then every element position of every request crossed with every bad
 * encoding of its group (src/vectors/elements.ts: identity, low order, non-canonical, out of range,
 * not an element), the Noise `e` of a Handshake1 included, for every suite (the memory backend runs
 * the three, SoftHSM its own); then fast-check over random ones (seed printed; BKV_RUNS), then the
 * properties shown catching each broken vault of test/support/vault-broken.ts, and the element
 * table catching a vault with the X25519 check of 6ee2d9d. Also: a node state
 * is a value, unchanged by a Transport frame handled from it (the channel's transport included).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Bytes, type Rng, concat, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import type { Transport } from '../src/crypto/noise.ts';
import { clientStartLogin, createRegistrationRequest } from '../src/crypto/opaque-client.ts';
import {
  encodeKE1,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  messageSizes,
} from '../src/crypto/opaque-messages.ts';
import type { Suite } from '../src/crypto/suite.ts';
import { badElementRequests } from '../src/vectors/decoding.ts';
import { badElements } from '../src/vectors/elements.ts';
import { generateBackupKey } from '../src/client/client.ts';
import { ERROR_CODES, VaultError } from '../src/errors.ts';
import { type Frame, type FrameKind, type Request, type Response, encodeRequest } from '../src/vault/protocol.ts';
import { type VaultEnv, type VaultNode, handleFrame } from '../src/vault/node.ts';
import { encodeVaultState } from '../src/vault/records.ts';
import type { ReplicaRules } from '../src/replication/host.ts';
import { brokenRules } from '../src/broken/catalog.ts';
import {
  ALICE,
  alertText,
  type Backend,
  flipByte,
  handshake1,
  memoryBackend,
  readHandshake2,
  readTransport,
  softHsmBackend,
  VaultWorld,
} from './support/vault-world.ts';

const SEED = Number(process.env.BKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.BKV_RUNS ?? 100);
console.log(
  `[vault-bad-input] seed ${SEED}, ${RUNS} random cases per backend (reproduce: BKV_SEED=${SEED} BKV_RUNS=${RUNS})`,
);

const PASSWORD = utf8('correct horse battery staple');
type RequestType = Request['type'];
const REQUEST_TYPES: readonly RequestType[] = [
  'RegisterStart',
  'RegisterFinish',
  'RecoverStart',
  'RecoverFinish',
  'RecoverAbort',
  'Delete',
];
type Phase = 'AwaitRegisterFinish' | 'AwaitKE3' | 'AwaitKE3(fake)';
const PHASES: readonly Phase[] = ['AwaitRegisterFinish', 'AwaitKE3', 'AwaitKE3(fake)'];

/** Requests that are out of phase, and so refused, on each kind of channel (valid bytes otherwise). */
const OUT_OF_PHASE: Record<Phase | 'first message', readonly RequestType[]> = {
  'first message': ['RegisterFinish', 'RecoverFinish', 'RecoverAbort'],
  AwaitRegisterFinish: ['RegisterStart', 'RecoverStart', 'Delete', 'RecoverFinish', 'RecoverAbort'],
  AwaitKE3: ['RegisterStart', 'RecoverStart', 'Delete', 'RegisterFinish'],
  'AwaitKE3(fake)': ['RegisterStart', 'RecoverStart', 'Delete', 'RegisterFinish'],
};

/** How a valid request encoding is made invalid: every strict prefix and every extension fails to decode. */
type Mutation =
  | { readonly type: 'truncate'; readonly keep: number }
  | { readonly type: 'extend'; readonly extra: Bytes }
  | { readonly type: 'tag'; readonly tag: number };

type Case =
  /** A frame of any kind with arbitrary bytes, on a fresh channel or one in a phase. */
  | { readonly t: 'raw'; readonly kind: FrameKind | 'Bogus'; readonly on: Phase | 'fresh'; readonly bytes: Bytes }
  /** A well-formed Handshake1 whose ciphertext is altered. */
  | { readonly t: 'handshake-altered'; readonly how: Mutation | { readonly type: 'flip'; readonly at: number } }
  /** A valid Noise handshake whose payload is a malformed or out-of-phase request. */
  | { readonly t: 'first-message'; readonly request: RequestType; readonly how: Mutation | 'as is' }
  /** A validly encrypted Transport frame on an open channel with a malformed or out-of-phase request. */
  | {
      readonly t: 'transport';
      readonly on: Phase;
      readonly request: RequestType;
      readonly how: Mutation | 'as is' | 'limit 0';
    }
  /** A request with one bad group element (src/vectors/decoding.ts), as a first message or on a channel. */
  | { readonly t: 'element'; readonly on: Phase | 'first message'; readonly name: string; readonly bytes: Bytes }
  /** A Handshake1 whose ephemeral key `e` is a bad X25519 key (src/vectors/elements.ts). */
  | { readonly t: 'handshake-e'; readonly name: string; readonly e: Bytes }
  /** Transport bytes the channel cannot decrypt. */
  | { readonly t: 'transport-garbage'; readonly on: Phase; readonly bytes: Bytes };

const describeCase = (c: Case) => JSON.stringify(c, (_, v) => (v instanceof Uint8Array ? `${v.length} bytes` : v));

interface Fixture {
  readonly world: VaultWorld;
  /** The client's end of one open channel per phase, with the transport it uses next. */
  readonly channels: Record<Phase, { readonly id: string; transport: Transport }>;
  readonly valid: Record<RequestType, Bytes>;
}

/** A world with a record, and one channel left open in each phase. */
async function fixture(backend: Backend, rules?: ReplicaRules): Promise<Fixture> {
  const world = new VaultWorld({
    backend,
    token: 'bkv-4',
    seed: `vault-bad-input ${backend.name}`,
    ...(rules && { rules }),
  });
  expect((await world.client.register(ALICE, PASSWORD, generateBackupKey(world.rng))).ok).toBe(true);
  const { params } = world.config;
  const sizes = messageSizes(params.suite);
  const ke1 = encodeKE1(clientStartLogin(params, PASSWORD, world.rng).ke1);
  const valid: Record<RequestType, Bytes> = {
    RegisterStart: encodeRequest({
      type: 'RegisterStart',
      credentialId: utf8('carol'),
      request: encodeRegistrationRequest(createRegistrationRequest(params, PASSWORD, world.rng).request),
    }),
    RegisterFinish: encodeRequest({
      type: 'RegisterFinish',
      guessLimit: 10,
      record: decodableRecord(params.suite, world.rng),
      sealedPayload: new Uint8Array(60),
    }),
    RecoverStart: encodeRequest({ type: 'RecoverStart', credentialId: ALICE, ke1 }),
    RecoverFinish: encodeRequest({ type: 'RecoverFinish', ke3: new Uint8Array(sizes.ke3) }),
    RecoverAbort: encodeRequest({ type: 'RecoverAbort' }),
    Delete: encodeRequest({ type: 'Delete', credentialId: ALICE }),
  };
  const open = (payload: Bytes, expected: string) => {
    const { frame, state } = handshake1(world, payload);
    const { response, transport } = readHandshake2(world, state, world.deliver(frame)[0]!);
    expect(response.type).toBe(expected);
    return { id: frame.channel, transport };
  };
  const fakeKe1 = encodeKE1(clientStartLogin(params, PASSWORD, world.rng).ke1);
  const channels = {
    AwaitRegisterFinish: open(valid.RegisterStart, 'RegisterResponse'),
    AwaitKE3: open(
      encodeRequest({
        type: 'RecoverStart',
        credentialId: ALICE,
        ke1: encodeKE1(clientStartLogin(params, PASSWORD, world.rng).ke1),
      }),
      'RecoverResponse',
    ),
    'AwaitKE3(fake)': open(
      encodeRequest({ type: 'RecoverStart', credentialId: utf8('nobody'), ke1: fakeKe1 }),
      'RecoverResponse',
    ),
  };
  expect(Object.values(world.phases()).sort()).toEqual(['Open/AwaitKE3', 'Open/AwaitKE3', 'Open/AwaitRegisterFinish']);
  return { world, channels, valid };
}

/** A RegistrationRecord that decodes (a valid client public key; any masking key and envelope). */
function decodableRecord(suite: Suite, rng: Rng): Bytes {
  const { publicKey } = suite.group.deriveDiffieHellmanKeyPair(rng(suite.Nseed));
  const envelope = rng(suite.Nn + suite.Nm);
  return encodeRegistrationRecord({ clientPublicKey: publicKey, maskingKey: rng(suite.Nh), envelope });
}

function mutate(bytes: Bytes, how: Mutation): Bytes {
  switch (how.type) {
    case 'truncate':
      return bytes.slice(0, how.keep % bytes.length);
    case 'extend':
      return concat(bytes, how.extra);
    case 'tag':
      return concat(Uint8Array.of(how.tag), bytes.subarray(1));
  }
}

/** The request bytes of a `first-message` or `transport` case. */
function payloadOf(f: Fixture, request: RequestType, how: Mutation | 'as is' | 'limit 0'): Bytes {
  const valid = f.valid[request];
  if (how === 'as is') return valid;
  if (how === 'limit 0') return concat(valid.subarray(0, 1), Uint8Array.of(0), valid.subarray(2));
  return mutate(valid, how);
}

/** Each channel's transport nonces (send, receive), null while it is handshaking. */
function channelNonces(node: VaultNode): Record<string, readonly [bigint, bigint] | null> {
  return Object.fromEntries(
    [...node.channels].map(([id, ch]) => [
      id,
      ch.stage === 'Open' ? [ch.transport.sendNonce, ch.transport.receiveNonce] : null,
    ]),
  );
}

/** Sends one bad input; returns the code it was refused with (throws if it was not refused). */
function send(f: Fixture, c: Case): string {
  const { world } = f;
  const one = (answers: Frame[], channel: string): Frame => {
    expect(answers.map((a) => a.channel)).toEqual([channel]);
    return answers[0]!;
  };
  const codeOf = (frame: Frame, read: (fr: Frame) => Response): string => {
    if (frame.kind === 'Alert') return alertText(frame);
    const r = read(frame);
    if (r.type !== 'Error') throw new Error(`not refused: ${r.type}`);
    return r.code;
  };
  switch (c.t) {
    case 'raw': {
      const channel = c.on === 'fresh' ? `fresh-${world.now}` : f.channels[c.on].id;
      const answer = one(world.deliver({ channel, kind: c.kind as FrameKind, bytes: c.bytes }), channel);
      expect(answer.kind).toBe('Alert');
      return alertText(answer);
    }
    case 'handshake-altered': {
      const { frame } = handshake1(world, f.valid.RecoverStart);
      const bytes =
        c.how.type === 'flip' ? flipByte(frame.bytes, c.how.at % frame.bytes.length) : mutate(frame.bytes, c.how);
      const answer = one(world.deliver({ ...frame, bytes }), frame.channel);
      expect(answer.kind).toBe('Alert');
      return alertText(answer);
    }
    case 'first-message': {
      const { frame, state } = handshake1(world, payloadOf(f, c.request, c.how));
      return codeOf(one(world.deliver(frame), frame.channel), (fr) => readHandshake2(world, state, fr).response);
    }
    case 'element': {
      if (c.on === 'first message') {
        const { frame, state } = handshake1(world, c.bytes);
        return codeOf(one(world.deliver(frame), frame.channel), (fr) => readHandshake2(world, state, fr).response);
      }
      return sendOnChannel(f, c.on, c.bytes, one, codeOf);
    }
    case 'handshake-e': {
      const { frame } = handshake1(world, f.valid.RecoverStart);
      const bytes = frame.bytes.slice();
      bytes.set(c.e);
      const answer = one(world.deliver({ ...frame, bytes }), frame.channel);
      expect(answer.kind).toBe('Alert');
      return alertText(answer);
    }
    case 'transport':
      return sendOnChannel(f, c.on, payloadOf(f, c.request, c.how), one, codeOf);
    case 'transport-garbage': {
      const ch = f.channels[c.on];
      const answer = one(world.deliver({ channel: ch.id, kind: 'Transport', bytes: c.bytes }), ch.id);
      expect(answer.kind).toBe('Alert');
      return alertText(answer);
    }
  }
}

type One = (answers: Frame[], channel: string) => Frame;
type CodeOf = (frame: Frame, read: (fr: Frame) => Response) => string;

/** Sends `payload` in a Transport frame on the open channel of phase `on`; returns the refusal's code. */
function sendOnChannel(f: Fixture, on: Phase, payload: Bytes, one: One, codeOf: CodeOf): string {
  // the client keeps the transports the exchange leads to only if the vault answered in the
  // channel; after an Alert the vault's channel is as it was, so the client's must be too
  const ch = f.channels[on];
  const sent = ch.transport.send(payload);
  return codeOf(one(f.world.deliver({ channel: ch.id, kind: 'Transport', bytes: sent.message }), ch.id), (fr) => {
    const read = readTransport(f.world, sent.transport, fr);
    ch.transport = read.transport;
    return read.response;
  });
}

/** The property for one case: refused with a closed code; records, phases and host storage unchanged. */
function checkBadInput(f: Fixture, c: Case): string {
  const { world } = f;
  const state = encodeVaultState(world.vault.state);
  const phases = world.phases();
  const saves = world.storage.history.length;
  const code = send(f, c);
  expect(ERROR_CODES as readonly string[], describeCase(c)).toContain(code);
  expect(encodeVaultState(world.vault.state), describeCase(c)).toBe(state);
  expect(world.phases(), describeCase(c)).toEqual(phases);
  expect(world.storage.history.length, describeCase(c)).toBe(saves);
  return code;
}

/** Every request type x every way of breaking it x every place it can be sent. */
function exhaustiveCases(f: Fixture): Case[] {
  const cases: Case[] = [];
  const breakings = (bytes: Bytes): Mutation[] => [
    { type: 'truncate', keep: 0 },
    { type: 'truncate', keep: bytes.length - 1 },
    { type: 'extend', extra: Uint8Array.of(0) },
    { type: 'tag', tag: 0x00 },
    { type: 'tag', tag: 0x07 },
    { type: 'tag', tag: 0x83 },
  ];
  for (const request of REQUEST_TYPES) {
    for (const how of breakings(f.valid[request])) {
      cases.push({ t: 'first-message', request, how });
      for (const on of PHASES) cases.push({ t: 'transport', on, request, how });
    }
  }
  for (const request of OUT_OF_PHASE['first message']) cases.push({ t: 'first-message', request, how: 'as is' });
  for (const on of PHASES)
    for (const request of OUT_OF_PHASE[on]) cases.push({ t: 'transport', on, request, how: 'as is' });
  cases.push({ t: 'transport', on: 'AwaitRegisterFinish', request: 'RegisterFinish', how: 'limit 0' });
  for (const kind of ['Handshake1', 'Handshake2', 'Transport', 'Alert', 'Bogus'] as const) {
    for (const on of [...PHASES, 'fresh'] as const) {
      for (const bytes of [new Uint8Array(0), new Uint8Array(1), new Uint8Array(48), new Uint8Array(200).fill(0xa5)])
        cases.push({ t: 'raw', kind, on, bytes });
    }
  }
  for (const how of [
    { type: 'flip', at: 0 },
    { type: 'flip', at: 40 },
    { type: 'flip', at: -1 },
    { type: 'truncate', keep: 47 },
    { type: 'extend', extra: Uint8Array.of(1) },
  ] as const) {
    cases.push({ t: 'handshake-altered', how });
  }
  return cases;
}

/**
 * Every element position of every request that carries one x every bad encoding of its group
 * (src/vectors/decoding.ts, elements.ts), where the vault can receive it: RegisterStart and
 * RecoverStart as a first message, RegisterFinish both on its channel and as a first message
 * (decoded before its phase is checked), and the Noise ephemeral `e` of a Handshake1.
 */
function elementCases(f: Fixture): Case[] {
  const suite = f.world.config.params.suite;
  const { RegisterStart, RegisterFinish, RecoverStart } = f.valid;
  const valid = { RegistrationRequest: RegisterStart, RegistrationRecord: RegisterFinish, KE1: RecoverStart };
  const cases: Case[] = badElementRequests(suite, valid).flatMap((r): Case[] => {
    const first: Case = { t: 'element', on: 'first message', name: r.name, bytes: r.bytes };
    if (r.request !== 'RegisterFinish') return [first];
    return [first, { t: 'element', on: 'AwaitRegisterFinish', name: r.name, bytes: r.bytes }];
  });
  const honestE = handshake1(f.world, f.valid.RecoverStart).frame.bytes.subarray(0, 32);
  for (const bad of badElements('curve25519', honestE)) {
    cases.push({ t: 'handshake-e', name: `Handshake1.e is ${bad.name}`, e: bad.bytes });
  }
  return cases;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((keep) => ({ type: 'truncate' as const, keep })),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((extra) => ({ type: 'extend' as const, extra })),
  fc
    .integer({ min: 0, max: 255 })
    .filter((t) => t < 1 || t > 6)
    .map((tag) => ({ type: 'tag' as const, tag })),
);
const phaseArb = fc.constantFrom(...PHASES);
const requestArb = fc.constantFrom(...REQUEST_TYPES);
const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({
    t: fc.constant('raw' as const),
    kind: fc.constantFrom('Handshake1', 'Handshake2', 'Transport', 'Alert', 'Bogus' as const),
    on: fc.constantFrom(...PHASES, 'fresh' as const),
    bytes: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    t: fc.constant('handshake-altered' as const),
    how: fc.oneof(
      mutationArb.filter((m) => m.type !== 'tag'),
      fc.nat().map((at) => ({ type: 'flip' as const, at })),
    ),
  }),
  fc.record({ t: fc.constant('first-message' as const), request: requestArb, how: mutationArb }),
  fc
    .constantFrom(...OUT_OF_PHASE['first message'])
    .map((request): Case => ({ t: 'first-message', request, how: 'as is' })),
  fc.record({ t: fc.constant('transport' as const), on: phaseArb, request: requestArb, how: mutationArb }),
  phaseArb.chain((on) =>
    fc.constantFrom(...OUT_OF_PHASE[on]).map((request): Case => ({ t: 'transport', on, request, how: 'as is' })),
  ),
  fc.record({ t: fc.constant('transport-garbage' as const), on: phaseArb, bytes: fc.uint8Array({ maxLength: 300 }) }),
);

/** Both backends, and the memory backend in the two other suites (every suite's groups, spec ch. 2). */
const BAD_INPUT_BACKENDS = [
  { name: 'memory, ristretto255-SHA512', make: () => memoryBackend() },
  { name: 'softhsm, ristretto255-SHA512+Curve25519', make: () => softHsmBackend() },
  { name: 'memory, P256-SHA256', make: () => memoryBackend('P256-SHA256') },
  { name: 'memory, ristretto255-SHA512+Curve25519', make: () => memoryBackend('ristretto255-SHA512+Curve25519') },
];

describe.each(BAD_INPUT_BACKENDS)('bad input: $name', ({ make }) => {
  let backend: Backend;
  let f: Fixture;
  beforeAll(async () => {
    backend = make();
    f = await fixture(backend);
  });
  afterAll(() => {
    f.world.dispose();
    backend.teardown();
  });

  test(
    'every frame kind, request type and phase, broken every way: ' +
      'refused with a closed code, nothing changes (INV-12)',
    () => {
      const codes = new Map<string, number>();
      for (const c of exhaustiveCases(f)) {
        const code = checkBadInput(f, c);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      // the refusals name what was wrong
      expect([...codes.keys()].sort()).toEqual([
        'ChannelDecryptFailed',
        'ChannelStateError',
        'InvalidParameter',
        'InvalidPoint',
        'MalformedMessage',
        'UnknownMessageType',
        'UnknownSession',
      ]);
    },
  );

  test('every element position of every request x every bad encoding of its group: InvalidPoint, no change', () => {
    const cases = elementCases(f);
    const failures = cases.map((c) => [c, checkBadInput(f, c)] as const).filter(([, code]) => code !== 'InvalidPoint');
    console.log(`[vault-bad-input] ${f.world.config.params.suite.id}: ${cases.length} bad-element cases`);
    expect(failures.map(([c, code]) => `${describeCase(c)}: ${code}`)).toEqual([]);
  });

  test('random bad input: refused with a closed code, nothing changes (INV-12)', () => {
    fc.assert(
      fc.property(caseArb, (c) => void checkBadInput(f, c)),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test(
    'a node state is a value: a Transport frame handled twice from ' +
      'one state gives equal steps, and that state stays as it was',
    () => {
      const { world } = f;
      const before = world.vault.node;
      const nonces = channelNonces(before);
      const ch = f.channels.AwaitKE3;
      const [send, receive] = nonces[ch.id]!;
      const env = (): VaultEnv => ({
        hsm: world.hsm,
        rng: seededRng('node value'),
        now: world.now,
        config: world.config,
      });
      // refused in the channel (one reply sent), and accepted (a proposal, nothing sent yet)
      for (const [request, next] of [
        [f.valid.RegisterFinish, [send + 1n, receive + 1n]],
        [f.valid.RecoverAbort, [send, receive + 1n]],
      ] as const) {
        const frame: Frame = { channel: ch.id, kind: 'Transport', bytes: ch.transport.send(request).message };
        const [a, b] = [handleFrame(before, frame, env()), handleFrame(before, frame, env())];
        expect(channelNonces(before)).toEqual(nonces);
        expect(channelNonces(a.node)).toEqual({ ...nonces, [ch.id]: next });
        expect(channelNonces(b.node)).toEqual(channelNonces(a.node));
        expect(a.frames.map((x) => x.kind)).toEqual(request === f.valid.RegisterFinish ? ['Transport'] : []);
        expect(b.frames).toEqual(a.frames); // the same reply, byte for byte: the same nonce twice
        expect(b.proposals).toEqual(a.proposals);
      }
      expect(world.vault.node).toBe(before);
    },
  );

  test('after all that, the open channels still work: the real session completes', () => {
    const ch = f.channels.AwaitKE3;
    const abort = ch.transport.send(f.valid.RecoverAbort);
    const answer = readTransport(
      f.world,
      abort.transport,
      f.world.deliver({ channel: ch.id, kind: 'Transport', bytes: abort.message })[0]!,
    );
    expect(answer.response).toEqual({ type: 'Done' });
  });
});

describe('the bad-input property catches a broken vault', () => {
  const backend = memoryBackend('ristretto255-SHA512+Curve25519');
  test.each(['alert-closes-channel', 'refused-ke3-ends-session', 'free-text-alert'])('%s', async (name) => {
    const f = await fixture(backend, brokenRules(name));
    const r = fc.check(
      fc.property(caseArb, (c) => void checkBadInput(f, c)),
      { seed: 1, numRuns: 200, endOnFailure: true },
    );
    expect(r.failed).toBe(true);
    console.log(`[vault-bad-input] "${name}" caught after ${r.numRuns} cases: ${describeCase(r.counterexample![0])}`);
  });
});

test('the element table catches a vault whose X25519 check is that of 6ee2d9d (only zero bytes refused)', async () => {
  const base = memoryBackend('ristretto255-SHA512+Curve25519');
  const weakX25519 = (key: Bytes, what: string) => {
    if (key.length !== 32) throw new VaultError('MalformedMessage', `"${what}" expected 32 bytes, got ${key.length}`);
    if (key.every((b) => b === 0)) throw new VaultError('InvalidPoint', `"${what}" is the zero point`);
  };
  // the suite is a parameter of the vault (its config): the broken one is passed in, nothing is mocked
  const suite: Suite = { ...base.suite, group: { ...base.suite.group, checkPublicKey: weakX25519 } };
  const f = await fixture({ ...base, suite });
  const missed = elementCases(f).filter((c) => {
    try {
      return checkBadInput(f, c) !== 'InvalidPoint';
    } catch {
      return true; // not refused, or the vault threw
    }
  });
  const names = missed.map((c) => (c.t === 'element' ? c.name : ''));
  expect(names).toContain('RecoverStart: KE1.client_public_keyshare is u = 1 (order 4) (low order)');
  const topBit = 'RegisterFinish: RegistrationRecord.client_public_key is a valid key, bit 255 set (non-canonical)';
  expect(names).toContain(topBit);
  console.log(`[vault-bad-input] the 6ee2d9d X25519 check: ${missed.length} bad-element cases not refused`);
});
