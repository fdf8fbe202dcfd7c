/**
 * bkv's own adapters for the conformance protocol (adapter-protocol.ts): `npx bkv adapter vault`
 * serves a single-replica bkv vault, `npx bkv adapter client` a bkv client. `npx bkv conform`
 * run against them is the reference run that any other implementation is compared with.
 * @module
 */
import { fromHex } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { BkvClient, type Relay } from '../client/client.ts';
import { MemoryHsm, MemoryToken } from '../hsm/memory.ts';
import { importVaultKeys } from '../vault/imported-keys.ts';
import { type Command, type VaultState, applyCommand } from '../vault/records.ts';
import { SingleReplicaVault } from '../vault/single.ts';
import { pinnedContext, vaultConfig } from '../vault/setup.ts';
import { MemoryHostStorage } from '../vault/storage.ts';
import { describeOutcome } from '../vectors/records.ts';
import { fromWire, toWire, type WireFrame, wireResult } from './adapter-protocol.ts';
import { serveLines } from './lines.ts';

/**
 * Deliberately broken variants, for showing that `bkv conform` catches a wrong vault:
 * `forget-on-restart` loses the host storage at restart (an acknowledged registration is lost);
 * `no-guess-limit` answers `apply` as if ConsumeGuess were never refused.
 */
export type VaultAdapterMutant = 'forget-on-restart' | 'no-guess-limit';

export async function serveVaultAdapter(mutant?: VaultAdapterMutant): Promise<void> {
  let vault: SingleReplicaVault | null = null;
  let reopen: (() => SingleReplicaVault) | null = null;
  let now = 0;
  await serveLines(async (m) => {
    switch (m.op) {
      case 'init': {
        const suite = getSuite(m.suite as SuiteId);
        const config = { ...vaultConfig({ suite, sessionTtlMs: m.sessionTtlMs }) };
        const token = new MemoryToken('conform');
        const rng = seededRng('bkv vault adapter');
        const hsm = new MemoryHsm(token, rng);
        const publicKeys = importVaultKeys(hsm, config, m.keys);
        const storage = new MemoryHostStorage();
        reopen = () => {
          if (mutant === 'forget-on-restart') {
            storage.rollback(storage.history.length);
            for (const k of ['bkv/seal']) (hsm.deleteKey(k), hsm.generateKey(k, 'aes256gcm'));
          }
          return SingleReplicaVault.open({ hsm: new MemoryHsm(token, rng), config, storage, rng, clock: () => now });
        };
        vault = reopen();
        return { ok: true, ...publicKeys };
      }
      case 'frame':
        now = m.now;
        return { ok: true, frames: vault!.deliver(fromWire(m.frame as WireFrame)).map(toWire) };
      case 'expire':
        now = m.now;
        return { ok: true, frames: vault!.expireSessions().map(toWire) };
      case 'restart':
        vault = reopen!();
        return { ok: true };
      case 'apply': {
        const command = m.command as Command;
        const r = applyCommand(
          m.pre as VaultState,
          mutant === 'no-guess-limit' && command.type === 'ConsumeGuess' ? { ...command } : command,
        );
        if (mutant === 'no-guess-limit' && !r.outcome.ok && r.outcome.code === 'GuessLimitExceeded')
          return { ok: true, outcome: { valid: true }, post: m.pre };
        return { ok: true, outcome: describeOutcome(r.outcome), post: r.state };
      }
      default:
        return { ok: false, error: `unknown op ${String(m.op)}` };
    }
  });
}

export async function serveClientAdapter(): Promise<void> {
  let client: BkvClient | null = null;
  await serveLines(async (m, write, read) => {
    // the relay asks bkv (the vault side) to carry each frame
    const relay: Relay = {
      async exchange(frame) {
        write({ send: toWire(frame) });
        const answer = await read();
        return answer?.frame ? fromWire(answer.frame as WireFrame) : null;
      },
      async post(frame) {
        await relay.exchange(frame);
      },
    };
    switch (m.op) {
      case 'init': {
        const ctx = pinnedContext(vaultConfig({ suite: getSuite(m.suite as SuiteId) }), {
          channelKey: fromHex(m.channelPublicKey),
          opaqueServerKey: fromHex(m.opaqueServerPublicKey),
        });
        client = new BkvClient(ctx, relay, seededRng(String(m.seed)));
        return { ok: true };
      }
      case 'register':
        return {
          ok: true,
          result: wireResult(
            await client!.register(fromHex(m.credentialId), fromHex(m.password), fromHex(m.key), m.guessLimit),
          ),
        };
      case 'recover':
        return { ok: true, result: wireResult(await client!.recover(fromHex(m.credentialId), fromHex(m.password))) };
      default:
        return { ok: false, error: `unknown op ${String(m.op)}` };
    }
  });
}
