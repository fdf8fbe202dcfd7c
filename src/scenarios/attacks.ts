/**
 * The attack catalog (spec ch. 13): each attack a named strategy, seeded, with the property it
 * must not break. Most run as scenarios of the simulated fleet (src/sim/scenario.ts), with
 * the adversary as a host (faults, rollbacks), as clients (guesses, probes) or in the relay
 * (a hook of the simulator: src/scenarios/hostile-relay.ts); every run is checked for Raft safety, G1 and the record
 * invariants after every step, then G5, G3, lost registrations, linearizability and liveness. One attack
 * (`rollback-f-plus-1`) is beyond the fault bound: there the checks must report a violation.
 * @module
 */
import { type Bytes, type Rng, toHex, utf8 } from '../crypto/bytes.ts';
import { randomInt, seededRng } from '../crypto/rng.ts';
import { getSuite } from '../crypto/suite.ts';
import { isVaultError } from '../errors.ts';
import type { Operation } from '../check/history.ts';
import { computePins, validatePinned } from '../client/bundle.ts';
import { createArtifact, encodeArtifact } from '../fleet/artifact.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import type { Frame, FrameKind } from '../vault/protocol.ts';
import { chance, randomBetween } from '../sim/network.ts';
import { deployReplicatedFleet } from '../replication/provision.ts';
import {
  type Scenario,
  type ScenarioEnv,
  type ScenarioReport,
  type ScenarioViolation,
  type TimedFault,
  describeSchedule,
  runScenario,
} from '../sim/scenario.ts';
import type { ClientScript } from '../sim/client.ts';
import { type HostileRelay, type RelayAdversary, runWithRelay } from './hostile-relay.ts';
import { faultTolerance } from './arbitrary.ts';
import { storageFork, storageForkFleet, storageForkSiblings } from './fork-attacks.ts';

export interface AttackRun {
  /** The expectation held: checks passed (or, for an attack beyond the bound, a violation was reported). */
  readonly ok: boolean;
  /** What the checks reported (null: nothing). */
  readonly violation: ScenarioViolation | null;
  readonly steps: number;
  readonly faults: number;
  /** Adversarial actions: guesses beyond the limit, replays, forgeries, malformed frames. */
  readonly attacks: number;
  readonly schedule: string;
  readonly trace: readonly string[];
  readonly history: readonly Operation[];
}

export interface Attack {
  readonly name: string;
  readonly summary: string;
  /** The property it must not break (spec ch. 12 invariants). */
  readonly property: string;
  /** `violation`: the attack is beyond the bound, the checks must report it. */
  readonly expect: 'pass' | 'violation';
  run(seed: string, env: ScenarioEnv): AttackRun;
}

/**
 * The attacks are scripted strategies, each seeded by its run (their choices are made as the run
 * unfolds, some in the relay); the scenarios fast-check draws and shrinks are those of the consensus
 * and guess-limit suites (src/scenarios/arbitrary.ts).
 */
function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[randomInt(rng, xs.length)]!;
}

/** An attacker's script: `count` wrong guesses, probes (abandoned after KE2) and guesses answered with a forged KE3. */
function attackerOps(rng: Rng, name: string, count: number): ClientScript['ops'] {
  return Array.from({ length: count }, (_, i) => {
    if (chance(rng, 0.3)) return { kind: 'probe' } as const;
    if (chance(rng, 0.2)) return { kind: 'forge', password: `${name}-forge-${i}` } as const;
    return { kind: 'recover', password: `${name}-guess-${i}` } as const;
  });
}

const withinBound = (
  r: ScenarioReport & { attacks?: number },
  s: Scenario,
  attacks: number,
  extra: ScenarioViolation | null = null,
): AttackRun => {
  const violation = r.violation ?? extra;
  return {
    ok: violation === null,
    violation,
    steps: r.stats.steps,
    faults: s.faults.length,
    attacks: r.attacks ?? attacks,
    schedule: describeSchedule(s),
    trace: r.trace,
    history: r.history,
  };
};

