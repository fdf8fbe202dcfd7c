/**
 * What the vault serves a client before a session (spec ch. 7, "Serving the bundle"): the current
 * bundle, the witness's tree head that includes it, the inclusion proof, and, when the client says
 * which tree size it last accepted, the consistency proof from there. A client validates it with
 * `validateFleetInfo` (src/client/bundle.ts). Everything in it is signed or proven, so whoever
 * carries it (vault host, relay) needs no trust.
 *
 * Wiring into the vault's protocol (a `GetFleetInfo` request answered in the clear, before the
 * Noise handshake it makes possible) is left to src/vault/node.ts; this module gives the structure,
 * its strict decoding, and the function that builds it from the witness log.
 * @module
 */
import { canonicalJson } from '../crypto/canonical.ts';
import { VaultError } from '../errors.ts';
import { type Bundle, decodeBundle } from './bundle.ts';
import { type SignedTreeHead, type WitnessLog, decodeProof, decodeTreeHead } from './log.ts';
import { malformed, readInt, readObject } from './json.ts';

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw malformed(path, `not JSON (${(e as Error).message})`);
  }
}

export interface FleetInfo {
  readonly bundle: Bundle;
  /** A head of the witness log at or after the bundle's epoch. */
  readonly treeHead: SignedTreeHead;
  /** RFC 9162 inclusion proof of the bundle's statement (leaf epoch - 1) in `treeHead`. */
  readonly inclusionProof: readonly string[];
  /** RFC 9162 consistency proof from the client's last accepted tree size to `treeHead`. */
  readonly consistency?: { readonly fromSize: number; readonly proof: readonly string[] };
}

/**
 * The fleet info for `bundle` against the log's head of size `treeSize` (default: the latest),
 * with a consistency proof from `knownTreeSize` (the client's last accepted size) when it differs.
 */
export function serveFleetInfo(
  log: WitnessLog,
  bundle: Bundle,
  o: { readonly knownTreeSize?: number; readonly treeSize?: number } = {},
): FleetInfo {
  const size = o.treeSize ?? log.size;
  const known = o.knownTreeSize;
  if (bundle.report === undefined) {
    throw new VaultError('InvalidParameter', 'a bundle without its auditor report has no place in the log');
  }
  return {
    bundle,
    treeHead: log.getHead(size),
    inclusionProof: log.getInclusionProof(bundle.report.epoch, size),
    ...(known !== undefined &&
      known > 0 &&
      known !== size && {
        consistency: {
          fromSize: Math.min(known, size),
          proof: log.getConsistencyProof(Math.min(known, size), Math.max(known, size)),
        },
      }),
  };
}

/** The wire form: canonical JSON (UTF-8), served in the clear; everything in it is signed or proven. */
export function encodeFleetInfo(info: FleetInfo): string {
  return canonicalJson(info);
}

/** Decodes the wire form or its parsed JSON, strictly (`MalformedMessage`). */
export function decodeFleetInfo(x: unknown, path = 'fleetInfo'): FleetInfo {
  if (typeof x === 'string') x = parseJson(x, path);
  const o = readObject(x, path, ['bundle', 'treeHead', 'inclusionProof'], ['consistency']);
  const info: FleetInfo = {
    bundle: decodeBundle(o.bundle, `${path}.bundle`),
    treeHead: decodeTreeHead(o.treeHead, `${path}.treeHead`),
    inclusionProof: decodeProof(o.inclusionProof, `${path}.inclusionProof`),
  };
  if (o.consistency === undefined) return info;
  const c = readObject(o.consistency, `${path}.consistency`, ['fromSize', 'proof']);
  return {
    ...info,
    consistency: {
      fromSize: readInt(c.fromSize, `${path}.consistency.fromSize`, 1),
      proof: decodeProof(c.proof, `${path}.consistency.proof`),
    },
  };
}
