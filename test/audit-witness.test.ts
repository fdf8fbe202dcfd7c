/**
 * `bkv audit --witness URL --namespace NS` (spec ch. 8 §8.8; src/fleet/audit-witness.ts,
 * src/cli/witness.ts) against live witnesses on 127.0.0.1:0:
 *
 * - a deployment published through the witness verifies, every epoch, and in windows
 *   (--limit, --before-epoch);
 * - every tampering of what the witness serves (each field of the report, everywhere it serves
 *   it; the artifact; the counter-signature; the listing; the inclusion proof; the tree head) is
 *   caught, with its code, at the epoch it concerns;
 * - a witness that equivocates (two logs, two auditors) passes each audit alone and is caught by
 *   the consistency check against the other auditor's tree head; an auditor that ignores the
 *   heads it was given does not catch it;
 * - a republication attempt the witness kept as evidence fails the audit;
 * - `bkv witness verify` and the whole acceptance: serve, deploy through it, audit.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toHex } from '../src/crypto/bytes.ts';
import { type FleetArtifact, computeArtifactDigest, encodeArtifact } from '../src/fleet/artifact.ts';
import { auditWitness } from '../src/fleet/audit-witness.ts';
import { encodeReport, signStatement, statementOf } from '../src/fleet/report.ts';
import { encodeStatement } from '../src/fleet/statement.ts';
import { publishThroughWitness } from '../src/fleet/witness-client.ts';
import { auditThroughWitness, witnessServe, witnessVerify } from '../src/cli/witness.ts';
import { audit as auditDirectory, fleetDeploy } from '../src/cli/fleet.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { hsmSigner } from '../src/fleet/signing.ts';
import { flipLastHexDigit } from '../src/vectors/verdict.ts';
import { type TestWitness, NS, closeAll, planFleets, rewrite, startWitness, tempDir } from './support/witness-world.ts';

afterAll(closeAll);

function capture() {
  const lines: string[] = [];
  return { lines, print: (l: string) => lines.push(l) };
}

async function audit(url: string, o: { limit?: number; beforeEpoch?: number; headsFile?: string } = {}) {
  const out = capture();
  const rc = await auditThroughWitness({ url, namespace: NS, ...o }, out.print);
  return { rc, lines: out.lines, text: out.lines.join('\n') };
}

const plan = planFleets('audit-witness');
let honest: TestWitness;
beforeAll(async () => {
  honest = await startWitness({ keySeed: 'audit-witness' });
  await publishThroughWitness(honest.client, {
    namespace: NS,
    ciphersuite: 1,
    artifacts: plan.artifacts,
    operator: plan.operator,
  });
});

describe('an honest witness', () => {
  test('every epoch verifies; the keys and roles change as the rotation says', async () => {
    const r = await audit(honest.url);
    expect(r.rc, r.text).toBe(0);
    expect(r.lines.filter((l) => / ok: /.test(l))).toHaveLength(3);
    expect(r.text).toContain('keys and roles at epoch 1 (baseline)');
    expect(r.text).toMatch(/keys and roles at epoch 2\n(.*\n)*  \+ retiring-channel/);
    expect(r.lines.at(-1)).toBe('verdict: verified, epochs 1..3 (3)');
  });

  test('--limit and --before-epoch choose the window (mbt: 50 latest by default)', async () => {
    const w = await auditWitness(honest.client, { namespace: NS, limit: 1, beforeEpoch: 3 });
    expect(w.epochs.map((e) => [e.epoch, e.ok])).toEqual([[2, true]]);
    expect((await auditWitness(honest.client, { namespace: NS, limit: 2 })).epochs.map((e) => e.epoch)).toEqual([2, 3]);
    expect((await audit(honest.url, { beforeEpoch: 1 })).rc).toBe(1);
  });

  test('pinned keys: the right ones pass, another auditor or operator key fails', async () => {
    const pinned = { namespace: NS, witnessKey: honest.service.publicKey, operatorKey: plan.operator.publicKey };
    expect((await auditWitness(honest.client, pinned)).failures).toBe(0);
    const other = hsmSigner(MemoryHsm.create('other', seededRng('other')), 'k').publicKey;
    await expect(auditWitness(honest.client, { ...pinned, witnessKey: other })).rejects.toThrow(
      /WitnessSignatureInvalid/,
    );
    const r = await auditWitness(honest.client, { ...pinned, operatorKey: other });
    expect(r.epochs.map((e) => e.code)).toEqual([
      'OperatorSignatureInvalid',
      'OperatorSignatureInvalid',
      'OperatorSignatureInvalid',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// A witness that serves something else than it signed
// ---------------------------------------------------------------------------------------------

const reportPath = /^\/namespaces\/[^/]+\/audits\/2$/;
const listPath = /^\/namespaces\/[^/]+\/audits$/;
const bundlePath = /^\/namespaces\/[^/]+\/bkv\/bundles\/2$/;

/**
 * Edits the report of epoch 2 wherever the witness serves it (its route, the listing, the bundle);
 * `reseal` re-derives serialized_message.
 */