const owner = (credential: string, limit: number, startAt = 0): ClientScript => ({
  name: `owner/${credential}`,
  credential,
  startAt,
  ops: [{ kind: 'register', password: `pw/${credential}`, key: `K/${credential}`, limit }],
});

function guessers(
  rng: Rng,
  credential: string,
  count: number,
  guesses: number,
  startAt: number,
  spreadMs: number,
): ClientScript[] {
  return Array.from({ length: count }, (_, a) => {
    const name = `attacker/${credential}.${a}`;
    return {
      name,
      credential,
      startAt: startAt + randomBetween(rng, 0, spreadMs),
      ops: attackerOps(rng, name, guesses),
    };
  });
}

const countGuesses = (s: Scenario) =>
  s.clients.filter((c) => c.name.startsWith('attacker')).reduce((k, c) => k + c.ops.length, 0);

/**
 * No more KE2 answers (WrongPassword or a probe's KE2) than the limit between successes, as the
 * clients saw them, on a record that was registered (an unknown one answers with fake KE2s, spec ch. 5.5).
 * Only the answers to recoveries invoked after the registration first took effect count: a guess
 * invoked while the registration was in flight may be answered by the unknown credential's fake
 * record (its ConsumeGuess ordered before the Register), and so is no guess on the record. Those
 * guesses, when real, are counted by the budget checker (INV-1 on the ghost events, src/check/budget.ts).
 */
function answeredWithinLimit(s: Scenario, r: ScenarioReport): ScenarioViolation | null {
  const history: readonly Operation[] = r.history;
  const registeredAt = new Map<string, number>();
  for (const e of r.fleet.events)
    if (e.type === 'Registered' && !registeredAt.has(e.credential)) registeredAt.set(e.credential, e.at);
  for (const c of s.clients) {
    const reg = c.ops.find((o) => o.kind === 'register');
    const at = registeredAt.get(toHex(utf8(c.credential)));
    if (!reg || reg.kind !== 'register' || at === undefined) continue;
    const answered = history.filter(
      (o) =>
        o.credential === c.credential &&
        o.call > at &&
        o.completion === 'ok' &&
        (o.output?.kind === 'WrongPassword' || o.output?.kind === 'Ke2'),
    ).length;
    const successes = history.filter((o) => o.credential === c.credential && o.output?.kind === 'Recovered').length;
    if (successes === 0 && answered > reg.limit)
      return { invariant: 'INV-1', detail: `${answered} guesses answered on ${c.credential} with limit ${reg.limit}` };
  }
  return null;
}

function scenarioAttack(
  name: string,
  summary: string,
  property: string,
  build: (rng: Rng, seed: string) => Scenario,
  extra?: (s: Scenario, r: ScenarioReport) => ScenarioViolation | null,
): Attack {
  return {
    name,
    summary,
    property,
    expect: 'pass',
    run(seed, env) {
      const s = build(seededRng(`attack/${name}/${seed}`), seed);
      const r = runScenario(s, env);
      return withinBound(r, s, countGuesses(s), r.ok ? (extra?.(s, r) ?? null) : null);
    },
  };
}

function relayAttack(
  name: string,
  summary: string,
  property: string,
  adversary: () => RelayAdversary,
  build: (rng: Rng, seed: string) => Scenario,
): Attack {
  return {
    name,
    summary,
    property,
    expect: 'pass',
    run(seed, env) {
      const s = build(seededRng(`attack/${name}/${seed}`), seed);
      const r = runWithRelay(s, env, adversary());
      return withinBound(r, s, r.attacks);
    },
  };
}

/**
 * Two credentials, an owner each, attackers guessing on both, and the owner of `a` recovering
 * among its attackers: the clients most relay attacks run over.
 */
function honestTraffic(rng: Rng, seed: string, windowMs = 2500): Scenario {
  const clients: ClientScript[] = [owner('a', randomBetween(rng, 2, 4)), owner('b', randomBetween(rng, 1, 3), 100)];
  clients.push(...guessers(rng, 'a', 2, 3, 400, 300), ...guessers(rng, 'b', 2, 3, 500, 300));
  const recoveries = Array.from(
    { length: randomBetween(rng, 1, 2) },
    () => ({ kind: 'recover', password: 'pw/a' }) as const,
  );
  clients.push({ name: 'owner/a.recovery', credential: 'a', startAt: randomBetween(rng, 400, 800), ops: recoveries });
  return { seed, n: pick(rng, [3, 5]), faults: [], clients, faultWindowMs: windowMs, network: { maxDelayMs: 10 } };
}

