/**
 * Replication vectors (spec ch. 6, ch. 9): what a replica of the fleet puts on the wire and in
 * storage, and the rules it applies, for an implementer of a replica to check against.
 *
 *   peer-key     the peer MAC key derived from the OPRF seed (provision.ts)
 *   envelope     replica-to-replica messages as sent: the JSON body, the HMAC-SHA256 over it, and
 *                envelopes a receiver must refuse (peer-auth.ts)
 *   ballot       the HSM counter holding term and vote (durable.ts)
 *   persist      the sealed durable state a replica hands its host, and the HSM counters after
 *   restart      what a replica resumes from, given its host's blob and its HSM counters:
 *                resumed, rolled back (recovering), or refused with a code
 *   replica      a replica restarted from a durable state receiving messages (replica.ts over
 *                raft.ts): its answers, the committed entries it applies to the vault's records,
 *                and its state after
 *
 * The envelopes come from a scripted run of three replicas through the consensus step functions
 * (elections, replication, a recovering replica, a rolled-back one). Keys and nonces come from a
 * seeded rng, times are fixed. The in-memory objects the simulator passes between replicas have
 * no byte encoding beyond these: an envelope is {from, to, body, mac}, the body is JSON.
 * @module
 */
import { type Bytes, type Rng, fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { seededRng } from '../crypto/rng.ts';
import type { Hsm, KeyKind } from '../hsm/hsm.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { VAULT_STEPS } from '../vault/node.ts';
import { type Command, type VaultState, applyCommand } from '../vault/records.ts';
import { vaultConfig } from '../vault/setup.ts';
import { MemoryHostStorage, anchorName, incarnationName } from '../vault/storage.ts';
import {
  ballotName,
  decodeBallot,
  encodeBallot,
  freshNonce,
  loadDurable,
  persistDurable,
} from '../replication/durable.ts';
import { openPeerMessage, readVaultCommand, sealPeerMessage } from '../replication/peer-auth.ts';
import { PEER_MAC_INFO, derivePeerMacKey, installPeerKey, replicationLabels } from '../replication/provision.ts';
import {
  type Durable,
  type Entry,
  type RaftConfig,
  type RaftMessage,
  type RaftState,
  type RaftStep,
  EMPTY_DURABLE,
  handleRaftMessage,
  initialRaftState,
  onElectionTimeout,
  onHeartbeat,
  proposeCommands,
  restartRaft,
} from '../replication/raft.ts';
import { type ReplicaEnv, handlePeerMessage, restartReplica } from '../replication/replica.ts';
import { describeOutcome } from './records.ts';
import { type Verdict, flipLastHexDigit, verdictOf } from './verdict.ts';

type Message = RaftMessage<Command>;

interface Named {
  readonly name: string;
  readonly description: string;
}

export interface PeerKeyVector extends Named {
  readonly kind: 'peer-key';
  readonly oprfSeedKind: KeyKind;
  readonly oprfSeed: string;
  readonly info: string;
  readonly peerMacKey: string;
}

export interface EnvelopeVector extends Named, Verdict<never> {
  readonly kind: 'envelope';
  readonly peerMacKey: string;
  readonly from: number;
  readonly to: number;
  /** The replica it is delivered to. */
  readonly receiver: number;
  /** UTF-8 bytes of the JSON body. */
  readonly body: string;
  readonly mac: string;
  /** Accepted envelopes: the message the body decodes to, and the MAC's input bytes. */
  readonly message?: Message;
  readonly macInput?: string;
}

export interface BallotVector {
  readonly kind: 'ballot';
  readonly name: string;
  readonly term: number;
  readonly votedFor: number | null;
  /** Decimal: HSM counters are unbounded integers. */
  readonly ballot: string;
}

/** A replica's HSM: the token label (bound into the seal's AAD), the seal key, the three counters (decimal). */
interface HsmState {
  readonly token: string;
  readonly sealLabel: string;
  readonly sealKey: string;
  readonly anchor: string;
  readonly ballot: string;
  readonly incarnation: string;
}

export interface PersistVector extends Named {
  readonly kind: 'persist';
  readonly hsm: HsmState;
  /** The version of the replica's latest save (decimal: incarnation * 2^32 + save); the blob is saved as the next. */
  readonly version: string;
  readonly durable: Durable<Command>;
  readonly nonce: string;
  readonly plaintext: string;
  readonly aad: string;
  readonly sealed: string;
  readonly after: {
    readonly version: string;
    readonly anchor: string;
    readonly ballot: string;
    readonly incarnation: string;
  };
}

export interface RestartResult {
  readonly durable: Durable<Command>;
  /** The version this life's saves follow (decimal): the new incarnation * 2^32. */
  readonly version: string;
  readonly rolledBack: boolean;
  /** The anchor and incarnation counters after the restart. */
  readonly anchor: string;
  readonly incarnation: string;
}

export interface RestartVector extends Named, Verdict<RestartResult> {
  readonly kind: 'restart';
  readonly hsm: HsmState;
  /** The host's blob (null: it has none). */
  readonly blob: string | null;
}

export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
  readonly command: Command | null;
  readonly valid?: boolean;
  readonly code?: string;
  readonly triesRemaining?: number;
  readonly status?: string;
}

