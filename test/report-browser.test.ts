/**
 * The reports in a real browser (spec ch. 14.6): Debian's chromium, driven by playwright-core
 * through its executable path, opens from disk the run report of a broken vault
 * (`bkv check --broken count-at-ke3 --report`), the site of `bkv report` and the bench report, and
 * checks what a reader would look at: no console error on any page; the timeline shows the
 * violation element with its INV-n and the operations the checker names; every mermaid diagram is
 * drawn, each machine's with all its states; each chart has its series. Screenshots are kept under
 * test-results/report-browser/ (ignored by git). The checks are shown able to fail: a diagram that
 * does not parse is a console error, and a passing run's timeline has no violation element.
 *
 * Without chromium the test fails with the command that installs it (`.ci/run` installs it).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { COMMANDS } from '../src/cli/commands.ts';
import { main } from '../src/cli/main.ts';
import { ROOT } from '../src/cli/paths.ts';
import { listStateNodes } from '../model/coverage.ts';
import { MACHINES } from '../model/docs.ts';
import { writeBenchReport } from '../src/report/bench.ts';
import { buildSite } from '../src/report/site.ts';
import { page as htmlPage } from '../src/report/html.ts';

const CHROMIUM = process.env.BKV_CHROMIUM ?? '/usr/bin/chromium';
const INSTALL = 'sudo apt-get install -y chromium   (Debian/Ubuntu; or set BKV_CHROMIUM to a Chromium binary)';
/** The flags this machine's Chromium needs: no sandbox as root, no GPU, no network of its own. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = join(ROOT, 'test-results', 'report-browser');

const tmp = mkdtempSync(join(tmpdir(), 'bkv-report-'));
let context: BrowserContext | null = null;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`chromium not found at ${CHROMIUM}: the browser test needs it. Install it with:\n  ${INSTALL}`);
  mkdirSync(SHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    args: FLAGS,
    headless: true,
    viewport: { width: 1400, height: 1000 },
  });
  // no network: any request that is not for a file of the report fails the page
  await context.route(/^(?!file:)/, (route) => route.abort());
}, 60_000);

afterAll(async () => {
  await context?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Opens a file; returns the page and its console errors and page errors (filled as it runs). */
async function open(file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context!.newPage();
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(pathToFileURL(file).href);
  if ((await page.locator('pre.mermaid').count()) > 0)
    await page.waitForSelector('body[data-diagrams]', { timeout: 20_000 });
  return { page, errors };
}

async function bkv(argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => out.push(l) }, COMMANDS);
  return { code, out };
}

