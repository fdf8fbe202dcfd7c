/**
 * PKCS#11 plumbing for the SoftHSM backend: finding the SoftHSM2 library, loading it once per
 * process, creating private token directories, and the constants graphene-pk11 2.3.6 has no
 * names for. Facts verified on SoftHSM 2.6.1 are in ../../../shared/notes/toolchain.md.
 *
 * Process-global state. A PKCS#11 library is initialized once per process (loading the same
 * `.so` twice gives the same instance), and SoftHSM reads `SOFTHSM2_CONF` exactly once, at
 * `C_Initialize`. So:
 *   1. set `process.env.SOFTHSM2_CONF` (for example to `createTokenDir(...)`'s result) BEFORE the
 *      first `SoftHsm` of the process is opened; changing it afterwards has no effect until
 *      `finalizeSoftHsm()`;
 *   2. `finalizeSoftHsm()` ends every `SoftHsm` of the process at once (their sessions die);
 *   3. never share the library between `worker_threads` (vitest must use `pool: 'forks'`).
 * The module is initialized with `CKF_OS_LOCKING_OK` so that SoftHSM keeps its internal locking.
 *
 * Spec: spec/04-hsm.md.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as graphene from 'graphene-pk11';
import { VaultError } from '../errors.ts';

/** PKCS#11 v3 values that graphene-pk11 2.3.6 has no enum names for. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
export const CKF_OS_LOCKING_OK = 0x2;

/** DER OIDs for CKA_EC_PARAMS (RFC 8410). X25519 keys are made with the EDWARDS mechanism: see softhsm.ts. */
export const OID_ED25519 = Buffer.from('06032b6570', 'hex'); // 1.3.101.112
export const OID_X25519 = Buffer.from('06032b656e', 'hex'); // 1.3.101.110

export const APT_INSTALL = 'sudo apt-get install -y softhsm2';

/** Where SoftHSM2's PKCS#11 module usually lives (Debian/Ubuntu, multiarch, source builds, Homebrew). */
export const SOFTHSM_LIBRARY_CANDIDATES: readonly string[] = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

/** The SoftHSM2 PKCS#11 library: `$SOFTHSM2_LIB` if set, else the first candidate that exists. */
export function findSoftHsmLibrary(): string {
  const fromEnv = process.env.SOFTHSM2_LIB;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv))
      throw new VaultError('HsmError', `SOFTHSM2_LIB=${fromEnv} does not exist; install SoftHSM2 with: ${APT_INSTALL}`);
    return fromEnv;
  }
  for (const p of SOFTHSM_LIBRARY_CANDIDATES) if (existsSync(p)) return p;
  throw new VaultError(
    'HsmError',
    `SoftHSM2 library not found (looked at $SOFTHSM2_LIB, ${SOFTHSM_LIBRARY_CANDIDATES.join(', ')}); ` +
      `install it with: ${APT_INSTALL}`,
  );
}

/**
 * Creates a private SoftHSM token store in `dir` (made if missing): `dir/softhsm2.conf`,
 * `dir/tokens/`, and one initialized token per label (user PIN `pin`, SO PIN `soPin`), using
 * `softhsm2-util --init-token --free`. Returns the config path, to be put in
 * `process.env.SOFTHSM2_CONF` before the module is first initialized in any process that uses it.
 * Slot ids are assigned by SoftHSM from the token serial: always find tokens by label.
 */
