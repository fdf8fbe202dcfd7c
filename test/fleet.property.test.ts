/**
 * Properties of the fleet's verifiers (spec ch. 7 and 8), with fast-check:
 *   - any valid deployment (random seed, replica count, suite, number of fleets; key transport
 *     wrap-keys) audits, and a client accepts its epochs in order; with wrap-seed (fleet keys
 *     derived on the host and imported) the audit refuses every one;
 *   - any single random tampering of any file of a deployment directory (a value changed, a member
 *     or element removed, an element duplicated, a member added) fails the audit; of a bundle, fails
 *     the client's validation (INV-13);
 *   - inclusion and consistency proofs of the witness log verify for every tree size and index up
 *     to 40, and random larger ones; any altered proof fails;
 *   - a log monitor fed heads from two forks of the log never accepts both (INV-14).
 * Each property is also run against a deliberately broken verifier, and must catch it.
 *
 * Runs: BKV_RUNS=N multiplies the default number of runs (deeper runs), BKV_SEED fixes the seed;
 * the seed of every run is printed.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite, type SuiteId } from '../src/crypto/suite.ts';
import { isVaultError } from '../src/errors.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import {
  type BundleTrust,
  INITIAL_CLIENT_FLEET_STATE,
  validateBundle,
  validateFleetInfo,
} from '../src/client/bundle.ts';
import { AuditError, auditDeployment } from '../src/fleet/audit.ts';
import { type Bundle, decodeBundle } from '../src/fleet/bundle.ts';
import type { WitnessStatement } from '../src/fleet/statement.ts';
import { type KeyTransport } from '../src/fleet/evidence.ts';
import { type Deployment, runDeployment } from '../src/fleet/deployment.ts';
import { encodeDeploymentFiles } from '../src/fleet/files.ts';
import { serveFleetInfo } from '../src/fleet/fleet-info.ts';
import {
  type SignedTreeHead,
  type TreeHeadBody,
  LogMonitor,
  WitnessLog,
  checkTreeHeadAgainst,
  computeStatementLeafHash,
  verifyStatementInclusion,
  verifyTreeHead,
} from '../src/fleet/log.ts';
import { computeNodeHash, verifyInclusion } from '../src/fleet/merkle.ts';
import { hsmSigner } from '../src/fleet/signing.ts';

const SCALE = Number(process.env.BKV_RUNS ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const SEED =
  process.env.BKV_SEED !== undefined ? Number(process.env.BKV_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
console.log(`[fleet.property] fast-check seed ${SEED} (replay: BKV_SEED=${SEED})`);
const params = (numRuns: number) => ({ seed: SEED, numRuns: runs(numRuns) });

const NAMESPACE = 'bkv.test.property';
const START = Date.UTC(2026, 0, 1);

function deploy(
  seed: string,
  o: { replicas: number; fleets: number; transport: KeyTransport; suite: SuiteId },
): Deployment {
  const rng = seededRng(seed);
  return runDeployment({
    namespace: NAMESPACE,
    suite: getSuite(o.suite),
    replicas: o.replicas,
    fleets: o.fleets,
    transport: o.transport,
    openReplica: (fleetId, i) => ({ hsm: MemoryHsm.create(`${fleetId}-r${i}`, rng), prefix: `p/${fleetId}/r${i}` }),
    operator: { hsm: MemoryHsm.create('operator', rng), label: 'p/operator' },
    vendorHsm: MemoryHsm.create('vendor', rng),
    witnessHsm: MemoryHsm.create('witness', rng),
    rng,
    startTime: START,
    rotationAfterMs: 7 * 24 * 3600 * 1000,
    migrationWindowMs: 24 * 3600 * 1000,
  });
}

const trustOf = (d: Deployment): BundleTrust => ({
  namespace: NAMESPACE,
  witnessKey: d.log.publicKey,
  operatorKey: d.operator.publicKey,
  vendorRoot: d.vendor.rootKey,
});

type InclusionCheck = (s: WitnessStatement, proof: readonly string[], head: TreeHeadBody) => void;
/** A broken verifier: RFC 9162 §2.1.3.2 run with the epoch as the leaf index (it is epoch - 1). */
const offByOne: InclusionCheck = (s, proof, head) =>
  verifyInclusion(computeStatementLeafHash(s), s.epoch, head.treeSize, proof.map(fromHex), fromHex(head.rootHash));