function rollbacks(
  rng: Rng,
  replicas: number,
  fromMs: number,
  toMs: number,
  everyMs: number,
  maxSaves: number,
): TimedFault[] {
  const out: TimedFault[] = [];
  for (let at = fromMs; at < toMs; at += everyMs)
    out.push({
      at,
      fault: { type: 'Rollback', replica: randomInt(rng, replicas), saves: randomBetween(rng, 1, maxSaves) },
    });
  return out;
}

/**
 * `count` crashes within `windowMs`, now or inside a save (after the replica's next 1-4 durable
 * writes), each restarted 0-400 ms later (100-600 ms inside a save) half of the time.
 */
function crashes(rng: Rng, n: number, count: number, windowMs: number): TimedFault[] {
  const out: TimedFault[] = [];
  for (let k = 0; k < count; k++) {
    const at = randomBetween(rng, 0, windowMs);
    const replica = randomInt(rng, n);
    randomInt(rng, 1); // the draws of the generator this was part of, so that the attack's runs stay as they were
    const afterWrites = chance(rng, 0.4) ? randomBetween(rng, 1, 4) : undefined;
    out.push({ at, fault: { type: 'Crash', replica, ...(afterWrites && { afterWrites }) } });
    const [lo, hi] = afterWrites ? [100, 600] : [0, 400];
    if (chance(rng, 0.5)) out.push({ at: at + randomBetween(rng, lo, hi), fault: { type: 'Restart', replica } });
  }
  return out.sort((a, b) => a.at - b.at);
}

function flip(rng: Rng, bytes: Bytes): Bytes {
  const out = Uint8Array.from(bytes);
  if (out.length === 0) return Uint8Array.of(randomInt(rng, 256));
  const i = randomInt(rng, out.length);
  out[i] = out[i]! ^ (1 << randomInt(rng, 8));
  return out;
}

function randomBytes(rng: Rng, n: number): Bytes {
  return n === 0 ? new Uint8Array(0) : rng(n);
}

// ----------------------------------------------------------------------------------------------

const bruteForce = scenarioAttack(
  'brute-force',
  'attackers keep guessing (wrong passwords and abandoned sessions) far beyond the limit, ' +
    'sequentially and concurrently',
  'G5 (INV-1): at most `limit` KE2s leave per record between successes; then Locked',
  (rng, seed) => {
    const limit = randomBetween(rng, 1, 4);
    return {
      seed,
      n: pick(rng, [3, 5]),
      faults: [],
      clients: [owner('victim', limit), ...guessers(rng, 'victim', randomBetween(rng, 1, 3), limit + 4, 300, 200)],
      faultWindowMs: 3000,
      network: { maxDelayMs: 8 },
    };
  },
  answeredWithinLimit,
);

const partitionLeaders = scenarioAttack(
  'partition-leaders',
  'during partitions, attackers send guesses to every replica, hoping that a stale leader in a minority answers too',
  'G1 (INV-3): a KE2 leaves only once its ConsumeGuess is committed on a majority; G5 (INV-1)',
  (rng, seed) => {
    const n = 5;
    const faults: TimedFault[] = [];
    for (let at = 500; at < 2600; at += randomBetween(rng, 200, 500)) {
      const group = [...new Set([randomInt(rng, n), randomInt(rng, n)])];
      faults.push({ at, fault: { type: 'Partition', groups: [group] } });
    }
    const limit = randomBetween(rng, 2, 4);
    return {
      seed,
      n,
      faults,
      clients: [owner('victim', limit), ...guessers(rng, 'victim', 5, limit, 450, 600)],
      faultWindowMs: 3000,
      network: { maxDelayMs: 10 },
    };
  },
  answeredWithinLimit,
);