export interface ReplicaStepVector {
  readonly from: number;
  readonly message: Message;
  readonly sent: readonly { readonly to: number; readonly message: Message }[];
  readonly applied: readonly AppliedEntry[];
}

export interface ReplicaPost {
  readonly role: string;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly recoveryNonce: string | null;
  readonly durable: Durable<Command>;
  readonly vault: VaultState;
}

export interface ReplicaVector extends Named {
  readonly kind: 'replica';
  readonly config: RaftConfig;
  readonly pre: { readonly durable: Durable<Command>; readonly recoveryNonce: string | null };
  readonly steps: readonly ReplicaStepVector[];
  readonly post: ReplicaPost;
}

export type ReplicationVector =
  | PeerKeyVector
  | EnvelopeVector
  | BallotVector
  | PersistVector
  | RestartVector
  | ReplicaVector;

// ---------------------------------------------------------------------------------------------
// Shared inputs
// ---------------------------------------------------------------------------------------------

const LABELS = replicationLabels('bkv/r1');
/** The HSMs of these vectors draw no randomness: any draw is a bug. */
const NO_RANDOMNESS: Rng = () => {
  throw new Error('vectors: unexpected draw from the rng');
};
/** 2026-01-01T00:00:00Z. */
const AT = Date.UTC(2026, 0, 1);
const ALICE = '616c696365';
const BOB = '626f62';

const register = (credentialId: string, guessLimit: number, tag: string): Command => ({
  type: 'Register',
  credentialId,
  registrationRecord: tag.repeat(32),
  sealedPayload: tag.repeat(16),
  transcriptHash: tag.repeat(32),
  guessLimit,
});
const consume = (credentialId: string, session: string, at: number): Command => ({
  type: 'ConsumeGuess',
  credentialId,
  sessionId: session,
  at,
});

/** One command of every type, in an order the record rules accept. */
const COMMANDS: readonly Command[] = [
  register(ALICE, 10, '01'),
  register(BOB, 3, '02'),
  consume(ALICE, '5e01', AT),
  { type: 'EndSession', credentialId: ALICE, sessionId: '5e01', reason: 'failed' },
  consume(ALICE, '5e02', AT + 1000),
  { type: 'Reset', credentialId: ALICE, sessionId: '5e02', registration: '01'.repeat(32) },
  consume(BOB, '5e03', AT + 2000),
  { type: 'EndSession', credentialId: BOB, sessionId: '5e03', reason: 'expired' },
  { type: 'Delete', credentialId: BOB },
];

/** Deterministic key material and nonces, drawn in a fixed order. */
function material() {
  const rng = seededRng('bkv vectors: replication');
  return {
    rng,
    oprfSeed512: rng(64),
    oprfSeed256: rng(32),
    sealKey: rng(32),
    otherFleetMacKey: rng(32),
    nonceR1: freshNonce(rng),
    nonceR2: freshNonce(rng),
  };
}

/**
 * `hsm` keeping the byte arguments of its last `method` call: what bkv hands the HSM (MAC input; plaintext, AAD,
 * nonce).
 */
function recording(hsm: Hsm, method: 'hmac' | 'seal'): { hsm: Hsm; last: () => Bytes[] } {
  let args: Bytes[] = [];
  const proxy = new Proxy(hsm, {
    get(target, p) {
      const v = Reflect.get(target, p, target) as unknown;
      if (typeof v !== 'function') return v;
      if (p !== method) return v.bind(target);
      return (...a: unknown[]) => {
        args = a.filter((x): x is Bytes => x instanceof Uint8Array);
        return v.apply(target, a);
      };
    },
  });
  return { hsm: proxy, last: () => args };
}

function hsmWithKey(token: string, label: string, kind: KeyKind, key: Bytes): MemoryHsm {
  const hsm = MemoryHsm.create(token, NO_RANDOMNESS);
  hsm.importKey(label, kind, key);
  return hsm;
}

// ---------------------------------------------------------------------------------------------
// peer-key, envelope
// ---------------------------------------------------------------------------------------------

