/**
 * `bkv vectors generate` and `bkv vectors verify`: the reference vectors under `test/vectors/`
 * (spec ch. 9). Each file is produced by a deterministic generator; `verify` re-runs every
 * vector from its inputs through bkv's implementation and compares every output. The test suite
 * also regenerates them and fails on any difference from the committed files (drift).
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex } from '../crypto/bytes.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { ksfFromName } from '../crypto/ksf.ts';
import { type OpaqueVector, generateOpaqueVectors, runOpaqueTranscript } from './opaque.ts';
import { type RecordVector, generateRecordVectors, runRecordSteps } from './records.ts';
import { type DecodingCase, generateDecodingVectors, verifyDecodingCase } from './decoding.ts';
import { type NoiseVector, generateNoiseVectors, runNoiseTranscript } from './noise.ts';
import { canonicalJson } from '../crypto/canonical.ts';
import { type MerkleVector, generateMerkleVectors, verifyMerkleVectors } from './merkle.ts';
import { type BundleVector, generateBundleVectors, verifyBundleVectors } from './bundles.ts';
import { type ReplicationVector, generateReplicationVectors, verifyReplicationVectors } from './replication.ts';
import { type SessionVector, generateSessionVectors, verifySessionVectors } from './sessions.ts';

interface VectorFile<T> {
  readonly file: string;
  readonly format: string;
  readonly generate: () => T[];
  /** Problems found re-running `vectors` (empty when all pass). */
  readonly verify: (vectors: T[]) => string[];
}

const diff = (name: string, want: Record<string, string>, got: Record<string, string>) =>
  Object.keys(want)
    .filter((k) => want[k] !== got[k])
    .map((k) => `${name}: ${k} expected ${want[k]?.slice(0, 24)}…, got ${got[k]?.slice(0, 24)}…`);

