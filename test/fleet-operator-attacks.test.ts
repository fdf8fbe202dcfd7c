/**
 * The malicious-operator catalog (issue 22, spec ch. 7 §7.9 and ch. 8): an operator that runs the
 * ceremony, the hosts and the publication, but holds neither the HSM vendor's key nor the
 * witness's. Each attack is built here, by wrapping an HSM (`hsmView`) or replacing a step of the
 * deployment (the artifacts it publishes, the directory it hands to auditors); nothing in src/
 * branches on it. Each test first shows the honest deployment accepted, then the attack refused
 * with its reason.
 *
 * Before issue 22 (main at 6ee2d9d), every one of these passed `bkv audit` and client validation.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { type Bytes, toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import { type ErrorCode, isVaultError } from '../src/errors.ts';
import { HSM_OPERATIONS, type Hsm, hsmView } from '../src/hsm/hsm.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { exportTreeHead, validateFleetInfo, INITIAL_CLIENT_FLEET_STATE } from '../src/client/bundle.ts';
import {
  type FleetArtifact,
  createArtifact,
  encodeArtifact,
  verifyArtifactAttestations,
} from '../src/fleet/artifact.ts';
import { AuditError, auditDeployment } from '../src/fleet/audit.ts';
import { deployFleet } from '../src/fleet/ceremony.ts';
import { type DeploymentEvidence, verifyDeploymentEvidence } from '../src/fleet/evidence.ts';
import { type Deployment, type DeploymentRecord, runDeployment } from '../src/fleet/deployment.ts';
import { encodeDeploymentFiles } from '../src/fleet/files.ts';
import { serveFleetInfo } from '../src/fleet/fleet-info.ts';
import { WitnessLog } from '../src/fleet/log.ts';
import { publishArtifact } from '../src/fleet/operator.ts';
import { encodeStatement, formatRoot } from '../src/fleet/statement.ts';
import { NOISE_NK_25519_AESGCM_SHA256 } from '../src/crypto/noise.ts';
import { createSingleReplicaVault } from '../src/vault/setup.ts';

const NAMESPACE = 'bkv.test.operator';
const START = Date.UTC(2026, 0, 1);
const SUITE = getSuite('ristretto255-SHA512');
const CHANNEL = NOISE_NK_25519_AESGCM_SHA256.protocolName;

/** The refusal: its code and a reason matching `reason`. */
function expectRefused(f: () => unknown, code: ErrorCode, reason: RegExp): void {
  try {
    f();
  } catch (e) {
    if (!isVaultError(e)) throw e;
    expect(e.code, e.message).toBe(code);
    expect(e.message).toMatch(reason);
    return;
  }
  throw new Error(`expected VaultError(${code}), but it was accepted`);
}

/**
 * A deployment (memory HSMs) whose replica HSMs the operator may wrap: `tamper(fleetId, index,
 * hsm)` returns the HSM the ceremony will use.
 */
function deploy(
  seed: string,
  o: { tamper?: (fleetId: string, i: number, hsm: Hsm) => Hsm; transport?: 'wrap-seed'; namespace?: string } = {},
): Deployment {
  const rng = seededRng(seed);
  const namespace = o.namespace ?? NAMESPACE;
  return runDeployment({
    namespace,
    suite: SUITE,
    replicas: 3,
    fleets: 2,
    openReplica: (fleetId, i) => {
      const hsm = MemoryHsm.create(`${fleetId}-r${i}`, rng);
      return { hsm: o.tamper?.(fleetId, i, hsm) ?? hsm, prefix: `t/${fleetId}/r${i}` };
    },
    operator: { hsm: MemoryHsm.create('operator', rng), label: 't/operator' },
    vendorHsm: MemoryHsm.create('vendor', rng),
    witnessHsm: MemoryHsm.create('witness', rng),
    rng,
    startTime: START,
    ...(o.transport !== undefined && { transport: o.transport }),
  });
}

let honest: Deployment;
const rootOf = (d: Deployment) => d.vendor.rootKey;
beforeAll(() => {
  honest = deploy('operator-attacks');
});

/** The genesis replica's HSM of fleet-1, with `generateKey` replaced. */
const genesisOfFleet1 =
  (generateKey: (inner: Hsm) => Hsm['generateKey']): ((fleetId: string, i: number, hsm: Hsm) => Hsm) =>
  (fleetId, i, hsm) =>
    fleetId === 'fleet-1' && i === 0 ? hsmView(hsm, { generateKey: generateKey(hsm) }) : hsm;

const ATTACKER_SECRET = new Uint8Array(32).fill(7);
const ATTACKER_KEY: Bytes = x25519.getPublicKey(ATTACKER_SECRET);

