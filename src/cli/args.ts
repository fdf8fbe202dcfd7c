/**
 * The parsed arguments of a `bkv` command and the accessors its implementation reads them with.
 * Parsing is strict and declared (command.ts): by the time a command runs, every option in
 * `options` is one it declared, with a value of the declared kind, and defaults are filled in.
 * @module
 */
export interface Parsed {
  readonly positionals: string[];
  /** Flag name (without dashes) -> its value as given, or `true` for a boolean flag. */
  readonly options: Record<string, string | true>;
}

/** A bad command line: exit code 2, the message and the command's usage (spec ch. 14). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function intOption(p: Parsed, name: string, dflt: number, min: number, max: number): number {
  const v = p.options[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} expected an integer in ${min}..${max}, got ${String(v)}`);
  return n;
}

export function choiceOption<T extends string>(p: Parsed, name: string, choices: readonly T[], dflt: T): T {
  const v = p.options[name];
  if (v === undefined) return dflt;
  if (!(choices as readonly unknown[]).includes(v))
    throw new UsageError(`--${name} expected one of ${choices.join('|')}, got ${String(v)}`);
  return v as T;
}

/** A string option's value, or undefined when absent. */
export function stringOption(p: Parsed, name: string): string | undefined {
  const v = p.options[name];
  return typeof v === 'string' ? v : undefined;
}
