/**
 * OPAQUE properties over random inputs, for every suite: agreement, wrong passwords, tampering,
 * and total decoders; then the element table (src/vectors/elements.ts): every element position of
 * every message x every bad encoding of its group. Each property is also run against a broken
 * variant to show it can fail.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { type Bytes, toHex } from '../src/crypto/bytes.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { getSuite, SUITE_IDS, type Suite } from '../src/crypto/suite.ts';
import { argon2idKsf } from '../src/crypto/ksf.ts';
import {
  clientFinishLogin,
  clientStartLogin,
  createRegistrationRequest,
  finalizeRegistrationRequest,
  type OpaqueParams,
} from '../src/crypto/opaque-client.ts';
import {
  createRegistrationResponse,
  serverFinishLogin,
  serverStartLogin,
  softwareServerKeys,
  type ServerLoginState,
} from '../src/crypto/opaque-server.ts';
import {
  DECODERS,
  decodeKE2,
  decodeKE3,
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
  messageSizes,
} from '../src/crypto/opaque-messages.ts';
import {
  badElements,
  checkPosition,
  ELEMENT_POSITIONS,
  type ElementPosition,
  groupAt,
  withElement,
} from '../src/vectors/elements.ts';
import { isVaultError, VaultError } from '../src/errors.ts';
import type { Identities } from '../src/crypto/opaque-envelope.ts';

const RUNS = Number(process.env.BKV_PROPERTY_RUNS ?? 15);

function setup(suite: Suite, seed: string, context: Bytes = new Uint8Array(0)) {
  const rng = seededRng(seed);
  const p: OpaqueParams = { suite, context };
  const kp = suite.group.deriveDiffieHellmanKeyPair(rng(32));
  const keys = softwareServerKeys(suite, {
    serverPrivateKey: kp.privateKey,
    serverPublicKey: kp.publicKey,
    oprfSeed: rng(suite.Nh),
  });
  return { rng, p, keys };
}

function register(suite: Suite, seed: string, password: Bytes, credId: Bytes, ids: Identities, context?: Bytes) {
  const s = setup(suite, seed, context);
  const reg = createRegistrationRequest(s.p, password, s.rng);
  const resp = createRegistrationResponse(s.p, s.keys, reg.request, credId);
  const fin = finalizeRegistrationRequest(s.p, reg.state, resp, ids, s.rng);
  return { ...s, record: fin.record, exportKey: fin.exportKey };
}

const password = fc.uint8Array({ maxLength: 40 });
const identity = fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined });
const ids = fc.record({ clientIdentity: identity, serverIdentity: identity }).map((r) => {
  const out: { clientIdentity?: Bytes; serverIdentity?: Bytes } = {};
  if (r.clientIdentity) out.clientIdentity = r.clientIdentity;
  if (r.serverIdentity) out.serverIdentity = r.serverIdentity;
  return out as Identities;
});

describe.each(SUITE_IDS)('%s', (id) => {
  const suite = getSuite(id);

  test('any password, identifiers and context: both sides agree on session key; export key is stable', () => {
    fc.assert(
      fc.property(
        password,
        fc.uint8Array({ minLength: 1, maxLength: 16 }),
        ids,
        fc.uint8Array({ maxLength: 12 }),
        fc.string(),
        (pw, credId, idents, ctx, seed) => {
          const r = register(suite, seed, pw, credId, idents, ctx);
          const login = clientStartLogin(r.p, pw, r.rng);
          const server = serverStartLogin(r.p, r.keys, r.record, credId, login.ke1, idents, r.rng);
          const fin = clientFinishLogin(r.p, login.state, server.ke2, idents);
          expect(toHex(serverFinishLogin(server.state, fin.ke3))).toBe(toHex(fin.sessionKey));
          expect(toHex(fin.exportKey)).toBe(toHex(r.exportKey));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('a wrong password never yields a key: the client fails at the envelope', () => {
    fc.assert(
      fc.property(password, password, fc.string(), (pw, other, seed) => {
        fc.pre(toHex(pw) !== toHex(other));
        const r = register(suite, seed, pw, Uint8Array.of(1), {});
        const login = clientStartLogin(r.p, other, r.rng);
        const server = serverStartLogin(r.p, r.keys, r.record, Uint8Array.of(1), login.ke1, {}, r.rng);
        expect(() => clientFinishLogin(r.p, login.state, server.ke2, {})).toThrow(VaultError);
      }),
      { numRuns: RUNS },
    );
  });

  // one login transcript shared by the tampering properties
  const t = (() => {
    const r = register(suite, 'tamper', Uint8Array.of(1, 2, 3), Uint8Array.of(9), {});
    const login = clientStartLogin(r.p, Uint8Array.of(1, 2, 3), r.rng);
    const server = serverStartLogin(r.p, r.keys, r.record, Uint8Array.of(9), login.ke1, {}, r.rng);
    const fin = clientFinishLogin(r.p, login.state, server.ke2, {});
    return { ...r, login, server, ke2: encodeKE2(server.ke2), ke3: fin.ke3.clientMac };
  })();
  const flip = (b: Bytes, i: number, mask: number) => {
    const c = b.slice();
    c[i % c.length]! ^= mask;
    return c;
  };

  test('any change to any byte of KE2 is rejected by the client', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (i, mask) => {
        const bad = flip(t.ke2, i, mask);
        expect(() => clientFinishLogin(t.p, t.login.state, decodeKE2(suite, bad), {})).toThrow(VaultError);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  const ke3Rejected = (finish: (st: ServerLoginState, ke3: Bytes) => Bytes) =>
    fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (i, mask) => {
      let caught: unknown;
      try {
        finish(t.server.state, flip(t.ke3, i, mask));
      } catch (e) {
        caught = e;
      }
      return isVaultError(caught, 'ClientAuthenticationFailed');
    });

  test('any change to any byte of KE3 is rejected by the server', () => {
    fc.assert(
      ke3Rejected((st, ke3) => serverFinishLogin(st, decodeKE3(suite, ke3))),
      { numRuns: RUNS * 4 },
    );
  });

  test('the KE3 property can fail: a server that compares only the first MAC byte is caught', () => {
    const broken = (st: ServerLoginState, ke3: Bytes) => {
      if (ke3[0] !== st.expectedClientMac[0]) throw new VaultError('ClientAuthenticationFailed');
      return st.sessionKey;
    };
    expect(fc.check(ke3Rejected(broken), { numRuns: 200, seed: 1 }).failed).toBe(true);
  });

  test('every decoder, given arbitrary bytes, decodes or throws a VaultError (never another exception)', () => {
    const sizes = messageSizes(suite);
    const lengthOf: Record<keyof typeof DECODERS, number> = {
      RegistrationRequest: sizes.registrationRequest,
      RegistrationResponse: sizes.registrationResponse,
      RegistrationRecord: sizes.registrationRecord,
      KE1: sizes.ke1,
      KE2: sizes.ke2,
      KE3: sizes.ke3,
    };
    for (const [name, decode] of Object.entries(DECODERS) as [
      keyof typeof DECODERS,
      (s: Suite, b: Bytes) => unknown,
    ][]) {
      const n = lengthOf[name];
      fc.assert(
        fc.property(
          fc.oneof(fc.uint8Array({ maxLength: n + 4 }), fc.uint8Array({ minLength: n, maxLength: n })),
          (bytes) => {
            try {
              decode(suite, bytes);
            } catch (e) {
              if (!(e instanceof VaultError)) throw e;
            }
          },
        ),
        { numRuns: RUNS * 4 },
      );
    }
  });

  test(
    'an element is decoded once, but DiffieHellman follows the bytes: ' +
      'an array rewritten after its check is checked again',
    () => {
      const rng = seededRng(`${id} decode once`);
      const k = suite.group.deriveDiffieHellmanKeyPair(rng(32)).privateKey;
      const a = suite.group.deriveDiffieHellmanKeyPair(rng(32)).publicKey;
      const b = suite.group.deriveDiffieHellmanKeyPair(rng(32)).publicKey;
      const held = a.slice();
      suite.group.checkPublicKey(held, 'held');
      const dhA = toHex(suite.group.diffieHellman(k, held));
      held.set(b);
      expect(toHex(suite.group.diffieHellman(k, held))).toBe(toHex(suite.group.diffieHellman(k, b.slice())));
      expect(toHex(suite.group.diffieHellman(k, held))).not.toBe(dhA);
      held.fill(0);
      expect(() => suite.group.checkPublicKey(held, 'held')).toThrow(VaultError);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Element validation (spec ch. 2 §2.6): every element position of every message x every bad
// encoding of its group (src/vectors/elements.ts), for every suite.

/** One honest transcript's messages, by name. */
function honestMessages(suite: Suite): Record<ElementPosition['message'], Bytes> {
  const credId = Uint8Array.of(9);
  const r = register(suite, 'elements', Uint8Array.of(1, 2, 3), credId, {});
  const reg = createRegistrationRequest(r.p, Uint8Array.of(1, 2, 3), r.rng);
  const login = clientStartLogin(r.p, Uint8Array.of(1, 2, 3), r.rng);
  const server = serverStartLogin(r.p, r.keys, r.record, credId, login.ke1, {}, r.rng);
  return {
    RegistrationRequest: encodeRegistrationRequest(reg.request),
    RegistrationResponse: encodeRegistrationResponse(createRegistrationResponse(r.p, r.keys, reg.request, credId)),
    RegistrationRecord: encodeRegistrationRecord(r.record),
    KE1: encodeKE1(login.ke1),
    KE2: encodeKE2(server.ke2),
    KE3: encodeKE3(clientFinishLogin(r.p, login.state, server.ke2, {}).ke3),
  };
}

