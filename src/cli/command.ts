/**
 * The declaration of a `bkv` command, its strict argument parser, and its usage text (spec ch. 14).
 * A command declares every flag (name, kind, default, help, example) and every positional; the
 * parser accepts exactly those and refuses anything else with a `UsageError` (exit 2) that names
 * it: an unknown or single-dash option, a repeated option, a missing or ambiguous value, a value
 * outside its kind (integer range, choices), an extra or missing positional. The usage text is
 * generated from the same declaration, so help and parser cannot disagree.
 *
 * Flow: `node:util` parseArgs in token mode (no strictness of its own) -> each token checked
 * against the declaration -> defaults filled in -> each value checked -> `Parsed`.
 * @module
 */
import { parseArgs as tokenize } from 'node:util';
import { type Parsed, UsageError } from './args.ts';

export type FlagKind = 'string' | 'int' | 'boolean' | 'choice' | 'list';

export interface Flag {
  /** Without the dashes: `runs` is `--runs`. */
  readonly name: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** The value's placeholder in the usage text (`N`, `DIR`); default from the kind. */
  readonly value?: string;
  /** Filled in when the flag is absent, and shown in the help. */
  readonly default?: string;
  /** Shown in the help when the default is not a fixed value ("every suite", "the clock"). */
  readonly defaultText?: string;
  /** `choice` and `list`: the values allowed. */
  readonly choices?: readonly string[];
  /** `int`: the range, inclusive. */
  readonly min?: number;
  readonly max?: number;
  /** A further check of the value; a throw (its message) is a usage error. */
  readonly check?: (value: string) => void;
  readonly required?: boolean;
  /** An example value, shown in the help (non-boolean flags). */
  readonly example?: string;
}

export interface Positional {
  readonly name: string;
  readonly help: string;
  readonly required?: boolean;
  /** Given in the help when the positional is optional and absent. */
  readonly defaultText?: string;
}

/** Where a command writes. Under `--json`, stdout carries the JSON document only, and `print` goes to stderr. */
export interface Io {
  /** One line of the command's text output. */
  readonly print: (line: string) => void;
  /** Writes the command's JSON document (set only under `--json`). */
  readonly json: ((doc: object) => void) | null;
}

export interface Command {
  /** One or two words: `check`, `fleet deploy`. */
  readonly name: string;
  /** How it is typed, when that is not `bkv <name>` (`npm run bench --`). */
  readonly invocation?: string;
  /** One line, for the command list. */
  readonly summary: string;
  /** More lines for `--help` (what it does, the exit codes it uses beyond the common ones). */
  readonly details?: readonly string[];
  readonly flags: readonly Flag[];
  readonly positionals?: readonly Positional[];
  /** Whole command lines (without `bkv`), at least one; each must parse (test/cli.test.ts). */
  readonly examples: readonly string[];
  /** Runs the command with its parsed arguments; resolves to the exit code. */
  readonly run: (args: Parsed, io: Io) => number | Promise<number>;
}

/** Flags every command has. `--json` is declared by the commands that have it (JSON_FLAG). */
export const COMMON_FLAGS: readonly Flag[] = [
  { name: 'debug', kind: 'boolean', help: 'on an error, also print its stack trace (or set BKV_DEBUG=1)' },
  { name: 'help', kind: 'boolean', help: 'this text (also -h)' },
];

export const JSON_FLAG: Flag = {
  name: 'json',
  kind: 'boolean',
  help: 'one JSON document on stdout instead of the text (spec ch. 14); the text goes to stderr',
};

/** `--report DIR`: a run report, a static folder to open from disk (src/report/, spec ch. 14.6). */
export const REPORT_FLAG: Flag = {
  name: 'report',
  kind: 'string',
  value: 'DIR',
  help: 'also write a report there: report.json and index.html (timelines, steps; opens from disk)',
  example: 'r',
};

const placeholder = (f: Flag): string =>
  f.value ?? (f.kind === 'choice' ? f.choices!.join('|') : f.kind === 'int' ? 'N' : f.kind === 'list' ? 'A,B' : 'S');

function flagFor(cmd: Command, name: string): Flag | undefined {
  return [...cmd.flags, ...COMMON_FLAGS].find((f) => f.name === name);
}