export const VECTOR_FILES: readonly VectorFile<any>[] = [
  {
    file: 'opaque.json',
    format:
      'RFC 9807 Appendix C format: {name, config, inputs, intermediates, ' +
      'outputs}; config.Suite and config.KSF name the configuration',
    generate: generateOpaqueVectors,
    verify: (vs: OpaqueVector[]) =>
      vs.flatMap((v) => {
        const s = getSuite(v.config.Suite as SuiteId, ksfFromName(v.config.KSF ?? ''));
        const inputs = Object.fromEntries(Object.entries(v.inputs).map(([k, x]) => [k, fromHex(x)]));
        const run = runOpaqueTranscript(s, fromHex(v.config.Context ?? ''), inputs);
        return [...diff(v.name, v.intermediates, run.intermediates), ...diff(v.name, v.outputs, run.outputs)];
      }),
  } satisfies VectorFile<OpaqueVector>,
  {
    file: 'records.json',
    format:
      'consensus-specs style: {name, description, pre, steps: ' +
      '[{command, valid, code?, triesRemaining?, status?}], post}',
    generate: generateRecordVectors,
    verify: (vs: RecordVector[]) =>
      vs.flatMap((v) => {
        const run = runRecordSteps(
          v.pre,
          v.steps.map((s) => s.command),
        );
        const problems: string[] = [];
        run.steps.forEach((s, i) => {
          if (canonicalJson(s) !== canonicalJson(v.steps[i]))
            problems.push(`${v.name}: step ${i} expected ${canonicalJson(v.steps[i])}, got ${canonicalJson(s)}`);
        });
        if (canonicalJson(run.post) !== canonicalJson(v.post)) problems.push(`${v.name}: post state differs`);
        return problems;
      }),
  } satisfies VectorFile<RecordVector>,
  {
    file: 'decoding.json',
    format: '{name, suite, bytes, valid, code?}: a vault request and the verdict of the vault decoders',
    generate: generateDecodingVectors,
    verify: (vs: DecodingCase[]) => vs.map(verifyDecodingCase).filter((x): x is string => x !== null),
  } satisfies VectorFile<DecodingCase>,
  {
    file: 'noise.json',
    format: 'cacophony format: {protocol_name, init_*, resp_*, handshake_hash, messages: [{payload, ciphertext}]}',
    generate: generateNoiseVectors,
    verify: (vs: NoiseVector[]) =>
      vs.flatMap((v) => {
        const run = runNoiseTranscript({ ...v, payloads: v.messages.map((m) => m.payload) });
        const problems = diff(
          v.protocol_name,
          { handshake_hash: v.handshake_hash },
          { handshake_hash: run.handshake_hash },
        );
        v.messages.forEach((m, i) => {
          if (m.ciphertext !== run.messages[i]?.ciphertext)
            problems.push(`${v.protocol_name}: message ${i} ciphertext differs`);
        });
        return problems;
      }),
  } satisfies VectorFile<NoiseVector>,
  {
    file: 'merkle.json',
    format:
      'RFC 9162 §2.1: {kind: "inclusion", size, index, entry, path, root} | {kind: ' +
      '"consistency", first, second, first_root, second_root, proof}; every vector must verify',
    generate: generateMerkleVectors,
    verify: (vs: MerkleVector[]) => {
      const problems = verifyMerkleVectors(vs);
      const fresh = canonicalJson(generateMerkleVectors());
      if (problems.length === 0 && fresh !== canonicalJson(vs))
        problems.push('merkle.json: the vectors verify but differ from the generator (regenerate)');
      return problems;
    },
  } satisfies VectorFile<MerkleVector>,
  {
    file: 'bundles.json',
    format:
      "client validation of the fleet description (spec ch. 7 §7.11) and the auditor's wire format (§7.7): " +
      '{kind: "fleet-info" | "bundle" | "pinned" | "log" | "statement" | "statement-bytes" | "report", ' +
      'name, description, ' +
      'inputs of the kind, valid, code?, result?}; fleet-info: {trust, state, now, fleetInfo, intermediates?}, ' +
      'bundle: {trust, state, now, bundle}, pinned: {pins, servedArtifact?}, log: {rules, entries}, ' +
      'statement: {signingKey, statement}, statement-bytes: {ciphersuite, bytes}, report: {auditorKey, report}',
    generate: generateBundleVectors,
    verify: verifyBundleVectors,
  } satisfies VectorFile<BundleVector>,
  {
    file: 'replication.json',
    format:
      'the replicas\' wire, storage and rules (spec ch. 6): {kind: "peer-key" | "envelope" ' +
      '| "ballot" | "persist" | "restart" | "replica", name, ...}; envelope: {peerMacKey, ' +
      'from, to, receiver, body, mac, valid, code?, message?, macInput?}, persist: {hsm, ' +
      'version, durable, nonce, plaintext, aad, sealed, after}, restart: {hsm, blob, valid, ' +
      'code?, result?}, replica: {config, pre, steps: [{from, message, sent, applied}], post}',
    generate: generateReplicationVectors,
    verify: verifyReplicationVectors,
  } satisfies VectorFile<ReplicationVector>,
  {
    file: 'sessions.json',
    format:
      'single-replica vault sessions (spec ch. 9 §9.1.3): {name, description, suite, sessionTtlMs, keys, ' +
      'publicKeys, pre, operations: [{op: "register" | "recover" | "probe" | "wrong-mac", credentialId, ' +
      'password, key?, guessLimit?, result}], steps: [{now, op?, clientRandom?, frame?, vaultRandom, replies, ' +
      'code?}], post}; a step without frame is the session-expiry event, one without op a frame of the relay',
    generate: generateSessionVectors,
    verify: verifySessionVectors,
  } satisfies VectorFile<SessionVector>,
];

/** The text of a vector file: stable JSON, one file per format, with its format note. */
export function renderVectorFile(f: VectorFile<unknown>): string {
  const generator = 'npx bkv vectors generate --out test/vectors';
  return JSON.stringify({ generator, format: f.format, vectors: f.generate() }, null, 1) + '\n';
}

export function generateVectors(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return VECTOR_FILES.map((f) => {
    writeFileSync(join(dir, f.file), renderVectorFile(f));
    return f.file;
  });
}

export interface VerifyReport {
  readonly file: string;
  readonly count: number;
  readonly problems: string[];
}

export function verifyVectors(dir: string): VerifyReport[] {
  return VECTOR_FILES.map((f) => {
    const path = join(dir, f.file);
    if (!existsSync(path)) {
      return { file: f.file, count: 0, problems: [`${path} is missing (run: npx bkv vectors generate --out ${dir})`] };
    }
    let vectors: unknown[];
    try {
      vectors = (JSON.parse(readFileSync(path, 'utf8')) as { vectors: unknown[] }).vectors;
    } catch (e) {
      return { file: f.file, count: 0, problems: [`${path}: ${(e as Error).message}`] };
    }
    let problems: string[];
    try {
      problems = f.verify(vectors);
    } catch (e) {
      problems = [`${f.file}: ${(e as Error).message}`];
    }
    return { file: f.file, count: vectors.length, problems };
  });
}
