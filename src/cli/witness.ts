/**
 * The witness commands (spec ch. 8 §8.7, §8.8). Each takes parsed options and a print function
 * and returns the exit code:
 *
 *   bkv witness serve --dir D --listen host:port     the witness service (witness-server.ts) until
 *                                                    SIGINT or SIGTERM; one line per request
 *   bkv witness verify REPORT.json --key HEX         one auditor report under an auditor key:
 *                                                    0 when it verifies, 1 with the reason
 *   bkv fleet deploy --witness URL [--out D]         the deployment published through the service
 *                                                    (`deployThroughWitness`; with --out, the
 *                                                    files of `bkv audit D` too)
 *   bkv audit --witness URL --namespace NS           facebook/mbt's eb-verify-namespace against the
 *       [--limit N] [--before-epoch E]               service (audit-witness.ts): 0 only when every
 *       [--witness-key HEX] [--operator-key HEX]     epoch verifies; --heads FILE keeps the tree
 *       [--heads FILE]                               heads seen, and each later audit must be
 *                                                    consistent with them
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Bytes, type Rng, toHex } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { systemRng } from '../crypto/rng.ts';
import { isVaultError } from '../errors.ts';
import { auditWitness, formatWitnessAudit } from '../fleet/audit-witness.ts';
import {
  type DeployedFleets,
  type DeploymentRecord,
  type FleetDeploymentOptions,
  deployFleets,
  describePublication,
} from '../fleet/deployment.ts';
import { encodeDeploymentFiles, writeDeploymentFiles } from '../fleet/files.ts';
import type { FleetInfo } from '../fleet/fleet-info.ts';
import { malformed, readArray, readHexBytes, readObject } from '../fleet/json.ts';
import { type SignedTreeHead, decodeTreeHead } from '../fleet/log.ts';
import { decodeReport, statementOf, verifyReport } from '../fleet/report.ts';
import { CIPHERSUITE_PROTOBUF_ED25519, computeKeyId, encodeStatement, formatRoot } from '../fleet/statement.ts';
import { WitnessClient, publishThroughWitness } from '../fleet/witness-client.ts';
import { listenWitness, openWitnessService, parseListen } from '../fleet/witness-server.ts';
import { UsageError, type Parsed } from './args.ts';
import { WITNESS_NAMESPACE, demoClient, noteHostKeys } from './fleet.ts';

type Print = (line: string) => void;

/** Runs `f`; a `VaultError` (or a system error such as EADDRINUSE) is printed as `<what> FAILED` and exit 1. */
async function failing(what: string, print: Print, f: () => Promise<number> | number): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (isVaultError(e)) print(`${what} FAILED: ${e.code}: ${e.message.slice(e.code.length + 2)}`);
    else if (e instanceof Error && 'code' in e && typeof e.code === 'string')
      print(`${what} FAILED: ${e.code}: ${e.message}`);
    else throw e;
    return 1;
  }
}

export interface WitnessServeOptions {
  readonly dir: string;
  readonly listen: string;
  /** Stops the service (tests); SIGINT and SIGTERM do too. */
  readonly signal?: AbortSignal;
  readonly clock?: () => number;
  readonly rng?: Rng;
}

export function witnessServe(o: WitnessServeOptions, print: Print): Promise<number> {
  return failing('witness serve', print, async () => {
    const { host, port } = parseListen(o.listen);
    const clock = o.clock ?? Date.now;
    const service = openWitnessService(resolve(o.dir), clock, o.rng ?? systemRng);
    const running = await listenWitness(
      (r) => {
        const res = service.handle(r);
        print(`${r.method} ${r.path} ${res.status}`);
        return res;
      },
      host,
      port,
    );
    print(
      `bkv witness: listening on ${running.url}, auditor key ${toHex(service.publicKey)} ` +
        `(key id ${computeKeyId(service.publicKey)}), directory ${resolve(o.dir)}`,
    );
    print(`  publish: npx bkv fleet deploy --witness ${running.url}`);
    print(`  audit:   npx bkv audit --witness ${running.url} --namespace ${WITNESS_NAMESPACE}`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop).off('SIGTERM', stop);
        done();
      };
      process.on('SIGINT', stop).on('SIGTERM', stop);
      o.signal?.addEventListener('abort', stop, { once: true });
      if (o.signal?.aborted) stop();
    });
    await running.close();
    print('bkv witness: closed');
    return 0;
  });
}

