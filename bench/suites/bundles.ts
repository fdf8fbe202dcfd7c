/**
 * Bench suite `bundles`: a client validating the fleet's public description over the air
 * (src/client/bundle.ts, spec ch. 7 "Client validation"), from its wire form.
 *
 *   bare                 decodeBundle, then validateBundle: both signatures (witness over the
 *                        statement, operator over the witness signature), the digest of the
 *                        artifact, the artifact decoded, namespace, time window, epoch, roles
 *   + inclusion proof    decodeFleetInfo, then validateFleetInfo: the same, and the witness's
 *                        tree head (a third signature) and the bundle's RFC 9162 inclusion proof
 *   + consistency proof  the same for a client that accepted epoch 1: and the consistency proof
 *                        from its tree head
 *   + attestations       the bare bundle with the vendor root pinned: every replica's attested
 *                        keys chain to it (step 11)
 *
 * The deployment is `runDeployment` (src/fleet/deployment.ts) on memory HSMs: 3 replicas, one
 * rotation, so the log holds 3 epochs and the bundle validated is epoch 3 (the current fleet).
 * Each validation must return that epoch and the fleet's pinned keys.
 * @module
 */
import {
  type BundleTrust,
  type ClientFleetState,
  INITIAL_CLIENT_FLEET_STATE,
  type ValidatedFleet,
  computePins,
  validateBundle,
  validateFleetInfo,
} from '../../src/client/bundle.ts';
import { canonicalJson } from '../../src/crypto/canonical.ts';
import { getSuite } from '../../src/crypto/suite.ts';
import { decodeBundle } from '../../src/fleet/bundle.ts';
import { runDeployment } from '../../src/fleet/deployment.ts';
import { decodeFleetInfo, encodeFleetInfo, serveFleetInfo } from '../../src/fleet/fleet-info.ts';
import { hsmSigner } from '../../src/fleet/signing.ts';
import { MemoryHsm } from '../../src/hsm/memory.ts';
import { type BenchSuite, type BenchTask, check, equalBytes } from '../harness.ts';

const NAMESPACE = 'bkv.bench.fleet';
const START = Date.UTC(2026, 0, 1);

export const bundlesSuite: BenchSuite = {
  id: 'bundles',
  title: 'validation bundles: what a client checks before its first session',
  async open(ctx) {
    const rng = ctx.rngFor('bundles');
    const witnessHsm = MemoryHsm.create('witness', rng);
    const d = runDeployment({
      namespace: NAMESPACE,
      suite: getSuite('ristretto255-SHA512'),
      replicas: 3,
      fleets: 2,
      openReplica: (fleetId, i) => ({
        hsm: MemoryHsm.create(`${fleetId}-r${i}`, rng),
        prefix: `bench/${fleetId}/r${i}`,
      }),
      operator: { hsm: MemoryHsm.create('operator', rng), label: 'bench/operator' },
      vendorHsm: MemoryHsm.create('vendor', rng),
      witnessHsm,
      rng,
      startTime: START,
    });
    const trust: BundleTrust = {
      namespace: NAMESPACE,
      witnessKey: hsmSigner(witnessHsm, 'witness/log-signing').publicKey,
      operatorKey: d.operator.publicKey,
    };
    const epoch = d.bundles.length;
    const bundle = d.bundles[epoch - 1]!;
    const now = bundle.report!.timestamp + 60_000;
    const pins = computePins(bundle.artifact);
    const accepted = (v: ValidatedFleet, what: string) =>
      check(
        v.epoch === epoch &&
          equalBytes(v.context.opaqueServerKey, pins.opaqueServerKey) &&
          equalBytes(v.context.channelKey, pins.channelKey),
        `${what}: validation did not yield epoch ${epoch} and the fleet's keys`,
      );
    // wire forms, as the vault serves them
    const bundleText = canonicalJson(bundle);
    const infoText = encodeFleetInfo(serveFleetInfo(d.log, bundle));
    const first = d.bundles[0]!;
    const infoAt1 = serveFleetInfo(d.log, first, { treeSize: 1 });
    const at1 = first.report!.timestamp + 60_000;
    const afterEpoch1: ClientFleetState = validateFleetInfo(infoAt1, trust, INITIAL_CLIENT_FLEET_STATE, at1).state;
    const infoFrom1Text = encodeFleetInfo(serveFleetInfo(d.log, bundle, { knownTreeSize: 1 }));
    const tasks: BenchTask[] = [
      {
        id: 'bundles/bare',
        name: `validate a bundle (epoch ${epoch}): 2 signatures, digest, roles, epoch`,
        fn: () =>
          accepted(
            validateBundle(decodeBundle(JSON.parse(bundleText)), trust, INITIAL_CLIENT_FLEET_STATE, now),
            'bare bundle',
          ),
        note: 'every row from the wire form (canonical JSON), decoding included',
      },
      {
        id: 'bundles/inclusion',
        name: `+ tree head and inclusion proof (log of ${d.log.size})`,
        fn: () =>
          accepted(validateFleetInfo(decodeFleetInfo(infoText), trust, INITIAL_CLIENT_FLEET_STATE, now), 'fleet info'),
      },
      {
        id: 'bundles/consistency',
        name: '+ consistency proof from the tree head of epoch 1',
        fn: () =>
          accepted(
            validateFleetInfo(decodeFleetInfo(infoFrom1Text), trust, afterEpoch1, now),
            'fleet info from epoch 1',
          ),
      },
      {
        id: 'bundles/attestations',
        name: `bare bundle + attestations of ${d.fleets.at(-1)!.replicas.length} replicas (vendor root pinned)`,
        fn: () =>
          accepted(
            validateBundle(
              decodeBundle(JSON.parse(bundleText)),
              { ...trust, vendorRoot: d.vendor.rootKey },
              INITIAL_CLIENT_FLEET_STATE,
              now,
            ),
            'attested bundle',
          ),
      },
    ];
    return {
      tasks,
      info: {
        namespace: NAMESPACE,
        epoch,
        logSize: d.log.size,
        bundleBytes: bundleText.length,
        fleetInfoBytes: infoText.length,
      },
      dispose: () => {},
    };
  },
};
