/**
 * The web console in a real browser (headless Chromium) against two real node processes: logged in by the link
 * `cleanroom console` prints, it shows both members reachable, every table's rules and ann's budget, refuses a
 * query inline with the planner's reason, runs an allowed GROUP BY with a progress bar and a chart of one bar per
 * group whose numbers are the CLI's, and lists the query in History. Its session is no cookie: a page another local
 * user serves on another port of 127.0.0.1 receives nothing of it and gets no answer from the node. Screenshots of
 * every page go to test/e2e/artifacts/ on every run (the README's picture is query-dp.png).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, launchChromium } from '../support/browser.js';
import { DP_BUDGET, DP_EPSILON, DP_SQL, EXACT_SQL, MATCHED_PER_GROUP, REFUSED_SQL, startConsoleCluster } from '../support/console-cluster.js';
import { auditLines, expectRefused, send } from '../support/control-http.js';
import { cleanroom, makeTempDir, stopNode, type Cluster } from './helpers.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { startNode } from '../../scripts/local-cluster.js';
import { readIdentity } from '../../src/manifest/identity.js';
import { proposeManifest } from '../../src/manifest/proposal.js';
import { signManifest } from '../../src/manifest/signature.js';

/*
 * The functions given to page.evaluate run in the page. This project's test build has no DOM library, so they see
 * the little of the page they use through these declarations, which stay local to this file.
 */
declare const document: {
  readonly activeElement: { readonly id: string; readonly textContent: string | null } | null;
  readonly body: object;
  readonly cookie: string;
  querySelector(selector: 'progress'): { readonly value: number } | null;
};
declare const sessionStorage: { readonly length: number; getItem(key: string): string | null };
/** Where the console keeps its session id (web/src/session.ts). */
const SESSION_KEY = 'cleanroom.session';
declare const window: { progressSeen?: number[] };
declare class MutationObserver {
  constructor(callback: () => void);
  observe(target: object, options: { subtree: boolean; childList: boolean; attributes: boolean }): void;
}
interface Canvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray } } | null;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

