/**
 * A client of the witness service (spec ch. 8 §8.7, the routes in witness-service.ts), and the
 * operator's publication through it (`publishThroughWitness`, ch. 7 §7.9 over HTTP).
 *
 * Every call is bounded: a timeout per request, a size limit on the answer. A refusal of the
 * service (an HTTP error whose body is {code, message} with a closed code) becomes that
 * `VaultError`; an answer that is not JSON or a code outside the vocabulary is `MalformedMessage`;
 * no answer at all is `Unavailable`. What the calls return is the parsed JSON: decoding it strictly
 * is the caller's business (the audit wants to say which epoch a bad answer was about).
 *
 * The operator publishes epoch by epoch: it asks for the auditor's signature on the artifact's
 * digest (signing the request with its key, the namespace owner's), verifies the report under
 * the auditor key before anything else (key id, statement, strict Ed25519), counter-signs the 64
 * signature bytes, and deposits the artifact with the counter-signature.
 * @module
 */
import { type Bytes, concat, fromHex, toHex } from '../crypto/bytes.ts';
import { ERROR_CODES, type ErrorCode, VaultError, isVaultError } from '../errors.ts';
import { type FleetArtifact, computeArtifactDigest, encodeArtifact } from './artifact.ts';
import type { Bundle } from './bundle.ts';
import { type SignedTreeHead, decodeProof, decodeTreeHead } from './log.ts';
import { counterSign } from './operator.ts';
import { type AuditorReport, decodeReport, verifyReport } from './report.ts';
import type { Signer } from './signing.ts';
import { type Ciphersuite, formatRoot } from './statement.ts';
import {
  AUTHORIZATION_SCHEME,
  type AuditorInfo,
  type NamespaceInfo,
  decodeAuditorInfo,
  decodeNamespaceInfo,
  encodePublishRequest,
} from './witness-api.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_ANSWER_BYTES = 4 << 20;

/** The answer's text, refused (`MalformedMessage`) past `limit` bytes without reading the rest. */
async function readBounded(res: Response, limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  for (;;) {
    const part = await reader?.read();
    if (part === undefined || part.done) break;
    size += part.value.length;
    if (size > limit) {
      await reader!.cancel();
      throw new VaultError('MalformedMessage', `an answer larger than ${limit} bytes`);
    }
    chunks.push(part.value);
  }
  return new TextDecoder().decode(concat(...chunks));
}

export class WitnessClient {
  readonly base: string;
  readonly #timeoutMs: number;

  constructor(url: string, o: { readonly timeoutMs?: number } = {}) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new VaultError('InvalidParameter', `witness URL expected http://host:port, got ${JSON.stringify(url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new VaultError('InvalidParameter', `witness URL expected http(s), got ${u.protocol}`);
    this.base = u.href.replace(/\/$/, '');
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** One request; the answer's parsed JSON. */
  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const url = `${this.base}${path}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await readBounded(res, MAX_ANSWER_BYTES);
    } catch (e) {
      if (isVaultError(e)) throw new VaultError(e.code, `${method} ${url}: ${e.message.slice(e.code.length + 2)}`);
      throw new VaultError('Unavailable', `${method} ${url}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new VaultError('MalformedMessage', `${method} ${url}: HTTP ${res.status}, the answer is not JSON`);
    }
    if (res.ok) return json;
    const e = json as { code?: unknown; message?: unknown };
    const code =
      typeof e?.code === 'string' && (ERROR_CODES as readonly string[]).includes(e.code)
        ? (e.code as ErrorCode)
        : 'MalformedMessage';
    throw new VaultError(
      code,
      `${method} ${path}: HTTP ${res.status}: ${typeof e?.message === 'string' ? e.message : text.slice(0, 200)}`,
    );
  }

  #ns(namespace: string): string {
    return `/namespaces/${encodeURIComponent(namespace)}`;
  }

  async info(): Promise<AuditorInfo> {
    return decodeAuditorInfo(await this.request('GET', '/info'));
  }

  async namespace(namespace: string): Promise<NamespaceInfo> {
    return decodeNamespaceInfo(await this.request('GET', this.#ns(namespace)));
  }

  async createNamespace(o: {
    readonly name: string;
    readonly root: string;
    readonly ciphersuite: Ciphersuite;
    readonly ownerKey: Bytes;
  }): Promise<NamespaceInfo> {
    return decodeNamespaceInfo(
      await this.request('POST', '/namespaces', {
        name: o.name,
        root: o.root,
        ciphersuite: o.ciphersuite,
        owner_key: toHex(o.ownerKey),
      }),
    );
  }

  /** Asks the auditor to sign `digest` at `epoch`; the request is signed by the owner. The report, decoded. */
  async publish(namespace: string, epoch: number, digest: string, owner: Signer): Promise<AuditorReport> {
    const signature = toHex(owner.sign(encodePublishRequest(namespace, epoch, digest)));
    return decodeReport(
      await this.request(
        'POST',
        `${this.#ns(namespace)}/audits`,
        { epoch, digest },
        { authorization: `${AUTHORIZATION_SCHEME} ${signature}` },
      ),
    );
  }

