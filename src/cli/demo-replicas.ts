/**
 * `bkv demo --replicas N`: the demo story on a replicated fleet (spec ch. 6), in the simulator
 * (simulated network and clock, seeded), on memory HSMs or SoftHSM tokens. Register K; two wrong
 * passwords; a recovery with the right password whose leader crashes after the ConsumeGuess entry
 * is committed and the KE2 has left, before the KE3 arrives; a new leader is elected and ends the
 * orphaned session; the client retries and recovers K. The crashed attempt counts as exactly one
 * spent guess: the budget is the one a crash-free run would show after three attempts.
 * @module
 */
import { toHex, utf8 } from '../crypto/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { getSuite } from '../crypto/suite.ts';
import { BkvClient, generateBackupKey } from '../client/client.ts';
import { type Outcome, describeOutcome, onRecoverResponse, onReleased, startRecovery } from '../client/session.ts';
import { checkBudget } from '../check/budget.ts';
import type { Hsm } from '../hsm/hsm.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { vaultConfig } from '../vault/setup.ts';
import type { Command } from '../vault/records.ts';
import { SimFleet } from '../sim/fleet.ts';
import { deployReplicatedFleet } from '../replication/provision.ts';
import { checkFleetSize, snapshotIndex } from '../replication/raft.ts';
import { sealsEntry } from '../check/invariants.ts';
import { FleetRelay } from '../sim/relay.ts';
import { isConverged } from '../sim/scenario.ts';

export interface DemoReplicasOptions {
  readonly replicas: number;
  readonly hsm: 'memory' | 'softhsm';
  readonly seed?: string;
  readonly print: (line: string) => void;
}

