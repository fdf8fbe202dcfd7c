/**
 * Incremental sealed storage (spec ch. 6, "Segments"): a replica's first save of a life is a base
 * (the whole durable state), every later one a segment (the change since the save before), chained
 * by their versions. Shown here: a segment's size does not grow with the log; a restart reads the
 * chain back; a host that drops, reorders or splices segments, or presents a segment as a base, is
 * refused (`SealBroken`) and the replica restarts recovering; a chain rolled back to an earlier
 * head is `StaleState`; an orphan segment ahead of the anchor is taken, as an orphan blob is. The
 * broken variant `unchained-segments` (a loader that does not check the links) takes a spliced
 * chain, and the same test catches it.
 */
import { describe, expect, test } from 'vitest';
import { seededRng } from '../src/crypto/rng.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import type { Bytes } from '../src/crypto/bytes.ts';
import { type Durable, type Entry } from '../src/replication/raft.ts';
import {
  type Persistence,
  SEALED_PERSISTENCE,
  durableDelta,
  applyDelta,
  readAnchor,
} from '../src/replication/durable.ts';
import { UNCHAINED_SEGMENTS } from '../src/broken/persistence.ts';
import { MemoryChainStorage, type Version } from '../src/vault/storage.ts';
import { hsmView } from '../src/hsm/hsm.ts';
import { SimFleet } from '../src/sim/fleet.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import type { Command } from '../src/vault/records.ts';

const LIFE = 1n << 32n;
const entries = (n: number, term = 1): Entry<string>[] =>
  Array.from({ length: n }, (_, i) => ({ term, command: `c${i}` }));

/** A host that presents exactly the chain it is told to (the host's power to drop, reorder, splice). */
class SplicingStorage extends MemoryChainStorage {
  chain: readonly Bytes[] | null = null;
  override loadChain(): readonly Bytes[] {
    return this.chain ?? super.loadChain();
  }
}

function world(persistence: Persistence = SEALED_PERSISTENCE) {
  const rng = seededRng('segments');
  const hsm = MemoryHsm.create('d', rng);
  hsm.generateKey('seal', 'aes256gcm');
  const storage = new SplicingStorage();
  const s = { hsm, sealLabel: 'seal', storage };
  let prev: Durable<string> | undefined;
  return {
    s,
    storage,
    /** A start: reads the chain, then reseals it as the new life's first save (a base). */
    load: () => {
      const loaded = persistence.load<string>(s, rng);
      prev = loaded.durable;
      return loaded;
    },
    /** Persists `d` after the state persisted last (a segment, after a life's first save). */
    persist: (v: Version, d: Durable<string>) => {
      const next = persistence.persist(s, v, d, rng, prev);
      prev = d;
      return next;
    },
  };
}

/** A start's reseal, a base (1.1), and three saves of that life, segments (1.2, 1.3, 1.4). */
function threeSaves(persistence?: Persistence) {
  const w = world(persistence);
  const d1: Durable<string> = { currentTerm: 1, votedFor: 0, log: entries(3), recovering: false };
  const d2: Durable<string> = { ...d1, log: [...d1.log, { term: 1, command: 'x' }] };
  const d3: Durable<string> = { ...d2, currentTerm: 2, votedFor: null, log: [...d2.log, { term: 2, command: 'y' }] };
  w.persist(w.persist(w.persist(w.load().version, d1), d2), d3);
  return { ...w, d1, d2, d3 };
}