function peerKey(name: string, oprfSeedKind: KeyKind, oprfSeed: Bytes): PeerKeyVector {
  const hsm = hsmWithKey('bkv-vectors', LABELS.oprfSeed, oprfSeedKind, oprfSeed);
  return {
    kind: 'peer-key',
    name,
    description: `HKDF-Expand over ${oprfSeedKind} (RFC 5869 §2.3), L = 32`,
    oprfSeedKind,
    oprfSeed: toHex(oprfSeed),
    info: PEER_MAC_INFO,
    peerMacKey: toHex(derivePeerMacKey(hsm, LABELS.oprfSeed)),
  };
}

function describeMessage(m: Message): string {
  switch (m.type) {
    case 'RequestVoteRequest':
      return `RequestVoteRequest, term ${m.term}, last log ${m.lastLogIndex}@${m.lastLogTerm}`;
    case 'RequestVoteResponse':
      return `RequestVoteResponse, term ${m.term}, ${m.voteGranted ? 'granted' : 'refused'}`;
    case 'AppendEntriesRequest': {
      const what =
        m.entries.length === 0 ? 'heartbeat' : `entries ${m.prevLogIndex + 1}..${m.prevLogIndex + m.entries.length}`;
      return (
        `AppendEntriesRequest, term ${m.term}, ${what} after ${m.prevLogIndex}@${m.prevLogTerm}, ` +
        `commit ${m.leaderCommit}${m.recoveryNonce !== null ? ', echoing the recovery nonce' : ''}`
      );
    }
    case 'InstallSnapshotRequest':
      return (
        `InstallSnapshotRequest, term ${m.term}, snapshot up to ${m.snapshotIndex}@${m.snapshotTerm}, ` +
        `chunk at ${m.offset}${m.done ? ', the last' : ''}`
      );
    case 'InstallSnapshotResponse':
      return `InstallSnapshotResponse, term ${m.term}, ${m.snapshotIndex}@${m.snapshotTerm}, next ${m.nextOffset}`;
    case 'AppendEntriesResponse': {
      const result = m.success ? `success up to ${m.matchIndex}` : `failure, last index ${m.lastLogIndex}`;
      return `AppendEntriesResponse, term ${m.term}, ${result}${m.recoveryNonce !== null ? ', recovering' : ''}`;
    }
  }
}

interface Sent {
  readonly from: number;
  readonly to: number;
  readonly message: Message;
}

/**
 * Three replicas through the consensus step functions: r2's host lost its storage (it starts
 * recovering), r0 is elected, replicates a no-op and one command of each type, r2 catches up
 * with the nonce echoed, then r1's host rolls back and r1 is brought back by a failed heartbeat.
 */
function raftTranscript(nonceR1: string, nonceR2: string): Sent[] {
  // the messages in the order they are delivered (a heartbeat nobody receives is left out)
  const config = (id: number): RaftConfig => ({ id, n: 3, maxBatch: 16 });
  const r: RaftState<Command>[] = [
    initialRaftState(config(0)),
    initialRaftState(config(1)),
    restartRaft(config(2), { ...EMPTY_DURABLE, recovering: true }, nonceR2),
  ];
  const sent: Sent[] = [];
  const act = (i: number, step: RaftStep<Command>): Sent[] => {
    r[i] = step.state;
    return step.messages.map((m) => ({ from: i, to: m.to, message: m.message }));
  };
  const deliver = (e: Sent | undefined): Sent[] => {
    sent.push(e!);
    return act(e!.to, handleRaftMessage(r[e!.to]!, e!.from, e!.message));
  };
  const [vote1, vote2] = act(0, onElectionTimeout(r[0]!));
  const [granted] = deliver(vote1);
  deliver(deliver(vote2)[0]); // r2 is recovering: it refuses
  const [noop1, noop2] = deliver(granted); // r0 leads: its no-op to both
  deliver(deliver(noop1)[0]);
  const [batch] = act(0, proposeCommands(r[0]!, COMMANDS)); // r1 only: r2's no-op is unanswered
  deliver(deliver(batch)[0]);
  const [echo] = deliver(deliver(noop2)[0]); // r2 reports its nonce, r0 echoes it with the rest
  deliver(deliver(echo)[0]);
  deliver(deliver(act(0, onHeartbeat(r[0]!))[0])[0]);
  r[1] = restartRaft(config(1), { ...r[1]!.durable, log: [], recovering: true }, nonceR1); // r1's host rolled back
  const [heartbeat] = act(0, onHeartbeat(r[0]!)).filter((e) => e.to === 1);
  deliver(deliver(deliver(deliver(heartbeat)[0])[0])[0]);
  return sent;
}

function envelope(
  name: string,
  description: string,
  key: Bytes,
  e: { from: number; to: number; body: string; mac: Bytes },
  receiver: number,
): EnvelopeVector {
  const v = {
    kind: 'envelope' as const,
    name,
    description,
    peerMacKey: toHex(key),
    from: e.from,
    to: e.to,
    receiver,
    body: toHex(utf8(e.body)),
    mac: toHex(e.mac),
  };
  return { ...v, ...openEnvelope(v) };
}

