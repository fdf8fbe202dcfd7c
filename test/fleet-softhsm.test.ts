/**
 * Fleets on SoftHSM (spec ch. 7 with spec ch. 4 §4.3): replicas on the run's tokens `bkv-0` and
 * `bkv-1` (several replicas per token, each under its own label prefix, itself under a per-process
 * run id), the operator's counter-signing key on `bkv-1`. The ceremony moves the fleet secrets
 * with `wrap-seed` (SoftHSM 2.6.1 can neither wrap nor derive 25519 private keys, so the channel
 * and OPAQUE server keys are derived on the host and imported); the evidence carries the attributes
 * the tokens report, and the audit and a client checking attestations refuse it for that reason
 * (spec ch. 4 §4.3, ch. 7). A client that does not check attestations uses vaults on SoftHSM
 * replicas with the deployed keys, through a rotation. The export policy and wrap count on SoftHSM.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toHex, utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite } from '../src/crypto/suite.ts';
import { isVaultError } from '../src/errors.ts';
import type { Hsm } from '../src/hsm/hsm.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { SoftHsm, finalizeSoftHsm } from '../src/hsm/softhsm.ts';
import { BkvClient, generateBackupKey } from '../src/client/client.ts';
import { INITIAL_CLIENT_FLEET_STATE, moveRecordOnRecovery, validateFleetInfo } from '../src/client/bundle.ts';
import { directRelay } from '../src/client/relay.ts';
import { auditDeployment } from '../src/fleet/audit.ts';
import { deployFleet } from '../src/fleet/ceremony.ts';
import { type Deployment, runDeployment } from '../src/fleet/deployment.ts';
import { verifyDeploymentEvidence } from '../src/fleet/evidence.ts';
import { encodeDeploymentFiles } from '../src/fleet/files.ts';
import { serveFleetInfo } from '../src/fleet/fleet-info.ts';
import { createSingleReplicaVault } from '../src/vault/setup.ts';
import { softHsmTestPin, uniqueRunId } from './support/global-setup.ts';

/** This file's tokens (see test/support/global-setup.ts for the allocation). */
const TOKENS = ['bkv-0', 'bkv-1'] as const;
const RUN = uniqueRunId();
const SUITE = getSuite('ristretto255-SHA512+Curve25519');
const NAMESPACE = 'bkv.test.softhsm';
const START = Date.UTC(2026, 0, 1);

const opened: Hsm[] = [];
function open(token: string): Hsm {
  const h = new SoftHsm({ token, pin: softHsmTestPin() });
  opened.push(h);
  return h;
}

let d: Deployment;
beforeAll(() => {
  const rng = seededRng(`fleet-softhsm ${RUN}`);
  d = runDeployment({
    namespace: NAMESPACE,
    suite: SUITE,
    replicas: 3,
    openReplica: (fleetId, i) => ({ hsm: open(TOKENS[i % TOKENS.length]!), prefix: `${RUN}/${fleetId}/r${i}` }),
    operator: { hsm: open('bkv-1'), label: `${RUN}/operator` },
    vendorHsm: MemoryHsm.create('vendor', rng),
    witnessHsm: MemoryHsm.create('witness', rng),
    rng,
    startTime: START,
  });
});
afterAll(() => {
  for (const h of opened) h.close();
  finalizeSoftHsm();
});

