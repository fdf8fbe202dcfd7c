/**
 * Record-rule vectors in the manner of ethereum/consensus-specs: a `pre` state, `steps` (each a
 * committed command and the outcome it must have), and the `post` state. The rules are pure
 * (`applyCommand`, no randomness), so another implementation's state machine can be checked
 * against them exactly. A step whose command must be refused has `valid: false` and the code.
 * @module
 */
import { type Command, type Outcome, type VaultState, EMPTY_VAULT, applyCommand } from '../vault/records.ts';

export interface RecordStep {
  readonly command: Command;
  readonly valid: boolean;
  /** The refusal code when `valid` is false. */
  readonly code?: string;
  /** tries remaining after the step, when the record exists. */
  readonly triesRemaining?: number;
  readonly status?: string;
}

export interface RecordVector {
  readonly name: string;
  readonly description: string;
  readonly pre: VaultState;
  readonly steps: readonly RecordStep[];
  readonly post: VaultState;
}

const ID = '616c696365'; // "alice"
const OTHER = '626f62'; // "bob"
const register = (limit: number, tag = '01'): Command => ({
  type: 'Register',
  credentialId: ID,
  registrationRecord: tag.repeat(32),
  sealedPayload: tag.repeat(16),
  transcriptHash: tag.repeat(32),
  guessLimit: limit,
});
const consume = (s: number, at = 1000 * s): Command => ({
  type: 'ConsumeGuess',
  credentialId: ID,
  sessionId: `5e${String(s).padStart(2, '0')}`,
  at,
});
const end = (s: number, reason: 'abort' | 'failed' | 'expired' = 'failed'): Command => ({
  type: 'EndSession',
  credentialId: ID,
  sessionId: `5e${String(s).padStart(2, '0')}`,
  reason,
});
/** `tag`: the registration the session's KE2 was computed from (its `transcriptHash` is `tag` x 32). */
const reset = (s: number, tag = '01'): Command => ({
  type: 'Reset',
  credentialId: ID,
  sessionId: `5e${String(s).padStart(2, '0')}`,
  registration: tag.repeat(32),
});

const SCENARIOS: readonly { name: string; description: string; commands: readonly Command[] }[] = [
  { name: 'register', description: 'a registration creates a record with a fresh budget', commands: [register(10)] },
  {
    name: 'wrong-passwords-then-right',
    description:
      'two wrong passwords (each KE1 consumes a guess, each failed KE3 ' +
      'ends its session), then a valid KE3 resets the attempts (G2, G3)',
    commands: [register(10), consume(1), end(1), consume(2), end(2, 'abort'), consume(3), reset(3)],
  },
  {
    name: 'exhausted',
    description:
      'limit 3: three spent guesses, the last session ends, ' +
      'the record is Exhausted and erased; a fourth KE1 is refused (G4)',
    commands: [register(3), consume(1), end(1), consume(2), end(2, 'expired'), consume(3), end(3), consume(4)],
  },
  {
    name: 'pending-at-limit',
    description:
      'at the limit with a session still pending the record is not yet Exhausted; ' +
      'no further KE1 is accepted; the pending KE3 can still succeed',
    commands: [register(2), consume(1), end(1), consume(2), consume(3), reset(2)],
  },
  {
    name: 'reset-ends-all-pending',
    description: 'a success ends every other pending session: their KE3 can no longer verify in the new budget (G5)',
    commands: [register(10), consume(1), consume(2), reset(2), reset(1), end(1)],
  },
  {
    name: 're-registration',
    description:
      're-registration replaces the record with a new budget; a session of the old registration cannot reset; ' +
      'a guess committed after it is spent on the new budget (a KE1 depends on no record); a session id pending ' +
      'again on the new registration (a replayed Handshake1) is reset only by a KE3 of the new one',
    commands: [
      register(10),
      consume(1),
      register(5, '02'),
      reset(1),
      consume(2),
      consume(1),
      reset(1),
      reset(1, '02'),
    ],
  },
  {
    name: 'refusals',
    description: 'commands that must be refused and change nothing',
    commands: [
      consume(1),
      { type: 'Delete', credentialId: OTHER },
      register(0),
      register(256),
      register(10),
      reset(9),
      end(9),
      consume(1),
      consume(1),
    ],
  },
  {
    name: 'delete',
    description: 'a deleted record is gone; a later KE1 meets an unknown credential',
    commands: [register(10), { type: 'Delete', credentialId: ID }, consume(1)],
  },
];

export function describeOutcome(o: Outcome) {
  if (!o.ok) return { valid: false, code: o.code };
  return o.record
    ? { valid: true, triesRemaining: o.record.guessLimit - o.record.attemptsUsed, status: o.record.status }
    : { valid: true };
}

/** Runs a scenario from `pre`: the same function generates and verifies. */
export function runRecordSteps(
  pre: VaultState,
  commands: readonly Command[],
): { steps: RecordStep[]; post: VaultState } {
  let state = pre;
  const steps: RecordStep[] = [];
  for (const command of commands) {
    const r = applyCommand(state, command);
    state = r.state;
    steps.push({ command, ...describeOutcome(r.outcome) });
  }
  return { steps, post: state };
}

export function generateRecordVectors(): RecordVector[] {
  return SCENARIOS.map((s) => ({
    name: s.name,
    description: s.description,
    pre: EMPTY_VAULT,
    ...runRecordSteps(EMPTY_VAULT, s.commands),
  }));
}
