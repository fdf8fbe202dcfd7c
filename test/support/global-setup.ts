/**
 * vitest globalSetup: a fresh, private SoftHSM2 token store for the whole run.
 *
 * It makes a directory under os.tmpdir() (mkdtemp), writes its softhsm2.conf and initializes ten
 * tokens labelled `bkv-0` .. `bkv-9` (user PIN `1234`), then sets `SOFTHSM2_CONF` and
 * `BKV_SOFTHSM_PIN` in process.env, which the forked test workers inherit (SoftHSM reads
 * SOFTHSM2_CONF once, when a worker first initializes the module). Teardown removes the directory.
 * If SoftHSM2 is not installed the run fails here, naming the install command: no test skips.
 *
 * Convention for test files that use SoftHSM. Each test FILE runs in its own forked process
 * (`pool: 'forks'`), and files run concurrently, all on the same ten tokens. So a file must not
 * collide with another on a token: it either uses tokens no other file uses, or prefixes every
 * key label and counter name with its own unique run id (`uniqueRunId()` below), or both.
 * Token allocation so far: `bkv-8` and `bkv-9` belong to test/hsm.test.ts; `bkv-0` .. `bkv-7` are
 * free for fleet/replication tests (prefix labels anyway). Each file calls `finalizeSoftHsm()`
 * in its afterAll. Never use `pool: 'threads'` (the PKCS#11 library is process-global).
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenDir, findSoftHsmLibrary } from '../../src/hsm/pkcs11.ts';

export const SOFTHSM_TEST_PIN = '1234';
export const SOFTHSM_TEST_TOKENS: readonly string[] = Array.from({ length: 10 }, (_, i) => `bkv-${i}`);

/** A short id unique to this test process, to prefix SoftHSM key labels and counter names. */
export function uniqueRunId(): string {
  return `r${process.pid.toString(36)}${randomUUID().slice(0, 8)}`;
}

/** The PIN of the run's tokens (set by the global setup; fails loudly if it did not run). */
export function softHsmTestPin(): string {
  const pin = process.env.BKV_SOFTHSM_PIN;
  if (pin === undefined || process.env.SOFTHSM2_CONF === undefined) {
    throw new Error(
      'SoftHSM test tokens missing: run the tests through vitest ' +
        '(test/support/global-setup.ts sets SOFTHSM2_CONF and BKV_SOFTHSM_PIN)',
    );
  }
  return pin;
}

export default function setup(): () => void {
  const t0 = performance.now();
  findSoftHsmLibrary(); // throws, naming `sudo apt-get install -y softhsm2`, if SoftHSM2 is missing
  const dir = mkdtempSync(join(tmpdir(), 'bkv-softhsm-'));
  try {
    process.env.SOFTHSM2_CONF = createTokenDir(dir, SOFTHSM_TEST_TOKENS, SOFTHSM_TEST_PIN);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  process.env.BKV_SOFTHSM_PIN = SOFTHSM_TEST_PIN;
  const ms = (performance.now() - t0).toFixed(0);
  console.log(`[global-setup] ${SOFTHSM_TEST_TOKENS.length} SoftHSM tokens in ${ms} ms at ${dir}`);
  return () => rmSync(dir, { recursive: true, force: true });
}
