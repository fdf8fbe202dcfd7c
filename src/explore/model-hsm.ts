/**
 * An HSM for exhaustive exploration (spec ch. 10): the operations the persistence rule uses,
 * deterministic and cheap, so that equal states have equal bytes. `seal` binds its output to the
 * key label and the AAD, as AES-GCM does, but the "ciphertext" is the plaintext: the explorer's
 * host only ever presents blobs the replica sealed, so a forgery is not among its moves, and the
 * blob's contents name the state. The counters behave as the real backends' (monotonic, refusing
 * to go back). Anything else is outside the model and refused.
 * @module
 */
import { type Bytes, concat, utf8 } from '../crypto/bytes.ts';
import { VaultError } from '../errors.ts';
import type { Hsm } from '../hsm/hsm.ts';

const MAGIC = utf8('bkv-model-seal');

function tagOf(label: string, aad: Bytes): Bytes {
  return concat(MAGIC, utf8(`${label.length}:${label}`), Uint8Array.of(aad.length >> 8, aad.length & 0xff), aad);
}

function startsWith(b: Bytes, prefix: Bytes): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/**
 * A model HSM whose counters start at `counters`; `counters()` reads them back. `onWrite` is called
 * after every counter advance (a durable write: a runtime counts them to crash between two).
 */
export function modelHsm(
  label: string,
  sealLabel: string,
  counters: ReadonlyMap<string, bigint> = new Map(),
  onWrite: () => void = () => undefined,
): { hsm: Hsm; counters(): Map<string, bigint> } {
  const values = new Map(counters);
  const outside = (op: string) => (): never => {
    throw new VaultError('InvalidParameter', `${op}: not in the explorer's HSM model`);
  };
  const hsm: Hsm = {
    backend: 'memory',
    label,
    generateKey: outside('generateKey'),
    importKey: outside('importKey'),
    hasKey: (l) => l === sealLabel,
    keyInfo: outside('keyInfo'),
    deleteKey: outside('deleteKey'),
    sign: outside('sign'),
    dh: outside('dh'),
    hmac: outside('hmac'),
    hkdfExpand: outside('hkdfExpand'),
    wrapKey: outside('wrapKey'),
    unwrapKey: outside('unwrapKey'),
    close: () => undefined,
    seal(l, plaintext, aad) {
      if (l !== sealLabel) throw new VaultError('KeyNotFound', `no key ${l}`);
      return concat(tagOf(l, aad), plaintext);
    },
    unseal(l, sealed, aad) {
      const tag = tagOf(l, aad);
      if (l !== sealLabel || !startsWith(sealed, tag))
        throw new VaultError('SealBroken', 'the blob was not sealed here');
      return sealed.slice(tag.length);
    },
    readCounter: (name) => values.get(name) ?? 0n,
    advanceCounter(name, value) {
      const current = values.get(name) ?? 0n;
      if (value < current) throw new VaultError('StaleState', `counter "${name}" is at ${current}, refusing ${value}`);
      values.set(name, value);
      onWrite();
    },
  };
  return { hsm, counters: () => new Map(values) };
}

/** The plaintext inside a blob the model sealed (its tag skipped): the explorer's ghost view of a kept blob. */
export function modelPlaintext(sealed: Bytes): Bytes {
  let at = MAGIC.length;
  let colon = at;
  while (sealed[colon] !== 0x3a) colon++; // ':'
  const labelLength = Number(new TextDecoder().decode(sealed.subarray(at, colon)));
  at = colon + 1 + labelLength;
  const aadLength = (sealed[at]! << 8) | sealed[at + 1]!;
  return sealed.subarray(at + 2 + aadLength);
}
