/**
 * Conformance of the client's acceptance of fleet keys (spec ch. 7, ch. 10):
 * `model/bundle-machine.ts` against `validatePinned` and `validateBundle` of
 * `src/client/bundle.ts`, on real bundles: a deployed fleet's artifact published epoch by epoch
 * in a witness log, a fork of that log signed by the same witness and operator keys, and one
 * bundle per defect. After every step the client's remembered state (highest epoch, and which
 * log its bundle came from) and the outcome (accepted, or the refusal's code) must be the model's,
 * a refusal must leave the client's state as it was, and INV-13 must hold.
 */
import fc from 'fast-check';
import { initialTransition, transition } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../src/crypto/bytes.ts';
import { canonicalJson } from '../src/crypto/canonical.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import { isVaultError } from '../src/errors.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import {
  type BundleTrust,
  type ClientFleetState,
  DAY_MS,
  INITIAL_CLIENT_FLEET_STATE,
  type PinnedFleet,
  computePins,
  validateBundle,
  validatePinned,
} from '../src/client/bundle.ts';
import { type FleetArtifact, encodeArtifact } from '../src/fleet/artifact.ts';
import type { Bundle } from '../src/fleet/bundle.ts';
import { runDeployment } from '../src/fleet/deployment.ts';
import { WitnessLog } from '../src/fleet/log.ts';
import { publishArtifact } from '../src/fleet/operator.ts';
import { type Signer, hsmSigner } from '../src/fleet/signing.ts';
import { type Adapter, ChoiceCommand, ConformanceError, runEvents, runPath, setupRun } from '../model/conformance.ts';
import { TransitionCoverage, formatCoverage } from '../model/coverage.ts';
import { findViolations } from '../model/invariants.ts';
import { coveringPaths, pathEvents } from '../model/paths.ts';
import { BUNDLE_EPOCHS, BUNDLE_PATH_EVENTS } from '../model/path-events.ts';

const DEEP = process.env.BKV_DEEP === '1';
import {
  BUNDLE_INVARIANTS,
  type BundleDefect,
  type BundleEvent,
  type BundleSnapshot,
  type BundleSource,
  bundleMachine,
} from '../model/bundle-machine.ts';

const NAMESPACE = 'bkv.test.model';
const START = Date.UTC(2026, 0, 1);
const EPOCHS = BUNDLE_EPOCHS;
const EVENTS = BUNDLE_PATH_EVENTS;

interface World {
  readonly trust: BundleTrust;
  readonly pins: PinnedFleet;
  /** The genuine artifact text, and one with another channel key. */
  readonly pinnedArtifact: string;
  readonly otherArtifact: string;
  /** bundles[source][epoch - 1] */
  readonly bundles: Record<BundleSource, Bundle[]>;
  /** The defective bundle of each epoch: another namespace, no opaque-server key. */
  readonly otherNamespace: Bundle[];
  readonly roleless: Bundle[];
}

let W: World;

/** Publishes `artifacts` as epochs 1, 2, ... of a fresh log of `namespace` signed by `witness`. */
function publishLog(
  namespace: string,
  witness: Signer,
  operator: Signer,
  artifacts: readonly FleetArtifact[],
): Bundle[] {
  const log = new WitnessLog(namespace, witness, () => START);
  return artifacts.map((a) => publishArtifact(encodeArtifact(a), log, operator));
}

beforeAll(() => {
  const rng = seededRng('model-bundle');
  const witnessHsm = MemoryHsm.create('witness', rng);
  const d = runDeployment({
    namespace: NAMESPACE,
    suite: getSuite('ristretto255-SHA512'),
    replicas: 1,
    fleets: 1,
    openReplica: (fleetId, i) => ({ hsm: MemoryHsm.create(`${fleetId}-r${i}`, rng), prefix: `m/${fleetId}/r${i}` }),
    operator: { hsm: MemoryHsm.create('operator', rng), label: 'm/operator' },
    vendorHsm: MemoryHsm.create('vendor', rng),
    witnessHsm,
    rng,
    startTime: START,
  });
  const witness = hsmSigner(witnessHsm, 'witness/log-signing');
  const a = d.artifacts[0]!;
  const variant = (k: number, o: Partial<FleetArtifact> = {}): FleetArtifact => ({
    ...a,
    issuedAt: a.issuedAt + k,
    ...o,
  });
  const attacker = MemoryHsm.create('attacker', rng).generateKey('c', 'x25519').publicKey!;
  W = {
    trust: { namespace: NAMESPACE, witnessKey: witness.publicKey, operatorKey: d.operator.publicKey },
    pins: computePins(encodeArtifact(a)),
    pinnedArtifact: encodeArtifact(variant(1)),
    otherArtifact: encodeArtifact({
      ...a,
      keys: a.keys.map((k) =>
        k.role === 'channel' ? { ...k, key: { kind: 'x25519', publicKey: toHex(attacker) } } : k,
      ),
    }),
    bundles: {
      log: publishLog(
        NAMESPACE,
        witness,
        d.operator,
        EPOCHS.map((e) => variant(e)),
      ),
      fork: publishLog(
        NAMESPACE,
        witness,
        d.operator,
        EPOCHS.map((e) => variant(100 + e)),
      ),
    },
    otherNamespace: publishLog(
      'bkv.test.other',
      witness,
      d.operator,
      EPOCHS.map((e) => variant(200 + e, { namespace: 'bkv.test.other' })),
    ),
    roleless: publishLog(
      NAMESPACE,
      witness,
      d.operator,
      EPOCHS.map((e) => variant(300 + e, { keys: a.keys.filter((k) => k.role !== 'opaque-server') })),
    ),
  };
});

