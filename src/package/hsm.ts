/**
 * `bkv/hsm`: the HSM boundary (spec ch. 4): the `Hsm` interface and the in-memory backend (SoftHSM is `bkv/softhsm`).
 * @module
 */
export * from '../hsm/hsm.ts';
export * from '../hsm/memory.ts';
