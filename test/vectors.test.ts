/**
 * bkv's reference vectors (test/vectors/, spec ch. 9): the committed files verify, the generator
 * reproduces them byte for byte (no drift), and the verifier is shown able to fail.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DEFAULT_VECTORS_DIR } from '../src/cli/vectors.ts';
import { VECTOR_FILES, renderVectorFile, verifyVectors } from '../src/vectors/files.ts';
import { type BundleVector, verifyBundleVectors } from '../src/vectors/bundles.ts';
import { type ReplicationVector, verifyReplicationVectors } from '../src/vectors/replication.ts';
import { flipLastHexDigit } from '../src/vectors/verdict.ts';
import {
  type SessionVector,
  verifyClientSide,
  verifySessionVectors,
  verifyVaultSide,
} from '../src/vectors/sessions.ts';
import type { ReplicaRules } from '../src/replication/host.ts';
import { BROKEN, brokenRules } from '../src/broken/catalog.ts';

const tmp = mkdtempSync(join(tmpdir(), 'bkv-vectors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(VECTOR_FILES.map((f) => [f.file, f] as const))('%s', (file, f) => {
  test('the committed file is exactly what the generator writes (regenerate: npx bkv vectors generate)', () => {
    expect(readFileSync(join(DEFAULT_VECTORS_DIR, file), 'utf8')).toBe(renderVectorFile(f));
  });
});

test('every committed vector verifies', () => {
  const reports = verifyVectors(DEFAULT_VECTORS_DIR);
  expect(reports.map((r) => r.file).sort()).toEqual(VECTOR_FILES.map((f) => f.file).sort());
  for (const r of reports) {
    expect(r.problems).toEqual([]);
    expect(r.count).toBeGreaterThan(0);
  }
});

test('the verifier can fail: one changed hex digit in each file is reported', () => {
  cpSync(DEFAULT_VECTORS_DIR, tmp, { recursive: true });
  for (const f of VECTOR_FILES) {
    const path = join(tmp, f.file);
    const text = readFileSync(path, 'utf8');
    // change the last hex digit of the first 64-hex-digit value in an output-like position
    const m =
      /"(KE2|ciphertext|handshake_hash|post|bytes|transcriptHash)": ?"([0-9a-f]{8,})"/.exec(text) ??
      /"([0-9a-f]{16,})"/.exec(text);
    expect(m).not.toBeNull();
    const value = m![m!.length - 1]!;
    const flipped = value.slice(0, -1) + (value.endsWith('0') ? '1' : '0');
    writeFileSync(path, text.replace(value, flipped));
  }
  const reports = verifyVectors(tmp);
  for (const r of reports) expect(r.problems.length, r.file).toBeGreaterThan(0);
});

// ---------------------------------------------------------------------------------------------
// bundles.json and replication.json (spec ch. 9 §9.1): coverage of the rules, and the verifiers
// catching a changed expectation, input or output

const committed = <T>(file: string): T[] =>
  (JSON.parse(readFileSync(join(DEFAULT_VECTORS_DIR, file), 'utf8')) as { vectors: T[] }).vectors;
/** A deep copy of vector `i` edited by `f`, in place of the original. */
function corrupt<T>(vs: readonly T[], i: number, f: (v: any) => void): T[] {
  const copy = structuredClone(vs) as T[];
  f(copy[i]);
  return copy;
}

