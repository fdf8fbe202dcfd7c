/**
 * The `bkv` command: finds the command in the table (commands.ts), parses its arguments strictly
 * (command.ts), runs it, and is the one place where an error ends a command: one line on stderr
 * naming the problem, and a documented exit code (exit.ts, spec ch. 14).
 *
 *   bkv [--help | --version]           the commands
 *   bkv help [<command>]               a command's usage (or a group's commands: bkv help fleet)
 *   bkv <command> [args] [--help]      run it, or its usage with every flag, default and example
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from './commands.ts';
import { type Command, formatCommandList, formatSynopsis, formatUsage, type Io, parseCommandArgs } from './command.ts';
import { describeFailure, EXIT } from './exit.ts';
import { UsageError } from './args.ts';
import { ROOT } from './paths.ts';

/** Where `main` writes: whole lines, without their newline. */
export interface Streams {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/**
 * Writes `line` to `stream`; when the reader has gone (EPIPE), ends the process quietly at once,
 * even inside a long synchronous run: a pipe write fails synchronously and marks the stream errored.
 */
function writeLine(stream: NodeJS.WriteStream, line: string): void {
  stream.write(line + '\n');
  if ((stream.errored as NodeJS.ErrnoException | null)?.code === 'EPIPE') process.exit(EXIT.ok);
}

export const processStreams: Streams = {
  out: (line) => writeLine(process.stdout, line),
  err: (line) => writeLine(process.stderr, line),
};

const groups = (commands: readonly Command[]) => [
  ...new Set(commands.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!)),
];

function overview(commands: readonly Command[]): string {
  return [
    'bkv: an executable reference specification of an HSM-based Backup Key Vault',
    '',
    'usage: bkv <command> [arguments] [options]',
    '',
    'commands:',
    ...formatCommandList(commands),
    '',
    'bkv <command> --help (or bkv help <command>): its arguments, every option with its default, examples.',
    'exit codes: 0 ok, 1 a check failed, 2 usage, 3 environment, 4 internal error (spec ch. 14).',
    'BKV_DEBUG=1 or --debug: the stack trace of an error.',
  ].join('\n');
}

function groupUsage(group: string, commands: readonly Command[]): string {
  return [`bkv ${group}: one of`, ...formatCommandList(commands.filter((c) => c.name.startsWith(`${group} `)))].join(
    '\n',
  );
}

type Resolved = { command: Command; rest: string[] } | { group: string; rest: string[] } | { unknown: string };

/** The command named by the first one or two words of `argv`. */
function resolve(argv: readonly string[], commands: readonly Command[]): Resolved {
  const [first = '', second, ...more] = argv;
  const two = commands.find((c) => second !== undefined && c.name === `${first} ${second}`);
  if (two) return { command: two, rest: more };
  const one = commands.find((c) => c.name === first);
  if (one) return { command: one, rest: argv.slice(1) };
  if (groups(commands).includes(first)) return { group: first, rest: argv.slice(1) };
  return { unknown: first };
}

function version(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Runs `bkv argv` and resolves to its exit code. Nothing escapes: every error becomes one line on
 * `streams.err` (with `--debug` or BKV_DEBUG=1, its stack trace too).
 */
export async function main(
  argv: readonly string[],
  streams: Streams = processStreams,
  commands: readonly Command[] = COMMANDS,
): Promise<number> {
  const debug = argv.includes('--debug') || process.env.BKV_DEBUG === '1';
  const words = argv.filter((a) => a !== '--debug');
  const [first] = words;
  if (first === undefined || first === '--help' || first === '-h' || (first === 'help' && words.length === 1)) {
    streams.out(overview(commands));
    return EXIT.ok;
  }
  if (first === '--version' && words.length === 1) {
    streams.out(version());
    return EXIT.ok;
  }
  const asksHelp = first === 'help';
  const target = resolve(asksHelp ? words.slice(1) : words, commands);
  if ('unknown' in target) {
    streams.err(`bkv: unknown command "${target.unknown}"`);
    streams.err(`commands: ${[...new Set(commands.map((c) => c.name.split(' ')[0]))].join(', ')} (bkv --help)`);
    return EXIT.usage;
  }
  if ('group' in target) {
    const helpOnly = asksHelp || (target.rest.length === 1 && ['--help', '-h'].includes(target.rest[0]!));
    if (!helpOnly)
      streams.err(
        target.rest.length === 0
          ? `bkv ${target.group}: needs a subcommand`
          : `bkv ${target.group}: unknown subcommand "${target.rest[0]}"`,
      );
    (helpOnly ? streams.out : streams.err)(groupUsage(target.group, commands));
    return helpOnly ? EXIT.ok : EXIT.usage;
  }
  const { command } = target;
  if (asksHelp) {
    if (target.rest.length > 0) {
      streams.err(`bkv help: unexpected ${JSON.stringify(target.rest[0])} after ${command.name}`);
      return EXIT.usage;
    }
    streams.out(formatUsage(command));
    return EXIT.ok;
  }
  try {
    const args = parseCommandArgs(command, target.rest);
    if (args.options.help === true) {
      streams.out(formatUsage(command));
      return EXIT.ok;
    }
    const json = args.options.json === true;
    const io: Io = {
      print: json ? streams.err : streams.out,
      json: json ? (doc) => streams.out(JSON.stringify(doc, null, 2)) : null,
    };
    return await command.run(args, io);
  } catch (e) {
    const failure = describeFailure(e);
    streams.err(`${(command.invocation ?? `bkv ${command.name}`).replace(/ --$/, '')}: ${failure.line}`);
    if (e instanceof UsageError) streams.err(formatSynopsis(command));
    else if (debug && e instanceof Error && e.stack) streams.err(e.stack);
    return failure.exitCode;
  }
}

/**
 * The process around `main` (bin/bkv.js): the exit code; a reader that stops reading
 * (`bkv opaque | head -1`, EPIPE) ends the command quietly; an error that escapes even `main`
 * (an event handler's) still ends in one line and its exit code.
 */
export async function runCli(argv: readonly string[], commands: readonly Command[] = COMMANDS): Promise<void> {
  const debug = argv.includes('--debug') || process.env.BKV_DEBUG === '1';
  const last = (e: unknown) => {
    const failure = describeFailure(e);
    process.stderr.write(`bkv: ${failure.line}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exit(failure.exitCode);
  };
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(EXIT.ok) : last(e)));
  }
  process.on('uncaughtException', last);
  process.on('unhandledRejection', last);
  process.exitCode = await main(argv, processStreams, commands);
}
