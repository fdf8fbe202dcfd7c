/**
 * A private SoftHSM2 token directory for one command run (the demo, the bench, `bkv check
 * --hsm softhsm`): created under the system temp dir, selected through SOFTHSM2_CONF before the
 * PKCS#11 module is first loaded in this process, and removed afterwards. Nothing outlives it.
 *
 * Tokens are initialized as they are first opened (in process, about 40 ms each), not up front:
 * a run that needs 600 tokens starts at once and pays for each when it uses it. The directory is
 * removed by `dispose()`; if the process ends first, however it ends (an exception, `process.exit`,
 * SIGINT, SIGTERM, even SIGKILL), a small watcher process removes it: it was started with the
 * directory, in a session of its own (so a terminal's Ctrl-C does not reach it), and waits for its
 * stdin, a pipe from this process, to close, which the kernel does when this process ends.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VaultError } from '../errors.ts';
import { initTokenInProcess, loadedSoftHsmConfig, loadSoftHsmModule } from './pkcs11.ts';
import { createTokenDir, finalizeSoftHsm, SoftHsm } from './softhsm.ts';

export interface PrivateTokens {
  readonly dir: string;
  readonly pin: string;
  /** Opens the token labelled `label`, one of those declared, initializing it on its first use. */
  open(label: string): SoftHsm;
  /** Tokens initialized so far. */
  readonly created: number;
  /** Finalizes the PKCS#11 module and deletes the directory. */
  dispose(): void;
}

export interface PrivateTokenOptions {
  readonly pin?: string;
  /** Called after each token is initialized (progress), with the number initialized so far. */
  readonly onToken?: (label: string, created: number) => void;
}

/** The watcher: removes the directory (argv[1]) when its stdin closes. Immune to the terminal's SIGINT and SIGHUP. */
const WATCHER = `
const dir = process.argv[1];
for (const s of ['SIGINT', 'SIGHUP']) process.on(s, () => {});
const done = () => { require('node:fs').rmSync(dir, { recursive: true, force: true }); process.exit(0); };
process.stdin.on('data', () => {}).on('end', done).on('error', done);
`;

/** Removes `dir` when this process ends, however it ends; the returned function removes it now. */
export function removeWhenProcessEnds(dir: string): () => void {
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const watcher = spawn(process.execPath, ['-e', WATCHER, dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.on('error', () => {}); // no watcher: the exit hook below still runs on a normal end
  watcher.stdin.on('error', () => {});
  watcher.unref();
  (watcher.stdin as unknown as Socket).unref();
  process.on('exit', remove);
  return () => {
    process.removeListener('exit', remove);
    remove();
    watcher.stdin.end();
  };
}

export function createPrivateTokens(labels: readonly string[], o: PrivateTokenOptions = {}): PrivateTokens {
  const pin = o.pin ?? '1234';
  const dir = mkdtempSync(join(tmpdir(), 'bkv-tokens-'));
  const release = removeWhenProcessEnds(dir);
  let conf: string;
  try {
    conf = createTokenDir(dir, [], pin);
  } catch (e) {
    release();
    throw e;
  }
  process.env.SOFTHSM2_CONF = conf;
  const declared = new Set(labels);
  const initialized = new Set<string>();
  return {
    dir,
    pin,
    get created() {
      return initialized.size;
    },
    open(token) {
      if (!declared.has(token))
        throw new VaultError('HsmError', `token "${token}" is not one of this directory's (${dir})`);
      if (!initialized.has(token)) {
        const module = loadSoftHsmModule();
        if (loadedSoftHsmConfig() !== conf) {
          const other = loadedSoftHsmConfig() ?? '(unset)';
          throw new VaultError(
            'HsmError',
            `the PKCS#11 module was initialized with SOFTHSM2_CONF=${other}, not ${conf}`,
          );
        }
        initTokenInProcess(module, token, pin);
        initialized.add(token);
        o.onToken?.(token, initialized.size);
      }
      return new SoftHsm({ token, pin });
    },
    dispose() {
      try {
        finalizeSoftHsm();
      } finally {
        release();
      }
    },
  };
}
