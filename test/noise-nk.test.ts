/**
 * The Noise Protocol Framework (revision 34), pattern NK, as the client <-> HSM channel
 * (src/crypto/noise.ts). In order: a worked example, the edge cases (sizes, low-order points,
 * state reuse, nonce exhaustion), the 8 cacophony vectors (`../shared/vectors/noise-nk-25519.json`,
 * override with BKV_VECTORS_DIR), then fast-check properties: round trip, bit flips, wrong pinned
 * key, replay / reordering, and a broken transport that the replay property catches; last, a
 * Transport is a value (`send` and `receive` return the next one), shown against a mutable one.
 */
import { loadVectors } from './support/vectors.ts';
import { badElements } from '../src/vectors/elements.ts';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fromHex, toHex, utf8, type Bytes } from '../src/crypto/bytes.ts';
import {
  HandshakeState,
  MAX_MESSAGE_LEN,
  MAX_TRANSPORT_PAYLOAD,
  NOISE_NK_25519_AESGCM_SHA256,
  NOISE_NK_25519_CHACHAPOLY_SHA256,
  NOISE_NK_SUITES,
  Transport,
  getNoiseSuite,
  initiatorFinish,
  initiatorStart,
  responderReceive,
  responderRespond,
  x25519KeyFromPrivate,
  type DhKey,
  type NoiseSuite,
} from '../src/crypto/noise.ts';
import { CipherState, MAX_NONCE } from '../src/crypto/noise-state.ts';
import { isVaultError, type ErrorCode } from '../src/errors.ts';

const EMPTY = new Uint8Array(0);
const SUITES = Object.values(NOISE_NK_SUITES);

/** The VaultError code `f` throws, or a marker that it threw something else / nothing. */
function codeOf(f: () => unknown): ErrorCode | 'no error' | 'not a VaultError' {
  try {
    f();
  } catch (e) {
    return isVaultError(e) ? e.code : 'not a VaultError';
  }
  return 'no error';
}

const key = (byte: number): Bytes => new Uint8Array(32).fill(byte);

/** An HSM-held static key as the channel sees it: a public key and a DH oracle, with a call count. */
function hsmStaticKey(privateKey: Bytes): DhKey & { calls: number } {
  const inner = x25519KeyFromPrivate(privateKey);
  const k = { publicKey: inner.publicKey, calls: 0, dh: (peer: Bytes) => (k.calls++, inner.dh(peer)) };
  return k;
}

interface Keys {
  readonly serverStatic: Bytes;
  readonly clientEphemeral: Bytes;
  readonly serverEphemeral: Bytes;
}
const KEYS: Keys = { serverStatic: key(1), clientEphemeral: key(2), serverEphemeral: key(3) };

/** A whole handshake with fixed keys; returns both transports and the two handshake messages. */
function handshake(
  suite: NoiseSuite,
  keys: Keys = KEYS,
  payloads: readonly [Bytes, Bytes] = [EMPTY, EMPTY],
  prologue = EMPTY,
) {
  const server = x25519KeyFromPrivate(keys.serverStatic);
  const start = initiatorStart(suite, {
    responderStatic: server.publicKey,
    prologue,
    payload: payloads[0],
    ephemeralPrivateKey: keys.clientEphemeral,
  });
  const received = responderReceive(suite, { staticKey: server, prologue, message: start.message });
  const reply = responderRespond(received.state, { payload: payloads[1], ephemeralPrivateKey: keys.serverEphemeral });
  const finish = initiatorFinish(start.state, reply.message);
  return {
    message1: start.message,
    message2: reply.message,
    received1: received.payload,
    received2: finish.payload,
    client: finish.transport,
    server: reply.transport,
  };
}

/** Both ends of a channel, each replaced by the transport its last step returned. */
type Ends = [client: Transport, server: Transport];

/** Sends `payload` from end `from` to the other end, and keeps the transports both steps return. */
function deliver(ends: Ends, from: 0 | 1, payload: Bytes): { message: Bytes; payload: Bytes } {
  const to = from === 0 ? 1 : 0;
  const sent = ends[from].send(payload);
  const received = ends[to].receive(sent.message);
  [ends[from], ends[to]] = [sent.transport, received.transport];
  return { message: sent.message, payload: received.payload };
}

