/**
 * A replica process's files (spec 15.3), without processes: the memory token survives a reopen
 * (keys and counters, every change written before the call returns), a damaged token file is
 * refused, the sealed state written by the persistence rule loads again from its file, and the
 * wire's decoders refuse what is not a frame or an envelope. The sealed chain in one file
 * (`FileChainStorage`): MemoryChainStorage's semantics, every crash point of a save, what a host may
 * do with the records refused (through durable.ts), and the chaos nemesis's accounting of its own
 * tamperings checked against the loader; the broken variants beside the checks that catch them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { Rng } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { isVaultError } from '../src/errors.ts';
import { MemoryHsm, MemoryToken, restoreToken, serializeToken } from '../src/hsm/memory.ts';
import { hsmView } from '../src/hsm/hsm.ts';
import { SEALED_PERSISTENCE, loadDurable, persistDurable } from '../src/replication/durable.ts';
import { type Durable, EMPTY_DURABLE, type Entry } from '../src/replication/raft.ts';
import { FileChainStorage, chainRecord, parseChain } from '../src/serve/chain-file.ts';
import { type Tampering, rollBackChain, tearChain } from '../src/serve/chaos-host.ts';
import { fileMemoryHsm, saveToken } from '../src/serve/files.ts';
import { MemoryChainStorage } from '../src/vault/storage.ts';
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
  const store = { hsm, sealLabel: 'seal', storage: new FileChainStorage(join(tmp, 'state.chain')) };
  const first = loadDurable(store, rng);
  expect(first.rolledBack).toBe(false);
  const durable = { ...EMPTY_DURABLE, currentTerm: 3, votedFor: 1 };
  persistDurable(store, first.version, durable, rng, first.durable);
  expect(store.storage.appends).toBe(1); // the start's reseal was the base, this a segment
  const again = loadDurable({ ...store, hsm: fileMemoryHsm(tokenPath, rng) }, rng);
  expect(again.rolledBack).toBe(false);
  expect(again.durable).toMatchObject({ currentTerm: 3, votedFor: 1 });
  expect(again.version).toBeGreaterThan(first.version);
});

describe('FileChainStorage (chain-file.ts): the chain of spec 6.6.1 in one file', () => {
  let made = 0;
  const entries = (n: number): Entry<string>[] => Array.from({ length: n }, (_, i) => ({ term: 1, command: `c${i}` }));

  /** A replica's persistence over a chain file: a start (load + reseal), then saves, each after the one before. */
  function world(make: (path: string) => FileChainStorage = (path) => new FileChainStorage(path)) {
    const rng = seededRng(`chain ${++made}`);
    const hsm = MemoryHsm.create('d', rng);
    hsm.generateKey('seal', 'aes256gcm');
    const path = join(tmp, `chain-${made}`);
    const s = { hsm, sealLabel: 'seal', storage: make(path) };
    let prev: Durable<string> | undefined;
    let version = 0n;
    const w = {
      s,
      path,
      /** A start on the file as it is, through a new storage object (a new process). */
      start: () => {
        w.s = { ...s, storage: make(path) };
        const loaded = SEALED_PERSISTENCE.load<string>(w.s, rng);
        prev = loaded.durable;
        version = loaded.version;
        return loaded;
      },
      /**
       * A save of `d` after the last one (a segment; `base`: a base, as a snapshot's); `crash`: the
       * process dies after the host write, before the anchor moves.
       */
      save: (d: Durable<string>, o: { crash?: boolean; base?: boolean } = {}) => {
        const store = o.crash ? { ...w.s, hsm: hsmView(hsm, { advanceCounter: () => {} }) } : w.s;
        const next = SEALED_PERSISTENCE.persist(store, version, d, rng, o.base ? undefined : prev);
        if (!o.crash) [prev, version] = [d, next];
      },
      records: () => parseChain(new Uint8Array(readFileSync(path))).records,
    };
    return w;
  }
  const state = (n: number, term = 1): Durable<string> => ({
    currentTerm: term,
    votedFor: 0,
    log: entries(n),
    recovering: false,
  });

  /** A start, then three saves: a base (the reseal) and segments 1.2, 1.3, 1.4 in the file. */
  function threeSaves() {
    const w = world();
    w.start();
    for (const n of [1, 2, 3]) w.save(state(n));
    return w;
  }

  test('reads back what MemoryChainStorage would: the chain, its head, a new base replacing it', () => {
    const file = new FileChainStorage(join(tmp, 'same'));
    const memory = new MemoryChainStorage();
    const blob = (k: number) => new Uint8Array([k, k + 1, k + 2].slice(0, 1 + (k % 3)));
    const same = () => {
      expect(file.loadChain()).toEqual(memory.loadChain());
      expect(file.load()).toEqual(memory.load());
      expect(new FileChainStorage(file.path).loadChain()).toEqual(memory.loadChain()); // a new process
    };
    same(); // none: [] and null
    const ops = ['append', 'save', 'append', 'append', 'save', 'append'] as const; // first: a segment, no base
    for (const [k, op] of ops.entries()) {
      file[op](blob(k));
      memory[op](blob(k));
      same();
    }
    expect(file.loadChain()).toHaveLength(2); // the second base replaced the first chain
    expect(file.bytesWritten).toBe(ops.reduce((a, _, k) => a + 4 + blob(k).length, 0));
  });

  test('a restart reads the chain back; a segment does not grow with the log', () => {
    const w = world();
    w.start();
    w.save(state(1000));
    const before = w.s.storage.bytesWritten;
    w.save(state(1001));
    const segment = w.s.storage.bytesWritten - before;
    expect(segment).toBeLessThan(200);
    expect(w.records()).toHaveLength(3); // the start's base, then two segments
    const loaded = w.start();
    expect(loaded).toMatchObject({ rolledBack: false, durable: state(1001) });
    expect(w.records()).toHaveLength(1); // the new life's base (the reseal) replaced the chain
  });

  /**
   * Three saves, a fourth cut by a kill before its anchor moved, the file cut `cut` bytes into that
   * record (negative: from its end; 0: whole), then a start.
   */
  function tornAppend(cut: number, make?: (path: string) => FileChainStorage) {
    const w = world(make);
    w.start();
    for (const n of [1, 2, 3]) w.save(state(n));
    const whole = readFileSync(w.path).length;
    w.save(state(4), { crash: true });
    const torn = readFileSync(w.path);
    writeFileSync(w.path, torn.subarray(0, cut > 0 ? whole + cut : torn.length + cut));
    return w.start();
  }

  test('a crash inside an append: the unfinished record is left out, the chain before it taken', () => {
    for (const cut of [1, 4, 5, -1]) {
      expect(tornAppend(cut), `cut ${cut}`).toMatchObject({ rolledBack: false, durable: state(3) });
    }
    // whole: the orphan, taken as an orphan blob is (spec 6.6)
    expect(tornAppend(0)).toMatchObject({ rolledBack: false, durable: state(4) });
  });

  test('the check catches a loader that reads an unfinished record: an innocent crash comes back recovering', () => {
    class KeepsTheTail extends FileChainStorage {
      override loadChain(): readonly Uint8Array[] {
        const records = super.loadChain();
        if (!existsSync(this.path)) return records;
        const bytes = new Uint8Array(readFileSync(this.path));
        const { end } = parseChain(bytes);
        return end < bytes.length ? [...records, bytes.subarray(end + 4)] : records;
      }
    }
    expect(tornAppend(-1, (path) => new KeepsTheTail(path))).toMatchObject({ rolledBack: true });
  });

  test('an append after an unfinished record writes over it', () => {
    const path = join(tmp, 'tail');
    const cut = chainRecord(new Uint8Array(9)).subarray(0, 6); // a record cut by a crash
    writeFileSync(path, Buffer.concat([chainRecord(new Uint8Array([1, 2])), cut]));
    const storage = new FileChainStorage(path);
    expect(storage.loadChain()).toEqual([new Uint8Array([1, 2])]);
    storage.append(new Uint8Array([3]));
    expect(readFileSync(path)).toEqual(
      Buffer.concat([chainRecord(new Uint8Array([1, 2])), chainRecord(new Uint8Array([3]))]),
    );
  });

  test('a new base: a crash before the rename leaves the old chain, after it the new base (an orphan, taken)', () => {
    const w = threeSaves();
    writeFileSync(`${w.path}.tmp`, chainRecord(new Uint8Array(40)).subarray(0, 20)); // a torn temporary file
    expect(w.start()).toMatchObject({ rolledBack: false, durable: state(3) });
    w.save(state(5), { base: true, crash: true }); // a base (a snapshot's) renamed into place, not anchored
    expect(w.records()).toHaveLength(1); // the old segments went with the rename
    expect(w.start()).toMatchObject({ rolledBack: false, durable: state(5) });
  });

  /** What a host may do with the records it saw: each is refused, and the replica restarts recovering. */
  type Alter = (now: Uint8Array[], old: Uint8Array[], file: Buffer) => Buffer | null;
  const altered: [string, 'StaleState' | 'SealBroken', Alter][] = [
    ['an older copy of the file', 'StaleState', (_, old) => join2(old)],
    ['the last (anchored) record cut short', 'StaleState', (_, __, f) => f.subarray(0, f.length - 3)],
    ['the file cut inside its base', 'StaleState', (_, __, f) => f.subarray(0, 10)],
    ['the file removed', 'StaleState', () => null],
    ['a segment dropped', 'SealBroken', (n) => join2([n[0]!, n[1]!, n[3]!])],
    ['two segments swapped', 'SealBroken', (n) => join2([n[0]!, n[1]!, n[3]!, n[2]!])],
    ['a segment presented as the base', 'SealBroken', (n) => join2(n.slice(1))],
    ["an older life's base with this life's segments", 'SealBroken', (n, old) => join2([old[0]!, ...n.slice(1)])],
    ['a byte of a segment changed', 'SealBroken', (_, __, f) => flip(f, f.length - 5)],
    ['a byte of a length changed', 'SealBroken', (_, __, f) => flip(f, 3)],
  ];
  function join2(records: readonly Uint8Array[]): Buffer {
    return Buffer.concat(records.map(chainRecord));
  }
  function flip(f: Buffer, at: number): Buffer {
    const g = Buffer.from(f);
    g[at] = g[at]! ^ 0x20;
    return g;
  }
  test.each(altered)('%s: %s, the replica restarts recovering', (_, code, alter) => {
    const w = world();
    w.start();
    w.save(state(1));
    const old = w.records(); // life 1: base 1.1, segment 1.2
    w.start(); // life 2: base 2.1 (the reseal), then segments 2.2, 2.3, 2.4
    for (const n of [2, 3, 4]) w.save(state(n));
    const now = w.records();
    expect(now).toHaveLength(4);
    const bytes = alter(now, old, readFileSync(w.path));
    if (bytes === null) rmSync(w.path);
    else writeFileSync(w.path, bytes);
    const loaded = w.start();
    expect(loaded).toMatchObject({ rolledBack: true, refusal: { code }, durable: { recovering: true, log: [] } });
    expect(loaded.durable.currentTerm).toBe(1); // from the ballot
  });

  // The chaos nemesis's accounting (chaos-host.ts): what it calls altered is refused, what it calls
  // unchanged is taken as it was, and "an orphan at most" is taken exactly when the last save was an
  // orphan. Checked against the loader, over many tamperings, with and without an orphan.
  type Tamper = (path: string, kept: readonly Buffer[], rng: Rng) => Tampering;
  /** Tamperings over many seeds, with and without an orphan: those the loader contradicts, and the kinds seen. */
  function audit(rollBack: Tamper, tear: Tamper) {
    const seen = { altered: 0, unchanged: 0, 'an orphan at most': 0 };
    const wrong: string[] = [];
    for (let k = 0; k < 60; k++) {
      const orphan = k % 4 >= 2;
      const w = world();
      w.start();
      w.save(state(1));
      const kept = [readFileSync(w.path)];
      w.start();
      w.save(state(2));
      kept.push(readFileSync(w.path));
      for (const n of [3, 4]) w.save(state(n));
      if (orphan) w.save(state(5), { crash: true });
      const t = (k % 2 === 0 ? rollBack : tear)(w.path, kept, seededRng(`tamper ${k}`));
      seen[t.change]++;
      const loaded = w.start();
      // altered: refused; unchanged: taken as it was; an orphan at most: taken exactly when the last save was an orphan
      const right =
        t.change === 'altered'
          ? loaded.rolledBack
          : t.change === 'unchanged'
            ? !loaded.rolledBack && loaded.durable.log.length === (orphan ? 5 : 4)
            : loaded.rolledBack === !orphan && (!orphan || loaded.durable.log.length === 4);
      if (!right) wrong.push(`${t.what} [${t.change}], orphan ${orphan}: rolled back ${loaded.rolledBack}`);
    }
    return { seen, wrong };
  }

  // The chaos nemesis's accounting (chaos-host.ts), checked against the loader.
  test("the nemesis's host changes are what it says they are", () => {
    const { seen, wrong } = audit(rollBackChain, tearChain);
    expect(wrong).toEqual([]);
    expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
  });

  test('the check catches a nemesis that calls the chain before an orphan save altered', () => {
    const strict = (f: Tamper): Tamper => (path, kept, rng) => {
      const t = f(path, kept, rng);
      return t.change === 'an orphan at most' ? { ...t, change: 'altered' } : t;
    };
    expect(audit(strict(rollBackChain), strict(tearChain)).wrong).not.toEqual([]);
  });
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