describe('unattested-wrap: every fleet secret wrapped to a key of the operator', () => {
  test('the honest evidence verifies: each secret carries an export policy naming the transport keys', () => {
    const e = honest.record.evidence[0]!;
    const { transcript } = verifyDeploymentEvidence(e, rootOf(honest));
    expect(transcript.length).toBeGreaterThan(0);
    const generated = e.events.filter((s) => s.body.event === 'key' && s.body.label.includes('/genesis-'));
    for (const s of generated) expect(s.body.event === 'key' && s.body.attributes.wrapTo?.length).toBe(3);
  });

  test("a wrap to the operator's key, right after generation, is refused by the genesis HSM", () => {
    const rng = seededRng('side-wrap');
    const sideWrap =
      (inner: Hsm): Hsm['generateKey'] =>
      (label, kind, options) => {
        const info = inner.generateKey(label, kind, options);
        if (options?.wrappable === true) inner.wrapKey(label, ATTACKER_KEY, rng);
        return info;
      };
    expectRefused(() => deploy('operator-attacks', { tamper: genesisOfFleet1(sideWrap) }), 'HsmError', /export policy/);
  });

  test("a secret generated with the operator's key in its export policy: the evidence is refused", () => {
    const widen =
      (inner: Hsm): Hsm['generateKey'] =>
      (label, kind, options) =>
        inner.generateKey(
          label,
          kind,
          options?.wrapTo ? { ...options, wrapTo: [...options.wrapTo, ATTACKER_KEY] } : options,
        );
    const d = deploy('operator-attacks', { tamper: genesisOfFleet1(widen) });
    expectRefused(
      () => verifyDeploymentEvidence(d.record.evidence[0]!, rootOf(d)),
      'EvidenceInvalid',
      /export policy names [0-9a-f]{16}…, which is no attested transport key/,
    );
    expectRefused(() => auditDeployment(encodeDeploymentFiles(d.record)), 'EvidenceInvalid', /export policy/);
  });

  test('a secret generated without an export policy (any recipient): the evidence is refused', () => {
    const drop =
      (inner: Hsm): Hsm['generateKey'] =>
      (label, kind, options) =>
        inner.generateKey(label, kind, options?.wrappable ? { wrappable: true } : options);
    const d = deploy('operator-attacks', { tamper: genesisOfFleet1(drop) });
    expectRefused(
      () => verifyDeploymentEvidence(d.record.evidence[0]!, rootOf(d)),
      'EvidenceInvalid',
      /has no export policy/,
    );
  });

  test('an extra wrap the evidence does not show (to a key the policy names) is counted by the HSM', () => {
    const rng = seededRng('extra-wrap');
    const extra = (fleetId: string, i: number, hsm: Hsm): Hsm => {
      if (fleetId !== 'fleet-1' || i !== 0) return hsm;
      let done = false;
      return hsmView(hsm, {
        wrapKey: (label, recipient, r) => {
          if (!done) {
            done = true;
            hsm.wrapKey(label, recipient, rng); // off the record
          }
          return hsm.wrapKey(label, recipient, r);
        },
      });
    };
    const d = deploy('operator-attacks', { tamper: extra });
    expectRefused(
      () => verifyDeploymentEvidence(d.record.evidence[0]!, rootOf(d)),
      'EvidenceInvalid',
      /wrapped oprf-seed 4 times, the evidence shows 3 wraps/,
    );
  });
});

describe("host-held fleet keys: keys derived on the host, or of the operator's choosing, imported", () => {
  test('wrap-seed (keys derived on the host and imported) is refused by the audit and by the client', () => {
    const d = deploy('operator-attacks', { transport: 'wrap-seed' });
    const reason = /was imported from bytes the host supplied: the key has been in host memory/;
    expectRefused(() => verifyDeploymentEvidence(d.record.evidence[0]!, rootOf(d)), 'EvidenceInvalid', reason);
    expectRefused(() => auditDeployment(encodeDeploymentFiles(d.record)), 'EvidenceInvalid', reason);
    expectRefused(() => verifyArtifactAttestations(d.artifacts[0]!, rootOf(d)), 'EvidenceInvalid', reason);
  });

  test("the operator's own channel key imported in place of the derived one is refused the same way", () => {
    const own = (fleetId: string, _i: number, hsm: Hsm): Hsm =>
      fleetId !== 'fleet-2'
        ? hsm
        : hsmView(hsm, {
            importKey: (label, kind, secret, options) =>
              hsm.importKey(label, kind, label.endsWith('/channel') ? ATTACKER_SECRET : secret, options),
          });
    const d = deploy('operator-attacks', { transport: 'wrap-seed', tamper: own });
    expectRefused(
      () => verifyDeploymentEvidence(d.record.evidence[1]!, rootOf(d)),
      'EvidenceInvalid',
      /channel key .* was imported/,
    );
  });
});

