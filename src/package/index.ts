/**
 * `bkv`: an executable reference specification of an HSM-based Backup Key Vault. The root entry
 * holds what a first program needs: a vault on an in-memory HSM, a client that registers and
 * recovers a backup key K through it, the suites, randomness, and the closed error vocabulary.
 * The rest is in the subpaths: `bkv/client`, `bkv/vault`, `bkv/hsm`, `bkv/softhsm`, `bkv/crypto`,
 * `bkv/fleet`, `bkv/replication`, `bkv/check`, `bkv/vectors`, `bkv/conform` (spec ch. 14.5).
 *
 *   const rng = systemRng;
 *   const { vault, client: ctx } = createSingleReplicaVault(MemoryHsm.create('hsm', rng), rng, Date.now);
 *   const client = new BkvClient(ctx, directRelay((f) => vault.deliver(f)), rng);
 *   await client.register(utf8('alice'), utf8('password'), generateBackupKey(rng));
 *   const k = await client.recover(utf8('alice'), utf8('password')); // { ok: true, value: K }
 * @module
 */
export {
  BkvClient,
  generateBackupKey,
  backupKeyToDigits,
  backupKeyFromDigits,
  encryptBackup,
  decryptBackup,
} from '../client/client.ts';
export type { Relay } from '../client/client.ts';
export { directRelay } from '../client/relay.ts';
export { describeOutcome, type ClientContext, type Outcome } from '../client/session.ts';
export { createSingleReplicaVault, vaultConfig, pinnedContext } from '../vault/setup.ts';
export { SingleReplicaVault } from '../vault/single.ts';
export { MemoryHsm } from '../hsm/memory.ts';
export type { Hsm } from '../hsm/hsm.ts';
export { getSuite, SUITE_IDS, type Suite, type SuiteId } from '../crypto/suite.ts';
export { seededRng, systemRng } from '../crypto/rng.ts';
export { fromHex, toHex, utf8, type Bytes, type Rng } from '../crypto/bytes.ts';
export { ERROR_CODES, VaultError, isVaultError, type ErrorCode } from '../errors.ts';