describe('the web console in Chromium', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let browser: Browser;
  let page: Page;
  /** Whatever the page logs as an error (a script failure, a blocked load under the CSP): none is expected. */
  const pageErrors: string[] = [];

  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup } = await makeTempDir('console'));
    // Both are started at once; whichever fails, the other is kept so that afterAll stops it, and the first failure
    // is the one reported.
    const [c, b] = await Promise.allSettled([startConsoleCluster(dir, 'console-ui'), launchChromium()]);
    if (c.status === 'fulfilled') cluster = c.value;
    if (b.status === 'fulfilled') browser = b.value;
    for (const r of [b, c]) if (r.status === 'rejected') throw r.reason;
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && pageErrors.push(m.text())));
    page.on('response', (r) => void (r.status() >= 400 && pageErrors.push(`${r.status()} ${r.url()}`)));
  });
  afterAll(async () => {
    // Cleanup never hides why the tests failed: each step runs, and its own failure is only logged.
    for (const step of [() => browser?.close(), () => cluster?.stop(), () => cleanup?.()]) {
      await Promise.resolve()
        .then(step)
        .catch((err: unknown) => process.stderr.write(`console test cleanup: ${String(err)}\n`));
    }
  });

  it('the link of `cleanroom console` logs the browser in and the Collaboration page shows both members reachable', async () => {
    const link = await cleanroom(['console', cluster.nodeDirs.ann!]);
    expect(link.code, link.stderr).toBe(0);
    const url = link.stdout.trim();
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${cluster.controlPort.ann}/#login=[0-9a-f]{64}$`));
    await page.goto(url);
    await expect.poll(() => page.locator('td[data-reachable]').count()).toBe(2);
    // The code leaves the address bar: the page is the console's root.
    expect(page.url()).toBe(`http://127.0.0.1:${cluster.controlPort.ann}/`);
    expect(await page.locator('tr[data-member="ann"] td[data-reachable]').getAttribute('data-reachable')).toBe('true');
    expect(await page.locator('tr[data-member="bob"] td[data-reachable]').textContent()).toContain('reachable');
    expect(await page.locator('tr[data-member="bob"] td[data-reachable]').getAttribute('data-reachable')).toBe('true');
    const hash = await cleanroom(['manifest', 'hash', join(cluster.nodeDirs.ann!, 'manifest.json')]);
    expect(await page.locator('code.hash').textContent()).toBe(hash.stdout.trim());
    expect(await page.getByText('Signed by').locator('xpath=following-sibling::dd[1]').textContent()).toContain('ann, bob');
    await shot(page, 'collaboration');
  });

  it('the link works once: a second browser that opens it is not logged in', async () => {
    const link = (await cleanroom(['console', cluster.nodeDirs.ann!])).stdout.trim();
    const [first, second] = [await browser.newContext(), await browser.newContext()];
    try {
      const one = await first.newPage();
      await one.goto(link);
      await one.locator('td[data-reachable]').first().waitFor();
      const two = await second.newPage();
      await two.goto(link);
      await two.getByRole('heading', { name: 'Not logged in' }).waitFor();
      expect(await two.textContent('body')).toContain('used already');
      expect(two.url()).toBe(new URL('/', link).href);
      await two.reload();
      await two.getByRole('heading', { name: 'Not logged in' }).waitFor();
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('Log out ends the session at the node and forgets it in the tab; a reload is then not logged in', async () => {
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto((await cleanroom(['console', cluster.nodeDirs.ann!])).stdout.trim());
      await tab.locator('td[data-reachable]').first().waitFor();
      // A reload keeps the tab's session.
      await tab.reload();
      await tab.locator('td[data-reachable]').first().waitFor();
      const session = await tab.evaluate((key) => sessionStorage.getItem(key), SESSION_KEY);
      expect(session).toMatch(/^[0-9a-f]{64}$/);
      await tab.getByRole('button', { name: 'Log out' }).click();
      await tab.getByText('You logged out').waitFor();
      expect(await tab.evaluate(() => sessionStorage.length)).toBe(0);
      expectRefused(await send(cluster.controlPort.ann!, 'GET', '/api/tables', { authorization: `Session ${session}` }), 401, 'session has ended');
      await tab.reload();
      await tab.getByRole('heading', { name: 'Not logged in' }).waitFor();
      // A new link opened in the same tab changes only the fragment, so the page does not load anew: it logs in still.
      await tab.goto((await cleanroom(['console', cluster.nodeDirs.ann!])).stdout.trim());
      await tab.locator('td[data-reachable]').first().waitFor();
      expect(tab.url()).toBe(`http://127.0.0.1:${cluster.controlPort.ann}/`);
      expect(await tab.evaluate((key) => sessionStorage.getItem(key), SESSION_KEY)).not.toBe(session);
      expect(await context.cookies()).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a page another local user serves on another port of 127.0.0.1 receives no session credential, and the node refuses its requests', async () => {
    const node = `http://127.0.0.1:${cluster.controlPort.ann}`;
    // The other user's server: it records every request the browser sends it, headers and all.
    const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
    const other = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>elsewhere</title><p>another local server</p>');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto((await cleanroom(['console', cluster.nodeDirs.ann!])).stdout.trim());
      await tab.locator('td[data-reachable]').first().waitFor();
      const session = await tab.evaluate((key) => sessionStorage.getItem(key), SESSION_KEY);

      // The same browser, logged in to the console, visits the other server, whose page tries the node's API.
      const visit = await context.newPage();
      // What the node answered each request of that page, CORS preflights and answers the page may not read included:
      // Chromium's own network events see them all, Playwright's only those the page could read.
      const cdp = await context.newCDPSession(visit);
      const urls = new Map<string, string>();
      const answers: string[] = [];
      cdp.on('Network.requestWillBeSent', (e) => void (e.request.url.startsWith(node) && urls.set(e.requestId, `${e.request.method} ${e.request.url.slice(node.length)}`)));
      cdp.on('Network.responseReceivedExtraInfo', (e) => void (urls.has(e.requestId) && answers.push(`${e.statusCode} ${urls.get(e.requestId)}`)));
      await cdp.send('Network.enable');
      await visit.goto(`${elsewhere}/`);
      const before = await auditLines(cluster.nodeDirs.ann!);
      const tried = await visit.evaluate(
        async ({ node, sql }) => {
          const attempt = (url: string, init: RequestInit) =>
            fetch(url, init).then(
              async (r) => `${r.type} ${r.status} ${await r.text()}`,
              (e: unknown) => `failed: ${String(e)}`,
            );
          return {
            own: await attempt('/own', { credentials: 'include' }),
            tables: await attempt(`${node}/api/tables`, { credentials: 'include' }),
            blind: await attempt(`${node}/api/history`, { credentials: 'include', mode: 'no-cors' }),
            form: await attempt(`${node}/query`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ sql }) }),
            json: await attempt(`${node}/query`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql }) }),
            storage: sessionStorage.length,
            cookies: document.cookie,
          };
        },
        { node, sql: EXACT_SQL },
      );

      // Nothing of the session reached the other server, in any request: no cookie, no header that carries it.
      expect(seen.map((r) => r.url)).toEqual(expect.arrayContaining(['/', '/own']));
      for (const r of seen) {
        expect(r.headers.cookie, `cookie sent to ${elsewhere}${r.url}`).toBeUndefined();
        expect(r.headers.authorization).toBeUndefined();
        expect(JSON.stringify(r.headers)).not.toContain(session ?? 'no session');
      }
      expect(await context.cookies()).toEqual([]);
      expect(session).toMatch(/^[0-9a-f]{64}$/);
      expect(tried).toMatchObject({ storage: 0, cookies: '' });
      // Its page reads no answer of the node's: every fetch fails or is opaque, and the node ran no query.
      expect(tried.own).toMatch(/^basic 200 /);
      for (const outcome of [tried.tables, tried.form, tried.json]) expect(outcome).toMatch(/^failed: TypeError/);
      expect(tried.blind).toBe('opaque 0 ');
      expect(await auditLines(cluster.nodeDirs.ann!)).toBe(before);
      // The node refused every request of it: a foreign Origin (403), or no credential at all (401: the no-cors GET
      // carries no Origin); the JSON POST never left the browser, its preflight refused.
      await expect.poll(() => answers.length).toBe(4);
      expect(answers.sort()).toEqual(['401 GET /api/history', '403 GET /api/tables', '403 OPTIONS /query', '403 POST /query']);
      // The console's tab, meanwhile, is still logged in.
      await tab.reload();
      await tab.locator('td[data-reachable]').first().waitFor();
    } finally {
      await context.close();
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('the Tables page states each analysis rule in words and the budget gauge of ann’s own DP table', async () => {
    await page.getByRole('link', { name: 'Tables' }).click();
    const dp = page.locator('section[data-table="t_ann_dp"]');
    await expect.poll(() => dp.count()).toBe(1);
    expect(await dp.textContent()).toContain('May be filtered (WHERE) and grouped (GROUP BY) by: g');
    expect(await dp.textContent()).toContain(`ε = ${DP_EPSILON} and δ = 0.000001 per query`);
    expect(await dp.locator('meter').getAttribute('max')).toBe(String(DP_BUDGET));
    expect(await dp.locator('[data-remaining]').textContent()).toBe(String(DP_BUDGET));
    // What the rest still buys, in queries at the table's own ε (its ρ, should the policy account in zCDP).
    const buys = dp.locator('[data-queries-left]');
    expect(Number(await buys.getAttribute('data-queries-left'))).toBeGreaterThanOrEqual(DP_BUDGET / DP_EPSILON);
    expect(await buys.textContent()).toMatch(/^The remaining (ε|ρ) = [\d.]+ buys \d+ more queries at (ε|ρ) = [\d.]+ each( \(ε = 2 a query\))?\.$/);
    // bob's table has no gauge at ann: only the owner keeps a budget.
    expect(await page.locator('section[data-table="t_bob"] meter').count()).toBe(0);
    expect(await page.locator('section[data-table="t_bob"]').textContent()).toContain('Owner: bob');
    await shot(page, 'tables');
  });

  it('a query the rules refuse shows the planner’s reason inline, with what is allowed, and cannot be run', async () => {
    await page.getByRole('link', { name: 'Query' }).click();
    await page.getByLabel(/^Query \(SQL/).fill(REFUSED_SQL);
    const refused = page.locator('[data-plan="refused"]');
    await refused.waitFor();
    const text = (await refused.textContent()) ?? '';
    expect(text).toContain('RULE_VIOLATION');
    expect(text).toMatch(/Allowed:.*\bg\b/);
    expect(await page.getByRole('button', { name: 'Run query' }).isDisabled()).toBe(true);
    await shot(page, 'query-refused');
  });

  it('the plan of a DP query whose AVG would be mostly noise warns of it, with what would help, before it runs', async () => {
    // Values within [1000, 1100]: noise sized by 1100, judged against a range of 100 (src/query/noise-warnings.ts).
    await page.getByLabel(/^Query \(SQL/).fill('SELECT d.g, COUNT(*), AVG(d.v + 1000) AS shifted FROM t_ann_dp d JOIN t_bob b ON d.k = b.k GROUP BY d.g');
    const warning = page.locator('[data-plan="allowed"] [data-warning="NOISE_WIDER_THAN_RANGE"]');
    await warning.waitFor();
    expect(await warning.textContent()).toMatch(/^shifted: .* its interval spans more than half of its values' range by the declared bounds, \[1,000, 1,100\] .*: declare tighter bounds, .*raise ε/);
    expect(await page.locator('[data-plan="allowed"] .noise-warnings').getAttribute('role')).toBe('note');
    expect(await page.getByRole('button', { name: 'Run query' }).isDisabled()).toBe(false);
    await shot(page, 'query-noise-warning');
  });

  it('an allowed GROUP BY runs with a progress bar and shows one bar per group, the numbers the CLI prints', async () => {
    const sql = page.getByLabel(/^Query \(SQL/);
    await sql.fill(EXACT_SQL);
    // The check runs as you type: wait for this query's verdict, not one left from before.
    await page.locator('[data-plan="allowed"]', { hasText: 'exact answers' }).waitFor();
    expect(await page.locator('[data-plan="allowed"]').textContent()).toContain('exact answers, no budget is charged');
    // Every value the progress bar takes, as the page shows it: the test watches it move, the product knows nothing of this.
    await page.evaluate(() => {
      const seen: number[] = [];
      window.progressSeen = seen;
      new MutationObserver(() => {
        const bar = document.querySelector('progress');
        if (bar && seen[seen.length - 1] !== bar.value) seen.push(bar.value);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.locator('table.result-table').waitFor();
    const seen = await page.evaluate(() => window.progressSeen ?? []);
    const max = Number(await page.locator('progress').getAttribute('max'));
    expect(seen[seen.length - 1]).toBe(max);
    expect(seen.length, `progress values seen: ${seen.join(', ')}`).toBeGreaterThanOrEqual(2);
    expect(await page.locator('ol.stages li[data-stage]').evaluateAll((li) => li.map((l) => l.getAttribute('data-stage')))).toEqual(expect.arrayContaining(['submitted', 'psi', 'done']));

    const rows = await page.locator('table.result-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    const cli = await cleanroom(['query', cluster.nodeDirs.ann!, EXACT_SQL, '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const cliRows = (JSON.parse(cli.stdout) as { rows: (string | number)[][] }).rows;
    expect(cliRows).toEqual([['g0', MATCHED_PER_GROUP], ['g1', MATCHED_PER_GROUP]]);
    expect(rows).toEqual(cliRows.map((r) => r.map(String)));
    // What COUNT(*) counts, the sentence the CLI prints under its table (one function in the node writes both).
    const counts = (JSON.parse(cli.stdout) as { counts?: string }).counts;
    expect(counts).toBe('COUNT(*) counts rows of t_ann whose join key matched t_bob (each row once, however often its key appears there)');
    expect(await page.locator('section.result p.counts').textContent()).toBe(`${counts}.`);

    const canvas = page.locator('figure.chart canvas');
    expect(await canvas.getAttribute('data-bars')).toBe(String(cliRows.length));
    expect(await canvas.getAttribute('aria-label')).toContain(cliRows.map(([g, n]) => `${g}: ${n}`).join('; '));
    expect(await canvasHasInk(page)).toBe(true);
    await shot(page, 'query');
  });

  it('a DP query shows each value with its interval and the chart draws error bars; the gauge then shows the spend', async () => {
    await page.getByLabel(/^Query \(SQL/).fill(DP_SQL);
    // The previous query's verdict is still on the page until this one's arrives.
    await page.locator('[data-plan="allowed"]', { hasText: 'Charges' }).waitFor();
    expect(await page.locator('[data-plan="allowed"]').textContent()).toContain(`Charges ε = ${DP_EPSILON} to t_ann_dp: ${DP_BUDGET} of ε = ${DP_BUDGET} remains`);
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.locator('table.result-table').waitFor();
    await expect.poll(() => page.locator('table.result-table').textContent()).toMatch(/\(\d+ to \d+\)/);
    expect(await page.locator('section.result').textContent()).toContain('Differentially private');
    const label = (await page.locator('figure.chart canvas').getAttribute('aria-label')) ?? '';
    expect(label).toMatch(/g0: \d+ \(\d+ to \d+\); g1: \d+ \(\d+ to \d+\)/);
    await page.getByLabel('Chart of', { exact: true }).selectOption({ label: 'sum_v' });
    expect(await page.locator('figure.chart canvas').getAttribute('aria-label')).toContain('sum_v');
    await page.getByLabel('Chart of', { exact: true }).selectOption({ index: 0 });
    await shot(page, 'query-dp');

    await page.getByRole('link', { name: 'Tables' }).click();
    const remaining = page.locator('section[data-table="t_ann_dp"] [data-remaining]');
    await expect.poll(() => remaining.textContent()).toBe(String(DP_BUDGET - DP_EPSILON));
  });

  it('History lists the queries with who asked and the outcome, verifies the audit chain, and shows a saved result', async () => {
    await page.getByRole('link', { name: 'History' }).click();
    await page.locator('[data-audit]').waitFor();
    expect(await page.locator('[data-audit]').getAttribute('data-audit')).toBe('intact');
    const items = page.locator('tr[data-query]');
    // The console's two queries and the CLI's one.
    await expect.poll(() => items.count()).toBe(3);
    expect(await items.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')))).toEqual(['result', 'result', 'result']);
    const exact = page.locator('tr[data-query]', { hasText: EXACT_SQL }).first();
    expect(await exact.textContent()).toContain('ann (this node)');
    expect(await exact.textContent()).toContain('2 group(s) of g, count to ann');
    await exact.getByRole('button', { name: /Show the result/ }).click();
    await page.locator('table.result-table').waitFor();
    expect(await page.locator('table.result-table tbody tr').count()).toBe(2);
    // A saved result says what it counts too.
    expect(await page.locator('section.result p.counts').textContent()).toContain('COUNT(*) counts rows of t_ann whose join key matched t_bob');
    await shot(page, 'history');
  });

  it('the Tables page reports the match rate of ann\'s own table against bob\'s, as `cleanroom match` does', async () => {
    await page.goto(new URL('/#/tables', page.url()).href);
    const card = page.locator('[data-match="t_ann"]');
    await card.waitFor();
    expect(await card.getByLabel('Partner').inputValue()).toBe('bob');
    await card.getByRole('button', { name: 'Check the match rate' }).click();
    const line = card.locator('[data-match-line="t_bob"]');
    await line.waitFor();
    const cli = await cleanroom(['match', cluster.nodeDirs.ann!, 't_ann', '--with', 'bob', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const { ownKeys, matched } = JSON.parse(cli.stdout) as { ownKeys: number; matched: number };
    expect(matched).toBeGreaterThan(0);
    expect(await line.textContent()).toBe(`t_ann.k ~ t_bob.k: ${matched} of your ${ownKeys} distinct keys match, ${((100 * matched) / ownKeys).toFixed(1)}%`);
    await shot(page, 'tables-match');
  });

  it('Cancel stops a running query on both nodes: nothing released, both audits say cancelled, the budget stays charged', async () => {
    const ann = cluster.nodeDirs.ann!;
    const bob = cluster.nodeDirs.bob!;
    await page.goto(new URL('/#/tables', page.url()).href);
    const remaining = page.locator('section[data-table="t_ann_dp"] [data-remaining]');
    await remaining.waitFor();
    const before = Number(await remaining.textContent());
    // bob stops itself (SIGSTOP) as it first sends points: the query stays in PSI until it is cancelled.
    await stopNode(cluster.nodes.bob!);
    cluster.nodes.bob = await startNode(bob, { CLEANROOM_FAILPOINT: 'freeze@send:points' });
    const frozen = () => readFileSync(`/proc/${cluster.nodes.bob!.process.pid}/stat`, 'utf8').split(' ')[2] === 'T';
    try {
      await page.getByRole('link', { name: 'Query' }).click();
      await page.getByLabel(/^Query \(SQL/).fill(DP_SQL);
      await page.locator('[data-plan="allowed"]', { hasText: 'Charges' }).waitFor();
      await page.getByRole('button', { name: 'Run query' }).click();
      await expect.poll(frozen, { timeout: 15_000 }).toBe(true);
      // The progress names what ann does and what bob does, as far as ann can tell.
      await expect.poll(() => page.locator('section.progress p').textContent()).toMatch(/bob: /);
      await shot(page, 'query-running');
      const cancel = page.getByRole('button', { name: 'Cancel' });
      const clicked = Date.now();
      await cancel.click();
      await page.locator('[role="alert"][data-error-code="CANCELLED"]').waitFor({ timeout: 10_000 });
      expect(Date.now() - clicked).toBeLessThan(10_000);
      expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
      await shot(page, 'query-cancelled');
    } finally {
      cluster.nodes.bob!.process.kill('SIGCONT');
    }
    const entries = async (dir: string) => (await readFile(join(dir, 'audit.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { queryId: string; event: string; sql: string });
    const cancelled = (await entries(ann)).filter((e) => e.event === 'cancelled' && e.sql === DP_SQL);
    expect(cancelled).toHaveLength(1);
    const queryId = cancelled[0]!.queryId;
    // bob, running again, ends its side: with the abort when it reads it first (cancelled), or, on a busy machine, with
    // ann's closed connection when its own resumed send meets it first (failed); either way nothing is released.
    await expect
      .poll(async () => (await entries(bob)).filter((e) => e.queryId === queryId).map((e) => e.event), { timeout: 15_000 })
      .toEqual(['accepted', expect.stringMatching(/^(cancelled|failed)$/)]);
    for (const dir of [ann, bob]) expect((await entries(dir)).filter((e) => e.queryId === queryId && (e.event === 'result' || e.event === 'released'))).toEqual([]);
    expect(existsSync(join(ann, 'results', `${queryId}.json`))).toBe(false);
    // Charged when ann accepted its own query, and never refunded.
    await page.getByRole('link', { name: 'Tables' }).click();
    await expect.poll(() => remaining.textContent()).toBe(String(before - DP_EPSILON));
    // bob as before, for the tests that follow.
    await stopNode(cluster.nodes.bob!);
    cluster.nodes.bob = await startNode(bob);
  });

  it('a partly signed new version in the manifest file shows as pending, with who signed and who has not', async () => {
    const file = join(cluster.nodeDirs.ann!, 'manifest.json');
    const original = readFileSync(file, 'utf8');
    const current = JSON.parse(original) as { manifest: Parameters<typeof proposeManifest>[0] };
    const next = proposeManifest(current.manifest, { ...current.manifest, name: `${current.manifest.name} (v2)` });
    next.signatures.ann = signManifest(next.manifest, 'ann', (await readIdentity(join(cluster.nodeDirs.ann!, 'identity.json'))).secretKey);
    writeFileSync(file, JSON.stringify(next, null, 2));
    try {
      await page.goto(new URL('/#/collaboration', page.url()).href);
      // The node looks at its manifest file every second: reload until the card is there.
      await expect
        .poll(async () => {
          await page.reload();
          await page.locator('td[data-reachable]').first().waitFor();
          return page.locator('[data-pending-version]').count();
        }, { timeout: 15_000 })
        .toBe(1);
      const card = page.locator('[data-pending-version]');
      expect(await card.getAttribute('data-pending-version')).toBe(String(current.manifest.version + 1));
      expect(await card.locator('h2').textContent()).toBe(`Pending manifest version ${current.manifest.version + 1}`);
      expect(await card.locator('dd[data-signed]').textContent()).toBe('ann');
      expect(await card.locator('dd[data-missing]').textContent()).toBe('bob');
      expect(await card.textContent()).toContain(`not signed by bob (signed by ann)`);
      await shot(page, 'collaboration-pending');
    } finally {
      writeFileSync(file, original);
    }
  });

  it('works from the keyboard: the page links are reachable by Tab and Enter opens a page', async () => {
    await page.goto(new URL('/#/collaboration', page.url()).href);
    // A fresh load: focus starts at the top of the document, not where the last test left it.
    await page.reload();
    await page.locator('td[data-reachable]').first().waitFor();
    // Skip link first, then the four page links.
    for (let i = 0; i < 4; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Query');
    await page.keyboard.press('Enter');
    await page.getByLabel(/^Query \(SQL/).waitFor();
    // Focus moves to the new page's heading, where a screen reader starts reading.
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('page-heading');
    expect(pageErrors).toEqual([]);
  });
});

/** Whether the chart's canvas holds any opaque pixel: Chart.js drew on it. */
function canvasHasInk(page: Page): Promise<boolean> {
  return page.locator('figure.chart canvas').evaluate((element) => {
    const c = element as unknown as Canvas;
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) return true;
    return false;
  });
}
