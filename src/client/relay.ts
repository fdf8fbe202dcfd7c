/**
 * Relays: the front end between client and vault. `directRelay` hands frames straight to a vault
 * (one replica, in process); `tamperingRelay` wraps a relay with an adversary's hook, for the
 * attack tests (it may drop, replay, alter or redirect any frame).
 * @module
 */
import type { Frame } from '../vault/protocol.ts';
import type { Relay } from './client.ts';

/** A relay to an in-process vault: the answer is the vault's first frame on the same channel. */
export function directRelay(deliver: (frame: Frame) => readonly Frame[]): Relay & { log: Frame[] } {
  const log: Frame[] = [];
  return {
    log,
    async exchange(frame) {
      log.push(frame);
      const out = deliver(frame);
      log.push(...out);
      return out.find((f) => f.channel === frame.channel) ?? null;
    },
    async post(frame) {
      log.push(frame);
      log.push(...deliver(frame));
    },
  };
}

/** What an adversarial relay does with one frame on its way to the vault. */
export type Tamper = (frame: Frame, send: (f: Frame) => Promise<Frame | null>) => Promise<Frame | null>;

export function tamperingRelay(inner: Relay, tamper: Tamper): Relay {
  return {
    exchange: (frame) => tamper(frame, (f) => inner.exchange(f)),
    post: async (frame) => void (await tamper(frame, (f) => inner.exchange(f))),
  };
}
