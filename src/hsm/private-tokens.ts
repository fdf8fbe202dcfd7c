/**
 * A private SoftHSM2 token directory for one command run (the demo, the bench, `bkv check
 * --hsm softhsm`): created under the system temp dir, selected through SOFTHSM2_CONF before the
 * PKCS#11 module is first loaded in this process, and removed afterwards. Nothing outlives it.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenDir, finalizeSoftHsm, SoftHsm } from './softhsm.ts';

export interface PrivateTokens {
  readonly dir: string;
  readonly pin: string;
  open(label: string): SoftHsm;
  /** Finalizes the PKCS#11 module and deletes the directory. */
  dispose(): void;
}

export function createPrivateTokens(labels: readonly string[], pin = '1234'): PrivateTokens {
  const dir = mkdtempSync(join(tmpdir(), 'bkv-tokens-'));
  try {
    process.env.SOFTHSM2_CONF = createTokenDir(dir, labels, pin);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    pin,
    open: (token) => new SoftHsm({ token, pin }),
    dispose() {
      finalizeSoftHsm();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
