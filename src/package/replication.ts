/**
 * `bkv/replication`: the replicated vault's protocol (spec ch. 6): Raft-style consensus, replicas,
 * the persistence rule, and what every runtime does around a step (the host).
 * @module
 */
/** The consensus steps over raw Raft state (a replica's `onElectionTimeout` and `onHeartbeat` are below). */
export * as raft from '../replication/raft.ts';
export * from '../replication/replica.ts';
export * from '../replication/host.ts';
export * from '../replication/durable.ts';
export * from '../replication/provision.ts';