/** The receiver's verdict, and for an accepted envelope the message and the MAC input. */
function openEnvelope(
  v: Omit<EnvelopeVector, keyof Verdict | 'message' | 'macInput'>,
): Verdict<never> & { message?: Message; macInput?: string } {
  const rec = recording(hsmWithKey('bkv-vectors', LABELS.peerMac, 'hmac-sha256', fromHex(v.peerMacKey)), 'hmac');
  const { result: message, ...verdict } = verdictOf(() =>
    openPeerMessage(
      rec.hsm,
      LABELS.peerMac,
      v.receiver,
      { from: v.from, to: v.to, body: new TextDecoder().decode(fromHex(v.body)), mac: fromHex(v.mac) },
      readVaultCommand,
    ),
  );
  return message === undefined ? verdict : { ...verdict, message, macInput: toHex(rec.last()[0]!) };
}

/** The transcript's envelopes, sealed by `hsm` (its peer MAC key is `peerMacKey`), and tampered variants. */
function envelopes(m: ReturnType<typeof material>, hsm: Hsm, peerMacKey: Bytes): EnvelopeVector[] {
  const seal = (s: Sent) => sealPeerMessage(hsm, LABELS.peerMac, s.from, s.to, s.message);
  const transcript = raftTranscript(m.nonceR1, m.nonceR2);
  const valid = transcript.map((s, i) =>
    envelope(`#${i + 1} r${s.from} -> r${s.to}`, describeMessage(s.message), peerMacKey, seal(s), s.to),
  );
  const batch = transcript.find(
    (s) => s.message.type === 'AppendEntriesRequest' && s.message.entries.length === COMMANDS.length,
  )!;
  const e = seal(batch);
  const other = hsmWithKey('bkv-vectors', LABELS.peerMac, 'hmac-sha256', m.otherFleetMacKey);
  const refused = (name: string, description: string, x: typeof e, receiver = batch.to) =>
    envelope(name, description, peerMacKey, x, receiver);
  return [
    ...valid,
    refused('body altered', 'the entries batch with a space appended to the body (what the simulated host does)', {
      ...e,
      body: `${e.body} `,
    }),
    refused('MAC altered', 'one bit of the MAC', { ...e, mac: fromHex(flipLastHexDigit(toHex(e.mac))) }),
    refused('misdirected', 'the envelope for r1 delivered to r2', e, 2),
    refused('sender altered', 'the same bytes and MAC, claiming to come from r2', { ...e, from: 2 }),
    refused('addressee altered', 'the same bytes and MAC, addressed to and delivered to r2', { ...e, to: 2 }, 2),
    refused('sender out of range', 'from = 256 does not fit the one byte the MAC binds', { ...e, from: 256 }),
    refused(
      "another fleet's key",
      'the body MACed with the peer key of another fleet',
      sealPeerMessage(other, LABELS.peerMac, batch.from, batch.to, batch.message),
    ),
    // authentic (a key holder's bug), but not a RaftMessage: MalformedMessage
    refused(
      'authentic, negative term',
      'a valid MAC over the batch with term -1',
      sealMalformed({ ...batch.message, term: -1 }),
    ),
    refused(
      'authentic, unknown member',
      'a valid MAC over the batch with a member no message has',
      sealMalformed({ ...batch.message, priority: 1 }),
    ),
    refused(
      'authentic, malformed command',
      'a valid MAC over a batch whose Reset has no sessionId',
      sealMalformed({ ...batch.message, entries: [{ term: 1, command: { type: 'Reset', credentialId: 'ab' } }] }),
    ),
  ];
  function sealMalformed(body: object) {
    return sealPeerMessage(hsm, LABELS.peerMac, batch.from, batch.to, body as Sent['message']);
  }
}

// ---------------------------------------------------------------------------------------------
// ballot, persist, restart
// ---------------------------------------------------------------------------------------------

function ballot(name: string, term: number, votedFor: number | null): BallotVector {
  return { kind: 'ballot', name, term, votedFor, ballot: encodeBallot(term, votedFor).toString() };
}

/** A memory HSM holding `s.sealKey` with its counters at `s.anchor` and `s.ballot`. */
function replicaHsm(s: HsmState): MemoryHsm {
  const hsm = hsmWithKey(s.token, s.sealLabel, 'aes256gcm', fromHex(s.sealKey));
  if (BigInt(s.anchor) > 0n) hsm.advanceCounter(anchorName(s.sealLabel), BigInt(s.anchor));
  if (BigInt(s.ballot) > 0n) hsm.advanceCounter(ballotName(s.sealLabel), BigInt(s.ballot));
  if (BigInt(s.incarnation) > 0n) hsm.advanceCounter(incarnationName(s.sealLabel), BigInt(s.incarnation));
  return hsm;
}

