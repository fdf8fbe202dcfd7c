/**
 * Fleets (spec ch. 7) on the memory backend: the deployment ceremony and its evidence, the
 * witness log's rules, and every refusal of client validation with its own code (INV-13), the log
 * monitor keeping equivocation evidence (INV-14), and a client using a validated context against
 * a vault running on a deployed replica, through a rotation.
 *
 * Each refusal is built from a valid object by one change, and the valid object is shown accepted
 * first, so a refusal is never an accident of the fixture. SoftHSM: test/fleet-softhsm.test.ts.
 * Properties: test/fleet.property.test.ts. The CLI: test/fleet-cli.test.ts.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8 } from '../src/crypto/bytes.ts';
import { canonicalJson, parseCanonicalJson } from '../src/crypto/canonical.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import { type ErrorCode, isVaultError } from '../src/errors.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { BkvClient, generateBackupKey } from '../src/client/client.ts';
import { directRelay } from '../src/client/relay.ts';
import type { ClientContext } from '../src/client/session.ts';
import {
  type BundleTrust,
  type ClientFleetState,
  DAY_MS,
  INITIAL_CLIENT_FLEET_STATE,
  computePins,
  moveRecordOnRecovery,
  validateBundle,
  validateFleetInfo,
  validatePinned,
} from '../src/client/bundle.ts';
import {
  type FleetArtifact,
  createArtifact,
  decodeArtifact,
  encodeArtifact,
  verifyArtifactAttestations,
} from '../src/fleet/artifact.ts';
import type { AttestationBody } from '../src/fleet/attestation.ts';
import type { Bundle } from '../src/fleet/bundle.ts';
import { deployFleet } from '../src/fleet/ceremony.ts';
import { type DeploymentEvidence, verifyDeploymentEvidence } from '../src/fleet/evidence.ts';
import { type Deployment, type DeploymentRecord, runDeployment } from '../src/fleet/deployment.ts';
import { AuditError, auditDeployment } from '../src/fleet/audit.ts';
import { encodeDeploymentFiles } from '../src/fleet/files.ts';
import { type FleetInfo, serveFleetInfo } from '../src/fleet/fleet-info.ts';
import { EquivocationError, LogMonitor, WitnessLog, checkLogStatements, isEquivocation } from '../src/fleet/log.ts';
import { publishArtifact } from '../src/fleet/operator.ts';
import { type Signer, hsmSigner, signDocument } from '../src/fleet/signing.ts';
import { encodeStatement, formatRoot } from '../src/fleet/statement.ts';
import { createSingleReplicaVault } from '../src/vault/setup.ts';

const NAMESPACE = 'bkv.test.fleet';
const START = Date.UTC(2026, 0, 1);
const SUITE = getSuite('ristretto255-SHA512');

function expectCode(f: () => unknown, code: ErrorCode): void {
  try {
    f();
  } catch (e) {
    if (isVaultError(e, code)) return;
    throw new Error(`expected VaultError(${code}), got ${e instanceof Error ? e.message : String(e)}`);
  }
  throw new Error(`expected VaultError(${code}), but it was accepted`);
}

interface Fixture {
  readonly d: Deployment;
  readonly witness: Signer;
  readonly witnessHsm: MemoryHsm;
  readonly trust: BundleTrust;
}

function deploy(seed: string, o: { replicas?: number; fleets?: number } = {}): Fixture {
  const rng = seededRng(seed);
  const witnessHsm = MemoryHsm.create('witness', rng);
  const d = runDeployment({
    namespace: NAMESPACE,
    suite: SUITE,
    replicas: o.replicas ?? 3,
    fleets: o.fleets ?? 2,
    openReplica: (fleetId, i) => ({ hsm: MemoryHsm.create(`${fleetId}-r${i}`, rng), prefix: `t/${fleetId}/r${i}` }),
    operator: { hsm: MemoryHsm.create('operator', rng), label: 't/operator' },
    vendorHsm: MemoryHsm.create('vendor', rng),
    witnessHsm,
    rng,
    startTime: START,
  });
  const witness = hsmSigner(witnessHsm, 'witness/log-signing');
  return {
    d,
    witness,
    witnessHsm,
    trust: { namespace: NAMESPACE, witnessKey: witness.publicKey, operatorKey: d.operator.publicKey },
  };
}

let F: Fixture;
beforeAll(() => {
  F = deploy('fleet.test');
});

/** The fleet info of `epoch` as served at that epoch (head of size `epoch`). */
const infoAt = (epoch: number, knownTreeSize?: number): FleetInfo =>
  serveFleetInfo(F.d.log, F.d.bundles[epoch - 1]!, {
    treeSize: epoch,
    ...(knownTreeSize !== undefined && { knownTreeSize }),
  });
