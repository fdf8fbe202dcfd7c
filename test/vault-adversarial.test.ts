/**
 * An adversarial relay between client and vault (`tamperingRelay`, spec ch. 5 "Replays", ch. 1
 * threat model), on both HSM backends. The relay can replay, redirect, alter, drop and forge
 * frames; it sees ciphertext only. Each attack is rejected with its code, the client reports a
 * fault (never a wrong password or a lock it did not earn), and no guess is ever refunded: the
 * record's attemptsUsed never decreases except when a valid KE3 releases K. And RegisterStart,
 * which the relay authorizes, is no OPRF oracle for an existing record's password.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Bytes, fromHex, toHex, utf8 } from '../src/crypto/bytes.ts';
import { createRegistrationRequest, finalizeRegistrationRequest } from '../src/crypto/opaque-client.ts';
import { maskResponse } from '../src/crypto/opaque-envelope.ts';
import {
  decodeKE2,
  decodeRegistrationRequest,
  decodeRegistrationResponse,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
} from '../src/crypto/opaque-messages.ts';
import { createRegistrationResponse } from '../src/crypto/opaque-server.ts';
import { generateBackupKey, type Relay } from '../src/client/client.ts';
import { tamperingRelay } from '../src/client/relay.ts';
import { onRecoverResponse, onReleased, startRecovery } from '../src/client/session.ts';
import { hsmServerKeys, oprfCredentialIdentifier } from '../src/vault/keys.ts';
import { encodeRequest, type Frame } from '../src/vault/protocol.ts';
import { brokenRules } from '../src/broken/catalog.ts';
import {
  ALICE,
  alertText,
  BACKENDS,
  type Backend,
  flipByte,
  handshake1,
  memoryBackend,
  readHandshake2,
  TTL_MS,
  VaultWorld,
  type WorldOptions,
} from './support/vault-world.ts';

const PASSWORD = utf8('correct horse battery staple');
const WRONG = utf8('hunter2');

/** A relay the test scripts: it records what passes, and may rewrite or drop frames either way. */
class Adversary {
  readonly toVault: Frame[] = [];
  readonly fromVault: Frame[] = [];
  /** Rewrites a frame on its way to the vault; null drops it. */
  outbound: (f: Frame) => Frame | null = (f) => f;
  /** Rewrites the vault's answer; null drops it. */
  inbound: (f: Frame) => Frame | null = (f) => f;
  wrap = (inner: Relay): Relay =>
    tamperingRelay(inner, async (frame, send) => {
      this.toVault.push(frame);
      const out = this.outbound(frame);
      if (out === null) return null;
      const answer = await send(out);
      if (answer === null) return null;
      this.fromVault.push(answer);
      return this.inbound(answer);
    });
  honest(): void {
    this.outbound = (f) => f;
    this.inbound = (f) => f;
  }
}

/** No refund: between two releases of K, attemptsUsed never decreases (null = no record yet). */
function refunds(trace: readonly (number | null)[], releasesAt: readonly number[] = []): number[] {
  const out: number[] = [];
  for (let i = 1; i < trace.length; i++) {
    const [a, b] = [trace[i - 1], trace[i]];
    if (a != null && b != null && b < a && !releasesAt.includes(i)) out.push(i);
  }
  return out;
}

async function setup(backend: Backend, name: string, limit = 10, o: Partial<WorldOptions> = {}) {
  const adversary = new Adversary();
  const world = new VaultWorld({
    backend,
    token: 'bkv-3',
    seed: `vault-adversarial ${name}`,
    relay: adversary.wrap,
    ...o,
  });
  const K = generateBackupKey(world.rng);
  expect((await world.client.register(ALICE, PASSWORD, K, limit)).ok).toBe(true);
  return { world, adversary, K };
}