// ---------------------------------------------------------------------------------------------
// Tampering with JSON: one random change at one random place
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

/** Every path to a node below the root, in document order. */
function nodePaths(x: Json, path: Path = []): Path[] {
  if (x === null || typeof x !== 'object') return [];
  const children: [string | number, Json][] = Array.isArray(x) ? x.map((v, i) => [i, v]) : Object.entries(x);
  return children.flatMap(([k, v]) => [[...path, k], ...nodePaths(v, [...path, k])]);
}

const ALPHABET = '0123456789abcdefz';

interface Tamper {
  readonly at: number; // which node (modulo the count)
  readonly op: 'change' | 'remove' | 'duplicate' | 'add';
  readonly pick: number; // which character / which replacement
}

const tamperArb: fc.Arbitrary<Tamper> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('change', 'change', 'change', 'remove', 'duplicate', 'add'),
  pick: fc.nat(),
});

/**
 * Applies `t` to a deep copy of `doc`; always returns a document that means something else. (The
 * auditor report's `serialized_message` is optional: removing it says nothing new, so that removal
 * becomes a change.)
 */
function tamper(doc: Json, t0: Tamper): { doc: Json; where: string } {
  const copy = structuredClone(doc);
  const paths = nodePaths(copy);
  const path = paths[t0.at % paths.length]!;
  const t: Tamper = path.at(-1) === 'serialized_message' && t0.op === 'remove' ? { ...t0, op: 'change' } : t0;
  const parent = path.slice(0, -1).reduce<Json>((n, k) => (n as Record<string, Json>)[k as string]!, copy) as
    | Record<string | number, Json>
    | Json[];
  const key = path.at(-1)!;
  const value = (parent as Record<string | number, Json>)[key]!;
  const where = `${t.op} ${path.join('.')}`;
  const change = (v: Json): Json => {
    if (typeof v === 'string') {
      if (v.length === 0) return 'z';
      const i = t.pick % v.length;
      const alternatives = ALPHABET.replace(v[i]!, '');
      return v.slice(0, i) + alternatives[t.pick % alternatives.length] + v.slice(i + 1);
    }
    if (typeof v === 'number') return t.pick % 2 === 0 || v === 0 ? v + 1 : v - 1;
    if (typeof v === 'boolean') return !v;
    if (v === null) return 0;
    return Array.isArray(v) ? [...v, 'z'] : { ...v, extra: 1 };
  };
  switch (t.op) {
    case 'change':
      (parent as Record<string | number, Json>)[key] = change(value);
      break;
    case 'remove':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Record<string, Json>)[key];
      break;
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(value));
      else (parent as Record<string, Json>)[key] = change(value);
      break;
    case 'add':
      if (Array.isArray(parent)) parent.push(structuredClone(value));
      else (parent as Record<string, Json>)[`${key}_`] = structuredClone(value);
      break;
  }
  return { doc: copy, where };
}

// ---------------------------------------------------------------------------------------------