describe('a fleet of SoftHSM replicas', () => {
  test('wrap-seed: the tokens report the derived keys imported, and the evidence is refused', () => {
    for (const fleet of d.fleets) {
      expect(fleet.evidence.transport).toBe('wrap-seed');
      const reason = /channel key .* was imported from bytes the host supplied/;
      expect(() => verifyDeploymentEvidence(fleet.evidence, d.vendor.rootKey)).toThrow(reason);
      const channel = toHex(fleet.replicas[0]!.hsm.keyInfo(fleet.replicas[0]!.labels.channel).publicKey!);
      for (const r of fleet.replicas) {
        expect(r.hsm.backend).toBe('softhsm');
        // device keys: generated in the token, never extractable, as the token reports them
        expect(r.hsm.keyInfo(r.labels.identity)).toMatchObject({
          local: true,
          neverExtractable: true,
          sensitive: true,
          extractable: false,
        });
        // fleet keys: arrived from outside the token (unwrapped or derived), sensitive, not extractable
        for (const l of [r.labels.channel, r.labels.opaqueServer, r.labels.oprfSeed])
          expect(r.hsm.keyInfo(l)).toMatchObject({ local: false, sensitive: true, extractable: false });
        // the OPRF seed was unwrapped inside; the 25519 keys were imported from host bytes
        expect(r.hsm.keyInfo(r.labels.oprfSeed).imported).toBe(false);
        expect([r.labels.channel, r.labels.opaqueServer].map((l) => r.hsm.keyInfo(l).imported)).toEqual([true, true]);
        expect(toHex(r.hsm.keyInfo(r.labels.channel).publicKey!)).toBe(channel);
        expect(r.hsm.hasKey(`${r.prefix}/key-seed`)).toBe(false);
      }
    }
  });

  test('the audit refuses the deployment: its fleet keys have been in host memory', () => {
    const reason = /evidence\/fleet-1\.json: .*was imported from bytes the host supplied/;
    expect(() => auditDeployment(encodeDeploymentFiles(d.record))).toThrow(reason);
  });

  test('export policy on SoftHSM: a wrap outside it is refused, each wrap is counted, the policy is reported', () => {
    const h = open('bkv-0');
    const rng = seededRng('softhsm policy');
    const t = `${RUN}/policy/transport`;
    const allowed = h.generateKey(t, 'x25519').publicKey!;
    const other = MemoryHsm.create('other', rng).generateKey('o', 'x25519').publicKey!;
    const k = `${RUN}/policy/secret`;
    const info = h.generateKey(k, 'hmac-sha256', { wrappable: true, wrapTo: [allowed] });
    expect([info.wrapTo?.map(toHex), info.wrapCount, info.imported]).toEqual([[toHex(allowed)], 0, false]);
    expect(() => h.wrapKey(k, other, rng)).toThrow(/export policy/);
    h.wrapKey(k, allowed, rng);
    expect(h.keyInfo(k).wrapCount).toBe(1);
    h.deleteKey(k);
    h.deleteKey(t);
    expect(h.hasKey(k)).toBe(false);
  });

  test('wrap-keys is refused on SoftHSM: a 25519 private key cannot be made wrappable there', () => {
    const rng = seededRng('wrap-keys');
    const replicas = [{ id: 'x', hsm: open('bkv-0'), prefix: `${RUN}/wk/x` }];
    try {
      deployFleet({
        namespace: NAMESPACE,
        fleetId: 'fleet-wk',
        suite: SUITE,
        replicas,
        vendor: d.vendor,
        rng,
        transport: 'wrap-keys',
      });
      throw new Error('accepted');
    } catch (e) {
      expect(isVaultError(e, 'HsmError')).toBe(true);
    }
  });

  test('a client checking attestations refuses; one that does not uses vaults on SoftHSM replicas', async () => {
    const rng = seededRng('softhsm client');
    const trust = { namespace: NAMESPACE, witnessKey: d.log.publicKey, operatorKey: d.operator.publicKey };
    const first = serveFleetInfo(d.log, d.bundles[0]!, { treeSize: 1 });
    const checking = { ...trust, vendorRoot: d.vendor.rootKey };
    const at = d.bundles[0]!.report!.timestamp;
    expect(() => validateFleetInfo(first, checking, INITIAL_CLIENT_FLEET_STATE, at)).toThrow(/was imported/);
    const vaults = d.fleets.map((f) => {
      const r = f.replicas[1]!; // on bkv-1
      return createSingleReplicaVault(r.hsm, rng, () => START, { suite: SUITE, labels: r.labels }).vault;
    });
    const infoAt = (e: number, known?: number) =>
      serveFleetInfo(d.log, d.bundles[e - 1]!, { treeSize: e, ...(known !== undefined && { knownTreeSize: known }) });
    const user = utf8('dave');
    const pw = utf8('pin 4321');
    const K = generateBackupKey(rng);
    const v1 = validateFleetInfo(infoAt(1), trust, INITIAL_CLIENT_FLEET_STATE, d.bundles[0]!.report!.timestamp);
    expect(
      (
        await new BkvClient(
          v1.context,
          directRelay((f) => vaults[0]!.deliver(f)),
          rng,
        ).register(user, pw, K)
      ).ok,
    ).toBe(true);
    const v2 = validateFleetInfo(infoAt(2, 1), trust, v1.state, d.bundles[1]!.report!.timestamp);
    const moved = await moveRecordOnRecovery(
      new BkvClient(
        v2.retiring!,
        directRelay((f) => vaults[0]!.deliver(f)),
        rng,
      ),
      new BkvClient(
        v2.context,
        directRelay((f) => vaults[1]!.deliver(f)),
        rng,
      ),
      user,
      pw,
    );
    expect(moved.ok && toHex(moved.value)).toBe(toHex(K));
    const v3 = validateFleetInfo(infoAt(3, 2), trust, v2.state, d.bundles[2]!.report!.timestamp);
    const r = await new BkvClient(
      v3.context,
      directRelay((f) => vaults[1]!.deliver(f)),
      rng,
    ).recover(user, pw);
    expect(r.ok && toHex(r.value)).toBe(toHex(K));
  });
});
