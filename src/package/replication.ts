/**
 * `bkv/replication`: the replicated vault (spec ch. 6): Raft-style consensus, replicas, the simulated
 * fleet and network.
 * @module
 */
/** The consensus steps over raw Raft state (a replica's `onElectionTimeout` and `onHeartbeat` are below). */
export * as raft from '../replication/raft.ts';
export * from '../replication/replica.ts';
export * from '../replication/fleet.ts';
export * from '../replication/provision.ts';
export * from '../replication/relay.ts';
export * from '../replication/scenario.ts';
