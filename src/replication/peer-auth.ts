/**
 * Replica-to-replica messages, authenticated with a fleet key (spec ch. 6, "Authenticated
 * messages"). Every replica's HSM holds the same HMAC-SHA256 key (`peerMac`, derived from the
 * fleet seed at deployment, provision.ts); a message travels as
 *
 *   envelope = { from, to, body: JSON of the RaftMessage, mac }
 *   mac      = HMAC-SHA256(peerMac, "bkv/raft/v1" || I2OSP(from, 1) || I2OSP(to, 1) || UTF-8(body))
 *
 * and the receiver checks the MAC (in its HSM) and that it is the addressee before it parses the
 * body, which must then have exactly the shape of a RaftMessage (`MalformedMessage` otherwise: a key
 * holder's bug is refused like any other bad input, never a crash). The host network can drop,
 * delay, duplicate, reorder and replay envelopes, all of which
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
import { readArray, readBase64, readBool, readChoice, readHex, readInt, readObject, malformed } from '../fleet/json.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { type Command, type Hex, type VaultRecord, type VaultState, MAX_GUESS_LIMIT } from '../vault/records.ts';
import { type Entry, type RaftMessage, type SnapshotCodec, jsonSnapshotCodec } from './raft.ts';

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

export function sealPeerMessage<C>(
  hsm: Hsm,
  macLabel: string,
  from: number,
  to: number,
  message: RaftMessage<C>,
): PeerEnvelope {
  const body = JSON.stringify(message);
  return { from, to, body, mac: hsm.hmac(macLabel, macInput(from, to, body)) };
}

/**
 * Verifies and parses an envelope addressed to replica `me`: a forged, altered or misdirected one is
 * refused (`PeerAuthenticationFailed`), an authentic one whose body is not a RaftMessage of commands
 * read by `readCommand` is refused as `MalformedMessage`.
 */
export function openPeerMessage<C>(
  hsm: Hsm,
  macLabel: string,
  me: number,
  e: PeerEnvelope,
  readCommand: (x: unknown, path: string) => C,
): RaftMessage<C> {
  if (e.to !== me)
    throw new VaultError('PeerAuthenticationFailed', `message for replica ${e.to} delivered to replica ${me}`);
  if (!Number.isInteger(e.from) || e.from < 0 || e.from > 255)
    throw new VaultError('PeerAuthenticationFailed', `sender ${e.from} out of range`);
  const expected = hsm.hmac(macLabel, macInput(e.from, e.to, e.body));
  if (!(e.mac instanceof Uint8Array) || !ctEqual(expected, e.mac))
    throw new VaultError('PeerAuthenticationFailed', `MAC mismatch on a message from replica ${e.from}`);
  let body: unknown;
  try {
    body = JSON.parse(e.body);
  } catch {
    throw malformed('body', 'not JSON');
  }
  return readRaftMessage(body, readCommand);
}

const MESSAGE_TYPES = [
  'RequestVoteRequest',
  'RequestVoteResponse',
  'AppendEntriesRequest',
  'AppendEntriesResponse',
  'InstallSnapshotRequest',
  'InstallSnapshotResponse',
] as const;

