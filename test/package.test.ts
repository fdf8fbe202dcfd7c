/**
 * The npm package (spec ch. 14.5): `npm pack` of a copy of the project (its prepack compiles
 * src/ and model/ to dist/ with tsc: JavaScript and .d.ts), installed from the tarball into a
 * temporary consumer project (offline, from npm's cache: the dependencies `npm ci` fetched), and
 * used as a stranger would: from plain Node (a registration and a recovery, a deployment whose
 * bundle a client validates and an auditor audits, the official RFC 9807 vectors through the
 * public API), from TypeScript (tsc against the shipped .d.ts), and through its `bkv` bin.
 * Nothing is written into the checkout.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { vectorsDir } from './support/vectors.ts';

const ROOT = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'bkv-package-'));
const consumer = join(tmp, 'consumer');
let tarball = '';
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * The environment without what npm gives the scripts it runs (npm_config_local_prefix names the
 * checkout, when the suite runs under `npm test`): the nested npm works where it is told, as a user's would.
 */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|INIT_CWD$)/i.test(k)));

/** The command's stdout; when it fails, an error whose message holds its stdout and stderr too. */
function run(cmd: string, args: string[], cwd: string, o: ExecFileSyncOptions = {}): string {
  try {
    const options: ExecFileSyncOptions = { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv };
    return execFileSync(cmd, args, { ...options, ...o }) as string;
  } catch (e) {
    const x = e as Error & { stdout?: string; stderr?: string; status?: number };
    throw Object.assign(new Error(`${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`), {
      status: x.status,
      stderr: x.stderr,
    });
  }
}

beforeAll(() => {
  // a copy of what the package is made from, with the checkout's node_modules (tsc, the types)
  const project = join(tmp, 'project');
  mkdirSync(project);
  for (const f of [
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'README.md',
    'bin',
    'src',
    'model',
    'spec',
    'test/vectors',
  ]) {
    cpSync(join(ROOT, f), join(project, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], project)) as {
    filename: string;
  }[];
  tarball = join(tmp, packed[0]!.filename);
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const install = ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'];
  try {
    run('npm', [...install, '--offline'], consumer);
  } catch {
    run('npm', [...install, '--prefer-offline'], consumer); // npm's cache lacks something: the registry
  }
}, 180_000);