/** The bundle an event names, and the client's clock when it validates it. */
function bundleFor(e: Extract<BundleEvent, { type: 'ValidateBundle' }>): { bundle: Bundle; now: number } {
  const genuine = W.bundles[e.source][e.epoch - 1]!;
  const report = genuine.report!;
  const now = report.timestamp + 60_000;
  const flip = (hex: string) => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
  switch (e.defect) {
    case 'none':
      return { bundle: genuine, now };
    case 'unsigned': {
      const { report: _w, operatorCounterSignature: _o, ...unsigned } = genuine;
      return { bundle: unsigned, now };
    }
    case 'witnessSignature':
      return { bundle: { ...genuine, report: { ...report, signature: flip(report.signature) } }, now };
    case 'operatorSignature':
      return { bundle: { ...genuine, operatorCounterSignature: flip(genuine.operatorCounterSignature!) }, now };
    case 'digest': {
      const { serialized_message: _m, ...fields } = report;
      return { bundle: { ...genuine, report: { ...fields, digest: toHex(sha256(utf8('another artifact'))) } }, now };
    }
    case 'namespace':
      return { bundle: W.otherNamespace[e.epoch - 1]!, now };
    case 'timestamp':
      return { bundle: genuine, now: report.timestamp + 30 * DAY_MS + 1 };
    case 'role':
      return { bundle: W.roleless[e.epoch - 1]!, now };
  }
}

interface BundleSut {
  state: ClientFleetState;
  outcome: string | null;
  refusalsUnchanged: boolean;
}

function outcomeOf(f: () => void): string {
  try {
    f();
    return 'accepted';
  } catch (e) {
    if (isVaultError(e)) return e.code;
    throw e;
  }
}

export const bundleAdapter: Adapter<BundleSnapshot, BundleEvent, BundleSut> = {
  machine: bundleMachine,
  invariants: BUNDLE_INVARIANTS,
  events: EVENTS,
  create: () => ({ state: INITIAL_CLIENT_FLEET_STATE, outcome: null, refusalsUnchanged: true }),
  step(sut, e) {
    if (e.type === 'InstallPinned' || e.type === 'InstallOverTheAir') return;
    const before = canonicalJson(sut.state);
    if (e.type === 'ValidatePinned') {
      const served = e.served === 'none' ? undefined : e.served === 'pinned' ? W.pinnedArtifact : W.otherArtifact;
      sut.outcome = outcomeOf(() => validatePinned(W.pins, served));
    } else {
      const { bundle, now } = bundleFor(e);
      sut.outcome = outcomeOf(() => {
        sut.state = validateBundle(bundle, W.trust, sut.state, now).state;
      });
    }
    if (sut.outcome !== 'accepted' && canonicalJson(sut.state) !== before) sut.refusalsUnchanged = false;
  },
  observe(sut) {
    const d = sut.state.highestDigest;
    const holds = (s: BundleSource) => W.bundles[s].some((b) => b.report!.digest === d);
    const source = d === null ? null : ((Object.keys(W.bundles) as BundleSource[]).find(holds) ?? 'unknown');
    return {
      highestEpoch: sut.state.highestEpoch,
      digest: source,
      outcome: sut.outcome,
      refusalsUnchanged: sut.refusalsUnchanged,
    };
  },
  expect: (s) => ({
    highestEpoch: s.context.highestEpoch,
    digest: s.context.digest,
    outcome: s.context.outcome,
    refusalsUnchanged: true,
  }),
};