/** Exactly the members of one RaftMessage variant (raft.ts), indexes and terms non-negative integers. */
export function readRaftMessage<C>(x: unknown, readCommand: (x: unknown, path: string) => C): RaftMessage<C> {
  const type = readChoice((x as { type?: unknown } | null)?.type, 'body.type', MESSAGE_TYPES);
  const int = (o: Record<string, unknown>, k: string) => readInt(o[k], `body.${k}`, 0);
  const nonce = (o: Record<string, unknown>) =>
    o.recoveryNonce === null ? null : readHex(o.recoveryNonce, 'body.recoveryNonce');
  switch (type) {
    case 'RequestVoteRequest': {
      const o = readObject(x, 'body', ['type', 'term', 'lastLogIndex', 'lastLogTerm']);
      return { type, term: int(o, 'term'), lastLogIndex: int(o, 'lastLogIndex'), lastLogTerm: int(o, 'lastLogTerm') };
    }
    case 'RequestVoteResponse': {
      const o = readObject(x, 'body', ['type', 'term', 'voteGranted']);
      return { type, term: int(o, 'term'), voteGranted: readBool(o.voteGranted, 'body.voteGranted') };
    }
    case 'AppendEntriesRequest': {
      const o = readObject(x, 'body', [
        'type',
        'term',
        'prevLogIndex',
        'prevLogTerm',
        'entries',
        'leaderCommit',
        'leaderLastIndex',
        'recoveryNonce',
      ]);
      const entries = readArray(o.entries, 'body.entries').map((en, i): Entry<C> => {
        const path = `body.entries[${i}]`;
        const e = readObject(en, path, ['term', 'command']);
        return {
          term: readInt(e.term, `${path}.term`, 0),
          command: e.command === null ? null : readCommand(e.command, `${path}.command`),
        };
      });
      return {
        type,
        term: int(o, 'term'),
        prevLogIndex: int(o, 'prevLogIndex'),
        prevLogTerm: int(o, 'prevLogTerm'),
        entries,
        leaderCommit: int(o, 'leaderCommit'),
        leaderLastIndex: int(o, 'leaderLastIndex'),
        recoveryNonce: nonce(o),
      };
    }
    case 'InstallSnapshotRequest': {
      const keys = ['type', 'term', 'snapshotIndex', 'snapshotTerm', 'offset', 'data', 'done', 'leaderCommit'];
      const o = readObject(x, 'body', [...keys, 'leaderLastIndex', 'recoveryNonce']);
      const snapshotIndex = readInt(o.snapshotIndex, 'body.snapshotIndex', 1);
      const leaderCommit = int(o, 'leaderCommit');
      if (snapshotIndex > leaderCommit)
        throw malformed('body.snapshotIndex', `beyond the leader's commit ${leaderCommit}`);
      return {
        type,
        term: int(o, 'term'),
        snapshotIndex,
        snapshotTerm: readInt(o.snapshotTerm, 'body.snapshotTerm', 1),
        offset: int(o, 'offset'),
        data: readBase64(o.data, 'body.data'),
        done: readBool(o.done, 'body.done'),
        leaderCommit,
        leaderLastIndex: int(o, 'leaderLastIndex'),
        recoveryNonce: nonce(o),
      };
    }
    case 'InstallSnapshotResponse': {
      const o = readObject(x, 'body', ['type', 'term', 'snapshotIndex', 'snapshotTerm', 'nextOffset', 'recoveryNonce']);
      return {
        type,
        term: int(o, 'term'),
        snapshotIndex: int(o, 'snapshotIndex'),
        snapshotTerm: int(o, 'snapshotTerm'),
        nextOffset: int(o, 'nextOffset'),
        recoveryNonce: nonce(o),
      };
    }
    case 'AppendEntriesResponse': {
      const o = readObject(x, 'body', ['type', 'term', 'success', 'matchIndex', 'lastLogIndex', 'recoveryNonce']);
      return {
        type,
        term: int(o, 'term'),
        success: readBool(o.success, 'body.success'),
        matchIndex: int(o, 'matchIndex'),
        lastLogIndex: int(o, 'lastLogIndex'),
        recoveryNonce: nonce(o),
      };
    }
  }
}

const COMMAND_TYPES = ['Register', 'ConsumeGuess', 'Reset', 'EndSession', 'Delete'] as const;
const END_REASONS = ['abort', 'failed', 'expired'] as const;

