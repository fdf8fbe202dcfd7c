/**
 * Storage forks (spec ch. 6, "The persistence rule"): a host that keeps every blob its replica
 * gave it, kills the replica between the write of a blob and the move of its anchor, restarts it on
 * the blob before, and later swaps the orphan back in. Each attack is run against the code as it is
 * and against the rule of 6ee2d9d, under which a life numbered its saves from the version it loaded
 * (two blobs shared a version): there, each one breaks the guess limit or election safety.
 *
 *   one replica    6ee2d9d's single-replica driver (LegacySingleReplica below: the records sealed
 *                  whole) gives the attacker a guess back every round; the fleet of one refuses the
 *                  swapped-in orphan (StaleState) and stops serving
 *   a fleet of 3   the catalog's attack storage-fork-fleet: under the broken variant version-reuse
 *                  (6ee2d9d's persistence) a committed guess is lost (INV-10); within the rule it holds
 *   a vote         r0 votes for r2, its host kills it before the anchor moves, restarts it on the
 *                  blob before, r0 votes for r1 in the same term, and the host swaps the first vote
 *                  back in: two leaders of one term under 6ee2d9d's rule (INV-8)
 */
import { describe, expect, test } from 'vitest';
import { utf8 } from '../src/crypto/bytes.ts';
import { onRecoverResponse, startRecovery } from '../src/client/session.ts';
import { VERSION_REUSE } from '../src/broken/persistence.ts';
import { getBroken } from '../src/broken/catalog.ts';
import { type Hsm, hsmView } from '../src/hsm/hsm.ts';
import { MemoryHsm } from '../src/hsm/memory.ts';
import {
  type ReplicaRules,
  type Hosted,
  RULES,
  startHosted,
} from '../src/replication/host.ts';
import { type RaftMessage, majority } from '../src/replication/raft.ts';
import type { ReplicaStep } from '../src/replication/replica.ts';
import { SafetyMonitor } from '../src/sim/monitor.ts';
import { forkingHost } from './support/forking-host.ts';
import { getAttack } from '../src/scenarios/attacks.ts';
import { memoryFleets } from '../src/scenarios/fleets.ts';
import { replayToken } from '../src/scenarios/suites.ts';
import { HostCrash } from '../src/sim/crash.ts';
import {
  type Step,
  type VaultNode,
  handleFrame,
  handleSessionExpiry,
  initialNode,
  onCommitted,
} from '../src/vault/node.ts';
import type { Frame } from '../src/vault/protocol.ts';
import { type Command, type VaultState, EMPTY_VAULT } from '../src/vault/records.ts';
import { SingleReplicaVault } from '../src/vault/single.ts';
import { type Version, loadSealed, saveSealed } from '../src/vault/storage.ts';
import { ALICE, type VaultDriver, VaultWorld, codeOf, memoryBackend } from './support/vault-world.ts';

// ------------------------------------------------------------------------------------------------
// One replica

/** 6ee2d9d's single-replica driver, kept here only to show that the fork test fails on it. */
class LegacySingleReplica implements VaultDriver {
  #node: VaultNode;
  #version: Version;
  constructor(
    private readonly world: VaultWorld,
    private readonly hsm: Hsm,
  ) {
    const loaded = loadSealed<VaultState>(hsm, world.config.labels.seal, world.storage);
    this.#node = initialNode(loaded?.state ?? EMPTY_VAULT);
    this.#version = loaded?.version ?? 0n; // the version it loaded: its next save reuses the one after
  }
  get state(): VaultState {
    return this.#node.vault;
  }
  get node(): VaultNode {
    return this.#node;
  }
  #env() {
    return { hsm: this.hsm, rng: this.world.rng, now: this.world.now, config: this.world.config };
  }
  #run(step: Step): Frame[] {
    this.#node = step.node;
    if (step.proposals.length === 0) return [...step.frames];
    let node = this.#node;
    const replies: Frame[] = [];
    for (const cmd of step.proposals) {
      const s = onCommitted(node, cmd, this.#env());
      node = s.node;
      replies.push(...s.frames);
    }
    this.#version += 1n;
    saveSealed(this.hsm, this.world.config.labels.seal, this.world.storage, this.#version, node.vault, this.world.rng);
    this.#node = node;
    return [...step.frames, ...replies];
  }
  deliver(frame: Frame): Frame[] {
    return this.#run(handleFrame(this.#node, frame, this.#env()));
  }
  expireSessions(): Frame[] {
    return this.#run(handleSessionExpiry(this.#node, this.#env()));
  }
}

const LIMIT = 3;
const ROUNDS = 10;

