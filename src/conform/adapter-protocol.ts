/**
 * The conformance adapter protocol (spec ch. 9, "Running another implementation"): bkv runs
 * another implementation as a child process and talks to it in JSON lines over stdin/stdout, one
 * request line, one response line. Byte strings are hex.
 *
 * Vault adapter (`npx bkv conform --vault "<cmd>"`), bkv plays the clients:
 *   -> {"op":"init","suite":ID,"keys":{"opaqueServerPrivateKey":h,"oprfSeed":h,"channelPrivateKey":h},"sessionTtlMs":n}
 *   <- {"ok":true,"opaqueServerPublicKey":h,"channelPublicKey":h}
 *   -> {"op":"frame","now":ms,"frame":{"channel":s,"kind":k,"bytes":h}}   <- {"ok":true,"frames":[frame...]}
 *   -> {"op":"expire","now":ms}                                            <- {"ok":true,"frames":[frame...]}
 *   -> {"op":"restart"}                                                    <- {"ok":true}
 *   -> {"op":"apply","pre":VaultState,"command":Command}
 *   <- {"ok":true,"outcome":{valid,code?,...},"post":VaultState}
 *
 * Client adapter (`npx bkv conform --client "<cmd>"`), bkv plays the vault; the adapter asks bkv
 * to carry each of its frames and gets the vault's answer back:
 *   -> {"op":"init","suite":ID,"channelPublicKey":h,"opaqueServerPublicKey":h,"seed":s}  <- {"ok":true}
 *   -> {"op":"register","credentialId":h,"password":h,"key":h,"guessLimit":n}
 *   -> {"op":"recover","credentialId":h,"password":h}
 *      the adapter then writes {"send":frame} lines; bkv answers each with {"frame":frame|null}
 *      and finally the adapter writes
 *      {"ok":true,"result":{"ok":true,"key"?:h} | {"ok":false,"kind":..,"triesRemaining"?:n,"code"?:s}}
 *
 * Errors: {"ok":false,"error":"..."}. An adapter must not write anything else to stdout.
 * @module
 */
import { fromHex, toHex } from '../crypto/bytes.ts';
import type { Outcome } from '../client/session.ts';
import type { Frame, FrameKind } from '../vault/protocol.ts';

export interface WireFrame {
  readonly channel: string;
  readonly kind: FrameKind;
  readonly bytes: string;
}

export const toWire = (f: Frame): WireFrame => ({ channel: f.channel, kind: f.kind, bytes: toHex(f.bytes) });
export const fromWire = (f: WireFrame): Frame => ({ channel: f.channel, kind: f.kind, bytes: fromHex(f.bytes) });

export type WireResult =
  | { ok: true; key?: string }
  | { ok: false; kind: 'WrongPassword' | 'Locked' | 'Fault'; triesRemaining?: number; code?: string };

/** A client operation's outcome on the wire. */
export function wireResult(o: Outcome<Uint8Array | true>): WireResult {
  if (o.ok) return o.value === true ? { ok: true } : { ok: true, key: toHex(o.value) };
  if (o.kind === 'WrongPassword') return { ok: false, kind: o.kind, triesRemaining: o.triesRemaining };
  if (o.kind === 'Locked') return { ok: false, kind: o.kind };
  return { ok: false, kind: 'Fault', code: o.code };
}
