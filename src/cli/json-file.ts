/**
 * Reading a JSON file a command was given or a fleet keeps (keys.json, roots.json, a bundle,
 * fleet.json, a limits file): a file that cannot be read is the machine's problem (exit 3) in one
 * line; bad JSON or a bad shape is `MalformedMessage` naming the file and the member.
 * @module
 */
import { readFileSync } from 'node:fs';
import { VaultError, isVaultError } from '../errors.ts';
import { malformed } from '../fleet/json.ts';
import { EnvironmentError } from './exit.ts';

/** The text of `file`. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (code ?? String(e));
    throw new EnvironmentError(`${file}: cannot read it (${why})`);
  }
}

/** `file` parsed as JSON. */
export function parseJsonFile(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw malformed(file, `not JSON (${(e as Error).message})`);
  }
}

/** Runs `f`; a refusal names the file it came from. */
export function inFile<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!isVaultError(e) || e.message.startsWith(`${e.code}: ${file}`)) throw e;
    throw new VaultError(e.code, `${file}: ${e.message.slice(e.code.length + 2)}`);
  }
}

/** `file` parsed as JSON and decoded by `decode`; a refusal names the file. */
export function readJsonFile<T>(file: string, decode: (x: unknown) => T): T {
  return inFile(file, () => decode(parseJsonFile(file)));
}