/** The messages `sender` sends for `payloads`, in order. */
function sendAll(sender: Transport, payloads: readonly Bytes[]): Bytes[] {
  return payloads.map((p) => {
    const sent = sender.send(p);
    sender = sent.transport;
    return sent.message;
  });
}

// ---------------------------------------------------------------------------------------------

test('worked example: a client opens a channel to an HSM whose private key it never sees', () => {
  const suite = NOISE_NK_25519_AESGCM_SHA256;
  // The HSM's channel key: only `publicKey` and `dh` are exposed (in the vault: hsm.dh(label, peer)).
  const hsm = hsmStaticKey(key(0x42));
  // The client pins hsm.publicKey (from the validation bundle) and draws its ephemeral from rng.
  const rng = (n: number) => new Uint8Array(n).fill(7);
  const prologue = utf8('bkv channel v1');

  // -> e, es: 32-byte ephemeral, then the payload encrypted under a key mixed from DH(e, rs).
  const c1 = initiatorStart(suite, { responderStatic: hsm.publicKey, prologue, payload: utf8('hello HSM'), rng });
  expect(c1.message.length).toBe(32 + 9 + 16);
  expect(c1.state.protocolName).toBe('Noise_NK_25519_AESGCM_SHA256');

  // The HSM side reads it (one DH with the static key, inside the HSM) ...
  const s1 = responderReceive(suite, { staticKey: hsm, prologue, message: c1.message });
  expect(new TextDecoder().decode(s1.payload)).toBe('hello HSM');
  expect(hsm.calls).toBe(1);
  // ... and answers <- e, ee with its own fresh ephemeral: the handshake is complete on its side.
  const s2 = responderRespond(s1.state, { payload: utf8('hello client'), rng: (n) => new Uint8Array(n).fill(9) });
  expect(s2.message.length).toBe(32 + 12 + 16);

  const c2 = initiatorFinish(c1.state, s2.message);
  expect(new TextDecoder().decode(c2.payload)).toBe('hello client');
  const client = c2.transport;
  const server = s2.transport;
  expect(toHex(client.handshakeHash)).toBe(toHex(server.handshakeHash));
  expect(client.handshakeHash.length).toBe(32);

  // Transport: implicit nonces, counted per direction. Each step returns the transport to use next.
  const ends: Ends = [client, server];
  const m = deliver(ends, 0, utf8('KE1 ...'));
  expect(m.message.length).toBe(7 + 16);
  expect(new TextDecoder().decode(m.payload)).toBe('KE1 ...');
  expect(new TextDecoder().decode(deliver(ends, 1, utf8('KE2 ...')).payload)).toBe('KE2 ...');
  expect(ends.flatMap((t) => [t.sendNonce, t.receiveNonce])).toEqual([1n, 1n, 1n, 1n]);
  expect(hsm.calls).toBe(1); // the static key was used once for the whole session
});

describe('suites', () => {
  test('eight NK suites, found by protocol name (Noise §8)', () => {
    expect(Object.keys(NOISE_NK_SUITES).sort()).toEqual(
      ['AESGCM', 'ChaChaPoly']
        .flatMap((c) => ['BLAKE2b', 'BLAKE2s', 'SHA256', 'SHA512'].map((h) => `Noise_NK_25519_${c}_${h}`))
        .sort(),
    );
    for (const s of SUITES) expect(getNoiseSuite(s.protocolName)).toBe(s);
    expect(NOISE_NK_25519_CHACHAPOLY_SHA256.cipher.name).toBe('ChaChaPoly');
    expect(codeOf(() => getNoiseSuite('Noise_XX_25519_AESGCM_SHA256'))).toBe('InvalidParameter');
    expect(codeOf(() => getNoiseSuite('toString'))).toBe('InvalidParameter');
  });
});