/** `artifacts` published on a fresh log with `d`'s witness and operator keys, in order. */
function republish(
  d: Deployment,
  artifacts: readonly FleetArtifact[],
  evidence: readonly DeploymentEvidence[],
): { record: DeploymentRecord; log: WitnessLog } {
  let t = START;
  const texts = artifacts.map((a, i) => encodeArtifact({ ...a, issuedAt: START + i }));
  const root = formatRoot(1, toHex(sha256(utf8(texts[0]!))));
  const log = new WitnessLog(d.record.roots.namespace, d.witness, () => (t += 1000), { root });
  const bundles = texts.map((text) => publishArtifact(text, log, d.operator));
  const record: DeploymentRecord = {
    roots: d.record.roots,
    log: {
      namespace: log.namespace,
      ciphersuite: log.rules.ciphersuite,
      root: log.rules.root!,
      entries: log.getStatements().map((s) => toHex(encodeStatement(s))),
      heads: log
        .getHeads()
        .map((treeHead, i) => ({ treeHead, consistencyProof: i === 0 ? [] : log.getConsistencyProof(i, i + 1) })),
    },
    bundles: bundles.map((b) => serveFleetInfo(log, b, { treeSize: b.report!.epoch })),
    evidence,
  };
  return { record, log };
}

/** A third fleet, deployed by `d`'s operator with `d`'s vendor. */
function thirdFleet(d: Deployment, suite = SUITE, namespace = NAMESPACE): DeploymentEvidence {
  const rng = seededRng('third');
  const replicas = [0, 1, 2].map((i) => ({
    id: `r${i}`,
    hsm: MemoryHsm.create(`fleet-3-r${i}`, rng),
    prefix: `t/fleet-3/r${i}`,
  }));
  return deployFleet({ namespace, fleetId: 'fleet-3', suite, replicas, vendor: d.vendor, rng }).evidence;
}

describe("truncated-log: the directory handed to auditors stops before the witness's head", () => {
  test("refused once the audit is anchored to the witness's head (a client's exported head will do)", () => {
    const [a1, a2, a3] = honest.artifacts;
    const fleet3 = thirdFleet(honest);
    const a4 = createArtifact(fleet3, { issuedAt: START, channelProtocol: CHANNEL, retiring: a3! });
    const evidence = [...honest.record.evidence, fleet3];
    const { record: full, log } = republish(honest, [a1!, a2!, a3!, a4], evidence);
    // what the operator hands to auditors: epochs 1..3 only, as published (the witness signed epoch 4)
    const cut: DeploymentRecord = {
      ...full,
      log: { ...full.log, entries: full.log.entries.slice(0, 3), heads: full.log.heads.slice(0, 3) },
      bundles: full.bundles.slice(0, 3),
      evidence: honest.record.evidence,
    };
    expect(auditDeployment(encodeDeploymentFiles(cut)).epochs).toHaveLength(3); // what it got before
    // a client that accepted epoch 4 exports the head it has seen
    const trust = {
      namespace: NAMESPACE,
      witnessKey: honest.witness.publicKey,
      operatorKey: honest.operator.publicKey,
    };
    let state = INITIAL_CLIENT_FLEET_STATE;
    full.bundles.forEach((served, i) => {
      const info = serveFleetInfo(log, served.bundle, { treeSize: i + 1, ...(i > 0 && { knownTreeSize: i }) });
      state = validateFleetInfo(info, trust, state, served.bundle.report!.timestamp + 1).state;
    });
    const head = { file: 'head.json', text: exportTreeHead(state) };
    expect(auditDeployment(encodeDeploymentFiles(full), undefined, head).anchor?.treeSize).toBe(4);
    expect(log.size).toBe(4);
    try {
      auditDeployment(encodeDeploymentFiles(cut), undefined, head);
      throw new Error('the truncated directory passed');
    } catch (e) {
      expect(e).toBeInstanceOf(AuditError);
      expect([(e as AuditError).code, (e as AuditError).file]).toEqual(['LogInconsistent', 'head.json']);
      expect((e as AuditError).reason).toMatch(/the directory stops at 3: epochs 4\.\.4 were withheld/);
    }
  });

  test('a head not signed by the pinned witness is refused', () => {
    const head = honest.record.log.heads.at(-1)!.treeHead;
    const d = { file: 'head.json', text: JSON.stringify({ ...head, body: { ...head.body, treeSize: 9 } }) };
    expectRefused(
      () => auditDeployment(encodeDeploymentFiles(honest.record), undefined, d),
      'WitnessSignatureInvalid',
      /not signed/,
    );
  });
});

