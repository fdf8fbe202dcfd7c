/**
 * Bench suite `peers`: the OPAQUE implementations a user of bkv would pick instead, in the same
 * run and in the closest configuration each allows (devDependencies only, never runtime ones).
 *
 * - @serenity-kit/opaque: facebook/opaque-ke compiled to wasm; ristretto255, 3DH, SHA-512, like
 *   bkv's default suite. Its KSF is always Argon2id: the lightest it accepts is
 *   `argon2id-custom` t=1, m=8 KiB, p=1 (the same as bkv's `crypto/opaque/.../Argon2id(t=1,m=8,p=1)`
 *   row, so that pair is like for like). Its API passes base64url strings: the encoding is in
 *   its figures, as bkv's wire encoding is in bkv's.
 * - @cloudflare/opaque-ts: pure TypeScript over WebCrypto and @cloudflare/voprf-ts; it implements
 *   draft-irtf-cfrg-opaque-07 (not RFC 9807) and offers P-256/384/521 only: P-256 with its
 *   identity "memory hard function" is its closest configuration (compare it with bkv's
 *   `P256-SHA256` row, and bkv's ristretto255 rows for what a user gets).
 *
 * For each: one whole login (client + server) and the server side alone (the same login, timing
 * only the server's calls). A peer that fails to load is reported as skipped, with the reason.
 * @module
 */
import { type BenchSuite, type BenchTask, check } from '../harness.ts';
import { installedVersion } from '../machine.ts';

const PASSWORD = 'correct horse battery staple';
const USER = 'alice@example';
const SERVER = 'bkv-bench-server';

async function serenityTasks(): Promise<{ tasks: BenchTask[]; info: Record<string, unknown> }> {
  const opaque = await import('@serenity-kit/opaque');
  await opaque.ready;
  const keyStretching = { 'argon2id-custom': { iterations: 1, memory: 8, parallelism: 1 } } as const;
  const serverSetup = opaque.server.createSetup();
  const r1 = opaque.client.startRegistration({ password: PASSWORD });
  const r2 = opaque.server.createRegistrationResponse({
    serverSetup,
    userIdentifier: USER,
    registrationRequest: r1.registrationRequest,
  });
  const { registrationRecord } = opaque.client.finishRegistration({
    clientRegistrationState: r1.clientRegistrationState,
    registrationResponse: r2.registrationResponse,
    password: PASSWORD,
    keyStretching,
  });
  /** One login; returns the ms spent in the server's two calls. */
  const login = (): number => {
    const c1 = opaque.client.startLogin({ password: PASSWORD });
    const t0 = performance.now();
    const s1 = opaque.server.startLogin({
      serverSetup,
      userIdentifier: USER,
      registrationRecord,
      startLoginRequest: c1.startLoginRequest,
    });
    const t1 = performance.now();
    const c2 = opaque.client.finishLogin({
      clientLoginState: c1.clientLoginState,
      loginResponse: s1.loginResponse,
      password: PASSWORD,
      keyStretching,
    });
    check(c2 !== undefined, 'serenity: login failed');
    const t2 = performance.now();
    const s2 = opaque.server.finishLogin({
      serverLoginState: s1.serverLoginState,
      finishLoginRequest: c2.finishLoginRequest,
    });
    const t3 = performance.now();
    check(s2.sessionKey === c2.sessionKey, 'serenity: session keys differ');
    return t1 - t0 + (t3 - t2);
  };
  const config = 'ristretto255, 3DH, SHA-512, KSF argon2id-custom t=1 m=8 KiB p=1';
  return {
    tasks: [
      {
        id: 'peers/serenity/login',
        name: '@serenity-kit/opaque (opaque-ke wasm): whole login',
        fn: login,
        note: config,
      },
      {
        id: 'peers/serenity/server-side',
        name: '@serenity-kit/opaque (opaque-ke wasm): server side',
        fn: () => ({ overriddenDuration: login() }),
        note: 'server startLogin + finishLogin',
      },
    ],
    info: { package: '@serenity-kit/opaque', version: installedVersion('@serenity-kit/opaque'), config },
  };
}

async function cloudflareTasks(): Promise<{ tasks: BenchTask[]; info: Record<string, unknown> }> {
  const { OpaqueClient, OpaqueServer, OpaqueID, getOpaqueConfig, IdentityMemHardFn } = await import(
    '@cloudflare/opaque-ts'
  );
  const cfg = getOpaqueConfig(OpaqueID.OPAQUE_P256);
  const server = new OpaqueServer(cfg, cfg.prng.random(cfg.hash.Nh), await cfg.ake.generateAuthKeyPair(), SERVER);
  const reg = new OpaqueClient(cfg, IdentityMemHardFn);
  const req = await reg.registerInit(PASSWORD);
  if (req instanceof Error) throw req;
  const res = await server.registerInit(req, USER);
  if (res instanceof Error) throw res;
  const rec = await reg.registerFinish(res, SERVER, USER);
  if (rec instanceof Error) throw rec;
  const login = async (): Promise<number> => {
    const client = new OpaqueClient(cfg, IdentityMemHardFn);
    const ke1 = await client.authInit(PASSWORD);
    if (ke1 instanceof Error) throw ke1;
    const t0 = performance.now();
    const s1 = await server.authInit(ke1, rec.record, USER, USER);
    const t1 = performance.now();
    if (s1 instanceof Error) throw s1;
    const c2 = await client.authFinish(s1.ke2, SERVER, USER);
    if (c2 instanceof Error) throw c2;
    const t2 = performance.now();
    const s2 = server.authFinish(c2.ke3, s1.expected);
    const t3 = performance.now();
    if (s2 instanceof Error) throw s2;
    check(
      s2.session_key.length > 0 && s2.session_key.every((b, i) => b === c2.session_key[i]),
      'opaque-ts: session keys differ',
    );
    return t1 - t0 + (t3 - t2);
  };
  const config = 'P-256, 3DH, SHA-256, IdentityMemHardFn (draft-07)';
  // about 0.2 s a login on this machine class: a handful of iterations is enough
  return {
    tasks: [
      {
        id: 'peers/opaque-ts/login',
        name: '@cloudflare/opaque-ts (P-256): whole login',
        fn: login,
        iterations: 5,
        time: 0,
        note: config,
      },
      {
        id: 'peers/opaque-ts/server-side',
        name: '@cloudflare/opaque-ts (P-256): server side',
        fn: async () => ({ overriddenDuration: await login() }),
        iterations: 5,
        time: 0,
        note: 'server authInit + authFinish',
      },
    ],
    info: { package: '@cloudflare/opaque-ts', version: installedVersion('@cloudflare/opaque-ts'), config },
  };
}

export const peersSuite: BenchSuite = {
  id: 'peers',
  title: 'peer OPAQUE implementations (same run)',
  async open(ctx) {
    const tasks: BenchTask[] = [];
    const info: Record<string, unknown> = {};
    const skipped: Record<string, string> = {};
    for (const [name, load] of [
      ['serenity', serenityTasks],
      ['opaque-ts', cloudflareTasks],
    ] as const) {
      try {
        const r = await load();
        tasks.push(...r.tasks);
        info[name] = r.info;
      } catch (e) {
        skipped[name] = (e as Error).message;
        ctx.log(`peers: ${name} skipped: ${(e as Error).message}`);
      }
    }
    return { tasks, info: { ...info, skipped }, dispose: () => {} };
  },
};