const rollbackF = scenarioAttack(
  'rollback-f',
  'the hosts of up to f replicas roll their sealed storage back, repeatedly, while attackers guess',
  'G5 (INV-1), no acknowledged registration lost (INV-6), Raft safety (INV-8..11): ' +
    'the HSM anchor counter detects every rollback',
  (rng, seed) => {
    const n = pick(rng, [3, 5]);
    const limit = randomBetween(rng, 2, 4);
    return {
      seed,
      n,
      faults: rollbacks(rng, faultTolerance(n), 300, 2700, randomBetween(rng, 100, 300), 30),
      clients: [owner('victim', limit), ...guessers(rng, 'victim', 2, limit + 1, 400, 300)],
      faultWindowMs: 3000,
      network: { maxDelayMs: 8 },
    };
  },
  answeredWithinLimit,
);

const dropGuessEntry = scenarioAttack(
  'drop-guess-entry',
  'a host drops the newest entries of its replica (the ConsumeGuess of a guess just made) ' +
    'by rolling back one or two saves, again and again',
  'G1 (INV-3), G5 (INV-1): a KE2 needs its ConsumeGuess sealed on a majority, ' +
    'so dropping it on one host cannot refund the guess',
  (rng, seed) => {
    const n = pick(rng, [3, 5]);
    const limit = randomBetween(rng, 2, 4);
    return {
      seed,
      n,
      faults: rollbacks(rng, faultTolerance(n), 400, 2600, randomBetween(rng, 30, 80), 2),
      clients: [owner('victim', limit), ...guessers(rng, 'victim', 2, limit + 2, 450, 200)],
      faultWindowMs: 3000,
      network: { maxDelayMs: 6 },
    };
  },
  answeredWithinLimit,
);

/**
 * Beyond the bound: the hosts of f + 1 replicas, the current leader among them, roll their storage
 * back to nothing after registrations. The checks must report it.
 */
const rollbackFPlus1: Attack = {
  name: 'rollback-f-plus-1',
  summary:
    'the hosts of f + 1 replicas, the serving leader among them, roll their storage back to nothing ' +
    'after registrations: beyond the fault bound',
  property:
    'the bound is tight: the checks must REPORT a violation ' +
    '(the rolled-back replicas know it and the fleet halts rather than forget: LIVENESS)',
  expect: 'violation',
  run(seed, env) {
    const rng = seededRng(`attack/rollback-f-plus-1/${seed}`);
    const n = pick(rng, [3, 5]);
    const f = faultTolerance(n);
    const at = randomBetween(rng, 1200, 1800);
    const s: Scenario = {
      seed,
      n,
      faults: [],
      clients: [owner('victim', 3), ...guessers(rng, 'victim', 1, 2, 300, 100)],
      faultWindowMs: 2500,
      network: { maxDelayMs: 6 },
    };
    const r = runWithRelay(
      s,
      { ...env, livenessMs: 5000 },
      {
        start(relay) {
          // the host's power, at a time of its choosing: roll back the leader and f others
          relay.later(at, () => {
            const leader = relay.fleet.leader() ?? 0;
            const victims = [
              leader,
              ...Array.from({ length: n }, (_, i) => i)
                .filter((i) => i !== leader)
                .slice(0, f),
            ];
            for (const replica of victims) {
              relay.attacks++;
              relay.fleet.inject({ type: 'Rollback', replica, saves: 1_000_000 });
            }
          });
        },
        onClientFrame: (relay, client, _credential, to, frame) => relay.forward(client, to, frame),
      },
    );
    const schedule =
      `${describeSchedule(s)}\nhost: at ${at} ms, ` +
      `rolls back the serving leader and ${f} other replica(s) to nothing`;
    return { ...withinBound(r, s, f + 1), faults: f + 1, schedule, ok: !r.ok };
  },
};