describe('succession: retirement is final, retiring keys come from the fleet just before, the suite is kept', () => {
  test('the honest history republished audits', () => {
    const { record } = republish(honest, honest.artifacts, honest.record.evidence);
    expect(auditDeployment(encodeDeploymentFiles(record)).epochs).toHaveLength(3);
  });

  test('retired-fleet-returns: fleet-1 published again after its retirement', () => {
    const [a1, a2, a3] = honest.artifacts;
    const { record } = republish(honest, [a1!, a2!, a3!, a1!], honest.record.evidence);
    expectRefused(
      () => auditDeployment(encodeDeploymentFiles(record)),
      'EvidenceInvalid',
      /fleet-1 was retired at epoch 3: retirement is final/,
    );
  });

  test('stale-retiring-keys: fleet-3 carries the retiring keys of fleet-1, two rotations back', () => {
    const [a1, a2, a3] = honest.artifacts;
    const fleet3 = thirdFleet(honest);
    const a4 = createArtifact(fleet3, { issuedAt: START, channelProtocol: CHANNEL, retiring: a1! });
    const { record } = republish(honest, [a1!, a2!, a3!, a4], [...honest.record.evidence, fleet3]);
    expectRefused(
      () => auditDeployment(encodeDeploymentFiles(record)),
      'EvidenceInvalid',
      /retiring-\S+ of fleet-1, which was retired at epoch 3/,
    );
    // and while fleet-1 is still live (no retirement epoch), only fleet-1 itself may retire into fleet-2
    const skip = createArtifact(fleet3, { issuedAt: START, channelProtocol: CHANNEL, retiring: a1! });
    const { record: r2 } = republish(honest, [a1!, a2!, skip], [...honest.record.evidence, fleet3]);
    expectRefused(
      () => auditDeployment(encodeDeploymentFiles(r2)),
      'EvidenceInvalid',
      /retiring keys come only from the fleet just before fleet-3 \(fleet-2\)/,
    );
  });

  test('suite-change: a rotation to a fleet of another suite', () => {
    const [a1] = honest.artifacts;
    const fleet3 = thirdFleet(honest, getSuite('P256-SHA256'));
    // (with retiring keys, the artifact itself is malformed: they would have the old suite's kinds)
    const a2 = createArtifact(fleet3, { issuedAt: START, channelProtocol: CHANNEL });
    const { record } = republish(honest, [a1!, a2], [honest.record.evidence[0]!, fleet3]);
    expectRefused(
      () => auditDeployment(encodeDeploymentFiles(record)),
      'EvidenceInvalid',
      /the suite changes from ristretto255-SHA512 to P256-SHA256/,
    );
  });
});

describe('foreign-namespace evidence: a fleet deployed for one namespace published in another', () => {
  test('the statements name their namespace; the unsigned field alone no longer decides', () => {
    const foreign = deploy('operator-attacks', { namespace: 'bkv.test.elsewhere' });
    const e = { ...foreign.record.evidence[0]!, namespace: NAMESPACE };
    expectRefused(
      () => verifyDeploymentEvidence(e, rootOf(foreign)),
      'NamespaceMismatch',
      /attested for namespace "bkv.test.elsewhere"/,
    );
    const a = createArtifact(e, { issuedAt: START, channelProtocol: CHANNEL });
    expectRefused(() => verifyArtifactAttestations(a, rootOf(foreign)), 'NamespaceMismatch', /bkv.test.elsewhere/);
  });
});

describe('the HSM boundary (spec ch. 4 §4.5)', () => {
  /** Every value reachable from `root` (objects, maps, arrays), with the path to it. */
  function* reachable(root: unknown, path = 'vault', seen = new Set<unknown>()): Generator<[string, unknown]> {
    if (root === null || (typeof root !== 'object' && typeof root !== 'function') || seen.has(root)) return;
    seen.add(root);
    yield [path, root];
    if (root instanceof Uint8Array) return;
    const entries: [string, unknown][] =
      root instanceof Map ? [...root.entries()].map(([k, v]) => [String(k), v]) : Object.entries(root as object);
    for (const [k, v] of entries) yield* reachable(v, `${path}.${k}`, seen);
  }

  test('what a replica exposes to its host offers no raw key operation', () => {
    const rng = seededRng('boundary');
    const r = honest.fleets[1]!.replicas[0]!;
    const { vault } = createSingleReplicaVault(r.hsm, rng, () => START, { suite: SUITE, labels: r.labels });
    const surface = [...Object.getOwnPropertyNames(Object.getPrototypeOf(vault)), ...Object.keys(vault)].filter(
      (n) => n !== 'constructor',
    );
    expect(surface.sort()).toEqual(['deliver', 'expireSessions', 'node', 'state']);
    const ops: readonly string[] = HSM_OPERATIONS;
    for (const root of [vault.node, vault.state]) {
      for (const [path, v] of reachable(root)) {
        const names = typeof v === 'object' && v !== null ? Object.keys(v) : [];
        expect(
          names.filter((n) => ops.includes(n) && n !== 'close'),
          path,
        ).toEqual([]);
      }
    }
  });
});
