/**
 * The persistence rule, explored exhaustively on the real code (src/explore/persistence.ts over
 * durable.ts and storage.ts, spec ch. 6): every interleaving of saves, kills between any two
 * durable writes, and restarts on any blob the host kept, within a bound. The rule holds at the
 * bound; the rule of 6ee2d9d (the broken variant version-reuse) is refuted with a storage fork,
 * and so are the other broken persistences. Deeper: BKV_DEEP=1.
 */
import { describe, expect, test } from 'vitest';
import { TRUST_HOST_STORAGE, VERSION_REUSE, VOTE_NOT_PERSISTED } from '../src/broken/persistence.ts';
import { DEFAULT_PERSISTENCE_BOUND, explorePersistence } from '../src/explore/persistence.ts';
import { SEALED_PERSISTENCE } from '../src/replication/durable.ts';

const bound = process.env.BKV_DEEP ? { steps: 4, crashes: 3 } : DEFAULT_PERSISTENCE_BOUND;

describe('the persistence rule, every state within the bound', () => {
  test(
    `holds: no replica wakes on a state older than an effect that left, ` +
      `without knowing it (${JSON.stringify(bound)})`,
    () => {
      const r = explorePersistence(SEALED_PERSISTENCE, bound);
      console.log(
        `[explore-persistence] ${JSON.stringify(bound)}: ${r.states} states, ${r.transitions} transitions, ` +
          `depth ${r.depth}, ${(r.ms / 1000).toFixed(1)} s, ${Math.round(r.states / (r.ms / 1000))} states/s`,
      );
      expect(r.violation).toBeNull();
      expect(r.states).toBeGreaterThan(1000);
    },
    600_000,
  );

  test("6ee2d9d's rule (version-reuse): a storage fork, with its shortest trace", () => {
    const r = explorePersistence(VERSION_REUSE, bound);
    console.log(
      `[explore-persistence] version-reuse refuted after ${r.states} states:\n  ${r.violation?.trace.join('\n  ')}` +
        `\n  -> ${r.violation?.detail}`,
    );
    expect(r.violation?.detail).toMatch(/without knowing it was rolled back/);
    expect(r.violation?.invariant).toBe('INV-15');
    const trace = r.violation!.trace;
    // an orphan (a save killed after its blob was written), a restart on an older blob, a save
    // numbered like the orphan and acknowledged, then the orphan taken at a restart
    expect(trace.some((a) => a.endsWith('killed after 1 durable write(s)'))).toBe(true);
    expect(trace.at(-1)).toMatch(/^Restart\(blob \d+\)$/);
  }, 600_000);

  test.each([
    ['trust-host-storage', TRUST_HOST_STORAGE, /without knowing it was rolled back/],
    ['vote-not-persisted', VOTE_NOT_PERSISTED, /after granting its vote/],
  ] as const)('the broken persistence %s is refuted', (_name, p, why) => {
    expect(explorePersistence(p, bound).violation?.detail).toMatch(why);
  });
});