  report(namespace: string, epoch: number): Promise<unknown> {
    return this.request('GET', `${this.#ns(namespace)}/audits/${epoch}`);
  }

  audits(namespace: string, o: { readonly limit?: number; readonly beforeEpoch?: number } = {}): Promise<unknown> {
    const q = new URLSearchParams({
      ...(o.limit !== undefined && { limit: String(o.limit) }),
      ...(o.beforeEpoch !== undefined && { before_epoch: String(o.beforeEpoch) }),
    });
    return this.request('GET', `${this.#ns(namespace)}/audits${q.size > 0 ? `?${q}` : ''}`);
  }

  owner(namespace: string): Promise<unknown> {
    return this.request('GET', `${this.#ns(namespace)}/bkv/owner`);
  }

  async treeHead(namespace: string, treeSize?: number): Promise<SignedTreeHead> {
    return decodeTreeHead(
      await this.request(
        'GET',
        `${this.#ns(namespace)}/bkv/tree-head${treeSize === undefined ? '' : `?tree_size=${treeSize}`}`,
      ),
      'tree head',
    );
  }

  async inclusionProof(namespace: string, epoch: number, treeSize: number): Promise<string[]> {
    const o = (await this.request('GET', `${this.#ns(namespace)}/bkv/inclusion/${epoch}?tree_size=${treeSize}`)) as {
      proof?: unknown;
    };
    return decodeProof(o?.proof, `inclusion proof of epoch ${epoch}`);
  }

  async consistencyProof(namespace: string, first: number, second: number): Promise<string[]> {
    const o = (await this.request('GET', `${this.#ns(namespace)}/bkv/consistency?first=${first}&second=${second}`)) as {
      proof?: unknown;
    };
    return decodeProof(o?.proof, `consistency proof from ${first} to ${second}`);
  }

  bundle(namespace: string, epoch: number): Promise<unknown> {
    return this.request('GET', `${this.#ns(namespace)}/bkv/bundles/${epoch}`);
  }

  async depositBundle(namespace: string, epoch: number, b: Bundle): Promise<void> {
    await this.request('PUT', `${this.#ns(namespace)}/bkv/bundles/${epoch}`, {
      artifact: b.artifact,
      operatorCounterSignature: b.operatorCounterSignature,
    });
  }

  conflicts(namespace: string): Promise<unknown> {
    return this.request('GET', `${this.#ns(namespace)}/bkv/conflicts`);
  }
}

/** The one auditor key /info lists (`InvalidParameter` when there are several: pin one). */
export function soleAuditorKey(info: AuditorInfo): Bytes {
  if (info.keys.length !== 1)
    throw new VaultError(
      'InvalidParameter',
      `the witness lists ${info.keys.length} auditor keys: pin one (--witness-key)`,
    );
  return fromHex(info.keys[0]!.public_key);
}

export interface WitnessPublication {
  readonly auditorKey: Bytes;
  readonly bundles: readonly Bundle[];
}

/**
 * Creates `namespace` on the witness (root: epoch 1 and the first artifact's digest, owner: the
 * operator key) and publishes `artifacts` as epochs 1, 2, ... (see the module header).
 */
export async function publishThroughWitness(
  client: WitnessClient,
  o: {
    readonly namespace: string;
    readonly ciphersuite: Ciphersuite;
    readonly artifacts: readonly FleetArtifact[];
    readonly operator: Signer;
    readonly onEpoch?: (a: FleetArtifact, b: Bundle) => void;
  },
): Promise<WitnessPublication> {
  const auditorKey = soleAuditorKey(await client.info());
  const texts = o.artifacts.map(encodeArtifact);
  const digests = texts.map((t) => toHex(computeArtifactDigest(t)));
  if (texts.length === 0) throw new VaultError('InvalidParameter', 'nothing to publish');
  await client.createNamespace({
    name: o.namespace,
    root: formatRoot(1, digests[0]!),
    ciphersuite: o.ciphersuite,
    ownerKey: o.operator.publicKey,
  });
  const bundles: Bundle[] = [];
  for (const [i, text] of texts.entries()) {
    const epoch = i + 1;
    const report = await client.publish(o.namespace, epoch, digests[i]!, o.operator);
    const s = verifyReport(report, auditorKey);
    if (
      s.namespace !== o.namespace ||
      s.epoch !== epoch ||
      s.digest !== digests[i] ||
      s.ciphersuite !== o.ciphersuite
    ) {
      throw new VaultError(
        'WitnessSignatureInvalid',
        `epoch ${epoch}: the auditor signed ${s.namespace} epoch ${s.epoch} ` +
          `digest ${s.digest.slice(0, 16)}…, not what was asked`,
      );
    }
    const bundle = counterSign(text, report, o.operator);
    await client.depositBundle(o.namespace, epoch, bundle);
    bundles.push(bundle);
    o.onEpoch?.(o.artifacts[i]!, bundle);
  }
  return { auditorKey, bundles };
}