describe('sealed segments (durable.ts, storage.ts)', () => {
  test("a save after a life's first writes only the change: its size does not grow with the log", () => {
    const sizes: number[] = [];
    for (const n of [10, 1000]) {
      const w = world();
      const big: Durable<string> = { currentTerm: 1, votedFor: 0, log: entries(n), recovering: false };
      const v = w.persist(w.load().version, big);
      w.persist(v, { ...big, log: [...big.log, { term: 1, command: 'next' }] });
      expect(w.storage.parents).toEqual([-1, 0, 1]); // the start's base, then segments after it
      sizes.push(w.storage.history[2]!.length);
      expect(w.load().durable.log).toHaveLength(n + 1);
    }
    expect(sizes[1]! - sizes[0]!).toBeLessThanOrEqual(4); // the digits of `from`
  });

  test('the delta of a replaced suffix starts where the logs part, and applies back to the state', () => {
    const prev: Durable<string> = { currentTerm: 2, votedFor: 1, log: entries(5), recovering: false };
    const next: Durable<string> = {
      ...prev,
      currentTerm: 3,
      log: [...prev.log.slice(0, 2), { term: 3, command: 'z' }],
    };
    const delta = durableDelta(prev, next);
    expect(delta).toMatchObject({ from: 3, entries: [{ term: 3, command: 'z' }], currentTerm: 3 });
    expect(applyDelta(prev, delta)).toEqual(next);
    expect(prev.log).toHaveLength(5); // not in place: the state before is unchanged
  });

  test('a restart reads the chain back, in a new life whose first save is a base', () => {
    const w = threeSaves();
    expect(w.storage.parents).toEqual([-1, 0, 1, 2]);
    const loaded = w.load();
    expect(loaded).toEqual({ durable: w.d3, version: 2n * LIFE + 1n, rolledBack: false });
    expect(w.storage.parents.at(-1)).toBe(-1); // the reseal
    w.persist(loaded.version, { ...w.d3, votedFor: 2 });
    expect(w.storage.parents.at(-1)).toBe(w.storage.history.length - 2);
    expect(w.load().durable.votedFor).toBe(2);
  });

  const spliced: [string, (h: readonly Bytes[]) => Bytes[]][] = [
    ['a segment dropped', (h) => [h[0]!, h[1]!, h[3]!]],
    ['segments reordered', (h) => [h[0]!, h[1]!, h[3]!, h[2]!]],
    ['a segment presented as a base', (h) => [h[1]!, h[2]!, h[3]!]],
    ['no base', (h) => [h[3]!]],
  ];
  test.each(spliced)('%s: refused (SealBroken), the replica restarts recovering', (_, splice) => {
    const w = threeSaves();
    w.storage.chain = splice(w.storage.history);
    const loaded = w.load();
    expect(loaded).toMatchObject({
      rolledBack: true,
      refusal: { code: 'SealBroken' },
      durable: { recovering: true, log: [] },
    });
    expect(loaded.durable.currentTerm).toBe(2); // term and vote from the ballot
  });

  /** Life 2 reseals a base (2.1) and writes segments (2.2, 2.3); the host splices 2.3 after life 1's chain. */
  function spliceAcrossLives(p: Persistence) {
    const w = threeSaves(p);
    const life2 = w.load().version;
    const v = w.persist(life2, { ...w.d3, votedFor: 1 });
    w.persist(v, { ...w.d3, votedFor: 1, log: [...w.d3.log, { term: 2, command: 'w' }] });
    const h = w.storage.history;
    w.storage.chain = [h[0]!, h[1]!, h[2]!, h[3]!, h[6]!];
    return w.load();
  }

  test('a segment from another chain of the same replica is refused: a version names one blob', () => {
    expect(spliceAcrossLives(SEALED_PERSISTENCE)).toMatchObject({ rolledBack: true, refusal: { code: 'SealBroken' } });
  });

  test('the check catches the broken variant unchained-segments: it wakes up on a spliced chain', () => {
    expect(spliceAcrossLives(UNCHAINED_SEGMENTS)).toMatchObject({ rolledBack: false });
  });

  test('a chain rolled back to an earlier head is StaleState; an orphan segment ahead of the anchor is taken', () => {
    const w = threeSaves();
    w.storage.rollback(1); // the chain up to 1.3, while the anchor is at 1.4
    expect(w.load()).toMatchObject({ rolledBack: true, refusal: { code: 'StaleState' } });

    const o = world();
    const d1: Durable<string> = { currentTerm: 1, votedFor: 0, log: entries(2), recovering: false };
    const v = o.persist(o.load().version, d1);
    // the host kills the replica after writing segment 1.3, before the anchor moves
    const frozen = { ...o.s, hsm: hsmView(o.s.hsm, { advanceCounter: () => {} }) };
    SEALED_PERSISTENCE.persist(frozen, v, { ...d1, log: entries(3) }, seededRng('orphan'), d1);
    expect(readAnchor(o.s)).toBe(v);
    const loaded = o.load(); // takes the orphan 1.3, then reseals it as 2.1
    expect(loaded).toMatchObject({ rolledBack: false, durable: { log: entries(3) } });
    expect(readAnchor(o.s)).toBe(loaded.version);
  });
});

