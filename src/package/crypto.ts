/**
 * `bkv/crypto`: suites, OPAQUE (RFC 9807), Noise NK, the KSFs, randomness and byte helpers (spec ch. 2, 3).
 * @module
 */
export * from '../crypto/bytes.ts';
export * from '../crypto/rng.ts';
export * from '../crypto/suite.ts';
export * from '../crypto/ksf.ts';
export * from '../crypto/canonical.ts';
export * from '../crypto/opaque-client.ts';
export * from '../crypto/opaque-server.ts';
export * from '../crypto/opaque-messages.ts';
export * from '../crypto/opaque-envelope.ts';
export * from '../crypto/noise.ts';
export * from '../crypto/aead.ts';
