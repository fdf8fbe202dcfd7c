/**
 * The witness service over HTTP (spec ch. 8 §8.7): node:http around `WitnessService.handle`, and
 * the directory that keeps the witness's key and namespaces across restarts. `bkv witness serve
 * --dir D --listen host:port` runs it.
 *
 *   D/auditor-key.json            {seed, not_before}: the witness HSM's state (mode 0600); its
 *                                 Ed25519 key is generated from the seed inside a memory HSM
 *   D/namespaces/<name>.json      one namespace: root, ciphersuite, owner key, reports, tree
 *                                 heads, deposited bundles, conflict evidence (written atomically:
 *                                 a temporary file, then rename)
 *
 * The server moves bytes only: a body above its limit is 413, a body that is not JSON 400, a
 * request that does not finish in time is dropped (`requestTimeout`); everything else is the
 * service's answer. On start every namespace is re-verified (every report, head and bundle), so a
 * directory edited behind the witness's back is refused instead of served.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { type Rng, fromHex, toHex } from '../crypto/bytes.ts';
import { seededRng, systemRng } from '../crypto/rng.ts';
import { VaultError } from '../errors.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { malformed, readHex, readInt, readObject } from './json.ts';
import { hsmSigner, type Signer } from './signing.ts';
import { type NamespaceRecord, decodeNamespaceRecord } from './witness-api.ts';
import { type WitnessHandler, type WitnessResponse, WitnessService, errorResponse } from './witness-service.ts';

/** The body limits: a bundle deposit carries an artifact; everything else is a few hundred bytes. */
export const MAX_BUNDLE_BODY = 1 << 20;
export const MAX_BODY = 16 << 10;

const KEY_FILE = 'auditor-key.json';
const NAMESPACES_DIR = 'namespaces';

export interface WitnessDirectory {
  readonly signer: Signer;
  readonly notBefore: number;
  readonly namespaces: readonly NamespaceRecord[];
  save(record: NamespaceRecord): void;
}

/** Opens (or creates, with a key from `rng` at `now`) the witness directory `dir`. */
export function openWitnessDirectory(dir: string, now: number, rng: Rng = systemRng): WitnessDirectory {
  mkdirSync(join(dir, NAMESPACES_DIR), { recursive: true });
  const keyFile = join(dir, KEY_FILE);
  if (!existsSync(keyFile)) {
    writeFileSync(keyFile, `${JSON.stringify({ seed: toHex(rng(32)), not_before: now }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
  }
  const o = readObject(parseFile(keyFile), KEY_FILE, ['seed', 'not_before']);
  const hsm = MemoryHsm.create('witness', seededRng(fromHex(readHex(o.seed, `${KEY_FILE}.seed`, 32))));
  const signer = hsmSigner(hsm, 'witness/log-signing');
  const files = readdirSync(join(dir, NAMESPACES_DIR))
    .filter((f) => f.endsWith('.json'))
    .sort();
  const namespaces = files.map((f) => {
    const record = decodeNamespaceRecord(parseFile(join(dir, NAMESPACES_DIR, f)), `${NAMESPACES_DIR}/${f}`);
    if (fileName(record.name) !== f) throw malformed(`${NAMESPACES_DIR}/${f}`, `holds namespace "${record.name}"`);
    return record;
  });
  return {
    signer,
    notBefore: readInt(o.not_before, `${KEY_FILE}.not_before`, 0),
    namespaces,
    save(record) {
      const path = join(dir, NAMESPACES_DIR, fileName(record.name));
      writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 1)}\n`);
      renameSync(`${path}.tmp`, path);
    },
  };
}

function fileName(namespace: string): string {
  return `${encodeURIComponent(namespace)}.json`;
}

function parseFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw malformed(path, `not JSON (${(e as Error).message})`);
  }
}

/** The service of directory `dir`, its namespaces re-verified (`LogInconsistent` and the like if not). */
export function openWitnessService(dir: string, clock: () => number, rng: Rng = systemRng): WitnessService {
  const d = openWitnessDirectory(dir, clock(), rng);
  return new WitnessService({ signer: d.signer, notBefore: d.notBefore, clock, store: d, namespaces: d.namespaces });
}

function send(res: ServerResponse, r: WitnessResponse): void {
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(r.body) });
  res.end(r.body);
}

/** Reads the request body up to `limit` bytes; null when it is larger (the rest is drained). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** node:http around a handler (the service's, or a test's wrapper of it). */
export function createWitnessServer(handle: WitnessHandler): Server {
  const server = createServer(
    { requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 1_000 },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'http://witness');
      const method = req.method ?? 'GET';
      const limit = /\/bkv\/bundles\//.test(url.pathname) ? MAX_BUNDLE_BODY : MAX_BODY;
      readBody(req, limit).then(
        (raw) => {
          if (raw === null)
            return send(res, errorResponse('MalformedMessage', `the body is larger than ${limit} bytes`, 413));
          let body: unknown;
          if (raw.length > 0) {
            try {
              body = JSON.parse(raw.toString('utf8'));
            } catch (e) {
              return send(res, errorResponse('MalformedMessage', `the body is not JSON (${(e as Error).message})`));
            }
          }
          const authorization = req.headers.authorization;
          send(
            res,
            handle({
              method,
              path: url.pathname,
              query: url.searchParams,
              ...(body !== undefined && { body }),
              ...(authorization !== undefined && { authorization }),
            }),
          );
        },
        () => res.destroy(),
      );
    },
  );
  return server;
}

export interface RunningWitness {
  readonly server: Server;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/** `host:port` (port 0: any free port), or throws `InvalidParameter`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(.+):([0-9]{1,5})$/.exec(listen);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || port > 65535)
    throw new VaultError('InvalidParameter', `--listen expected host:port, got ${JSON.stringify(listen)}`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** Listens on `host:port`; resolves once bound. */
export function listenWitness(handle: WitnessHandler, host: string, port: number): Promise<RunningWitness> {
  const server = createWitnessServer(handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        server,
        url: `http://${h}:${a.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