const bundleAt = (epoch: number): Bundle => F.d.bundles[epoch - 1]!;
/** `b` with its report's digest replaced (serialized_message dropped, so that decoding reaches the digest check). */
const withDigest = (b: Bundle, digest: string): Bundle => {
  const { serialized_message: _m, ...report } = b.report!;
  return { ...b, report: { ...report, digest } };
};
const nowFor = (b: Bundle) => b.report!.timestamp + 60_000;

/** A client that accepted every epoch up to `epoch`, in order. */
function stateAfter(epoch: number): ClientFleetState {
  let state = INITIAL_CLIENT_FLEET_STATE;
  for (let e = 1; e <= epoch; e++)
    state = validateFleetInfo(infoAt(e, state.treeHead?.body.treeSize), F.trust, state, nowFor(bundleAt(e))).state;
  return state;
}

/** Publishes `artifact` on a fresh log with the fixture's witness and operator keys (a validly signed bundle). */
function publishElsewhere(
  artifact: FleetArtifact,
  namespace = artifact.namespace,
): { bundle: Bundle; log: WitnessLog } {
  const log = new WitnessLog(namespace, F.witness, () => START);
  return { bundle: publishArtifact(encodeArtifact(artifact), log, F.d.operator), log };
}

/** Validation refuses with `code` and leaves the state it was given as it was (INV-12 for the client). */
function expectRefused(f: (state: ClientFleetState) => unknown, state: ClientFleetState, code: ErrorCode): void {
  const before = canonicalJson(state);
  expectCode(() => f(state), code);
  expect(canonicalJson(state)).toBe(before);
}

describe('deployment ceremony and evidence', () => {
  test('every replica holds the same fleet keys, and the evidence verifies under the vendor root', () => {
    for (const fleet of F.d.fleets) {
      const { fleet: v, transcript } = verifyDeploymentEvidence(fleet.evidence, F.d.vendor.rootKey);
      expect(v.replicas.map((r) => r.id)).toEqual(['r0', 'r1', 'r2']);
      const channel = fleet.replicas.map((r) => toHex(r.hsm.keyInfo(r.labels.channel).publicKey!));
      expect(new Set(channel).size).toBe(1);
      expect(channel[0]).toBe(v.keys.channel.publicKey);
      // no wrappable copy of any fleet secret remains anywhere
      for (const r of fleet.replicas)
        for (const l of [r.labels.channel, r.labels.opaqueServer, r.labels.oprfSeed])
          expect(r.hsm.keyInfo(l).extractable).toBe(false);
      expect(fleet.replicas[0]!.hsm.hasKey(`${fleet.replicas[0]!.prefix}/genesis-channel`)).toBe(false);
      expect(transcript.filter((l) => l.includes(': wrapped ')).length).toBe(3 * 3); // 3 secrets x 3 replicas
    }
  });

  test('identity, transport and seal keys are generated inside and never extractable', () => {
    const r = F.d.fleets[0]!.replicas[1]!;
    for (const l of [r.labels.identity, r.labels.transport, r.labels.seal]) {
      expect(r.hsm.keyInfo(l)).toMatchObject({
        local: true,
        neverExtractable: true,
        extractable: false,
        sensitive: true,
      });
    }
  });

  test('wrap-seed (the SoftHSM way) on memory HSMs: seeds destroyed, the evidence refused (keys imported)', () => {
    const rng = seededRng('wrap-seed');
    const vendor = F.d.vendor;
    const replicas = ['a', 'b'].map((id) => ({ id, hsm: MemoryHsm.create(id, rng), prefix: `ws/${id}` }));
    const fleet = deployFleet({
      namespace: NAMESPACE,
      fleetId: 'fleet-ws',
      suite: SUITE,
      replicas,
      vendor,
      rng,
      transport: 'wrap-seed',
    });
    expect(replicas.every((r) => !r.hsm.hasKey(`${r.prefix}/key-seed`))).toBe(true);
    expect(replicas.every((r) => r.hsm.keyInfo(`${r.prefix}/channel`).imported)).toBe(true);
    expectCode(() => verifyDeploymentEvidence(fleet.evidence, vendor.rootKey), 'EvidenceInvalid');
  });
});

