/**
 * What the console does to help write queries, in headless Chromium against two real node processes (ann and bob of
 * test/support/console-cluster.ts): the Query page's schema browser, whose column buttons insert `alias.column` at
 * the editor's cursor; example queries from the manifest, each planned by the node and loaded with one click; saved
 * queries that outlive a reload; History with each query's ε charge, manifest version and duration; and the Tables
 * page with each own table's source, rows and the problems a check of its rows finds. Screenshots go to
 * test/e2e/artifacts/helpers-*.png.
 */
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryView, PlanView, SchemaView, TableView } from '../../src/console/api.js';
import { readControlToken } from '../../src/control/control-token.js';
import { ARTIFACTS, launchChromium } from '../support/browser.js';
import { DP_EPSILON, DP_SQL, EXACT_SQL, startConsoleCluster } from '../support/console-cluster.js';
import { send } from '../support/control-http.js';
import { cleanroom, makeTempDir, type Cluster } from './helpers.js';

/** The page's own objects the tests reach into, declared here: the test build has no DOM library. */
declare const localStorage: { getItem(key: string): string | null };
interface TextArea {
  readonly value: string;
  setSelectionRange(start: number, end: number): void;
  focus(): void;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `helpers-${name}.png`), fullPage: true });

describe('the console helps write queries', () => {
  let cluster: Cluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let browser: Browser;
  let page: Page;
  let token: string;
  const pageErrors: string[] = [];

  const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const headers = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const r = await send(cluster.controlPort.ann!, method, path, headers, body === undefined ? undefined : JSON.stringify(body));
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body) as T;
  };
  const editor = () => page.getByLabel(/^Query \(SQL/);
  const editorValue = () => editor().inputValue();
  /** Puts the editor's cursor at `at`, as a click inside its text would. */
  const cursorAt = (at: number) =>
    editor().evaluate((el, n) => {
      const t = el as unknown as TextArea;
      t.focus();
      t.setSelectionRange(n, n);
    }, at);
  const insertButton = (table: string, column: string) => page.getByRole('button', { name: `Insert ${table}.${column} into the query` });

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('console-helpers'));
    const [c, b] = await Promise.allSettled([startConsoleCluster(dir, 'console-helpers'), launchChromium()]);
    if (c.status === 'fulfilled') cluster = c.value;
    if (b.status === 'fulfilled') browser = b.value;
    for (const r of [b, c]) if (r.status === 'rejected') throw r.reason;
    token = await readControlToken(cluster.nodeDirs.ann!);
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && pageErrors.push(m.text())));
    page.on('response', (r) => void (r.status() >= 400 && pageErrors.push(`${r.status()} ${r.url()}`)));
    const link = await cleanroom(['console', cluster.nodeDirs.ann!]);
    expect(link.code, link.stderr).toBe(0);
    await page.goto(link.stdout.trim());
    await page.locator('td[data-reachable]').first().waitFor();
  });
  afterAll(async () => {
    for (const step of [() => browser?.close(), () => cluster?.stop(), () => cleanup?.()]) {
      await Promise.resolve()
        .then(step)
        .catch((err: unknown) => process.stderr.write(`console helpers test cleanup: ${String(err)}\n`));
    }
  });

  it('the schema browser shows what each rule allows, and a column click inserts alias.column at the cursor', async () => {
    await page.getByRole('link', { name: 'Query' }).click();
    const bob = page.locator('[data-schema-table="t_bob"]');
    await bob.waitFor();
    expect(await page.locator('[data-schema-table]').evaluateAll((s) => s.map((e) => e.getAttribute('data-schema-table')))).toEqual(['t_ann', 't_ann_dp', 't_bob']);
    expect(await bob.locator('[data-schema-column="k"]').textContent()).toContain('join key (JOIN … ON, exact)');
    const g = (await bob.locator('[data-schema-column="g"]').textContent()) ?? '';
    expect(g).toContain('one of g0, g1');
    expect(g).toContain('WHERE, GROUP BY');
    // t_bob's grant to ann lists g among its filters: ann may group by it as the partner's dimension (SPEC §4.6).
    expect(g).toContain('GROUP BY as the partner’s dimension by you');
    expect(await bob.locator('[data-schema-column="v"]').textContent()).toContain('SUM(…), AVG(…)');
    expect(await page.locator('[data-schema-table="t_ann_dp"]').textContent()).toContain('ε = 2 per query');

    // Under the alias the editor's FROM gives the table: at the end, then at a cursor put inside the text.
    const tail = 'COUNT(*) FROM t_ann a JOIN t_bob bb ON a.k = bb.k GROUP BY';
    await editor().fill(`SELECT , ${tail}`);
    await cursorAt((await editorValue()).length);
    await insertButton('t_bob', 'g').click();
    expect(await editorValue()).toBe(`SELECT , ${tail} bb.g`);
    await cursorAt('SELECT '.length);
    await insertButton('t_bob', 'g').click();
    expect(await editorValue()).toBe(`SELECT bb.g, ${tail} bb.g`);
    // The cursor stays after what was inserted: typing goes on from there.
    await page.keyboard.type(' ');
    expect(await editorValue()).toBe(`SELECT bb.g , ${tail} bb.g`);
    await page.locator('[data-plan="allowed"]', { hasText: 'aggregate query' }).waitFor();
    await shot(page, 'schema-insert');

    // A table the query does not read yet goes in under the alias the browser shows for it.
    await editor().fill('SELECT ');
    await cursorAt(7);
    await insertButton('t_ann_dp', 'v').click();
    expect(await editorValue()).toBe('SELECT tad.v');
  });

  it('each example query plans without error, and one click loads it into the editor where it is allowed', async () => {
    const schema = await api<SchemaView>('GET', '/api/schema');
    expect(new Set(schema.examples.map((e) => e.kind))).toEqual(new Set(['count-only', 'group-by', 'partner-dimension']));
    for (const e of schema.examples) {
      const plan = await api<PlanView>('POST', '/api/plan', { sql: e.sql });
      expect(plan.ok, `${e.sql}: ${JSON.stringify(plan)}`).toBe(true);
    }
    const partner = schema.examples.find((e) => e.kind === 'partner-dimension')!;
    expect(partner.sql).toMatch(/GROUP BY tb\.g$/);
    const list = page.locator('[data-example]');
    await expect.poll(() => list.count()).toBe(schema.examples.length);
    for (const [i, e] of schema.examples.entries()) {
      await list.nth(i).getByRole('button', { name: /^Load the example/ }).click();
      expect(await editorValue()).toBe(e.sql);
      await page.locator('[data-plan="allowed"]', { hasText: `${e.kind === 'count-only' ? 'count-only' : 'aggregate'} query` }).waitFor();
    }
    await list.filter({ hasText: partner.sql }).getByRole('button', { name: /^Load the example/ }).click();
    expect(await editorValue()).toBe(partner.sql);
    await page.locator('[data-plan="allowed"]', { hasText: 'aggregate query' }).waitFor();
    await shot(page, 'example');
  });

  it('a saved query is kept in this browser for this node and survives a reload', async () => {
    const sql = 'SELECT b.g, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k GROUP BY b.g';
    await editor().fill(sql);
    await page.getByLabel('Save the query in the editor as').fill('per partner group');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('[data-saved="per partner group"]').waitFor();
    await page.reload();
    const saved = page.locator('[data-saved="per partner group"]');
    await saved.waitFor();
    expect(await saved.textContent()).toContain(sql);
    expect(JSON.parse((await page.evaluate(() => localStorage.getItem('cleanroom.saved-queries'))) ?? '[]')).toEqual([{ name: 'per partner group', sql }]);
    // Loading replaces whatever the editor holds.
    await editor().fill('SELECT');
    await saved.getByRole('button', { name: 'Load the saved query per partner group' }).click();
    expect(await editorValue()).toBe(sql);
    await page.locator('[data-plan="allowed"]', { hasText: 'aggregate query' }).waitFor();
    await shot(page, 'saved');
  });

  it('History shows each query’s ε charge, the manifest version it was checked against and its duration', async () => {
    for (const [i, sql] of [DP_SQL, EXACT_SQL].entries()) {
      await editor().fill(sql);
      await page.locator('[data-plan="allowed"]', { hasText: sql === DP_SQL ? 'Charges' : 'exact answers' }).waitFor();
      await page.getByRole('button', { name: 'Run query' }).click();
      // The result of the query before stays on the page until this one's arrives: the node's history says when.
      await expect.poll(async () => (await api<HistoryView>('GET', '/api/history')).items.filter((q) => q.status === 'result').length, { timeout: 60_000 }).toBe(i + 1);
    }
    const version = (await api<{ manifestVersion: number }>('GET', '/status')).manifestVersion;
    await page.getByRole('link', { name: 'History' }).click();
    const rows = page.locator('tr[data-query]');
    await expect.poll(() => rows.count()).toBe(2);
    const dp = page.locator('tr[data-query]', { hasText: DP_SQL });
    expect(await dp.locator('[data-charged]').textContent()).toBe(`ε = ${DP_EPSILON} to t_ann_dp`);
    const exact = page.locator('tr[data-query]', { hasText: EXACT_SQL });
    expect(await exact.locator('[data-charged]').textContent()).toBe('none');
    for (const row of [dp, exact]) {
      expect(await row.locator('[data-manifest-version]').textContent()).toBe(`v${version}`);
      const ms = Number(await row.locator('[data-duration-ms]').getAttribute('data-duration-ms'));
      expect(ms).toBeGreaterThan(0);
      expect(await row.locator('[data-duration-ms]').textContent()).toMatch(/^\d+ ms$|^\d+\.\d s$/);
    }
    await shot(page, 'history');
  });

  it('the Tables page shows each own table’s source, its rows and a problem a check of them finds', async () => {
    // A value above v's declared bound (0 to 100), appended while the node runs: the page checks the file again.
    await appendFile(join(dir, 't_ann.csv'), 'k9999,g1,500\n');
    const tables = await api<TableView[]>('GET', '/api/tables');
    expect(tables.find((t) => t.name === 't_bob')!.data).toBeUndefined();
    await page.getByRole('link', { name: 'Tables' }).click();
    const ann = page.locator('[data-source="t_ann"]');
    await ann.waitFor();
    expect(await ann.locator('[data-source-path]').textContent()).toBe(join(dir, 't_ann.csv'));
    expect(await ann.textContent()).toContain('File (CSV)');
    expect(await ann.locator('[data-rows]').getAttribute('data-rows')).toBe('301');
    expect(await ann.locator('[data-check]').getAttribute('data-check')).toBe('problems');
    const problem = (await ann.locator('[data-problem]').first().textContent()) ?? '';
    expect(problem).toContain('line 302');
    expect(problem).toContain('v "500"');
    expect(await ann.textContent()).toContain('Queries that use the columns named are refused; the others run.');
    // The background hashing of its join key (src/node/cache-warmer.ts), as `cleanroom status` says it.
    expect(tables.find((t) => t.name === 't_ann')!.hashCache).toEqual([expect.objectContaining({ key: 'k', state: expect.stringMatching(/^(waiting|hashing|ready)$/) })]);
    expect(await ann.locator('[data-hash-cache="k"]').getAttribute('data-state')).toMatch(/^(waiting|hashing|ready)$/);
    expect(tables.find((t) => t.name === 't_bob')!.hashCache).toBeUndefined();
    const dp = page.locator('[data-source="t_ann_dp"]');
    expect(await dp.locator('[data-rows]').getAttribute('data-rows')).toBe('300');
    expect(await dp.locator('[data-check]').getAttribute('data-check')).toBe('ok');
    await page.locator('[data-source="t_ann"]').scrollIntoViewIfNeeded();
    await shot(page, 'tables');
    expect(pageErrors).toEqual([]);
  });
});
