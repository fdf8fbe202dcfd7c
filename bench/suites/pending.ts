/**
 * The bench suites issue 9 asks for whose subject is not in `src/` yet: each names what it will
 * measure and what it needs, and is written to results.json as `pending`, so a run says plainly
 * what it did not measure. When the module lands, its suite goes in `bench/suites/` beside the
 * others (a `BenchSuite`, added to `SUITES` in bench/run.ts) and leaves this list.
 * @module
 */

export interface PendingSuite {
  readonly id: string;
  readonly measures: string;
  readonly needs: string;
  readonly target?: string;
}

export const PENDING_SUITES: readonly PendingSuite[] = [
  {
    id: 'replicated',
    measures: 'recoveries per second with 1, 3 and 5 replicas (with and without batching); message delays per committed guess',
    needs: 'src/replication exporting a fleet the bench can drive: N replicas over the simulated network, a relay to the leader, a way to run the network to quiescence',
    target: 'five replicas with batching keep at least 80% of one replica\'s recoveries per second',
  },
  {
    id: 'checkers',
    measures: 'scenario steps per second of the seeded simulator the property tests run; history check time (src/check) per operation',
    needs: 'the scenario simulator over src/replication (histories recorded from real runs)',
  },
  {
    id: 'explorer',
    measures: 'explored states per second of `bkv explore` on the small configurations',
    needs: 'the exhaustive explorer over the XState model (model/)',
  },
  {
    id: 'bundles',
    measures: 'validation bundle verification (two signatures, digest, roles, epoch), with and without a log inclusion proof',
    needs: 'src/fleet bundle and witness log (the Merkle proofs alone are in the crypto suite)',
  },
];