/** KE1, RegisterFinish and KE3 frames replayed later, to any replica; KE2 frames replayed to the client. */
const replayKe = relayAttack(
  'replay-ke',
  'the relay replays KE1 (Handshake1), RegisterFinish and KE3 frames later and to other replicas, ' +
    'and KE2 frames to the client',
  'G3 (INV-2): a replayed KE3 releases nothing; a replayed KE1 is a new session that spends a guess like any ' +
    '(G5, INV-1; linearizable with the replay as an `info` probe)',
  () => ({
    onClientFrame(r, client, credential, to, frame) {
      r.forward(client, to, frame);
      if (chance(r.rng, 0.5))
        r.later(randomBetween(r.rng, 20, 400), () => r.inject(randomInt(r.rng, r.fleet.n), frame, credential));
    },
    onReplicaFrame(r, client, frame, from) {
      r.deliver(client, frame, from);
      if (chance(r.rng, 0.3)) {
        r.attacks++;
        r.later(randomBetween(r.rng, 5, 200), () => r.deliver(client, frame, from));
      }
    },
  }),
  (rng, seed) => honestTraffic(rng, seed),
);

/** A KE3 (any Transport frame) of one session sent on another session's channel, before the real one. */
const ke3OtherSession = relayAttack(
  'ke3-other-session',
  "the relay sends a KE3 from one session on another session's channel " +
    "(of the same or another credential), ahead of that session's own",
  'G3 (INV-2): K is released only in the session whose KE3 verified; G5 (INV-1)',
  () => {
    const seen: Frame[] = [];
    return {
      onClientFrame(r, client, credential, to, frame) {
        if (frame.kind === 'Transport') {
          const other = seen.filter((f) => f.channel !== frame.channel);
          if (other.length > 0) r.inject(to, { ...pick(r.rng, other), channel: frame.channel }, credential);
          seen.push(frame);
        }
        r.forward(client, to, frame);
      },
    };
  },
  (rng, seed) => honestTraffic(rng, seed),
);

/** Bit flips in frames both ways, reordering by holding frames back, a few drops. */
const tamperReorder = relayAttack(
  'tamper-reorder',
  'the relay flips bits in frames both ways, holds frames back so that they arrive out of order, and drops a few',
  'G3 (INV-2), G5 (INV-1), linearizability (INV-5): a tampered frame fails authentication and changes no record',
  () => ({
    onClientFrame(r, client, _credential, to, frame) {
      const send = (f: Frame) => {
        if (!chance(r.rng, 0.4)) return r.forward(client, to, f);
        r.attacks++;
        r.later(randomBetween(r.rng, 1, 250), () => r.forward(client, to, f));
      };
      if (chance(r.rng, 0.05)) {
        r.attacks++;
        return;
      }
      if (chance(r.rng, 0.2)) {
        r.attacks++;
        return send({ ...frame, bytes: flip(r.rng, frame.bytes) });
      }
      send(frame);
    },
    onReplicaFrame(r, client, frame, from) {
      if (chance(r.rng, 0.15)) {
        r.attacks++;
        return r.deliver(client, { ...frame, bytes: flip(r.rng, frame.bytes) }, from);
      }
      if (chance(r.rng, 0.3)) {
        r.attacks++;
        return r.later(randomBetween(r.rng, 1, 250), () => r.deliver(client, frame, from));
      }
      r.deliver(client, frame, from);
    },
  }),
  (rng, seed) => honestTraffic(rng, seed),
);

const probeUnknown = scenarioAttack(
  'probe-unknown',
  'attackers probe credentials that were never registered (recoveries and abandoned sessions), ' +
    'next to a registered one',
  'an unknown credential answers like a wrong password or Locked (fake KE2, spec ch. 5.5): ' +
    'linearizable against an unregistered record (INV-5); nothing is registered',
  (rng, seed) => ({
    seed,
    n: pick(rng, [3, 5]),
    faults: [],
    clients: [
      owner('known', 3),
      ...guessers(rng, 'known', 1, 2, 300, 100),
      ...guessers(rng, 'ghost-1', 2, 4, 0, 400),
      ...guessers(rng, 'ghost-2', 1, 3, 200, 200),
    ],
    faultWindowMs: 2500,
    network: { maxDelayMs: 8 },
  }),
  (_s, r) => {
    const registered = r.fleet.events.filter((e) => e.type === 'Registered').length;
    return registered === 1
      ? null
      : { invariant: 'INV-5', detail: `${registered} registrations recorded for 1 registered credential` };
  },
);

