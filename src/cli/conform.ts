/**
 * `npx bkv conform --vault "<cmd>" | --client "<cmd>" [--suite ID] [--runs N] [--seed S]` and
 * `npx bkv adapter vault|client` (bkv's own adapters). Spec ch. 9.
 * @module
 */
import { conformClient, conformVault, DEFAULT_CONFORM_RUNS } from '../conform/run.ts';
import { serveClientAdapter, serveVaultAdapter } from '../conform/bkv-adapters.ts';
import { SUITE_IDS } from '../crypto/suite.ts';
import { choiceOption, intOption, type Parsed, UsageError } from './args.ts';
import { DEFAULT_VECTORS_DIR } from './vectors.ts';

export async function conformCommand(a: Parsed, print: (line: string) => void): Promise<number> {
  const vault = a.options.vault;
  const client = a.options.client;
  if ((typeof vault === 'string') === (typeof client === 'string')) throw new UsageError('conform needs exactly one of --vault "<cmd>" and --client "<cmd>"');
  const o = {
    command: (vault ?? client) as string,
    suite: choiceOption(a, 'suite', SUITE_IDS, 'ristretto255-SHA512'),
    runs: intOption(a, 'runs', DEFAULT_CONFORM_RUNS, 1, 1_000_000),
    seed: typeof a.options.seed === 'string' ? a.options.seed : 'bkv',
    vectorsDir: typeof a.options.vectors === 'string' ? a.options.vectors : DEFAULT_VECTORS_DIR,
    print,
  };
  print(`conformance of the ${vault ? 'vault' : 'client'} "${o.command}" (suite ${o.suite})`);
  return vault ? conformVault(o) : conformClient(o);
}

export async function adapterCommand(a: Parsed): Promise<number> {
  const which = a.positionals[0];
  const mutant = a.options.mutant === undefined ? undefined : choiceOption(a, 'mutant', ['forget-on-restart', 'no-guess-limit'] as const, 'no-guess-limit');
  if (which === 'vault') await serveVaultAdapter(mutant);
  else if (which === 'client') await serveClientAdapter();
  else throw new UsageError('adapter needs "vault" or "client"');
  return 0;
}
