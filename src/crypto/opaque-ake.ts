/**
 * The 3DH key exchange of OPAQUE (RFC 9807 §6.4): the transcript preamble, the key schedule and
 * the MACs. The server's long-term DH is a callback so that its private key stays inside the HSM.
 *
 *   preamble = "OPAQUEv1-" || len2(context) || context || len2(client_identity) || client_identity
 *              || KE1 || len2(server_identity) || server_identity || credential_response
 *              || server_nonce || server_public_keyshare
 *   prk = Extract("", dh1 || dh2 || dh3)
 *   handshake_secret = Derive-Secret(prk, "HandshakeSecret", Hash(preamble))
 *   session_key      = Derive-Secret(prk, "SessionKey", Hash(preamble))
 *   km2 = Derive-Secret(handshake_secret, "ServerMAC", ""); km3 = ... "ClientMAC"
 *   server_mac = MAC(km2, Hash(preamble)); client_mac = MAC(km3, Hash(preamble || server_mac))
 * @module
 */
import { type Bytes, concat, i2osp, lengthPrefixed, utf8 } from './bytes.ts';
import type { Suite } from './suite.ts';

const PREAMBLE_PREFIX = utf8('OPAQUEv1-');

/** Expand-Label (RFC 9807 §6.4.2). */
export function expandLabel(s: Suite, secret: Bytes, label: string, context: Bytes, length: number): Bytes {
  const fullLabel = utf8('OPAQUE-' + label);
  const customLabel = concat(i2osp(length, 2), lengthPrefixed(fullLabel, 1), lengthPrefixed(context, 1));
  return s.expand(secret, customLabel, length);
}

/** Derive-Secret(Secret, Label, TranscriptHash) = Expand-Label(Secret, Label, TranscriptHash, Nx). */
export function deriveSecret(s: Suite, secret: Bytes, label: string, transcriptHash: Bytes): Bytes {
  return expandLabel(s, secret, label, transcriptHash, s.Nx);
}

export interface PreambleInput {
  readonly context: Bytes;
  readonly clientIdentity: Bytes;
  readonly ke1: Bytes;
  readonly serverIdentity: Bytes;
  readonly credentialResponse: Bytes;
  readonly serverNonce: Bytes;
  readonly serverPublicKeyshare: Bytes;
}

/** Preamble (RFC 9807 §6.4.2). */
export function preamble(p: PreambleInput): Bytes {
  return concat(
    PREAMBLE_PREFIX,
    lengthPrefixed(p.context),
    lengthPrefixed(p.clientIdentity),
    p.ke1,
    lengthPrefixed(p.serverIdentity),
    p.credentialResponse,
    p.serverNonce,
    p.serverPublicKeyshare,
  );
}

export interface AkeKeys {
  readonly handshakeSecret: Bytes;
  readonly sessionKey: Bytes;
  readonly serverMacKey: Bytes;
  readonly clientMacKey: Bytes;
  readonly serverMac: Bytes;
  /** MAC(km3, Hash(preamble || server_mac)) */
  readonly clientMac: Bytes;
}

/** DeriveKeys (RFC 9807 §6.4.2) plus both MACs, which depend only on the keys and the preamble. */
export function deriveKeys(s: Suite, ikm: Bytes, preambleBytes: Bytes): AkeKeys {
  const prk = s.extract(new Uint8Array(0), ikm);
  const transcriptHash = s.hash(preambleBytes);
  const handshakeSecret = deriveSecret(s, prk, 'HandshakeSecret', transcriptHash);
  const sessionKey = deriveSecret(s, prk, 'SessionKey', transcriptHash);
  const empty = new Uint8Array(0);
  const serverMacKey = deriveSecret(s, handshakeSecret, 'ServerMAC', empty);
  const clientMacKey = deriveSecret(s, handshakeSecret, 'ClientMAC', empty);
  const serverMac = s.mac(serverMacKey, transcriptHash);
  const clientMac = s.mac(clientMacKey, s.hash(concat(preambleBytes, serverMac)));
  return { handshakeSecret, sessionKey, serverMacKey, clientMacKey, serverMac, clientMac };
}
