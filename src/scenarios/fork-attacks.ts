/**
 * Storage forks (spec ch. 6, "The persistence rule"; issue of the 6ee2d9d review): a host that
 * keeps every blob its replica ever gave it, kills the replica between the write of a blob and
 * the move of its anchor, restarts it on an older blob and later swaps the orphan back in. Under the
 * rule of 6ee2d9d two blobs could share a version, and the host chose which one the replica woke
 * up on; under the rule of ch. 6 the orphan is older than everything a later life saved, so the
 * swap is detected. Two adaptive strategies, each played in the fault window of a scenario:
 *
 *   storage-fork        a fleet of one: each round a cheap commit is kept as an orphan, the replica
 *                       restarts on the blob before it, an attacker's guess is sealed and its KE2
 *                       leaves, then the host restarts it on the orphan, which lacks the guess. A
 *                       detected fork costs the vault its availability (a fleet of one cannot catch
 *                       up): that is allowed, a spent guess given back is not.
 *   storage-fork-fleet  a fleet of 3 whose host r0 is compromised (f = 1), the others only crash,
 *                       restart and lose their links: r0, a follower, keeps an orphan (the third
 *                       replica cut off); the attacker's guess reaches the leader while r0 is down;
 *                       r0 restarts on the blob before the orphan and seals the rest of the log, the
 *                       guess included, in its first save (under 6ee2d9d's rule: the orphan's
 *                       version), so the guess commits and its KE2 leaves; the host swaps the orphan
 *                       back, the leader crashes, and r0 and the third replica would elect a leader
 *                       without the committed guess (INV-10, INV-1).
 *   storage-fork-siblings  a fleet of 3 whose host r0 is compromised (review of issue 15): two lives
 *                       started on one blob each leave an orphan, A (the attacker's guess) and B
 *                       (a later life's answer to the third replica); r0 restarted on A acknowledges
 *                       the guess again with no save, so it commits and its KE2 leaves; restarted on
 *                       B, newer than A, r0 helps the third replica elect a leader without the guess.
 *                       The start's reseal (durable.ts) puts the anchor past both orphans first.
 * @module
 */
import type { Rng } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import type { SimFleet } from '../sim/fleet.ts';
import {
  type Scenario,
  type ScenarioEnv,
  type ScenarioReport,
  type ScenarioRun,
  describeSchedule,
  runScenario,
} from '../sim/scenario.ts';
import type { Command } from '../vault/records.ts';
import type { Attack, AttackRun } from './attacks.ts';

const CREDENTIAL = 'victim';
const LIMIT = 3;
const ROUNDS = 6;

/** A command that changes no record: a commit that costs the host nothing to provoke. */
const cheap = (k: number): Command => ({
  type: 'EndSession',
  credentialId: '00',
  sessionId: `f0${k.toString(16).padStart(6, '0')}`,
  reason: 'expired',
});

function report(
  name: string,
  s: Scenario,
  r: ScenarioReport,
  attacks: number,
  schedule: string[],
  accept: (r: ScenarioReport) => boolean,
): AttackRun {
  const violation = accept(r) ? null : r.violation;
  const described =
    `${describeSchedule(s)}\nhost of r0 (adaptive, ${name}):\n` + `${schedule.map((l) => `  ${l}`).join('\n')}`;
  return {
    ok: violation === null,
    violation,
    steps: r.stats.steps,
    faults: schedule.length,
    attacks,
    schedule: described,
    trace: r.trace,
    history: r.history,
  };
}

/**
 * The attacker's guess (a KE1 whose KE2 it reads, then nothing), started now; the run continues
 * until its answer (or `ms`).
 */
function guess(run: ScenarioRun, round: number, ms: number): void {
  const c = run.startClient({
    name: `attacker/${CREDENTIAL}.${round}`,
    credential: CREDENTIAL,
    startAt: run.fleet.now,
    ops: [{ kind: 'probe' }],
  });
  run.fleet.runUntil(() => c.done, ms);
}

/** The host of replica i kills it right after the blob of its next save is written; returns the orphan's index. */
function orphan(fleet: SimFleet, i: number, provoke: () => void): number | null {
  const before = fleet.storage(i).history.length;
  fleet.inject({ type: 'Crash', replica: i, afterWrites: 1 });
  provoke();
  fleet.runUntil(() => !fleet.replica(i).up, 1000);
  const history = fleet.storage(i).history.length;
  return !fleet.replica(i).up && history > before ? history - 1 : null;
}

const owner = {
  name: `owner/${CREDENTIAL}`,
  credential: CREDENTIAL,
  startAt: 0,
  ops: [{ kind: 'register' as const, password: `pw/${CREDENTIAL}`, key: `K/${CREDENTIAL}`, limit: LIMIT }],
};

