/**
 * `bkv/sim`: the seeded simulator of a fleet (spec ch. 6 §6.8): network, hosts and their faults,
 * the safety monitor, scripted clients and the scenario runner.
 * @module
 */
export * from '../sim/fleet.ts';
export * from '../sim/relay.ts';
export * from '../sim/scenario.ts';
export * from '../sim/client.ts';
