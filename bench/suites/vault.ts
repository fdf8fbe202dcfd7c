/**
 * Bench suite `vault`: one recovery through the single-replica vault, on each HSM backend.
 *
 *   recovery     BkvClient.recover over directRelay -> SingleReplicaVault (src/vault/setup.ts):
 *                client KE1 (inside Noise NK message 1) -> ConsumeGuess committed -> KE2 ->
 *                KE3 -> Reset committed -> K released, unsealed and checked by the client.
 *   vault side   the same recovery, timing only `vault.deliver` (tinybench `overriddenDuration`):
 *                KE1 to KE2, then KE3 verified and K released, as the HSM application sees it.
 *
 * Backends: MemoryHsm for `ristretto255-SHA512` and `ristretto255-SHA512+Curve25519`; SoftHSM for
 * `ristretto255-SHA512+Curve25519` (PKCS#11 has no ristretto255: spec ch. 2), on a token in a
 * private token directory made for this run and removed afterwards (src/hsm/private-tokens.ts).
 *
 * After the measured runs, `afterRun` profiles the vault side: the time per `Hsm` method (a
 * timing wrapper on a second vault with its own key labels), which says what bounds the figure.
 * @module
 */
import { type Bytes, type Rng, utf8 } from '../../src/crypto/bytes.ts';
import { getSuite, type SuiteId } from '../../src/crypto/suite.ts';
import { BkvClient, generateBackupKey } from '../../src/client/client.ts';
import { directRelay } from '../../src/client/relay.ts';
import type { Hsm } from '../../src/hsm/hsm.ts';
import { MemoryHsm } from '../../src/hsm/memory.ts';
import type { PrivateTokens } from '../../src/hsm/private-tokens.ts';
import { keyLabels } from '../../src/vault/keys.ts';
import type { Frame } from '../../src/vault/protocol.ts';
import { createSingleReplicaVault } from '../../src/vault/setup.ts';
import type { HostStorage } from '../../src/vault/storage.ts';
import { type BenchSuite, type BenchTask, check, equalBytes, keepSoftHsmConf } from '../harness.ts';

const PASSWORD = utf8('correct horse battery staple');
const CREDENTIAL_ID = utf8('alice@example');
const SOFTHSM_TOKEN = 'bkv-bench';

/** A host that keeps only the latest sealed blob (MemoryHostStorage keeps them all, for tests). */
class LatestBlobStorage implements HostStorage {
  #blob: Bytes | null = null;
  load = () => this.#blob;
  save = (blob: Bytes) => void (this.#blob = blob.slice());
}

/** A vault on `hsm` with one registered credential, and a client that recovers it. */
export async function registeredVault(hsm: Hsm, suiteId: SuiteId, rng: Rng, labelPrefix = 'bench') {
  let now = 0;
  const { vault, client: ctx } = createSingleReplicaVault(hsm, rng, () => now, {
    suite: getSuite(suiteId),
    labels: keyLabels(labelPrefix),
    storage: new LatestBlobStorage(),
  });
  let vaultMs = 0;
  const relay = directRelay((frame: Frame) => {
    const t0 = performance.now();
    const out = vault.deliver(frame);
    vaultMs += performance.now() - t0;
    return out;
  });
  const client = new BkvClient(ctx, relay, rng);
  const K = generateBackupKey(rng);
  const reg = await client.register(CREDENTIAL_ID, PASSWORD, K);
  check(reg.ok, `${hsm.backend} ${suiteId}: registration failed`);
  relay.log.length = 0;
  /** One recovery; checks K; returns the ms spent inside the vault. */
  const recover = async (): Promise<number> => {
    now += 1;
    vaultMs = 0;
    const r = await client.recover(CREDENTIAL_ID, PASSWORD);
    relay.log.length = 0;
    check(
      r.ok && equalBytes(r.value, K),
      `${hsm.backend} ${suiteId}: recovery did not release K (${JSON.stringify(r)})`,
    );
    return vaultMs;
  };
  return { recover };
}

function recoveryTasks(backend: string, suiteId: SuiteId, recover: () => Promise<number>): BenchTask[] {
  const id = `vault/${backend}/${suiteId}`;
  return [
    {
      id: `${id}/recovery`,
      name: `vault ${backend} ${suiteId}: whole recovery (client + vault)`,
      fn: recover,
      note: 'client KE1 -> released K, Noise NK channel, two commits (sealed state + HSM anchor)',
    },
    {
      id: `${id}/vault-side`,
      name: `vault ${backend} ${suiteId}: vault side (KE1 -> KE2, KE3 -> K)`,
      fn: async () => ({ overriddenDuration: await recover() }),
      note: 'only SingleReplicaVault.deliver: Noise responder, two commits, KE2, KE3 check, release',
    },
  ];
}

/** Wraps every method of `hsm` with a timer: time and calls per method. */
export function timingHsm(hsm: Hsm): { hsm: Hsm; spent: Map<string, { calls: number; ms: number }> } {
  const spent = new Map<string, { calls: number; ms: number }>();
  const wrapped = new Proxy(hsm, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          const e = spent.get(String(prop)) ?? { calls: 0, ms: 0 };
          e.calls += 1;
          e.ms += performance.now() - t0;
          spent.set(String(prop), e);
        }
      };
    },
  });
  return { hsm: wrapped, spent };
}