export const storageFork: Attack = {
  name: 'storage-fork',
  summary:
    'a fleet of one: its host keeps a save as an orphan, restarts the replica on the blob before it, ' +
    'lets a guess be sealed and answered, then swaps the orphan back in',
  property:
    'G5 (INV-1): no version is reused, so the orphan is older than the sealed guess and the swap is detected; ' +
    'the vault stops serving (a fleet of one cannot catch up) rather than forget a guess',
  expect: 'pass',
  run(seed: string, env: ScenarioEnv): AttackRun {
    const s: Scenario = { seed, n: 1, faults: [], clients: [owner], faultWindowMs: 0, network: { maxDelayMs: 2 } };
    const log: string[] = [];
    let attacks = 0;
    const r = runScenario({ ...s }, env, {
      drive: (run) => {
        const { fleet } = run;
        fleet.runUntil(() => fleet.events.some((e) => e.type === 'Registered'), 3000);
        for (let round = 0; round < ROUNDS; round++) {
          if (fleet.leader() !== 0) break; // the fork was detected: the vault no longer serves
          const o = orphan(fleet, 0, () => fleet.proposeAt(fleet.now, 0, cheap(round)));
          if (o === null) break;
          log.push(`${fleet.now} ms  kills r0 right after writing blob ${o}; restarts it on blob ${o - 1}`);
          fleet.inject({ type: 'Fork', replica: 0, blob: o - 1 });
          fleet.runUntil(() => fleet.leader() === 0, 1000);
          guess(run, round, 2000);
          attacks++;
          log.push(`${fleet.now} ms  after the attacker's guess ${round}, restarts r0 on the orphan, blob ${o}`);
          fleet.inject({ type: 'Fork', replica: 0, blob: o });
          fleet.runFor(50);
        }
      },
    });
    // a detected fork leaves a fleet of one unavailable for good: the liveness check reports what the rule accepts
    const accept = (x: ScenarioReport) => x.violation?.invariant === 'LIVENESS' && x.stats.rollbacksDetected > 0;
    return report('storage-fork', s, r, attacks, log, accept);
  },
};

export const storageForkFleet: Attack = {
  name: 'storage-fork-fleet',
  summary:
    'a fleet of 3 whose host r0 forks its sealed storage ' +
    '(an orphan kept, a restart on the blob before it, the orphan swapped back after a guess), ' +
    'while the leader crashes and the third replica loses its links',
  property:
    'G5 (INV-1), leader completeness (INV-10): within f = 1 a fork is a detected rollback; ' +
    'r0 rejoins only by catching up, and the committed guess survives',
  expect: 'pass',
  run(seed: string, env: ScenarioEnv): AttackRun {
    const rng: Rng = seededRng(`attack/storage-fork-fleet/${seed}`);
    const s: Scenario = { seed, n: 3, faults: [], clients: [owner], faultWindowMs: 0, network: { maxDelayMs: 4 } };
    const log: string[] = [];
    let attacks = 0;
    const r = runScenario(s, env, {
      drive: (run) => {
        const { fleet } = run;
        fleet.runUntil(() => fleet.events.some((e) => e.type === 'Registered') && fleet.leader() !== null, 3000);
        for (let round = 0; round < ROUNDS; round++) {
          // r0 must follow: while it leads, its host restarts it (an honest-looking crash)
          for (let k = 0; k < 5 && (fleet.leader() === 0 || fleet.leader() === null); k++) {
            if (fleet.leader() === 0) {
              fleet.inject({ type: 'Crash', replica: 0 });
              fleet.inject({ type: 'Restart', replica: 0 });
            }
            fleet.runUntil(() => fleet.leader() !== null && fleet.leader() !== 0 && fleet.replica(0).up, 2000);
          }
          const leader = fleet.leader();
          if (leader === null || leader === 0) continue;
          const third = 3 - leader; // the replica that is neither r0 nor the leader
          fleet.inject({ type: 'Partition', groups: [[third]] });
          const o = orphan(fleet, 0, () => fleet.proposeAt(fleet.now, leader, cheap(round)));
          if (o === null) {
            fleet.inject({ type: 'Heal' });
            fleet.inject({ type: 'Restart', replica: 0 });
            continue;
          }
          // the guess reaches the leader while r0 is down: its ConsumeGuess waits for a second holder
          const c = run.startClient({
            name: `attacker/${CREDENTIAL}.${round}`,
            credential: CREDENTIAL,
            startAt: fleet.now,
            ops: [{ kind: 'recover', password: `wrong-${round}` }],
          });
          attacks++;
          fleet.runFor(30 + Math.floor(rng(1)[0]! / 8));
          const killed = `r0 killed right after writing blob ${o}`;
          log.push(`${fleet.now} ms  r${third} cut off; ${killed}; guess ${round} sent; r0 restarted on blob ${o - 1}`);
          // r0 restarts on the blob before the orphan and takes the rest of the log in one save
          fleet.inject({ type: 'Fork', replica: 0, blob: o - 1 });
          fleet.runUntil(() => c.done, 2000);
          const restarted = `r0 restarted on the orphan (blob ${o})`;
          const crashed = `leader r${leader} crashed, r${third} reconnected`;
          log.push(`${fleet.now} ms  after guess ${round}: ${restarted}, ${crashed}`);
          fleet.inject({ type: 'Fork', replica: 0, blob: o });
          fleet.inject({ type: 'Crash', replica: leader });
          fleet.inject({ type: 'Heal' });
          fleet.runFor(800);
          fleet.inject({ type: 'Restart', replica: leader });
          fleet.runUntil(() => fleet.leader() !== null, 2000);
        }
      },
    });
    return report('storage-fork-fleet', s, r, attacks, log, () => false);
  },
};