describe('deployments and the audit', () => {
  const shape = fc.record({
    seed: fc.string({ minLength: 1, maxLength: 8 }),
    replicas: fc.integer({ min: 1, max: 4 }),
    fleets: fc.integer({ min: 1, max: 3 }),
    transport: fc.constant<KeyTransport>('wrap-keys'),
    suite: fc.constantFrom<SuiteId>('ristretto255-SHA512', 'ristretto255-SHA512+Curve25519', 'P256-SHA256'),
  });

  /** The property: any valid deployment audits, and a client (with `verifyInclusion`) accepts every epoch in order. */
  const validDeploymentsVerify = (inclusion: InclusionCheck) =>
    fc.property(shape, (s) => {
      const d = deploy(s.seed, s);
      const report = auditDeployment(encodeDeploymentFiles(d.record));
      expect(report.epochs.length).toBe(2 * s.fleets - 1);
      let state = INITIAL_CLIENT_FLEET_STATE;
      for (const b of d.bundles) {
        const { epoch, timestamp } = b.report!;
        const known = state.treeHead && { knownTreeSize: state.treeHead.body.treeSize };
        const info = serveFleetInfo(d.log, b, { treeSize: epoch, ...known });
        state = validateFleetInfo(info, trustOf(d), state, timestamp).state;
        inclusion(d.log.getStatements()[epoch - 1]!, info.inclusionProof, info.treeHead.body);
      }
      expect(state.highestEpoch).toBe(d.bundles.length);
    });

  test('any valid deployment audits, and a client accepts every epoch in order', () => {
    fc.assert(validDeploymentsVerify(verifyStatementInclusion), params(6));
  });

  test('any wrap-seed deployment (fleet keys imported from host memory) is refused by the audit', () => {
    fc.assert(
      fc.property(shape, (s) => {
        const d = deploy(s.seed, { ...s, transport: 'wrap-seed' });
        expect(() => auditDeployment(encodeDeploymentFiles(d.record))).toThrow(/imported from bytes the host supplied/);
      }),
      params(3),
    );
  });

  test('the property catches a broken verifier that refuses valid proofs (leaf index off by one)', () => {
    expect(fc.check(validDeploymentsVerify(offByOne), { seed: SEED, numRuns: 10, endOnFailure: true }).failed).toBe(
      true,
    );
  });

  const fixture = deploy('tamper-fixture', {
    replicas: 2,
    fleets: 2,
    transport: 'wrap-keys',
    suite: 'ristretto255-SHA512',
  });
  const pristine = encodeDeploymentFiles(fixture.record);
  const names = [...pristine.keys()];

  /** The property: any one tampering of any one file fails `audit`. */
  const tamperedFilesNeverAudit = (audit: (files: ReadonlyMap<string, string>) => unknown) =>
    fc.property(fc.nat(), tamperArb, (which, t) => {
      const name = names[which % names.length]!;
      const { doc, where } = tamper(JSON.parse(pristine.get(name)!) as Json, t);
      const files = new Map(pristine);
      files.set(name, JSON.stringify(doc, null, 2));
      try {
        audit(files);
      } catch (e) {
        if (e instanceof AuditError) return true;
        throw e;
      }
      throw new Error(`audit passed with ${name} tampered (${where})`);
    });

  test('the untouched fixture audits', () => {
    expect(auditDeployment(pristine).epochs.length).toBe(3);
  });

  test('any random tampering of any file (log, bundles, evidence, roots) fails the audit', () => {
    fc.assert(tamperedFilesNeverAudit(auditDeployment), params(80));
  });

  test('the property catches a broken auditor that does not read the evidence files', () => {
    const ignoresEvidence = (files: ReadonlyMap<string, string>) =>
      auditDeployment(new Map([...files].map(([k, v]) => [k, k.startsWith('evidence/') ? pristine.get(k)! : v])));
    const r = fc.check(tamperedFilesNeverAudit(ignoresEvidence), { seed: SEED, numRuns: 500, endOnFailure: true });
    expect(r.failed).toBe(true);
  });
});

describe('bundles and the client (INV-13)', () => {
  const d = deploy('bundle-fixture', { replicas: 2, fleets: 1, transport: 'wrap-keys', suite: 'ristretto255-SHA512' });
  const bundle = d.bundles[0]!;
  const at = bundle.report!.timestamp;
  const trust = trustOf(d);

  /** The client's pipeline from the wire: decode, then validate. */
  const tamperedBundlesNeverValidate = (validate: (b: Bundle) => unknown) =>
    fc.property(tamperArb, (t) => {
      const { doc, where } = tamper(bundle as unknown as Json, t);
      try {
        validate(decodeBundle(doc));
      } catch (e) {
        if (isVaultError(e)) return true;
        throw e;
      }
      throw new Error(`a bundle with ${where} was accepted`);
    });

  test('the genuine bundle validates', () => {
    expect(validateBundle(bundle, trust, INITIAL_CLIENT_FLEET_STATE, at).epoch).toBe(1);
  });

  test('any random tampering of a bundle is refused', () => {
    fc.assert(
      tamperedBundlesNeverValidate((b) => validateBundle(b, trust, INITIAL_CLIENT_FLEET_STATE, at)),
      params(150),
    );
  });

  test('the property catches a broken client that does not check the operator counter-signature', () => {
    const counter = bundle.operatorCounterSignature!;
    const skipsCounterSignature = (b: Bundle) =>
      validateBundle({ ...b, operatorCounterSignature: counter }, trust, INITIAL_CLIENT_FLEET_STATE, at);
    expect(
      fc.check(tamperedBundlesNeverValidate(skipsCounterSignature), { seed: SEED, numRuns: 1000, endOnFailure: true })
        .failed,
    ).toBe(true);
  });
});