describe('a run report of a broken vault, in chromium', () => {
  test('bkv check --broken count-at-ke3 --report: the timeline shows INV-1 and the operations it names', async () => {
    const dir = join(tmp, 'r');
    const r = await bkv(['check', '--broken', 'count-at-ke3', '--seed', '1', '--report', dir]);
    expect(r.code, r.out.join('\n')).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    const named: number[] = json.runs[0].violation.operations;
    expect(named.length).toBeGreaterThan(0);
    const { page, errors } = await open(join(dir, 'index.html'));
    const violation = page.locator('svg.timeline g.violation[data-invariant="INV-1"]');
    await expect.poll(() => violation.count()).toBe(1);
    expect(await violation.isVisible()).toBe(true);
    expect(await violation.textContent()).toContain('INV-1');
    const outlined = await page
      .locator('svg.timeline rect.op.named')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-op'))));
    expect(outlined.sort((a, b) => a - b)).toEqual([...named].sort((a, b) => a - b));
    expect(await page.locator('tr.violated[data-invariant="INV-1"]').count()).toBe(1);
    // a step's state unfolds: every replica's (the shrunk scenario's fleet: 3 or 5)
    const last = page.locator('tr.step').last();
    await last.locator('summary').click();
    const replicas: number = json.runs[0].timeline.replicas.length;
    expect(replicas).toBeGreaterThanOrEqual(3);
    expect(await last.locator('.state div').count()).toBe(replicas);
    await page.locator('svg.timeline').screenshot({ path: join(SHOTS, 'run-timeline.png') });
    await page.screenshot({ path: join(SHOTS, 'run-report.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('a passing run has no violation element (the check above can fail)', async () => {
    const dir = join(tmp, 'ok');
    const r = await bkv(['check', '--suite', 'guess-limit', '--runs', '1', '--seed', '1', '--report', dir]);
    expect(r.code, r.out.join('\n')).toBe(0);
    const { page, errors } = await open(join(dir, 'index.html'));
    expect(await page.locator('svg.timeline').count()).toBe(1);
    expect(await page.locator('svg.timeline g.violation').count()).toBe(0);
    expect(await page.locator('svg.timeline rect.op').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });
});

describe('the site of bkv report, in chromium', () => {
  const site = join(tmp, 'site');
  beforeAll(() => {
    buildSite({ root: ROOT, out: site });
  });

  test('every chapter with diagrams, and one without: no console error, every mermaid block drawn', async () => {
    const drawn = readdirSync(join(ROOT, 'spec')).filter((f) =>
      readFileSync(join(ROOT, 'spec', f), 'utf8').includes('```mermaid'),
    );
    expect(drawn.length).toBeGreaterThan(0);
    for (const chapter of [...drawn.map((f) => f.replace(/\.md$/, '')), '12-invariants']) {
      const { page, errors } = await open(join(site, `${chapter}.html`));
      const blocks = await page.locator('pre.mermaid').count();
      expect(await page.locator('pre.mermaid svg').count(), chapter).toBe(blocks);
      if (blocks > 0) expect(await page.getAttribute('body', 'data-diagrams'), chapter).toBe('drawn');
      if (chapter === '10-models') await page.screenshot({ path: join(SHOTS, 'spec-10-models.png') });
      expect(errors, chapter).toEqual([]);
    }
  });

  test('each machine diagram has its states; rules link to modules and tests', async () => {
    const { page, errors } = await open(join(site, 'machines.html'));
    for (const m of MACHINES) {
      const section = page.locator(`#machine-${m.name}`);
      const text = (await section.locator('pre.mermaid svg').textContent()) ?? '';
      const states = listStateNodes(m.machine)
        .slice(1)
        .map((n) => n.key);
      expect(states.length).toBeGreaterThan(1);
      for (const s of states) expect(text, `${m.name}: state ${s}`).toContain(s);
      await section.screenshot({ path: join(SHOTS, `machine-${m.name}.png`) });
    }
    expect(errors).toEqual([]);
    const rules = await open(join(site, 'rules.html'));
    const inv1 = rules.page.locator('#INV-1');
    const modules = await inv1
      .locator('a[href^="code/src/"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('href')!));
    expect(modules.length).toBeGreaterThan(0);
    expect(await inv1.locator('a[href^="code/test/"]').count()).toBeGreaterThan(0);
    expect(rules.errors).toEqual([]);
    // the link lands on the line that names the rule
    const [file, line] = modules[0]!.split('#');
    const code = await open(join(site, file!));
    expect(await code.page.locator(`#${line}`).textContent()).toContain('INV-1');
  });

  test('each chart of the figures has its series', async () => {
    const { page, errors } = await open(join(site, 'bench.html'));
    const charts = page.locator('svg.chart');
    expect(await charts.count()).toBeGreaterThanOrEqual(4);
    for (const chart of await charts.all()) {
      const series = await chart
        .locator('[data-series]')
        .evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-series')))]);
      const legend = await chart
        .locator('xpath=preceding-sibling::p[contains(@class,"legend")]//span')
        .allTextContents();
      expect(series.length, (await chart.getAttribute('id')) ?? '').toBeGreaterThan(0);
      expect(series.sort()).toEqual([...legend].sort());
    }
    await page.screenshot({ path: join(SHOTS, 'figures.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('the bench report of npm run bench -- --report: the same charts', async () => {
    const index = writeBenchReport(
      join(tmp, 'bench'),
      JSON.parse(readFileSync(join(ROOT, 'bench', 'results.json'), 'utf8')),
    );
    const { page, errors } = await open(index);
    expect(await page.locator('svg.chart [data-series]').count()).toBeGreaterThan(10);
    expect(errors).toEqual([]);
  });

  test('a diagram that does not parse is a console error (the check above can fail)', async () => {
    const file = join(site, 'broken.html');
    writeFileSync(
      file,
      htmlPage({ title: 'broken', mermaid: true }, '<pre class="mermaid">stateDiagram-v2\n  A --> : ???</pre>'),
    );
    const { page, errors } = await open(file);
    expect(await page.getAttribute('body', 'data-diagrams')).toBe('failed');
    expect(errors.length).toBeGreaterThan(0);
  });
});
