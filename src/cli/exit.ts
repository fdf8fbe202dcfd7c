/**
 * The exit codes of `bkv` and the one line that names a failure (spec ch. 14, "Exit codes").
 * Every command ends through `main` (main.ts), which catches whatever escaped the command and
 * turns it into one line on stderr and one of these codes; the stack trace only with `--debug`
 * or `BKV_DEBUG=1`.
 * @module
 */
import { isVaultError } from '../errors.ts';
import { UsageError } from './args.ts';

export const EXIT = {
  /** The command did what was asked; a check found nothing wrong. */
  ok: 0,
  /** A check, audit, verification or conformance run failed, or the input it read was refused (a VaultError). */
  failed: 1,
  /** A bad command line: unknown command or option, a missing or malformed value. */
  usage: 2,
  /** The machine: SoftHSM missing or failing, a file or directory that cannot be read or written. */
  environment: 3,
  /** A bug in bkv: an error nobody expected. The line says to rerun with --debug for the trace. */
  internal: 4,
} as const;

/** The machine lacks something a command needs (a checkout, a folder of vectors): exit 3. */
export class EnvironmentError extends Error {
  override readonly name = 'EnvironmentError';
}

export interface Failure {
  readonly exitCode: number;
  readonly line: string;
}

/** A Node.js system error (ENOENT, EACCES, ...), which names its path in its message. */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!) &&
    'syscall' in e
  );
}

/** The exit code and the one line for an error that ended a command. */
export function describeFailure(e: unknown): Failure {
  if (e instanceof UsageError) return { exitCode: EXIT.usage, line: e.message };
  // the HSM is the machine's: SoftHSM2 not installed, a library that does not load, a token that is not there
  if (e instanceof EnvironmentError) return { exitCode: EXIT.environment, line: e.message };
  if (isVaultError(e, 'HsmError')) return { exitCode: EXIT.environment, line: e.message };
  if (isVaultError(e)) return { exitCode: EXIT.failed, line: e.message };
  if (isSystemError(e)) return { exitCode: EXIT.environment, line: e.message };
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return {
    exitCode: EXIT.internal,
    line: `internal error: ${what.split('\n')[0]} (a bug in bkv; rerun with --debug for the trace)`,
  };
}
