/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, `undefined` members
 * dropped, strings and numbers as `JSON.stringify` writes them (ECMA-262 §25.5.2.2, which is
 * deterministic: the same value always gives the same text). Used wherever bytes are hashed or
 * signed over a JSON value (the fleet-key artifact, attestations, tree heads, spec ch. 7) and
 * wherever tests and vectors compare states byte for byte (spec ch. 9).
 *
 * `parseCanonicalJson` is the strict inverse: it accepts a text only if it is the canonical
 * encoding of what it parses to, so one value has exactly one accepted encoding (and one digest).
 * @module
 */
import { VaultError } from '../errors.ts';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Parses `text` and refuses it ('MalformedMessage') unless it is exactly `canonicalJson` of the result. */
export function parseCanonicalJson(text: string, what: string): unknown {
  if (typeof text !== 'string')
    throw new VaultError('MalformedMessage', `${what}: expected a JSON string, got ${typeof text}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new VaultError('MalformedMessage', `${what}: not JSON (${(e as Error).message})`);
  }
  if (canonicalJson(value) !== text)
    throw new VaultError('MalformedMessage', `${what}: not in canonical form (sorted keys, no whitespace)`);
  return value;
}