/**
 * Runs the table through the decoders of `decoding` (the suite's, or a broken one); returns every
 * case not refused with InvalidPoint.
 */
function unrefusedElements(suite: Suite, decoding: Suite = suite): { failures: string[]; cases: number } {
  const messages = honestMessages(suite);
  const failures: string[] = [];
  let cases = 0;
  for (const p of ELEMENT_POSITIONS) {
    const message = messages[p.message];
    checkPosition(suite, message, p);
    const at = p.at(suite);
    const element = message.subarray(at, at + (p.role === 'oprf' ? suite.oprf.Noe : suite.group.Npk));
    for (const bad of badElements(groupAt(suite, p), element)) {
      cases++;
      let code: string | undefined;
      try {
        DECODERS[p.message](decoding, withElement(suite, message, p, bad.bytes));
      } catch (e) {
        if (!(e instanceof VaultError)) throw e;
        code = e.code;
      }
      if (code !== 'InvalidPoint') failures.push(`${p.message}.${p.field} = ${bad.name}: ${code ?? 'accepted'}`);
    }
  }
  return { failures, cases };
}

describe.each(SUITE_IDS)('element validation, %s', (id) => {
  const suite = getSuite(id);

  test('every element position of every message refuses every bad encoding of its group with InvalidPoint', () => {
    const { failures, cases } = unrefusedElements(suite);
    const positions = ELEMENT_POSITIONS.map((p) => `${p.message}.${p.field}`);
    console.log(`[opaque.property] ${id}: ${cases} bad-element cases, positions: ${positions.join(', ')}`);
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(ELEMENT_POSITIONS.length * 8);
  });

  test('the table can fail: decoders without the identity check, or with the X25519 check of 6ee2d9d, fail it', () => {
    const noIdentityCheck = (element: Bytes, what: string) => {
      if (element.every((b) => b === 0)) return; // the identity let through
      suite.oprf.checkElement(element, what);
    };
    const weakX25519 = (key: Bytes, what: string) => {
      if (key.length !== 32) throw new VaultError('MalformedMessage', `"${what}" expected 32 bytes`);
      if (key.every((b) => b === 0)) throw new VaultError('InvalidPoint', `"${what}" is the zero point`);
    };
    const brokenOprf: Suite = { ...suite, oprf: { ...suite.oprf, checkElement: noIdentityCheck } };
    expect(unrefusedElements(suite, brokenOprf).failures.some((f) => f.includes('identity'))).toBe(true);
    if (suite.group.name === 'curve25519') {
      const brokenGroup: Suite = { ...suite, group: { ...suite.group, checkPublicKey: weakX25519 } };
      const { failures } = unrefusedElements(suite, brokenGroup);
      expect(failures).toContain('KE1.client_public_keyshare = u = 1 (order 4): accepted');
      expect(failures).toContain('RegistrationRecord.client_public_key = a valid key, bit 255 set: accepted');
    }
  });
});

test('Argon2id KSF: registration and login agree, and a different (t, m, p) does not interoperate', () => {
  const suite = getSuite('ristretto255-SHA512', argon2idKsf({ t: 1, m: 64, p: 1 }));
  const r = register(suite, 'argon', Uint8Array.of(7), Uint8Array.of(1), {});
  const login = clientStartLogin(r.p, Uint8Array.of(7), r.rng);
  const server = serverStartLogin(r.p, r.keys, r.record, Uint8Array.of(1), login.ke1, {}, r.rng);
  const fin = clientFinishLogin(r.p, login.state, server.ke2, {});
  expect(toHex(fin.exportKey)).toBe(toHex(r.exportKey));
  const other: OpaqueParams = {
    suite: getSuite('ristretto255-SHA512', argon2idKsf({ t: 2, m: 64, p: 1 })),
    context: r.p.context,
  };
  const login2 = clientStartLogin(other, Uint8Array.of(7), r.rng);
  const server2 = serverStartLogin(r.p, r.keys, r.record, Uint8Array.of(1), login2.ke1, {}, r.rng);
  expect(() => clientFinishLogin(other, login2.state, server2.ke2, {})).toThrow(
    expect.objectContaining({ code: 'EnvelopeRecoveryFailed' }),
  );
});