/**
 * The fork, round after round: a cheap commit (a guess on an unknown credential) kept as an orphan,
 * the replica restarted on the blob its state came from, an attacker's wrong guess answered (a KE1
 * whose KE2 is read, then nothing), the orphan swapped back in. Returns the wrong guesses answered,
 * and the code a restart was refused with.
 */
async function forkOneReplica(open: (w: VaultWorld, hsm: Hsm) => VaultDriver) {
  let dying = false;
  const killable = (w: VaultWorld) =>
    hsmView(w.hsm, {
      advanceCounter: (name, value) => {
        if (dying) throw new HostCrash(0);
        w.hsm.advanceCounter(name, value);
      },
    });
  const world = new VaultWorld({
    backend: memoryBackend('ristretto255-SHA512'),
    seed: 'storage fork, one replica',
    driver: (w) => open(w, killable(w)),
  });
  const history = world.storage.history;
  let current = history.length - 1;
  const reopen = () => {
    const before = history.length;
    world.vault = open(world, killable(world));
    if (history.length > before) current = history.length - 1;
  };
  const K = world.rng(32);
  expect((await world.client.register(ALICE, utf8('the password'), K, LIMIT)).ok).toBe(true);
  current = history.length - 1;
  let answered = 0;
  for (let round = 0; round < ROUNDS; round++) {
    dying = true;
    expect(() => world.deliver(startRecovery(world.ctx, utf8('nobody'), utf8('x'), world.rng).frame)).toThrow(
      HostCrash,
    );
    dying = false;
    const orphan = history.length - 1;
    world.storage.present(current);
    reopen();
    const before = history.length;
    // the attacker's KE1; it reads its KE2 and sends nothing more (no RecoverAbort: nothing else to seal)
    const { frame, session } = startRecovery(world.ctx, ALICE, utf8(`wrong ${round}`), world.rng);
    const next = onRecoverResponse(world.ctx, session, (await world.relay.exchange(frame))!);
    if (next.outcome?.ok === false && next.outcome.kind === 'WrongPassword') answered++;
    if (history.length > before) current = history.length - 1;
    world.storage.present(orphan);
    try {
      reopen();
      current = orphan;
    } catch (e) {
      return {
        answered,
        refused: codeOf(() => {
          throw e;
        }),
        world,
        K,
      };
    }
  }
  return { answered, refused: null, world, K };
}

describe('a host that forks its sealed storage: one replica', () => {
  test(
    "6ee2d9d's driver gives a guess back every round: " + 'more wrong guesses answered than the limit, then K',
    async () => {
      const { answered, refused, world, K } = await forkOneReplica((w, hsm) => new LegacySingleReplica(w, hsm));
      console.log(
        `[storage-fork] 6ee2d9d, one replica: ${answered} wrong guesses answered against a limit of ${LIMIT}`,
      );
      expect(refused).toBeNull();
      expect(answered).toBe(ROUNDS);
      expect(world.record()).toMatchObject({ attemptsUsed: 0 });
      const r = await world.client.recover(ALICE, utf8('the password'));
      expect(r.ok && Buffer.from(r.value).equals(Buffer.from(K))).toBe(true);
    },
  );

  test('the fleet of one refuses the swapped-in orphan for good: no guess comes back', async () => {
    const open = (w: VaultWorld, hsm: Hsm) =>
      SingleReplicaVault.open({ hsm, config: w.config, storage: w.storage, rng: w.rng, clock: () => w.now });
    const { answered, refused } = await forkOneReplica(open);
    expect(refused).toBe('StaleState');
    expect(answered).toBeLessThanOrEqual(LIMIT);
  });

  test(
    'in the simulator, the attack storage-fork holds; ' +
      'a replica with no anchor at all (trust-host-storage) is caught',
    () => {
      const env = memoryFleets('storage-fork');
      const attack = getAttack('storage-fork');
      const held = attack.run('one', env);
      expect(held.ok, `${held.violation?.invariant} ${held.violation?.detail}`).toBe(true);
      expect(held.attacks).toBeGreaterThan(0);
      const blind = attack.run('one', { ...env, broken: getBroken('trust-host-storage'), livenessMs: 3000 });
      expect(blind.ok).toBe(false);
      console.log(
        `[storage-fork] trust-host-storage caught: ${blind.violation?.invariant}; ` +
          `replay: npx bkv check --replay ${replayToken('attack', 'one', 13, 'trust-host-storage')}`,
      );
    },
  );
});

// ------------------------------------------------------------------------------------------------
// A fleet of three

