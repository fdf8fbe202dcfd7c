/**
 * The table of `bkv` commands (spec ch. 14): each entry declares a command's flags and
 * positionals (command.ts) and runs its module, imported only when the command runs, so that
 * `bkv --help` and a usage error load none of them.
 *
 * Adding a command: declare it here (or in a light module of its own, spread into COMMANDS) with
 * every flag's kind, default, help and an example, and whole-line examples; `run` gets the parsed
 * arguments and the `Io`, and resolves to an exit code (exit.ts). Throw `UsageError` for a bad
 * combination of flags, let a `VaultError` or a system error escape: main.ts turns it into one
 * line and its exit code. A command of two words (`fleet deploy`) makes `bkv fleet` a group.
 * @module
 */
import { SUITE_IDS } from '../crypto/suite.ts';
import { checkFleetSize, MAX_REPLICAS } from '../replication/raft.ts';
import { SUITES } from '../scenarios/suites.ts';
import { DEFAULT_ADAPTER_TIMEOUT_MS } from '../conform/lines.ts';
import { choiceOption, intOption, type Parsed, stringOption, UsageError } from './args.ts';
import { type Command, type Flag, JSON_FLAG, REPORT_FLAG } from './command.ts';

const SEED: Flag = {
  name: 'seed',
  kind: 'string',
  help: 'the seed of every random draw (printed, so a run can be repeated)',
  example: 'alice',
};
const HSM: Flag = {
  name: 'hsm',
  kind: 'choice',
  choices: ['memory', 'softhsm'],
  default: 'memory',
  help: 'the HSM backend: in memory, or SoftHSM2 tokens in a private token directory',
};
const REPLICAS: Flag = {
  name: 'replicas',
  kind: 'int',
  min: 1,
  max: MAX_REPLICAS,
  help: 'HSM replicas per fleet, an odd number (a majority must be able to commit)',
  check: (v) => void checkFleetSize(Number(v)),
  example: '5',
};
const SUITE: Flag = {
  name: 'suite',
  kind: 'choice',
  choices: SUITE_IDS,
  default: 'ristretto255-SHA512',
  help: 'the OPAQUE configuration (spec ch. 2)',
};

/** The fleet directory of the served-vault commands (spec ch. 15). */
const FLEET_DIR: Flag = {
  name: 'dir',
  kind: 'string',
  value: 'DIR',
  required: true,
  help: 'the fleet directory (fleet.json)',
  example: 'd',
};
const CREDENTIAL: Flag = {
  name: 'credential',
  kind: 'string',
  value: 'ID',
  required: true,
  help: 'the credential id',
  example: 'alice',
};

/** Where a client command sends its frames and which keys it trusts (client-target.ts, spec 15.2). */
const CLIENT_TARGET: readonly Flag[] = [
  {
    name: 'vault',
    kind: 'string',
    value: 'URL',
    help: 'the client endpoint (the relay of bkv fleet up): http://host:port',
    defaultText: "the relay in --dir's fleet.json",
    example: 'http://127.0.0.1:8080',
  },
  {
    name: 'keys',
    kind: 'string',
    value: 'FILE',
    help: 'pinned fleet keys (the keys.json of bkv fleet up)',
    defaultText: '--dir/keys.json',
    example: 'd/keys.json',
  },
  {
    name: 'bundle',
    kind: 'string',
    value: 'FILE',
    help: 'instead of --keys: a validation bundle as served (bundle, tree head, inclusion proof), validated',
    example: 'd/deployment/bundles/epoch-0001.json',
  },
  {
    name: 'roots',
    kind: 'string',
    value: 'FILE',
    help: "with --bundle: the pinned witness and operator keys, namespace and vendor root (roots.json)",
    defaultText: '--dir/deployment/roots.json',
    example: 'd/deployment/roots.json',
  },
  { ...FLEET_DIR, required: false, help: 'a fleet directory: the defaults of --vault, --keys and --roots' },
];