describe('witness log proofs (RFC 9162) through the fleet API', () => {
  const MAX = 40;
  const witness = hsmSigner(MemoryHsm.create('witness', seededRng('proofs')), 'w');
  const log = new WitnessLog(NAMESPACE, witness, () => START);
  for (let e = 1; e <= 300; e++) log.submit(e, toHex(sha256(utf8(`entry ${e}`))));
  const statements = log.getStatements();
  const headAt = (n: number) => verifyTreeHead(log.getHead(n), witness.publicKey, NAMESPACE);

  /** A broken verifier: it folds the path like RFC 9162 §2.1.3.2 but never compares the result with the root. */
  const noRootCheck: InclusionCheck = (s, proof, head) => {
    let fn = s.epoch - 1;
    let sn = head.treeSize - 1;
    let r = computeStatementLeafHash(s);
    for (const p of proof) {
      if (sn === 0) throw new Error('too long');
      const pb = Uint8Array.from(Buffer.from(p, 'hex'));
      if (fn % 2 === 1 || fn === sn) {
        r = computeNodeHash(pb, r);
        while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
      } else r = computeNodeHash(r, pb);
      [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
    }
  };

  test(`inclusion of every leaf in every tree up to size ${MAX}, and consistency between every pair of sizes`, () => {
    let checked = 0;
    for (let n = 1; n <= MAX; n++) {
      for (let i = 1; i <= n; i++) {
        verifyStatementInclusion(statements[i - 1]!, log.getInclusionProof(i, n), headAt(n));
        checkTreeHeadAgainst(log.getHead(i), log.getHead(n), log.getConsistencyProof(i, n));
        checkTreeHeadAgainst(log.getHead(n), log.getHead(i), log.getConsistencyProof(i, n));
        checked++;
      }
    }
    expect(checked).toBe((MAX * (MAX + 1)) / 2);
  });

  const sizeAndIndex = fc
    .integer({ min: 1, max: 300 })
    .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n })));

  const validProofsVerify = (verify: InclusionCheck) =>
    fc.property(sizeAndIndex, ([n, e]) => {
      verify(statements[e - 1]!, log.getInclusionProof(e, n), headAt(n));
      checkTreeHeadAgainst(log.getHead(e), log.getHead(n), log.getConsistencyProof(e, n));
    });

  test('random larger trees: valid proofs verify', () => {
    fc.assert(validProofsVerify(verifyStatementInclusion), params(100));
  });

  test('the property catches a broken verifier that takes the epoch as the leaf index', () => {
    expect(fc.check(validProofsVerify(offByOne), { seed: SEED, numRuns: 100, endOnFailure: true }).failed).toBe(true);
  });

  /** Any one change (a proof element altered, removed or added; another leaf; another head) is refused. */
  const alteredProofsFail = (verify: InclusionCheck) =>
    fc.property(
      sizeAndIndex,
      fc.nat(),
      fc.constantFrom('element', 'drop', 'extra', 'leaf', 'head'),
      ([n, e], pick, how) => {
        let proof = log.getInclusionProof(e, n);
        let s = statements[e - 1]!;
        let head = headAt(n);
        if (how === 'element' && proof.length > 0)
          proof = proof.map((p, i) => (i === pick % proof.length ? toHex(sha256(utf8(p))) : p));
        else if (how === 'drop' && proof.length > 0) proof = proof.filter((_, i) => i !== pick % proof.length);
        else if (how === 'extra') proof = [...proof, toHex(sha256(utf8('extra')))];
        else if (how === 'leaf') s = { ...s, digest: toHex(sha256(utf8(s.digest))) };
        else head = { ...head, rootHash: toHex(sha256(utf8(head.rootHash))) };
        try {
          verify(s, proof, head);
        } catch (err) {
          if (err instanceof Error) return true;
        }
        return false;
      },
    );

  test('any altered inclusion proof, leaf or root is refused', () => {
    fc.assert(alteredProofsFail(verifyStatementInclusion), params(200));
  });

  test('the property catches a broken verifier that never compares with the root', () => {
    expect(fc.check(alteredProofsFail(noRootCheck), { seed: SEED, numRuns: 200, endOnFailure: true }).failed).toBe(
      true,
    );
  });
});

