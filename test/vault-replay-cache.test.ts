/**
 * The vault's Handshake1 replay cache (spec ch. 5, "Replays"): a replay within the session TTL is
 * refused with SessionReplayed; the session-expiry event forgets entries older than the TTL, so
 * the cache is bounded by the load of one TTL.
 */
import { expect, test } from 'vitest';
import { utf8 } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import { startRecovery } from '../src/client/session.ts';
import { createSingleReplicaVault } from '../src/vault/setup.ts';

test('a replayed Handshake1 is refused within the TTL, and the cache is emptied by expiry after it', () => {
  const rng = seededRng('replay cache');
  let now = 0;
  const { vault, client, config } = createSingleReplicaVault(MemoryHsm.create('replay', rng), rng, () => now);
  const frames = [0, 1, 2].map(() => startRecovery(client, utf8('alice'), utf8('pw'), rng).frame);
  for (const f of frames) vault.deliver(f);
  expect(vault.node.seenHandshakes.size).toBe(3);
  now += config.sessionTtlMs - 1;
  vault.expireSessions();
  expect(vault.node.seenHandshakes.size).toBe(3);
  const replay = vault.deliver(frames[0]!);
  expect(replay.map((f) => [f.kind, new TextDecoder().decode(f.bytes)])).toEqual([['Alert', 'SessionReplayed']]);
  now += 1;
  vault.expireSessions();
  expect(vault.node.seenHandshakes.size).toBe(0);
});
