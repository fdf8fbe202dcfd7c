/**
 * Broken vaults: each undoes one record rule of spec ch. 5 by wrapping a step of node.ts's
 * `VaultSteps` from outside (nothing in src/vault knows of them). They exist to show that each
 * checker can fail: every one is caught by the checker the catalog names (catalog.ts).
 * @module
 */
import type { ChannelOp, VaultNode, VaultSteps } from '../vault/node.ts';
import { type Command, type Hex, type VaultRecord, applyCommand } from '../vault/records.ts';

function withRecord(node: VaultNode, id: Hex, f: (r: VaultRecord) => VaultRecord): VaultNode {
  const r = node.vault.records[id];
  if (!r) return node;
  return { ...node, vault: { records: { ...node.vault.records, [id]: f(r) } } };
}

const isPending = (node: VaultNode, cmd: Command & { sessionId: Hex }) =>
  cmd.sessionId in (node.vault.records[cmd.credentialId]?.pending ?? {});

/** count-at-ke3: a session that ends without a failed KE3 (abort, expiry) gives its guess back (G2). */
export function countAtKe3(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const refund = cmd.type === 'EndSession' && cmd.reason !== 'failed' && isPending(node, cmd);
      const before = refund
        ? withRecord(node, cmd.credentialId, (r) => ({ ...r, attemptsUsed: r.attemptsUsed - 1 }))
        : node;
      return v.onCommitted(before, cmd, env);
    },
  };
}

/** stale-tries: the KE2 reports the tries left as they were before its own guess. */
export function staleTries(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const r = node.vault.records[cmd.credentialId];
      if (cmd.type !== 'ConsumeGuess' || !r || r.attemptsUsed === 0 || r.attemptsUsed >= r.guessLimit)
        return v.onCommitted(node, cmd, env);
      // answer from the record one guess earlier, keep the state the real rule gives
      const s = v.onCommitted(
        withRecord(node, cmd.credentialId, (x) => ({ ...x, attemptsUsed: x.attemptsUsed - 1 })),
        cmd,
        env,
      );
      return { ...s, node: { ...s.node, vault: applyCommand(node.vault, cmd).state } };
    },
  };
}

/** ack-before-commit: RegisterDone leaves when the Register is proposed, before it commits (INV-6). */
export function ackBeforeCommit(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleFrame(node, frame, env) {
      const s = v.handleFrame(node, frame, env);
      const register = s.proposals.find((c) => c.type === 'Register');
      if (register === undefined) return s;
      // the answer the commit would give, now; the channel closes, the records wait for the commit
      const early = v.onCommitted(s.node, register, env);
      return { ...s, node: { ...early.node, vault: s.node.vault }, frames: [...s.frames, ...early.frames] };
    },
  };
}

/** release-without-ke3: the KE3's MAC verdict is ignored: any KE3 resets the attempts and releases K (G3). */
export function releaseWithoutKe3(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleFrame(node, frame, env) {
      const before = node.channels.get(frame.channel)?.op;
      const s = v.handleFrame(node, frame, env);
      const ch = s.node.channels.get(frame.channel);
      const failed = s.proposals[0]?.type === 'EndSession' && s.proposals[0].reason === 'failed';
      if (before?.type !== 'AwaitKE3' || before.login === null || ch?.op.type !== 'Ending' || !failed) return s;
      const op: ChannelOp = {
        type: 'Resetting',
        credentialId: before.credentialId,
        sessionId: before.sessionId,
        registration: before.login.registration,
        sessionKey: before.login.state.sessionKey,
      };
      const channels = new Map(s.node.channels).set(frame.channel, { ...ch, op });
      const reset: Command = {
        type: 'Reset',
        credentialId: before.credentialId,
        sessionId: before.sessionId,
        registration: before.login.registration,
      };
      return { ...s, node: { ...s.node, channels }, proposals: [reset] };
    },
  };
}

/**
 * never-erase: G4 never fires: a record at its limit with no pending session stays Registered, its
 * secrets kept (INV-4).
 */