describe('evidence refusals (the auditor, spec ch. 8 step 4)', () => {
  const evidence = () => F.d.fleets[0]!.evidence;
  /**
   * Re-signs statement `seq` (an event or a final statement) after `change`, with the vendor's real
   * attestation key.
   */
  function resign(
    e: DeploymentEvidence,
    seq: number,
    change: (b: AttestationBody) => AttestationBody,
  ): DeploymentEvidence {
    const fix = (st: { body: AttestationBody; signature: string }) =>
      st.body.seq === seq ? F.d.vendor.attest(change(st.body)) : st;
    return {
      ...e,
      events: e.events.map(fix),
      replicas: e.replicas.map((r) => ({ ...r, attestations: r.attestations.map(fix) })),
    };
  }
  const finalSeq = (e: DeploymentEvidence, replica: number, name: string) =>
    e.replicas[replica]!.attestations.find((s) => s.body.label.endsWith(`/${name}`))!.body.seq;

  test('the untouched evidence verifies', () => {
    expect(() => verifyDeploymentEvidence(evidence(), F.d.vendor.rootKey)).not.toThrow();
  });

  test('forged attestation: a statement signed by an uncertified key is AttestationInvalid', () => {
    const forger = hsmSigner(MemoryHsm.create('forger', seededRng('forger')), 'k');
    const e = evidence();
    const forged = { ...e, events: e.events.map((st, i) => (i === 2 ? signDocument(forger, st.body) : st)) };
    expectCode(() => verifyDeploymentEvidence(forged, F.d.vendor.rootKey), 'AttestationInvalid');
  });

  test('forged certificate: an attestation key certified by another root is AttestationInvalid', () => {
    const otherRoot = hsmSigner(MemoryHsm.create('other-vendor', seededRng('other')), 'root');
    const e = evidence();
    const certificates = e.certificates.map((c) => signDocument(otherRoot, c.body));
    expectCode(() => verifyDeploymentEvidence({ ...e, certificates }, F.d.vendor.rootKey), 'AttestationInvalid');
    expectCode(() => verifyDeploymentEvidence(e, otherRoot.publicKey), 'AttestationInvalid');
  });

  test('a fleet key marked extractable (validly attested) is KeyExtractable', () => {
    const e = evidence();
    const bad = resign(e, finalSeq(e, 1, 'channel'), (b) =>
      b.event === 'key' ? { ...b, attributes: { ...b.attributes, extractable: true } } : b,
    );
    expectCode(() => verifyDeploymentEvidence(bad, F.d.vendor.rootKey), 'KeyExtractable');
    const notSensitive = resign(e, finalSeq(e, 2, 'oprf-seed'), (b) =>
      b.event === 'key' ? { ...b, attributes: { ...b.attributes, sensitive: false } } : b,
    );
    expectCode(() => verifyDeploymentEvidence(notSensitive, F.d.vendor.rootKey), 'KeyExtractable');
    const onceExtractable = resign(e, finalSeq(e, 0, 'identity'), (b) =>
      b.event === 'key' ? { ...b, attributes: { ...b.attributes, neverExtractable: false } } : b,
    );
    expectCode(() => verifyDeploymentEvidence(onceExtractable, F.d.vendor.rootKey), 'KeyExtractable');
  });

  test('fleet keys that differ between replicas are EvidenceInvalid', () => {
    const e = evidence();
    const other = toHex(sha256(utf8('another key')));
    const bad = resign(e, finalSeq(e, 2, 'channel'), (b) =>
      b.event === 'key' ? { ...b, key: { kind: 'x25519', publicKey: other } } : b,
    );
    expectCode(() => verifyDeploymentEvidence(bad, F.d.vendor.rootKey), 'EvidenceInvalid');
  });

  test('a secret wrapped to a key that is no attested transport key is EvidenceInvalid', () => {
    const e = evidence();
    const wrap = e.events.find((s) => s.body.event === 'wrap')!.body.seq;
    const bad = resign(e, wrap, (b) =>
      b.event === 'wrap' ? { ...b, recipientKey: toHex(sha256(utf8('attacker'))) } : b,
    );
    expectCode(() => verifyDeploymentEvidence(bad, F.d.vendor.rootKey), 'EvidenceInvalid');
  });

  test('a genesis secret never destroyed, or the wrong genesis, is EvidenceInvalid', () => {
    const e = evidence();
    const destroy = e.events.find((s) => s.body.event === 'destroy')!.body.seq;
    const kept = resign(e, destroy, (b) => ({ ...b, event: 'destroy', label: `${b.label}-x` }) as AttestationBody);
    expectCode(() => verifyDeploymentEvidence(kept, F.d.vendor.rootKey), 'EvidenceInvalid');
    expectCode(() => verifyDeploymentEvidence({ ...e, genesis: 'r1' }, F.d.vendor.rootKey), 'EvidenceInvalid');
  });

  test('statements out of sequence, or of another fleet, are AttestationInvalid', () => {
    const e = evidence();
    const swapped = [...e.events];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    expectCode(() => verifyDeploymentEvidence({ ...e, events: swapped }, F.d.vendor.rootKey), 'AttestationInvalid');
    expectCode(() => verifyDeploymentEvidence({ ...e, fleetId: 'fleet-2' }, F.d.vendor.rootKey), 'AttestationInvalid');
  });
});