describe.each(BACKENDS)('adversarial relay: $name', ({ make }) => {
  let backend: Backend;
  const worlds: VaultWorld[] = [];
  beforeAll(() => void (backend = make()));
  afterAll(() => {
    for (const w of worlds) w.dispose();
    backend.teardown();
  });
  const start = async (name: string, limit = 10) => {
    const s = await setup(backend, name, limit);
    worlds.push(s.world);
    return s;
  };

  test('a replayed KE1 (Handshake1) is refused with SessionReplayed, on any channel, and spends nothing', async () => {
    const { world, adversary } = await start('replay KE1');
    expect(await world.client.recover(ALICE, WRONG)).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 9 });
    const ke1 = adversary.toVault.filter((f) => f.kind === 'Handshake1').at(-1)!;
    // an abandoned session keeps its channel open: replay it there, and on a fresh channel
    const { frame } = startRecovery(world.ctx, ALICE, WRONG, world.rng);
    await world.relay.exchange(frame);
    expect(world.record()?.attemptsUsed).toBe(2);
    for (const replay of [ke1, frame, { ...frame, channel: 'relay-made-channel' }]) {
      const answer = world.deliver(replay);
      expect(answer.map((f) => [f.kind, alertText(f)])).toEqual([['Alert', 'SessionReplayed']]);
    }
    expect(world.record()).toMatchObject({ attemptsUsed: 2 });
    expect(Object.keys(world.record()!.pending)).toHaveLength(1);
    expect(refunds(world.attemptsTrace)).toEqual([]);
  });

  test(
    'after a restart the replay cache is empty: a replayed KE1, ' +
      'of a session the restart ended or of one ended before, spends a guess nobody can use',
    async () => {
      const { world, adversary } = await start('replay KE1 restart');
      const abandoned = startRecovery(world.ctx, ALICE, WRONG, world.rng);
      await world.relay.exchange(abandoned.frame); // pending
      expect(await world.client.recover(ALICE, WRONG)).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 8 });
      const ended = adversary.toVault.filter((f) => f.kind === 'Handshake1').at(-1)!;
      world.restart();
      // the restarted replica leads anew: the pending session, whose channel is gone, ends (still spent)
      expect(world.record()).toMatchObject({ attemptsUsed: 2, pending: {} });
      // each KE1 is accepted as a new KE1 would be (the relay could forge one anyway: a KE1 needs no
      // password); its KE2 is encrypted to the original client's ephemeral key, which is gone
      for (const [k, replay] of [abandoned.frame, ended].entries()) {
        expect(world.deliver(replay).map((f) => f.kind)).toEqual(['Handshake2']);
        expect(world.record()).toMatchObject({ attemptsUsed: 3 + k });
      }
      expect(refunds(world.attemptsTrace)).toEqual([]);
    },
  );

  test('a replayed KE3 (Transport) is refused with UnknownSession; the release is not repeated', async () => {
    const { world, adversary, K } = await start('replay KE3', 3);
    expect(await world.client.recover(ALICE, WRONG)).toMatchObject({ kind: 'WrongPassword', triesRemaining: 2 });
    const wrongAbort = adversary.toVault.at(-1)!;
    const r = await world.client.recover(ALICE, PASSWORD);
    expect(r.ok && toHex(r.value)).toBe(toHex(K));
    const releasedAt = world.attemptsTrace.length - 1;
    const ke3 = adversary.toVault.at(-1)!;
    expect(ke3.kind).toBe('Transport');
    for (const replay of [ke3, wrongAbort]) {
      expect(world.deliver(replay).map((f) => [f.kind, alertText(f)])).toEqual([['Alert', 'UnknownSession']]);
    }
    expect(world.record()).toMatchObject({ attemptsUsed: 0, pending: {} });
    // the next wrong guess is counted as usual
    expect(await world.client.recover(ALICE, WRONG)).toMatchObject({ kind: 'WrongPassword', triesRemaining: 2 });
    expect(refunds(world.attemptsTrace, [releasedAt])).toEqual([]);
  });

  test(
    "a KE3 moved to another session's channel is refused " + 'with ChannelDecryptFailed and changes nothing there',
    async () => {
      const { world, K } = await start('moved KE3');
      const a = startRecovery(world.ctx, ALICE, PASSWORD, world.rng);
      const b = startRecovery(world.ctx, ALICE, PASSWORD, world.rng);
      const na = onRecoverResponse(world.ctx, a.session, (await world.relay.exchange(a.frame))!);
      const nb = onRecoverResponse(world.ctx, b.session, (await world.relay.exchange(b.frame))!);
      if (!('frame' in na) || !('frame' in nb)) throw new Error('expected two KE3s');
      expect(world.record()).toMatchObject({ attemptsUsed: 2 });
      const phases = world.phases();
      expect(world.deliver({ ...na.frame, channel: b.session.channel }).map((f) => [f.kind, alertText(f)])).toEqual([
        ['Alert', 'ChannelDecryptFailed'],
      ]);
      expect(world.phases()).toEqual(phases);
      expect(world.record()).toMatchObject({ attemptsUsed: 2 });
      // B's own KE3 still works (the failed frame left B's nonce where it was) and resets the attempts
      const releasedB = onReleased(world.ctx, b.session, (await world.relay.exchange(nb.frame))!);
      expect(releasedB.ok && toHex(releasedB.value)).toBe(toHex(K));
      const releasedAt = world.attemptsTrace.length - 1;
      // the reset ended every pending session: A's KE3, though valid, releases nothing
      expect(onReleased(world.ctx, a.session, (await world.relay.exchange(na.frame))!)).toEqual({
        ok: false,
        kind: 'Fault',
        code: 'UnknownSession',
      });
      expect(refunds(world.attemptsTrace, [releasedAt])).toEqual([]);
    },
  );

  test('tampered ciphertext, each frame in turn: a fault with its code, and the guess stays spent', async () => {
    const { world, adversary, K } = await start('tamper');
    const kindOf = (f: Frame, kind: Frame['kind'], n: number) =>
      f.kind === kind && adversary.toVault.filter((x) => x.channel === f.channel).length === n;

    // Handshake1 (KE1) altered: the vault cannot open it, no guess is spent
    adversary.outbound = (f) => (f.kind === 'Handshake1' ? { ...f, bytes: flipByte(f.bytes, -1) } : f);
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({
      ok: false,
      kind: 'Fault',
      code: 'ChannelDecryptFailed',
    });
    expect(world.record()).toMatchObject({ attemptsUsed: 0 });

    // Handshake2 (KE2) altered on its way back: the guess was spent before KE2 left (G1), and stays (G2)
    adversary.honest();
    adversary.inbound = (f) => (f.kind === 'Handshake2' ? { ...f, bytes: flipByte(f.bytes, 40) } : f);
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({
      ok: false,
      kind: 'Fault',
      code: 'ChannelDecryptFailed',
    });
    expect(world.record()).toMatchObject({ attemptsUsed: 1 });

    // KE3 altered: refused, the session stays pending, the client is told a fault
    adversary.honest();
    adversary.outbound = (f) => (kindOf(f, 'Transport', 2) ? { ...f, bytes: flipByte(f.bytes, 0) } : f);
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({
      ok: false,
      kind: 'Fault',
      code: 'ChannelDecryptFailed',
    });
    expect(world.record()).toMatchObject({ attemptsUsed: 2 });
    expect(Object.keys(world.record()!.pending)).toHaveLength(2);

    // RecoverAbort altered: refused; the wrong guess is spent all the same
    expect(await world.client.recover(ALICE, WRONG)).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 7 });
    expect(world.record()).toMatchObject({ attemptsUsed: 3 });
    expect(Object.keys(world.record()!.pending)).toHaveLength(3);

    // the pending sessions expire: they end, their guesses stay spent
    world.expire(TTL_MS);
    expect(world.record()).toMatchObject({ attemptsUsed: 3, pending: {} });

    // Released altered: the vault verified the KE3 and reset the attempts, the client gets a fault
    adversary.honest();
    adversary.inbound = (f) => (f.kind === 'Transport' ? { ...f, bytes: flipByte(f.bytes, 3) } : f);
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({
      ok: false,
      kind: 'Fault',
      code: 'ChannelDecryptFailed',
    });
    const releasedAt = world.attemptsTrace.length - 1;
    expect(world.record()).toMatchObject({ attemptsUsed: 0 });

    adversary.honest();
    const r = await world.client.recover(ALICE, PASSWORD);
    expect(r.ok && toHex(r.value)).toBe(toHex(K));
    expect(refunds(world.attemptsTrace, [releasedAt, world.attemptsTrace.length - 1])).toEqual([]);
  });

  test('a dropped KE2 or KE3 is a fault (Unavailable), not a wrong password; the guess stays spent', async () => {
    const { world, adversary } = await start('drop');
    adversary.inbound = (f) => (f.kind === 'Handshake2' ? null : f);
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({ ok: false, kind: 'Fault', code: 'Unavailable' });
    adversary.honest();
    adversary.outbound = (f) => (f.kind === 'Transport' ? null : f);
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({ ok: false, kind: 'Fault', code: 'Unavailable' });
    expect(world.record()).toMatchObject({ attemptsUsed: 2 });
    const frames = world.expire(TTL_MS);
    expect(frames.map(alertText)).toEqual(['SessionExpired', 'SessionExpired']);
    expect(world.record()).toMatchObject({ attemptsUsed: 2, pending: {} });
    expect(refunds(world.attemptsTrace)).toEqual([]);
  });

  test('forged alerts are faults: never a wrong password, never a lock', async () => {
    const { world, adversary } = await start('forged alert');
    for (const text of ['GuessLimitExceeded', 'ClientAuthenticationFailed', 'not a code at all']) {
      adversary.inbound = (f) => ({ channel: f.channel, kind: 'Alert', bytes: utf8(text) });
      const got = await world.client.recover(ALICE, PASSWORD);
      expect(got).toEqual({ ok: false, kind: 'Fault', code: text === 'not a code at all' ? 'MalformedMessage' : text });
    }
    // a forged answer of the wrong kind
    adversary.inbound = (f) => ({ ...f, kind: 'Transport' });
    expect(await world.client.recover(ALICE, PASSWORD)).toEqual({
      ok: false,
      kind: 'Fault',
      code: 'ChannelStateError',
    });
    expect(world.record()).toMatchObject({ attemptsUsed: 4 });
  });
});

