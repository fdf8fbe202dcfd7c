/**
 * The fleets scenarios run on (spec ch. 13): memory HSMs, deployed once per fleet size by the
 * ceremony of ch. 7 and cloned for every scenario (a clone is a fresh fleet with the same keys),
 * or SoftHSM tokens in a private token directory (src/hsm/private-tokens.ts), a fresh set of
 * tokens per scenario, deployed by the same ceremony.
 * @module
 */
import { seededRng } from '../crypto/rng.ts';
import { getSuite } from '../crypto/suite.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { MemoryHsm, MemoryToken } from '../hsm/memory.ts';
import { deployReplicatedFleet, replicationLabels } from '../replication/provision.ts';
import type { ScenarioEnv } from '../sim/scenario.ts';
import { vaultConfig } from '../vault/setup.ts';

export type Backend = 'memory' | 'softhsm';

export interface FleetFactory extends Pick<ScenarioEnv, 'hsms' | 'labels' | 'config'> {
  readonly backend: Backend;
  /** Closes the HSMs and removes any token directory. */
  dispose(): void;
}

/** Memory fleets: provisioned once per size, cloned for each scenario. */
export function memoryFleets(prefix = 'bkv-check'): FleetFactory {
  const suite = getSuite('ristretto255-SHA512');
  const labels = replicationLabels(prefix);
  const config = vaultConfig({ suite, labels, sessionTtlMs: 3000 });
  const rng = seededRng(`${prefix} fleet keys`);
  const base = new Map<number, MemoryToken[]>();
  const hsms = (n: number): Hsm[] => {
    let tokens = base.get(n);
    if (!tokens) {
      tokens = Array.from({ length: n }, (_, i) => new MemoryToken(`replica-${i}`));
      deployReplicatedFleet(
        tokens.map((t) => new MemoryHsm(t, rng)),
        suite,
        prefix,
        rng,
      );
      base.set(n, tokens);
    }
    return tokens.map((t) => new MemoryHsm(t.clone(), rng));
  };
  return { backend: 'memory', hsms, labels, config, dispose: () => {} };
}

/**
 * SoftHSM fleets: `capacity` tokens are created up front in a private token directory (SoftHSM
 * reads its configuration once per process); each scenario takes n fresh ones and runs the
 * deployment ceremony on them. The suite is the one the SoftHSM backend supports for the channel.
 */
export async function softHsmFleets(capacity: number, prefix = 'bkv-check'): Promise<FleetFactory> {
  const { createPrivateTokens } = await import('../hsm/private-tokens.ts');
  const suite = getSuite('ristretto255-SHA512+Curve25519');
  const labels = replicationLabels(prefix);
  const config = vaultConfig({ suite, labels, sessionTtlMs: 3000 });
  const names = Array.from({ length: capacity }, (_, i) => `${prefix}-${i}`);
  const tokens = createPrivateTokens(names);
  const opened: Hsm[] = [];
  let next = 0;
  const rng = seededRng(`${prefix} softhsm fleet keys`);
  const hsms = (n: number): Hsm[] => {
    if (next + n > names.length)
      throw new RangeError(`softhsm: ${capacity} tokens are used up (a scenario needs ${n} more)`);
    const fleet = names.slice(next, next + n).map((t) => tokens.open(t));
    next += n;
    opened.push(...fleet);
    deployReplicatedFleet(fleet, suite, prefix, rng);
    return fleet;
  };
  return {
    backend: 'softhsm',
    hsms,
    labels,
    config,
    dispose() {
      for (const h of opened) h.close();
      tokens.dispose();
    },
  };
}
