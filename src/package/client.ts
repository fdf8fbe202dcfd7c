/**
 * `bkv/client`: the client side (spec ch. 3): register and recover K through a relay, validate fleet
 * keys (bundles, pins), encrypt a backup under K.
 * @module
 */
export * from '../client/client.ts';
export * from '../client/session.ts';
export * from '../client/bundle.ts';
export * from '../client/relay.ts';