describe('segments in the simulator', () => {
  test(
    'what each replica sealed (its chain) is the durable state it persisted, ' + 'through crashes and a partition',
    () => {
      const fleets = memoryFleets('bkv-segments');
      const hsms = fleets.hsms(3);
      const fleet = new SimFleet({
        hsms,
        labels: fleets.labels,
        config: fleets.config,
        seed: 'segments',
        checks: true,
      });
      const cmd = (k: number): Command => ({
        type: 'EndSession',
        credentialId: '00',
        sessionId: k.toString(16),
        reason: 'expired',
      });
      for (let k = 0; k < 40; k++) fleet.proposeAt(100 + 37 * k, k % 3, k % 5 === 0 ? [cmd(k), cmd(k + 1000)] : cmd(k));
      fleet.schedule(400, { type: 'Crash', replica: 0 });
      fleet.schedule(700, { type: 'Restart', replica: 0 });
      fleet.schedule(900, { type: 'Partition', groups: [[0], [1, 2]] });
      fleet.schedule(1300, { type: 'Heal' });
      fleet.runFor(3000);
      let segments = 0;
      for (let i = 0; i < 3; i++) {
        const storage = fleet.storage(i);
        segments += storage.parents.filter((p) => p >= 0).length;
        const store = { hsm: hsms[i]!, sealLabel: fleets.labels.seal, storage };
        const loaded = SEALED_PERSISTENCE.load<Command>(store, seededRng('reload'));
        expect(loaded.rolledBack).toBe(false);
        expect(loaded.durable).toEqual(fleet.replica(i).sealed);
      }
      expect(segments).toBeGreaterThan(20);
    },
  );
});

// Found by the adversarial review of the segments: a segment must carry `recovering`. A loader that
// dropped it (applyDelta returning `recovering: false`) passed every other test, and a replica
// rolled back, caught up in part and crashed would wake not recovering on a partial log, and vote.
describe('a recovering replica across segments', () => {
  test('rolled back, a first batch of catch-up sealed as a segment, a crash: it wakes recovering', () => {
    const rng = seededRng('recovering segments');
    const hsm = MemoryHsm.create('d', rng);
    hsm.generateKey('seal', 'aes256gcm');
    const storage = new MemoryChainStorage();
    const s = { hsm, sealLabel: 'seal', storage };
    const first = SEALED_PERSISTENCE.load<string>(s, rng);
    const log: Entry<string>[] = [
      { term: 1, command: 'a' },
      { term: 2, command: 'e' },
    ];
    SEALED_PERSISTENCE.persist(
      s,
      first.version,
      { currentTerm: 2, votedFor: 0, log, recovering: false },
      rng,
      first.durable,
    );
    storage.rollback(1); // the host presents the base only: a rollback within the life
    const rolled = SEALED_PERSISTENCE.load<string>(s, rng);
    expect(rolled).toMatchObject({ rolledBack: true, durable: { recovering: true, log: [] } });
    const part: Durable<string> = { ...rolled.durable, log: log.slice(0, 1) };
    SEALED_PERSISTENCE.persist(s, rolled.version, part, rng, rolled.durable);
    expect(storage.parents.at(-1)).toBeGreaterThanOrEqual(0); // sealed as a segment
    const again = SEALED_PERSISTENCE.load<string>(s, rng);
    expect(again).toMatchObject({ rolledBack: false, durable: { recovering: true, log: log.slice(0, 1) } });
  });
});