const FRAME_KINDS: readonly FrameKind[] = ['Handshake1', 'Handshake2', 'Transport', 'Alert'];
const SIZES = [0, 1, 31, 32, 33, 64, 200, 2000];

/** Garbage and mangled frames of every kind at every replica, plus tampered peer messages. */
const malformedInput = relayAttack(
  'malformed-input',
  'the relay sends garbage, truncated and extended frames of every kind to every replica, ' +
    'on new and on live channels; the network tampers with replica-to-replica messages',
  'bad input gets an Alert with a closed code and changes no state: ' +
    'Raft safety and record invariants after every step, G1-G5, linearizability',
  () => {
    const live: Frame[] = [];
    return {
      start(r: HostileRelay) {
        for (let at = 10; at < 2400; at += randomBetween(r.rng, 5, 30)) {
          r.later(at, () => {
            const base = live.length > 0 && chance(r.rng, 0.5) ? pick(r.rng, live) : null;
            const kind = pick(r.rng, FRAME_KINDS);
            let bytes: Bytes;
            if (base && chance(r.rng, 0.5)) {
              // never the whole frame (that would be a replay)
              const cut = randomBetween(r.rng, 0, Math.max(0, base.bytes.length - 1));
              bytes = chance(r.rng, 0.5)
                ? base.bytes.slice(0, cut)
                : Uint8Array.from([...base.bytes, ...randomBytes(r.rng, randomBetween(r.rng, 1, 64))]);
            } else bytes = randomBytes(r.rng, pick(r.rng, SIZES));
            const channel = base && chance(r.rng, 0.5) ? base.channel : `junk-${randomInt(r.rng, 1 << 30)}`;
            r.inject(randomInt(r.rng, r.fleet.n), {
              channel,
              kind: base && chance(r.rng, 0.5) ? base.kind : kind,
              bytes,
            });
          });
        }
      },
      onClientFrame(r, client, _credential, to, frame) {
        live.push(frame);
        r.forward(client, to, frame);
      },
    };
  },
  (rng, seed) => ({ ...honestTraffic(rng, seed), network: { maxDelayMs: 10, tamperRate: 0.05 } }),
);

/**
 * Parallel sessions opened at once and abandoned after KE2, across a leader crash (see spec ch. 13
 * on Davies et al.).
 */
const parallelAbandoned = scenarioAttack(
  'parallel-abandoned-sessions',
  'a corrupted server opens many sessions on one record at the same moment and abandons each after KE2 ' +
    '(no KE3, no verdict), across a leader crash: ' +
    'extra guesses if the count were taken at KE3 or per completed login',
  'G1, G2, G5 (INV-1, INV-3): the guess is spent before the KE2 leaves, whether or not a KE3 ever comes',
  (rng, seed) => {
    const n = pick(rng, [3, 5]);
    const limit = randomBetween(rng, 1, 3);
    const clients: ClientScript[] = [owner('victim', limit)];
    for (let a = 0; a < 6; a++)
      clients.push({
        name: `attacker/victim.${a}`,
        credential: 'victim',
        startAt: 600,
        ops: [{ kind: 'probe' }, { kind: 'probe' }],
      });
    const faults = crashes(rng, n, 2, 1500).map((f) => ({ ...f, at: 600 + (f.at % 300) }));
    return { seed, n, faults, clients, faultWindowMs: 2500, network: { maxDelayMs: 8 } };
  },
  answeredWithinLimit,
);