export async function demoReplicas(o: DemoReplicasOptions): Promise<number> {
  const { print } = o;
  const n = checkFleetSize(o.replicas);
  const seed = o.seed ?? 'bkv demo --replicas';
  const rng = seededRng(seed);
  const suite = getSuite(o.hsm === 'softhsm' ? 'ristretto255-SHA512+Curve25519' : 'ristretto255-SHA512');
  let hsms: Hsm[];
  let dispose = () => {};
  if (o.hsm === 'softhsm') {
    const { createPrivateTokens } = await import('../hsm/private-tokens.ts');
    const names = Array.from({ length: n }, (_, i) => `bkv-demo-${i}`);
    const tokens = createPrivateTokens(names);
    print(`SoftHSM: ${n} tokens in a private token directory ${tokens.dir}`);
    try {
      hsms = names.map((t) => tokens.open(t));
    } catch (e) {
      tokens.dispose(); // a failed start leaves no directory behind
      throw e;
    }
    dispose = () => {
      for (const h of hsms) h.close();
      tokens.dispose();
    };
  } else {
    hsms = Array.from({ length: n }, (_, i) => MemoryHsm.create(`replica-${i}`, rng));
  }
  try {
    const t0 = performance.now();
    const { labels, deployment } = deployReplicatedFleet(hsms, suite, 'bkv', rng);
    const config = vaultConfig({ suite, labels });
    const fleet = new SimFleet({ hsms, labels, config, seed, network: { minDelayMs: 2, maxDelayMs: 8 } });
    const ms = () => `${fleet.now} ms`;
    const user = utf8('alice@example');
    const cid = toHex(user);
    const password = utf8('correct horse battery staple');
    const attempts = () =>
      fleet
        .replicas()
        .map(
          (r) => `r${r.id} ${r.state === null ? 'down' : String(r.state.node.vault.records[cid]?.attemptsUsed ?? '-')}`,
        )
        .join(', ');
    const sealedOn = (index: number, term: number) =>
      fleet.replicas().filter((r) => sealsEntry(r.sealed, index, term)).length;

    print(
      `1. A fleet of ${n} HSM replicas (${hsms[0]!.backend}), suite ${suite.id}, ` +
        `simulated network (2-8 ms per message)`,
    );
    print(
      `   deployed by the ceremony of ch. 7 (${deployment.evidence.transport}, ` +
        `${deployment.evidence.events.length} attested steps): fleet secrets generated in r0, wrapped to every replica`,
    );
    print('   each replica seals its host state with its own HSM key; its term and vote are kept in an HSM counter');
    print(
      `   replica-to-replica messages carry an HMAC-SHA256 under the fleet key; ` +
        `consensus: Raft-style, commit at ${Math.floor(n / 2) + 1} of ${n}`,
    );
    fleet.runUntil(() => fleet.leader() !== null, 10_000);
    const first = fleet.leader();
    if (first === null) return fail(print, 'no leader elected');
    print(
      `2. r${first} is elected leader of term ${fleet.replica(first).state!.raft.durable.currentTerm} ` +
        `(at ${fleet.leaderLog.at(-1)!.at} ms)`,
    );

    const relay = new FleetRelay(fleet);
    const client = new BkvClient(fleet.clientContext, relay, rng);
    const K = generateBackupKey(rng);
    const reg = await client.register(user, password, K);
    const regIndex = findLast(fleet, relay.leaderGuess, (c) => c.type === 'Register' && c.credentialId === cid);
    print(`3. register K (${toHex(K).slice(0, 16)}…) under the password, guess limit 10: ${describeOutcome(reg)}`);
    if (regIndex)
      print(
        `   the Register entry is at log index ${regIndex.index}, ` +
          `sealed on ${sealedOn(regIndex.index, regIndex.term)} of ${n} replicas`,
      );
    if (!reg.ok) return fail(print, 'registration failed');

    print('4. two wrong passwords');
    for (const wrong of ['123456', 'password'])
      print(`   "${wrong}": ${describeOutcome(await client.recover(user, utf8(wrong)))}`);
    print(`   attempts used: ${attempts()}`);

    print('5. the right password; the leader crashes in the middle of the recovery');
    const crashed = startRecovery(fleet.clientContext, user, password, rng);
    const ke2 = relay.exchangeNow(crashed.frame);
    const leader = relay.replicaOf(crashed.frame.channel);
    if (ke2 === null || leader === undefined) return fail(print, 'no KE2');
    const consume = findLast(fleet, leader, (c) => c.type === 'ConsumeGuess' && c.credentialId === cid)!;
    const left = fleet.ke2Log.at(-1)!;
    print(
      `   KE1 -> r${leader}: ConsumeGuess at log index ${consume.index}; ` +
        `the KE2 left once it was sealed on ${left.sealedOn} of ${n} replicas (G1)`,
    );
    const ke3 = onRecoverResponse(fleet.clientContext, crashed.session, ke2);
    if (!('frame' in ke3) || ke3.outcome) return fail(print, 'the envelope did not open');
    print(`   the client opens the envelope and sends KE3 ... but r${leader} crashes first (${ms()})`);
    fleet.inject({ type: 'Crash', replica: leader });
    print(
      `   the ConsumeGuess entry is in the sealed logs of ${sealedOn(consume.index, consume.term)} of ${n} replicas: ` +
        `committed, whoever leads next`,
    );
    const lost = relay.exchangeNow(ke3.frame);
    print(
      `   KE3: ${lost === null ? 'no answer (the channel died with r' + leader + ')' : 'unexpected answer'}; ` +
        `K was not released`,
    );

    fleet.runUntil(() => fleet.leader() !== null, 10_000);
    const second = fleet.leader();
    if (second === null) return fail(print, 'no new leader');
    print(
      `6. r${second} is elected leader of term ${fleet.replica(second).state!.raft.durable.currentTerm} ` +
        `(at ${fleet.leaderLog.at(-1)!.at} ms, after an election timeout)`,
    );
    fleet.runUntil(
      () =>
        findLast(fleet, second, (c) => c.type === 'EndSession' && c.credentialId === cid && c.reason === 'expired') !==
        null,
      2000,
    );
    const ended = findLast(
      fleet,
      second,
      (c) => c.type === 'EndSession' && c.credentialId === cid && c.reason === 'expired',
    );
    print(
      `   it commits its first entry, applies the ConsumeGuess, and ends the orphaned session: ` +
        `EndSession(expired) at index ${ended?.index ?? '?'}`,
    );
    print(`   attempts used: ${attempts()}  (the crashed attempt is spent, once: G2)`);
    const afterCrash = fleet.replica(second).state!.node.vault.records[cid]!.attemptsUsed;

    print('7. the client retries with the right password');
    const retry = startRecovery(fleet.clientContext, user, password, rng);
    const ke2b = relay.exchangeNow(retry.frame);
    if (ke2b === null) return fail(print, 'no KE2 on retry');
    const retryAttempts = fleet.replica(relay.replicaOf(retry.frame.channel)!).state!.node.vault.records[cid]!
      .attemptsUsed;
    print(
      `   KE2 from r${relay.replicaOf(retry.frame.channel)}: attempts used ${retryAttempts} of 10 ` +
        `(2 wrong + 1 crashed + this one)`,
    );
    const fin = onRecoverResponse(fleet.clientContext, retry.session, ke2b);
    if (!('frame' in fin) || fin.outcome) return fail(print, 'the envelope did not open on retry');
    const released = relay.exchangeNow(fin.frame);
    const recovered = released ? onReleased(fleet.clientContext, retry.session, released) : null;
    const same = recovered?.ok === true && toHex(recovered.value) === toHex(K);
    print(`   KE3 verified, Reset committed, K released: ${same ? 'identical to the original' : 'NOT RECOVERED'}`);

    print(`8. r${leader} restarts from its sealed state and catches up`);
    fleet.inject({ type: 'Restart', replica: leader });
    fleet.runUntil(() => isConverged(fleet), 10_000);
    print(`   attempts used: ${attempts()}  (reset by the successful recovery)`);
    const budget = checkBudget(fleet.events);
    const s = fleet.stats;
    print(
      `   ${s.steps} simulated steps, ${s.peerMessages} replica messages, ${s.persists} sealed saves, ` +
        `${s.elections} elections, ${fleet.now} ms simulated, ${(performance.now() - t0).toFixed(0)} ms wall`,
    );
    print(
      `   Raft safety and G1 checked after every step; guess budget (G5) over the run: ` +
        `${budget.length === 0 ? 'ok' : budget.map((v) => v.message).join('; ')}`,
    );
    const finalAttempts = fleet.replicas().map((r) => r.state?.node.vault.records[cid]?.attemptsUsed);
    const ok =
      afterCrash === 3 && retryAttempts === 4 && same && budget.length === 0 && finalAttempts.every((a) => a === 0);
    print(
      ok
        ? 'the budget is unchanged by the crash: the crashed attempt counted once, no more, no less'
        : 'UNEXPECTED: see above',
    );
    return ok ? 0 : 1;
  } finally {
    dispose();
  }
}

function fail(print: (line: string) => void, why: string): number {
  print(`demo failed: ${why}`);
  return 1;
}

/** The last entry of replica i's log whose command matches, with its index and term. */
function findLast(
  fleet: SimFleet,
  i: number,
  match: (c: Command) => boolean,
): { index: number; term: number; command: Command } | null {
  const d = fleet.replica(i).state?.raft.durable;
  const log = d?.log ?? [];
  const first = d ? snapshotIndex(d) + 1 : 1;
  for (let k = log.length - 1; k >= 0; k--) {
    const c = log[k]!.command;
    if (c !== null && match(c)) return { index: first + k, term: log[k]!.term, command: c };
  }
  return null;
}
