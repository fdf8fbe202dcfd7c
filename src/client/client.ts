/**
 * The bkv client (spec ch. 3): generate K, register it under a password, recover it, and encrypt
 * a backup with it. It talks to the vault through a `Relay`, so tests can put an adversarial
 * relay in between; the protocol steps themselves are in `session.ts`.
 * @module
 */
import { type Bytes, type Rng, fromHex, toHex } from '../crypto/bytes.ts';
import { aeadOpen, aeadSeal } from '../crypto/aead.ts';
import { VaultError } from '../errors.ts';
import type { Frame } from '../vault/protocol.ts';
import { DEFAULT_GUESS_LIMIT } from '../vault/records.ts';
import {
  type ClientContext,
  type Outcome,
  fault,
  onDeleted,
  onRecoverResponse,
  onRegisterDone,
  onRegisterResponse,
  onReleased,
  startDeletion,
  startRecovery,
  startRegistration,
} from './session.ts';

/** The front end between client and vault: it carries frames and may see, drop, or alter them. */
export interface Relay {
  /** Sends one frame; resolves with the vault's answer, or null if none came (lost, dropped). */
  exchange(frame: Frame): Promise<Frame | null>;
  /** Sends a frame that needs no answer. */
  post(frame: Frame): Promise<void>;
}

export const BACKUP_KEY_BYTES = 32;

/** A fresh backup key K: 32 random bytes. */
export function generateBackupKey(rng: Rng): Bytes {
  return rng(BACKUP_KEY_BYTES);
}

/** K as the 64-digit hex key a user may write down instead of choosing a password. */
export function backupKeyToDigits(key: Bytes): string {
  if (key.length !== BACKUP_KEY_BYTES)
    throw new VaultError('InvalidParameter', `backup key expected ${BACKUP_KEY_BYTES} bytes, got ${key.length}`);
  return toHex(key);
}

export function backupKeyFromDigits(digits: string): Bytes {
  const clean = digits.replace(/[\s-]/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(clean)) throw new VaultError('InvalidParameter', 'backup key expected 64 hex digits');
  return fromHex(clean);
}

/** Encrypts a backup under K (HKDF label "backup encryption", AES-256-GCM). */
export function encryptBackup(key: Bytes, backup: Bytes, rng: Rng): Bytes {
  return aeadSeal(key, 'backup encryption', backup, new Uint8Array(0), rng);
}

export function decryptBackup(key: Bytes, encrypted: Bytes): Bytes {
  return aeadOpen(key, 'backup encryption', encrypted, new Uint8Array(0));
}

export class BkvClient {
  constructor(
    readonly ctx: ClientContext,
    readonly relay: Relay,
    readonly rng: Rng,
  ) {}

  /** Registers K under `password` for `credentialId`, with a guess limit in 1..255 (default 10). */
  async register(
    credentialId: Bytes,
    password: Bytes,
    key: Bytes,
    guessLimit: number = DEFAULT_GUESS_LIMIT,
  ): Promise<Outcome<true>> {
    const { frame, session } = startRegistration(this.ctx, credentialId, password, key, guessLimit, this.rng);
    const answer = await this.relay.exchange(frame);
    if (!answer) return fault('Unavailable');
    const next = onRegisterResponse(this.ctx, session, answer, this.rng);
    if ('outcome' in next) return next.outcome;
    const done = await this.relay.exchange(next.frame);
    return done ? onRegisterDone(this.ctx, session, done) : fault('Unavailable');
  }

  /** Recovers K with `password`; a wrong password reports the tries that remain. */
  async recover(credentialId: Bytes, password: Bytes): Promise<Outcome<Bytes>> {
    const { frame, session } = startRecovery(this.ctx, credentialId, password, this.rng);
    const answer = await this.relay.exchange(frame);
    if (!answer) return fault('Unavailable');
    const next = onRecoverResponse(this.ctx, session, answer);
    if (!('frame' in next)) return next.outcome;
    if (next.outcome) {
      await this.relay.exchange(next.frame); // RecoverAbort: the vault ends the session at once
      return next.outcome;
    }
    const released = await this.relay.exchange(next.frame);
    return released ? onReleased(this.ctx, session, released) : fault('Unavailable');
  }

  /** Deletes the record of `credentialId` (the relay authorizes it by account, spec ch. 5). */
  async delete(credentialId: Bytes): Promise<Outcome<true>> {
    const { frame, session } = startDeletion(this.ctx, credentialId, this.rng);
    const answer = await this.relay.exchange(frame);
    return answer ? onDeleted(this.ctx, session, answer) : fault('Unavailable');
  }
}