describe('bundles.json', () => {
  const vs = committed<BundleVector>('bundles.json');
  const index = (p: (v: BundleVector) => boolean) => {
    const i = vs.findIndex(p);
    expect(i).toBeGreaterThanOrEqual(0);
    return i;
  };

  test(
    'every refusal of client validation (ch. 7 §7.11, both modes) ' +
      'and of the log rules has a vector, and each kind has an accepted one',
    () => {
      const codes = new Set(vs.filter((v) => !v.valid).map((v) => v.code));
      const rules = [
        ...['MalformedMessage', 'BundleUnsigned', 'WitnessSignatureInvalid', 'OperatorSignatureInvalid'],
        ...['DigestMismatch', 'NamespaceMismatch', 'TimestampOutOfWindow', 'StaleEpoch', 'LogEquivocation'],
        ...['MissingRole', 'InclusionProofInvalid', 'ConsistencyProofInvalid', 'AttestationInvalid', 'KeyExtractable'],
        ...['EvidenceInvalid', 'KeyNotPinned', 'InvalidPoint', 'LogInconsistent', 'UnsupportedCiphersuite'],
      ];
      expect(rules.filter((c) => !codes.has(c))).toEqual([]);
      for (const kind of ['fleet-info', 'bundle', 'pinned', 'log', 'statement', 'statement-bytes', 'report']) {
        expect(
          vs.some((v) => v.kind === kind && v.valid),
          kind,
        ).toBe(true);
      }
    },
  );

  test("the auditor's format: both suites, plexi's two vectors, refusals of the decoders and verify_strict", () => {
    const of = <K extends BundleVector['kind']>(kind: K) =>
      vs.filter((v): v is Extract<BundleVector, { kind: K }> => v.kind === kind);
    expect(new Set(of('statement').map((v) => v.statement.ciphersuite))).toEqual(new Set([1, 2]));
    const plexi = of('statement').filter((v) => v.name.startsWith('plexi test vector'));
    const signatures = plexi.map((v) => (v.result as { signature: string }).signature.slice(0, 16));
    expect(signatures).toEqual(['31fbef3ed02ea0c8', '9e666ec61efb48e7']);
    expect(
      new Set(
        of('statement-bytes')
          .filter((v) => v.valid)
          .map((v) => v.ciphersuite),
      ),
    ).toEqual(new Set([1, 2]));
    expect(of('statement-bytes').filter((v) => !v.valid).length).toBeGreaterThanOrEqual(20);
    const lax = of('report').filter((v) => /order|S \+ L/.test(v.name));
    expect(lax.map((v) => v.code)).toEqual(Array(4).fill('WitnessSignatureInvalid'));
  });

  test('the verifier catches a changed code, a changed input byte, a changed result and a changed intermediate', () => {
    expect(verifyBundleVectors(vs)).toEqual([]);
    const refused = index((v) => v.code === 'OperatorSignatureInvalid');
    const accepted = index((v) => v.kind === 'fleet-info' && v.valid && v.intermediates !== undefined);
    expect(verifyBundleVectors(corrupt(vs, refused, (v) => (v.code = 'WitnessSignatureInvalid')))).toHaveLength(1);
    expect(
      verifyBundleVectors(
        corrupt(
          vs,
          accepted,
          (v) => (v.fleetInfo.bundle.artifact = v.fleetInfo.bundle.artifact.replace('fleet-1', 'fleet-9')),
        ),
      ),
    ).not.toEqual([]);
    expect(verifyBundleVectors(corrupt(vs, accepted, (v) => (v.result.state.highestEpoch += 1)))).toHaveLength(1);
    expect(
      verifyBundleVectors(
        corrupt(vs, accepted, (v) => (v.intermediates.leaf_hash = flipLastHexDigit(v.intermediates.leaf_hash))),
      ),
    ).toHaveLength(1);
    const statement = index((v) => v.kind === 'statement' && v.valid);
    const signature = corrupt(vs, statement, (v) => (v.result.signature = flipLastHexDigit(v.result.signature)));
    expect(verifyBundleVectors(signature)).toHaveLength(1);
    expect(verifyBundleVectors(corrupt(vs, statement, (v) => (v.statement.epoch += 1)))).toHaveLength(1);
    const bytes = index((v) => v.kind === 'statement-bytes' && !v.valid);
    expect(verifyBundleVectors(corrupt(vs, bytes, (v) => (v.code = 'UnsupportedCiphersuite')))).toHaveLength(1);
  });
});