function everywhere(edit: (r: any) => void, reseal = true) {
  const apply = (r: any) => {
    if (r.epoch !== 2) return r;
    edit(r);
    if (reseal) r.serialized_message = toHex(encodeStatement(statementOf(r)));
    return r;
  };
  return rewrite(
    (m, p) => m === 'GET' && (reportPath.test(p) || listPath.test(p) || bundlePath.test(p)),
    (json) => {
      if (Array.isArray(json.audits)) json.audits = json.audits.map(apply);
      else if (json.report !== undefined) json.report = apply(json.report);
      else apply(json);
      return json;
    },
  );
}

const tamperings: [string, ReturnType<typeof rewrite>, string][] = [
  ['report.version', everywhere((r) => (r.version = 2), false), 'MalformedMessage'],
  [
    'report.version and ciphersuite (3)',
    everywhere((r) => (r.version = r.ciphersuite = 3), false),
    'UnsupportedCiphersuite',
  ],
  ['report.ciphersuite (bincode bytes)', everywhere((r) => (r.version = r.ciphersuite = 2)), 'WitnessSignatureInvalid'],
  ['report.namespace', everywhere((r) => (r.namespace = 'meta.other.v1')), 'NamespaceMismatch'],
  ['report.timestamp', everywhere((r) => (r.timestamp += 1)), 'WitnessSignatureInvalid'],
  ['report.epoch', everywhere((r) => (r.epoch = 3)), 'LogInconsistent'],
  ['report.digest', everywhere((r) => (r.digest = flipLastHexDigit(r.digest))), 'DigestMismatch'],
  ['report.signature', everywhere((r) => (r.signature = flipLastHexDigit(r.signature))), 'WitnessSignatureInvalid'],
  ['report.key_id', everywhere((r) => (r.key_id = (r.key_id + 1) % 256)), 'WitnessSignatureInvalid'],
  [
    'report.serialized_message',
    everywhere((r) => (r.serialized_message = flipLastHexDigit(r.serialized_message)), false),
    'MalformedMessage',
  ],
  ['report: a member added', everywhere((r) => (r.note = 'x'), false), 'MalformedMessage'],
  [
    'report: only the listing differs',
    rewrite(
      (m, p) => m === 'GET' && listPath.test(p),
      (j) => ({
        audits: j.audits.map((r: any) => (r.epoch === 2 ? { ...r, signature: flipLastHexDigit(r.signature) } : r)),
      }),
    ),
    'LogInconsistent',
  ],
  [
    "report: the bundle's differs",
    rewrite(
      (m, p) => m === 'GET' && bundlePath.test(p),
      (j) => ({ ...j, report: { ...j.report, signature: flipLastHexDigit(j.report.signature) } }),
    ),
    'LogInconsistent',
  ],
  [
    'artifact',
    rewrite(
      (m, p) => m === 'GET' && bundlePath.test(p),
      (j) => ({ ...j, artifact: j.artifact.replace('"fleet-2"', '"fleet-9"') }),
    ),
    'DigestMismatch',
  ],
  [
    'operatorCounterSignature',
    rewrite(
      (m, p) => m === 'GET' && bundlePath.test(p),
      (j) => ({ ...j, operatorCounterSignature: flipLastHexDigit(j.operatorCounterSignature) }),
    ),
    'OperatorSignatureInvalid',
  ],
  [
    'inclusion proof',
    rewrite(
      (m, p) => m === 'GET' && /\/bkv\/inclusion\/2$/.test(p),
      (j) => ({ ...j, proof: j.proof.map(flipLastHexDigit) }),
    ),
    'InclusionProofInvalid',
  ],
];