/** Fleet-key substitution and a forged artifact: the client's bundle validation (src/client/bundle.ts). */
const forgedBundle: Attack = {
  name: 'forged-bundle',
  summary:
    "the host serves another fleet's artifact (fleet-key substitution), " +
    "or the real artifact with its channel or OPAQUE server key swapped for the attacker's",
  property:
    'a pinned client accepts only its pinned keys (KeyNotPinned); it never opens a channel to a substituted key',
  expect: 'pass',
  run(seed) {
    const rng = seededRng(`attack/forged-bundle/${seed}`);
    const suite = getSuite('ristretto255-SHA512');
    const artifactOf = (prefix: string) => {
      const { deployment } = deployReplicatedFleet(
        [0, 1, 2].map((i) => MemoryHsm.create(`${prefix}-${i}`, rng)),
        suite,
        prefix,
        rng,
      );
      return createArtifact(deployment.evidence, { issuedAt: 0, channelProtocol: 'Noise_NK_25519_AESGCM_SHA256' });
    };
    const real = artifactOf(`real-${seed}`);
    const impostor = artifactOf(`impostor-${seed}`);
    const pins = computePins(encodeArtifact(real));
    const attacker = toHex(randomBytes(rng, 32));
    const swap = (role: string) =>
      encodeArtifact({
        ...real,
        keys: real.keys.map((k) => (k.role === role ? { ...k, key: { ...k.key, publicKey: attacker } } : k)),
      });
    const forgeries: [string, string][] = [
      ['impostor fleet', encodeArtifact(impostor)],
      ['channel key swapped', swap('channel')],
      ['OPAQUE server key swapped', swap('opaque-server')],
    ];
    const accepted: string[] = [];
    for (const [what, text] of forgeries) {
      try {
        validatePinned(pins, text);
        accepted.push(what);
      } catch (e) {
        if (!isVaultError(e, 'KeyNotPinned')) accepted.push(`${what} (${String(e)})`);
      }
    }
    let control = true;
    try {
      validatePinned(pins, encodeArtifact(real));
    } catch {
      control = false;
    }
    const violation =
      accepted.length > 0
        ? { invariant: 'BUNDLE', detail: `accepted: ${accepted.join(', ')}` }
        : control
          ? null
          : { invariant: 'BUNDLE', detail: 'the genuine artifact was refused' };
    return {
      ok: violation === null,
      violation,
      steps: forgeries.length + 1,
      faults: 0,
      attacks: forgeries.length,
      schedule: `forgeries: ${forgeries.map((f) => f[0]).join(', ')}`,
      trace: [],
      history: [],
    };
  },
};

/**
 * Jepsen's partition at a write: as the relay forwards a client's write (the first Transport frame
 * of a channel: RegisterFinish, KE3, RecoverAbort) to the leader, the host cuts that replica off
 * from the others; it heals 300-900 ms later. The first write, then a quarter of them.
 */
const isolateOnWrite = relayAttack(
  'isolate-on-write',
  "the host cuts the replica a client's write (RegisterFinish, KE3, RecoverAbort) goes to off " +
    'from the other replicas as the write arrives, and heals 300-900 ms later',
  'INV-6: the isolated leader cannot commit the write, so it must not acknowledge it; ' +
    'a new leader takes over without it; INV-2, INV-5',
  () => {
    const written = new Set<string>();
    let isolating = false;
    return {
      onClientFrame(r, client, _credential, to, frame) {
        if (frame.kind === 'Transport' && !written.has(frame.channel)) {
          written.add(frame.channel);
          if (!isolating && (written.size === 1 || chance(r.rng, 0.25))) {
            isolating = true;
            r.attacks++;
            r.fleet.inject({ type: 'Partition', groups: [[to]] });
            r.later(randomBetween(r.rng, 300, 900), () => {
              r.fleet.inject({ type: 'Heal' });
              isolating = false;
            });
          }
        }
        r.forward(client, to, frame);
      },
    };
  },
  (rng, seed) => honestTraffic(rng, seed),
);

/** In priority order (spec ch. 13). */
export const ATTACKS: readonly Attack[] = [
  bruteForce,
  partitionLeaders,
  rollbackF,
  rollbackFPlus1,
  dropGuessEntry,
  replayKe,
  ke3OtherSession,
  tamperReorder,
  probeUnknown,
  malformedInput,
  forgedBundle,
  parallelAbandoned,
  isolateOnWrite,
  storageFork,
  storageForkFleet,
  storageForkSiblings,
];

export function getAttack(name: string): Attack {
  const a = ATTACKS.find((x) => x.name === name);
  if (!a) throw new RangeError(`no attack ${name} (known: ${ATTACKS.map((x) => x.name).join(', ')})`);
  return a;
}
