/**
 * `bkv/vectors`: bkv's reference vectors (generate, verify) and the official RFC 9807 vectors through bkv (spec ch. 9).
 * @module
 */
export * from '../vectors/files.ts';
export * from '../vectors/rfc9807.ts';
