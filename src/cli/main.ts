/**
 * The `bkv` command. Each subcommand lives in its own module; this file only dispatches.
 * @module
 */
import { choiceOption, intOption, parseArgs, UsageError } from './args.ts';
import { SUITE_IDS } from '../crypto/suite.ts';

const USAGE = `bkv: an executable reference specification of an HSM-based Backup Key Vault

usage: npx bkv <command> [options]

  demo [--hsm memory|softhsm] [--seed S]   the whole story on one replica (npm start)
       [--replicas N]                      on N replicas, with the leader crashing mid-recovery
  opaque [--suite ID] [--seed S]           one OPAQUE registration and login, every message in hex
  fleet deploy --out DIR [--replicas N]    deploy 2 fleets with a rotation: log, bundles, evidence
               [--hsm memory|softhsm] [--seed S]
               [--witness URL]             publish through a witness service (--out optional then)
  audit DIR [--verbose]                    verify a deployment directory end to end; keys and roles per epoch
  audit --witness URL --namespace NS       verify a live witness's namespace epoch by epoch (mbt eb-verify-namespace)
        [--limit N] [--before-epoch E] [--witness-key HEX] [--operator-key HEX] [--heads FILE]
  witness serve --dir D --listen HOST:PORT the witness service (the Key Transparency Auditor's API, bkv's proofs)
  witness verify REPORT.json --key HEX     verify one auditor report under an auditor key
  check [--suite consensus|attack|guess-limit] [--runs N] [--seed S] [--hsm memory|softhsm] [--replay T]
                                           randomized scenarios and attacks on a replicated fleet; replay a failure
  check --broken M [--runs N] [--seed S]   a broken fleet (count-at-ke3, stale-tries, ...) until a check reports it
  explore [--broken M] [--replicas N] [--credentials N] [--limit N] [--sessions N] [--max-term N] [--max-log N]
                                           every reachable state of a small fleet model, or a broken variant's counterexample
  spec check|sync                          the code quoted in spec/ against src/
  vectors generate|verify [dir]            the reference vectors (default test/vectors/)
  conform --vault CMD | --client CMD       run another implementation through the adapter protocol
          [--suite ID] [--runs N] [--seed S]  against the vectors and randomized scenarios
  adapter vault|client [--mutant M]        bkv's own adapters (JSON lines on stdin/stdout); a mutant
                                           vault (forget-on-restart, no-guess-limit) shows conform failing
  help                                     this text
`;