/**
 * The offline dictionary attack a registration OPRF oracle would allow (spec ch. 5, "One OPRF key
 * per registration"). Whoever passes the relay's account check for a credential (a malicious relay,
 * a hijacked phone number) can send RegisterStart for it without ever finishing. If the response
 * evaluated the record's own OPRF key, one KE2 (one spent guess) would let them test every
 * candidate password offline: OPRF output -> randomized_pwd -> masking_key -> unmask the KE2's
 * masked_response -> is it the pinned server key? Returns the password found, or null.
 */
function offlineAttack(
  world: VaultWorld,
  victim: Bytes,
  candidates: readonly string[],
  evaluate: (request: Bytes) => Bytes,
): string | null {
  const { params } = world.config;
  const suite = params.suite;
  // one KE2, spending one guess, with any password
  const probe = startRecovery(world.ctx, victim, utf8('anything'), world.rng);
  const { response } = readHandshake2(world, probe.session.noise, world.deliver(probe.frame)[0]!);
  if (response.type !== 'RecoverResponse') throw new Error('expected a KE2');
  const { maskingNonce, maskedResponse } = decodeKE2(suite, response.ke2).credentialResponse;
  for (const candidate of candidates) {
    const { request, state } = createRegistrationRequest(params, utf8(candidate), world.rng);
    const evaluated = decodeRegistrationResponse(suite, evaluate(encodeRegistrationRequest(request)));
    const { record } = finalizeRegistrationRequest(params, state, evaluated, {}, world.rng);
    const unmasked = maskResponse(suite, record.maskingKey, maskingNonce, maskedResponse);
    if (toHex(unmasked.subarray(0, suite.group.Npk)) === toHex(world.ctx.opaqueServerKey)) return candidate;
  }
  return null;
}