describe('witness log rules (spec ch. 7)', () => {
  const digest = (s: string) => toHex(sha256(utf8(s)));
  function freshLog(times: number[]) {
    let i = 0;
    return new WitnessLog(NAMESPACE, F.witness, () => times[Math.min(i++, times.length - 1)]!);
  }

  test('epochs 1, 2, 3 with new digests are accepted; the log rules hold on the result', () => {
    const log = freshLog([1, 2, 3]);
    for (const e of [1, 2, 3]) log.submit(e, digest(`a${e}`));
    expect(() => checkLogStatements(log.rules, log.getStatements())).not.toThrow();
  });

  test(
    'a repeated or lower epoch is StaleEpoch, a gap LogInconsistent, ' +
      'a republished digest LogInconsistent; nothing changes',
    () => {
      const log = freshLog([1, 2, 3, 4, 5, 6]);
      log.submit(1, digest('a'));
      log.submit(2, digest('b'));
      expectCode(() => log.submit(2, digest('c')), 'StaleEpoch');
      expectCode(() => log.submit(1, digest('c')), 'StaleEpoch');
      expectCode(() => log.submit(4, digest('c')), 'LogInconsistent');
      expectCode(() => log.submit(3, digest('a')), 'LogInconsistent');
      expect(log.size).toBe(2);
      expect(log.getHeads().length).toBe(2);
    },
  );

  test('a timestamp before the previous entry is LogInconsistent', () => {
    const log = freshLog([10, 5]);
    log.submit(1, digest('a'));
    expectCode(() => log.submit(2, digest('b')), 'LogInconsistent');
  });

  test('the operator cannot publish an artifact of another namespace on this log', () => {
    const a = { ...F.d.artifacts[0]!, namespace: 'bkv.other' };
    const log = freshLog([1]);
    expectCode(() => publishArtifact(encodeArtifact(a), log, F.d.operator), 'NamespaceMismatch');
  });

  test('INV-14: two heads of one size with different roots are kept as evidence of equivocation', () => {
    // the witness signs a forked log: same keys and namespace, another entry at epoch 1
    const fork = freshLog([START]);
    fork.submit(1, digest('forked'));
    const monitor = new LogMonitor(NAMESPACE, F.witness.publicKey);
    monitor.observe(F.d.log.getHead(1));
    monitor.observe(F.d.log.getHead(1)); // the same head again is fine
    expectCode(() => monitor.observe(fork.getHead(1)), 'LogEquivocation');
    expect(monitor.evidence.length).toBe(1);
    expect(isEquivocation(monitor.evidence[0]!, F.witness.publicKey)).toBe(true);
    // not evidence: the same head twice, or heads under another key
    expect(isEquivocation({ first: F.d.log.getHead(1), second: F.d.log.getHead(1) }, F.witness.publicKey)).toBe(false);
    expect(isEquivocation(monitor.evidence[0]!, F.d.operator.publicKey)).toBe(false);
    // a larger head needs a consistency proof; with the honest one it is accepted
    expectCode(() => monitor.observe(F.d.log.getHead(3)), 'ConsistencyProofInvalid');
    monitor.observe(F.d.log.getHead(3), F.d.log.getConsistencyProof(1, 3));
    expect(monitor.latest?.body.treeSize).toBe(3);
    try {
      monitor.observe(fork.getHead(1));
    } catch (e) {
      expect(e).toBeInstanceOf(EquivocationError);
    }
  });
});