function counters(hsm: Hsm, sealLabel: string) {
  const read = (name: string) => hsm.readCounter(name).toString();
  return {
    anchor: read(anchorName(sealLabel)),
    ballot: read(ballotName(sealLabel)),
    incarnation: read(incarnationName(sealLabel)),
  };
}

/** persistDurable on the vector's HSM: the blob, what was sealed, and the counters after. */
function runPersist(v: Omit<PersistVector, 'plaintext' | 'aad' | 'sealed' | 'after'>) {
  const rec = recording(replicaHsm(v.hsm), 'seal');
  const storage = new MemoryHostStorage();
  const version = persistDurable(
    { hsm: rec.hsm, sealLabel: v.hsm.sealLabel, storage },
    BigInt(v.version),
    v.durable,
    () => fromHex(v.nonce),
  );
  const [plaintext, aad] = rec.last();
  return {
    plaintext: toHex(plaintext!),
    aad: toHex(aad!),
    sealed: toHex(storage.load()!),
    after: { version: version.toString(), ...counters(rec.hsm, v.hsm.sealLabel) },
  };
}

function runRestart(v: Omit<RestartVector, keyof Verdict>): Verdict<RestartResult> {
  const hsm = replicaHsm(v.hsm);
  const storage = new MemoryHostStorage();
  if (v.blob !== null) storage.save(fromHex(v.blob));
  return verdictOf(() => {
    const loaded = loadDurable<Command>({ hsm, sealLabel: v.hsm.sealLabel, storage }, seededRng('bkv vectors: reseal'));
    const { anchor, incarnation } = counters(hsm, v.hsm.sealLabel);
    return {
      durable: loaded.durable,
      version: loaded.version.toString(),
      rolledBack: loaded.rolledBack,
      anchor,
      incarnation,
    };
  });
}

/**
 * A follower's durable states over two lives, persisted in turn: the persist vectors, and the blobs
 * the restart vectors use. Life 1 saves five states, (1.1) to (1.5). Life 2 starts as if (1.5) had
 * been written and the replica had crashed before its anchor moved (an orphan): on (1.4), which the
 * anchor names; it saves (2.1). Under the rule of 6ee2d9d that save would have been numbered
 * like the orphan, and the host could have chosen between them.
 */
