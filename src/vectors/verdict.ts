/**
 * What a vector expects of a rule: accepted (with what it returns) or refused with a `VaultError`
 * code. Shared by the vector families whose cases are accepted or refused (bundles, replication).
 * @module
 */
import { isVaultError } from '../errors.ts';

export interface Verdict<R = unknown> {
  readonly valid: boolean;
  readonly code?: string;
  readonly result?: R;
}

/** Runs a rule: its result, or the code it refuses with (any other exception is a bug and propagates). */
export function verdictOf<R>(rule: () => R): Verdict<R> {
  try {
    return { valid: true, result: rule() };
  } catch (e) {
    if (isVaultError(e)) return { valid: false, code: e.code };
    throw e;
  }
}

/** The last hex digit changed: one bit of a signature, MAC, digest or blob. */
export function flipLastHexDigit(hex: string): string {
  return hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
}
