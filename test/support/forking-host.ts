/**
 * Replica r0 of a memory fleet of 3 whose host is compromised (the storage-fork tests): its storage
 * keeps every blob it was ever given (present any of them at a restart), and its host can kill it
 * right after any durable write (`crash.arm(k)`). The other replicas are played by the test.
 */
import { seededRng } from '../../src/crypto/rng.ts';
import { type Hosted, type HostIo, type ReplicaRules, stepHosted } from '../../src/replication/host.ts';
import type { RaftMessage } from '../../src/replication/raft.ts';
import { memoryFleets } from '../../src/scenarios/fleets.ts';
import { CrashPoint } from '../../src/sim/crash.ts';
import type { Command } from '../../src/vault/records.ts';
import { MemoryHostStorage } from '../../src/vault/storage.ts';

export function forkingHost(fleetSeed: string, rngSeed: string) {
  const fleet = memoryFleets(fleetSeed);
  const hsms = fleet.hsms(3);
  const storage = new MemoryHostStorage();
  const crash = new CrashPoint(0);
  const rng = seededRng(rngSeed);
  const io: HostIo = {
    hsm: crash.hsm(hsms[0]!),
    storage: crash.storage(storage),
    sealLabel: fleet.labels.seal,
    rng,
    sealRng: rng,
  };
  const config = { id: 0, n: 3, maxBatch: 16 };
  /** r0, under `rules`, handles peer message `m` from replica `from`. */
  const deliver = (rules: ReplicaRules, hosted: Hosted, m: RaftMessage<Command>, from: number) =>
    stepHosted(rules, io, hosted, (steps, s, env) => steps.handlePeerMessage(s, from, m, env), 0, fleet.config);
  return { fleet, storage, crash, io, config, deliver };
}