export function witnessVerify(o: { readonly file: string; readonly key: string }, print: Print): Promise<number> {
  return failing('report', print, () => {
    const key = readHexBytes(o.key, '--key', 32);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(o.file, 'utf8'));
    } catch (e) {
      throw malformed(o.file, (e as Error).message);
    }
    const report = decodeReport(json, o.file);
    const s = verifyReport(report, key);
    const suite =
      s.ciphersuite === CIPHERSUITE_PROTOBUF_ED25519 ? '0x0001 (protobuf Ed25519)' : '0x0002 (bincode Ed25519)';
    print(
      `report verifies: namespace ${s.namespace}, epoch ${s.epoch}, ${new Date(s.timestamp).toISOString()}, ` +
        `digest ${s.digest}, ciphersuite ${suite}, key id ${report.key_id}`,
    );
    print(`signed bytes: ${toHex(encodeStatement(s))}`);
    return 0;
  });
}

export interface DeployThroughWitnessOptions {
  readonly url: string;
  readonly namespace: string;
  readonly options: FleetDeploymentOptions;
  /** Also write the deployment files (`bkv audit DIR`). */
  readonly dir?: string;
  readonly rng: Rng;
}

/**
 * Deploys the fleets and publishes their epochs through the witness service. The witness signs
 * with its own clock, so the story runs on real time: no simulated years between the rotation's
 * epochs.
 */
export function deployThroughWitness(o: DeployThroughWitnessOptions, print: Print): Promise<number> {
  return failing('fleet deploy', print, async () => {
    const client = new WitnessClient(o.url);
    const plan = deployFleets({ ...o.options, namespace: o.namespace, rotationAfterMs: 0, migrationWindowMs: 0 });
    const say = o.options.onStep ?? (() => {});
    const { auditorKey, bundles } = await publishThroughWitness(client, {
      namespace: o.namespace,
      ciphersuite: CIPHERSUITE_PROTOBUF_ED25519,
      artifacts: plan.artifacts,
      operator: plan.operator,
      onEpoch: (a, b) => say(describePublication(a, b)),
    });
    print(
      `published ${bundles.length} epochs through ${client.base} in ${o.namespace}: ` +
        `auditor key ${toHex(auditorKey).slice(0, 16)}… (key id ${computeKeyId(auditorKey)})`,
    );
    const serve = async (epoch: number, known?: number): Promise<FleetInfo> => {
      const from = known === undefined || known === epoch ? undefined : Math.min(known, epoch);
      return {
        bundle: bundles[epoch - 1]!,
        treeHead: await client.treeHead(o.namespace, epoch),
        inclusionProof: await client.inclusionProof(o.namespace, epoch, epoch),
        ...(from !== undefined && {
          consistency: {
            fromSize: from,
            proof: await client.consistencyProof(o.namespace, from, Math.max(known!, epoch)),
          },
        }),
      };
    };
    if (o.dir !== undefined) {
      const record = await fetchDeploymentRecord(client, o.namespace, plan, auditorKey, serve);
      const written = writeDeploymentFiles(o.dir, encodeDeploymentFiles(record));
      print(`wrote ${written.length} files to ${o.dir}`);
    }
    const hostKeys = noteHostKeys(
      plan.fleets.map((f) => f.evidence),
      print,
    );
    const trust = {
      namespace: o.namespace,
      witnessKey: auditorKey,
      operatorKey: plan.operator.publicKey,
      ...(!hostKeys && { vendorRoot: plan.vendor.rootKey }),
    };
    await demoClient({ fleets: plan.fleets, bundles, trust, serve }, o.rng, print);
    print(`verify it all: npx bkv audit --witness ${client.base} --namespace ${o.namespace}`);
    return 0;
  });
}

