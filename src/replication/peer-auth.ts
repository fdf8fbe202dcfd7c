/**
 * Replica-to-replica messages, authenticated with a fleet key (spec ch. 6, "Authenticated
 * messages"). Every replica's HSM holds the same HMAC-SHA256 key (`peerMac`, derived from the
 * fleet seed at deployment, provision.ts); a message travels as
 *
 *   envelope = { from, to, body: JSON of the RaftMessage, mac }
 *   mac      = HMAC-SHA256(peerMac, "bkv/raft/v1" || I2OSP(from, 1) || I2OSP(to, 1) || UTF-8(body))
 *
 * and the receiver checks the MAC (in its HSM) and that it is the addressee before it parses the
 * body. The host network can drop, delay, duplicate, reorder and replay envelopes, all of which
 * Raft tolerates (terms and indexes make old messages harmless), but cannot forge or alter one,
 * nor redirect it to another replica (a vote for j must not count for k).
 *
 * Why a shared MAC key and not per-replica signatures: the simulator runs thousands of steps a
 * second, and an HMAC costs microseconds where an Ed25519 verification costs milliseconds in pure
 * TypeScript. The cost is that any replica could forge a message "from" another one: acceptable,
 * since replicas are the trusted party (their code and keys are inside HSMs, spec ch. 1).
 * @module
 */
import { type Bytes, concat, ctEqual, i2osp, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import type { RaftMessage } from './raft.ts';

export interface PeerEnvelope {
  readonly from: number;
  readonly to: number;
  readonly body: string;
  readonly mac: Bytes;
}

const CONTEXT = utf8('bkv/raft/v1');

function macInput(from: number, to: number, body: string): Bytes {
  return concat(CONTEXT, i2osp(from, 1), i2osp(to, 1), utf8(body));
}

export function sealPeerMessage<C>(hsm: Hsm, macLabel: string, from: number, to: number, message: RaftMessage<C>): PeerEnvelope {
  const body = JSON.stringify(message);
  return { from, to, body, mac: hsm.hmac(macLabel, macInput(from, to, body)) };
}

/** Verifies and parses an envelope addressed to replica `me`; a forged, altered or misdirected one is refused. */
export function openPeerMessage<C>(hsm: Hsm, macLabel: string, me: number, e: PeerEnvelope): RaftMessage<C> {
  if (e.to !== me) throw new VaultError('PeerAuthenticationFailed', `message for replica ${e.to} delivered to replica ${me}`);
  if (!Number.isInteger(e.from) || e.from < 0 || e.from > 255) throw new VaultError('PeerAuthenticationFailed', `sender ${e.from} out of range`);
  const expected = hsm.hmac(macLabel, macInput(e.from, e.to, e.body));
  if (!(e.mac instanceof Uint8Array) || !ctEqual(expected, e.mac)) throw new VaultError('PeerAuthenticationFailed', `MAC mismatch on a message from replica ${e.from}`);
  return JSON.parse(e.body) as RaftMessage<C>;
}
