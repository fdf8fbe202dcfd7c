/**
 * Deliberately broken vaults, each one rule of spec ch. 5 undone by wrapping a step function of
 * `VAULT_STEPS` (the `steps` seam of SingleReplicaVault; nothing global is mocked). The property
 * tests run against each and must fail: that is how they show they can catch the bug.
 * @module
 */
import type { Channel, VaultNode } from '../../src/vault/node.ts';
import type { Command, Hex, VaultRecord } from '../../src/vault/records.ts';
import { VAULT_STEPS, type VaultSteps } from '../../src/vault/single.ts';

function withRecord(node: VaultNode, id: Hex, f: (r: VaultRecord) => VaultRecord): VaultNode {
  const r = node.vault.records[id];
  if (!r) return node;
  return { ...node, vault: { records: { ...node.vault.records, [id]: f(r) } } };
}

const isPending = (node: VaultNode, cmd: Command & { sessionId: Hex }) => cmd.sessionId in (node.vault.records[cmd.credentialId]?.pending ?? {});

/** Record-rule breakages, all at commit time (`onCommitted`). */
export const BROKEN_RULES = {
  /** The guess is counted when the session ends with a verdict (failed KE3, abort), not before KE2 (breaks G1/G2). */
  'count after KE3': {
    ...VAULT_STEPS,
    onCommitted(node0, cmd, env) {
      if (cmd.type === 'EndSession' && cmd.reason !== 'expired' && isPending(node0, cmd)) {
        node0 = withRecord(node0, cmd.credentialId, (r) => ({ ...r, attemptsUsed: r.attemptsUsed + 1 }));
      }
      const s = VAULT_STEPS.onCommitted(node0, cmd, env);
      if (cmd.type !== 'ConsumeGuess' || !s.outcome.ok) return s;
      return { ...s, node: withRecord(s.node, cmd.credentialId, (r) => ({ ...r, attemptsUsed: r.attemptsUsed - 1 })) };
    },
  },
  /** Reset is applied for a session that is not pending (ended, expired, or of an older registration) (breaks G3). */
  'Reset without a pending session': {
    ...VAULT_STEPS,
    onCommitted(node0, cmd, env) {
      if (cmd.type === 'Reset' && !isPending(node0, cmd)) {
        node0 = withRecord(node0, cmd.credentialId, (r) => ({ ...r, status: 'Registered', pending: { ...r.pending, [cmd.sessionId]: env.now } }));
      }
      return VAULT_STEPS.onCommitted(node0, cmd, env);
    },
  },
  /** ConsumeGuess is accepted at the limit (breaks the guess limit, G4). */
  'no guess limit': {
    ...VAULT_STEPS,
    onCommitted(node0, cmd, env) {
      if (cmd.type === 'ConsumeGuess') {
        node0 = withRecord(node0, cmd.credentialId, (r) => (r.status === 'Registered' && r.attemptsUsed >= r.guessLimit ? { ...r, attemptsUsed: r.guessLimit - 1 } : r));
      }
      return VAULT_STEPS.onCommitted(node0, cmd, env);
    },
  },
  /** A RecoverAbort gives the guess back (breaks G2). */
  'refund on abort': {
    ...VAULT_STEPS,
    onCommitted(node0, cmd, env) {
      const refund = cmd.type === 'EndSession' && cmd.reason === 'abort' && isPending(node0, cmd);
      const s = VAULT_STEPS.onCommitted(node0, cmd, env);
      return refund ? { ...s, node: withRecord(s.node, cmd.credentialId, (r) => ({ ...r, attemptsUsed: Math.max(0, r.attemptsUsed - 1) })) } : s;
    },
  },
  /** Expiry closes the channels but never ends the pending sessions (an abandoned KE2 blocks G4 forever). */
  'expiry ends no session': {
    ...VAULT_STEPS,
    handleSessionExpiry(node, env) {
      return { ...VAULT_STEPS.handleSessionExpiry(node, env), proposals: [] };
    },
  },
  /** An Exhausted record keeps its OPAQUE record and sealed payload (breaks the erasure of G4). */
  'no erasure': {
    ...VAULT_STEPS,
    onCommitted(node0, cmd, env) {
      const before = node0.vault.records[cmd.credentialId];
      const s = VAULT_STEPS.onCommitted(node0, cmd, env);
      const after = s.node.vault.records[cmd.credentialId];
      if (!before || after?.status !== 'Exhausted' || before.status === 'Exhausted') return s;
      return { ...s, node: withRecord(s.node, cmd.credentialId, (r) => ({ ...r, registrationRecord: before.registrationRecord, sealedPayload: before.sealedPayload })) };
    },
  },
} satisfies Record<string, VaultSteps>;

function dropChannel(node: VaultNode, id: string): VaultNode {
  const channels = new Map<string, Channel>(node.channels);
  channels.delete(id);
  return { ...node, channels };
}

/** Bad-input breakages, at `handleFrame`. */
export const BROKEN_INPUT_HANDLING = {
  /** A frame the vault cannot decrypt or place closes its channel (the relay could end any session). */
  'an undecryptable frame closes the channel': {
    ...VAULT_STEPS,
    handleFrame(node, frame, env) {
      const s = VAULT_STEPS.handleFrame(node, frame, env);
      return s.frames.some((f) => f.kind === 'Alert') ? { ...s, node: dropChannel(s.node, frame.channel) } : s;
    },
  },
  /** A refused Transport frame on a channel awaiting KE3 ends its session as a failed attempt (changes a record). */
  'a refused KE3 ends the session': {
    ...VAULT_STEPS,
    handleFrame(node, frame, env) {
      const s = VAULT_STEPS.handleFrame(node, frame, env);
      const op = node.channels.get(frame.channel)?.op;
      if (frame.kind !== 'Transport' || op?.type !== 'AwaitKE3' || s.proposals.length > 0) return s;
      return { ...s, proposals: [{ type: 'EndSession', credentialId: op.credentialId, sessionId: op.sessionId, reason: 'failed' }] };
    },
  },
  /** Refusals answered with a code outside ERROR_CODES. */
  'an alert with a free-text reason': {
    ...VAULT_STEPS,
    handleFrame(node, frame, env) {
      const s = VAULT_STEPS.handleFrame(node, frame, env);
      return { ...s, frames: s.frames.map((f) => (f.kind === 'Alert' ? { ...f, bytes: new TextEncoder().encode('something went wrong') } : f)) };
    },
  },
} satisfies Record<string, VaultSteps>;

/** Unknown-credential breakages: a probe that tells an unknown id from a registered one. */
export const BROKEN_UNKNOWN_CREDENTIALS = {
  /** The fake tries never go down (a record's would). */
  'fake tries that never decrease': {
    ...VAULT_STEPS,
    onCommitted(node0, cmd, env) {
      const s = VAULT_STEPS.onCommitted(node0, cmd, env);
      return { ...s, node: { ...s.node, fakeAttempts: node0.fakeAttempts } };
    },
  },
  /** Refused commands are not sealed (the old single.ts): a fake KE2 leaves sooner than a real one. */
  'no commit for an unknown credential': {
    ...VAULT_STEPS,
    handleFrame(node, frame, env) {
      const s = VAULT_STEPS.handleFrame(node, frame, env);
      const cmd = s.proposals[0];
      if (cmd?.type !== 'ConsumeGuess' || cmd.credentialId in node.vault.records) return s;
      // complete the fake session at once, without a commit
      const done = VAULT_STEPS.onCommitted(s.node, cmd, env);
      return { node: done.node, frames: [...s.frames, ...done.frames], proposals: [] };
    },
  },
} satisfies Record<string, VaultSteps>;