describe('INV-14: a log monitor never accepts two forks', () => {
  const witness = hsmSigner(MemoryHsm.create('witness', seededRng('forks')), 'w');
  /** Two logs under one witness key, equal for `common` entries, then diverging. */
  function forks(common: number, extraA: number, extraB: number) {
    const a = new WitnessLog(NAMESPACE, witness, () => START);
    const b = new WitnessLog(NAMESPACE, witness, () => START);
    for (let e = 1; e <= common; e++) for (const l of [a, b]) l.submit(e, toHex(sha256(utf8(`c${e}`))));
    for (let e = common + 1; e <= common + extraA; e++) a.submit(e, toHex(sha256(utf8(`a${e}`))));
    for (let e = common + 1; e <= common + extraB; e++) b.submit(e, toHex(sha256(utf8(`b${e}`))));
    return [a, b] as const;
  }

  interface Monitor {
    observe(head: SignedTreeHead, proof?: readonly string[]): void;
  }
  /** A broken monitor: it checks growth between different sizes, but forgets heads of a size it has seen. */
  class SizeOnlyMonitor implements Monitor {
    latest: SignedTreeHead | undefined;
    observe(head: SignedTreeHead, proof?: readonly string[]) {
      if (this.latest !== undefined && this.latest.body.treeSize !== head.body.treeSize)
        checkTreeHeadAgainst(this.latest, head, proof);
      if (this.latest === undefined || head.body.treeSize >= this.latest.body.treeSize) this.latest = head;
    }
  }

  const scenario = fc.record({
    common: fc.integer({ min: 0, max: 6 }),
    extraA: fc.integer({ min: 1, max: 4 }),
    extraB: fc.integer({ min: 1, max: 4 }),
    order: fc.array(fc.record({ fork: fc.constantFrom(0, 1), size: fc.nat() }), { minLength: 2, maxLength: 10 }),
  });

  /** Feeds heads from both forks (each with an honest proof from its own log); both forks must never be accepted. */
  const neverAcceptsBothForks = (make: () => Monitor) =>
    fc.property(scenario, ({ common, extraA, extraB, order }) => {
      const logs = forks(common, extraA, extraB);
      const m = make();
      const accepted = new Set<number>();
      let latestSize = 0;
      for (const { fork, size } of order) {
        const log = logs[fork]!;
        const n = common + 1 + (size % (log.size - common)); // a head past the fork point
        try {
          m.observe(
            log.getHead(n),
            latestSize > 0 ? log.getConsistencyProof(Math.min(latestSize, n), Math.max(latestSize, n)) : undefined,
          );
          accepted.add(fork);
          latestSize = Math.max(latestSize, n);
        } catch (e) {
          if (!isVaultError(e)) throw e;
        }
      }
      return accepted.size < 2;
    });

  test('heads past the fork point from both forks are never both accepted', () => {
    fc.assert(
      neverAcceptsBothForks(() => new LogMonitor(NAMESPACE, witness.publicKey)),
      params(100),
    );
  });

  test('the property catches a broken monitor that ignores same-size heads', () => {
    expect(
      fc.check(
        neverAcceptsBothForks(() => new SizeOnlyMonitor()),
        { seed: SEED, numRuns: 500, endOnFailure: true },
      ).failed,
    ).toBe(true);
  });
});
