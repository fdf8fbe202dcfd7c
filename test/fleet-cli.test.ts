/**
 * `bkv fleet deploy` and `bkv audit` (src/cli/fleet.ts), the acceptance of issue 5: deploy into a
 * temporary directory, the audit passes and prints the keys and roles added and removed per
 * epoch; then every file of the directory is tampered with, one at a time, in two ways (a value
 * changed, the file truncated), and the audit fails each time with the file and a reason; a
 * missing and an unexpected file fail too. The same on SoftHSM tokens in a private token directory.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UsageError } from '../src/cli/args.ts';
import { audit, fleetDeploy } from '../src/cli/fleet.ts';
import { readDeploymentFiles } from '../src/fleet/files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'bkv-fleet-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): { lines: string[]; print: (l: string) => void } {
  const lines: string[] = [];
  return { lines, print: (l) => lines.push(l) };
}

async function runAudit(dir: string): Promise<{ rc: number; lines: string[] }> {
  const out = capture();
  const rc = await audit({ positionals: [dir], options: {} }, { print: out.print, json: null });
  return { rc, lines: out.lines };
}

const deployed = join(tmp, 'deployed');
let deployLines: string[] = [];
beforeAll(async () => {
  const out = capture();
  expect(
    await fleetDeploy({ positionals: [], options: { out: deployed, replicas: '3', seed: 'cli' } }, out.print),
  ).toBe(0);
  deployLines = out.lines;
});

describe('bkv fleet deploy + bkv audit', () => {
  test('deploy writes the roots, the log, 3 bundles and 2 evidence files, and the client story succeeds', () => {
    expect([...readDeploymentFiles(deployed).keys()].sort()).toEqual([
      'bundles/epoch-0001.json',
      'bundles/epoch-0002.json',
      'bundles/epoch-0003.json',
      'evidence/fleet-1.json',
      'evidence/fleet-2.json',
      'log.json',
      'roots.json',
    ]);
    const text = deployLines.join('\n');
    expect(text).toContain('K recovered and moved');
    expect(text).toContain('a replayed epoch-1 bundle is refused: StaleEpoch');
    expect(text).not.toMatch(/FAILED|bug/);
  });

  test('the same seed gives the same directory, byte for byte', async () => {
    const again = join(tmp, 'again');
    expect(await fleetDeploy({ positionals: [], options: { out: again, replicas: '3', seed: 'cli' } }, () => {})).toBe(
      0,
    );
    expect(readDeploymentFiles(again)).toEqual(readDeploymentFiles(deployed));
  });

  test('audit passes and prints, per epoch, the keys and roles added and removed', async () => {
    const { rc, lines } = await runAudit(deployed);
    expect(rc).toBe(0);
    const text = lines.join('\n');
    const epoch = (n: number) =>
      text.slice(text.indexOf(`epoch ${n} `), n < 3 ? text.indexOf(`epoch ${n + 1} `) : text.indexOf('fleet-1: '));
    expect(epoch(1)).toMatch(/\+ channel x25519 .*\(fleet-1\)/);
    expect(epoch(1)).not.toContain('  - ');
    expect(epoch(2)).toMatch(/\+ retiring-channel x25519 .*\(fleet-1\)/);
    expect(epoch(2)).toMatch(/- channel x25519 .*\(fleet-1\)/);
    expect(epoch(2)).toMatch(/\+ channel x25519 .*\(fleet-2\)/);
    expect(epoch(3)).toMatch(/- retiring-opaque-server .*\(fleet-1\)/);
    expect(epoch(3)).not.toContain('  + ');
    expect(lines.at(-1)).toBe('audit passed: 3 epochs, 2 fleets');
  });

  const files = [
    'roots.json',
    'log.json',
    'bundles/epoch-0001.json',
    'bundles/epoch-0002.json',
    'bundles/epoch-0003.json',
    'evidence/fleet-1.json',
    'evidence/fleet-2.json',
  ];

  /** Changes one character of the longest string value in the file (a key, a signature, an artifact...). */
  function changeOneValue(text: string): string {
    let longest: string[] = [];
    const walk = (x: unknown, path: string[]) => {
      if (
        typeof x === 'string' &&
        x.length > 0 &&
        (longest.length === 0 || x.length >= (lookup(doc, longest) as string).length)
      )
        longest = path;
      else if (x !== null && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, [...path, k]);
    };
    const doc = JSON.parse(text) as unknown;
    walk(doc, []);
    const s = lookup(doc, longest) as string;
    const i = Math.floor(s.length / 2);
    set(doc, longest, s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1));
    return JSON.stringify(doc, null, 2);
  }
  const lookup = (x: unknown, path: string[]): unknown =>
    path.reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], x);
  const set = (x: unknown, path: string[], v: unknown) =>
    ((lookup(x, path.slice(0, -1)) as Record<string, unknown>)[path.at(-1)!] = v);

  test.each(files)('tampering with %s makes the audit fail with the file and a reason', async (file) => {
    for (const [how, edit] of [
      ['a value changed', changeOneValue],
      ['truncated', (t: string) => t.slice(0, Math.floor(t.length / 2))],
    ] as const) {
      const dir = join(tmp, `t-${file.replace(/\W/g, '_')}-${how.replace(/\W/g, '_')}`);
      cpSync(deployed, dir, { recursive: true });
      const path = join(dir, file);
      writeFileSync(path, edit(readFileSync(path, 'utf8')));
      const { rc, lines } = await runAudit(dir);
      expect(rc, `${file} ${how}`).toBe(1);
      // a changed pin (roots.json) shows where it no longer verifies: the first signature under it
      const where = file === 'roots.json' && how === 'a value changed' ? '\\S+' : file.replace('.', '\\.');
      expect(lines.at(-1), `${file} ${how}`).toMatch(new RegExp(`^audit FAILED in ${where}: [A-Za-z]+: .+`));
    }
  });

  test('a missing bundle, a missing evidence file, or an unexpected file makes the audit fail', async () => {
    for (const [name, change] of [
      ['no epoch 2', (dir: string) => unlinkSync(join(dir, 'bundles/epoch-0002.json'))],
      ['no evidence', (dir: string) => unlinkSync(join(dir, 'evidence/fleet-2.json'))],
      ['extra file', (dir: string) => writeFileSync(join(dir, 'bundles/epoch-0004.json'), '{}')],
      ['no roots', (dir: string) => unlinkSync(join(dir, 'roots.json'))],
    ] as const) {
      const dir = join(tmp, `m-${name.replace(/\W/g, '_')}`);
      cpSync(deployed, dir, { recursive: true });
      change(dir);
      const { rc, lines } = await runAudit(dir);
      expect(rc, name).toBe(1);
      expect(lines.at(-1), name).toMatch(/^audit FAILED in \S+: [A-Za-z]+: .+/);
    }
  });

  test('--roots: the audit starts from the pinned keys, prints them, refuses other roots', async () => {
    const pinned = join(tmp, 'pinned-roots.json');
    const roots = readFileSync(join(deployed, 'roots.json'), 'utf8');
    writeFileSync(pinned, roots);
    const pins = JSON.parse(roots) as Record<string, string>;
    const ok = capture();
    const io = { print: ok.print, json: null };
    expect(await audit({ positionals: [deployed], options: { roots: pinned } }, io)).toBe(0);
    expect(ok.lines[0]).toMatch(/^trusted keys \(pinned by you/);
    expect(ok.lines.slice(1, 4).join('\n')).toContain(pins.witnessKey!);
    expect(ok.lines.slice(1, 4).join('\n')).toContain(pins.vendorRoot!);
    const unpinned = await runAudit(deployed);
    expect(unpinned.lines[0]).toMatch(/not pinned/);
    for (const key of ['witnessKey', 'operatorKey', 'vendorRoot', 'namespace']) {
      const other = join(tmp, `pinned-${key}.json`);
      const v = pins[key]!;
      writeFileSync(other, JSON.stringify({ ...pins, [key]: (v[0] === '0' ? '1' : '0') + v.slice(1) }));
      const out = capture();
      const io = { print: out.print, json: null };
      expect(await audit({ positionals: [deployed], options: { roots: other } }, io), key).toBe(1);
      expect(out.lines.at(-1)).toMatch(new RegExp(`^audit FAILED in roots\\.json: KeyNotPinned: ${key} `));
    }
  });

  test('usage errors: no --out, a non-empty --out, no directory to audit', async () => {
    await expect(fleetDeploy({ positionals: [], options: {} }, () => {})).rejects.toThrow(UsageError);
    await expect(fleetDeploy({ positionals: [], options: { out: deployed } }, () => {})).rejects.toThrow(UsageError);
    await expect(audit({ positionals: [], options: {} }, { print: () => {}, json: null })).rejects.toThrow(UsageError);
    await expect(runAudit(join(tmp, 'nowhere'))).rejects.toThrow(/ENOENT.*nowhere/);
  });
});

describe('bkv fleet deploy --hsm softhsm', () => {
  test('deploys on SoftHSM tokens in a private directory; the audit refuses the imported fleet keys', async () => {
    const dir = join(tmp, 'softhsm');
    const out = capture();
    // the command points SOFTHSM2_CONF at its own private token directory (and removes it after): restore the run's
    const conf = process.env.SOFTHSM2_CONF;
    try {
      expect(
        await fleetDeploy(
          { positionals: [], options: { out: dir, replicas: '2', hsm: 'softhsm', seed: 'cli-softhsm' } },
          out.print,
        ),
      ).toBe(0);
    } finally {
      process.env.SOFTHSM2_CONF = conf;
    }
    expect(out.lines.join('\n')).toContain('(wrap-seed)');
    const { rc, lines } = await runAudit(dir);
    expect(rc).toBe(1);
    const reason = /^audit FAILED in evidence\/fleet-1\.json: EvidenceInvalid: .*was imported from bytes the host/;
    expect(lines.at(-1)).toMatch(reason);
  });
});