export async function main(argv: readonly string[], print: (line: string) => void = console.log): Promise<number> {
  const [command = 'help', ...rest] = argv;
  try {
    switch (command) {
      case 'demo': {
        const a = parseArgs(rest, ['hsm', 'seed', 'replicas']);
        const hsm = choiceOption(a, 'hsm', ['memory', 'softhsm'] as const, 'memory');
        const replicas = intOption(a, 'replicas', 1, 1, 9);
        const seed = a.options.seed as string | undefined;
        if (replicas > 1) {
          const { demoReplicas } = await import('./demo-replicas.ts');
          return await demoReplicas({ replicas, hsm, print, ...(seed !== undefined && { seed }) });
        }
        const { demo } = await import('./demo.ts');
        return await demo({ hsm, print, ...(seed !== undefined && { seed }) });
      }
      case 'opaque': {
        const a = parseArgs(rest, ['suite', 'seed']);
        const { walkthrough } = await import('./walkthrough.ts');
        return walkthrough({ suite: choiceOption(a, 'suite', SUITE_IDS, 'ristretto255-SHA512'), seed: (a.options.seed as string) ?? 'bkv', print });
      }
      case 'vectors': {
        const a = parseArgs(rest, []);
        const { vectorsCommand } = await import('./vectors.ts');
        return vectorsCommand(a.positionals[0], a.positionals[1], print);
      }
      case 'conform': {
        const { conformCommand } = await import('./conform.ts');
        return await conformCommand(parseArgs(rest, ['vault', 'client', 'suite', 'runs', 'seed', 'vectors']), print);
      }
      case 'adapter': {
        const { adapterCommand } = await import('./conform.ts');
        return await adapterCommand(parseArgs(rest, ['mutant']));
      }
      case 'spec': {
        const { specCommand } = await import('./spec.ts');
        return specCommand(parseArgs(rest, []).positionals[0], print);
      }
      case 'fleet': {
        const [sub, ...more] = rest;
        if (sub !== 'deploy') {
          const options = '[--replicas N] [--hsm memory|softhsm] [--seed S] [--witness URL]';
          throw new UsageError(`usage: npx bkv fleet deploy --out <dir> ${options}`);
        }
        const { fleetDeploy } = await import('./fleet.ts');
        return await fleetDeploy(parseArgs(more, ['out', 'replicas', 'hsm', 'seed', 'witness']), print);
      }
      case 'audit': {
        const withWitness = ['witness', 'namespace', 'limit', 'before-epoch', 'witness-key', 'operator-key', 'heads'];
        const a = parseArgs(rest, withWitness, ['verbose']);
        if (a.options.witness !== undefined) {
          const { auditOptionsOf, auditThroughWitness } = await import('./witness.ts');
          return await auditThroughWitness(auditOptionsOf(a), print);
        }
        if (Object.keys(a.options).some((k) => k !== 'verbose')) {
          throw new UsageError('--namespace, --limit, --before-epoch, --*-key and --heads go with --witness URL');
        }
        const { audit } = await import('./fleet.ts');
        return await audit(a, print);
      }
      case 'witness': {
        const [sub, ...more] = rest;
        const { witnessServe, witnessVerify } = await import('./witness.ts');
        if (sub === 'serve') {
          const a = parseArgs(more, ['dir', 'listen']);
          if (typeof a.options.dir !== 'string' || typeof a.options.listen !== 'string') {
            throw new UsageError('usage: npx bkv witness serve --dir D --listen HOST:PORT');
          }
          return await witnessServe({ dir: a.options.dir, listen: a.options.listen }, print);
        }
        if (sub === 'verify') {
          const a = parseArgs(more, ['key']);
          if (a.positionals.length !== 1 || typeof a.options.key !== 'string') {
            throw new UsageError('usage: npx bkv witness verify REPORT.json --key HEX');
          }
          return await witnessVerify({ file: a.positionals[0]!, key: a.options.key }, print);
        }
        throw new UsageError('usage: npx bkv witness serve|verify');
      }
      case 'explore': {
        const a = parseArgs(rest, ['replicas', 'credentials', 'limit', 'broken', 'sessions', 'max-term', 'max-log', 'partitions', 'only', 'max-states'], ['no-crashes', 'no-drops']);
        const n = (k: string) => (a.options[k] === undefined ? undefined : Number(a.options[k]));
        const { explore } = await import('./explore.ts');
        return explore({
          replicas: n('replicas'),
          credentials: n('credentials'),
          limit: n('limit'),
          sessions: n('sessions'),
          maxTerm: n('max-term'),
          maxLog: n('max-log'),
          maxStates: n('max-states'),
          broken: a.options.broken as string | undefined,
          partitions: a.options.partitions as 'folded' | 'explicit' | undefined,
          only: typeof a.options.only === 'string' ? a.options.only.split(',') : undefined,
          ...(a.options['no-crashes'] && { crashes: false }),
          ...(a.options['no-drops'] && { drops: false }),
          print,
        });
      }
      case 'check': {
        const { check } = await import('./check.ts');
        return await check(parseArgs(rest, ['suite', 'runs', 'seed', 'hsm', 'replay', 'broken']), print);
      }
      case 'help':
      case '--help':
      case '-h':
        print(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      print(`bkv: ${e.message}\n`);
      print(USAGE);
      return 2;
    }
    throw e;
  }
}