describe('a host that forks its sealed storage: one host of a fleet of 3', () => {
  const env = memoryFleets('storage-fork-fleet');
  const attack = getAttack('storage-fork-fleet');

  test("under 6ee2d9d's persistence (version-reuse) a committed guess is lost: INV-10", () => {
    const r = attack.run('fleet', { ...env, broken: getBroken('version-reuse'), livenessMs: 5000 });
    console.log(`[storage-fork] version-reuse: ${r.violation?.invariant} ${r.violation?.detail}\n${r.schedule}`);
    expect(r.ok).toBe(false);
    expect(['INV-1', 'INV-10']).toContain(r.violation!.invariant);
  });

  test('within the rule, every round of the fork is detected and the guess survives', () => {
    for (const seed of ['fleet', 'fleet 2', 'fleet 3']) {
      const r = attack.run(seed, env);
      expect(r.ok, `${seed}: ${r.violation?.invariant} ${r.violation?.detail}`).toBe(true);
      expect(r.attacks).toBeGreaterThanOrEqual(3);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Two votes in one term

describe('a host that forks its sealed storage: two votes in one term', () => {
  /**
   * r1 and r2 campaign in term 1. r0's host kills it right after the blob of its vote for r2 is
   * written; restarts it on the blob before (none); r0 grants r1; r1 leads. The host swaps the orphan back:
   * under 6ee2d9d's rule it is as new as the anchor, and its ballot (term 1, r2) is above the HSM's
   * (term 1, r1), so r0 wakes up believing it voted for r2, and grants r2 again: two leaders.
   */
  function voteFork(rules: ReplicaRules) {
    const { storage, crash, io, config, deliver } = forkingHost('vote-fork', 'vote fork');
    const monitor = new SafetyMonitor(3);
    const act = (hosted: Hosted, m: RaftMessage<Command>, from: number) => deliver(rules, hosted, m, from);
    const request = (term: number): RaftMessage<Command> => ({
      type: 'RequestVoteRequest',
      term,
      lastLogIndex: 0,
      lastLogTerm: 0,
    });
    const granted = (step: ReplicaStep) =>
      step.messages.some((o) => o.message.type === 'RequestVoteResponse' && o.message.voteGranted);

    let r0 = startHosted(rules, io, config).hosted;
    crash.arm(1); // r0's host kills it right after the blob of its next save is written
    expect(() => act(r0, request(1), 2)).toThrow(HostCrash);
    const orphan = storage.history.length - 1;
    storage.rollback(1); // the blob before: none (the vote was r0's first save)
    r0 = startHosted(rules, io, config).hosted;
    const forR1 = act(r0, request(1), 1);
    expect(granted(forR1.step)).toBe(true); // r1 now holds 2 votes of 3: a leader of term 1
    monitor.onBecameLeader(1, 1);
    storage.present(orphan);
    const swapped = startHosted(rules, io, config);
    const again = act(swapped.hosted, request(1), 2);
    if (granted(again.step)) monitor.onBecameLeader(2, 1); // r2 holds its own vote and r0's: a majority
    return { rolledBack: swapped.rolledBack, secondVote: granted(again.step), majority: majority(3) };
  }

  test("under 6ee2d9d's persistence (version-reuse) r0 votes twice in term 1: INV-8", () => {
    expect(() => voteFork({ ...RULES, persistence: VERSION_REUSE })).toThrow(/INV-8/);
  });

  test('within the rule the swapped-in vote is detected: r0 restarts recovering and votes no more', () => {
    const r = voteFork(RULES);
    expect(r).toMatchObject({ rolledBack: true, secondVote: false });
  });
});

// ------------------------------------------------------------------------------------------------
// Sibling orphans: two lives started on one blob, each leaving an orphan

describe('a host that forks its sealed storage: sibling orphans in a fleet of 3', () => {
  const env = memoryFleets('storage-fork-siblings');
  const attack = getAttack('storage-fork-siblings');

  test("without the start's reseal (no-reseal-at-start, 84e9c74) a committed guess is lost", () => {
    const r = attack.run('siblings', { ...env, broken: getBroken('no-reseal-at-start'), livenessMs: 5000 });
    console.log(`[storage-fork] no-reseal-at-start: ${r.violation?.invariant} ${r.violation?.detail}\n${r.schedule}`);
    expect(r.ok).toBe(false);
    expect(getBroken('no-reseal-at-start').expected).toContain(r.violation!.invariant);
  });

  test('within the rule, both orphans are refused and every guess survives', () => {
    for (const seed of ['siblings', 'siblings 2', 'siblings 3']) {
      const r = attack.run(seed, env);
      expect(r.ok, `${seed}: ${r.violation?.invariant} ${r.violation?.detail}`).toBe(true);
      expect(r.attacks).toBeGreaterThanOrEqual(3);
    }
  });
});
