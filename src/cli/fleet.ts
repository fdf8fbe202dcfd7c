/**
 * `bkv fleet deploy --out <dir> [--replicas N] [--hsm memory|softhsm] [--seed S]` deploys two
 * fleets (an initial one, then a rotation) over memory HSMs or SoftHSM tokens in a private token
 * directory, publishes three epochs through the witness log, writes everything an auditor needs
 * into <dir> (spec ch. 8, "The files"), and shows a Messenger-style client validating each
 * over-the-air bundle, its record moving to the new fleet, and a rollback being refused.
 *
 * With `--witness URL` it publishes through a witness service instead (src/cli/witness.ts), and
 * writes the directory only with `--out`.
 *
 * `bkv audit <dir> [--roots FILE] [--verbose] [--json]` verifies that directory end to end
 * (src/fleet/audit.ts), starting from the keys pinned in FILE (spec 8.1; default: the directory's
 * own roots.json) and printing them, then, per epoch, the keys and roles added and removed; it
 * exits 1 with the file and the reason on the first failure, 3 when the directory cannot be read.
 * @module
 */
import { resolve } from 'node:path';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng, systemRng } from '../crypto/rng.ts';
import { getSuite } from '../crypto/suite.ts';
import { BkvClient, generateBackupKey } from '../client/client.ts';
import {
  type BundleTrust,
  type ClientFleetState,
  INITIAL_CLIENT_FLEET_STATE,
  type ValidatedFleet,
  moveRecordOnRecovery,
  validateFleetInfo,
} from '../client/bundle.ts';
import { directRelay } from '../client/relay.ts';
import { isVaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { AuditError, type AuditReport, auditDeployment, formatAuditReport } from '../fleet/audit.ts';
import type { Bundle } from '../fleet/bundle.ts';
import type { DeployedFleet } from '../fleet/ceremony.ts';
import { type Deployment, runDeployment } from '../fleet/deployment.ts';
import type { DeploymentEvidence } from '../fleet/evidence.ts';
import { type FleetInfo, serveFleetInfo } from '../fleet/fleet-info.ts';
import { ROOTS_FILE, encodeDeploymentFiles, readDeploymentFiles, writeDeploymentFiles } from '../fleet/files.ts';
import { createSingleReplicaVault } from '../vault/setup.ts';
import { UsageError, choiceOption, intOption, type Parsed } from './args.ts';
import type { Io } from './command.ts';

type Print = (line: string) => void;

/** The simulated clock's start when a seed is given (reproducible output): 2026-01-01T00:00:00Z. */
const SEEDED_START = Date.UTC(2026, 0, 1);
const NAMESPACE = 'bkv.messenger.backup';

export async function fleetDeploy(args: Parsed, print: Print): Promise<number> {
  const out = args.options.out;
  const witness = args.options.witness;
  if (typeof out !== 'string' && typeof witness !== 'string') {
    throw new UsageError('fleet deploy needs --out <dir> or --witness <url>');
  }
  const dir = typeof out === 'string' ? resolve(out) : undefined;
  if (dir !== undefined && existsSync(dir) && readdirSync(dir).length > 0) {
    throw new UsageError(`--out ${out}: the directory exists and is not empty`);
  }
  const replicas = intOption(args, 'replicas', 5, 1, 9);
  const backend = choiceOption(args, 'hsm', ['memory', 'softhsm'] as const, 'memory');
  const seed = typeof args.options.seed === 'string' ? args.options.seed : toHex(systemRng(8));
  const rng = seededRng(seed);
  const startTime = typeof args.options.seed === 'string' && typeof witness !== 'string' ? SEEDED_START : Date.now();
  // PKCS#11 has no ristretto255: a SoftHSM fleet runs the ristretto255 OPRF with a Curve25519 3DH (spec ch. 2)
  const suite = getSuite(backend === 'softhsm' ? 'ristretto255-SHA512+Curve25519' : 'ristretto255-SHA512');
  print(`bkv fleet deploy: ${replicas} replicas per fleet on ${backend} HSMs, suite ${suite.id}, seed ${seed}`);
  const hsms = await openFleetHsms(backend, replicas, rng, print);
  try {
    const options = {
      namespace: NAMESPACE,
      suite,
      replicas,
      openReplica: (fleetId: string, i: number) => ({
        hsm: hsms.open(`bkv-${fleetId}-r${i}`),
        prefix: `bkv/${fleetId}/r${i}`,
      }),
      operator: { hsm: hsms.open('bkv-operator'), label: 'bkv/operator/counter-signing' },
      vendorHsm: MemoryHsm.create('vendor', rng),
      rng,
      startTime,
      onStep: (line: string) => print(`  ${line}`),
    };
    if (typeof witness === 'string') {
      const { deployThroughWitness } = await import('./witness.ts');
      const o = { url: witness, namespace: WITNESS_NAMESPACE, options, ...(dir !== undefined && { dir }), rng };
      return await deployThroughWitness(o, print);
    }
    const deployment = runDeployment({ ...options, witnessHsm: MemoryHsm.create('witness', rng) });
    const written = writeDeploymentFiles(dir!, encodeDeploymentFiles(deployment.record));
    print(`wrote ${written.length} files to ${dir}: ${written.join(', ')}`);
    const d = deployment;
    const hostKeys = noteHostKeys(d.record.evidence, print);
    await demoClient(
      {
        fleets: d.fleets,
        bundles: d.bundles,
        trust: {
          namespace: d.record.roots.namespace,
          witnessKey: d.log.publicKey,
          operatorKey: d.operator.publicKey,
          ...(!hostKeys && { vendorRoot: d.vendor.rootKey }),
        },
        serve: (epoch, known) => {
          const from = known !== undefined && { knownTreeSize: known };
          return serveFleetInfo(d.log, d.bundles[epoch - 1]!, { treeSize: epoch, ...from });
        },
      },
      rng,
      print,
    );
    print(`verify it all: npx bkv audit ${out}`);
    return 0;
  } finally {
    hsms.close();
  }
}

/**
 * Whether some fleet's keys were derived on the host (wrap-seed, the SoftHSM way), said in three
 * lines: the audit and attestation-checking clients refuse such a deployment, so the demo client
 * after it does not check attestations.
 */
export function noteHostKeys(evidence: readonly DeploymentEvidence[], print: (line: string) => void): boolean {
  if (!evidence.some((e) => e.transport === 'wrap-seed')) return false;
  print('note: SoftHSM 2.6.1 can neither wrap nor derive 25519 private keys, so the channel and OPAQUE server');
  print('  keys were derived on the host and imported (wrap-seed): the audit and clients that check attestations');
  print('  refuse this deployment for it (spec ch. 4 §4.3, ch. 7); the demo client below does not check them');
  return true;
}

/**
 * `bkv audit DIR --witness URL`: the witness's latest tree head for the namespace of the roots
 * (pinned, or the directory's), as the anchor of the audit; a malformed roots file is left to the
 * audit to report.
 */
async function liveHead(
  url: string,
  rootsText: string | undefined,
): Promise<{ file: string; text: string } | undefined> {
  let namespace: unknown;
  try {
    namespace = (JSON.parse(rootsText ?? '') as { namespace?: unknown }).namespace;
  } catch {
    return undefined;
  }
  if (typeof namespace !== 'string') return undefined;
  const { WitnessClient } = await import('../fleet/witness-client.ts');
  const head = await new WitnessClient(url).treeHead(namespace);
  return { file: `${url} (latest tree head)`, text: JSON.stringify(head) };
}

/** The namespace `fleet deploy --witness` publishes in: the one Meta's verifier reads. */
export const WITNESS_NAMESPACE = 'meta.encrypted_backups.fleet_keys.v1';

/** The HSMs of a deployment: memory, or SoftHSM tokens in a private token directory; `close` closes them all. */
export async function openFleetHsms(
  backend: 'memory' | 'softhsm',
  replicas: number,
  rng: Rng,
  print: Print,
): Promise<{ open: (token: string) => Hsm; close: () => void }> {
  const opened: Hsm[] = [];
  let dispose = () => {};
  let open: (token: string) => Hsm;
  if (backend === 'softhsm') {
    const { createPrivateTokens } = await import('../hsm/private-tokens.ts');
    const labels = [
      'bkv-operator',
      ...[1, 2].flatMap((f) => Array.from({ length: replicas }, (_, i) => `bkv-fleet-${f}-r${i}`)),
    ];
    const tokens = createPrivateTokens(labels);
    print(`SoftHSM: ${labels.length} tokens in a private token directory ${tokens.dir}`);
    open = (token) => tokens.open(token);
    dispose = () => tokens.dispose();
  } else {
    open = (token) => MemoryHsm.create(token, rng);
  }
  return {
    open: (token) => {
      const h = open(token);
      opened.push(h);
      return h;
    },
    close: () => {
      for (const h of opened) h.close();
      dispose();
    },
  };
}

/** What the demo client needs: the fleets (for their vaults), the pins, and the fleet info the vault would serve. */
export interface DemoWorld {
  readonly fleets: readonly DeployedFleet[];
  readonly bundles: readonly Bundle[];
  readonly trust: BundleTrust;
  /** The fleet info of `epoch` with the head of that epoch, and a consistency proof from `knownTreeSize`. */
  readonly serve: (epoch: number, knownTreeSize?: number) => FleetInfo | Promise<FleetInfo>;
}

/** A Messenger-style client through the story: validate, register, rotation, move, refuse a rollback. */
export async function demoClient(d: DemoWorld, rng: Rng, print: Print): Promise<void> {
  const trust = d.trust;
  // one vault per fleet, on its first replica (the replicated driver is ch. 6's; any replica holds the fleet keys)
  const vaults = d.fleets.map((f) => {
    const replica = f.replicas[0]!;
    const clock = () => d.bundles.at(-1)!.report!.timestamp;
    const o = { suite: getSuite(f.evidence.suite), labels: replica.labels };
    return createSingleReplicaVault(replica.hsm, rng, clock, o).vault;
  });
  const clientFor = (v: ValidatedFleet, fleetIndex: number, retiring = false) =>
    new BkvClient(
      retiring ? v.retiring! : v.context,
      directRelay((f) => vaults[fleetIndex]!.deliver(f)),
      rng,
    );
  const user = utf8('alice@example');
  const password = utf8('correct horse battery staple');
  const K = generateBackupKey(rng);
  let state: ClientFleetState = INITIAL_CLIENT_FLEET_STATE;
  const step = async (epoch: number) => {
    // the vault serves the bundle with the head of its time and a consistency proof from the client's last head
    const info = await d.serve(epoch, state.treeHead?.body.treeSize);
    const v = validateFleetInfo(info, trust, state, info.bundle.report!.timestamp + 60_000);
    state = v.state;
    print(
      `client: epoch ${epoch} bundle valid ` +
        `(signatures, digest, namespace, window, roles, inclusion in the log, attestations): ` +
        `${v.artifact.fleetId}${v.retiring ? ', with the retiring fleet' : ''}`,
    );
    return v;
  };
  if (d.bundles.length === 0) return;
  const v1 = await step(1);
  const fleet1 = clientFor(v1, 0);
  print(`client: register K on fleet-1: ${(await fleet1.register(user, password, K)).ok ? 'ok' : 'FAILED'}`);
  if (d.bundles.length < 3) return;
  const v2 = await step(2);
  const moved = await moveRecordOnRecovery(clientFor(v2, 0, true), clientFor(v2, 1), user, password);
  print(
    `client: rotation: recover from the retiring fleet-1, re-register on fleet-2: ` +
      `${moved.ok && toHex(moved.value) === toHex(K) ? 'K recovered and moved' : 'FAILED'}`,
  );
  const v3 = await step(3);
  const r3 = await clientFor(v3, 1).recover(user, password);
  print(
    `client: recover from fleet-2 after the retirement: ` +
      `${r3.ok && toHex(r3.value) === toHex(K) ? 'K recovered' : 'FAILED'}`,
  );
  const replay = await d.serve(1);
  try {
    validateFleetInfo(replay, trust, state, replay.bundle.report!.timestamp + 60_000);
    print('client: a replayed epoch-1 bundle was ACCEPTED (bug)');
  } catch (e) {
    if (!isVaultError(e)) throw e;
    print(`client: a replayed epoch-1 bundle is refused: ${e.code}`);
  }
}

/** The document of `bkv audit --json` (spec ch. 14): the audit report, or the failure. */
export interface AuditDocument {
  readonly schema: 'bkv-audit/1';
  readonly ok: boolean;
  readonly dir: string;
  /** A passing audit's report: the keys trusted, the keys and roles added and removed per epoch, the fleets. */
  readonly report: AuditReport | null;
  /** The first failure: the file it is in, its VaultError code and the reason. */
  readonly failure: { readonly file: string; readonly code: string; readonly reason: string } | null;
}

export async function audit(args: Parsed, io: Io): Promise<number> {
  const dir = args.positionals[0];
  if (dir === undefined) throw new UsageError('audit needs a directory: npx bkv audit <dir>');
  const path = resolve(dir);
  // an unreadable or missing directory is a system error (exit 3, with the path); a file is not a deployment
  if (!statSync(path).isDirectory()) {
    throw new UsageError(`${dir} is a file, not a deployment directory (bkv fleet deploy --out DIR writes one)`);
  }
  const rootsFile = typeof args.options.roots === 'string' ? args.options.roots : undefined;
  const pinned = rootsFile === undefined ? undefined : { file: rootsFile, text: readFileSync(rootsFile, 'utf8') };
  const headFile = typeof args.options.head === 'string' ? args.options.head : undefined;
  const url = typeof args.options.witness === 'string' ? args.options.witness : undefined;
  if (headFile !== undefined && url !== undefined) {
    throw new UsageError('audit DIR: --head FILE or --witness URL, not both');
  }
  const files = readDeploymentFiles(path);
  const anchor =
    headFile !== undefined
      ? { file: headFile, text: readFileSync(headFile, 'utf8') }
      : url !== undefined
        ? await liveHead(url, pinned?.text ?? files.get(ROOTS_FILE))
        : undefined;
  const done = (doc: AuditDocument) => (io.json?.(doc), doc.ok ? 0 : 1);
  try {
    const report = auditDeployment(files, pinned, anchor);
    for (const line of formatAuditReport(report, args.options.verbose === true)) io.print(line);
    io.print(`audit passed: ${report.epochs.length} epochs, ${report.fleets.length} fleets`);
    return done({ schema: 'bkv-audit/1', ok: true, dir: path, report, failure: null });
  } catch (e) {
    if (e instanceof AuditError) {
      io.print(`audit FAILED in ${e.file}: ${e.code}: ${e.reason}`);
      const failure = { file: e.file, code: e.code, reason: e.reason };
      return done({ schema: 'bkv-audit/1', ok: false, dir: path, report: null, failure });
    }
    throw e;
  }
}