describe('replication.json', () => {
  const vs = committed<ReplicationVector>('replication.json');
  const of = <K extends ReplicationVector['kind']>(kind: K) =>
    vs.filter((v): v is Extract<ReplicationVector, { kind: K }> => v.kind === kind);
  const index = (p: (v: ReplicationVector) => boolean) => {
    const i = vs.findIndex(p);
    expect(i).toBeGreaterThanOrEqual(0);
    return i;
  };

  test(
    'the envelopes carry every message type and every command type; ' +
      'the refusals and restarts have their codes and outcomes',
    () => {
      const messages = of('envelope').flatMap((v) => (v.message ? [v.message] : []));
      expect(new Set(messages.map((m) => m.type))).toEqual(
        new Set(['RequestVoteRequest', 'RequestVoteResponse', 'AppendEntriesRequest', 'AppendEntriesResponse']),
      );
      const commands = messages.flatMap((m) =>
        m.type === 'AppendEntriesRequest' ? m.entries.map((e) => e.command?.type ?? null) : [],
      );
      expect(new Set(commands)).toEqual(new Set([null, 'Register', 'ConsumeGuess', 'Reset', 'EndSession', 'Delete']));
      expect(
        new Set(
          of('envelope')
            .filter((v) => !v.valid)
            .map((v) => v.code),
        ),
      ).toEqual(new Set(['PeerAuthenticationFailed', 'MalformedMessage']));
      const restarts = of('restart');
      expect(new Set(restarts.map((v) => (v.valid ? `rolledBack=${v.result!.rolledBack}` : v.code)))).toEqual(
        new Set(['rolledBack=false', 'rolledBack=true']),
      );
      const applied = of('replica').flatMap((v) => v.steps.flatMap((s) => s.applied));
      expect(
        applied.some((a) => a.valid === false) &&
          applied.some((a) => a.valid === true) &&
          applied.some((a) => a.command === null),
      ).toBe(true);
    },
  );

  test(
    'the verifier catches a changed MAC, message, sealed byte, ' +
      'counter, code, ballot, peer key and replica outcome',
    () => {
      expect(verifyReplicationVectors(vs)).toEqual([]);
      const envelope = index((v) => v.kind === 'envelope' && v.valid);
      const replica = index((v) => v.kind === 'replica' && v.steps.some((s) => s.applied.length > 0));
      const cases: [number, (v: any) => void][] = [
        [envelope, (v) => (v.mac = flipLastHexDigit(v.mac))],
        [envelope, (v) => (v.message.term += 1)],
        [index((v) => v.kind === 'persist'), (v) => (v.sealed = flipLastHexDigit(v.sealed))],
        [index((v) => v.kind === 'persist'), (v) => (v.after.ballot = '0')],
        [index((v) => v.kind === 'envelope' && !v.valid), (v) => (v.code = 'StaleState')],
        [
          index((v) => v.kind === 'restart' && v.valid && v.result!.rolledBack),
          (v) => (v.result.durable.recovering = false),
        ],
        [index((v) => v.kind === 'ballot' && v.votedFor !== null), (v) => (v.ballot = String(BigInt(v.ballot) + 1n))],
        [index((v) => v.kind === 'peer-key'), (v) => (v.peerMacKey = flipLastHexDigit(v.peerMacKey))],
        [replica, (v) => (v.steps.find((s: { applied: unknown[] }) => s.applied.length > 0).applied[0].term += 1)],
        [replica, (v) => (v.post.commitIndex += 1)],
      ];
      for (const [i, f] of cases)
        expect(verifyReplicationVectors(corrupt(vs, i, f)), `${vs[i]!.kind} ${f}`).not.toEqual([]);
    },
  );
});

