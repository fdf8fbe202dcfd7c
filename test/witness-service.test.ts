/**
 * The witness service over HTTP (spec ch. 8 §8.7; src/fleet/witness-service.ts, witness-server.ts,
 * witness-client.ts): the auditor's routes and JSON shapes, publication by the namespace owner
 * only, the log rules at publication (root, +1, unique digests), a conflicting republication
 * refused and kept as evidence, every bad request answered with an HTTP error and a closed code
 * (nothing changed), body limits, deposits checked, and a restart from the directory (and a
 * directory edited behind the witness's back refused). Servers bind 127.0.0.1:0 and are closed.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toHex } from '../src/crypto/bytes.ts';
import { ERROR_CODES, isVaultError } from '../src/errors.ts';
import { computeArtifactDigest, encodeArtifact } from '../src/fleet/artifact.ts';
import { decodeReport, verifyReport } from '../src/fleet/report.ts';
import { isValidSignature } from '../src/fleet/signing.ts';
import { computeKeyId, formatRoot } from '../src/fleet/statement.ts';
import { MAX_ANSWER_BYTES, publishThroughWitness } from '../src/fleet/witness-client.ts';
import { MAX_BODY } from '../src/fleet/witness-server.ts';
import { AUTHORIZATION_SCHEME, encodePublishRequest } from '../src/fleet/witness-api.ts';
import { openWitnessService } from '../src/fleet/witness-server.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { type TestWitness, NS, closeAll, planFleets, startWitness, witnessClock } from './support/witness-world.ts';

const plan = planFleets('witness-service');
const texts = plan.artifacts.map(encodeArtifact);
const digests = texts.map((t) => toHex(computeArtifactDigest(t)));
let W: TestWitness;

beforeAll(async () => {
  W = await startWitness();
  await publishThroughWitness(W.client, {
    namespace: NS,
    ciphersuite: 1,
    artifacts: plan.artifacts,
    operator: plan.operator,
  });
});
afterAll(closeAll);

/** A raw request: status and parsed body. */
async function raw(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${W.url}${path}`, {
    method,
    headers,
    ...(body !== undefined && { body }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, json: JSON.parse(await res.text()) };
}

const sign = (epoch: number, digest: string, signer = plan.operator, namespace = NS) =>
  `${AUTHORIZATION_SCHEME} ${toHex(signer.sign(encodePublishRequest(namespace, epoch, digest)))}`;
const publish = (epoch: number, digest: string, auth?: string) =>
  raw(
    'POST',
    `/namespaces/${NS}/audits`,
    JSON.stringify({ epoch, digest }),
    auth === undefined ? {} : { authorization: auth },
  );
const size = async () => (await W.client.treeHead(NS)).body.treeSize;

describe("the auditor's routes, in its JSON shapes", () => {
  test('/info lists the auditor key with not_before; its key id is the last byte', async () => {
    const info = await raw('GET', '/info');
    expect(info.status).toBe(200);
    expect(Object.keys(info.json)).toEqual(['keys', 'logs']);
    expect(info.json.keys).toEqual([{ public_key: toHex(W.service.publicKey), not_before: expect.any(Number) }]);
    const r = decodeReport((await raw('GET', `/namespaces/${NS}/audits/1`)).json);
    expect(r.key_id).toBe(computeKeyId(W.service.publicKey));
  });

  test('/namespaces and /namespaces/{ns}: plexi\'s NamespaceInfo, root "1/<digest>", Online', async () => {
    const one = await raw('GET', `/namespaces/${NS}`);
    expect(Object.keys(one.json)).toEqual([
      'name',
      'log_directory',
      'root',
      'last_verified_epoch',
      'status',
      'reports_uri',
      'audits_uri',
      'signature_version',
      'ciphersuite',
    ]);
    expect(one.json).toMatchObject({
      name: NS,
      root: formatRoot(1, digests[0]!),
      status: 'Online',
      last_verified_epoch: 3,
      ciphersuite: 1,
      signature_version: 1,
      audits_uri: `/namespaces/${NS}/audits`,
    });
    expect((await raw('GET', '/namespaces')).json).toEqual({ namespaces: [one.json] });
  });

  test('/audits/{epoch} is the report in plexi member order; /audits lists them, oldest first', async () => {
    const r2 = await raw('GET', `/namespaces/${NS}/audits/2`);
    expect(Object.keys(r2.json)).toEqual([
      'version',
      'ciphersuite',
      'namespace',
      'timestamp',
      'epoch',
      'digest',
      'signature',
      'key_id',
      'serialized_message',
    ]);
    expect(verifyReport(decodeReport(r2.json), W.service.publicKey)).toMatchObject({ epoch: 2, digest: digests[1] });
    const all = await raw('GET', `/namespaces/${NS}/audits`);
    expect(all.json.audits.map((r: any) => r.epoch)).toEqual([1, 2, 3]);
    expect(
      (await raw('GET', `/namespaces/${NS}/audits?limit=1&before_epoch=3`)).json.audits.map((r: any) => r.epoch),
    ).toEqual([2]);
    expect((await raw('GET', `/namespaces/${NS}/audits?limit=2`)).json.audits.map((r: any) => r.epoch)).toEqual([2, 3]);
  });

  test('bkv paths: owner, tree heads of every size, inclusion and consistency proofs, bundles', async () => {
    expect((await raw('GET', `/namespaces/${NS}/bkv/owner`)).json).toEqual({
      owner_key: toHex(plan.operator.publicKey),
    });
    expect((await W.client.treeHead(NS, 2)).body.treeSize).toBe(2);
    expect(await W.client.inclusionProof(NS, 1, 3)).toHaveLength(2);
    expect(await W.client.consistencyProof(NS, 1, 3)).toHaveLength(2);
    const b = (await raw('GET', `/namespaces/${NS}/bkv/bundles/3`)).json;
    expect(b.artifact).toBe(texts[2]);
    expect(
      isValidSignature(
        Buffer.from(b.operatorCounterSignature, 'hex'),
        Buffer.from(b.report.signature, 'hex'),
        plan.operator.publicKey,
      ),
    ).toBe(true);
  });
});

describe('publication: the owner only, the log rules, a conflict kept as evidence', () => {
  const fresh = toHex(computeArtifactDigest('{"another":"artifact"}'));

  test('without the owner signature, or by another key: 403 OperatorSignatureInvalid, nothing published', async () => {
    const stranger = planFleets('stranger').operator;
    for (const auth of [
      undefined,
      `${AUTHORIZATION_SCHEME} ${'00'.repeat(64)}`,
      sign(4, fresh, stranger),
      sign(4, fresh.replace(/.$/, '0')),
    ]) {
      const r = await publish(4, fresh, auth);
      expect([r.status, r.json.code]).toEqual([403, 'OperatorSignatureInvalid']);
    }
    expect(await size()).toBe(3);
  });

  test('a gap: 409 LogInconsistent; the same digest again: StaleEpoch (no evidence); a reused digest', async () => {
    expect([
      (await publish(5, fresh, sign(5, fresh))).status,
      (await publish(5, fresh, sign(5, fresh))).json.code,
    ]).toEqual([409, 'LogInconsistent']);
    expect((await publish(3, digests[2]!, sign(3, digests[2]!))).json.code).toBe('StaleEpoch');
    expect((await publish(4, digests[0]!, sign(4, digests[0]!))).json.code).toBe('LogInconsistent');
    expect((await raw('GET', `/namespaces/${NS}/bkv/conflicts`)).json).toEqual({ conflicts: [] });
    expect(await size()).toBe(3);
  });

  test('epoch 2 again with another digest: 409 LogEquivocation, the signed request kept as evidence', async () => {
    const r = await publish(2, fresh, sign(2, fresh));
    expect([r.status, r.json.code]).toEqual([409, 'LogEquivocation']);
    const { conflicts } = (await raw('GET', `/namespaces/${NS}/bkv/conflicts`)).json;
    expect(conflicts).toHaveLength(1);
    const c = conflicts[0];
    expect([c.epoch, c.published.digest, c.requested.digest]).toEqual([2, digests[1], fresh]);
    expect(
      isValidSignature(
        Buffer.from(c.requested.owner_signature, 'hex'),
        encodePublishRequest(NS, 2, fresh),
        plan.operator.publicKey,
      ),
    ).toBe(true);
    expect(decodeReport((await raw('GET', `/namespaces/${NS}/audits/2`)).json).digest).toBe(digests[1]);
    expect(await size()).toBe(3);
  });

  test('a namespace: root at epoch 1, a known ciphersuite, created once; its first epoch is the root', async () => {
    const create = (o: object) =>
      raw(
        'POST',
        '/namespaces',
        JSON.stringify({
          name: 'bkv.test.other',
          root: formatRoot(1, fresh),
          ciphersuite: 2,
          owner_key: toHex(plan.operator.publicKey),
          ...o,
        }),
      );
    expect((await create({ root: formatRoot(2, fresh) })).json.code).toBe('InvalidParameter');
    expect((await create({ ciphersuite: 3 })).json.code).toBe('UnsupportedCiphersuite');
    expect((await create({ signature_version: 1 })).json.code).toBe('MalformedMessage');
    const made = await create({});
    expect([made.status, made.json.status, made.json.ciphersuite]).toEqual([201, 'Initialization', 2]);
    expect((await create({})).json.code).toBe('RegistrationConflict');
    const r = await raw('POST', '/namespaces/bkv.test.other/audits', JSON.stringify({ epoch: 1, digest: digests[0] }), {
      authorization: sign(1, digests[0]!, plan.operator, 'bkv.test.other'),
    });
    expect([r.status, r.json.code]).toEqual([409, 'LogInconsistent']);
    const ok = await raw('POST', '/namespaces/bkv.test.other/audits', JSON.stringify({ epoch: 1, digest: fresh }), {
      authorization: sign(1, fresh, plan.operator, 'bkv.test.other'),
    });
    expect([ok.status, ok.json.ciphersuite, ok.json.serialized_message.slice(0, 8)]).toEqual([200, 2, '02000000']);
  });
});

describe('bad requests: an HTTP error with a closed code, nothing changed', () => {
  test.each([
    ['GET', '/nope', undefined, 404, 'NotFound'],
    ['GET', `/namespaces/bkv.unknown`, undefined, 404, 'NotFound'],
    ['GET', `/namespaces/${NS}/audits/9`, undefined, 404, 'NotFound'],
    ['GET', `/namespaces/${NS}/audits/01`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/audits/0`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/audits?limit=0`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/audits?limit=5000`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/audits?page=2`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/audits?limit=1&limit=2`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/%E0%A4%A/audits`, undefined, 400, 'MalformedMessage'],
    ['DELETE', `/namespaces/${NS}`, undefined, 405, 'UnknownMessageType'],
    ['PUT', '/info', undefined, 405, 'UnknownMessageType'],
    ['POST', `/namespaces/${NS}/audits`, '{"epoch": 4,', 400, 'MalformedMessage'],
    ['POST', `/namespaces/${NS}/audits`, '{"epoch": 4, "digest": "ab", "extra": 1}', 400, 'MalformedMessage'],
    ['POST', '/namespaces', '[]', 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/bkv/tree-head?tree_size=4`, undefined, 404, 'NotFound'],
    ['GET', `/namespaces/${NS}/bkv/inclusion/3?tree_size=2`, undefined, 404, 'NotFound'],
    ['GET', `/namespaces/${NS}/bkv/consistency?first=3&second=2`, undefined, 400, 'MalformedMessage'],
    ['GET', `/namespaces/${NS}/bkv/consistency`, undefined, 400, 'MalformedMessage'],
  ])('%s %s %s: %i %s', async (method, path, body, status, code) => {
    const before = await size();
    const r = await raw(method, path, body);
    expect([r.status, r.json.code]).toEqual([status, code]);
    expect(Object.keys(r.json)).toEqual(['code', 'message']);
    expect(ERROR_CODES).toContain(r.json.code);
    expect(await size()).toBe(before);
  });

  test('a body above the limit is 413; a bundle deposit may be larger', async () => {
    const big = JSON.stringify({ epoch: 4, digest: 'a'.repeat(MAX_BODY) });
    const r = await raw('POST', `/namespaces/${NS}/audits`, big);
    expect([r.status, r.json.code]).toEqual([413, 'MalformedMessage']);
    const deposit = await raw(
      'PUT',
      `/namespaces/${NS}/bkv/bundles/1`,
      JSON.stringify({ artifact: texts[0], operatorCounterSignature: 'ab'.repeat(64), pad: 'x'.repeat(MAX_BODY) }),
    );
    expect([deposit.status, deposit.json.code]).toEqual([400, 'MalformedMessage']); // read, then refused for its shape
  });

  test('deposits are checked against the epoch: its digest, its counter-signature, once', async () => {
    const b1 = (await raw('GET', `/namespaces/${NS}/bkv/bundles/1`)).json;
    const put = (o: object) =>
      raw(
        'PUT',
        `/namespaces/${NS}/bkv/bundles/1`,
        JSON.stringify({ artifact: b1.artifact, operatorCounterSignature: b1.operatorCounterSignature, ...o }),
      );
    expect((await put({ artifact: texts[1] })).json.code).toBe('DigestMismatch');
    expect(
      (
        await put({
          operatorCounterSignature: (await raw('GET', `/namespaces/${NS}/bkv/bundles/2`)).json.operatorCounterSignature,
        })
      ).json.code,
    ).toBe('OperatorSignatureInvalid');
    expect((await put({})).status).toBe(200); // the same again: nothing new
    expect((await raw('GET', `/namespaces/${NS}/bkv/bundles/1`)).json).toEqual(b1);
  });

  test('the client turns each refusal into its VaultError', async () => {
    await expect(W.client.treeHead('bkv.unknown')).rejects.toSatisfy((e) => isVaultError(e, 'NotFound'));
    await expect(W.client.publish(NS, 4, digests[0]!, plan.operator)).rejects.toSatisfy((e) =>
      isVaultError(e, 'LogInconsistent'),
    );
    const closed = await startWitness();
    await closed.close();
    await expect(closed.client.info()).rejects.toSatisfy((e) => isVaultError(e, 'Unavailable'));
  });

  test('a witness answering too much, not JSON, or with a code outside the vocabulary: MalformedMessage', async () => {
    const answers = [
      { status: 200, body: JSON.stringify({ pad: 'x'.repeat(MAX_ANSWER_BYTES) }) },
      { status: 200, body: '<html>' },
      { status: 418, body: JSON.stringify({ code: 'Teapot', message: 'no' }) },
    ];
    for (const answer of answers) {
      const w = await startWitness({ wrap: () => () => answer });
      await expect(w.client.info()).rejects.toSatisfy((e) => isVaultError(e, 'MalformedMessage'));
      await w.close();
    }
  });
});

describe('restart', () => {
  test('restarted on its directory it serves the same log; a directory edited behind its back is refused', async () => {
    const w = await startWitness({ keySeed: 'restart' });
    const p = planFleets('restart');
    await publishThroughWitness(w.client, {
      namespace: NS,
      ciphersuite: 1,
      artifacts: p.artifacts,
      operator: p.operator,
    });
    const head = await w.client.treeHead(NS);
    const b3 = await w.client.bundle(NS, 3);
    await w.close();
    const again = await startWitness({ dir: w.dir, keySeed: 'another seed: the key file is what counts' });
    expect(again.service.publicKey).toEqual(w.service.publicKey);
    expect(await again.client.treeHead(NS)).toEqual(head);
    expect(await again.client.bundle(NS, 3)).toEqual(b3);
    await again.close();
    const file = join(w.dir, 'namespaces', readdirSync(join(w.dir, 'namespaces'))[0]!);
    const record = JSON.parse(readFileSync(file, 'utf8'));
    record.reports[1].timestamp += 1;
    delete record.reports[1].serialized_message;
    writeFileSync(file, JSON.stringify(record));
    expect(() => openWitnessService(w.dir, witnessClock(), seededRng('x'))).toThrow(/WitnessSignatureInvalid/);
  });
});
