/**
 * `bkv/vault`: the HSM application (spec ch. 5): record rules as pure steps, a single-replica vault,
 * its keys and host storage.
 * @module
 */
export * from '../vault/setup.ts';
export * from '../vault/single.ts';
export * from '../vault/records.ts';
export * from '../vault/node.ts';
export * from '../vault/protocol.ts';
export * from '../vault/keys.ts';
export * from '../vault/imported-keys.ts';
export * from '../vault/storage.ts';