describe('sessions.json', () => {
  const vs = committed<SessionVector>('sessions.json');
  const named = (name: string) => {
    const i = vs.findIndex((v) => v.name === `${name} (ristretto255-SHA512)`);
    expect(i).toBeGreaterThanOrEqual(0);
    return i;
  };
  const record = (v: SessionVector) => Object.values(v.post.records)[0]!;

  test(
    'registration and recovery with the right password, a wrong one, a wrong KE3 MAC, ' +
      'across a re-registration, on an exhausted record, at the limit with pending ' +
      'sessions and for an unknown credential; the refusals with their codes; every suite',
    () => {
      const results = vs.flatMap((v) => v.operations.map((o) => `${o.op}:${o.result.ok ? 'ok' : o.result.kind}`));
      expect(new Set(results)).toEqual(
        new Set([
          'register:ok',
          'recover:ok',
          'recover:WrongPassword',
          'recover:Locked',
          'recover:Fault',
          'probe:WrongPassword',
          'wrong-mac:WrongPassword',
        ]),
      );
      expect(new Set(vs.flatMap((v) => v.steps.flatMap((s) => (s.code ? [s.code] : []))))).toEqual(
        new Set(['SessionReplayed', 'ChannelDecryptFailed', 'UnknownSession', 'SessionExpired']),
      );
      const unknown = vs[named('unknown-credential')]!;
      expect(unknown.post).toEqual(unknown.pre); // a fake KE2 changes no record
      expect(Object.values(vs[named('exhausted')]!.post.records).map((r) => [r.status, r.registrationRecord])).toEqual([
        ['Exhausted', null],
      ]);
      expect(vs.some((v) => v.steps.some((s) => !s.frame))).toBe(true); // the expiry event
      expect(new Set(vs.map((v) => v.suite))).toEqual(
        new Set(['ristretto255-SHA512', 'P256-SHA256', 'ristretto255-SHA512+Curve25519']),
      );
    },
  );

  test('the scripts end as their descriptions say', () => {
    // a wrong MAC: refused inside the channel, the session ended as failed, the guess spent, nothing released
    const wrongMac = vs[named('recover-wrong-mac')]!;
    expect(wrongMac.operations.map((o) => o.result)).toEqual([{ ok: false, kind: 'WrongPassword', triesRemaining: 9 }]);
    expect(wrongMac.steps.map((s) => s.vaultRandom.length)).toEqual([4, 0]); // no nonce sealing K
    expect([record(wrongMac).attemptsUsed, record(wrongMac).pending]).toEqual([1, {}]);
    // a KE3 whose session a new registration ended
    const reregistered = vs[named('reregistered-during-recovery')]!;
    expect(reregistered.operations.map((o) => o.result)).toEqual([
      { ok: false, kind: 'Fault', code: 'UnknownSession' },
      { ok: true },
    ]);
    expect(reregistered.steps.map((s) => s.op)).toEqual([0, 1, 1, 0]);
    expect([record(reregistered).generation, record(reregistered).attemptsUsed]).toEqual([2, 0]);
    // at the limit with two pending sessions: the expiry event closes both channels, and only then is the record erased
    const locked = vs[named('locked-with-pending')]!;
    const expiry = locked.steps.at(-1)!;
    expect(expiry.frame).toBeUndefined();
    expect(expiry.replies.map((f) => [f.kind, Buffer.from(f.bytes, 'hex').toString()])).toEqual([
      ['Alert', 'SessionExpired'],
      ['Alert', 'SessionExpired'],
    ]);
    expect([record(locked).status, record(locked).registrationRecord, record(locked).sealedPayload]).toEqual([
      'Exhausted',
      null,
      null,
    ]);
    // the relay's tampered Handshake1s: the payload byte first, then the ephemeral key's
    expect(vs[named('refused-frames')]!.steps.filter((s) => s.op === undefined).map((s) => s.code)).toEqual([
      'SessionReplayed',
      'ChannelDecryptFailed',
      'ChannelDecryptFailed',
      'ChannelDecryptFailed',
      'UnknownSession',
    ]);
  });

  test(
    'the verifier catches a changed reply, code, vault draw, ' +
      'client draw, client frame, result, post state and public key',
    () => {
      expect(verifySessionVectors(vs)).toEqual([]);
      const right = named('recover-right-password');
      const cases: [number, (v: any) => void][] = [
        [right, (v) => (v.steps[1].replies[0].bytes = flipLastHexDigit(v.steps[1].replies[0].bytes))],
        [named('refused-frames'), (v) => (v.steps[3].code = 'MalformedMessage')],
        [right, (v) => (v.steps[0].vaultRandom[1] = flipLastHexDigit(v.steps[0].vaultRandom[1]))],
        [right, (v) => v.steps[1].vaultRandom.pop()],
        [right, (v) => (v.steps[0].clientRandom[0] = flipLastHexDigit(v.steps[0].clientRandom[0]))],
        [right, (v) => v.steps[1].clientRandom.push(v.steps[0].clientRandom.pop())], // a draw listed at the wrong frame
        [right, (v) => (v.steps[1].frame.bytes = flipLastHexDigit(v.steps[1].frame.bytes))],
        [right, (v) => (v.operations[0].result = { ok: false, kind: 'WrongPassword', triesRemaining: 9 })],
        [right, (v) => ((Object.values(v.post.records)[0] as { attemptsUsed: number }).attemptsUsed = 1)],
        [named('unknown-credential'), (v) => (v.operations[1].password = v.operations[0].password)],
      ];
      for (const [i, f] of cases)
        expect(verifySessionVectors(corrupt(vs, i, f)), `${vs[i]!.name} ${f}`).not.toEqual([]);
      // publicKeys that are not the halves of keys: the vault side says so, and the clients that pin them send other
      // frames
      for (const key of ['channelPublicKey', 'opaqueServerPublicKey'] as const) {
        const tampered = corrupt(vs, right, (v) => (v.publicKeys[key] = flipLastHexDigit(v.publicKeys[key])))[right]!;
        expect(verifyVaultSide(tampered), key).toEqual([
          expect.stringContaining('publicKeys are not the public halves of keys'),
        ]);
        expect(verifyClientSide(tampered), key).not.toEqual([]);
      }
    },
  );

  test(
    'broken vaults fail the vault side: each rule and ' +
      'input-handling breakage that shows on the wire or in the state',
    () => {
      const caughtBy = (rules: ReplicaRules) =>
        vs.filter((v) => verifyVaultSide(v, rules).length > 0).map((v) => v.name.split(' ')[0]);
      const expected: Record<string, string> = {
        'count-at-ke3': 'abandoned-then-expired',
        'reset-without-pending': 'reregistered-during-recovery',
        'no-guess-limit': 'locked-with-pending',
        'refund-on-abort': 'recover-wrong-password',
        'expiry-ends-no-session': 'abandoned-then-expired',
        'never-erase': 'exhausted',
        'alert-closes-channel': 'refused-frames',
        'refused-ke3-ends-session': 'refused-frames',
        'free-text-alert': 'refused-frames',
        'fake-tries-constant': 'unknown-credential',
        'release-without-ke3': 'recover-wrong-mac',
        'stale-tries': 'exhausted',
        'reset-keeps-pending': 'refused-frames',
      };
      for (const [name, vector] of Object.entries(expected))
        expect(caughtBy(brokenRules(name)), name).toContain(vector);
      // only the KE3 with a wrong MAC inside a sound channel reaches the MAC check
      expect(caughtBy(brokenRules('release-without-ke3'))).toEqual(['recover-wrong-mac']);
      // Invisible in these vectors, so left to the scenario, model and explorer checks: a vault that
      // commits nothing for an unknown credential sends the same frames and keeps the same records
      // (only the missing commit tells it apart); an acknowledgement before the commit, which at one
      // replica comes in the same step; a KE1 racing a re-registration, which at one replica cannot
      // happen (a proposal commits in its own step); a Reset of a session re-pended on a newer
      // registration, which needs a commit held back (test/session-registration.test.ts); and the
      // variants of consensus and persistence, which a fleet of one with an honest host never shows.
      const fleetLevel = [
        'commit-at-half',
        'vote-without-log-check',
        'no-reseal-at-start',
        'unchained-segments',
        'trust-host-storage',
        'vote-not-persisted',
        'version-reuse',
        'ke2-before-commit',
        'snapshot-beyond-commit',
        'snapshot-drops-pending',
        'snapshot-chunk-unchecked',
        'ack-before-durable',
      ];
      const vaultLevel = BROKEN.filter((b) => !fleetLevel.includes(b.name));
      expect(vaultLevel.map((b) => b.name).filter((name) => !(name in expected))).toEqual([
        'stale-guess-refused',
        'reset-any-registration',
        'ack-before-commit',
        'no-commit-for-unknown',
      ]);
    },
  );
});