describe('fleet-key acceptance: model/bundle-machine.ts = src/client/bundle.ts (pinned and over the air)', () => {
  test('every shortest path, plus one per missed transition, step by step', async () => {
    const model = createTestModel(bundleMachine, { events: EVENTS });
    const shortest = model.getShortestPaths();
    const paths = coveringPaths(model, bundleMachine, shortest, EVENTS);
    const coverage = new TransitionCoverage(bundleMachine);
    for (const path of paths) await runPath(bundleAdapter, path, coverage);
    const report = coverage.report();
    const stepCount = paths.reduce((n, p) => n + p.steps.length - 1, 0);
    console.log(`[model-bundle] graph paths: ${paths.length} (${stepCount} steps), ${formatCoverage(report)}`);
    expect(report.missing).toEqual([]);
  });

  test('random sequences of bundles (fast-check commands); coverage printed', async () => {
    const coverage = new TransitionCoverage(bundleMachine);
    const seed = Number(process.env.BKV_SEED ?? Date.now() % 2 ** 31);
    console.log(`[model-bundle] fast-check seed ${seed}`);
    await fc.assert(
      fc.asyncProperty(
        fc.commands([fc.nat().map((choice) => new ChoiceCommand(bundleAdapter, choice, coverage))], {
          maxCommands: 40,
          size: 'max',
        }),
        async (cmds) => {
          await fc.asyncModelRun(() => setupRun(bundleAdapter), cmds);
        },
      ),
      { numRuns: Number(process.env.BKV_RUNS ?? 60), seed },
    );
    console.log(`[model-bundle] random runs: ${formatCoverage(coverage.report())}`);
  });
});

const SIMPLE_PATHS = DEEP
  ? 'BKV_DEEP=1: states told apart by mode, epoch and source'
  : 'states told apart by mode and epoch; BKV_DEEP=1 goes further';
describe(`simple paths (getSimplePaths; ${SIMPLE_PATHS})`, () => {
  test('every simple path, step by step', async () => {
    const serializeState = DEEP
      ? (s: BundleSnapshot) => JSON.stringify([s.value, s.context.highestEpoch, s.context.digest])
      : (s: BundleSnapshot) => JSON.stringify([s.value, s.context.highestEpoch]);
    const paths = createTestModel(bundleMachine, {
      events: EVENTS,
      serializeState: serializeState as never,
    }).getSimplePaths();
    const coverage = new TransitionCoverage(bundleMachine);
    const runs = pathEvents(bundleMachine, paths);
    for (const run of runs) await runEvents(bundleAdapter, run, coverage);
    const stepCount = runs.reduce((n, r) => n + r.length, 0);
    console.log(
      `[model-bundle] simple paths: ${runs.length} (${stepCount} steps), ${formatCoverage(coverage.report())}`,
    );
    expect(runs.length).toBe(paths.length);
  });
});

describe('the checks can fail', () => {
  test('a client that forgets the epoch check (accepts a rollback) is caught', async () => {
    const forgetful: typeof bundleAdapter = {
      ...bundleAdapter,
      step(sut, e) {
        const highest = sut.state;
        bundleAdapter.step(sut, e);
        if (sut.outcome === 'StaleEpoch' && e.type === 'ValidateBundle') {
          sut.state = { ...highest, highestEpoch: e.epoch, highestDigest: bundleFor(e).bundle.report!.digest };
          sut.outcome = 'accepted';
        }
      },
    };
    const events: BundleEvent[] = [
      { type: 'InstallOverTheAir' },
      { type: 'ValidateBundle', epoch: 3, source: 'log', defect: 'none' },
      { type: 'ValidateBundle', epoch: 1, source: 'log', defect: 'none' },
    ];
    await expect(runEvents(bundleAdapter, events)).resolves.toBeDefined();
    await expect(runEvents(forgetful, events)).rejects.toThrow(ConformanceError);
  });

  test('INV-13 fails on a machine that accepts a lower epoch, and on one that accepts a defective bundle', () => {
    const run = (m: typeof bundleMachine, events: BundleEvent[]) =>
      events.reduce((s, e) => transition(m, s, e)[0], initialTransition(m)[0]);
    const rollback: BundleEvent[] = [
      { type: 'InstallOverTheAir' },
      { type: 'ValidateBundle', epoch: 3, source: 'log', defect: 'none' },
      { type: 'ValidateBundle', epoch: 1, source: 'log', defect: 'none' },
    ];
    expect(findViolations(BUNDLE_INVARIANTS, run(bundleMachine, rollback))).toEqual([]);
    expect(
      findViolations(
        BUNDLE_INVARIANTS,
        run(bundleMachine.provide({ guards: { isStaleEpoch: () => false } }), rollback),
      ),
    ).toEqual(['INV-13']);
    const unsigned: BundleEvent[] = [
      { type: 'InstallOverTheAir' },
      { type: 'ValidateBundle', epoch: 2, source: 'log', defect: 'unsigned' },
    ];
    expect(
      findViolations(BUNDLE_INVARIANTS, run(bundleMachine.provide({ guards: { hasDefect: () => false } }), unsigned)),
    ).toEqual(['INV-13']);
  });
});