describe('every tampering of a served report or artifact is caught, with its reason, at its epoch', () => {
  test.each(tamperings)('%s: epoch 2 fails with %s', async (_, wrap, code) => {
    const w = await startWitness({ dir: honest.dir, keySeed: 'unused', wrap });
    const r = await audit(w.url);
    await w.close();
    expect(r.rc, r.text).toBe(1);
    expect(r.lines.filter((l) => /FAILED/.test(l) && !l.startsWith('verdict'))).toEqual([
      expect.stringMatching(new RegExp(`^epoch 2  FAILED  ${code}: `)),
    ]);
    expect(r.lines.filter((l) => / ok: /.test(l)).length).toBe(2);
    expect(r.lines.at(-1)).toBe('verdict: FAILED, 1 failure in 3 epochs');
  });

  test.each([
    [
      'tree head signature',
      (j: any) => ({ ...j, signature: flipLastHexDigit(j.signature) }),
      'WitnessSignatureInvalid',
    ],
    [
      'tree head root',
      (j: any) => ({ ...j, body: { ...j.body, rootHash: flipLastHexDigit(j.body.rootHash) } }),
      'WitnessSignatureInvalid',
    ],
    ['tree head size', (j: any) => ({ ...j, body: { ...j.body, treeSize: 2 } }), 'WitnessSignatureInvalid'],
  ])('%s: the audit stops with %s', async (_, edit, code) => {
    const w = await startWitness({
      dir: honest.dir,
      wrap: rewrite((m, p) => m === 'GET' && /\/bkv\/tree-head$/.test(p), edit),
    });
    const r = await audit(w.url);
    await w.close();
    expect([r.rc, r.lines]).toEqual([1, [expect.stringMatching(new RegExp(`^audit FAILED: ${code}: tree head: `))]]);
  });
});

// ---------------------------------------------------------------------------------------------
// Equivocation: two logs, two auditors
// ---------------------------------------------------------------------------------------------

describe('a witness that equivocates (two digests for one epoch, to two auditors)', () => {
  const other = (a: FleetArtifact, k: number) => ({ ...a, issuedAt: a.issuedAt + k });
  /** View A: the honest log. View B: the same key and epoch 1, then other artifacts (another digest at epoch 2). */
  async function viewB(extra: number) {
    const b = await startWitness({ keySeed: 'audit-witness' });
    const artifacts = [
      plan.artifacts[0]!,
      ...plan.artifacts.slice(1).map((a) => other(a, 1)),
      ...Array.from({ length: extra }, (_, i) => other(plan.artifacts[2]!, 2 + i)),
    ];
    await publishThroughWitness(b.client, { namespace: NS, ciphersuite: 1, artifacts, operator: plan.operator });
    expect(b.service.publicKey).toEqual(honest.service.publicKey);
    return b;
  }

  test.each([
    ['the same size (3 and 3)', 0, 'LogEquivocation'],
    ['a larger log (3, then 4)', 1, 'ConsistencyProofInvalid'],
  ])(
    "%s: each view audits alone (%i epochs more in view B); with the other auditor's head it fails with %s",
    async (_, extra, code) => {
      const b = await viewB(extra);
      const heads = join(tempDir('heads'), 'heads.json');
      const first = await audit(honest.url, { headsFile: heads });
      expect(first.rc, first.text).toBe(0);
      expect(first.lines.at(-1)).toMatch(/^tree head of size 3 added to /);
      expect((await audit(b.url)).rc).toBe(0); // alone, the split view is a valid log
      const second = await audit(b.url, { headsFile: heads });
      expect([second.rc, second.lines]).toEqual([
        1,
        [expect.stringMatching(new RegExp(`^audit FAILED: ${code}: the tree head of size 3 seen before: `))],
      ]);
      // an auditor that ignores the heads it was given does not see it
      const ignoring = await auditWitness(b.client, { namespace: NS });
      expect(ignoring.failures).toBe(0);
    },
  );

  test('a log cut back below a head seen before fails too', async () => {
    const short = await startWitness({ keySeed: 'audit-witness' });
    await publishThroughWitness(short.client, {
      namespace: NS,
      ciphersuite: 1,
      artifacts: plan.artifacts.slice(0, 2),
      operator: plan.operator,
    });
    const heads = join(tempDir('heads'), 'heads.json');
    expect((await audit(honest.url, { headsFile: heads })).rc).toBe(0);
    const r = await audit(short.url, { headsFile: heads });
    expect(r.lines).toEqual([
      expect.stringMatching(/^audit FAILED: LogInconsistent: the tree head of size 3 seen before: /),
    ]);
  });
});

