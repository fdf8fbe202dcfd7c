/**
 * `bkv/fleet`: fleets, deployment evidence, bundles, the witness log and the audit (spec ch. 7, 8).
 * @module
 */
export * from '../fleet/deployment.ts';
export * from '../fleet/audit.ts';
export * from '../fleet/files.ts';
export * from '../fleet/bundle.ts';
export * from '../fleet/fleet-info.ts';
export * from '../fleet/artifact.ts';
export * from '../fleet/evidence.ts';
export * from '../fleet/log.ts';
export * from '../fleet/operator.ts';
