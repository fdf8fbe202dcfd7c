/**
 * Creating a vault replica and the client context that trusts it: the keys are generated inside
 * the HSM, and the client pins the public halves (WhatsApp's mode; a validated bundle gives the
 * same context in Messenger's mode, spec ch. 7).
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { NOISE_NK_25519_AESGCM_SHA256, type NoiseSuite } from '../crypto/noise.ts';
import { getSuite, type Suite } from '../crypto/suite.ts';
import type { Hsm } from '../hsm/hsm.ts';
import type { ClientContext } from '../client/session.ts';
import { keyLabels, provisionVaultKeys, type KeyLabels } from './keys.ts';
import { DEFAULT_SESSION_TTL_MS, PROLOGUE, type VaultConfig } from './node.ts';
import { SingleReplicaVault } from './single.ts';
import { type HostStorage, MemoryHostStorage } from './storage.ts';
import { VaultError } from '../errors.ts';

export interface VaultSetup {
  readonly suite?: Suite;
  readonly noise?: NoiseSuite;
  readonly labels?: KeyLabels;
  readonly context?: Uint8Array;
  readonly sessionTtlMs?: number;
}

export function vaultConfig(o: VaultSetup = {}): VaultConfig {
  return {
    params: { suite: o.suite ?? getSuite('ristretto255-SHA512'), context: o.context ?? new Uint8Array(0) },
    noise: o.noise ?? NOISE_NK_25519_AESGCM_SHA256,
    labels: o.labels ?? keyLabels(),
    prologue: PROLOGUE,
    sessionTtlMs: o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
  };
}

/** The client's pinned view of a vault of `config` whose public keys are `keys` (default identities: none set). */
export function pinnedContext(
  config: Pick<VaultConfig, 'params' | 'noise' | 'prologue'>,
  keys: Pick<ClientContext, 'channelKey' | 'opaqueServerKey'>,
): ClientContext {
  return {
    params: config.params,
    noise: config.noise,
    prologue: config.prologue,
    channelKey: keys.channelKey,
    opaqueServerKey: keys.opaqueServerKey,
  };
}

/** The client's pinned view of a vault whose keys are in `hsm`. */
export function pinnedClientContext(hsm: Hsm, config: VaultConfig): ClientContext {
  const channelKey = hsm.keyInfo(config.labels.channel).publicKey;
  const opaqueServerKey = hsm.keyInfo(config.labels.opaqueServer).publicKey;
  if (!channelKey || !opaqueServerKey) throw new VaultError('KeyNotFound', 'vault keys are not provisioned');
  return pinnedContext(config, { channelKey, opaqueServerKey });
}

/** Provisions the keys (when missing) and opens a single-replica vault over them. */
export function createSingleReplicaVault(
  hsm: Hsm,
  rng: Rng,
  clock: () => number,
  o: VaultSetup & { storage?: HostStorage } = {},
) {
  const config = vaultConfig(o);
  provisionVaultKeys(hsm, config.params.suite, config.labels);
  const storage = o.storage ?? new MemoryHostStorage();
  const vault = SingleReplicaVault.open({ hsm, config, storage, rng, clock });
  return { vault, config, storage, client: pinnedClientContext(hsm, config) };
}