describe('a republication attempt kept as evidence', () => {
  test('the owner asked for epoch 2 with another digest: the audit fails with LogEquivocation', async () => {
    const w = await startWitness({ keySeed: 'conflict' });
    await publishThroughWitness(w.client, {
      namespace: NS,
      ciphersuite: 1,
      artifacts: plan.artifacts,
      operator: plan.operator,
    });
    expect((await audit(w.url)).rc).toBe(0);
    const d = toHex(computeArtifactDigest(encodeArtifact({ ...plan.artifacts[1]!, issuedAt: 1 })));
    await expect(w.client.publish(NS, 2, d, plan.operator)).rejects.toThrow(/LogEquivocation/);
    const r = await audit(w.url);
    expect(r.rc).toBe(1);
    expect(r.lines).toContainEqual(
      expect.stringMatching(/^conflict at epoch 2: FAILED  LogEquivocation: the log owner asked to republish epoch 2/),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------------------------

describe('bkv witness verify', () => {
  test('a report verifies (0); tampered, under another key, or unreadable it fails with the reason (1)', async () => {
    const dir = tempDir('verify');
    const report = await honest.client.report(NS, 2);
    const file = (name: string, x: unknown) => {
      const p = join(dir, name);
      writeFileSync(p, typeof x === 'string' ? x : JSON.stringify(x));
      return p;
    };
    const key = toHex(honest.service.publicKey);
    const run = async (f: string, k = key) => {
      const out = capture();
      return { rc: await witnessVerify({ file: f, key: k }, out.print), lines: out.lines };
    };
    const good = await run(file('good.json', report));
    expect(good.rc).toBe(0);
    expect(good.lines[0]).toMatch(/^report verifies: namespace meta\.encrypted_backups\.fleet_keys\.v1, epoch 2, /);
    const r = report as Record<string, unknown>;
    const bincode = encodeReport(
      signStatement(hsmSigner(MemoryHsm.create('b', seededRng('b')), 'k'), {
        ...statementOf(r as never),
        ciphersuite: 2,
      }),
    );
    expect(
      (await run(file('bincode.json', bincode), toHex(hsmSigner(MemoryHsm.create('b', seededRng('b')), 'k').publicKey)))
        .rc,
    ).toBe(0);
    const cases: [string, unknown, string][] = [
      [
        'timestamp.json',
        { ...r, timestamp: (r.timestamp as number) + 1, serialized_message: null },
        'WitnessSignatureInvalid',
      ],
      ['serialized.json', { ...r, timestamp: (r.timestamp as number) + 1 }, 'MalformedMessage'],
      ['suite.json', { ...r, version: 7, ciphersuite: 7 }, 'UnsupportedCiphersuite'],
      ['broken.json', '{"version":', 'MalformedMessage'],
    ];
    for (const [name, x, code] of cases)
      expect(await run(file(name, x))).toEqual({
        rc: 1,
        lines: [expect.stringMatching(new RegExp(`^report FAILED: ${code}: `))],
      });
    expect((await run(file('good2.json', report), toHex(plan.operator.publicKey))).lines[0]).toMatch(
      /^report FAILED: WitnessSignatureInvalid: .*key_id/,
    );
    expect((await run(join(dir, 'missing.json'))).rc).toBe(1);
  });
});

describe('acceptance: witness serve + fleet deploy --witness + audit --witness', () => {
  test('the three commands in one process, on 127.0.0.1:0, then a tampered report fails with its reason', async () => {
    const stop = new AbortController();
    const served = capture();
    const serving = witnessServe({ dir: tempDir('serve'), listen: '127.0.0.1:0', signal: stop.signal }, served.print);
    try {
      await expect.poll(() => served.lines.length, { timeout: 10_000 }).toBeGreaterThan(0);
      const url = /listening on (\S+),/.exec(served.lines[0]!)![1]!;
      const deployed = capture();
      const out = join(tempDir('deployed'), 'd');
      const options = { witness: url, replicas: '1', seed: 'acceptance', out };
      expect(await fleetDeploy({ positionals: [], options }, deployed.print)).toBe(0);
      expect(deployed.lines.join('\n')).toContain('a replayed epoch-1 bundle is refused: StaleEpoch');
      // --out with --witness: the same publication as files, which the offline audit verifies too
      const offline = capture();
      expect(await auditDirectory({ positionals: [out], options: {} }, { print: offline.print, json: null })).toBe(0);
      expect(offline.lines.at(-1)).toBe('audit passed: 3 epochs, 2 fleets');
      // anchored to the live witness's latest head; a copy cut back to 2 epochs is refused
      const anchored = capture();
      const live = { positionals: [out], options: { witness: url } };
      expect(await auditDirectory(live, { print: anchored.print, json: null })).toBe(0);
      expect(anchored.lines).toContainEqual(expect.stringMatching(/^anchored to the witness's head of size 3 /));
      const cut = join(tempDir('cut'), 'd');
      cpSync(out, cut, { recursive: true });
      const log = JSON.parse(readFileSync(join(cut, 'log.json'), 'utf8')) as { entries: unknown[]; heads: unknown[] };
      const shorter = { ...log, entries: log.entries.slice(0, 2), heads: log.heads.slice(0, 2) };
      writeFileSync(join(cut, 'log.json'), JSON.stringify(shorter));
      rmSync(join(cut, 'bundles', 'epoch-0003.json'));
      const refused = capture();
      const cutLive = { positionals: [cut], options: { witness: url } };
      expect(await auditDirectory(cutLive, { print: refused.print, json: null })).toBe(1);
      const withheld = /^audit FAILED in \S+ \(latest tree head\): LogInconsistent: .*epochs 3\.\.3 were withheld$/;
      expect(refused.lines.at(-1)).toMatch(withheld);
      const unanchored = capture();
      const io = { print: unanchored.print, json: null };
      expect(await auditDirectory({ positionals: [cut], options: {} }, io)).toBe(0); // what it got before
      const audited = await audit(url);
      expect(audited.rc, audited.text).toBe(0);
      expect(served.lines).toContainEqual(
        expect.stringMatching(/^POST \/namespaces\/meta\.encrypted_backups\.fleet_keys\.v1\/audits 200$/),
      );
      const info = (await (await fetch(`${url}/info`)).json()) as { keys: { public_key: string }[] };
      const report = (await (await fetch(`${url}/namespaces/${NS}/audits/3`)).json()) as Record<string, unknown>;
      const tampered = join(tempDir('acceptance'), 'tampered.json');
      writeFileSync(
        tampered,
        JSON.stringify({ ...report, digest: flipLastHexDigit(report.digest as string), serialized_message: null }),
      );
      const verified = capture();
      expect(await witnessVerify({ file: tampered, key: info.keys[0]!.public_key }, verified.print)).toBe(1);
      expect(verified.lines).toEqual([
        expect.stringMatching(
          /^report FAILED: WitnessSignatureInvalid: epoch 3: the auditor signature does not verify/,
        ),
      ]);
    } finally {
      stop.abort();
      expect(await serving).toBe(0);
    }
    expect(served.lines.at(-1)).toBe('bkv witness: closed');
  });
});