const PINS = Array.from({ length: 24 }, (_, i) => String(100000 + i * 37));

describe.each(BACKENDS)('registration is no OPRF oracle: $name', ({ make }) => {
  let backend: Backend;
  let world: VaultWorld;
  beforeAll(async () => {
    backend = make();
    world = new VaultWorld({ backend, token: 'bkv-3', seed: `vault-adversarial oracle ${backend.name}` });
    expect((await world.client.register(ALICE, utf8(PINS[17]!), generateBackupKey(world.rng))).ok).toBe(true);
  });
  afterAll(() => {
    world.dispose();
    backend.teardown();
  });

  /** RegisterStart sent for the victim's id, never finished: the vault's answer. */
  const viaRegisterStart = (request: Bytes): Bytes => {
    const { frame, state } = handshake1(world, encodeRequest({ type: 'RegisterStart', credentialId: ALICE, request }));
    const { response } = readHandshake2(world, state, world.deliver(frame)[0]!);
    if (response.type !== 'RegisterResponse') throw new Error(`expected a RegistrationResponse, got ${response.type}`);
    return response.response;
  };

  test('RegisterStart for an existing record evaluates a fresh OPRF key: the offline attack finds nothing', () => {
    const before = world.record()!;
    expect(offlineAttack(world, ALICE, PINS, viaRegisterStart)).toBeNull();
    // it cost the attacker exactly the one guess of its KE2; the unfinished registrations changed nothing else
    const after = world.record()!;
    expect(after).toMatchObject({ attemptsUsed: 1 });
    expect({ ...after, attemptsUsed: 0, pending: {} }).toEqual(before);
    expect(Object.keys(world.vault.state.records)).toEqual([toHex(ALICE)]);
    // the same blinded element twice: two different evaluations
    const { request } = createRegistrationRequest(world.config.params, utf8(PINS[0]!), world.rng);
    const encoded = encodeRegistrationRequest(request);
    expect(toHex(viaRegisterStart(encoded))).not.toBe(toHex(viaRegisterStart(encoded)));
  });

  test(
    'the attack can succeed: against a vault whose RegisterStart ' +
      "evaluated the record's own OPRF key, it finds the PIN",
    () => {
      const salt = world.record()!.oprfSalt!;
      const keys = hsmServerKeys(world.hsm, world.config.labels);
      const ownKey = (request: Bytes) =>
        encodeRegistrationResponse(
          createRegistrationResponse(
            world.config.params,
            keys,
            decodeRegistrationRequest(world.config.params.suite, request),
            oprfCredentialIdentifier(ALICE, fromHex(salt)),
          ),
        );
      expect(offlineAttack(world, ALICE, PINS, ownKey)).toBe(PINS[17]);
    },
  );
});

describe('the no-refund check can fail', () => {
  test('a vault that refunds the guess on RecoverAbort shows a decrease', async () => {
    const backend = memoryBackend();
    const s = await setup(backend, 'refund', 10, { rules: brokenRules('refund-on-abort') });
    await s.world.client.recover(ALICE, WRONG);
    expect(refunds(s.world.attemptsTrace).length).toBeGreaterThan(0);
    s.world.dispose();
  });
});