describe('INV-13: client validation over the air, one code per refusal', () => {
  const valid = (b: Bundle, state = INITIAL_CLIENT_FLEET_STATE, now = nowFor(b.report ? b : bundleAt(1))) =>
    validateBundle(b, F.trust, state, now);

  test('the genuine bundles of every epoch are accepted in order, with the fleet keys as the context', () => {
    let state = INITIAL_CLIENT_FLEET_STATE;
    for (const e of [1, 2, 3]) {
      const v = validateFleetInfo(infoAt(e, state.treeHead?.body.treeSize), F.trust, state, nowFor(bundleAt(e)));
      expect(v.epoch).toBe(e);
      expect(toHex(v.context.channelKey)).toBe(
        toHex(
          F.d.fleets[e === 1 ? 0 : 1]!.replicas[0]!.hsm.keyInfo(
            F.d.fleets[e === 1 ? 0 : 1]!.replicas[0]!.labels.channel,
          ).publicKey!,
        ),
      );
      expect(v.retiring !== undefined).toBe(e === 2);
      state = v.state;
    }
    expect(state.highestEpoch).toBe(3);
    expect(state.treeHead?.body.treeSize).toBe(3);
  });

  test('unsigned: BundleUnsigned', () => {
    const { report: _w, operatorCounterSignature: _o, ...unsigned } = bundleAt(1);
    expectRefused((s) => valid(unsigned, s), INITIAL_CLIENT_FLEET_STATE, 'BundleUnsigned');
  });

  test('witness-only (no counter-signature): OperatorSignatureInvalid', () => {
    const { operatorCounterSignature: _o, ...witnessOnly } = bundleAt(1);
    expectRefused((s) => valid(witnessOnly, s), INITIAL_CLIENT_FLEET_STATE, 'OperatorSignatureInvalid');
  });

  test('operator-only (no witness signature): WitnessSignatureInvalid', () => {
    const { report: _w, ...operatorOnly } = bundleAt(1);
    expectRefused((s) => valid(operatorOnly, s), INITIAL_CLIENT_FLEET_STATE, 'WitnessSignatureInvalid');
  });

  test('signatures by keys that are not the pinned ones: WitnessSignatureInvalid / OperatorSignatureInvalid', () => {
    const b = bundleAt(1);
    const stranger = hsmSigner(MemoryHsm.create('stranger', seededRng('stranger')), 'k');
    const strangerLog = new WitnessLog(NAMESPACE, stranger, () => START);
    const byStranger = publishArtifact(b.artifact, strangerLog, F.d.operator);
    expectRefused((s) => valid(byStranger, s), INITIAL_CLIENT_FLEET_STATE, 'WitnessSignatureInvalid');
    const counterByStranger = { ...b, operatorCounterSignature: toHex(stranger.sign(fromHex(b.report!.signature))) };
    expectRefused((s) => valid(counterByStranger, s), INITIAL_CLIENT_FLEET_STATE, 'OperatorSignatureInvalid');
  });

  test('wrong digest: DigestMismatch', () => {
    const b = bundleAt(1);
    const other = withDigest(b, toHex(sha256(utf8('something else'))));
    expectRefused((s) => valid(other, s), INITIAL_CLIENT_FLEET_STATE, 'DigestMismatch');
  });

  test('substituted key: DigestMismatch with the old digest, WitnessSignatureInvalid with a recomputed one', () => {
    const b = bundleAt(1);
    const a = decodeArtifact(b.artifact);
    const attacker = MemoryHsm.create('attacker', seededRng('attacker')).generateKey('c', 'x25519').publicKey!;
    const swapped = encodeArtifact({
      ...a,
      keys: a.keys.map((k) =>
        k.role === 'channel' ? { ...k, key: { kind: 'x25519', publicKey: toHex(attacker) } } : k,
      ),
    });
    expectRefused((s) => valid({ ...b, artifact: swapped }, s), INITIAL_CLIENT_FLEET_STATE, 'DigestMismatch');
    const resealed = { ...withDigest(b, toHex(sha256(utf8(swapped)))), artifact: swapped };
    expectRefused((s) => valid(resealed, s), INITIAL_CLIENT_FLEET_STATE, 'WitnessSignatureInvalid');
    // even validly published, the substituted key contradicts the replicas' attestations
    const published = publishElsewhere(decodeArtifact(swapped)).bundle;
    expect(() => valid(published)).not.toThrow();
    expectRefused(
      (s) => validateBundle(published, { ...F.trust, vendorRoot: F.d.vendor.rootKey }, s, nowFor(published)),
      INITIAL_CLIENT_FLEET_STATE,
      'EvidenceInvalid',
    );
  });

  test('a non-canonical artifact (same content, other encoding) is MalformedMessage', () => {
    const b = bundleAt(1);
    const spaced = JSON.stringify(JSON.parse(b.artifact), null, 1);
    const spacedBundle = { ...withDigest(b, toHex(sha256(utf8(spaced)))), artifact: spaced };
    expectRefused((s) => valid(spacedBundle, s), INITIAL_CLIENT_FLEET_STATE, 'MalformedMessage');
    expect(() => parseCanonicalJson(b.artifact, 'a')).not.toThrow();
  });

  test('wrong namespace: a validly signed bundle of another namespace is NamespaceMismatch', () => {
    const other = publishElsewhere({ ...F.d.artifacts[0]!, namespace: 'bkv.whatsapp.backup' }).bundle;
    expect(() =>
      validateBundle(
        other,
        { ...F.trust, namespace: 'bkv.whatsapp.backup' },
        INITIAL_CLIENT_FLEET_STATE,
        nowFor(other),
      ),
    ).not.toThrow();
    expectRefused((s) => valid(other, s), INITIAL_CLIENT_FLEET_STATE, 'NamespaceMismatch');
  });

  test('stale epoch (rollback): an epoch below the highest accepted is StaleEpoch', () => {
    const state = stateAfter(3);
    expectRefused((s) => validateFleetInfo(infoAt(1), F.trust, s, nowFor(bundleAt(1))), state, 'StaleEpoch');
    expectRefused((s) => valid(bundleAt(2), s), state, 'StaleEpoch');
    expect(() => valid(bundleAt(3), state)).not.toThrow(); // the same epoch again is fine
  });

  test(
    'replayed old bundle: superseded in the log (StaleEpoch) or ' +
      'too old (TimestampOutOfWindow), even for a fresh client',
    () => {
      // with the current head, epoch 1 is not the last leaf: refused even by a client with a very long window
      const old = serveFleetInfo(F.d.log, bundleAt(1));
      const lenient = { ...F.trust, maxAgeMs: 10 * 365 * DAY_MS };
      expect(() =>
        validateFleetInfo(infoAt(1), lenient, INITIAL_CLIENT_FLEET_STATE, nowFor(bundleAt(3))),
      ).not.toThrow();
      expectRefused(
        (s) => validateFleetInfo(old, lenient, s, nowFor(bundleAt(3))),
        INITIAL_CLIENT_FLEET_STATE,
        'StaleEpoch',
      );
      expectRefused(
        (s) => validateFleetInfo(infoAt(1), F.trust, s, nowFor(bundleAt(3))),
        INITIAL_CLIENT_FLEET_STATE,
        'TimestampOutOfWindow',
      );
    },
  );

  test('timestamp outside the window, on either side: TimestampOutOfWindow', () => {
    const b = bundleAt(1);
    const t = b.report!.timestamp;
    expect(() => valid(b, INITIAL_CLIENT_FLEET_STATE, t + 30 * DAY_MS)).not.toThrow();
    expectRefused((s) => valid(b, s, t + 30 * DAY_MS + 1), INITIAL_CLIENT_FLEET_STATE, 'TimestampOutOfWindow');
    expect(() => valid(b, INITIAL_CLIENT_FLEET_STATE, t - 10 * 60_000)).not.toThrow();
    expectRefused((s) => valid(b, s, t - 10 * 60_000 - 1), INITIAL_CLIENT_FLEET_STATE, 'TimestampOutOfWindow');
  });

  test('missing role: MissingRole', () => {
    const a = F.d.artifacts[0]!;
    const noServerKey = publishElsewhere({ ...a, keys: a.keys.filter((k) => k.role !== 'opaque-server') }).bundle;
    expectRefused((s) => valid(noServerKey, s), INITIAL_CLIENT_FLEET_STATE, 'MissingRole');
    const b = bundleAt(3);
    expectRefused(
      (s) => validateBundle(b, { ...F.trust, requiredRoles: ['channel', 'retiring-channel'] }, s, nowFor(b)),
      INITIAL_CLIENT_FLEET_STATE,
      'MissingRole',
    );
  });

  test('equivocating log: a second witness-signed bundle for an accepted epoch is LogEquivocation', () => {
    const state = stateAfter(1);
    const a = F.d.artifacts[0]!;
    const fork = publishElsewhere({ ...a, issuedAt: a.issuedAt + 1 });
    expectRefused((s) => valid(fork.bundle, s), state, 'LogEquivocation');
    // with its tree head: the fork's head of size 1 contradicts the accepted one
    const forkInfo = serveFleetInfo(fork.log, fork.bundle);
    try {
      validateFleetInfo(forkInfo, F.trust, { ...state, highestEpoch: 0, highestDigest: null }, nowFor(fork.bundle));
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(EquivocationError);
      expect(isEquivocation((e as EquivocationError).evidence, F.witness.publicKey)).toBe(true);
    }
  });

  test(
    'inclusion proof that does not prove: InclusionProofInvalid; ' +
      'missing or bad consistency proof: ConsistencyProofInvalid',
    () => {
      const info = infoAt(2);
      const flipped = info.inclusionProof.map((h, i) => (i === 0 ? toHex(sha256(utf8(h))) : h));
      expectRefused(
        (s) => validateFleetInfo({ ...info, inclusionProof: flipped }, F.trust, s, nowFor(bundleAt(2))),
        INITIAL_CLIENT_FLEET_STATE,
        'InclusionProofInvalid',
      );
      const after1 = stateAfter(1);
      const withProof = infoAt(2, 1);
      expect(() => validateFleetInfo(withProof, F.trust, after1, nowFor(bundleAt(2)))).not.toThrow();
      const { consistency: _c, ...noProof } = withProof;
      expectRefused(
        (s) => validateFleetInfo(noProof, F.trust, s, nowFor(bundleAt(2))),
        after1,
        'ConsistencyProofInvalid',
      );
      const badProof = { ...withProof, consistency: { fromSize: 1, proof: [toHex(sha256(utf8('x')))] } };
      expectRefused(
        (s) => validateFleetInfo(badProof, F.trust, s, nowFor(bundleAt(2))),
        after1,
        'ConsistencyProofInvalid',
      );
    },
  );

  test('a tree head not signed by the pinned witness: WitnessSignatureInvalid', () => {
    const info = infoAt(1);
    const stranger = hsmSigner(MemoryHsm.create('stranger2', seededRng('s2')), 'k');
    expectRefused(
      (s) =>
        validateFleetInfo(
          { ...info, treeHead: signDocument(stranger, info.treeHead.body) },
          F.trust,
          s,
          nowFor(bundleAt(1)),
        ),
      INITIAL_CLIENT_FLEET_STATE,
      'WitnessSignatureInvalid',
    );
  });

  test('with the vendor root pinned, the artifact attestations are checked too', () => {
    const b = bundleAt(2);
    const withVendor = { ...F.trust, vendorRoot: F.d.vendor.rootKey };
    expect(() => validateBundle(b, withVendor, INITIAL_CLIENT_FLEET_STATE, nowFor(b))).not.toThrow();
    expectRefused(
      (s) => validateBundle(b, { ...withVendor, vendorRoot: F.witness.publicKey }, s, nowFor(b)),
      INITIAL_CLIENT_FLEET_STATE,
      'AttestationInvalid',
    );
    expect(verifyArtifactAttestations(F.d.artifacts[1]!, F.d.vendor.rootKey).replicas.length).toBe(3);
  });
});

