/**
 * A session belongs to one registration (spec ch. 5 §5.6, §5.8), driven at one vault node with the
 * host holding commits back as long as it likes. Found by an adversarial review of 9b2c53c (the
 * rule it attacks is older): a client that knows an old password P1 opens session S; the host
 * delays its ConsumeGuess; the owner re-registers with P2. Once the replay cache forgets S's
 * Handshake1 (one TTL after it arrived) while S's channel still waits for its KE3 (one TTL after
 * its KE2), the client replays that Handshake1 on a new channel: S is pending again, now on P2's
 * record. S's KE3, valid for P1, must not reset P2's budget (G3, G5) nor get P2's sealed payload.
 * Each such session would otherwise buy `limit - 1` more guesses at P2.
 *
 * The rule before the fix (a Reset checked only that its session was pending) is the broken variant
 * `reset-any-registration`: the attack resets the new budget and gets P2's sealed payload there.
 * Also: two registrations of one id at once, each channel answered by its own commit (§5.8).
 */
import { describe, expect, test } from 'vitest';
import { type Bytes, toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import {
  onRecoverResponse,
  onRegisterDone,
  onReleased,
  onRegisterResponse,
  startRecovery,
  startRegistration,
} from '../src/client/session.ts';
import { MemoryHsm, MemoryToken } from '../src/hsm/memory.ts';
import { keyLabels, provisionVaultKeys } from '../src/vault/keys.ts';
import { brokenRules } from '../src/broken/catalog.ts';
import { type VaultEvent, checkBudget } from '../src/check/budget.ts';
import { type GhostEvent, committedGhosts, verifiedGhost } from '../src/replication/replica.ts';
import { type OncePerEntry, budgetEvents } from '../src/sim/ghosts.ts';
import { type VaultEnv, type VaultNode, type VaultSteps, VAULT_STEPS, initialNode } from '../src/vault/node.ts';
import { type Frame, decodeResponse } from '../src/vault/protocol.ts';
import type { Command, VaultRecord } from '../src/vault/records.ts';
import { pinnedClientContext, vaultConfig } from '../src/vault/setup.ts';

const TTL = 60_000;
const ALICE = utf8('alice');

/** One vault node (its `steps`) whose host commits proposals only when the test says so. */
function world(steps: VaultSteps) {
  const rng = seededRng('session-registration');
  const hsm = new MemoryHsm(new MemoryToken('t'), seededRng('session-registration hsm'));
  const config = vaultConfig({ labels: keyLabels('sr'), sessionTtlMs: TTL });
  provisionVaultKeys(hsm, config.params.suite, config.labels);
  const ctx = pinnedClientContext(hsm, config);
  let node: VaultNode = initialNode();
  const held: Command[] = [];
  let index = 0; // the log index of the next commit
  // the budget checker's events, derived as a replica derives them (replica.ts, sim/ghosts.ts)
  const events: VaultEvent[] = [];
  const once: OncePerEntry = { registered: new Set(), resets: new Set() };
  const ghost = (g: GhostEvent) => events.push(...budgetEvents(g, () => events.length, once));
  const commit = (c: Command): readonly Frame[] => {
    const s = steps.onCommitted(node, c, w.env());
    for (const g of committedGhosts(node, c, ++index, 1, s)) ghost(g);
    node = s.node;
    return s.frames;
  };
  const w = {
    events,
    rng,
    ctx,
    now: 1000,
    env: (): VaultEnv => ({ hsm, rng, now: w.now, config }),
    record: (): VaultRecord => node.vault.records[toHex(ALICE)]!,
    channelOpen: (id: string) => node.channels.has(id),
    deliver(f: Frame): readonly Frame[] {
      const s = steps.handleFrame(node, f, w.env());
      if (s.verified) ghost(verifiedGhost(s.verified));
      node = s.node;
      held.push(...s.proposals);
      return s.frames;
    },
    /** Commits the oldest proposal held back. */
    commitOne: (): readonly Frame[] => commit(held.shift()!),
    commitAll(): Frame[] {
      const out: Frame[] = [];
      for (let c = held.shift(); c !== undefined; c = held.shift()) out.push(...commit(c));
      return out;
    },
    expire(): void {
      const s = steps.handleSessionExpiry(node, w.env());
      node = s.node;
      held.push(...s.proposals);
      w.commitAll();
    },
    register(password: string, key: Bytes): void {
      const { frame, session } = startRegistration(ctx, ALICE, utf8(password), key, 10, rng);
      const r = onRegisterResponse(ctx, session, w.deliver(frame)[0]!, rng);
      if (!('frame' in r)) throw new Error('registration refused');
      w.deliver(r.frame);
      expect(onRegisterDone(ctx, session, w.commitAll()[0]!).ok).toBe(true);
    },
    /** A wrong password, to the end: one guess spent. */
    guess(password: string): void {
      const g = startRecovery(ctx, ALICE, utf8(password), rng);
      w.deliver(g.frame);
      const r = onRecoverResponse(ctx, g.session, w.commitAll()[0]!);
      if ('frame' in r) w.deliver(r.frame);
      w.commitAll();
    },
  };
  return w;
}

/**
 * The attack, to the old KE3's answer: the attempts of the new registration after it, the answer's
 * type (`Released` or the error code), and what the G3/G5 checker says of the run's ghost events.
 */
function replayAfterReregistration(steps: VaultSteps): { attempts: number; answer: string; checker: string[] } {
  const w = world(steps);
  w.register('P1', new Uint8Array(32).fill(1));

  // t = 2 s: a client knowing P1 sends its KE1; the host holds the ConsumeGuess back for 30 s
  w.now = 2000;
  const z = startRecovery(w.ctx, ALICE, utf8('P1'), w.rng);
  w.deliver(z.frame);
  w.now = 32_000;
  const opened = onRecoverResponse(w.ctx, z.session, w.commitAll()[0]!);
  expect('frame' in opened && opened.outcome === undefined).toBe(true); // the envelope opened: a KE3 is ready
  const ke3 = (opened as { frame: Frame }).frame; // held back by the client

  // t = 40 s: the owner re-registers with P2; five wrong guesses at P2 follow
  w.now = 40_000;
  w.register('P2', new Uint8Array(32).fill(2));
  const p2 = w.record();
  for (let i = 0; i < 5; i++) w.guess(`guess ${i}`);
  expect(w.record().attemptsUsed).toBe(5);

  // t = 62 s: the replay cache has forgotten the Handshake1 (2 s + TTL), its channel lives on (32 s + TTL)
  w.now = 62_000;
  w.expire();
  expect(w.channelOpen(z.frame.channel)).toBe(true);
  w.deliver({ ...z.frame, channel: 'ffff' }); // the same Handshake1 on another channel
  w.commitAll();
  expect(w.record().attemptsUsed).toBe(6); // its guess is spent on P2's record, its session pending there

  // the KE3 valid for P1, on the old channel
  w.now += 10;
  w.deliver(ke3);
  const frames = w.commitAll();
  expect(frames).toHaveLength(1);
  expect(w.record().transcriptHash).toBe(p2.transcriptHash);
  const response = decodeResponse(w.ctx.params.suite, z.session.transport!.receive(frames[0]!.bytes).payload);
  const checker = checkBudget(w.events).map((v) => v.rule);
  const answer = response.type === 'Error' ? response.code : response.type;
  return { attempts: w.record().attemptsUsed, answer, checker };
}

describe('a session belongs to one registration', () => {
  test("an old password's KE3, its session pending again on a new registration, resets nothing", () => {
    // not reset (G3, G5), and no Released: the old session gets no sealed payload
    expect(replayAfterReregistration(VAULT_STEPS)).toEqual({ attempts: 6, answer: 'UnknownSession', checker: [] });
  });

  test('caught: reset-any-registration (a Reset checks only that its session is pending)', () => {
    expect(replayAfterReregistration(brokenRules('reset-any-registration').vault)).toEqual({
      attempts: 0,
      answer: 'Released',
      // the vault reset and released the new registration for a KE3 that proved the old one (a
      // third review: labelled with the registration the Reset named, the checker saw nothing)
      checker: ['G3', 'G3'],
    });
  });
});

test("two registrations of one id on two channels: a commit answers its own channel, not the other's", () => {
  // found by the same review: the channel waiting for a Register was looked up by credential only, so
  // A's commit told B "RegisterDone" while B's entry, not yet committed, could still be dropped
  const w = world(VAULT_STEPS);
  const a = startRegistration(w.ctx, ALICE, utf8('PA'), new Uint8Array(32).fill(0xa), 10, w.rng);
  const b = startRegistration(w.ctx, ALICE, utf8('PB'), new Uint8Array(32).fill(0xb), 10, w.rng);
  const [hb] = w.deliver(b.frame); // B's handshake first: its channel is found first
  const [ha] = w.deliver(a.frame);
  const fa = onRegisterResponse(w.ctx, a.session, ha!, w.rng);
  const fb = onRegisterResponse(w.ctx, b.session, hb!, w.rng);
  if (!('frame' in fa) || !('frame' in fb)) throw new Error('registration refused');
  w.deliver(fa.frame); // A's Register proposed first
  w.deliver(fb.frame);
  const answered = w.commitOne(); // only A's commits
  expect(answered.map((f) => f.channel)).toEqual([a.session.channel]);
  expect(onRegisterDone(w.ctx, a.session, answered[0]!).ok).toBe(true);
  const last = w.commitOne(); // then B's: B is answered only now
  expect(last.map((f) => f.channel)).toEqual([b.session.channel]);
  expect(onRegisterDone(w.ctx, b.session, last[0]!).ok).toBe(true);
});

test('one session id on two channels, two registrations: a Reset answers the channel of its registration', () => {
  // found by a second review: the channel waiting for a Reset was found by session id alone. One
  // client holds the same session on C1 (KE2 from A) and C2 (its Handshake1 replayed once the cache
  // forgot it, KE2 from B; the owner re-registered with the same password and a new K). C2's KE3
  // commits first: B's K must go to C2, whose KE3 proved B, and C1's Reset of A is refused.
  const w = world(VAULT_STEPS);
  w.register('P1', new Uint8Array(32).fill(1));
  const c1 = startRecovery(w.ctx, ALICE, utf8('P1'), seededRng('one client'));
  const c2 = startRecovery(w.ctx, ALICE, utf8('P1'), seededRng('one client')); // the same Handshake1
  expect(toHex(c2.frame.bytes)).toBe(toHex(c1.frame.bytes));
  w.deliver(c1.frame);
  w.now = 32_000;
  const o1 = onRecoverResponse(w.ctx, c1.session, w.commitAll()[0]!);
  w.now = 40_000;
  w.register('P1', new Uint8Array(32).fill(2));
  w.now = 62_000;
  w.expire();
  const c2Frame = { ...c2.frame, channel: 'ffff' };
  w.deliver(c2Frame);
  const o2 = onRecoverResponse(w.ctx, c2.session, w.commitAll()[0]!);
  if (!('frame' in o1) || o1.outcome || !('frame' in o2) || o2.outcome) throw new Error('both envelopes must open');
  w.deliver({ ...o2.frame, channel: 'ffff' }); // C2's KE3 (it proved B) first
  w.deliver(o1.frame);
  const first = w.commitOne();
  const second = w.commitOne();
  expect(first.map((f) => f.channel)).toEqual(['ffff']);
  const k = onReleased(w.ctx, c2.session, first[0]!);
  expect(k.ok && toHex(k.value)).toBe(toHex(new Uint8Array(32).fill(2))); // B's K, to the channel that proved B
  expect(second.map((f) => f.channel)).toEqual([c1.session.channel]);
  expect(onReleased(w.ctx, c1.session, second[0]!).ok).toBe(false); // A's Reset refused
});
