/**
 * Where the client commands (`bkv register|recover|delete`, spec ch. 15.2 "Client commands") send
 * their frames and which fleet keys they trust:
 *
 *   --vault URL        the client endpoint: a relay (or a replica), http://host:port
 *   --keys FILE        pinned mode (WhatsApp): the keys file of `fleet up` (D/keys.json)
 *   --bundle FILE      over the air (Messenger): the fleet info as served (a bundle, its witness tree
 *     --roots FILE     head and inclusion proof: D/deployment/bundles/epoch-0001.json), validated as
 *                      `validateFleetInfo` does against the pins in roots.json (witness, operator,
 *                      namespace, vendor root: the attestations are checked)
 *   --dir D            a shorthand: whatever is not given comes from D (the relay's URL from
 *                      fleet.json, D/keys.json, D/deployment/roots.json)
 *
 * A file that is not there is exit 3 (the machine's); a file that does not decode or validate is a
 * VaultError (exit 1) naming the file; a malformed URL or a bad combination is a usage error.
 * @module
 */
import { join } from 'node:path';
import { INITIAL_CLIENT_FLEET_STATE, validateFleetInfo, validatePinned } from '../client/bundle.ts';
import type { ClientContext } from '../client/session.ts';
import { NOISE_NK_25519_AESGCM_SHA256 } from '../crypto/noise.ts';
import { SUITE_IDS } from '../crypto/suite.ts';
import { decodeRoots } from '../fleet/audit.ts';
import { decodeFleetInfo } from '../fleet/fleet-info.ts';
import { readChoice, readHexBytes, readObject, readString } from '../fleet/json.ts';
import { deploymentDir, keysPath, readFleet } from '../serve/layout.ts';
import { UsageError } from './args.ts';
import { EnvironmentError } from './exit.ts';
import { inFile, parseJsonFile, readText } from './json-file.ts';

export interface TargetArgs {
  readonly dir?: string;
  readonly vault?: string;
  readonly keys?: string;
  readonly bundle?: string;
  readonly roots?: string;
}

export interface Target {
  /** host:port of the client endpoint. */
  readonly address: string;
  readonly context: ClientContext;
}

/** The endpoint and the trusted context of a client command; `now` for the bundle's time window. */
export function resolveTarget(a: TargetArgs, now: number): Target {
  if (a.keys !== undefined && a.bundle !== undefined) throw new UsageError('--keys FILE or --bundle FILE, not both');
  if (a.roots !== undefined && a.bundle === undefined) throw new UsageError('--roots goes with --bundle');
  if (a.dir === undefined && a.vault === undefined) throw new UsageError('--vault URL (or --dir D) is required');
  if (a.dir === undefined && a.keys === undefined && a.bundle === undefined)
    throw new UsageError('--vault URL needs --keys FILE or --bundle FILE --roots FILE');
  if (a.dir === undefined && a.bundle !== undefined && a.roots === undefined)
    throw new UsageError('--bundle FILE needs --roots FILE (the pinned witness and operator keys)');
  const address = a.vault !== undefined ? parseVaultUrl(a.vault) : relayOf(a.dir!);
  if (a.bundle !== undefined) {
    const roots = a.roots ?? join(deploymentDir(a.dir!), 'roots.json');
    return { address, context: readBundle(a.bundle, roots, now) };
  }
  return { address, context: readKeys(a.keys ?? keysPath(a.dir!)) };
}

/** `http://host:port` (a trailing slash allowed) -> `host:port`. */
export function parseVaultUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--vault expected a URL such as http://127.0.0.1:8080, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username)
    throw new UsageError(`--vault expected http://host:port, got ${JSON.stringify(text)}`);
  return `${url.hostname}:${url.port || '80'}`;
}

function relayOf(dir: string): string {
  const relay = readFleet(dir).relay;
  if (relay === undefined) throw new EnvironmentError(`${dir}: this fleet has no relay (bkv fleet up starts one)`);
  return relay.address;
}

/** The keys file of `fleet up`: {suite, channelKey, opaqueServerKey[, channelProtocol]}, hex. */
export function readKeys(file: string): ClientContext {
  return inFile(file, () => {
    const o = readObject(parseJsonFile(file), 'keys', ['suite', 'channelKey', 'opaqueServerKey'], ['channelProtocol']);
    const pins = {
      suite: readChoice(o.suite, 'keys.suite', SUITE_IDS),
      channelProtocol:
        o.channelProtocol === undefined
          ? NOISE_NK_25519_AESGCM_SHA256.protocolName
          : readString(o.channelProtocol, 'keys.channelProtocol'),
      channelKey: readHexBytes(o.channelKey, 'keys.channelKey', 32),
      opaqueServerKey: readHexBytes(o.opaqueServerKey, 'keys.opaqueServerKey'),
    };
    return validatePinned(pins, undefined);
  });
}

/** The fleet info in `file`, validated over the air against the pins in `rootsFile`. */
export function readBundle(file: string, rootsFile: string, now: number): ClientContext {
  const roots = inFile(rootsFile, () => decodeRoots(parseJsonFile(rootsFile)));
  return inFile(file, () => {
    const info = decodeFleetInfo(readText(file), 'bundle');
    return validateFleetInfo(info, roots, INITIAL_CLIENT_FLEET_STATE, now).context;
  });
}