describe('pinned mode (WhatsApp)', () => {
  test('the pins give the context; a served artifact with other keys is KeyNotPinned', () => {
    const pins = computePins(bundleAt(1).artifact);
    expect(toHex(validatePinned(pins, bundleAt(1).artifact).channelKey)).toBe(toHex(pins.channelKey));
    expect(() => validatePinned(pins, undefined)).not.toThrow();
    expectCode(() => validatePinned(pins, bundleAt(3).artifact), 'KeyNotPinned'); // another fleet's keys
    const a = decodeArtifact(bundleAt(1).artifact);
    const swapped = encodeArtifact({
      ...a,
      keys: a.keys.map((k) =>
        k.role === 'opaque-server'
          ? { ...k, key: decodeArtifact(bundleAt(3).artifact).keys.find((j) => j.role === 'opaque-server')!.key }
          : k,
      ),
    });
    expectCode(() => validatePinned(pins, swapped), 'KeyNotPinned');
  });
});

describe('a client on the deployed fleets, through a rotation', () => {
  test(
    'register on fleet-1; at the rotation the record moves to fleet-2 on the next recovery; ' +
      'after the retirement fleet-2 serves it',
    async () => {
      const rng = seededRng('rotation');
      const vaults = F.d.fleets.map((f) => {
        const r = f.replicas[1]!; // any replica holds the fleet keys
        return createSingleReplicaVault(r.hsm, rng, () => START, { suite: SUITE, labels: r.labels }).vault;
      });
      const client = (ctx: ClientContext | undefined, fleet: number) =>
        new BkvClient(
          ctx!,
          directRelay((f) => vaults[fleet]!.deliver(f)),
          rng,
        );
      const user = utf8('bob');
      const pw = utf8('hunter2 but longer');
      const K = generateBackupKey(rng);
      let state = INITIAL_CLIENT_FLEET_STATE;
      const v1 = validateFleetInfo(infoAt(1), F.trust, state, nowFor(bundleAt(1)));
      state = v1.state;
      expect((await client(v1.context, 0).register(user, pw, K)).ok).toBe(true);
      const v2 = validateFleetInfo(infoAt(2, 1), F.trust, state, nowFor(bundleAt(2)));
      state = v2.state;
      // the new fleet does not have the record yet: a wrong-looking answer, and no guess spent there
      expect((await client(v2.context, 1).recover(user, pw)).ok).toBe(false);
      const moved = await moveRecordOnRecovery(client(v2.retiring, 0), client(v2.context, 1), user, pw);
      expect(moved.ok && toHex(moved.value)).toBe(toHex(K));
      const v3 = validateFleetInfo(infoAt(3, 2), F.trust, state, nowFor(bundleAt(3)));
      expect(v3.retiring).toBeUndefined();
      const r = await client(v3.context, 1).recover(user, pw);
      expect(r.ok && toHex(r.value)).toBe(toHex(K));
      // a wrong password on the retiring fleet moves nothing
      const none = await moveRecordOnRecovery(client(v2.retiring, 0), client(v2.context, 1), utf8('carol'), pw);
      expect(none.ok).toBe(false);
    },
  );

  test('createArtifact carries the retiring keys of the previous fleet only when asked', () => {
    const e = F.d.fleets[1]!.evidence;
    const plain = createArtifact(e, { issuedAt: 1, channelProtocol: 'Noise_NK_25519_AESGCM_SHA256' });
    const rotating = createArtifact(e, {
      issuedAt: 1,
      channelProtocol: 'Noise_NK_25519_AESGCM_SHA256',
      retiring: F.d.artifacts[0]!,
    });
    expect(rotating.keys.length - plain.keys.length).toBe(2);
    expect(decodeArtifact(encodeArtifact(rotating))).toEqual(rotating);
  });
});