function storageVectors(m: ReturnType<typeof material>): { persist: PersistVector[]; restart: RestartVector[] } {
  const base = { token: 'bkv-r1', sealLabel: LABELS.seal, sealKey: toHex(m.sealKey) };
  const log: Entry<Command>[] = [{ term: 1, command: null }, ...COMMANDS.map((command) => ({ term: 1, command }))];
  const life: { description: string; durable: Durable<Command> }[] = [
    { description: 'votes for r0 in term 1', durable: { currentTerm: 1, votedFor: 0, log: [], recovering: false } },
    {
      description: "appends r0's no-op",
      durable: { currentTerm: 1, votedFor: 0, log: log.slice(0, 1), recovering: false },
    },
    {
      description: 'appends one command of each type',
      durable: { currentTerm: 1, votedFor: 0, log, recovering: false },
    },
    { description: 'sees term 2 (no vote yet)', durable: { currentTerm: 2, votedFor: null, log, recovering: false } },
    { description: 'votes for r2 in term 2', durable: { currentTerm: 2, votedFor: 2, log, recovering: false } },
  ];
  const LIFE = 1n << 32n;
  const persist: PersistVector[] = [];
  let hsm: HsmState = { ...base, anchor: '0', ballot: '0', incarnation: '1' };
  const save = (name: string, description: string, version: bigint, durable: Durable<Command>) => {
    const input = {
      kind: 'persist' as const,
      name,
      description,
      hsm,
      version: version.toString(),
      durable,
      nonce: toHex(m.rng(12)),
    };
    const out = runPersist(input);
    persist.push({ ...input, ...out });
    return out.after;
  };
  life.forEach(({ description, durable }, k) => {
    const after = save(`version 1.${k + 1}`, description, LIFE + BigInt(k), durable);
    hsm = { ...base, anchor: after.anchor, ballot: after.ballot, incarnation: after.incarnation };
  });
  const blob = (k: number) => persist[k - 1]!.sealed;
  const at = (k: number) => ({
    anchor: (LIFE + BigInt(k)).toString(),
    ballot: persist[k - 1]!.after.ballot,
    incarnation: '1',
  });
  // life 2 starts on (1.4), with (1.5) orphaned, and saves its first state: (2.1)
  hsm = { ...base, ...at(4), incarnation: '2' };
  const second = save('version 2.1', 'a new life on (1.4) votes for r1 in term 2', 2n * LIFE, {
    currentTerm: 2,
    votedFor: 1,
    log,
    recovering: false,
  });
  const last = { anchor: persist[4]!.after.anchor, ballot: persist[4]!.after.ballot, incarnation: '1' };
  const restart = (name: string, description: string, s: Partial<HsmState>, b: string | null): RestartVector => {
    const input = { kind: 'restart' as const, name, description, hsm: { ...base, ...last, ...s }, blob: b };
    return { ...input, ...runRestart(input) };
  };
  return {
    persist,
    restart: [
      restart(
        'fresh',
        'no blob, counters at 0: a replica that never saved anything; it seals the empty state as (1.1)',
        { anchor: '0', ballot: '0', incarnation: '0' },
        null,
      ),
      restart(
        'a vote without a blob',
        'no blob, anchor 0, but the ballot holds term 1 and a vote for r0: both are kept',
        { anchor: '0', ballot: encodeBallot(1, 0).toString(), incarnation: '1' },
        null,
      ),
      restart(
        'the latest blob',
        'the blob of the anchor version: the replica resumes from it and reseals it as (2.1)',
        last,
        blob(5),
      ),
      restart(
        'one ahead of the anchor',
        'saved, crashed before the anchor moved: accepted; the reseal (2.1) puts the anchor past it',
        at(4),
        blob(5),
      ),
      restart(
        'an orphan of an earlier life',
        'the host kept (1.5), written while the anchor stood at (1.4); ' +
          'life 2 has since saved (2.1): refused, rolled back',
        { anchor: second.anchor, ballot: second.ballot, incarnation: second.incarnation },
        blob(5),
      ),
      restart(
        'the later life',
        "life 2's save (2.1): the replica resumes from it and reseals it as (3.1)",
        { anchor: second.anchor, ballot: second.ballot, incarnation: second.incarnation },
        persist[5]!.sealed,
      ),
      restart(
        'rolled back',
        'the host serves (1.3), the anchor is at (1.5): term and vote from the ballot, empty log, recovering',
        last,
        blob(3),
      ),
      restart('lost', 'no blob, the anchor at (1.5): the host lost the storage', last, null),
      restart(
        'ballot ahead of the blob',
        "the blob of the anchor version, but the ballot holds a later term's vote: treated as rolled back",
        { ...at(3), ballot: last.ballot },
        blob(3),
      ),
      restart('altered blob', 'one bit of the sealed blob', last, flipLastHexDigit(blob(5))),
      restart('truncated blob', 'shorter than a nonce and a tag', last, blob(5).slice(0, 54)),
      restart(
        "another replica's blob",
        "bkv-r1's latest blob, loaded by a token labelled bkv-r2 holding the same key (the token label is in the AAD)",
        { ...last, token: 'bkv-r2' },
        blob(5),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// replica
// ---------------------------------------------------------------------------------------------

const REPLICA: RaftConfig = { id: 1, n: 3, maxBatch: 16 };

/** Replica `config` restarted from `pre`, receiving each step's message: what it sends, applies, and ends as. */
export function runReplica(v: Pick<ReplicaVector, 'config' | 'pre' | 'steps'>): {
  steps: ReplicaStepVector[];
  post: ReplicaPost;
} {
  const env: ReplicaEnv = {
    hsm: MemoryHsm.create('bkv-vectors', NO_RANDOMNESS),
    rng: NO_RANDOMNESS,
    now: AT,
    config: vaultConfig(),
    vault: VAULT_STEPS,
  };
  let s = restartReplica(v.config, v.pre.durable, v.pre.recoveryNonce);
  const steps = v.steps.map(({ from, message }) => {
    let vault = s.node.vault;
    const r = handlePeerMessage(s, from, message, env);
    s = r.state;
    const applied = r.ghost.flatMap((g): AppliedEntry[] => {
      if (g.type !== 'Applied') return [];
      const command = g.entry.command;
      if (command === null) return [{ index: g.index, term: g.entry.term, command }];
      const a = applyCommand(vault, command);
      vault = a.state;
      return [{ index: g.index, term: g.entry.term, command, ...describeOutcome(a.outcome) }];
    });
    if (canonicalJson(vault) !== canonicalJson(s.node.vault))
      throw new Error('the replica applied its committed entries differently from the record rules');
    return { from, message, sent: r.messages.map((o) => ({ to: o.to, message: o.message })), applied };
  });
  const raft = s.raft;
  return {
    steps,
    post: {
      role: raft.role,
      commitIndex: raft.commitIndex,
      lastApplied: s.lastApplied,
      recoveryNonce: raft.recoveryNonce,
      durable: raft.durable,
      vault: s.node.vault,
    },
  };
}

function appendEntries(
  term: number,
  prev: [index: number, term: number],
  entries: readonly Entry<Command>[],
  leaderCommit: number,
  recoveryNonce: string | null = null,
): Message {
  return {
    type: 'AppendEntriesRequest',
    term,
    prevLogIndex: prev[0],
    prevLogTerm: prev[1],
    entries,
    leaderCommit,
    leaderLastIndex: prev[0] + entries.length,
    recoveryNonce,
  };
}

function requestVote(term: number, last: [index: number, term: number]): Message {
  return { type: 'RequestVoteRequest', term, lastLogIndex: last[0], lastLogTerm: last[1] };
}

function replicaVectors(nonce: string): ReplicaVector[] {
  const t1 = (command: Command | null): Entry<Command> => ({ term: 1, command });
  const log = [t1(null), ...COMMANDS.map(t1)];
  const durable = (
    currentTerm: number,
    votedFor: number | null,
    l: readonly Entry<Command>[],
    recovering = false,
  ): Durable<Command> => ({ currentTerm, votedFor, log: l, recovering });
  const scenario = (
    name: string,
    description: string,
    pre: ReplicaVector['pre'],
    messages: readonly [from: number, message: Message][],
  ): ReplicaVector => {
    const input = {
      config: REPLICA,
      pre,
      steps: messages.map(([from, message]) => ({ from, message, sent: [], applied: [] })),
    };
    return { kind: 'replica', name, description, ...input, ...runReplica(input) };
  };
  const fresh = { durable: EMPTY_DURABLE, recoveryNonce: null };
  return [
    scenario(
      'replicate, then commit in two steps',
      'entries arrive uncommitted; a heartbeat commits the first four, another the rest: ' +
        'each committed entry is applied in log order (a no-op changes nothing)',
      fresh,
      [
        [0, appendEntries(1, [0, 0], log, 0)],
        [0, appendEntries(1, [10, 1], [], 4)],
        [0, appendEntries(1, [10, 1], [], 10)],
      ],
    ),
    scenario(
      'refused commands are applied as refusals',
      'committed commands the record rules refuse change nothing, identically on every replica',
      fresh,
      [
        [
          0,
          appendEntries(
            1,
            [0, 0],
            [
              t1(null),
              t1(consume(ALICE, '5e01', AT)),
              t1(register(ALICE, 0, '01')),
              t1(register(ALICE, 10, '01')),
              t1({ type: 'Reset', credentialId: ALICE, sessionId: '5e09', registration: '01'.repeat(32) }),
              t1({ type: 'Delete', credentialId: BOB }),
            ],
            6,
          ),
        ],
      ],
    ),
    scenario(
      'a restart applies the committed prefix again',
      'records are not stored: a restarted replica has the log, ' +
        'applies nothing until a leader tells it the commit index, then applies every entry',
      { durable: durable(1, 0, log), recoveryNonce: null },
      [[0, appendEntries(1, [10, 1], [], 10)]],
    ),
    scenario(
      'an older term is refused',
      'AppendEntries of term 1 to a replica in term 2: failure, nothing changes',
      { durable: durable(2, null, log.slice(0, 1)), recoveryNonce: null },
      [[0, appendEntries(1, [1, 1], log.slice(1, 3), 1)]],
    ),
    scenario(
      'a gap is refused',
      'entries after index 5 to a replica whose log ends at 1: failure, with its last index as the hint',
      { durable: durable(1, 0, log.slice(0, 1)), recoveryNonce: null },
      [[0, appendEntries(1, [5, 1], log.slice(5, 7), 1)]],
    ),
    scenario(
      'a conflicting suffix is replaced',
      'index 3 holds a term-1 entry the term-2 leader does not have: ' +
        "the follower's log is cut there and takes the leader's",
      { durable: durable(1, 0, log.slice(0, 3)), recoveryNonce: null },
      [
        [
          2,
          appendEntries(
            2,
            [2, 1],
            [
              { term: 2, command: null },
              { term: 2, command: { type: 'Delete', credentialId: ALICE } },
            ],
            4,
          ),
        ],
      ],
    ),
    scenario(
      'a recovering replica',
      'rolled back: it refuses to vote, follows the leader (and applies what commits), and recovers only ' +
        "on an AppendEntries that echoes its nonce and reaches the leader's last index; then it votes again",
      { durable: durable(1, 0, [], true), recoveryNonce: nonce },
      [
        [2, requestVote(1, [0, 0])],
        [0, appendEntries(1, [0, 0], log, 10)],
        [0, appendEntries(1, [10, 1], [], 10, nonce)],
        [2, requestVote(2, [10, 1])],
      ],
    ),
    scenario(
      'votes',
      'a candidate whose log is behind is refused; the first up-to-date candidate ' +
        'of the term gets the vote, the second does not; a new term frees the vote',
      { durable: durable(1, null, log.slice(0, 1)), recoveryNonce: null },
      [
        [2, requestVote(1, [0, 0])],
        [0, requestVote(1, [1, 1])],
        [2, requestVote(1, [1, 1])],
        [2, requestVote(2, [1, 1])],
      ],
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Generate and verify
// ---------------------------------------------------------------------------------------------

export function generateReplicationVectors(): ReplicationVector[] {
  const m = material();
  const keys = [
    peerKey('peer MAC key, SHA-512 OPRF seed (ristretto255-SHA512)', 'hmac-sha512', m.oprfSeed512),
    peerKey('peer MAC key, SHA-256 OPRF seed (P256-SHA256)', 'hmac-sha256', m.oprfSeed256),
  ];
  // the envelopes are sealed with the peer MAC key installed from the first seed, as on a deployed replica
  const provisioned = hsmWithKey('bkv-vectors', LABELS.oprfSeed, 'hmac-sha512', m.oprfSeed512);
  installPeerKey(provisioned, LABELS);
  const storage = storageVectors(m);
  return [
    ...keys,
    ...envelopes(m, provisioned, fromHex(keys[0]!.peerMacKey)),
    ballot('no term, no vote', 0, null),
    ballot('term 1, no vote', 1, null),
    ballot('term 1, voted for replica 0', 1, 0),
    ballot('term 1, voted for replica 8', 1, 8),
    ballot('term 7, voted for replica 3', 7, 3),
    ballot('term 2^40, voted for replica 4', 2 ** 40, 4),
    ...storage.persist,
    ...storage.restart,
    ...replicaVectors(m.nonceR1),
  ];
}

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

function verifyOne(v: ReplicationVector): string[] {
  const at = `${v.kind} "${v.name}"`;
  switch (v.kind) {
    case 'peer-key': {
      const got = peerKey(v.name, v.oprfSeedKind, fromHex(v.oprfSeed));
      return got.peerMacKey === v.peerMacKey && v.info === PEER_MAC_INFO ? [] : [`${at}: peer MAC key differs`];
    }
    case 'envelope': {
      const got = openEnvelope(v);
      const problems = same(got, { valid: v.valid, code: v.code, message: v.message, macInput: v.macInput })
        ? []
        : [
            `${at}: expected ${v.valid ? 'accepted' : v.code}, got ${got.valid ? 'accepted' : got.code}` +
              `${got.valid && v.valid ? ' (message or MAC input differs)' : ''}`,
          ];
      if (v.valid && v.message !== undefined) {
        const e = sealPeerMessage(
          hsmWithKey('bkv-vectors', LABELS.peerMac, 'hmac-sha256', fromHex(v.peerMacKey)),
          LABELS.peerMac,
          v.from,
          v.to,
          v.message,
        );
        if (toHex(utf8(e.body)) !== v.body || toHex(e.mac) !== v.mac)
          problems.push(`${at}: sealing the message does not give the body and MAC`);
      }
      return problems;
    }
    case 'ballot': {
      const d = decodeBallot(BigInt(v.ballot));
      return encodeBallot(v.term, v.votedFor).toString() === v.ballot && d.term === v.term && d.votedFor === v.votedFor
        ? []
        : [`${at}: ballot differs`];
    }
    case 'persist': {
      const got = runPersist(v);
      return same(got, { plaintext: v.plaintext, aad: v.aad, sealed: v.sealed, after: v.after })
        ? []
        : [`${at}: sealed state or counters differ`];
    }
    case 'restart': {
      const got = runRestart(v);
      return same(got, { valid: v.valid, code: v.code, result: v.result })
        ? []
        : [
            `${at}: expected ${v.valid ? canonicalJson(v.result).slice(0, 60) : v.code}, ` +
              `got ${got.valid ? canonicalJson(got.result).slice(0, 60) : got.code}`,
          ];
    }
    case 'replica': {
      const got = runReplica(v);
      const problems = got.steps.flatMap((s, i) =>
        same(s, v.steps[i])
          ? []
          : [
              `${at}: step ${i} expected ${canonicalJson(v.steps[i]).slice(0, 80)}…, ` +
                `got ${canonicalJson(s).slice(0, 80)}…`,
            ],
      );
      return same(got.post, v.post) ? problems : [...problems, `${at}: post state differs`];
    }
  }
}

/** Problems found re-running the vectors (empty when all verify). */
export function verifyReplicationVectors(vs: readonly ReplicationVector[]): string[] {
  return vs.flatMap((v) => {
    try {
      return verifyOne(v);
    } catch (e) {
      return [`${v.kind} "${v.name}": ${(e as Error).message}`];
    }
  });
}
