/**
 * `bkv conform --vault "<cmd>" | --client "<cmd>" [--suite ID] [--runs N] [--seed S]
 * [--vectors DIR] [--timeout MS] [--json]` and `bkv adapter vault|client` (bkv's own adapters).
 * Spec ch. 9; the JSON document `bkv-conform/1` is in spec ch. 14.
 * @module
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { conformClient, conformVault, DEFAULT_CONFORM_RUNS } from '../conform/run.ts';
import { serveClientAdapter, serveVaultAdapter } from '../conform/bkv-adapters.ts';
import { DEFAULT_ADAPTER_TIMEOUT_MS } from '../conform/lines.ts';
import { SUITE_IDS, type SuiteId } from '../crypto/suite.ts';
import { choiceOption, intOption, type Parsed, stringOption, UsageError } from './args.ts';
import type { Io } from './command.ts';
import { DEFAULT_VECTORS_DIR } from './paths.ts';

/** The document of `bkv conform --json`. */
export interface ConformReport {
  readonly schema: 'bkv-conform/1';
  readonly ok: boolean;
  readonly role: 'vault' | 'client';
  readonly command: string;
  readonly suite: SuiteId;
  readonly runs: number;
  readonly seed: string;
  readonly passed: number;
  readonly failed: number;
  readonly failures: readonly { readonly check: string; readonly detail: string }[];
}

export async function conformCommand(a: Parsed, io: Io): Promise<number> {
  const vault = stringOption(a, 'vault');
  const client = stringOption(a, 'client');
  if ((vault === undefined) === (client === undefined))
    throw new UsageError('conform needs exactly one of --vault "<cmd>" and --client "<cmd>"');
  const vectorsDir = resolve(stringOption(a, 'vectors') ?? DEFAULT_VECTORS_DIR);
  if (!statSync(vectorsDir).isDirectory()) throw new UsageError(`--vectors ${vectorsDir} is not a directory`);
  const o = {
    command: (vault ?? client)!,
    suite: choiceOption(a, 'suite', SUITE_IDS, 'ristretto255-SHA512'),
    runs: intOption(a, 'runs', DEFAULT_CONFORM_RUNS, 1, 1_000_000),
    seed: stringOption(a, 'seed') ?? 'bkv',
    vectorsDir,
    timeoutMs: intOption(a, 'timeout', DEFAULT_ADAPTER_TIMEOUT_MS, 1, 3_600_000),
    print: io.print,
  };
  const role = vault !== undefined ? 'vault' : 'client';
  io.print(`conformance of the ${role} "${o.command}" (suite ${o.suite})`);
  const r = role === 'vault' ? await conformVault(o) : await conformClient(o);
  const report: ConformReport = {
    schema: 'bkv-conform/1',
    ok: r.failed === 0,
    role,
    command: o.command,
    suite: o.suite,
    runs: o.runs,
    seed: o.seed,
    ...r,
  };
  io.json?.(report);
  return report.ok ? 0 : 1;
}

export async function adapterCommand(which: 'vault' | 'client', a: Parsed): Promise<number> {
  const mutant =
    a.options.mutant === undefined
      ? undefined
      : choiceOption(a, 'mutant', ['forget-on-restart', 'no-guess-limit'] as const, 'no-guess-limit');
  if (which === 'vault') await serveVaultAdapter(mutant);
  else await serveClientAdapter();
  return 0;
}
