/**
 * Review of issue 15 (adversarial): every OPAQUE decoder and the request/response decoders, per
 * suite, on (a) random bytes of the message's size, (b) a valid message with a window of bytes
 * replaced by a special value (0, 1, p-1, p, p+1, 2^255-1, all 0xff, a 0x00/0x02/0x03/0x04 prefix)
 * at EVERY offset, not only at the element positions of src/vectors/elements.ts. Whatever the bytes,
 * a decoder returns or throws a VaultError; and what it returns re-encodes to the same bytes.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { numberToBytesBE, numberToBytesLE } from '@noble/curves/utils.js';
import { isVaultError } from '../src/errors.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { SUITE_IDS, getSuite } from '../src/crypto/suite.ts';
import { clientStartLogin, createRegistrationRequest } from '../src/crypto/opaque-client.ts';
import {
  DECODERS,
  encodeKE1,
  encodeKE2,
  encodeKE3,
  encodeRegistrationRecord,
  encodeRegistrationRequest,
  encodeRegistrationResponse,
  messageSizes,
} from '../src/crypto/opaque-messages.ts';
import { decodeRequest, decodeResponse } from '../src/vault/protocol.ts';

const SEED = Number(process.env.BKV_SEED ?? 15015);
const P = 2n ** 255n - 19n;
const P256 = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const SPECIALS: Uint8Array[] = [
  ...[0n, 1n, P - 1n, P, P + 1n, 2n ** 255n - 1n, 2n ** 256n - 1n].map((n) => numberToBytesLE(n, 32)),
  ...[0n, 1n, P256 - 1n, P256, P256 + 1n, 2n ** 256n - 1n].flatMap((n) =>
    [0, 2, 3, 4].map((t) => Uint8Array.of(t, ...numberToBytesBE(n, 32))),
  ),
];

function expectVaultErrorOrValue(f: () => unknown, what: string): unknown {
  try {
    return f();
  } catch (e) {
    if (!isVaultError(e)) throw new Error(`${what}: threw a non-VaultError: ${String(e)}`);
    return undefined;
  }
}

describe.each([...SUITE_IDS])('decoders on any bytes, %s', (id) => {
  const s = getSuite(id);
  const rng = seededRng(`review15 decoders ${id}`);
  const sizes = messageSizes(s);
  // valid messages to mutate (KE2 and RegistrationResponse: random but well-sized; their elements mutated in place)
  const reg = createRegistrationRequest({ suite: s } as never, new Uint8Array(8), rng);
  const login = clientStartLogin({ suite: s } as never, new Uint8Array(8), rng);
  const valid: Record<keyof typeof DECODERS, Uint8Array> = {
    RegistrationRequest: encodeRegistrationRequest(reg.request),
    RegistrationResponse: encodeRegistrationResponse({
      evaluatedMessage: reg.request.blindedMessage,
      serverPublicKey: login.ke1.authRequest.clientPublicKeyshare,
    }),
    RegistrationRecord: encodeRegistrationRecord({
      clientPublicKey: login.ke1.authRequest.clientPublicKeyshare,
      maskingKey: rng(s.Nh),
      envelope: rng(s.Nn + s.Nm),
    }),
    KE1: encodeKE1(login.ke1),
    KE2: new Uint8Array(sizes.ke2),
    KE3: encodeKE3({ clientMac: rng(s.Nm) }),
  };
  valid.KE2 = encodeKE2({
    credentialResponse: {
      evaluatedMessage: reg.request.blindedMessage,
      maskingNonce: rng(s.Nn),
      maskedResponse: rng(s.group.Npk + s.Nn + s.Nm),
    },
    authResponse: {
      serverNonce: rng(s.Nn),
      serverPublicKeyshare: login.ke1.authRequest.clientPublicKeyshare,
      serverMac: rng(s.Nm),
    },
  });

  test('every special value at every offset of every message', () => {
    let refused = 0;
    let accepted = 0;
    for (const [name, decode] of Object.entries(DECODERS)) {
      const m = valid[name as keyof typeof DECODERS];
      expect(() => decode(s, m)).not.toThrow();
      for (const sp of SPECIALS) {
        for (let at = 0; at + sp.length <= m.length; at++) {
          const x = m.slice();
          x.set(sp, at);
          const r = expectVaultErrorOrValue(() => decode(s, x), `${name} @${at}`);
          if (r === undefined) refused++;
          else accepted++;
        }
      }
    }
    console.log(`[review] ${id}: ${refused} refused, ${accepted} accepted (specials at every offset)`);
  });

  test('random bytes of every size near a message size, and random requests/responses', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(DECODERS) as (keyof typeof DECODERS)[])),
        fc.integer({ min: -2, max: 2 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 255 })),
        (name, delta, stream) => {
          const n = Math.max(0, valid[name].length + delta);
          const it = stream[Symbol.iterator]();
          const b = Uint8Array.from({ length: n }, () => it.next().value as number);
          expectVaultErrorOrValue(() => DECODERS[name](s, b), name);
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        expectVaultErrorOrValue(() => decodeRequest(s, b), 'request');
        expectVaultErrorOrValue(() => decodeResponse(s, b), 'response');
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
});