export function createTokenDir(dir: string, labels: readonly string[], pin: string, soPin = `${pin}-so`): string {
  const root = resolve(dir);
  const tokens = join(root, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = join(root, 'softhsm2.conf');
  writeFileSync(
    conf,
    [
      `directories.tokendir = ${tokens}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      'slots.mechanisms = ALL',
      'library.reset_on_fork = false',
      '',
    ].join('\n'),
  );
  for (const label of labels) {
    try {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
        env: { ...process.env, SOFTHSM2_CONF: conf },
        stdio: 'pipe',
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === 'ENOENT')
        throw new VaultError('HsmError', `softhsm2-util not found on PATH; install SoftHSM2 with: ${APT_INSTALL}`);
      throw new VaultError(
        'HsmError',
        `softhsm2-util --init-token --label ${label} failed: ${err.stderr?.toString().trim() ?? err.message}`,
      );
    }
  }
  return conf;
}

/**
 * Initializes a new token labelled `label` in the free slot of `module` and sets its user PIN:
 * `softhsm2-util --init-token --free`, in process (C_InitToken on the one uninitialized slot, then
 * C_Login as SO and C_InitPIN). SoftHSM then offers a new free slot. About 40 ms a token.
 */
export function initTokenInProcess(module: graphene.Module, label: string, pin: string, soPin = `${pin}-so`): void {
  const slots = module.getSlots(true);
  let free: graphene.Slot | undefined;
  for (let i = slots.length - 1; i >= 0 && free === undefined; i--) {
    const slot = slots.items(i);
    if ((slot.getToken().flags & graphene.TokenFlag.TOKEN_INITIALIZED) === 0) free = slot;
  }
  if (free === undefined) throw new VaultError('HsmError', `no free SoftHSM slot to initialize token "${label}"`);
  try {
    // graphene 2.3.6's Slot.initToken fails on pkcs11js's return value: call C_InitToken directly
    free.lib.C_InitToken(free.handle, soPin, label);
    const session = free.open(graphene.SessionFlag.RW_SESSION | graphene.SessionFlag.SERIAL_SESSION);
    try {
      session.login(soPin, graphene.UserType.SO);
      session.initPin(pin);
      session.logout();
    } finally {
      session.close();
    }
  } catch (e) {
    throw new VaultError('HsmError', `cannot initialize SoftHSM token "${label}": ${errorText(e)}`);
  }
}

interface Loaded {
  readonly module: graphene.Module;
  readonly library: string;
  readonly conf: string | undefined;
}
let loaded: Loaded | undefined;

/** The SOFTHSM2_CONF the process's module was initialized with (undefined: none loaded, or it was unset). */
export function loadedSoftHsmConfig(): string | undefined {
  return loaded?.conf;
}

/** The process's PKCS#11 module, loaded and `C_Initialize`d (with CKF_OS_LOCKING_OK) on first use. */
export function loadSoftHsmModule(library: string = findSoftHsmLibrary()): graphene.Module {
  if (loaded !== undefined) {
    if (loaded.library !== library) {
      throw new VaultError(
        'HsmError',
        `PKCS#11 module already loaded from ${loaded.library}; cannot also load ${library} in the same process`,
      );
    }
    return loaded.module;
  }
  let module: graphene.Module;
  try {
    module = graphene.Module.load(library, 'SoftHSM');
    module.initialize({ flags: CKF_OS_LOCKING_OK });
  } catch (e) {
    throw new VaultError(
      'HsmError',
      `cannot initialize ${library} (${errorText(e)}); ` +
        `check SOFTHSM2_CONF=${process.env.SOFTHSM2_CONF ?? '(unset)'} names a readable config whose tokendir exists`,
    );
  }
  loaded = { module, library, conf: process.env.SOFTHSM2_CONF };
  return module;
}

/**
 * `C_Finalize`s the process's PKCS#11 module: every open `SoftHsm` stops working. The next
 * `SoftHsm` re-initializes it and re-reads `SOFTHSM2_CONF`. Token objects persist on disk.
 */
export function finalizeSoftHsm(): void {
  const m = loaded;
  loaded = undefined;
  if (m === undefined) return;
  try {
    m.module.finalize();
  } catch (e) {
    if (ckrOf(e) !== 'CKR_CRYPTOKI_NOT_INITIALIZED')
      throw new VaultError('HsmError', `C_Finalize failed: ${errorText(e)}`);
  }
}

/** The slot whose token has this label (slot ids are not stable; labels are). */
export function findSlotByLabel(module: graphene.Module, label: string): graphene.Slot {
  const slots = module.getSlots(true);
  const seen: string[] = [];
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    const tokenLabel = slot.getToken().label.trim();
    if (tokenLabel === label) return slot;
    if (tokenLabel !== '') seen.push(tokenLabel);
  }
  throw new VaultError(
    'HsmError',
    `no SoftHSM token labelled "${label}" (tokens: ${seen.join(', ') || 'none'}; ` +
      `SOFTHSM2_CONF=${process.env.SOFTHSM2_CONF ?? '(unset)'})`,
  );
}

/** The `CKR_*` name in a graphene/pkcs11js error, if any. */
export function ckrOf(e: unknown): string | undefined {
  const m = /CKR_[A-Z0-9_]+/.exec(e instanceof Error ? e.message : String(e));
  return m?.[0];
}

export function errorText(e: unknown): string {
  return ckrOf(e) ?? (e instanceof Error ? e.message : String(e));
}

/** CKA_EC_POINT of a 25519 key is a DER OCTET STRING: 04 20 <32 bytes>. */
export function decodeEcPoint(der: Buffer): Uint8Array {
  if (der.length !== 34 || der[0] !== 0x04 || der[1] !== 0x20)
    throw new VaultError('HsmError', `unexpected CKA_EC_POINT encoding (${der.length} bytes)`);
  return new Uint8Array(der.subarray(2));
}

export function encodeEcPoint(raw: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x04, raw.length]), Buffer.from(raw)]);
}
