/**
 * `bkv/conform`: run another implementation through the adapter protocol (spec ch. 9).
 * @module
 */
export * from '../conform/run.ts';
export * from '../conform/adapter-protocol.ts';
