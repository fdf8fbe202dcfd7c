/**
 * `bkv/softhsm`: the SoftHSM2 backend over PKCS#11 (spec ch. 4) and private token directories; it
 * loads graphene-pk11 and its native addon (built at install time), which the other entries never do.
 * @module
 */
export * from '../hsm/softhsm.ts';
export * from '../hsm/private-tokens.ts';
