/**
 * `npx bkv conform --vault "<cmd>"` and `--client "<cmd>"`: runs another implementation through
 * the adapter protocol against bkv's vectors and randomized scenarios, and reports each check.
 * @module
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { type Bytes, toHex, utf8 } from '../crypto/bytes.ts';
import { randomInt, seededRng } from '../crypto/rng.ts';
import { getSuite, type SuiteId } from '../crypto/suite.ts';
import { canonicalJson, DEFAULT_GUESS_LIMIT } from '../vault/records.ts';
import type { RecordVector } from '../vectors/records.ts';
import type { DecodingCase } from '../vectors/decoding.ts';
import { BkvClient, type Relay } from '../client/client.ts';
import { type Outcome, onRecoverResponse, startRecovery } from '../client/session.ts';
import { MemoryHsm } from '../hsm/memory.ts';
import { createSingleReplicaVault, pinnedContext, vaultConfig } from '../vault/setup.ts';
import { generateVaultKeys, publicKeyBytes } from '../vault/imported-keys.ts';
import { initiatorStart, initiatorFinish } from '../crypto/noise.ts';
import { decodeResponse } from '../vault/protocol.ts';
import { fromWire, toWire, type WireFrame, type WireResult } from './adapter-protocol.ts';
import { LineChannel } from './lines.ts';
import { afterAbandon, afterRecover, type CredentialModel, expectRecover } from './oracle.ts';
import { fromHex } from '../crypto/bytes.ts';

export interface ConformOptions {
  readonly command: string;
  readonly suite: SuiteId;
  readonly runs: number;
  readonly seed: string;
  readonly vectorsDir: string;
  readonly print: (line: string) => void;
  /** How long to wait for each answer of the adapter (default DEFAULT_ADAPTER_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** What a conformance run found: the checks passed and failed, each failure named. */
export interface ConformResult {
  readonly passed: number;
  readonly failed: number;
  readonly failures: { readonly check: string; readonly detail: string }[];
}

interface Tally {
  passed: number;
  failed: number;
  readonly failures: { check: string; detail: string }[];
}

const newTally = (): Tally => ({ passed: 0, failed: 0, failures: [] });