/** The files of `bkv audit DIR` for a deployment published through the service. */
async function fetchDeploymentRecord(
  client: WitnessClient,
  namespace: string,
  plan: DeployedFleets,
  auditorKey: Bytes,
  serve: (epoch: number) => Promise<FleetInfo>,
): Promise<DeploymentRecord> {
  const infos: FleetInfo[] = [];
  for (let e = 1; e <= plan.artifacts.length; e++) infos.push(await serve(e));
  const heads = [];
  for (const [i, info] of infos.entries())
    heads.push({
      treeHead: info.treeHead,
      consistencyProof: i === 0 ? [] : await client.consistencyProof(namespace, i, i + 1),
    });
  const reports = infos.map((i) => i.bundle.report!);
  return {
    roots: {
      namespace,
      witnessKey: toHex(auditorKey),
      operatorKey: toHex(plan.operator.publicKey),
      vendorRoot: toHex(plan.vendor.rootKey),
    },
    log: {
      namespace,
      ciphersuite: reports[0]!.ciphersuite,
      root: formatRoot(1, reports[0]!.digest),
      entries: reports.map((r) => toHex(encodeStatement(statementOf(r)))),
      heads,
    },
    bundles: infos,
    evidence: plan.fleets.map((f) => f.evidence),
  };
}

export interface AuditThroughWitnessOptions {
  readonly url: string;
  readonly namespace: string;
  readonly limit?: number;
  readonly beforeEpoch?: number;
  readonly witnessKey?: Bytes;
  readonly operatorKey?: Bytes;
  /** A file of tree heads seen before: read, checked against the witness's, and extended after a passing audit. */
  readonly headsFile?: string;
}

function readHeads(file: string | undefined): SignedTreeHead[] {
  if (file === undefined || !existsSync(file)) return [];
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw malformed(file, (e as Error).message);
  }
  return readArray(readObject(json, file, ['heads']).heads, `${file}.heads`).map((h, i) =>
    decodeTreeHead(h, `${file}.heads[${i}]`),
  );
}

export function auditThroughWitness(o: AuditThroughWitnessOptions, print: Print): Promise<number> {
  return failing('audit', print, async () => {
    const known = readHeads(o.headsFile);
    const mine = known.filter((h) => h.body.namespace === o.namespace);
    const client = new WitnessClient(o.url);
    const report = await auditWitness(client, {
      namespace: o.namespace,
      knownHeads: mine,
      ...(o.limit !== undefined && { limit: o.limit }),
      ...(o.beforeEpoch !== undefined && { beforeEpoch: o.beforeEpoch }),
      ...(o.witnessKey !== undefined && { witnessKey: o.witnessKey }),
      ...(o.operatorKey !== undefined && { operatorKey: o.operatorKey }),
    });
    for (const line of formatWitnessAudit(report, client.base)) print(line);
    if (report.failures > 0) return 1;
    if (o.headsFile !== undefined && !known.some((h) => canonicalJson(h) === canonicalJson(report.head))) {
      writeFileSync(o.headsFile, `${JSON.stringify({ heads: [...known, report.head] }, null, 1)}\n`);
      print(`tree head of size ${report.head.body.treeSize} added to ${o.headsFile}`);
    }
    return 0;
  });
}

/** `bkv audit --witness ...`: the parsed flags as options (`UsageError` for a bad value). */
export function auditOptionsOf(a: Parsed): AuditThroughWitnessOptions {
  const text = (k: string) => (typeof a.options[k] === 'string' ? (a.options[k] as string) : undefined);
  const int = (k: string) => {
    const v = text(k);
    if (v === undefined) return undefined;
    if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new UsageError(`--${k} expected a positive integer, got ${v}`);
    return Number(v);
  };
  const key = (k: string) => {
    const v = text(k);
    if (v === undefined) return undefined;
    if (!/^[0-9a-f]{64}$/.test(v)) throw new UsageError(`--${k} expected 32 bytes of lowercase hex, got ${v}`);
    return Uint8Array.from(Buffer.from(v, 'hex'));
  };
  const url = text('witness');
  const namespace = text('namespace');
  if (url === undefined || namespace === undefined) throw new UsageError('audit --witness URL needs --namespace NS');
  if (a.positionals.length > 0) throw new UsageError('audit takes a directory or --witness URL, not both');
  const limit = int('limit');
  const beforeEpoch = int('before-epoch');
  const witnessKey = key('witness-key');
  const operatorKey = key('operator-key');
  const headsFile = text('heads');
  return {
    url,
    namespace,
    ...(limit !== undefined && { limit }),
    ...(beforeEpoch !== undefined && { beforeEpoch }),
    ...(witnessKey !== undefined && { witnessKey }),
    ...(operatorKey !== undefined && { operatorKey }),
    ...(headsFile !== undefined && { headsFile }),
  };
}