describe('edge cases', () => {
  const suite = NOISE_NK_25519_AESGCM_SHA256;
  const server = x25519KeyFromPrivate(KEYS.serverStatic);
  const start = (payload = EMPTY) =>
    initiatorStart(suite, { responderStatic: server.publicKey, payload, ephemeralPrivateKey: KEYS.clientEphemeral });
  const receive = (message: Bytes, staticKey: DhKey = server) => responderReceive(suite, { staticKey, message });

  test('message sizes: 48-byte minimum, 65535-byte maximum (Noise §3)', () => {
    const max = MAX_MESSAGE_LEN - 48;
    expect(start(new Uint8Array(max)).message.length).toBe(MAX_MESSAGE_LEN);
    expect(receive(start(new Uint8Array(max)).message).payload.length).toBe(max);
    expect(codeOf(() => start(new Uint8Array(max + 1)))).toBe('InvalidParameter');
    const m1 = start().message;
    expect(codeOf(() => receive(m1.subarray(0, 47)))).toBe('MalformedMessage');
    expect(codeOf(() => receive(new Uint8Array(MAX_MESSAGE_LEN + 1)))).toBe('MalformedMessage');
    const { client, server: srv } = handshake(suite);
    expect(deliver([client, srv], 0, new Uint8Array(MAX_TRANSPORT_PAYLOAD)).payload.length).toBe(MAX_TRANSPORT_PAYLOAD);
    expect(codeOf(() => client.send(new Uint8Array(MAX_TRANSPORT_PAYLOAD + 1)))).toBe('InvalidParameter');
    expect(codeOf(() => srv.receive(new Uint8Array(15)))).toBe('MalformedMessage');
    expect(codeOf(() => srv.receive(new Uint8Array(MAX_MESSAGE_LEN + 1)))).toBe('MalformedMessage');
  });

  test('an ephemeral of low order or not canonical: InvalidPoint, before the HSM key is used (ch. 2 §2.6)', () => {
    const hsm = hsmStaticKey(KEYS.serverStatic);
    const honest = start().message;
    const bad = badElements('curve25519', honest.subarray(0, 32));
    expect(bad.length).toBeGreaterThanOrEqual(17);
    for (const e of bad) {
      const forged = honest.slice();
      forged.set(e.bytes);
      expect(
        codeOf(() => receive(forged, hsm)),
        e.name,
      ).toBe('InvalidPoint');
    }
    expect(hsm.calls).toBe(0);
    // the initiator refuses the same keys as the responder's ephemeral in message 2
    for (const e of bad) {
      const s = start();
      const respond = { payload: EMPTY, ephemeralPrivateKey: KEYS.serverEphemeral };
      const reply = responderRespond(receive(s.message).state, respond);
      const forged = reply.message.slice();
      forged.set(e.bytes);
      expect(
        codeOf(() => initiatorFinish(s.state, forged)),
        e.name,
      ).toBe('InvalidPoint');
    }
  });

  test(
    'an all-zero DH output from the DH callback is refused ' + 'with InvalidPoint (our choice; Noise §12.1 allows it)',
    () => {
      const broken: DhKey = { publicKey: server.publicKey, dh: () => new Uint8Array(32) };
      expect(codeOf(() => receive(start().message, broken))).toBe('InvalidPoint');
      const failing: DhKey = {
        publicKey: server.publicKey,
        dh: () => {
          throw new Error('token error');
        },
      };
      expect(codeOf(() => receive(start().message, failing))).toBe('InvalidPoint');
      expect(
        codeOf(() => initiatorStart(suite, { responderStatic: key(0), ephemeralPrivateKey: KEYS.clientEphemeral })),
      ).toBe('InvalidPoint');
    },
  );

  test('prologues must match (Noise §6)', () => {
    const m1 = initiatorStart(suite, {
      responderStatic: server.publicKey,
      prologue: utf8('v1'),
      ephemeralPrivateKey: KEYS.clientEphemeral,
    }).message;
    expect(codeOf(() => responderReceive(suite, { staticKey: server, prologue: utf8('v2'), message: m1 }))).toBe(
      'ChannelDecryptFailed',
    );
  });

  test('each handshake state is used once, even when the step fails', () => {
    const a = start();
    const r = receive(a.message);
    const reply = responderRespond(r.state, { ephemeralPrivateKey: KEYS.serverEphemeral });
    expect(codeOf(() => responderRespond(r.state, { ephemeralPrivateKey: KEYS.serverEphemeral }))).toBe(
      'ChannelStateError',
    );
    const tampered = Uint8Array.from(reply.message);
    tampered[40]! ^= 1;
    expect(codeOf(() => initiatorFinish(a.state, tampered))).toBe('ChannelDecryptFailed');
    expect(codeOf(() => initiatorFinish(a.state, reply.message))).toBe('ChannelStateError');
    // @ts-expect-error a responder state is not an initiator state
    expect(codeOf(() => initiatorFinish(receive(start().message).state, reply.message))).toBe('ChannelStateError');
  });

  test('HandshakeState refuses messages out of turn (Noise §5.3)', () => {
    const hs = new HandshakeState(suite, { initiator: true, prologue: EMPTY, rs: server.publicKey });
    expect(codeOf(() => hs.readMessage(new Uint8Array(48)))).toBe('ChannelStateError');
    hs.writeMessage(EMPTY, x25519KeyFromPrivate(KEYS.clientEphemeral));
    expect(codeOf(() => hs.writeMessage(EMPTY, x25519KeyFromPrivate(KEYS.clientEphemeral)))).toBe('ChannelStateError');
  });

  test('ephemeral keys come from exactly one of rng and ephemeralPrivateKey', () => {
    const responderStatic = server.publicKey;
    expect(codeOf(() => initiatorStart(suite, { responderStatic, rng: (n) => new Uint8Array(n - 1).fill(1) }))).toBe(
      'InvalidParameter',
    );
    // @ts-expect-error neither source
    expect(codeOf(() => initiatorStart(suite, { responderStatic }))).toBe('InvalidParameter');
    expect(
      codeOf(() =>
        // @ts-expect-error both sources
        initiatorStart(suite, { responderStatic, rng: (n: number) => new Uint8Array(n), ephemeralPrivateKey: key(5) }),
      ),
    ).toBe('InvalidParameter');
    expect(
      codeOf(() =>
        initiatorStart(suite, { responderStatic: responderStatic.subarray(1), ephemeralPrivateKey: key(5) }),
      ),
    ).toBe('InvalidParameter');
  });

  test('a CipherState stops at nonce 2^64-1 (Noise §5.1)', () => {
    const cs = CipherState.initializeKey(suite.cipher, key(9)).setNonce(MAX_NONCE - 1n);
    const { ciphertext, next } = cs.encryptWithAd(EMPTY, EMPTY);
    expect(ciphertext.length).toBe(16);
    expect([cs.nonce, next.nonce]).toEqual([MAX_NONCE - 1n, MAX_NONCE]);
    expect(codeOf(() => next.encryptWithAd(EMPTY, EMPTY))).toBe('ChannelStateError');
    expect(codeOf(() => next.decryptWithAd(EMPTY, new Uint8Array(16)))).toBe('ChannelStateError');
  });
});