/** Where the vault side of a recovery spends its time: per Hsm method, per recovery. */
async function profileVaultSide(hsm: Hsm, suiteId: SuiteId, rng: Rng, runs: number) {
  const t = timingHsm(hsm);
  const v = await registeredVault(t.hsm, suiteId, rng, 'profile');
  await v.recover(); // warm
  t.spent.clear();
  let vaultMs = 0;
  for (let i = 0; i < runs; i++) vaultMs += await v.recover();
  const hsmCalls = Object.fromEntries(
    [...t.spent].map(([k, e]) => [k, { callsPerRecovery: e.calls / runs, msPerRecovery: e.ms / runs }]),
  );
  const hsmMs = [...t.spent.values()].reduce((a, e) => a + e.ms, 0) / runs;
  return { runs, vaultSideMs: vaultMs / runs, hsmMs, hostMs: vaultMs / runs - hsmMs, hsmCalls };
}

export const vaultSuite: BenchSuite = {
  id: 'vault',
  title: 'the vault on each HSM backend (single replica)',
  async open(ctx) {
    const rng = ctx.rngFor('vault');
    const memory: { suiteId: SuiteId; hsm: Hsm }[] = (
      ['ristretto255-SHA512', 'ristretto255-SHA512+Curve25519'] as const
    ).map((suiteId) => ({
      suiteId,
      hsm: MemoryHsm.create(`bench-${suiteId}`, rng),
    }));
    const tasks: BenchTask[] = [];
    for (const m of memory)
      tasks.push(...recoveryTasks('memory', m.suiteId, (await registeredVault(m.hsm, m.suiteId, rng)).recover));

    // SoftHSM: a private token directory for this run; SOFTHSM2_CONF is restored on dispose.
    // Without SoftHSM2 on the machine the bench goes on without it and says why (the tests do not).
    const suiteId: SuiteId = 'ristretto255-SHA512+Curve25519';
    const restoreConf = keepSoftHsmConf();
    let tokens: PrivateTokens | undefined;
    let softhsm: Hsm | undefined;
    const skipped: Record<string, string> = {};
    const dispose = () => {
      softhsm?.close();
      tokens?.dispose();
      restoreConf();
    };
    try {
      const { createPrivateTokens } = await import('../../src/hsm/private-tokens.ts'); // loads the PKCS#11 addon
      tokens = createPrivateTokens([SOFTHSM_TOKEN]);
      ctx.log(`vault: SoftHSM private token directory ${tokens.dir}`);
      softhsm = tokens.open(SOFTHSM_TOKEN);
      tasks.push(...recoveryTasks('softhsm', suiteId, (await registeredVault(softhsm, suiteId, rng)).recover));
    } catch (e) {
      // no SoftHSM2 here (the message names the install command), or no PKCS#11 addon
      dispose();
      tokens = softhsm = undefined;
      skipped.softhsm = (e as Error).message;
      ctx.log(`vault: SoftHSM skipped: ${skipped.softhsm}`);
    }
    const sh = softhsm;
    return {
      tasks,
      info: { backends: { memory: memory.map((m) => m.suiteId), softhsm: sh ? [suiteId] : [] }, skipped },
      afterRun: async (runs = 20) => ({
        profile: {
          [`memory/ristretto255-SHA512`]: await profileVaultSide(
            MemoryHsm.create('profile-r', rng),
            'ristretto255-SHA512',
            rng,
            runs,
          ),
          [`memory/ristretto255-SHA512+Curve25519`]: await profileVaultSide(
            MemoryHsm.create('profile-c', rng),
            'ristretto255-SHA512+Curve25519',
            rng,
            runs,
          ),
          ...(sh && { [`softhsm/ristretto255-SHA512+Curve25519`]: await profileVaultSide(sh, suiteId, rng, runs) }),
        },
      }),
      dispose,
    };
  },
};