/** Checks one value against its flag; returns it as stored in `Parsed` (strings; `true` for booleans). */
function checkValue(f: Flag, v: string): string {
  const name = `--${f.name}`;
  if (v === '') throw new UsageError(`${name} needs a value (e.g. ${name} ${f.example ?? placeholder(f)})`);
  if (f.kind === 'int') {
    const n = Number(v);
    const lo = f.min ?? 0;
    const hi = f.max ?? Number.MAX_SAFE_INTEGER;
    const range = hi === Number.MAX_SAFE_INTEGER ? `of at least ${lo}` : `in ${lo}..${hi}`;
    if (!/^\d+$/.test(v) || n < lo || n > hi) throw new UsageError(`${name} expected an integer ${range}, got ${v}`);
  }
  if (f.kind === 'choice' && !f.choices!.includes(v))
    throw new UsageError(`${name} expected one of ${f.choices!.join('|')}, got ${v}`);
  if (f.kind === 'list') {
    const items = v.split(',');
    if (items.some((x) => x === '')) throw new UsageError(`${name} expected a comma-separated list, got ${v}`);
    const unknown = f.choices ? items.filter((x) => !f.choices!.includes(x)) : [];
    if (unknown.length > 0)
      throw new UsageError(`${name}: unknown ${unknown.join(', ')} (known: ${f.choices!.join(', ')})`);
  }
  if (f.check) {
    try {
      f.check(v);
    } catch (e) {
      throw new UsageError(`${name}: ${(e as Error).message.replace(/^[A-Za-z]+: /, '')}`);
    }
  }
  return v;
}

/**
 * Parses `argv` (the words after the command's name) strictly against `cmd`'s declaration.
 * `options.help` is `true` when help was asked for (nothing else is then checked).
 */
