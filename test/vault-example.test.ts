/**
 * The single-replica vault, a worked example end to end (spec ch. 5), on both HSM backends:
 * register K under a password, encrypt a backup with K, wrong passwords report the tries that
 * remain, the right one recovers K (which decrypts the backup) and resets the attempts, then the
 * budget is spent and K is gone: the record is Exhausted, its OPAQUE record and sealed payload
 * erased, and even the right password gets Locked.
 *
 * Also measured here, outside any assertion: the time of one recovery (KE1 to released K) on each
 * backend, printed for the report (the benchmark proper is bench/suites/vault.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toHex, utf8 } from '../src/crypto/bytes.ts';
import {
  backupKeyFromDigits,
  backupKeyToDigits,
  decryptBackup,
  encryptBackup,
  generateBackupKey,
} from '../src/client/client.ts';
import { encodeVaultState } from '../src/vault/records.ts';
import { ALICE, BACKENDS, type Backend, codeOf, VaultWorld } from './support/vault-world.ts';

const PASSWORD = utf8('correct horse battery staple');

describe.each(BACKENDS)('worked example: $name', ({ make }) => {
  let backend: Backend;
  let world: VaultWorld;
  beforeAll(() => {
    backend = make();
    world = new VaultWorld({ backend, token: 'bkv-3', seed: `vault-example ${backend.name}` });
  });
  afterAll(() => {
    world.dispose();
    backend.teardown();
  });

  test('register, encrypt, wrong passwords, recover, exhaust: K is gone', async () => {
    const { client } = world;
    const K = generateBackupKey(world.rng);
    expect(backupKeyFromDigits(backupKeyToDigits(K))).toEqual(K);
    expect(backupKeyToDigits(K)).toMatch(/^[0-9a-f]{64}$/);

    expect(await client.register(ALICE, PASSWORD, K)).toEqual({ ok: true, value: true });
    const registered = world.record()!;
    expect(registered).toMatchObject({ status: 'Registered', guessLimit: 10, attemptsUsed: 0, pending: {} });
    const backup = utf8('chat history: "see you at 8"');
    const encrypted = encryptBackup(K, backup, world.rng);

    // three wrong passwords: each spends a guess, the client learns what remains
    for (const [i, wrong] of ['123456', 'password', 'correct horse'].entries()) {
      expect(await client.recover(ALICE, utf8(wrong))).toEqual({
        ok: false,
        kind: 'WrongPassword',
        triesRemaining: 9 - i,
      });
      expect(world.record()).toMatchObject({ attemptsUsed: i + 1, pending: {} });
    }

    // the right one: K comes back, decrypts the backup, and the attempts reset (G3)
    const right = await client.recover(ALICE, PASSWORD);
    expect(right.ok).toBe(true);
    if (!right.ok) return;
    expect(toHex(right.value)).toBe(toHex(K));
    expect(decryptBackup(right.value, encrypted)).toEqual(backup);
    expect(world.record()).toMatchObject({ status: 'Registered', attemptsUsed: 0 });

    // another key does not decrypt the backup
    expect(codeOf(() => decryptBackup(generateBackupKey(world.rng), encrypted))).toBe('MalformedMessage');

    // ten wrong passwords spend the budget; the tenth leaves 0 and the record is then Exhausted (G4)
    for (let i = 1; i <= 10; i++) {
      expect(await client.recover(ALICE, utf8(`guess-${i}`))).toEqual({
        ok: false,
        kind: 'WrongPassword',
        triesRemaining: 10 - i,
      });
    }
    const exhausted = world.record()!;
    expect(exhausted).toEqual({
      ...registered,
      status: 'Exhausted',
      registrationRecord: null,
      sealedPayload: null,
      attemptsUsed: 10,
      pending: {},
    });
    expect(encodeVaultState(world.vault.state)).not.toContain(registered.sealedPayload!);
    expect(encodeVaultState(world.vault.state)).not.toContain(registered.registrationRecord!);

    // nothing gets a KE2 again, not even the right password; the state no longer changes
    const before = encodeVaultState(world.vault.state);
    expect(await client.recover(ALICE, utf8('guess-11'))).toEqual({ ok: false, kind: 'Locked' });
    expect(await client.recover(ALICE, PASSWORD)).toEqual({ ok: false, kind: 'Locked' });
    expect(encodeVaultState(world.vault.state)).toBe(before);

    // and it stays so across a restart of the replica (the erasure was sealed to host storage)
    world.restart();
    expect(encodeVaultState(world.vault.state)).toBe(before);
    expect(await client.recover(ALICE, PASSWORD)).toEqual({ ok: false, kind: 'Locked' });

    // re-registration (new password, new K) starts a new budget
    const K2 = generateBackupKey(world.rng);
    expect((await client.register(ALICE, utf8('new password'), K2, 3)).ok).toBe(true);
    expect(world.record()).toMatchObject({
      status: 'Registered',
      guessLimit: 3,
      attemptsUsed: 0,
      generation: registered.generation + 1,
    });
    expect(await client.recover(ALICE, PASSWORD)).toEqual({ ok: false, kind: 'WrongPassword', triesRemaining: 2 });
    const again = await client.recover(ALICE, utf8('new password'));
    expect(again.ok && toHex(again.value)).toBe(toHex(K2));
  });

  test('measure (printed, not asserted): one recovery, KE1 to released K', async () => {
    const K = generateBackupKey(world.rng);
    const id = utf8('timing@example');
    expect((await world.client.register(id, PASSWORD, K)).ok).toBe(true);
    const samples: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      const r = await world.client.recover(id, PASSWORD);
      samples.push(performance.now() - t0);
      expect(r.ok && toHex(r.value)).toBe(toHex(K));
    }
    const warm = samples.slice(2).sort((a, b) => a - b);
    const median = warm[Math.floor(warm.length / 2)]!;
    console.log(
      `[measure] one recovery (KE1 -> released K) on ${backend.name} (${backend.suite.id}): ` +
        `median ${median.toFixed(1)} ms, min ${warm[0]!.toFixed(1)} ms over ${warm.length} runs`,
    );
  });
});