const target = (a: Parsed) => ({
  ...opt(a, 'dir'),
  ...opt(a, 'vault'),
  ...opt(a, 'keys'),
  ...opt(a, 'bundle'),
  ...opt(a, 'roots'),
  credential: stringOption(a, 'credential')!,
});
const opt = (a: Parsed, name: string) => (a.options[name] === undefined ? {} : { [name]: stringOption(a, name) });

const int = (a: Parsed, name: string): number | undefined =>
  a.options[name] === undefined ? undefined : Number(a.options[name]);

export const COMMANDS: readonly Command[] = [
  {
    name: 'demo',
    summary: 'the whole story: register K, wrong passwords, recover, exhaust the budget (npm start)',
    details: ['With --replicas N (odd), the story on a replicated fleet whose leader crashes mid-recovery.'],
    flags: [
      HSM,
      { ...SEED, defaultText: 'a random one (with --replicas: "bkv demo --replicas")' },
      { ...REPLICAS, default: '1' },
    ],
    examples: ['demo', 'demo --replicas 5 --seed s1', 'demo --hsm softhsm'],
    async run(a, io) {
      const hsm = choiceOption(a, 'hsm', ['memory', 'softhsm'] as const, 'memory');
      const replicas = intOption(a, 'replicas', 1, 1, MAX_REPLICAS);
      const seed = stringOption(a, 'seed');
      if (replicas > 1) {
        const { demoReplicas } = await import('./demo-replicas.ts');
        return demoReplicas({ replicas, hsm, print: io.print, ...(seed !== undefined && { seed }) });
      }
      const { demo } = await import('./demo.ts');
      return demo({ hsm, print: io.print, ...(seed !== undefined && { seed }) });
    },
  },
  {
    name: 'opaque',
    summary: 'one OPAQUE registration and login (RFC 9807), every message and key in hex',
    flags: [SUITE, { ...SEED, default: 'bkv' }],
    examples: ['opaque', 'opaque --suite P256-SHA256 --seed x'],
    async run(a, io) {
      const { walkthrough } = await import('./walkthrough.ts');
      return walkthrough({
        suite: choiceOption(a, 'suite', SUITE_IDS, 'ristretto255-SHA512'),
        seed: stringOption(a, 'seed')!,
        print: io.print,
      });
    },
  },
  {
    name: 'fleet deploy',
    summary: 'deploy 2 fleets with a rotation: witness log, bundles, evidence, written to --out or published',
    details: ['With --witness URL, publishes through a running witness (bkv witness serve); --out is then optional.'],
    flags: [
      {
        name: 'out',
        kind: 'string',
        value: 'DIR',
        help: 'a new or empty directory for the deployment files (needed unless --witness)',
        example: '/tmp/bkv-deploy',
      },
      {
        name: 'witness',
        kind: 'string',
        value: 'URL',
        help: 'publish through this witness service',
        example: 'http://127.0.0.1:8080',
      },
      { ...REPLICAS, default: '5' },
      HSM,
      { ...SEED, defaultText: 'a random one, printed' },
    ],
    examples: [
      'fleet deploy --out /tmp/d',
      'fleet deploy --out /tmp/d --replicas 3 --hsm softhsm --seed s',
      'fleet deploy --witness http://127.0.0.1:8080',
    ],
    async run(a, io) {
      const { fleetDeploy } = await import('./fleet.ts');
      return fleetDeploy(a, io.print);
    },
  },
  {
    name: 'serve',
    summary: 'run one replica of a fleet in D as a process (bkv fleet up starts them; spec ch. 15)',
    details: ['Runs until SIGTERM or SIGINT. Logs one line per event on stdout.'],
    flags: [
      FLEET_DIR,
      { name: 'id', kind: 'int', min: 0, max: MAX_REPLICAS - 1, required: true, help: 'which replica', example: '0' },
    ],
    examples: ['serve --dir d --id 0'],
    async run(a) {
      const { serve } = await import('./serve.ts');
      return serve(stringOption(a, 'dir')!, Number(a.options.id));
    },
  },
  {
    name: 'relay',
    summary: "run a fleet's relay (the untrusted front end) as a process: POST /v1/frame, routed to the leader",
    details: [
      'With --dir, its address and the replicas come from fleet.json (bkv fleet up starts it); else give both.',
      'Runs until SIGTERM or SIGINT. Logs one line per event on stdout.',
    ],
    flags: [
      { ...FLEET_DIR, required: false },
      { name: 'listen', kind: 'string', value: 'HOST:PORT', help: 'where to listen', example: '127.0.0.1:8080' },
      {
        name: 'replicas',
        kind: 'string',
        value: 'HOST:PORT,...',
        help: 'the replicas, in replica order',
        example: '127.0.0.1:9000,127.0.0.1:9001,127.0.0.1:9002',
      },
    ],
    examples: [
      'relay --dir d',
      'relay --listen 127.0.0.1:8080 --replicas 127.0.0.1:9000,127.0.0.1:9001,127.0.0.1:9002',
    ],
    async run(a) {
      const { relay } = await import('./serve.ts');
      return relay({ ...opt(a, 'dir'), ...opt(a, 'listen'), ...opt(a, 'replicas') });
    },
  },
  {
    name: 'fleet up',
    summary: 'deploy a fleet (ceremony of ch. 7) and start its replicas and its relay as processes on 127.0.0.1',
    details: [
      'Writes DIR/fleet.json (addresses, pids), keys.json (what a client pins), deployment/ (the ceremony',
      'record with the bundle a client validates: bkv audit DIR/deployment), r<i>/log, relay/log.',
    ],
    flags: [
      { name: 'dir', kind: 'string', value: 'DIR', required: true, help: 'a new or empty directory', example: 'd' },
      { ...REPLICAS, default: '3' },
      HSM,
      {
        name: 'session-ttl',
        kind: 'int',
        min: 100,
        max: 3_600_000,
        value: 'MS',
        default: '60000',
        help: 'how long a recovery session may stay open',
        example: '3000',
      },
      {
        name: 'limits',
        kind: 'string',
        value: 'FILE',
        help: 'a JSON object with any of the endpoint limits of spec 15.4 (maxBodyBytes, maxConnections, ...)',
        example: 'limits.json',
      },
      JSON_FLAG,
    ],
    examples: [
      'fleet up --replicas 3 --dir d',
      'fleet up --replicas 5 --dir d --hsm softhsm',
      'fleet up --replicas 3 --dir d --limits limits.json',
    ],
    async run(a, io) {
      const { fleetUpCommand } = await import('./serve.ts');
      const { readJsonFile } = await import('./json-file.ts');
      const { decodeLimits } = await import('../serve/wire.ts');
      const hsm = choiceOption(a, 'hsm', ['memory', 'softhsm'] as const, 'memory');
      const file = stringOption(a, 'limits');
      return fleetUpCommand(
        {
          dir: stringOption(a, 'dir')!,
          replicas: Number(a.options.replicas),
          hsm,
          sessionTtlMs: int(a, 'session-ttl'),
          ...(file !== undefined && { limits: readJsonFile(file, (x) => decodeLimits(x, 'limits')) }),
        },
        io,
      );
    },
  },
  {
    name: 'fleet status',
    summary: "each replica's role, term, commit index and health (exit 1 when no majority serves)",
    flags: [FLEET_DIR, JSON_FLAG],
    examples: ['fleet status --dir d', 'fleet status --dir d --json'],
    async run(a, io) {
      const { fleetStatusCommand } = await import('./serve.ts');
      return fleetStatusCommand(stringOption(a, 'dir')!, io);
    },
  },
  {
    name: 'fleet start',
    summary: "restart a fleet's replicas (and its relay) that are down (after a crash), on their files and tokens",
    flags: [
      FLEET_DIR,
      {
        name: 'id',
        kind: 'int',
        min: 0,
        max: MAX_REPLICAS - 1,
        help: 'only this replica',
        defaultText: 'all down',
        example: '0',
      },
      JSON_FLAG,
    ],
    examples: ['fleet start --dir d', 'fleet start --dir d --id 0'],
    async run(a, io) {
      const { fleetStartCommand } = await import('./serve.ts');
      return fleetStartCommand(stringOption(a, 'dir')!, int(a, 'id'), io);
    },
  },
  {
    name: 'fleet down',
    summary: "stop a fleet's replicas and relay (SIGTERM, then SIGKILL) and remove its HSM tokens",
    flags: [FLEET_DIR, JSON_FLAG],
    examples: ['fleet down --dir d'],
    async run(a, io) {
      const { fleetDownCommand } = await import('./serve.ts');
      return fleetDownCommand(stringOption(a, 'dir')!, io);
    },
  },
  {
    name: 'register',
    summary: 'register a fresh K under a password (read from stdin) with a running fleet; prints K',
    flags: [
      ...CLIENT_TARGET,
      CREDENTIAL,
      { name: 'limit', kind: 'int', min: 1, max: 255, default: '10', help: 'the guess limit', example: '3' },
      JSON_FLAG,
    ],
    examples: [
      'register --vault http://127.0.0.1:8080 --keys d/keys.json --credential alice',
      'register --dir d --credential bob --limit 3 --json',
    ],
    async run(a, io) {
      const { registerCommand } = await import('./serve.ts');
      return registerCommand({ ...target(a), limit: int(a, 'limit') }, io);
    },
  },
  {
    name: 'recover',
    summary: 'recover K with a password (read from stdin) from a running fleet, or the tries left',
    details: ['Exit 1 on a wrong password (the line says how many tries remain), a locked record or a fault.'],
    flags: [...CLIENT_TARGET, CREDENTIAL, JSON_FLAG],
    examples: [
      'recover --vault http://127.0.0.1:8080 --bundle d/deployment/bundles/epoch-0001.json ' +
        '--roots d/deployment/roots.json --credential alice',
      'recover --dir d --credential alice --json',
    ],
    async run(a, io) {
      const { recoverCommand } = await import('./serve.ts');
      return recoverCommand(target(a), io);
    },
  },
  {
    name: 'delete',
    summary: "delete a credential's record from a running fleet",
    flags: [...CLIENT_TARGET, CREDENTIAL, JSON_FLAG],
    examples: [
      'delete --vault http://127.0.0.1:8080 --keys d/keys.json --credential alice',
      'delete --dir d --credential alice',
    ],
    async run(a, io) {
      const { deleteCommand } = await import('./serve.ts');
      return deleteCommand(target(a), io);
    },
  },
  {
    name: 'chaos',
    summary:
      'a Jepsen-style test of a fleet of real processes: clients, kill -9, pauses, partitions, rolled-back ' +
      'and torn host files (spec 15.5)',
    details: [
      'Checks the history for linearizability, no acknowledged registration lost, the guess budget (G5),',
      'release only after KE3 (G3) and liveness after healing. Exit 1 on a violation.',
      'With --broken M, every replica runs M: exit 0 when the run catches it, 1 when it does not.',
    ],
    flags: [
      { ...REPLICAS, default: '3' },
      {
        name: 'seconds',
        kind: 'int',
        min: 1,
        max: 86_400,
        default: '30',
        help: 'how long the clients and the nemesis run',
        example: '10',
      },
      { ...SEED, defaultText: 'a random one, printed' },
      {
        name: 'faults',
        kind: 'list',
        choices: ['kill', 'pause', 'partition', 'rollback', 'torn', 'crash', 'none'],
        default: 'kill,pause,partition,rollback,torn,crash',
        help: 'what the nemesis injects (crash: every replica at once)',
        example: 'kill',
      },
      {
        name: 'clients',
        kind: 'int',
        min: 1,
        max: 64,
        default: '4',
        help: 'concurrent clients, two per credential',
        example: '8',
      },
      HSM,
      {
        name: 'broken',
        kind: 'string',
        value: 'M',
        help: 'a broken variant every replica runs (src/broken/catalog.ts)',
        example: 'count-at-ke3',
      },
      {
        name: 'out',
        kind: 'string',
        value: 'DIR',
        help: 'keep the history, events and logs there',
        defaultText: 'a temp dir, kept on a violation',
        example: 'chaos-run',
      },
      JSON_FLAG,
    ],
    examples: [
      'chaos --replicas 3 --seconds 30',
      'chaos --seconds 10 --seed s1 --faults kill',
      'chaos --seconds 20 --faults rollback,torn --hsm softhsm',
      'chaos --seconds 10 --broken count-at-ke3',
      'chaos --seconds 15 --faults crash --broken ack-before-durable',
    ],
    async run(a, io) {
      const { chaosCommand } = await import('./serve.ts');
      return chaosCommand(a, io);
    },
  },
  {
    name: 'audit',
    summary: "verify a deployment directory, or a live witness's namespace, end to end; keys and roles per epoch",
    details: [
      'Exit 1 when the evidence does not verify (the file and the reason), 3 when the directory cannot be read.',
      'With --witness URL --namespace NS: what facebook/mbt eb-verify-namespace does, ' +
        'against a live witness (spec 8.8).',
    ],
    positionals: [
      {
        name: 'dir',
        help: "a directory written by bkv fleet deploy (with --witness: anchored to that witness's head)",
      },
    ],
    flags: [
      {
        name: 'roots',
        kind: 'string',
        value: 'FILE',
        help: 'pinned roots to trust (spec 8.1): a roots.json obtained out of band',
        defaultText: "the directory's own roots.json",
        example: 'pinned-roots.json',
      },
      {
        name: 'head',
        kind: 'string',
        value: 'FILE',
        help:
          "the witness's latest signed tree head (or one a client exported): " +
          'refuses a directory that stops before it',
        example: 'head.json',
      },
      { name: 'verbose', kind: 'boolean', help: 'every key of every epoch, not only the changes' },
      {
        name: 'witness',
        kind: 'string',
        value: 'URL',
        help: 'audit the namespace a witness serves',
        example: 'http://127.0.0.1:8080',
      },
      {
        name: 'namespace',
        kind: 'string',
        value: 'NS',
        help: 'the namespace (with --witness)',
        example: 'meta.encrypted_backups.fleet_keys.v1',
      },
      {
        name: 'limit',
        kind: 'int',
        min: 1,
        max: 1_000_000,
        help: 'at most this many epochs (with --witness)',
        example: '10',
      },
      {
        name: 'before-epoch',
        kind: 'int',
        min: 1,
        max: Number.MAX_SAFE_INTEGER,
        help: 'epochs before this one (with --witness)',
        example: '4',
      },
      {
        name: 'witness-key',
        kind: 'string',
        value: 'HEX',
        help: 'the pinned auditor key (with --witness)',
        defaultText: "the witness's /info, said so",
        example: 'a69cf4d6...',
      },
      {
        name: 'operator-key',
        kind: 'string',
        value: 'HEX',
        help: 'the pinned operator key (with --witness)',
        defaultText: 'the namespace owner, said so',
        example: 'ca8efff2...',
      },
      {
        name: 'heads',
        kind: 'string',
        value: 'FILE',
        help: 'tree heads seen before, checked for consistency (with --witness)',
        example: 'heads.json',
      },
      JSON_FLAG,
    ],
    examples: [
      'audit /tmp/d',
      'audit /tmp/d --roots pinned/roots.json --json',
      'audit /tmp/d --head head.json',
      'audit /tmp/d --witness http://127.0.0.1:8080',
      'audit --witness http://127.0.0.1:8080 --namespace meta.encrypted_backups.fleet_keys.v1',
    ],
    async run(a, io) {
      const live = ['namespace', 'limit', 'before-epoch', 'witness-key', 'operator-key', 'heads'].filter(
        (o) => a.options[o] !== undefined,
      );
      if (a.options.witness !== undefined && a.positionals.length > 0) {
        // a directory anchored to the live witness's latest tree head (spec 8.2)
        if (live.length > 0) throw new UsageError(`${live.map((o) => `--${o}`).join(', ')}: not with a directory`);
        const { audit } = await import('./fleet.ts');
        return audit(a, io);
      }
      if (a.options.witness !== undefined) {
        const { auditOptionsOf, auditThroughWitness } = await import('./witness.ts');
        return auditThroughWitness(auditOptionsOf(a), io.print);
      }
      if (live.length > 0) throw new UsageError(`${live.map((o) => `--${o}`).join(', ')} go with --witness URL`);
      if (a.positionals.length === 0) throw new UsageError('audit needs a directory (or --witness URL --namespace NS)');
      const { audit } = await import('./fleet.ts');
      return audit(a, io);
    },
  },
  {
    name: 'witness serve',
    summary: "the witness service: the Key Transparency Auditor's HTTP API, and bkv's Merkle proofs (spec 8.7)",
    flags: [
      {
        name: 'dir',
        kind: 'string',
        value: 'DIR',
        required: true,
        help: 'where the witness keeps its log and keys',
        example: '/tmp/w',
      },
      {
        name: 'listen',
        kind: 'string',
        value: 'HOST:PORT',
        required: true,
        help: 'the address to listen on (port 0: any)',
        example: '127.0.0.1:8080',
      },
    ],
    examples: ['witness serve --dir /tmp/w --listen 127.0.0.1:8080'],
    async run(a, io) {
      const { witnessServe } = await import('./witness.ts');
      return witnessServe({ dir: String(a.options.dir), listen: String(a.options.listen) }, io.print);
    },
  },
  {
    name: 'witness verify',
    summary: "verify one auditor report (either ciphersuite) under an auditor's public key",
    positionals: [{ name: 'report', help: "the auditor's JSON report", required: true }],
    flags: [
      {
        name: 'key',
        kind: 'string',
        value: 'HEX',
        required: true,
        help: "the auditor's Ed25519 public key",
        example: 'a69cf4d6...',
      },
    ],
    examples: ['witness verify report.json --key a69cf4d6...'],
    async run(a, io) {
      const { witnessVerify } = await import('./witness.ts');
      return witnessVerify({ file: a.positionals[0]!, key: String(a.options.key) }, io.print);
    },
  },
  {
    name: 'check',
    summary: 'randomized consensus, attack and guess-limit scenarios on a replicated fleet (spec ch. 13)',
    details: [
      'With --broken M, a deliberately broken fleet until its checker reports it (exit 0 when caught).',
      'With --replay T, the one run a failure printed (T carries its suite, seed, run and broken variant).',
      'A failure of the consensus or guess-limit suite is shrunk first: its token names the smallest scenario found.',
      'With --shard i/n, the runs k with k mod n = i - 1: n shards run every run once (--json lists the runs).',
    ],
    flags: [
      { name: 'suite', kind: 'choice', choices: SUITES, defaultText: 'all three', help: 'one suite' },
      {
        name: 'runs',
        kind: 'int',
        min: 1,
        max: 1_000_000,
        help: 'runs per suite; the attack suite runs attack k mod 13 in run k',
        defaultText: 'per suite, fewer on SoftHSM',
        example: '50',
      },
      { ...SEED, defaultText: 'the clock, printed' },
      HSM,
      {
        name: 'workers',
        kind: 'int',
        min: 1,
        max: 64,
        help: 'worker threads to run the scenarios on (memory replicas); the same results as one',
        defaultText: '1',
        example: '2',
      },
      {
        name: 'shard',
        kind: 'string',
        value: 'I/N',
        help: 'run slice I of N of every suite (a CI matrix: the N slices together are the whole run)',
        example: '1/2',
      },
      {
        name: 'replay',
        kind: 'string',
        value: 'TOKEN',
        help: 'replay one run from its token (alone: no --suite, --runs, --seed)',
        example: 'bkv1.…',
      },
      {
        name: 'broken',
        kind: 'string',
        value: 'M',
        help: 'a broken variant to catch (an unknown name lists them)',
        example: 'count-at-ke3',
      },
      REPORT_FLAG,
      JSON_FLAG,
    ],
    examples: [
      'check',
      'check --broken count-at-ke3 --report r',
      'check --suite attack --runs 26 --seed 1',
      'check --workers 2 --shard 1/2 --seed 1 --json',
      'check --broken count-at-ke3',
      'check --hsm softhsm --suite guess-limit --json',
    ],
    async run(a, io) {
      const { check } = await import('./check.ts');
      return check(a, io.print, undefined, io.json);
    },
  },
  {
    name: 'explore',
    summary: 'the real code, every state within bounds: persistence, a fleet of one, a fleet of 3 (spec ch. 10)',
    details: [
      'Exit 0 when the explorer found what it should: no violation, or the broken variant caught.',
      "With --broken M, the exploration where M's counterexample lies, and its shortest schedule.",
    ],
    flags: [
      {
        name: 'broken',
        kind: 'string',
        value: 'M',
        help: "a broken variant in the explorer's scope (an unknown name lists them)",
        example: 'count-at-ke3',
      },
      { name: 'deep', kind: 'boolean', help: 'larger bounds (minutes, not seconds)' },
      {
        name: 'max-states',
        kind: 'int',
        min: 1,
        max: 1_000_000_000,
        help: 'stop each exploration after this many states (it is then reported incomplete)',
        defaultText: 'no limit',
        example: '100000',
      },
      JSON_FLAG,
    ],
    examples: ['explore', 'explore --broken count-at-ke3', 'explore --deep --json'],
    async run(a, io) {
      const { explore } = await import('./explore.ts');
      const broken = stringOption(a, 'broken');
      const maxStates = int(a, 'max-states');
      return explore({
        ...(broken !== undefined && { broken }),
        ...(a.options.deep === true && { deep: true }),
        ...(maxStates !== undefined && { maxStates }),
        print: io.print,
        json: io.json,
      });
    },
  },
  {
    name: 'vectors generate',
    summary: 'write the reference vectors (spec ch. 9) into --out',
    flags: [
      {
        name: 'out',
        kind: 'string',
        value: 'DIR',
        required: true,
        help: 'where to write them (test/vectors to update the committed ones)',
        example: '/tmp/vectors',
      },
    ],
    examples: ['vectors generate --out /tmp/vectors', 'vectors generate --out test/vectors'],
    async run(a, io) {
      const { vectorsGenerate } = await import('./vectors.ts');
      return vectorsGenerate(stringOption(a, 'out')!, io);
    },
  },
  {
    name: 'vectors verify',
    summary: 'rerun the reference vectors through bkv and report every difference',
    positionals: [
      { name: 'dir', help: 'a directory of vector files', defaultText: 'the vectors shipped with bkv (test/vectors)' },
    ],
    flags: [JSON_FLAG],
    examples: ['vectors verify', 'vectors verify /tmp/vectors --json'],
    async run(a, io) {
      const { vectorsVerify } = await import('./vectors.ts');
      return vectorsVerify(a.positionals[0], io);
    },
  },
  {
    name: 'vectors official',
    summary: 'run the official RFC 9807 OPAQUE vectors through bkv',
    positionals: [
      {
        name: 'dir',
        help: 'the folder holding rfc9807-opaque.json',
        defaultText: '$BKV_VECTORS_DIR, else ../shared/vectors beside the checkout',
      },
    ],
    flags: [JSON_FLAG],
    examples: ['vectors official', 'vectors official ../shared/vectors --json'],
    async run(a, io) {
      const { vectorsOfficial } = await import('./vectors.ts');
      return vectorsOfficial(a.positionals[0], io);
    },
  },
  {
    name: 'conform',
    summary: 'run another implementation through the adapter protocol (spec ch. 9)',
    details: [
      'Exactly one of --vault and --client. The adapter runs in its own process group,',
      'killed at the end or on a timeout.',
    ],
    flags: [
      {
        name: 'vault',
        kind: 'string',
        value: 'CMD',
        help: 'a vault adapter command (bkv plays the clients)',
        example: '"npx bkv adapter vault"',
      },
      {
        name: 'client',
        kind: 'string',
        value: 'CMD',
        help: 'a client adapter command (bkv plays the vault)',
        example: '"npx bkv adapter client"',
      },
      SUITE,
      {
        name: 'runs',
        kind: 'int',
        min: 1,
        max: 1_000_000,
        defaultText: 'ten times the guess limit',
        help: 'randomized scenario steps',
        example: '200',
      },
      { ...SEED, default: 'bkv' },
      {
        name: 'vectors',
        kind: 'string',
        value: 'DIR',
        help: 'the reference vectors to replay',
        defaultText: 'the vectors shipped with bkv',
        example: 'test/vectors',
      },
      {
        name: 'timeout',
        kind: 'int',
        min: 1,
        max: 3_600_000,
        default: String(DEFAULT_ADAPTER_TIMEOUT_MS),
        value: 'MS',
        help: 'how long to wait for each answer of the adapter',
        example: '2000',
      },
      JSON_FLAG,
    ],
    examples: ['conform --vault "npx bkv adapter vault"', 'conform --client "npx bkv adapter client" --json'],
    async run(a, io) {
      const { conformCommand } = await import('./conform.ts');
      return conformCommand(a, io);
    },
  },
  {
    name: 'adapter vault',
    summary: "bkv's own vault adapter: JSON lines on stdin/stdout (spec ch. 9)",
    flags: [
      {
        name: 'mutant',
        kind: 'choice',
        choices: ['forget-on-restart', 'no-guess-limit'],
        help: 'a deliberately broken vault, to see conform fail',
      },
    ],
    examples: ['adapter vault', 'adapter vault --mutant no-guess-limit'],
    async run(a) {
      const { adapterCommand } = await import('./conform.ts');
      return adapterCommand('vault', a);
    },
  },
  {
    name: 'adapter client',
    summary: "bkv's own client adapter: JSON lines on stdin/stdout (spec ch. 9)",
    flags: [],
    examples: ['adapter client'],
    async run(a) {
      const { adapterCommand } = await import('./conform.ts');
      return adapterCommand('client', a);
    },
  },
  {
    name: 'report',
    summary: 'the spec as a static site: chapters with their diagrams, rules, machines, figures (spec ch. 14.6)',
    details: ['Opens from disk: every script and style is in DIR (mermaid is copied from node_modules).'],
    flags: [
      { name: 'out', kind: 'string', value: 'DIR', default: 'site', help: 'where to write the site', example: 'site' },
      {
        name: 'bench',
        kind: 'string',
        value: 'FILE',
        defaultText: 'bench/results.json',
        help: 'the bench results to chart',
        example: '/tmp/bench.json',
      },
    ],
    examples: ['report --out site', 'report --out /tmp/site --bench /tmp/bench.json'],
    async run(a, io) {
      const { reportCommand } = await import('./report.ts');
      return reportCommand(stringOption(a, 'out')!, stringOption(a, 'bench'), io.print);
    },
  },
  {
    name: 'spec check',
    summary: 'the code quoted in spec/ against src/ (needs a checkout)',
    flags: [],
    examples: ['spec check'],
    async run(_a, io) {
      const { specCheck } = await import('./spec.ts');
      return specCheck(io.print);
    },
  },
  {
    name: 'spec sync',
    summary: 'rewrite the quotes in spec/ from src/ (needs a checkout)',
    flags: [],
    examples: ['spec sync'],
    async run(_a, io) {
      const { specSync } = await import('./spec.ts');
      return specSync(io.print);
    },
  },
];

/** The command with this name (one or two words), or undefined. */
export function findCommand(name: string, commands: readonly Command[] = COMMANDS): Command | undefined {
  return commands.find((c) => c.name === name);
}
