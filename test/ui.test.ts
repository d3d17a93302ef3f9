/**
 * `tropos ui` end to end: the page in a real headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser is downloaded) against the UI server over the local control plane. Screenshots of the run page and the
 * plan review are written to docs/ui/ (the README shows them). Without chromium on PATH this file says so and skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ApiClient } from '../lib/cli/client';
import { startUi, type UiServer } from '../lib/ui/server';
import { ROOT } from './helpers/fixtures';
import { DEV, PROD, startTestPlane, type TestPlane } from './helpers/local';

const which = spawnSync('which', ['chromium'], { encoding: 'utf8' });
const executablePath = which.status === 0 ? which.stdout.trim() : '';
if (!executablePath)
  console.warn(
    'SKIPPED test/ui.test.ts (tropos ui in headless Chromium): chromium is not on PATH (apt-get install chromium)',
  );
const suite = executablePath ? describe : describe.skip;
const SHOTS = join(ROOT, 'docs', 'ui');

suite('tropos ui in headless Chromium', () => {
  let t: TestPlane;
  let ui: UiServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    t = await startTestPlane();
    // The page acts as `approver`; the runs are asked for by `requester` (separation of duties).
    ui = await startUi({ client: new ApiClient(t.plane.url, 'approver') });
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(ui.openUrl);
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await ui?.close();
    await t?.close();
  });

  const open = async (hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };
  const statusOf = (selector: string) => page.locator(`${selector} [data-status]`).first().textContent();

  test('the runs list shows a finished run; its page shows each component with its status and the graph', async () => {
    const d = await t.run('plan-environment', DEV);
    expect(d.run.status).toBe('SUCCEEDED');
    await open('#/runs');
    // (The page polls: a row it showed while the run ran turns SUCCEEDED at its next read.)
    await page.locator(`tr[data-run="${d.run.runId}"] [data-status="SUCCEEDED"]`).waitFor();
    // A filter the page applies through the API.
    await page.selectOption('select[name=status]', 'FAILED');
    await page.locator(`tr[data-run="${d.run.runId}"]`).waitFor({ state: 'detached' });

    await open(`#/run/${d.run.runId}`);
    for (const c of d.components) {
      const row = `tr[data-component="${c.step}/${c.component}"]`;
      await page.locator(row).waitFor();
      expect(await statusOf(row)).toBe(c.status);
    }
    await page.locator('.graph svg').waitFor();
    expect(await page.locator('.graph svg .node').count()).toBe(d.components.length);
  }, 120_000);

  test('approving from the plan review lets a waiting prod run finish', async () => {
    const started = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
    const runId = String(started.body.runId);
    await open(`#/run/${runId}`);
    const review = page.locator(`section[data-approval="${runId}.approve"]`);
    await review.waitFor({ timeout: 60_000 });
    await expect(review.locator('pre').first().textContent()).resolves.toMatch(/^\+ terraform_data\./);
    // terraform's own rendering of a plan, a click away.
    await review.locator('div.plan', { hasText: 'vpc' }).locator('button[name=plan-text]').click();
    await expect(review.locator('pre.log').textContent()).resolves.toContain(
      'Plan: 1 to add, 0 to change, 0 to destroy.',
    );
    await review.locator('textarea[name=comment]').fill('reviewed in the UI');
    await review.screenshot({ path: join(SHOTS, 'plan-review.png') });
    await review.locator('button[name=approve]').click();
    const d = await t.waitFor(runId, undefined, 120_000);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(d.approvals[0]).toMatchObject({
      status: 'APPROVED',
      decidedBy: 'local:approver',
      comment: 'reviewed in the UI',
    });
  }, 180_000);

  test('retry from the run page re-runs the failed component', async () => {
    t.scenario({ components: { acm: { apply: 'fail' } } });
    const failed = await t.run('apply-environment', DEV);
    expect(failed.run.status).toBe('FAILED');
    t.scenario({});
    await open(`#/run/${failed.run.runId}`);
    await page.locator('tr[data-component="apply/acm"] .error').waitFor();
    // The failed build's log, through the API.
    await page.locator('tr[data-component="apply/acm"] button[name=log]').click();
    await expect(page.locator('tr[data-component="apply/acm"] pre.log').textContent()).resolves.toContain(
      'Error: creating acm: AccessDenied (stand-in)',
    );
    await page.locator('button[name=retry]').click();
    await page.waitForFunction(
      (from) => location.hash.startsWith('#/run/') && !location.hash.endsWith(from),
      failed.run.runId,
    );
    const retryId = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/run/'.length));
    const d = await t.waitFor(retryId, undefined, 120_000);
    expect(d.run).toMatchObject({ status: 'SUCCEEDED', retryOf: failed.run.runId });
    // Only what did not get done is applied (reuse across runs is tested in test/retry.test.ts).
    const applied = [
      ...new Set(
        t
          .calls()
          .filter((c) => c.sub === 'apply')
          .map((c) => c.component),
      ),
    ].sort();
    expect(applied).toContain('acm');
    expect(applied).toEqual(String(d.run.input.components).split(','));
    // The page follows the retry to its end.
    await page.locator('h1 [data-status="SUCCEEDED"]').waitFor();
    await page.locator('.graph svg').waitFor();
    await page.screenshot({ path: join(SHOTS, 'run-page.png'), fullPage: true });
  }, 180_000);

  test('no other page or process can use it: a session token, its own origin and host only', async () => {
    const token = new URL(ui.openUrl).hash.slice('#token='.length);
    const api = (headers: Record<string, string>) => fetch(`${ui.url}/api/runs`, { headers }).then((r) => r.status);
    expect(await api({})).toBe(401);
    expect(await api({ 'x-tropos-session': 'wrong' })).toBe(401);
    expect(await api({ 'x-tropos-session': token })).toBe(200);
    expect(await api({ 'x-tropos-session': token, origin: 'https://evil.example' })).toBe(403);
    // DNS rebinding: a name that resolves to loopback is still not this server's host.
    const rebound = await new Promise<number>((resolve, reject) =>
      request(`${ui.url}/api/runs`, { headers: { 'x-tropos-session': token, host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end(),
    );
    expect(rebound).toBe(421);
    // A page of another origin in the same browser: its request is refused (no token; its Origin is not ours).
    const other = await browser.newPage();
    await other.goto('about:blank');
    const status = await other.evaluate(
      (url) =>
        fetch(`${url}/api/runs/x/retry`, { method: 'POST', body: '{}', mode: 'no-cors' })
          .then((r) => r.status)
          .catch(() => -1),
      ui.url,
    );
    expect(status === 0 || status === -1).toBe(true); // opaque or blocked: nothing readable
    await other.close();
    // Only the routes the page calls are forwarded.
    const unlock = await fetch(`${ui.url}/api/stacks/acme-dev-testenv-01/unlock`, {
      method: 'POST',
      headers: { 'x-tropos-session': token, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'x', force: true }),
    });
    expect(unlock.status).toBe(404);
  }, 60_000);
});