export function neverErase(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const before = node.vault.records[cmd.credentialId];
      const s = v.onCommitted(node, cmd, env);
      const after = s.node.vault.records[cmd.credentialId];
      if (!before || before.status === 'Exhausted' || after?.status !== 'Exhausted') return s;
      const kept = {
        ...after,
        status: 'Registered' as const,
        registrationRecord: before.registrationRecord,
        sealedPayload: before.sealedPayload,
      };
      return { ...s, node: withRecord(s.node, cmd.credentialId, () => kept) };
    },
  };
}

/**
 * reset-without-pending: a Reset is applied for a session that is not pending (ended, expired, of
 * an older registration) (G3).
 */
export function resetWithoutPending(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const stale = cmd.type === 'Reset' && !isPending(node, cmd);
      const before = stale
        ? withRecord(node, cmd.credentialId, (r) => ({
            ...r,
            status: 'Registered',
            pending: { ...r.pending, [cmd.sessionId]: env.now },
          }))
        : node;
      return v.onCommitted(before, cmd, env);
    },
  };
}

/** no-guess-limit: a ConsumeGuess at the limit is accepted (G4, G5). */
export function noGuessLimit(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const over = (r: VaultRecord) =>
        r.status === 'Registered' && r.attemptsUsed >= r.guessLimit ? { ...r, attemptsUsed: r.guessLimit - 1 } : r;
      return v.onCommitted(cmd.type === 'ConsumeGuess' ? withRecord(node, cmd.credentialId, over) : node, cmd, env);
    },
  };
}

/**
 * expiry-ends-no-session: expiry closes channels but never ends pending sessions (an abandoned KE2
 * blocks G4 forever).
 */
export function expiryEndsNoSession(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleSessionExpiry(node, env) {
      return { ...v.handleSessionExpiry(node, env), proposals: [] };
    },
  };
}

/** refund-on-abort: a RecoverAbort gives its guess back (G2). */
export function refundOnAbort(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const refund = cmd.type === 'EndSession' && cmd.reason === 'abort' && isPending(node, cmd);
      const s = v.onCommitted(node, cmd, env);
      return refund
        ? {
            ...s,
            node: withRecord(s.node, cmd.credentialId, (r) => ({
              ...r,
              attemptsUsed: Math.max(0, r.attemptsUsed - 1),
            })),
          }
        : s;
    },
  };
}

function dropChannel(node: VaultNode, id: string): VaultNode {
  const channels = new Map(node.channels);
  channels.delete(id);
  return { ...node, channels };
}

/**
 * alert-closes-channel: a frame the vault cannot decrypt or place closes its channel (the relay
 * could end any session) (INV-12).
 */
export function alertClosesChannel(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleFrame(node, frame, env) {
      const s = v.handleFrame(node, frame, env);
      return s.frames.some((f) => f.kind === 'Alert') ? { ...s, node: dropChannel(s.node, frame.channel) } : s;
    },
  };
}

/**
 * refused-ke3-ends-session: a refused Transport frame on a channel awaiting KE3 ends its session as
 * failed (INV-12).
 */
export function refusedKe3EndsSession(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleFrame(node, frame, env) {
      const s = v.handleFrame(node, frame, env);
      const op = node.channels.get(frame.channel)?.op;
      if (frame.kind !== 'Transport' || op?.type !== 'AwaitKE3' || s.proposals.length > 0) return s;
      return {
        ...s,
        proposals: [{ type: 'EndSession', credentialId: op.credentialId, sessionId: op.sessionId, reason: 'failed' }],
      };
    },
  };
}

/** free-text-alert: refusals answered with a reason outside the closed error codes (§3.2). */
export function freeTextAlert(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleFrame(node, frame, env) {
      const s = v.handleFrame(node, frame, env);
      return {
        ...s,
        frames: s.frames.map((f) =>
          f.kind === 'Alert' ? { ...f, bytes: new TextEncoder().encode('something went wrong') } : f,
        ),
      };
    },
  };
}

