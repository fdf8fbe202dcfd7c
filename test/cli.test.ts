/**
 * The `bkv` command line (spec ch. 14): the declared table (every example parses, every flag is
 * in its command's help with its default and example), the strict parser (each kind of bad input
 * refused by name, exit 2), the one error path (one line and the documented exit code for each
 * kind of error, the trace only with --debug), and --json documents. In process, through `main`
 * with captured streams; test/cli-processes.test.ts runs the real `bkv` in child processes.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { UsageError } from '../src/cli/args.ts';
import { type Command, COMMON_FLAGS, formatUsage, parseCommandArgs } from '../src/cli/command.ts';
import { COMMANDS, findCommand } from '../src/cli/commands.ts';
import { describeFailure, EXIT } from '../src/cli/exit.ts';
import { main } from '../src/cli/main.ts';
import { VaultError } from '../src/errors.ts';
import { decodeFleetFile } from '../src/serve/layout.ts';

const tmp = mkdtempSync(join(tmpdir(), 'bkv-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `bkv argv` in process; stdout and stderr as lines. */
async function bkv(argv: string[], commands: readonly Command[] = COMMANDS) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) },
    commands,
  );
  return { code, out, err };
}

/** Splits an example line as a shell would (double quotes only). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

describe('the table of commands', () => {
  test('names are unique, one or two words; every command has a summary and an example', () => {
    const names = COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const c of COMMANDS) {
      expect(c.name).toMatch(/^[a-z]+( [a-z]+)?$/);
      expect(c.summary.length, c.name).toBeGreaterThan(10);
      expect(c.examples.length, c.name).toBeGreaterThan(0);
    }
  });

  test.each(COMMANDS.map((c) => [c.name, c] as const))(
    '%s: every example parses; every flag is in its help, with its default and example',
    (name, c) => {
      for (const e of c.examples) {
        const w = words(e);
        expect(w.slice(0, name.split(' ').length).join(' '), e).toBe(name);
        expect(() => parseCommandArgs(c, w.slice(name.split(' ').length)), e).not.toThrow();
      }
      const help = formatUsage(c).replace(/\s+/g, ' ');
      for (const f of [...c.flags, ...COMMON_FLAGS]) {
        expect(help, `--${f.name}`).toContain(`--${f.name}`);
        if (f.default !== undefined) expect(help, `--${f.name} default`).toContain(`default ${f.default}`);
        if (f.defaultText !== undefined) expect(help, `--${f.name} default`).toContain(f.defaultText);
        if (f.kind !== 'boolean') expect(f.example ?? f.choices, `--${f.name} has an example or choices`).toBeDefined();
        if (f.example !== undefined) expect(help).toContain(`--${f.name} ${f.example}`);
      }
      for (const p of c.positionals ?? []) expect(help).toContain(p.name);
      expect(help).toContain('exit codes: 0 ok, 1 a check failed, 2 usage, 3 environment');
    },
  );

  test('--help, -h and help <command> print the usage (exit 0); bkv --help lists every command', async () => {
    for (const argv of [
      ['check', '--help'],
      ['check', '-h'],
      ['help', 'check'],
      ['check', '--runs', 'x', '--help'],
    ]) {
      const r = await bkv(argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.out.join('\n')).toBe(formatUsage(findCommand('check')!));
    }
    const all = await bkv(['--help']);
    expect(all.code).toBe(0);
    for (const c of COMMANDS) expect(all.out.join('\n')).toContain(`  ${c.name} `);
    const group = await bkv(['help', 'fleet']);
    expect(group.code).toBe(0);
    expect(group.out.join('\n')).toContain('fleet deploy');
  });
});

describe('strict arguments: anything undeclared is a usage error (exit 2) that names it', () => {
  let seen: unknown = null;
  const probe: Command = {
    name: 'probe',
    summary: 'a command of this test, which records what it was given',
    flags: [
      { name: 'seed', kind: 'string', help: 'a seed', example: 's' },
      { name: 'runs', kind: 'int', min: 1, max: 9, default: '3', help: 'runs', example: '2' },
      { name: 'mode', kind: 'choice', choices: ['a', 'b'], help: 'a mode' },
      { name: 'only', kind: 'list', choices: ['x', 'y'], help: 'some', example: 'x,y' },
      { name: 'out', kind: 'string', required: true, help: 'where', example: 'd' },
      {
        name: 'odd',
        kind: 'int',
        check: (v) => {
          if (Number(v) % 2 === 0) throw new VaultError('InvalidParameter', `expected odd, got ${v}`);
        },
        help: 'odd',
        example: '3',
      },
      { name: 'quiet', kind: 'boolean', help: 'quiet' },
    ],
    positionals: [{ name: 'dir', help: 'a dir' }],
    examples: ['probe --out d'],
    run: (a) => ((seen = a), 0),
  };
  const table = [probe, { ...probe, name: 'group one' }, { ...probe, name: 'group two' }];

  test('what is declared is accepted: values whole (--seed=a=b), defaults filled, booleans true', async () => {
    expect((await bkv(['probe', '--out', 'd', '--seed=a=b', '--quiet', 'dir1', '--only', 'x,y'], table)).code).toBe(0);
    expect(seen).toEqual({
      positionals: ['dir1'],
      options: { out: 'd', seed: 'a=b', quiet: true, only: 'x,y', runs: '3' },
    });
    expect((await bkv(['probe', '--out=d', '--seed=-5', '--', '-x'], table)).code).toBe(0);
    expect(seen).toEqual({ positionals: ['-x'], options: { out: 'd', seed: '-5', runs: '3' } });
  });

  test.each([
    [['--out', 'd', '--nope'], 'unknown option --nope'],
    [['--out', 'd', '-runs', '2'], 'unknown option -runs (options take two dashes: --runs)'],
    [['--out', 'd', '-x'], 'unknown option -x'],
    [['--out', 'd', 'a', 'b'], 'unexpected argument "b"'],
    [['--out', 'd', '--seed', 'a', '--seed', 'b'], '--seed given twice'],
    [['--out', 'd', '--seed'], '--seed needs a value (e.g. --seed s)'],
    [['--out', 'd', '--seed', '--quiet'], '--seed needs a value, got --quiet'],
    [['--out', 'd', '--seed', '-5'], '--seed=-5'],
    [['--out', 'd', '--seed='], '--seed needs a value'],
    [['--out', 'd', '--runs', 'abc'], '--runs expected an integer in 1..9, got abc'],
    [['--out', 'd', '--runs', '1e1'], '--runs expected an integer in 1..9, got 1e1'],
    [['--out', 'd', '--runs', '10'], '--runs expected an integer in 1..9, got 10'],
    [['--out', 'd', '--mode', 'c'], '--mode expected one of a|b, got c'],
    [['--out', 'd', '--only', 'x,z'], '--only: unknown z (known: x, y)'],
    [['--out', 'd', '--only', 'x,'], '--only expected a comma-separated list'],
    [['--out', 'd', '--odd', '4'], '--odd: expected odd, got 4'],
    [['--out', 'd', '--quiet=yes'], '--quiet takes no value'],
    [[], '--out is required (e.g. --out d)'],
  ])('probe %j: %s', async (argv, message) => {
    const r = await bkv(['probe', ...argv], table);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err[0]).toMatch(/^bkv probe: /);
    expect(r.err[0]).toContain(message);
    expect(r.err.join('\n')).toContain('usage: bkv probe');
    expect(r.out).toEqual([]);
  });

  test('unknown commands and subcommands; a group alone', async () => {
    expect(await bkv(['nope'], table)).toMatchObject({
      code: 2,
      err: ['bkv: unknown command "nope"', expect.stringContaining('probe, group')],
    });
    expect(await bkv(['group', 'three'], table)).toMatchObject({
      code: 2,
      err: expect.arrayContaining(['bkv group: unknown subcommand "three"']),
    });
    expect(await bkv(['group'], table)).toMatchObject({
      code: 2,
      err: expect.arrayContaining(['bkv group: needs a subcommand']),
    });
    expect((await bkv(['help', 'probe', 'x'], table)).code).toBe(2);
  });

  test('real commands: spec <x>, check --replay with --runs, demo --replicas 2, explore --max-states abc', async () => {
    expect((await bkv(['spec', 'anything'])).code).toBe(2);
    expect((await bkv(['check', '--replay', 'bkv1.x', '--runs', '2'])).err[0]).toBe(
      'bkv check: --replay runs the one run its token names: no --runs',
    );
    expect((await bkv(['demo', '--replicas', '2'])).err[0]).toBe(
      'bkv demo: --replicas: fleet size expected an odd integer in 1..9, got 2',
    );
    expect((await bkv(['fleet', 'deploy', '--out', join(tmp, 'x'), '--replicas', '4'])).code).toBe(2);
    expect((await bkv(['explore', '--max-states', 'abc'])).code).toBe(2);
    expect((await bkv(['vectors', 'generate'])).err[0]).toBe(
      'bkv vectors generate: --out is required (e.g. --out /tmp/vectors)',
    );
  });
});

describe('one error path: one line, a documented exit code, the trace only when asked', () => {
  const system = (() => {
    try {
      rmSync(join(tmp, 'missing', 'x'));
    } catch (e) {
      return e;
    }
  })();

  test.each([
    ['a usage error', new UsageError('bad flag'), EXIT.usage, 'bad flag'],
    [
      'a VaultError',
      new VaultError('DigestMismatch', 'the digest differs'),
      EXIT.failed,
      'DigestMismatch: the digest differs',
    ],
    [
      'an HsmError (SoftHSM missing)',
      new VaultError('HsmError', 'SoftHSM2 library not found; install it with: sudo apt-get install -y softhsm2'),
      EXIT.environment,
      'HsmError: SoftHSM2 library not found',
    ],
    [
      'a system error, with its path',
      system,
      EXIT.environment,
      `ENOENT: no such file or directory, lstat '${join(tmp, 'missing', 'x')}'`,
    ],
    [
      'anything else (a bug)',
      new TypeError('x is undefined'),
      EXIT.internal,
      'internal error: TypeError: x is undefined (a bug in bkv; rerun with --debug for the trace)',
    ],
  ])('%s', async (_what, error, code, line) => {
    expect(describeFailure(error)).toEqual({ exitCode: code, line: expect.stringContaining(line) });
    const thrower: Command = {
      name: 'boom',
      summary: 'throws what the test says',
      flags: [],
      examples: ['boom'],
      run: () => {
        throw error;
      },
    };
    const quiet = await bkv(['boom'], [thrower]);
    expect(quiet.code).toBe(code);
    expect(quiet.err[0]).toBe(`bkv boom: ${describeFailure(error).line}`);
    expect(quiet.err.join('\n')).not.toMatch(/\n\s+at /);
    if (code === EXIT.usage) return;
    expect(quiet.err).toHaveLength(1);
    const traced = await bkv(['boom', '--debug'], [thrower]);
    expect(traced.code).toBe(code);
    expect(traced.err.join('\n')).toMatch(/\n\s+at /);
  });

  test('a real command: audit of a file is a usage error, of a missing directory an environment error', async () => {
    const file = join(tmp, 'file.json');
    writeFileSync(file, '{}');
    expect(await bkv(['audit', file])).toMatchObject({
      code: 2,
      err: expect.arrayContaining([expect.stringContaining('is a file, not a deployment directory')]),
    });
    expect(await bkv(['audit', join(tmp, 'nowhere')])).toMatchObject({
      code: 3,
      err: [expect.stringMatching(/^bkv audit: ENOENT: .*nowhere/)],
    });
    expect(await bkv(['vectors', 'generate', '--out', file])).toMatchObject({
      code: 3,
      err: [expect.stringMatching(/^bkv vectors generate: EEXIST: .*file\.json/)],
    });
  });

  test('a client or fleet command on a missing pin file or a damaged fleet.json: one line naming it', async () => {
    const keys = join(tmp, 'no-keys.json');
    const target = ['--vault', 'http://127.0.0.1:1', '--credential', 'a'];
    expect(await bkv(['recover', ...target, '--keys', keys])).toMatchObject({
      code: 3,
      err: [`bkv recover: ${keys}: cannot read it (no such file)`],
    });
    const limits = join(tmp, 'limits.json');
    const up = ['fleet', 'up', '--dir', join(tmp, 'never'), '--limits', limits];
    for (const [text, line] of [
      [
        '{"maxBodyBytes": 10}',
        /limits\.json: limits\.maxBodyBytes: expected an integer in 4096\.\.16777216, got number 10$/,
      ],
      ['{"maxBody": 4096}', /limits\.json: limits: unexpected member "maxBody"$/],
    ] as const) {
      writeFileSync(limits, text);
      expect(await bkv(up), text).toMatchObject({ code: 1, err: [expect.stringMatching(line)] });
    }
    expect(existsSync(join(tmp, 'never')), 'nothing is made before the limits are read').toBe(false);
    const dir = mkdtempSync(join(tmp, 'fleet-'));
    const damaged: [string, RegExp][] = [
      ['{"format": ', /fleet\.json: not JSON/],
      ['[1]', /fleet\.json: fleet: expected an object, got an array/],
      ['{"format":"bkv-fleet/1"}', /fleet\.json: fleet: missing member "replicas"/],
    ];
    // a file that parses: pid 1 (a signal to its group would reach every process) and port 99999 are refused
    const valid = {
      format: 'bkv-fleet/1',
      replicas: 1,
      hsm: 'memory',
      suite: 'ristretto255-SHA512',
      prefix: 'bkv-serve',
      sessionTtlMs: 60000,
      addresses: ['127.0.0.1:7001'],
      pids: [null],
      timing: { heartbeatMs: 100, electionMinMs: 800, electionMaxMs: 1600, expiryTickMs: 500 },
      broken: null,
      chaosAdmin: false,
      keys: { channelKey: '11'.repeat(32), opaqueServerKey: '22'.repeat(32) },
    };
    expect(decodeFleetFile(valid).addresses).toEqual(['127.0.0.1:7001']);
    damaged.push(
      [JSON.stringify({ ...valid, pids: [1] }), /fleet\.pids\[0\]: expected an integer in 2\.\./],
      [JSON.stringify({ ...valid, addresses: ['127.0.0.1:99999'] }), /fleet\.addresses\[0\] \(its port\)/],
    );
    for (const [text, line] of damaged) {
      writeFileSync(join(dir, 'fleet.json'), text);
      const r = await bkv(['fleet', 'status', '--dir', dir]);
      expect(r, text).toMatchObject({ code: 1, err: [expect.stringMatching(line)] });
      expect(r.err[0], text).toMatch(/^bkv fleet status: MalformedMessage: /);
    }
  });
});

describe('--json: one document on stdout, the text on stderr', () => {
  const json = async (argv: string[]) => {
    const r = await bkv([...argv, '--json']);
    return { ...r, doc: JSON.parse(r.out.join('\n')) as Record<string, unknown> };
  };

  test('vectors verify and vectors official', async () => {
    const v = await json(['vectors', 'verify']);
    expect(v.code).toBe(0);
    expect(v.doc).toMatchObject({ schema: 'bkv-vectors-verify/1', ok: true, problems: 0 });
    expect((v.doc.files as unknown[]).length).toBeGreaterThan(5);
    expect(v.err.at(-1)).toMatch(/^all vectors in .* verify$/);
    const o = await json(['vectors', 'official']);
    expect(o.code).toBe(0);
    expect(o.doc).toMatchObject({ schema: 'bkv-vectors-official/1', ok: true, passed: 9, failed: 0 });
  });

  test('explore: a broken variant, its schedule in the text and in the JSON report', async () => {
    const broken = await json(['explore', '--broken', 'count-at-ke3']);
    expect(broken.code).toBe(0);
    expect(broken.doc).toMatchObject({ schema: 'bkv-explore/2', ok: true, broken: 'count-at-ke3' });
    const [run] = broken.doc.explorations as { violation: { invariant: string; trace: string[] } }[];
    expect(run!.violation.invariant).toBe('INV-1');
    const text = broken.err.join('\n');
    // every action of the schedule is printed, numbered from 1 after the initial state
    run!.violation.trace.forEach((action, k) => expect(text).toContain(`${k + 1}. ${action}`));
    expect(text).toContain(`shortest schedule (${run!.violation.trace.length} actions)`);
    expect((await bkv(['explore', '--broken', 'no-such-variant'])).code).toBe(2);
  }, 120_000);

  test('check --suite attack with fewer runs than attacks says so', async () => {
    const r = await json(['check', '--suite', 'attack', '--runs', '1', '--seed', 'few']);
    expect(r.code).toBe(0);
    expect(r.err[1]).toMatch(/^note: 1 attack runs try 1 of the \d+ attacks/);
  }, 60_000);

  test('check: the summary figures; ok and the exit code agree', async () => {
    const r = await json(['check', '--suite', 'guess-limit', '--runs', '2', '--seed', 'json']);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({
      schema: 'bkv-check/1',
      ok: true,
      seed: 'json',
      plan: [{ suite: 'guess-limit', runs: 2 }],
      scenarios: 2,
      violations: 0,
      failures: [],
    });
    const steps = Number(/summary: 2 scenarios, (\d+) steps/.exec(r.err.join('\n'))![1]);
    expect(r.doc.steps).toBe(steps);
  }, 60_000);
});