export function parseCommandArgs(cmd: Command, argv: readonly string[]): Parsed {
  const all = [...cmd.flags, ...COMMON_FLAGS];
  const { tokens } = tokenize({
    args: [...argv],
    options: Object.fromEntries(
      all.map((f) => [
        f.name,
        {
          type: f.kind === 'boolean' ? ('boolean' as const) : ('string' as const),
          ...(f.name === 'help' && { short: 'h' }),
        },
      ]),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { positionals: [], options: { help: true } };
  const options: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    if (t.kind !== 'option') continue;
    const raw = argv[t.index]!;
    const f = flagFor(cmd, t.name);
    if (f === undefined || !t.rawName.startsWith('--')) {
      const hint = raw.startsWith('--')
        ? ''
        : raw.startsWith('-') && flagFor(cmd, raw.replace(/^-+/, '').split('=')[0]!)
          ? ` (options take two dashes: -${raw})`
          : '';
      throw new UsageError(`unknown option ${raw.startsWith('--') ? t.rawName : raw}${hint}`);
    }
    if (t.name in options) throw new UsageError(`--${f.name} given twice`);
    if (f.kind === 'boolean') {
      if (t.inlineValue) throw new UsageError(`--${f.name} takes no value (got ${raw})`);
      options[f.name] = true;
      continue;
    }
    if (t.value === undefined)
      throw new UsageError(`--${f.name} needs a value (e.g. --${f.name} ${f.example ?? placeholder(f)})`);
    if (!t.inlineValue && t.value.startsWith('-'))
      throw new UsageError(
        `--${f.name} needs a value, got ${t.value} (a value that starts with a dash: --${f.name}=${t.value})`,
      );
    options[f.name] = checkValue(f, t.value);
  }
  for (const f of cmd.flags) {
    if (options[f.name] !== undefined) continue;
    if (f.required) throw new UsageError(`--${f.name} is required (e.g. --${f.name} ${f.example ?? placeholder(f)})`);
    if (f.default !== undefined) options[f.name] = f.default;
  }
  const declared = cmd.positionals ?? [];
  if (positionals.length > declared.length) {
    const extra = positionals
      .slice(declared.length)
      .map((p) => JSON.stringify(p))
      .join(' ');
    throw new UsageError(declared.length === 0 ? `takes no arguments, got ${extra}` : `unexpected argument ${extra}`);
  }
  const missing = declared.slice(positionals.length).find((p) => p.required);
  if (missing) throw new UsageError(`missing <${missing.name}>`);
  return { positionals, options };
}

// ------------------------------------------------------------------------------------------------
// Usage texts

const invocation = (cmd: Command) => cmd.invocation ?? `bkv ${cmd.name}`;

const WIDTH = 100;

function synopsis(cmd: Command): string {
  const words = [invocation(cmd)];
  for (const p of cmd.positionals ?? []) words.push(p.required ? `<${p.name}>` : `[${p.name}]`);
  for (const f of cmd.flags) {
    const w = f.kind === 'boolean' ? `--${f.name}` : `--${f.name} ${placeholder(f)}`;
    words.push(f.required ? w : `[${w}]`);
  }
  const lines: string[] = [];
  let line = 'usage:';
  for (const w of words) {
    if (line.length + 1 + w.length > WIDTH && line.trim() !== 'usage:') {
      lines.push(line);
      line = '      ';
    }
    line += ` ${w}`;
  }
  lines.push(line);
  return lines.join('\n');
}

/** The short form shown after a usage error: the synopsis and where the whole help is. */
export function formatSynopsis(cmd: Command): string {
  return `${synopsis(cmd)}\n(${invocation(cmd)} --help: every option, its default and examples)`;
}

function describeFlag(f: Flag): string {
  const extra: string[] = [];
  if (f.required) extra.push('required');
  if (f.default !== undefined) extra.push(`default ${f.default}`);
  else if (f.defaultText !== undefined) extra.push(`default: ${f.defaultText}`);
  if (f.kind === 'int' && f.max !== undefined) extra.push(`${f.min ?? 0}..${f.max}`);
  else if (f.kind === 'int' && f.min !== undefined) extra.push(`at least ${f.min}`);
  if (f.kind === 'list' && f.choices) extra.push(`of ${f.choices.join(', ')}`);
  if (f.example !== undefined) extra.push(`e.g. --${f.name} ${f.example}`);
  return extra.length > 0 ? `${f.help} (${extra.join('; ')})` : f.help;
}

/** `text` in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/** Two columns: names, then their descriptions wrapped to the usage width. */
function table(rows: readonly [string, string][]): string[] {
  const width = Math.min(34, Math.max(...rows.map(([a]) => a.length)) + 2);
  const indent = ' '.repeat(2 + width);
  return rows.flatMap(([a, b]) => {
    const text = wrap(b, WIDTH - indent.length).map((l) => indent + l);
    if (a.length + 2 > width) return [`  ${a}`, ...text];
    return [`  ${a.padEnd(width)}${text[0]!.trimStart()}`, ...text.slice(1)];
  });
}

/** `bkv <cmd> --help`: what it does, the synopsis, every positional and flag with its default, the examples. */
export function formatUsage(cmd: Command): string {
  const out = [
    `${invocation(cmd)}: ${cmd.summary}`,
    ...(cmd.details ?? []).map((l) => (l === '' ? '' : `  ${l}`)),
    '',
    synopsis(cmd),
  ];
  if (cmd.positionals?.length) {
    out.push('', 'arguments:');
    out.push(
      ...table(
        cmd.positionals.map((p) => [`${p.name}`, p.defaultText ? `${p.help} (default: ${p.defaultText})` : p.help]),
      ),
    );
  }
  out.push('', 'options:');
  const shown = [...cmd.flags, ...COMMON_FLAGS];
  out.push(
    ...table(
      shown.map((f) => [f.kind === 'boolean' ? `--${f.name}` : `--${f.name} ${placeholder(f)}`, describeFlag(f)]),
    ),
  );
  out.push('', 'examples:', ...cmd.examples.map((e) => `  ${invocation(cmd)}${e.slice(cmd.name.length)}`));
  out.push('', 'exit codes: 0 ok, 1 a check failed, 2 usage, 3 environment, 4 internal error (spec ch. 14)');
  return out.join('\n');
}

/** The commands grouped by first word, with their summaries (`bkv --help`, `bkv help fleet`). */
export function formatCommandList(commands: readonly Command[]): string[] {
  return table(commands.map((c) => [c.name, c.summary]));
}