/**
 * fake-tries-constant: the fake tries of an unknown credential never go down (a record's would): a
 * probe tells them apart.
 */
export function fakeTriesConstant(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const s = v.onCommitted(node, cmd, env);
      return { ...s, node: { ...s.node, fakeAttempts: node.fakeAttempts } };
    },
  };
}

/**
 * no-commit-for-unknown: an unknown credential's guess is not committed: its fake KE2 leaves sooner
 * than a real one.
 */
export function noCommitForUnknown(v: VaultSteps): VaultSteps {
  return {
    ...v,
    handleFrame(node, frame, env) {
      const s = v.handleFrame(node, frame, env);
      const cmd = s.proposals[0];
      if (cmd?.type !== 'ConsumeGuess' || cmd.credentialId in node.vault.records) return s;
      const done = v.onCommitted(s.node, cmd, env); // completes the fake session at once
      return { node: done.node, frames: [...s.frames, ...done.frames], proposals: [] };
    },
  };
}

/** reset-keeps-pending: a Reset zeroes the attempts but leaves the other pending sessions pending (G3; INV-7). */
export function resetKeepsPending(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const s = v.onCommitted(node, cmd, env);
      const before = node.vault.records[cmd.credentialId];
      if (cmd.type !== 'Reset' || !s.outcome.ok || before === undefined) return s;
      const others = Object.fromEntries(Object.entries(before.pending).filter(([id]) => id !== cmd.sessionId));
      return { ...s, node: withRecord(s.node, cmd.credentialId, (r) => ({ ...r, pending: others })) };
    },
  };
}

/**
 * stale-guess-refused: the rule until 2026-12. A ConsumeGuess whose record was re-registered after
 * its KE1 arrived is refused as if there were no record, and answered with a fake KE2: a client
 * holding the new password is told it is wrong, with tries from no budget (INV-5, spec ch. 5 §5.8).
 */
export function staleGuessRefused(v: VaultSteps): VaultSteps {
  const foundAtKe1 = new Map<Hex, number>(); // session -> the generation its KE1 found
  return {
    ...v,
    handleFrame(node, frame, env) {
      const s = v.handleFrame(node, frame, env);
      for (const c of s.proposals)
        if (c.type === 'ConsumeGuess') foundAtKe1.set(c.sessionId, node.vault.records[c.credentialId]?.generation ?? 0);
      return s;
    },
    onCommitted(node, cmd, env) {
      const found = cmd.type === 'ConsumeGuess' ? foundAtKe1.get(cmd.sessionId) : undefined;
      const r = node.vault.records[cmd.credentialId];
      if (found === undefined || r === undefined || r.generation === found) return v.onCommitted(node, cmd, env);
      const others = Object.fromEntries(Object.entries(node.vault.records).filter(([id]) => id !== cmd.credentialId));
      const s = v.onCommitted({ ...node, vault: { records: others } }, cmd, env);
      return { ...s, node: { ...s.node, vault: node.vault } };
    },
  };
}

/**
 * reset-any-registration: the rule until 2026-12. A Reset checks only that its session is pending,
 * not that it is pending on the registration whose password its KE3 proved: a Handshake1 replayed
 * once the replay cache forgot it re-pends an old session on a new registration, and the old KE3
 * resets the new budget (G3, G5; spec ch. 5 §5.6).
 */
export function resetAnyRegistration(v: VaultSteps): VaultSteps {
  return {
    ...v,
    onCommitted(node, cmd, env) {
      const r = node.vault.records[cmd.credentialId];
      if (cmd.type !== 'Reset' || r === undefined) return v.onCommitted(node, cmd, env);
      // the record passes for the registration the Reset names, for the time of its application
      const named = withRecord(node, cmd.credentialId, (x) => ({ ...x, transcriptHash: cmd.registration }));
      const s = v.onCommitted(named, cmd, env);
      return { ...s, node: withRecord(s.node, cmd.credentialId, (x) => ({ ...x, transcriptHash: r.transcriptHash })) };
    },
  };
}
