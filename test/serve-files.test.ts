/**
 * A replica process's files (spec 15.3), without processes: the memory token survives a reopen
 * (keys and counters, every change written before the call returns), a damaged token file is
 * refused, the sealed state written by the persistence rule loads again from its file, and the
 * wire's decoders refuse what is not a frame or an envelope.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { seededRng } from '../src/crypto/rng.ts';
import { isVaultError } from '../src/errors.ts';
import { MemoryToken, restoreToken, serializeToken } from '../src/hsm/memory.ts';
import { loadDurable, persistDurable } from '../src/replication/durable.ts';
import { EMPTY_DURABLE } from '../src/replication/raft.ts';
import { FileHostStorage, fileMemoryHsm, saveToken } from '../src/serve/files.ts';
import { decodeEnvelope, decodeFrame, encodeFrame } from '../src/serve/wire.ts';

const tmp = mkdtempSync(join(tmpdir(), 'bkv-serve-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test('the memory token file: keys and counters survive a reopen; a damaged file is SealBroken', () => {
  const path = join(tmp, 'token.json');
  saveToken(path, new MemoryToken('r0'));
  const rng = seededRng('files');
  const a = fileMemoryHsm(path, rng);
  const pub = a.generateKey('k', 'x25519').publicKey;
  a.generateKey('s', 'aes256gcm');
  // a fleet secret's export policy is part of the token: a reopen must not lift it
  const transport = a.generateKey('t', 'x25519').publicKey!;
  a.generateKey('w', 'x25519', { wrappable: true, wrapTo: [transport] });
  a.advanceCounter('anchor', 7n);
  const sealed = a.seal('s', new Uint8Array([1, 2, 3]), new Uint8Array(0), rng(12));
  // no close: a kill -9 leaves what the last call wrote
  const b = fileMemoryHsm(path, rng);
  expect(b.keyInfo('k').publicKey).toEqual(pub);
  expect(b.readCounter('anchor')).toBe(7n);
  expect(b.keyInfo('w')).toMatchObject({ wrapTo: [transport], wrapCount: 0, imported: false });
  expect(b.unseal('s', sealed, new Uint8Array(0))).toEqual(new Uint8Array([1, 2, 3]));
  expect(() => b.advanceCounter('anchor', 6n)).toThrow(/refusing to move back/);
  expect(serializeToken(restoreToken(serializeToken(new MemoryToken('x'))))).toBe(serializeToken(new MemoryToken('x')));
  writeFileSync(path, '{"label": "r0", "keys": [');
  let code = '';
  try {
    fileMemoryHsm(path, rng);
  } catch (e) {
    code = isVaultError(e) ? e.code : String(e);
  }
  expect(code).toBe('SealBroken');
});

test('the sealed state in a file: persisted, then loaded by a new incarnation', () => {
  const tokenPath = join(tmp, 'token2.json');
  saveToken(tokenPath, new MemoryToken('r1'));
  const rng = seededRng('sealed');
  const hsm = fileMemoryHsm(tokenPath, rng);
  hsm.generateKey('seal', 'aes256gcm');
  const store = { hsm, sealLabel: 'seal', storage: new FileHostStorage(join(tmp, 'state.sealed')) };
  const first = loadDurable(store, rng);
  expect(first.rolledBack).toBe(false);
  const durable = { ...EMPTY_DURABLE, currentTerm: 3, votedFor: 1 };
  persistDurable(store, first.version, durable, rng);
  const again = loadDurable({ ...store, hsm: fileMemoryHsm(tokenPath, rng) }, rng);
  expect(again.rolledBack).toBe(false);
  expect(again.durable).toMatchObject({ currentTerm: 3, votedFor: 1 });
  expect(again.version).toBeGreaterThan(first.version);
});

test('the wire refuses what is not a frame or an envelope (MalformedMessage)', () => {
  const frame = { channel: 'ab01', kind: 'Handshake1' as const, bytes: new Uint8Array([9, 8]) };
  expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  for (const bad of [
    '',
    'null',
    '[]',
    '{"channel":"AB","kind":"Handshake1","bytes":""}',
    '{"channel":"ab","kind":"X","bytes":""}',
    '{"channel":"ab","kind":"Transport","bytes":"***"}',
  ]) {
    expect(() => decodeFrame(bad), bad).toThrow(expect.objectContaining({ code: 'MalformedMessage' }));
  }
  expect(() => decodeEnvelope('{"from":"a","to":1,"body":"","mac":""}')).toThrow(
    expect.objectContaining({ code: 'MalformedMessage' }),
  );
});