export const storageForkSiblings: Attack = {
  name: 'storage-fork-siblings',
  summary:
    'a fleet of 3 whose host r0 keeps two orphans of two lives started on one blob (A: a guess; B: a later ' +
    'answer), restarts r0 on A (which acknowledges the guess again, no save: its KE2 leaves), then on B',
  property:
    'G5 (INV-1), leader completeness (INV-10), one vote per term (INV-8): every start reseals what it resumes ' +
    'from, so the anchor passes both orphans before r0 releases anything; the swaps are detected rollbacks',
  expect: 'pass',
  run(seed: string, env: ScenarioEnv): AttackRun {
    const s: Scenario = { seed, n: 3, faults: [], clients: [owner], faultWindowMs: 0, network: { maxDelayMs: 4 } };
    const log: string[] = [];
    let attacks = 0;
    const r = runScenario(s, env, {
      drive: (run) => {
        const { fleet } = run;
        fleet.runUntil(() => fleet.events.some((e) => e.type === 'Registered') && fleet.leader() !== null, 3000);
        for (let round = 0; round < ROUNDS; round++) {
          // r0 must follow: while it leads, its host restarts it on its latest blob
          for (let k = 0; k < 5 && (fleet.leader() === 0 || fleet.leader() === null); k++) {
            if (fleet.leader() === 0)
              fleet.inject({ type: 'Fork', replica: 0, blob: fleet.storage(0).history.length - 1 });
            fleet.runUntil(() => fleet.leader() !== null && fleet.leader() !== 0 && fleet.replica(0).up, 2000);
          }
          const leader = fleet.leader();
          if (leader === null || leader === 0) break;
          const third = 3 - leader;
          fleet.runFor(100);
          // orphan A: r0 killed right after writing the attacker's guess (the third replica cut off)
          fleet.inject({ type: 'Partition', groups: [[third]] });
          fleet.inject({ type: 'Crash', replica: 0, afterWrites: 1 });
          const c = run.startClient({
            name: `attacker/${CREDENTIAL}.${round}`,
            credential: CREDENTIAL,
            startAt: fleet.now,
            ops: [{ kind: 'probe' }],
          });
          attacks++;
          fleet.runUntil(() => !fleet.replica(0).up, 1000);
          const a = fleet.replica(0).up ? null : fleet.storage(0).history.length - 1;
          if (a === null) break;
          // orphan B: a later life on the blob before A, killed right after writing its answer to the third replica
          fleet.inject({ type: 'Partition', groups: [[leader]] });
          fleet.inject({ type: 'Fork', replica: 0, blob: a - 1 });
          const b = orphan(fleet, 0, () => undefined);
          if (b === null) break;
          log.push(
            `${fleet.now} ms  orphans kept: blob ${a} (guess ${round}), blob ${b} (a later life on blob ${a - 1})`,
          );
          // A: the guess acknowledged again, with no save; B: r0 and the third replica go on without it
          fleet.inject({ type: 'Partition', groups: [[third]] });
          fleet.inject({ type: 'Fork', replica: 0, blob: a });
          fleet.runUntil(() => c.done, 2000);
          log.push(`${fleet.now} ms  r0 restarted on blob ${a}, then on blob ${b}; r${leader} cut off`);
          fleet.inject({ type: 'Partition', groups: [[leader]] });
          fleet.inject({ type: 'Fork', replica: 0, blob: b });
          fleet.runFor(800);
          fleet.inject({ type: 'Heal' });
          fleet.runFor(500);
        }
      },
    });
    return report('storage-fork-siblings', s, r, attacks, log, () => false);
  },
};