test('the tarball: compiled JavaScript with .d.ts, the bin, the vectors and the spec; no sources, no tests', () => {
  const files = run('tar', ['-tzf', tarball], tmp)
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  for (const entry of [
    'index',
    'client',
    'vault',
    'hsm',
    'softhsm',
    'crypto',
    'fleet',
    'replication',
    'check',
    'vectors',
    'conform',
  ]) {
    expect(files).toContain(`dist/src/package/${entry}.js`);
    expect(files).toContain(`dist/src/package/${entry}.d.ts`);
  }
  expect(files).toContain('bin/bkv.js');
  expect(files).toContain('test/vectors/opaque.json');
  expect(files).toContain('spec/14-cli.md');
  expect(
    files.filter(
      (f) => /^(src|model)\//.test(f) || /\.test\.ts$/.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    ),
  ).toEqual([]);
  expect(readdirSync(join(consumer, 'node_modules', 'bkv'))).not.toContain('src');
});

const CONSUMER_JS = `
import { readFileSync } from 'node:fs';
import { BkvClient, createSingleReplicaVault, directRelay, generateBackupKey, MemoryHsm } from 'bkv';
import { getSuite, seededRng, toHex, utf8 } from 'bkv';
import { INITIAL_CLIENT_FLEET_STATE, validateFleetInfo } from 'bkv/client';
import { auditDeployment, encodeDeploymentFiles, runDeployment } from 'bkv/fleet';
import { checkOpaqueVector } from 'bkv/vectors';

const rng = seededRng('package consumer');
const { vault, client: ctx } = createSingleReplicaVault(MemoryHsm.create('hsm', rng), rng, () => 1000);
const client = new BkvClient(ctx, directRelay((f) => vault.deliver(f)), rng);
const K = generateBackupKey(rng);
const registered = await client.register(utf8('alice'), utf8('correct horse'), K);
const wrong = await client.recover(utf8('alice'), utf8('wrong'));
const recovered = await client.recover(utf8('alice'), utf8('correct horse'));

const d = runDeployment({
  namespace: 'consumer.backup', suite: getSuite('ristretto255-SHA512'), replicas: 1, fleets: 1, rng,
  startTime: Date.UTC(2026, 0, 1),
  openReplica: (fleet, i) => ({ hsm: MemoryHsm.create(fleet + i, rng), prefix: 'bkv/' + fleet + '/r' + i }),
  operator: { hsm: MemoryHsm.create('operator', rng), label: 'operator' },
  vendorHsm: MemoryHsm.create('vendor', rng), witnessHsm: MemoryHsm.create('witness', rng),
});
const trust = {
  namespace: 'consumer.backup', witnessKey: d.log.publicKey, operatorKey: d.operator.publicKey,
  vendorRoot: d.vendor.rootKey,
};
const info = d.record.bundles[0];
const valid = validateFleetInfo(info, trust, INITIAL_CLIENT_FLEET_STATE, info.bundle.timestamp + 60000);
const audit = auditDeployment(encodeDeploymentFiles(d.record));

const vectors = JSON.parse(readFileSync(process.env.RFC9807_VECTORS, 'utf8'));
console.log(JSON.stringify({
  registered: registered.ok,
  wrong: wrong.ok ? 'recovered' : wrong.kind + ':' + wrong.triesRemaining,
  recovered: recovered.ok && toHex(recovered.value) === toHex(K),
  bundleEpoch: valid.state.highestEpoch,
  fleet: valid.artifact.fleetId,
  auditedEpochs: audit.epochs.length,
  vectors: vectors.map((v) => checkOpaqueVector(v)),
}));
`;

test('plain Node imports it without a loader: register, recover, validate a bundle, audit, RFC 9807 vectors', () => {
  writeFileSync(join(consumer, 'consumer.mjs'), CONSUMER_JS);
  const env = { ...cleanEnv, RFC9807_VECTORS: join(vectorsDir(), 'rfc9807-opaque.json') };
  const result = JSON.parse(run(process.execPath, ['consumer.mjs'], consumer, { env })) as Record<string, unknown>;
  expect(result).toEqual({
    registered: true,
    wrong: 'WrongPassword:9',
    recovered: true,
    bundleEpoch: 1,
    fleet: 'fleet-1',
    auditedEpochs: 1,
    vectors: Array.from({ length: 9 }, () => []),
  });
});

test('TypeScript (NodeNext) type-checks against the shipped .d.ts, which are real types (a misuse is refused)', () => {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const compilerOptions = {
    ...{
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
    },
    typeRoots: [join(ROOT, 'node_modules/@types')], // @types/node, as a TypeScript project would have
    types: ['node'],
  };
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
  const typed = `
import { BkvClient, type Outcome, validateFleetInfo } from 'bkv/client';
import { MemoryHsm, type Hsm } from 'bkv/hsm';
import { checkOpaqueVector, type Rfc9807Vector } from 'bkv/vectors';
import { ERROR_CODES, type ErrorCode } from 'bkv';
const code: ErrorCode = ERROR_CODES[0];
const outcome: Outcome<Uint8Array> = { ok: false, kind: 'WrongPassword', triesRemaining: 3 };
// @ts-expect-error: not a kind of Outcome (were the types \`any\`, this directive would be an error itself)
const misuse: Outcome<Uint8Array> = { ok: false, kind: 'NoSuchKind' };
const problems: string[] = checkOpaqueVector({} as Rfc9807Vector);
const hsm: Hsm = MemoryHsm.create('x', (n) => new Uint8Array(n));
export { code, outcome, misuse, problems, hsm, BkvClient, validateFleetInfo };
`;
  writeFileSync(join(consumer, 'consumer.ts'), typed);
  expect(run(process.execPath, [tsc, '-p', '.'], consumer)).toBe('');
}, 60_000);

test('the bkv bin of the installed package runs the compiled CLI', () => {
  const bin = join(consumer, 'node_modules/.bin/bkv');
  expect(run(bin, ['--version'], consumer).trim()).toBe('0.1.0');
  expect(run(bin, ['vectors', 'verify'], consumer)).toMatch(/all vectors in .*node_modules\/bkv\/test\/vectors verify/);
  expect(run(bin, ['opaque', '--seed', 'x'], consumer)).toMatch(/export keys agree/);
  let err = '';
  try {
    run(bin, ['spec', 'check'], consumer);
  } catch (e) {
    err = (e as { stderr: string; status: number }).stderr;
    expect((e as { status: number }).status).toBe(3);
  }
  expect(err).toMatch(/^bkv spec check: .* needs a checkout of bkv/);
});