/** Exactly the members of one vault Command (src/vault/records.ts); its rules are applyCommand's. */
export function readVaultCommand(x: unknown, path: string): Command {
  const type = readChoice((x as { type?: unknown } | null)?.type, `${path}.type`, COMMAND_TYPES);
  const hex = (o: Record<string, unknown>, k: string) => readHex(o[k], `${path}.${k}`);
  switch (type) {
    case 'Register': {
      const o = readObject(
        x,
        path,
        ['type', 'credentialId', 'registrationRecord', 'sealedPayload', 'transcriptHash', 'guessLimit'],
        ['oprfSalt'],
      );
      return {
        type,
        credentialId: hex(o, 'credentialId'),
        registrationRecord: hex(o, 'registrationRecord'),
        sealedPayload: hex(o, 'sealedPayload'),
        transcriptHash: hex(o, 'transcriptHash'),
        ...(o.oprfSalt !== undefined && { oprfSalt: hex(o, 'oprfSalt') }),
        guessLimit: readInt(o.guessLimit, `${path}.guessLimit`, 0),
      };
    }
    case 'ConsumeGuess': {
      const o = readObject(x, path, ['type', 'credentialId', 'sessionId', 'at']);
      if (typeof o.at !== 'number' || !Number.isFinite(o.at) || o.at < 0)
        throw malformed(`${path}.at`, 'expected a non-negative time in ms');
      return {
        type,
        credentialId: hex(o, 'credentialId'),
        sessionId: hex(o, 'sessionId'),
        at: o.at,
      };
    }
    case 'Reset': {
      const o = readObject(x, path, ['type', 'credentialId', 'sessionId', 'registration']);
      return {
        type,
        credentialId: hex(o, 'credentialId'),
        sessionId: hex(o, 'sessionId'),
        registration: hex(o, 'registration'),
      };
    }
    case 'EndSession': {
      const o = readObject(x, path, ['type', 'credentialId', 'sessionId', 'reason']);
      return {
        type,
        credentialId: hex(o, 'credentialId'),
        sessionId: hex(o, 'sessionId'),
        reason: readChoice(o.reason, `${path}.reason`, END_REASONS),
      };
    }
    case 'Delete': {
      const o = readObject(x, path, ['type', 'credentialId']);
      return { type, credentialId: hex(o, 'credentialId') };
    }
  }
}

const STATUSES = ['Registered', 'Exhausted'] as const;

/** An object used as a map (its keys are checked by the caller). */
function readMap(x: unknown, path: string): Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw malformed(path, 'expected an object');
  return x as Record<string, unknown>;
}

/** One vault record (src/vault/records.ts VaultRecord): exactly its members; erased material only when Exhausted. */
function readVaultRecord(x: unknown, path: string): VaultRecord {
  const keys = ['status', 'generation', 'registrationRecord', 'sealedPayload', 'transcriptHash', 'guessLimit'];
  const o = readObject(x, path, [...keys, 'attemptsUsed', 'pending'], ['oprfSalt']);
  const status = readChoice(o.status, `${path}.status`, STATUSES);
  const secret = (k: string) => (o[k] === null && status === 'Exhausted' ? null : readHex(o[k], `${path}.${k}`));
  const guessLimit = readInt(o.guessLimit, `${path}.guessLimit`, 1, MAX_GUESS_LIMIT);
  const pendingIn = readMap(o.pending, `${path}.pending`);
  const pending: Record<Hex, number> = {};
  for (const [session, at] of Object.entries(pendingIn)) {
    readHex(session, `${path}.pending key`);
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0)
      throw malformed(`${path}.pending.${session}`, 'expected a non-negative time in ms');
    pending[session] = at;
  }
  const attemptsUsed = readInt(o.attemptsUsed, `${path}.attemptsUsed`, 0, guessLimit);
  if (Object.keys(pending).length > attemptsUsed) {
    throw malformed(`${path}.pending`, 'more sessions than attempts used');
  }
  return {
    status,
    generation: readInt(o.generation, `${path}.generation`, 1),
    registrationRecord: secret('registrationRecord'),
    sealedPayload: secret('sealedPayload'),
    transcriptHash: readHex(o.transcriptHash, `${path}.transcriptHash`),
    ...(o.oprfSalt !== undefined && { oprfSalt: readHex(o.oprfSalt, `${path}.oprfSalt`) }),
    guessLimit,
    attemptsUsed,
    pending,
  };
}

/** The vault's records as a snapshot carries them (InstallSnapshot's chunks, once whole): every record read whole. */
export function readVaultState(x: unknown, path: string): VaultState {
  const o = readObject(x, path, ['records']);
  const recordsIn = readMap(o.records, `${path}.records`);
  const records: Record<Hex, VaultRecord> = {};
  for (const [id, r] of Object.entries(recordsIn)) {
    readHex(id, `${path}.records key`);
    records[id] = readVaultRecord(r, `${path}.records.${id.slice(0, 16)}`);
  }
  return { records };
}

/** How the vault's records travel in InstallSnapshot chunks: their JSON, read back by `readVaultState`. */
export const VAULT_SNAPSHOT_CODEC: SnapshotCodec = jsonSnapshotCodec(readVaultState);
