/**
 * Vault keys made outside the HSM and imported into it, as hex: the conformance runs and the
 * session vectors (spec ch. 9) give another implementation the same private keys as bkv's vault,
 * so the keys must exist as bytes. A deployed vault never does this: its keys are generated inside
 * the HSM, non-extractable (keys.ts `provisionVaultKeys`).
 *
 *   generateVaultKeys(suite, rng)             -> the private keys (the adapter's `init`) and their public halves
 *   importVaultKeys(hsm, config, keys)        -> the keys in the HSM under config's labels; the public halves
 *                                                it reports
 *   publicKeyBytes(publicKeys)                -> those public halves as a client pins them (setup.ts `pinnedContext`)
 * @module
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { type Rng, fromHex, toHex } from '../crypto/bytes.ts';
import type { Suite } from '../crypto/suite.ts';
import type { ClientContext } from '../client/session.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { VaultError } from '../errors.ts';
import { opaqueServerKeyKind, oprfSeedKind } from './keys.ts';
import type { VaultConfig } from './node.ts';

/** The vault's private keys, hex, as the conformance adapter's `init` takes them (spec ch. 9 §9.2). */
export interface VaultPrivateKeys {
  readonly opaqueServerPrivateKey: string;
  readonly oprfSeed: string;
  readonly channelPrivateKey: string;
}

/** The public halves a client pins, hex. */
export interface VaultPublicKeys {
  readonly opaqueServerPublicKey: string;
  readonly channelPublicKey: string;
}

/**
 * Draws, in order: the OPAQUE server key's seed (32 bytes, RFC 9807 DeriveDiffieHellmanKeyPair),
 * the Noise channel private key (32), the OPRF seed (Nh).
 */
export function generateVaultKeys(suite: Suite, rng: Rng): { keys: VaultPrivateKeys; publicKeys: VaultPublicKeys } {
  const server = suite.group.deriveDiffieHellmanKeyPair(rng(32));
  const channel = rng(32);
  return {
    keys: {
      opaqueServerPrivateKey: toHex(server.privateKey),
      oprfSeed: toHex(rng(suite.Nh)),
      channelPrivateKey: toHex(channel),
    },
    publicKeys: {
      opaqueServerPublicKey: toHex(server.publicKey),
      channelPublicKey: toHex(x25519.getPublicKey(channel)),
    },
  };
}

/**
 * Imports `keys` under `config`'s labels and generates the storage seal key; returns the public
 * halves as the HSM reports them.
 */
export function importVaultKeys(hsm: Hsm, config: VaultConfig, keys: VaultPrivateKeys): VaultPublicKeys {
  const suite = config.params.suite;
  const { labels } = config;
  const server = hsm.importKey(labels.opaqueServer, opaqueServerKeyKind(suite), fromHex(keys.opaqueServerPrivateKey));
  hsm.importKey(labels.oprfSeed, oprfSeedKind(suite), fromHex(keys.oprfSeed));
  const channel = hsm.importKey(labels.channel, 'x25519', fromHex(keys.channelPrivateKey));
  hsm.generateKey(labels.seal, 'aes256gcm');
  if (!server.publicKey || !channel.publicKey)
    throw new VaultError('KeyNotFound', 'an imported vault key has no public key');
  return { opaqueServerPublicKey: toHex(server.publicKey), channelPublicKey: toHex(channel.publicKey) };
}

/** The public halves as the bytes a ClientContext pins (setup.ts `pinnedContext`). */
export function publicKeyBytes(publicKeys: VaultPublicKeys): Pick<ClientContext, 'channelKey' | 'opaqueServerKey'> {
  return {
    channelKey: fromHex(publicKeys.channelPublicKey),
    opaqueServerKey: fromHex(publicKeys.opaqueServerPublicKey),
  };
}