describe('the audit (spec ch. 8)', () => {
  /** A record of `artifacts` published on a fresh log with the fixture's witness and operator keys. */
  function recordOf(
    artifacts: readonly FleetArtifact[],
    evidence: readonly DeploymentEvidence[] = F.d.record.evidence,
  ): DeploymentRecord {
    let t = START;
    const texts = artifacts.map((a) => encodeArtifact({ ...a, issuedAt: START }));
    const root = formatRoot(1, toHex(sha256(utf8(texts[0]!))));
    const log = new WitnessLog(NAMESPACE, F.witness, () => (t += 1000), { root });
    const bundles = texts.map((text) => publishArtifact(text, log, F.d.operator));
    const heads = log.getHeads();
    return {
      roots: F.d.record.roots,
      log: {
        namespace: NAMESPACE,
        ciphersuite: log.rules.ciphersuite,
        root: log.rules.root!,
        entries: log.getStatements().map((s) => toHex(encodeStatement(s))),
        heads: heads.map((treeHead, i) => ({
          treeHead,
          consistencyProof: i === 0 ? [] : log.getConsistencyProof(i, i + 1),
        })),
      },
      bundles: bundles.map((b) => serveFleetInfo(log, b, { treeSize: b.report!.epoch })),
      evidence,
    };
  }
  function expectAuditFails(record: DeploymentRecord, code: ErrorCode, file: string): void {
    try {
      auditDeployment(encodeDeploymentFiles(record));
    } catch (e) {
      expect(e).toBeInstanceOf(AuditError);
      expect([(e as AuditError).code, (e as AuditError).file]).toEqual([code, file]);
      return;
    }
    throw new Error('the audit passed');
  }
  const a1 = () => F.d.artifacts[0]!;
  const a2 = () => F.d.artifacts[1]!;
  const a3 = () => F.d.artifacts[2]!;

  test('the deployment audits, and so does the same history republished', () => {
    const report = auditDeployment(encodeDeploymentFiles(F.d.record));
    expect(report.epochs.map((e) => [e.epoch, e.fleetId])).toEqual([
      [1, 'fleet-1'],
      [2, 'fleet-2'],
      [3, 'fleet-2'],
    ]);
    expect(report.fleets.map((f) => f.epochs)).toEqual([[1], [2, 3]]);
    expect(() => auditDeployment(encodeDeploymentFiles(recordOf([a1(), a2(), a3()])))).not.toThrow();
  });

  test('an equivocating log (a second signed head of size 1, with another root) is LogEquivocation', () => {
    const fork = new WitnessLog(NAMESPACE, F.witness, () => START);
    fork.submit(1, toHex(sha256(utf8('fork'))));
    const r = F.d.record;
    const heads = [r.log.heads[0]!, { treeHead: fork.getHead(1), consistencyProof: [] }, ...r.log.heads.slice(1)];
    expectAuditFails({ ...r, log: { ...r.log, heads } }, 'LogEquivocation', 'log.json');
  });

  test(
    'a validly published key that no attested fleet holds ' + 'is EvidenceInvalid (the client alone would accept it)',
    () => {
      const attacker = MemoryHsm.create('attacker', seededRng('audit attacker')).generateKey('c', 'x25519').publicKey!;
      const a = a3();
      const swapped = {
        ...a,
        keys: a.keys.map((k) =>
          k.role === 'channel' ? { ...k, key: { kind: 'x25519' as const, publicKey: toHex(attacker) } } : k,
        ),
      };
      const record = recordOf([a1(), a2(), swapped]);
      expect(() =>
        validateBundle(record.bundles[2]!.bundle, F.trust, INITIAL_CLIENT_FLEET_STATE, START + 3000),
      ).not.toThrow();
      expectAuditFails(record, 'EvidenceInvalid', 'bundles/epoch-0003.json');
    },
  );

  test('a fleet published without evidence, or evidence of a fleet never published, is EvidenceInvalid', () => {
    expectAuditFails(
      recordOf([a1(), a2(), a3()], [F.d.record.evidence[0]!]),
      'EvidenceInvalid',
      'bundles/epoch-0002.json',
    );
    expectAuditFails(recordOf([a1()]), 'EvidenceInvalid', 'evidence/fleet-2.json');
  });

  test('retiring keys of a fleet that was never active before are EvidenceInvalid', () => {
    expectAuditFails(recordOf([a2(), a3()], [F.d.record.evidence[1]!]), 'EvidenceInvalid', 'bundles/epoch-0001.json');
  });
});