// ---------------------------------------------------------------------------------------------
// The vectors

interface NoiseVector {
  protocol_name: string;
  init_prologue: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

let vectors: NoiseVector[] = [];
let loadError: Error | undefined;
try {
  vectors = loadVectors<{ vectors: NoiseVector[] }>('noise-nk-25519.json').vectors;
} catch (e) {
  loadError = e as Error;
}

describe('cacophony vectors (Noise_NK_25519_*)', () => {
  test('the vector file is present and holds the 8 suites', () => {
    if (loadError !== undefined) throw loadError;
    expect(vectors.map((v) => v.protocol_name).sort()).toEqual(Object.keys(NOISE_NK_SUITES).sort());
  });

  test.each(vectors.map((v) => [v.protocol_name, v] as const))(
    '%s: 6 messages byte for byte, and the handshake hash',
    (name, v) => {
      const suite = getNoiseSuite(name);
      const [m0, m1, ...transport] = v.messages;
      if (m0 === undefined || m1 === undefined)
        throw new Error(`${name}: expected 6 messages, got ${v.messages.length}`);
      expect(v.messages.length).toBe(6);
      const staticKey = hsmStaticKey(fromHex(v.resp_static));
      expect(toHex(staticKey.publicKey)).toBe(v.init_remote_static);

      const a = initiatorStart(suite, {
        responderStatic: fromHex(v.init_remote_static),
        prologue: fromHex(v.init_prologue),
        payload: fromHex(m0.payload),
        ephemeralPrivateKey: fromHex(v.init_ephemeral),
      });
      expect(toHex(a.message)).toBe(m0.ciphertext);
      const r = responderReceive(suite, {
        staticKey,
        prologue: fromHex(v.resp_prologue),
        message: fromHex(m0.ciphertext),
      });
      expect(toHex(r.payload)).toBe(m0.payload);
      const reply = responderRespond(r.state, {
        payload: fromHex(m1.payload),
        ephemeralPrivateKey: fromHex(v.resp_ephemeral),
      });
      expect(toHex(reply.message)).toBe(m1.ciphertext);
      const fin = initiatorFinish(a.state, fromHex(m1.ciphertext));
      expect(toHex(fin.payload)).toBe(m1.payload);

      expect(toHex(fin.transport.handshakeHash)).toBe(v.handshake_hash);
      expect(toHex(reply.transport.handshakeHash)).toBe(v.handshake_hash);
      // Transport messages alternate, initiator first (as after the handshake in cacophony).
      const ends: Ends = [fin.transport, reply.transport];
      transport.forEach((m, i) => {
        const sent = deliver(ends, i % 2 === 0 ? 0 : 1, fromHex(m.payload));
        expect(toHex(sent.message)).toBe(m.ciphertext);
        expect(toHex(sent.payload)).toBe(m.payload);
      });
      expect([ends[0].sendNonce, ends[0].receiveNonce]).toEqual([2n, 2n]);
      expect(staticKey.calls).toBe(1);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Properties

const arbSuite = fc.constantFrom(...SUITES);
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 });
const arbKeys: fc.Arbitrary<Keys> = fc.record({
  serverStatic: arbKey,
  clientEphemeral: arbKey,
  serverEphemeral: arbKey,
});
const arbPayload = fc.uint8Array({ maxLength: 200 });

describe('properties', () => {
  test('any payloads round-trip, in both directions, and both sides agree on h', () => {
    fc.assert(
      fc.property(
        arbSuite,
        arbKeys,
        arbPayload,
        arbPayload,
        arbPayload,
        fc.array(fc.tuple(fc.boolean(), arbPayload), { maxLength: 8 }),
        (suite, keys, p1, p2, prologue, traffic) => {
          const hs = handshake(suite, keys, [p1, p2], prologue);
          expect(toHex(hs.received1)).toBe(toHex(p1));
          expect(toHex(hs.received2)).toBe(toHex(p2));
          expect(toHex(hs.client.handshakeHash)).toBe(toHex(hs.server.handshakeHash));
          const ends: Ends = [hs.client, hs.server];
          for (const [fromClient, p] of traffic)
            expect(toHex(deliver(ends, fromClient ? 0 : 1, p).payload)).toBe(toHex(p));
          const sent = BigInt(traffic.filter(([c]) => c).length);
          expect([ends[0].sendNonce, ends[1].receiveNonce]).toEqual([sent, sent]);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('any single-bit flip of any handshake or transport message is rejected with a VaultError', () => {
    fc.assert(
      fc.property(
        arbSuite,
        arbKeys,
        fc.array(arbPayload, { minLength: 6, maxLength: 6 }),
        fc.nat({ max: 5 }),
        fc.nat(),
        (suite, keys, payloads, which, bitSeed) => {
          const flip = (m: Bytes) => {
            const out = Uint8Array.from(m);
            const bit = bitSeed % (m.length * 8);
            out[bit >> 3]! ^= 1 << (bit & 7);
            return out;
          };
          const server = x25519KeyFromPrivate(keys.serverStatic);
          const start = () =>
            initiatorStart(suite, {
              responderStatic: server.publicKey,
              payload: payloads[0]!,
              ephemeralPrivateKey: keys.clientEphemeral,
            });
          const a = start();
          if (which === 0) {
            expect(codeOf(() => responderReceive(suite, { staticKey: server, message: flip(a.message) }))).toMatch(
              /^(ChannelDecryptFailed|InvalidPoint)$/,
            );
            return;
          }
          const r = responderReceive(suite, { staticKey: server, message: a.message });
          const reply = responderRespond(r.state, { payload: payloads[1]!, ephemeralPrivateKey: keys.serverEphemeral });
          if (which === 1) {
            expect(codeOf(() => initiatorFinish(a.state, flip(reply.message)))).toMatch(
              /^(ChannelDecryptFailed|InvalidPoint)$/,
            );
            // a fresh state still works
            expect(toHex(initiatorFinish(start().state, reply.message).payload)).toBe(toHex(payloads[1]!));
            return;
          }
          const ends: Ends = [initiatorFinish(a.state, reply.message).transport, reply.transport];
          for (let i = 2; i < which; i++) deliver(ends, i % 2 === 0 ? 0 : 1, payloads[i]!);
          const [from, to] = which % 2 === 0 ? [ends[0], ends[1]] : [ends[1], ends[0]];
          const m = from.send(payloads[which]!).message;
          expect(codeOf(() => to.receive(flip(m)))).toBe('ChannelDecryptFailed');
          // Noise §5.1: the failure did not advance n
          expect(toHex(to.receive(m).payload)).toBe(toHex(payloads[which]!));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a wrong pinned responder key fails the handshake at the responder', () => {
    fc.assert(
      fc.property(arbSuite, arbKeys, arbKey, arbPayload, (suite, keys, otherStatic, payload) => {
        const real = x25519KeyFromPrivate(keys.serverStatic);
        const pinned = x25519KeyFromPrivate(otherStatic).publicKey;
        fc.pre(toHex(pinned) !== toHex(real.publicKey));
        const a = initiatorStart(suite, {
          responderStatic: pinned,
          payload,
          ephemeralPrivateKey: keys.clientEphemeral,
        });
        expect(codeOf(() => responderReceive(suite, { staticKey: real, message: a.message }))).toBe(
          'ChannelDecryptFailed',
        );
      }),
      { numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Replay and reordering

/** A receiving end: like a Transport, it returns the end to receive the next message with. */
interface Receiver {
  receive(message: Bytes): { payload: Bytes; transport: Receiver };
}

test('replayed and out-of-order transport messages are rejected; in-order delivery resumes', () => {
  const { client, server } = handshake(NOISE_NK_25519_AESGCM_SHA256);
  const [m0, m1, m2] = sendAll(client, ['a', 'b', 'c'].map(utf8)) as [Bytes, Bytes, Bytes];
  let receiver = server;
  const read = (m: Bytes) => {
    const received = receiver.receive(m);
    receiver = received.transport;
    return received.payload;
  };
  expect(codeOf(() => read(m1))).toBe('ChannelDecryptFailed'); // early
  expect(read(m0)).toEqual(utf8('a'));
  expect(codeOf(() => read(m0))).toBe('ChannelDecryptFailed'); // replay
  expect(read(m1)).toEqual(utf8('b'));
  expect(codeOf(() => read(m0))).toBe('ChannelDecryptFailed'); // old
  expect(read(m2)).toEqual(utf8('c'));
  expect(codeOf(() => client.receive(m0))).toBe('ChannelDecryptFailed'); // reflected back to its sender
  expect(receiver.receiveNonce).toBe(3n);
});

/**
 * Model: a receiver accepts a message iff it is the next one in send order. The relay delivers
 * `schedule` (any indices, repeats and reorderings included).
 */
function replayProperty(makePair: (suite: NoiseSuite) => { sender: Transport; receiver: Receiver }) {
  return fc.property(arbSuite, fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 12 }), (suite, schedule) => {
    const pair = makePair(suite);
    let receiver = pair.receiver;
    const payloads = [0, 1, 2, 3].map((i) => Uint8Array.of(i));
    const messages = sendAll(pair.sender, payloads);
    let next = 0;
    for (const i of schedule) {
      const outcome = codeOf(() => {
        const received = receiver.receive(messages[i]!);
        expect(received.payload).toEqual(payloads[i]);
        receiver = received.transport;
      });
      if (i === next) {
        expect(outcome).toBe('no error');
        next++;
      } else expect(outcome).toBe('ChannelDecryptFailed');
    }
  });
}

/**
 * A deliberately broken receiver built from the low-level HandshakeState: it decrypts with the
 * right key but returns itself, not the next CipherState (a transport that never increments n).
 */
function brokenPair(suite: NoiseSuite): { sender: Transport; receiver: Receiver } {
  const server = x25519KeyFromPrivate(KEYS.serverStatic);
  const hsI = new HandshakeState(suite, { initiator: true, prologue: EMPTY, rs: server.publicKey });
  const hsR = new HandshakeState(suite, { initiator: false, prologue: EMPTY, s: server });
  hsR.readMessage(hsI.writeMessage(EMPTY, x25519KeyFromPrivate(KEYS.clientEphemeral)).message);
  const reply = hsR.writeMessage(EMPTY, x25519KeyFromPrivate(KEYS.serverEphemeral));
  const { split: clientSplit } = hsI.readMessage(reply.message);
  if (clientSplit === undefined || reply.split === undefined) throw new Error('handshake did not complete');
  const [c1] = reply.split;
  const receiver: Receiver = {
    // the bug: `next` dropped
    receive: (message) => ({ payload: c1.decryptWithAd(EMPTY, message).plaintext, transport: receiver }),
  };
  return { sender: Transport.fromSplit('initiator', clientSplit, hsI.handshakeHash), receiver };
}

describe('the replay property', () => {
  test('holds for the real transport', () => {
    fc.assert(
      replayProperty((suite) => {
        const { client, server } = handshake(suite);
        return { sender: client, receiver: server };
      }),
      { numRuns: 100 },
    );
  });

  test('fails for a transport that does not increment its nonce (the property can fail)', () => {
    const { sender, receiver } = brokenPair(NOISE_NK_25519_AESGCM_SHA256);
    const m0 = sender.send(Uint8Array.of(0)).message;
    const first = receiver.receive(m0);
    expect(first.payload).toEqual(Uint8Array.of(0));
    expect(first.transport.receive(m0).payload).toEqual(Uint8Array.of(0)); // the replay goes through
    const result = fc.check(replayProperty(brokenPair), { numRuns: 100, seed: 1 });
    expect(result.failed).toBe(true);
    expect(result.counterexample?.[1]).toEqual([0, 0]); // shrunk: deliver message 0 twice
  });
});

// ---------------------------------------------------------------------------------------------
// Value semantics

/** What a transport offers: a Transport is one, and so is the mutable stand-in below. */
interface End {
  readonly sendNonce: bigint;
  readonly receiveNonce: bigint;
  send(payload: Bytes): { message: Bytes; transport: End };
  receive(message: Bytes): { payload: Bytes; transport: End };
}

/**
 * How the two ends of a fresh channel fail to be values: after a send and a receive, each old
 * end must keep its nonces, produce the same ciphertext again, and read the same message again,
 * while the new ends have moved on.
 */
function valueViolations(client: End, server: End): string[] {
  const out: string[] = [];
  const p = utf8('KE3');
  const sent = client.send(p);
  if (client.sendNonce !== 0n) out.push('send advanced the old transport');
  if (toHex(client.send(p).message) !== toHex(sent.message)) out.push('the old transport sends another ciphertext');
  if (toHex(sent.transport.send(p).message) === toHex(sent.message)) out.push('the new transport reuses the nonce');
  const received = server.receive(sent.message);
  if (server.receiveNonce !== 0n) out.push('receive advanced the old transport');
  if (codeOf(() => server.receive(sent.message)) !== 'no error')
    out.push('the old transport no longer reads the message');
  if (codeOf(() => received.transport.receive(sent.message)) !== 'ChannelDecryptFailed')
    out.push('the new transport reads the message again');
  return out;
}

/** A deliberately broken transport, the API before value semantics: it advances in place and returns itself. */
function mutableEnd(t: Transport): End {
  let current = t;
  const end: End = {
    get sendNonce() {
      return current.sendNonce;
    },
    get receiveNonce() {
      return current.receiveNonce;
    },
    send(payload) {
      const sent = current.send(payload);
      current = sent.transport;
      return { message: sent.message, transport: end };
    },
    receive(message) {
      const received = current.receive(message);
      current = received.transport;
      return { payload: received.payload, transport: end };
    },
  };
  return end;
}

describe('a Transport is a value', () => {
  test.each(SUITES.map((s) => [s.protocolName, s] as const))(
    '%s: send and receive return the next transport and leave the old one as it was',
    (_, suite) => {
      const { client, server } = handshake(suite);
      expect(valueViolations(client, server)).toEqual([]);
      const sent = client.send(utf8('x'));
      const received = server.receive(sent.message);
      expect([
        sent.transport.sendNonce,
        sent.transport.receiveNonce,
        received.transport.sendNonce,
        received.transport.receiveNonce,
      ]).toEqual([1n, 0n, 0n, 1n]);
      expect([sent.transport.role, received.transport.role]).toEqual(['initiator', 'responder']);
      expect(toHex(sent.transport.handshakeHash)).toBe(toHex(client.handshakeHash));
      // a failed receive throws: the receiver keeps the transport it had, which reads the real message
      expect(codeOf(() => received.transport.receive(sent.message))).toBe('ChannelDecryptFailed');
      expect(received.transport.receive(sent.transport.send(utf8('y')).message).payload).toEqual(utf8('y'));
    },
  );

  test('the check catches a transport that advances in place', () => {
    const { client, server } = handshake(NOISE_NK_25519_AESGCM_SHA256);
    expect(valueViolations(mutableEnd(client), mutableEnd(server))).toEqual([
      'send advanced the old transport',
      'the old transport sends another ciphertext',
      'receive advanced the old transport',
      'the old transport no longer reads the message',
    ]);
  });
});
