/**
 * A small argument parser for the `bkv` command: `--name value`, `--flag`, and positionals.
 * Unknown options are an error that names them (no silent typos).
 * @module
 */
export interface Parsed {
  readonly positionals: string[];
  readonly options: Record<string, string | true>;
}

export function parseArgs(argv: readonly string[], known: readonly string[], flags: readonly string[] = []): Parsed {
  const positionals: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (flags.includes(name)) {
      options[name] = true;
      continue;
    }
    if (!known.includes(name)) throw new UsageError(`unknown option --${name} (known: ${[...known, ...flags].map((k) => '--' + k).join(' ')})`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`option --${name} needs a value`);
    options[name] = value;
  }
  return { positionals, options };
}

export class UsageError extends Error {}

export function intOption(p: Parsed, name: string, dflt: number, min: number, max: number): number {
  const v = p.options[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} expected an integer in ${min}..${max}, got ${String(v)}`);
  return n;
}

export function choiceOption<T extends string>(p: Parsed, name: string, choices: readonly T[], dflt: T): T {
  const v = p.options[name];
  if (v === undefined) return dflt;
  if (!(choices as readonly unknown[]).includes(v)) throw new UsageError(`--${name} expected one of ${choices.join('|')}, got ${String(v)}`);
  return v as T;
}
