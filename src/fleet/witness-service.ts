/**
 * The witness service (spec ch. 8 §8.7): Cloudflare's Key Transparency Auditor as an HTTP API, on
 * bkv's witness log. One function of the request (`WitnessService.handle`), so that the server
 * (witness-server.ts) only moves bytes, and tests can wrap it to build a misbehaving witness.
 *
 * The auditor's routes, in its JSON shapes (cloudflare/plexi `plexi_core`, developers.cloudflare.com
 * /key-transparency/api):
 *   GET  /info                               {keys: [{public_key, not_before}], logs}
 *   GET  /namespaces                         {namespaces: [namespace info]}
 *   POST /namespaces                         create: {name, root, ciphersuite | signature_version, owner_key}
 *   GET  /namespaces/{ns}                    {name, log_directory, root, last_verified_epoch?, status,
 *                                             reports_uri, audits_uri, signature_version, ciphersuite}
 *   GET  /namespaces/{ns}/audits             {audits: [reports]}, ?limit=N&before_epoch=E, oldest first
 *   GET  /namespaces/{ns}/audits/{epoch}     the report (report.ts)
 *   POST /namespaces/{ns}/audits             publish {epoch, digest}: the log owner only
 * bkv's own, under /namespaces/{ns}/bkv/:
 *   GET  owner                               {owner_key}: the key that publishes and counter-signs
 *   GET  tree-head[?tree_size=N]             a signed tree head (log.ts)
 *   GET  inclusion/{epoch}[?tree_size=N]     {epoch, tree_size, proof}
 *   GET  consistency?first=M&second=N        {first, second, proof}
 *   PUT  bundles/{epoch}                     {artifact, operatorCounterSignature}: what mbt downloads
 *   GET  bundles/{epoch}                     the bundle {artifact, report, operatorCounterSignature}
 *   GET  conflicts                           {conflicts: [evidence]}: refused republications
 *
 * The log owner is the key named at creation (`owner_key`, the operator's counter-signing key);
 * the auditor authenticates the owner with mTLS, bkv with a signature: `Authorization: Bkv-Ed25519
 * <hex>` over the canonical JSON of {type: "bkv/publish-request/v1", namespace, epoch, digest}. A
 * request to publish an epoch again with another digest is refused (`LogEquivocation`) and kept,
 * signed by the owner, as evidence. Every refusal is an HTTP error whose body is {code, message}
 * with a closed `VaultError` code; a refusal changes nothing.
 * @module
 */
import { fromHex, toHex } from '../crypto/bytes.ts';
import { type ErrorCode, VaultError, isVaultError } from '../errors.ts';
import { computeArtifactDigest, decodeArtifact } from './artifact.ts';
import { type Bundle, decodeBundle } from './bundle.ts';
import { NAME, malformed, readHex, readInt, readObject, readString } from './json.ts';
import { WitnessLog, checkRoot } from './log.ts';
import { HASH_SIZE } from './merkle.ts';
import { type AuditorReport, encodeReport } from './report.ts';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, type Signer, isValidSignature } from './signing.ts';
import { readCiphersuite } from './statement.ts';
import {
  AUTHORIZATION_SCHEME,
  type ConflictEvidence,
  type NamespaceRecord,
  encodePublishRequest,
} from './witness-api.ts';

export interface WitnessRequest {
  readonly method: string;
  /** The URL path, not decoded. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The parsed JSON body, if any. */
  readonly body?: unknown;
  readonly authorization?: string;
}

export interface WitnessResponse {
  readonly status: number;
  /** The JSON text of the body. */
  readonly body: string;
}

export type WitnessHandler = (request: WitnessRequest) => WitnessResponse;

