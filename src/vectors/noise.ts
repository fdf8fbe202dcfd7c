/**
 * Channel vectors: Noise NK transcripts in the cacophony format (the one of
 * `../shared/vectors/noise-nk-25519.json`), for the two suites bkv offers, with the vault's
 * prologue and vault-sized payloads. Six messages each: two handshake, four transport.
 * @module
 */
import { fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import {
  getNoiseSuite,
  initiatorFinish,
  initiatorStart,
  responderReceive,
  responderRespond,
  x25519KeyFromPrivate,
} from '../crypto/noise.ts';
import { PROLOGUE } from '../vault/node.ts';

export interface NoiseVector {
  readonly protocol_name: string;
  readonly init_prologue: string;
  readonly init_ephemeral: string;
  readonly init_remote_static: string;
  readonly resp_prologue: string;
  readonly resp_static: string;
  readonly resp_ephemeral: string;
  readonly handshake_hash: string;
  readonly messages: readonly { payload: string; ciphertext: string }[];
}

export const NOISE_VECTOR_SUITES = ['Noise_NK_25519_AESGCM_SHA256', 'Noise_NK_25519_ChaChaPoly_SHA256'] as const;

/** Runs a transcript from its keys and payloads: the same function generates and verifies. */
export function runNoiseTranscript(
  v: Omit<NoiseVector, 'handshake_hash' | 'messages'> & { payloads: readonly string[] },
): Pick<NoiseVector, 'handshake_hash' | 'messages'> {
  const suite = getNoiseSuite(v.protocol_name);
  const server = x25519KeyFromPrivate(fromHex(v.resp_static));
  const p = v.payloads.map((x) => fromHex(x));
  const start = initiatorStart(suite, {
    responderStatic: fromHex(v.init_remote_static),
    prologue: fromHex(v.init_prologue),
    payload: p[0]!,
    ephemeralPrivateKey: fromHex(v.init_ephemeral),
  });
  const recv = responderReceive(suite, {
    staticKey: server,
    prologue: fromHex(v.resp_prologue),
    message: start.message,
  });
  const reply = responderRespond(recv.state, { payload: p[1]!, ephemeralPrivateKey: fromHex(v.resp_ephemeral) });
  const fin = initiatorFinish(start.state, reply.message);
  const ciphertexts = [start.message, reply.message];
  // transport: initiator, responder, initiator, responder (each side keeps the transport each step returns)
  const sides = [fin.transport, reply.transport];
  for (let i = 2; i < p.length; i++) {
    const [from, to] = i % 2 === 0 ? [0, 1] : [1, 0];
    const sent = sides[from]!.send(p[i]!);
    const received = sides[to]!.receive(sent.message);
    if (toHex(received.payload) !== toHex(p[i]!)) throw new Error('noise transcript: round trip failed');
    [sides[from], sides[to]] = [sent.transport, received.transport];
    ciphertexts.push(sent.message);
  }
  if (toHex(fin.transport.handshakeHash) !== toHex(reply.transport.handshakeHash))
    throw new Error('noise transcript: handshake hashes differ');
  return {
    handshake_hash: toHex(fin.transport.handshakeHash),
    messages: p.map((x, i) => ({ payload: toHex(x), ciphertext: toHex(ciphertexts[i]!) })),
  };
}

export function generateNoiseVectors(): NoiseVector[] {
  return NOISE_VECTOR_SUITES.map((name) => {
    const rng = seededRng(`bkv noise vector ${name}`);
    const respStatic = rng(32);
    const base = {
      protocol_name: name,
      init_prologue: toHex(PROLOGUE),
      init_ephemeral: toHex(rng(32)),
      init_remote_static: toHex(x25519KeyFromPrivate(respStatic).publicKey),
      resp_prologue: toHex(PROLOGUE),
      resp_static: toHex(respStatic),
      resp_ephemeral: toHex(rng(32)),
    };
    const payloads = [rng(100), rng(200), utf8('RecoverFinish'), rng(300), new Uint8Array(0), rng(17)].map(toHex);
    return { ...base, ...runNoiseTranscript({ ...base, payloads }) };
  });
}