function check(t: Tally, print: (l: string) => void, name: string, ok: boolean, detail = ''): void {
  if (ok) t.passed++;
  else t.failed++;
  if (!ok) {
    t.failures.push({ check: name, detail });
    print(`  FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
}

function readVectors<T>(dir: string, file: string): T[] {
  return (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { vectors: T[] }).vectors;
}

const TTL = 60_000;

// ------------------------------------------------------------------------------------------------
// Vault conformance: bkv plays the clients

export async function conformVault(o: ConformOptions): Promise<ConformResult> {
  const { print } = o;
  const t = newTally();
  const suite = getSuite(o.suite);
  const rng = seededRng(`conform ${o.seed}`);
  const ch = new LineChannel(o.command, o.timeoutMs);
  let now = 1_000;
  try {
    const { keys, publicKeys } = generateVaultKeys(suite, rng);
    const init = await ch.request<{
      ok: boolean;
      opaqueServerPublicKey: string;
      channelPublicKey: string;
      error?: string;
    }>({ op: 'init', suite: o.suite, keys, sessionTtlMs: TTL });
    check(t, print, 'init', init.ok, init.error);
    check(
      t,
      print,
      'init: public keys match the private keys',
      init.opaqueServerPublicKey === publicKeys.opaqueServerPublicKey &&
        init.channelPublicKey === publicKeys.channelPublicKey,
    );
    const ctx = pinnedContext(vaultConfig({ suite }), publicKeyBytes(publicKeys));
    const deliver = async (f: import('../vault/protocol.ts').Frame) => {
      const r = await ch.request<{ ok: boolean; frames: WireFrame[]; error?: string }>({
        op: 'frame',
        now,
        frame: toWire(f),
      });
      if (!r.ok) throw new Error(`adapter refused a frame: ${r.error}`);
      return r.frames.map(fromWire);
    };
    const relay: Relay = {
      exchange: async (f) => (await deliver(f)).find((x) => x.channel === f.channel) ?? null,
      post: async (f) => void (await deliver(f)),
    };
    const client = new BkvClient(ctx, relay, rng);

    // 1. record-rule vectors through "apply"
    print('record-rule vectors (op apply)');
    for (const v of readVectors<RecordVector>(o.vectorsDir, 'records.json')) {
      let state = v.pre;
      for (const [i, s] of v.steps.entries()) {
        const r = await ch.request<{ ok: boolean; outcome: unknown; post: unknown }>({
          op: 'apply',
          pre: state,
          command: s.command,
        });
        const want = {
          valid: s.valid,
          ...(s.code && { code: s.code }),
          ...(s.triesRemaining !== undefined && { triesRemaining: s.triesRemaining }),
          ...(s.status && { status: s.status }),
        };
        check(
          t,
          print,
          `records ${v.name} step ${i}`,
          r.ok && canonicalJson(r.outcome) === canonicalJson(want),
          `expected ${canonicalJson(want)}, got ${canonicalJson(r.outcome)}`,
        );
        state = r.post as typeof state;
      }
      check(t, print, `records ${v.name} post`, canonicalJson(state) === canonicalJson(v.post));
    }

    // 2. decoding vectors: each request as the first message of a channel
    print('decoding vectors (first message of a channel)');
    for (const c of readVectors<DecodingCase>(o.vectorsDir, 'decoding.json').filter(
      (c) => c.suite === o.suite && (!c.valid || /Start valid/.test(c.name)),
    )) {
      const { message, state } = initiatorStart(ctx.noise, {
        responderStatic: ctx.channelKey,
        prologue: ctx.prologue,
        payload: fromHex(c.bytes),
        rng,
      });
      const channel = toHex(rng(8));
      const frames = await deliver({ channel, kind: 'Handshake1', bytes: message });
      const reply = frames.find((f) => f.channel === channel);
      let code: string | null = null;
      if (reply?.kind === 'Handshake2') {
        const r = decodeResponse(suite, initiatorFinish(state, reply.bytes).payload);
        code = r.type === 'Error' ? r.code : null;
      } else if (reply?.kind === 'Alert') code = new TextDecoder().decode(reply.bytes);
      if (c.valid)
        check(t, print, `decoding "${c.name}"`, code === null || code === 'RecordNotFound', `refused with ${code}`);
      else
        check(
          t,
          print,
          `decoding "${c.name}"`,
          code === c.code,
          `expected ${c.code}, got ${code ?? (reply ? 'an answer' : 'no answer')}`,
        );
    }

    // 3. randomized scenarios against the oracle
    print(`randomized scenarios: ${o.runs} runs, seed "${o.seed}"`);
    let steps = 0;
    const models = new Map<string, CredentialModel>();
    const ids = ['alice', 'bob', 'carol'].map((n) => utf8(n));
    for (let run = 0; run < o.runs; run++) {
      const id = ids[randomInt(rng, ids.length)]!;
      const idHex = toHex(id);
      const action = randomInt(rng, 10);
      steps++;
      const m = models.get(idHex);
      if (action === 0 || !m) {
        const limit = 1 + randomInt(rng, 4);
        const password = `pw-${run}`;
        const key = rng(32);
        const r = await client.register(id, utf8(password), key, limit);
        check(t, print, `run ${run}: register ${idHex} limit ${limit}`, r.ok, describe(r));
        if (r.ok) models.set(idHex, { limit, used: 0, pending: 0, password, key: toHex(key) });
      } else if (action <= 5) {
        const password = action <= 2 ? m.password : `wrong-${run}`;
        const expected = expectRecover(m, password);
        const r = await client.recover(id, utf8(password));
        check(
          t,
          print,
          `run ${run}: recover ${idHex} (${password === m.password ? 'right' : 'wrong'})`,
          matches(r, expected),
          `expected ${JSON.stringify(expected)}, got ${describe(r)}`,
        );
        afterRecover(m, expected);
      } else if (action <= 7) {
        // abandon after KE2: the guess stays spent
        const start = startRecovery(ctx, id, utf8(`abandon-${run}`), rng);
        const answer = await relay.exchange(start.frame);
        const next = answer ? onRecoverResponse(ctx, start.session, answer) : null;
        const locked = m.used >= m.limit;
        const refusedAsLocked =
          next !== null && !('frame' in next) && !next.outcome.ok && next.outcome.kind === 'Locked';
        const gotKe2 = next !== null && 'frame' in next;
        check(t, print, `run ${run}: abandon after KE2 ${idHex}`, locked ? refusedAsLocked : gotKe2);
        afterAbandon(m);
      } else if (action === 8) {
        now += TTL + 1;
        const r = await ch.request<{ ok: boolean }>({ op: 'expire', now });
        check(t, print, `run ${run}: expire`, r.ok);
        for (const mm of models.values()) mm.pending = 0;
      } else {
        const r = await ch.request<{ ok: boolean }>({ op: 'restart' });
        check(t, print, `run ${run}: restart`, r.ok);
      }
      now += 10;
    }
    print(`  ${steps} scenario steps`);
  } catch (e) {
    check(t, print, 'adapter conversation', false, (e as Error).message);
  } finally {
    await ch.close();
  }
  return summarize(t, print);
}

function summarize(t: Tally, print: (l: string) => void): ConformResult {
  print(`${t.passed} passed, ${t.failed} failed`);
  return { passed: t.passed, failed: t.failed, failures: t.failures };
}

function describe(o: Outcome<unknown>): string {
  return o.ok
    ? 'ok'
    : o.kind === 'WrongPassword'
      ? `WrongPassword(${o.triesRemaining})`
      : o.kind === 'Fault'
        ? `Fault(${o.code})`
        : o.kind;
}

function matches(o: Outcome<Bytes>, e: ReturnType<typeof expectRecover>): boolean {
  switch (e.kind) {
    case 'Recovered':
      return o.ok && toHex(o.value) === e.key;
    case 'WrongPassword':
      return !o.ok && o.kind === 'WrongPassword' && o.triesRemaining === e.triesRemaining;
    case 'Locked':
      return !o.ok && o.kind === 'Locked';
    case 'WrongPasswordFake':
      return !o.ok && (o.kind === 'WrongPassword' || o.kind === 'Locked');
  }
}

// ------------------------------------------------------------------------------------------------
// Client conformance: bkv plays the vault

export async function conformClient(o: ConformOptions): Promise<ConformResult> {
  const { print } = o;
  const t = newTally();
  const suite = getSuite(o.suite);
  const rng = seededRng(`conform client ${o.seed}`);
  const hsm = MemoryHsm.create('conform', rng);
  const { vault, client: ctx } = createSingleReplicaVault(hsm, rng, () => 0, { suite });
  const ch = new LineChannel(o.command, o.timeoutMs);
  // one adapter operation: answer its {"send"} lines through the vault until its result
  const operate = async (m: unknown): Promise<WireResult> => {
    ch.send(m);
    for (;;) {
      const line = await ch.receive<{ send?: WireFrame; ok?: boolean; result?: WireResult; error?: string }>();
      if (line.send) {
        const f = fromWire(line.send);
        const out = vault.deliver(f).find((x) => x.channel === f.channel);
        ch.send({ frame: out ? toWire(out) : null });
        continue;
      }
      if (!line.ok || !line.result) throw new Error(`adapter error: ${line.error ?? 'no result'}`);
      return line.result;
    }
  };
  try {
    const init = await ch.request<{ ok: boolean; error?: string }>({
      op: 'init',
      suite: o.suite,
      channelPublicKey: toHex(ctx.channelKey),
      opaqueServerPublicKey: toHex(ctx.opaqueServerKey),
      seed: o.seed,
    });
    check(t, print, 'init', init.ok, init.error);
    for (let run = 0; run < Math.max(1, Math.floor(o.runs / 10)); run++) {
      const id = toHex(utf8(`user-${run}`));
      const key = toHex(rng(32));
      const limit = 2 + randomInt(rng, 3);
      const reg = await operate({
        op: 'register',
        credentialId: id,
        password: toHex(utf8('right')),
        key,
        guessLimit: limit,
      });
      check(t, print, `user ${run}: register`, reg.ok);
      const wrong = await operate({ op: 'recover', credentialId: id, password: toHex(utf8('wrong')) });
      check(
        t,
        print,
        `user ${run}: wrong password`,
        !wrong.ok && wrong.kind === 'WrongPassword' && wrong.triesRemaining === limit - 1,
        JSON.stringify(wrong),
      );
      const right = await operate({ op: 'recover', credentialId: id, password: toHex(utf8('right')) });
      check(t, print, `user ${run}: right password recovers K`, right.ok && right.key === key, JSON.stringify(right));
      for (let i = 0; i < limit; i++)
        await operate({ op: 'recover', credentialId: id, password: toHex(utf8(`guess ${i}`)) });
      const locked = await operate({ op: 'recover', credentialId: id, password: toHex(utf8('right')) });
      check(
        t,
        print,
        `user ${run}: locked after ${limit} wrong guesses`,
        !locked.ok && locked.kind === 'Locked',
        JSON.stringify(locked),
      );
      check(
        t,
        print,
        `user ${run}: the vault erased the record`,
        vault.state.records[id]?.status === 'Exhausted' && vault.state.records[id]?.sealedPayload === null,
      );
    }
  } catch (e) {
    check(t, print, 'adapter conversation', false, (e as Error).message);
  } finally {
    await ch.close();
  }
  return summarize(t, print);
}

export const DEFAULT_CONFORM_RUNS = DEFAULT_GUESS_LIMIT * 10;