/** Where the service keeps its namespaces (witness-server.ts: one file each). */
export interface WitnessStore {
  save(record: NamespaceRecord): void;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

/** The HTTP status of a refusal. */
export function statusOf(code: ErrorCode): number {
  if (code === 'NotFound') return 404;
  if (code === 'UnknownMessageType') return 405;
  if (code === 'OperatorSignatureInvalid') return 403;
  if (['StaleEpoch', 'LogInconsistent', 'LogEquivocation', 'RegistrationConflict'].includes(code)) return 409;
  return 400;
}

export function errorResponse(code: ErrorCode, message: string, status = statusOf(code)): WitnessResponse {
  return { status, body: JSON.stringify({ code, message }) };
}

const ok = (body: unknown, status = 200): WitnessResponse => ({
  status,
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const notFound = (what: string) => new VaultError('NotFound', what);

interface Namespace {
  readonly record: Pick<NamespaceRecord, 'name' | 'root' | 'ciphersuite' | 'owner_key'>;
  readonly log: WitnessLog;
  readonly bundles: Map<number, { artifact: string; operatorCounterSignature: string }>;
  readonly conflicts: ConflictEvidence[];
}

/** A decimal path or query integer: digits, no leading zero, a safe integer in range. */
function readDecimal(x: string | null | undefined, path: string, min: number): number {
  if (x === null || x === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(x))
    throw malformed(path, `expected a decimal integer, got ${JSON.stringify(x)}`);
  return readInt(Number(x), path, min);
}

/** The query parameters, each of `allowed` at most once, nothing else. */
function readQuery(q: URLSearchParams, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of q) {
    if (!allowed.includes(k)) throw malformed('query', `unknown parameter "${k}"`);
    if (k in out) throw malformed('query', `parameter "${k}" given twice`);
    out[k] = v;
  }
  return out;
}

export interface WitnessServiceOptions {
  /** The auditor's signing key. */
  readonly signer: Signer;
  /** When the key became valid (ms since the Unix epoch), as /info says. */
  readonly notBefore: number;
  readonly clock: () => number;
  readonly store?: WitnessStore;
  /** Namespaces to reload (as the store saved them); each must verify. */
  readonly namespaces?: readonly NamespaceRecord[];
}

export class WitnessService {
  readonly #o: WitnessServiceOptions;
  readonly #namespaces = new Map<string, Namespace>();

  constructor(o: WitnessServiceOptions) {
    this.#o = o;
    for (const r of o.namespaces ?? []) this.#restore(r);
  }

  get publicKey(): Uint8Array {
    return this.#o.signer.publicKey;
  }

  #restore(r: NamespaceRecord): void {
    const ns = this.#open({ name: r.name, root: r.root, ciphersuite: r.ciphersuite, owner_key: r.owner_key });
    ns.log.restore(r.reports, r.heads);
    for (const [e, b] of Object.entries(r.bundles)) {
      const report = this.#report(ns, e);
      checkDeposit(ns, report, b.artifact, b.operatorCounterSignature);
      ns.bundles.set(report.epoch, b);
    }
    ns.conflicts.push(...r.conflicts);
  }

  #open(record: Namespace['record']): Namespace {
    const log = new WitnessLog(record.name, this.#o.signer, this.#o.clock, {
      ciphersuite: record.ciphersuite,
      root: record.root,
    });
    const ns: Namespace = { record, log, bundles: new Map(), conflicts: [] };
    this.#namespaces.set(record.name, ns);
    return ns;
  }

  #save(ns: Namespace): void {
    this.#o.store?.save({
      ...ns.record,
      reports: ns.log.getReports(),
      heads: ns.log.getHeads(),
      bundles: Object.fromEntries(ns.bundles),
      conflicts: ns.conflicts,
    });
  }

  /** Answers one request; never throws. */
  handle(req: WitnessRequest): WitnessResponse {
    try {
      return this.#route(req);
    } catch (e) {
      if (isVaultError(e)) return errorResponse(e.code, e.message.slice(e.code.length + 2));
      return errorResponse('Unavailable', `internal error: ${(e as Error).message}`, 500);
    }
  }

  #route(req: WitnessRequest): WitnessResponse {
    let parts: string[];
    try {
      parts = req.path.split('/').slice(1).map(decodeURIComponent);
    } catch {
      throw malformed('path', 'not percent-encoded UTF-8');
    }
    const [first, name, sub, ...rest] = parts;
    if (parts.length === 1 && first === 'info') return route(req, 'GET', () => this.#info(req));
    if (first !== 'namespaces') throw notFound(`no route ${req.path}`);
    if (parts.length === 1) return req.method === 'POST' ? this.#create(req) : route(req, 'GET', () => this.#list(req));
    const ns = this.#namespace(name!);
    if (parts.length === 2) return route(req, 'GET', () => (readQuery(req.query, []), ok(namespaceInfo(ns))));
    if (sub === 'audits' && rest.length === 0)
      return req.method === 'POST' ? this.#publish(ns, req) : route(req, 'GET', () => this.#audits(ns, req));
    if (sub === 'audits' && rest.length === 1)
      return route(req, 'GET', () => (readQuery(req.query, []), ok(encodeReport(this.#report(ns, rest[0]!)))));
    if (sub === 'bkv') return this.#bkv(ns, rest, req);
    throw notFound(`no route ${req.path}`);
  }

  #namespace(name: string): Namespace {
    const ns = this.#namespaces.get(name);
    if (ns === undefined) throw notFound(`no namespace "${name.slice(0, 128)}"`);
    return ns;
  }

  #report(ns: Namespace, epochText: string): AuditorReport {
    const epoch = readDecimal(epochText, 'epoch', 1);
    const r = ns.log.getReport(epoch);
    if (r === undefined)
      throw notFound(`${ns.record.name}: epoch ${epoch} is not published (the log has ${ns.log.size})`);
    return r;
  }

  #info(req: WitnessRequest): WitnessResponse {
    readQuery(req.query, []);
    return ok({ keys: [{ public_key: toHex(this.publicKey), not_before: this.#o.notBefore }], logs: [] });
  }

  #list(req: WitnessRequest): WitnessResponse {
    readQuery(req.query, []);
    return ok({ namespaces: [...this.#namespaces.values()].map(namespaceInfo) });
  }

  #create(req: WitnessRequest): WitnessResponse {
    readQuery(req.query, []);
    const o = readObject(req.body, 'namespace', ['name', 'root', 'owner_key'], ['ciphersuite', 'signature_version']);
    const name = readString(o.name, 'namespace.name', NAME);
    const root = readString(o.root, 'namespace.root');
    checkRoot(root, 'namespace.root');
    if (o.ciphersuite === undefined && o.signature_version === undefined)
      throw malformed('namespace', 'missing member "ciphersuite" (or "signature_version")');
    const ciphersuite = readCiphersuite(o.ciphersuite ?? o.signature_version, 'namespace.ciphersuite');
    if (
      o.signature_version !== undefined &&
      readCiphersuite(o.signature_version, 'namespace.signature_version') !== ciphersuite
    )
      throw malformed('namespace', 'ciphersuite and signature_version differ');
    const owner_key = readHex(o.owner_key, 'namespace.owner_key', ED25519_PUBLIC_KEY_BYTES);
    if (this.#namespaces.has(name)) throw new VaultError('RegistrationConflict', `namespace "${name}" exists`);
    const ns = this.#open({ name, root, ciphersuite, owner_key });
    this.#save(ns);
    return ok(namespaceInfo(ns), 201);
  }

  #audits(ns: Namespace, req: WitnessRequest): WitnessResponse {
    const q = readQuery(req.query, ['limit', 'before_epoch']);
    const limit = q.limit === undefined ? DEFAULT_LIMIT : readDecimal(q.limit, 'limit', 1);
    if (limit > MAX_LIMIT) throw malformed('limit', `at most ${MAX_LIMIT}, got ${limit}`);
    const before = q.before_epoch === undefined ? ns.log.size + 1 : readDecimal(q.before_epoch, 'before_epoch', 1);
    const last = Math.min(before - 1, ns.log.size);
    const reports = ns.log.getReports().slice(Math.max(0, last - limit), Math.max(0, last));
    return ok(`{"audits":[${reports.map(encodeReport).join(',')}]}`);
  }

  #publish(ns: Namespace, req: WitnessRequest): WitnessResponse {
    readQuery(req.query, []);
    const o = readObject(req.body, 'publish', ['epoch', 'digest']);
    const epoch = readInt(o.epoch, 'publish.epoch', 1);
    const digest = readHex(o.digest, 'publish.digest', HASH_SIZE);
    const signature = this.#ownerSignature(ns, req, encodePublishRequest(ns.record.name, epoch, digest));
    const published = ns.log.getReport(epoch);
    if (published !== undefined && published.digest === digest)
      throw new VaultError('StaleEpoch', `${ns.record.name}: epoch ${epoch} is already published with this digest`);
    if (published !== undefined) {
      ns.conflicts.push({ epoch, published, requested: { digest, owner_signature: signature, at: this.#o.clock() } });
      this.#save(ns);
      throw new VaultError(
        'LogEquivocation',
        `${ns.record.name}: epoch ${epoch} is published with digest ${published.digest.slice(0, 16)}…; ` +
          `the request for ${digest.slice(0, 16)}… is kept as evidence`,
      );
    }
    const report = ns.log.submit(epoch, digest);
    this.#save(ns);
    return ok(encodeReport(report));
  }

  /** The owner's signature over `message` from the Authorization header (`OperatorSignatureInvalid`). */
  #ownerSignature(ns: Namespace, req: WitnessRequest, message: Uint8Array): string {
    const m = new RegExp(`^${AUTHORIZATION_SCHEME} ([0-9a-f]{${2 * ED25519_SIGNATURE_BYTES}})$`).exec(
      req.authorization ?? '',
    );
    if (m === null)
      throw new VaultError(
        'OperatorSignatureInvalid',
        `publishing needs "Authorization: ${AUTHORIZATION_SCHEME} <signature hex>" by the namespace owner`,
      );
    if (!isValidSignature(fromHex(m[1]!), message, fromHex(ns.record.owner_key)))
      throw new VaultError(
        'OperatorSignatureInvalid',
        `${ns.record.name}: the request is not signed by the namespace owner`,
      );
    return m[1]!;
  }

  #bkv(ns: Namespace, rest: readonly string[], req: WitnessRequest): WitnessResponse {
    const [what, arg, ...more] = rest;
    if (more.length > 0) throw notFound(`no route ${req.path}`);
    const size = (q: Record<string, string>) =>
      q.tree_size === undefined ? ns.log.size : readDecimal(q.tree_size, 'tree_size', 1);
    const checkSize = (n: number) => {
      if (n < 1 || n > ns.log.size)
        throw notFound(`${ns.record.name}: no tree head of size ${n} (the log has ${ns.log.size})`);
      return n;
    };
    if (what === 'owner' && arg === undefined)
      return route(req, 'GET', () => (readQuery(req.query, []), ok({ owner_key: ns.record.owner_key })));
    if (what === 'tree-head' && arg === undefined)
      return route(req, 'GET', () => ok(ns.log.getHead(checkSize(size(readQuery(req.query, ['tree_size']))))));
    if (what === 'inclusion' && arg !== undefined) {
      return route(req, 'GET', () => {
        const n = checkSize(size(readQuery(req.query, ['tree_size'])));
        const epoch = readDecimal(arg, 'epoch', 1);
        if (epoch > n) throw notFound(`${ns.record.name}: epoch ${epoch} is not in the tree of size ${n}`);
        return ok({ epoch, tree_size: n, proof: ns.log.getInclusionProof(epoch, n) });
      });
    }
    if (what === 'consistency' && arg === undefined) {
      return route(req, 'GET', () => {
        const q = readQuery(req.query, ['first', 'second']);
        const second = checkSize(q.second === undefined ? ns.log.size : readDecimal(q.second, 'second', 1));
        const first = readDecimal(q.first, 'first', 1);
        if (first > second) throw malformed('first', `${first} is above second (${second})`);
        return ok({ first, second, proof: ns.log.getConsistencyProof(first, second) });
      });
    }
    if (what === 'bundles' && arg !== undefined)
      return req.method === 'PUT'
        ? this.#deposit(ns, arg, req)
        : route(req, 'GET', () => ok(this.#bundle(ns, arg, req)));
    if (what === 'conflicts' && arg === undefined)
      return route(req, 'GET', () => (readQuery(req.query, []), ok({ conflicts: ns.conflicts })));
    throw notFound(`no route ${req.path}`);
  }

  #bundle(ns: Namespace, epochText: string, req: WitnessRequest): Bundle {
    readQuery(req.query, []);
    const report = this.#report(ns, epochText);
    const b = ns.bundles.get(report.epoch);
    if (b === undefined) throw notFound(`${ns.record.name}: no artifact deposited for epoch ${report.epoch}`);
    return { artifact: b.artifact, report, operatorCounterSignature: b.operatorCounterSignature };
  }

  /** The owner deposits the artifact and its counter-signature; both are checked against the epoch's report. */
  #deposit(ns: Namespace, epochText: string, req: WitnessRequest): WitnessResponse {
    readQuery(req.query, []);
    const report = this.#report(ns, epochText);
    const o = readObject(req.body, 'bundle', ['artifact', 'operatorCounterSignature']);
    const b = decodeBundle({ ...o, report }, 'bundle');
    checkDeposit(ns, report, b.artifact, b.operatorCounterSignature!);
    const held = ns.bundles.get(report.epoch);
    if (held !== undefined) {
      if (held.artifact === b.artifact && held.operatorCounterSignature === b.operatorCounterSignature)
        return ok({ epoch: report.epoch, deposited: true });
      throw new VaultError('RegistrationConflict', `epoch ${report.epoch}: another bundle is deposited`);
    }
    ns.bundles.set(report.epoch, { artifact: b.artifact, operatorCounterSignature: b.operatorCounterSignature! });
    this.#save(ns);
    return ok({ epoch: report.epoch, deposited: true }, 201);
  }
}

/** A deposited bundle is the epoch's: SHA-256 of the artifact is its digest, the owner counter-signed its signature. */
function checkDeposit(ns: Namespace, report: AuditorReport, artifactText: string, counterSignature: string): void {
  if (toHex(computeArtifactDigest(artifactText)) !== report.digest)
    throw new VaultError(
      'DigestMismatch',
      `epoch ${report.epoch}: SHA-256 of the artifact is not the published digest`,
    );
  const artifact = decodeArtifact(artifactText, 'bundle.artifact');
  if (artifact.namespace !== ns.record.name)
    throw new VaultError('NamespaceMismatch', `an artifact of namespace "${artifact.namespace}"`);
  if (!isValidSignature(fromHex(counterSignature), fromHex(report.signature), fromHex(ns.record.owner_key))) {
    throw new VaultError(
      'OperatorSignatureInvalid',
      `epoch ${report.epoch}: the counter-signature is not the owner's over the auditor signature`,
    );
  }
}

function route(req: WitnessRequest, method: string, f: () => WitnessResponse): WitnessResponse {
  if (req.method !== method)
    throw new VaultError('UnknownMessageType', `${req.method} ${req.path}: expected ${method}`);
  return f();
}

/** plexi's `NamespaceInfo`, members in its order. */
function namespaceInfo(ns: Namespace): Record<string, unknown> {
  const { name, root, ciphersuite } = ns.record;
  const size = ns.log.size;
  return {
    name,
    log_directory: null,
    root,
    ...(size > 0 && { last_verified_epoch: size }),
    status: size > 0 ? 'Online' : 'Initialization',
    reports_uri: `/namespaces/${name}/reports`,
    audits_uri: `/namespaces/${name}/audits`,
    signature_version: ciphersuite,
    ciphersuite,
  };
}
