/**
 * The console's JSON API on the control interface of a real node process, and the login that lets a browser use it:
 * every endpoint refuses a request without the token or a session, from a foreign Origin or under a rebound Host;
 * a login code works once and yields a session id the page sends as `Authorization: Session <id>` (never a cookie:
 * none is set, and one is no credential), which alone opens no door to another origin.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUDIT_FILE } from '../../src/audit/audit-log.js';
import type { CollaborationView, HistoryView, PlanView, TableView } from '../../src/console/api.js';
import { readControlToken } from '../../src/control/control-token.js';
import { DP_BUDGET, DP_EPSILON, DP_SQL, EXACT_SQL, MATCHED_PER_GROUP, REFUSED_SQL, startConsoleCluster } from '../support/console-cluster.js';
import { auditLines, expectRefused, send } from '../support/control-http.js';
import { cleanroom, makeTempDir, stopNode, type Cluster } from './helpers.js';

const ENDPOINTS: readonly [string, string][] = [
  ['GET', '/status'],
  ['POST', '/query'],
  ['GET', '/api/collaboration'],
  ['GET', '/api/tables'],
  ['GET', '/api/schema'],
  ['POST', '/api/plan'],
  ['POST', '/api/match'],
  ['GET', '/api/history'],
  ['GET', `/api/results/${'0'.repeat(32)}`],
  ['POST', '/api/login-code'],
  ['POST', '/api/logout'],
];

describe('the console API and its login', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let ann: string;
  let port: number;
  let token: string;
  const json = { 'content-type': 'application/json' };
  const auth = () => ({ authorization: `Bearer ${token}` });
  const sqlBody = (sql: string) => JSON.stringify({ sql });
  const get = async <T>(path: string): Promise<T> => {
    const r = await send(port, 'GET', path, auth());
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body) as T;
  };
  const plan = async (sql: string): Promise<PlanView> => {
    const r = await send(port, 'POST', '/api/plan', { ...auth(), ...json }, sqlBody(sql));
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body) as PlanView;
  };
  const own = () => `http://127.0.0.1:${port}`;
  /** The login of the console's page: its code from the link's fragment, POSTed as JSON from its own origin. */
  const redeem = (code: string, headers: Record<string, string> = { origin: own(), 'sec-fetch-site': 'same-origin' }) =>
    send(port, 'POST', '/api/login', { ...json, ...headers }, JSON.stringify({ code }));
  const codeOf = (link: string) => /^#login=([0-9a-f]{64})$/.exec(new URL(link).hash)![1]!;
  /** The Authorization header of a fresh session, logged in as the console's page is by the link `cleanroom console` prints. */
  const login = async (): Promise<{ authorization: string }> => {
    const link = await cleanroom(['console', ann]);
    expect(link.code, link.stderr).toBe(0);
    const r = await redeem(codeOf(link.stdout.trim()));
    expect(r.status, r.body).toBe(200);
    return { authorization: `Session ${(JSON.parse(r.body) as { session: string }).session}` };
  };

  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup } = await makeTempDir('console-api'));
    cluster = await startConsoleCluster(dir, 'console-api');
    ann = cluster.nodeDirs.ann!;
    port = cluster.controlPort.ann!;
    token = await readControlToken(ann);
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('serves the page and its assets without a login, with headers that keep other sites from framing or feeding it', async () => {
    const page = await send(port, 'GET', '/', {});
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('/assets/app.js');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    const script = await send(port, 'GET', '/assets/app.js', {});
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toContain('text/javascript');
    expect((await send(port, 'GET', '/assets/app.css', {})).headers['content-type']).toContain('text/css');
    expect((await send(port, 'GET', '/assets/..%2Fconfig.json', {})).status).toBe(404);
    // The page is the console's too: a rebound DNS name or another site gets nothing of it.
    expectRefused(await send(port, 'GET', '/', { host: `evil.example:${port}` }), 403, 'Host');
    expectRefused(await send(port, 'GET', '/', { origin: 'http://evil.example' }), 403, 'web pages');
  });

  it('every endpoint refuses no credentials (401), a foreign Origin (403) and a rebound Host (403), even with the token, and runs nothing', async () => {
    const before = await auditLines(ann);
    for (const [method, path] of ENDPOINTS) {
      const body = method === 'POST' ? sqlBody(EXACT_SQL) : undefined;
      expectRefused(await send(port, method, path, json, body), 401, 'missing Authorization');
      expectRefused(await send(port, method, path, { ...json, ...auth(), origin: 'http://evil.example' }, body), 403, 'web pages');
      expectRefused(await send(port, method, path, { ...json, ...auth(), host: `evil.example:${port}` }, body), 403, 'Host');
      expectRefused(await send(port, method, path, { ...json, authorization: `Bearer ${token}0` }, body), 401, 'wrong token');
    }
    expect(await auditLines(ann)).toBe(before);
    const unknown = await send(port, 'GET', '/api/nothing', auth());
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ type: 'error', code: 'QUERY_INVALID', message: expect.stringContaining('GET /api/tables') });
  });

  it('GET /api/collaboration: members, endpoints and roles, both nodes reachable, the manifest version and hash, and who signed', async () => {
    const c = await get<CollaborationView>('/api/collaboration');
    const hash = await cleanroom(['manifest', 'hash', join(ann, 'manifest.json')]);
    expect(c).toMatchObject({ collaborationId: 'console-api', version: 1, hash: hash.stdout.trim(), self: 'ann', signedBy: ['ann', 'bob'], fileMatches: true });
    expect(c.members).toEqual([
      { id: 'ann', name: 'Ann Publishing', endpoint: `ws://127.0.0.1:${cluster.peerPort.ann}`, self: true, querier: true, receiver: true, reachable: true },
      { id: 'bob', name: 'Bob Retail', endpoint: `ws://127.0.0.1:${cluster.peerPort.bob}`, self: false, querier: true, receiver: false, reachable: true },
    ]);
  });

  it('GET /api/tables: every table with its owner, columns and rules in words; a budget gauge for this node’s own DP table only', async () => {
    const tables = await get<TableView[]>('/api/tables');
    expect(tables.map((t) => [t.name, t.owner, t.own])).toEqual([
      ['t_ann', 'ann', true],
      ['t_ann_dp', 'ann', true],
      ['t_bob', 'bob', false],
    ]);
    const [plain, dp, bob] = tables as [TableView, TableView, TableView];
    expect(plain.columns).toEqual([
      { name: 'k', type: 'string', detail: 'join key' },
      { name: 'g', type: 'string', detail: 'one of g0, g1' },
      { name: 'v', type: 'integer', detail: 'from 0 to 100' },
    ]);
    expect(plain.rules).toContain('May be aggregated: COUNT(*) always; SUM and AVG of v.');
    expect(plain.rules).toContain('bob may learn which of its own keys are in this table, filtered by g at most.');
    expect(plain.privacy).toBeUndefined();
    expect(plain.budget).toBeUndefined();
    expect(dp.privacy?.[0]).toContain(`ε = ${DP_EPSILON} and δ = 0.000001 per query`);
    const now = new Date();
    const firstOfNext = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
    expect(dp.budget).toEqual({
      unit: 'ε',
      budget: String(DP_BUDGET),
      spent: '0',
      remaining: String(DP_BUDGET),
      perQuery: String(DP_EPSILON),
      queriesLeft: DP_BUDGET / DP_EPSILON,
      buys: `the remaining ε = ${DP_BUDGET} buys ${DP_BUDGET / DP_EPSILON} more queries at ε = ${DP_EPSILON} each`,
      refresh: 'month',
      nextRefresh: firstOfNext,
    });
    // bob's policy-free table; and a gauge is only ever the owner's: ann keeps no ledger of bob's tables.
    expect(bob.budget).toBeUndefined();
  });

  it('POST /api/plan: an allowed query’s preview is what `cleanroom query --preview --json` prints; a refused one names the rule and what is allowed', async () => {
    const allowed = await plan(DP_SQL);
    const cli = await cleanroom(['query', ann, '--preview', DP_SQL, '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(allowed).toMatchObject({ ok: true, mode: 'aggregate', members: ['ann', 'bob'], preview: JSON.parse(cli.stdout) as object });
    expect(allowed.ok && allowed.outputs).toEqual([
      { name: 'g', kind: 'dimension' },
      { name: 'count', kind: 'aggregate' },
      { name: 'sum_v', kind: 'aggregate' },
    ]);
    const refused = await plan(REFUSED_SQL);
    expect(refused).toMatchObject({ ok: false, code: 'RULE_VIOLATION', rule: expect.any(String), allowed: expect.stringContaining('g') });
    expect(refused.ok === false && refused.message).toContain(refused.ok === false ? refused.allowed : '');
    expect(await plan('SELECT nonsense')).toMatchObject({ ok: false, code: 'QUERY_INVALID' });
    const plain = await send(port, 'POST', '/api/plan', { ...auth(), 'content-type': 'text/plain' }, sqlBody(DP_SQL));
    expect(plain.status).toBe(415);
    const notSql = await send(port, 'POST', '/api/plan', { ...auth(), ...json }, '{"query": 1}');
    expect(notSql.status).toBe(400);
    expect(JSON.parse(notSql.body)).toMatchObject({ type: 'error', code: 'QUERY_INVALID', message: expect.stringContaining('{"sql": "..."}') });
  });

  it('POST /api/match: a malformed body or a table that is not ann\'s alone is refused with what is expected, before any query', async () => {
    const bad = await send(port, 'POST', '/api/match', { ...auth(), ...json }, JSON.stringify({ table: '../t_ann', partner: 'bob' }));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'QUERY_INVALID', message: expect.stringContaining('{"table": "...", "partner": "..."}') });
    const theirs = await send(port, 'POST', '/api/match', { ...auth(), ...json }, JSON.stringify({ table: 't_bob', partner: 'bob' }));
    expect(theirs.status).toBe(400);
    expect(JSON.parse(theirs.body)).toMatchObject({ code: 'QUERY_INVALID', message: 't_bob is not a table of ann alone; its tables: t_ann, t_ann_dp' });
    const self = await send(port, 'POST', '/api/match', { ...auth(), ...json }, JSON.stringify({ table: 't_ann', partner: 'ann' }));
    expect(JSON.parse(self.body)).toMatchObject({ code: 'QUERY_INVALID', message: 'ann is not another member of this collaboration; the others: bob' });
  });

  it('GET /api/history and /api/results/<id>: who asked, the SQL, the outcome or the reason, what was released, the chain verified, the saved result', async () => {
    const run = await cleanroom(['query', ann, EXACT_SQL, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { queryId: string; rows: unknown[] };
    expect(result.rows).toEqual([['g0', MATCHED_PER_GROUP], ['g1', MATCHED_PER_GROUP]]);
    const refused = await cleanroom(['query', ann, REFUSED_SQL]);
    expect(refused.code).toBe(1);

    const h = await get<HistoryView>('/api/history');
    expect(h.self).toBe('ann');
    expect(h.omitted).toBe(0);
    expect(h.audit).toMatchObject({ ok: true, entries: await auditLines(ann) });
    const [newest, ran] = h.items as [HistoryView['items'][number], HistoryView['items'][number]];
    expect(newest).toMatchObject({ querier: 'ann', sql: REFUSED_SQL, status: 'refused', reason: expect.stringContaining('RULE_VIOLATION'), hasResult: false });
    expect(ran).toMatchObject({ queryId: result.queryId, querier: 'ann', sql: EXACT_SQL, status: 'result', hasResult: true, released: { groups: 2, receivers: ['ann'], columns: ['g', 'count'] } });
    expect(ran.events.map((e) => e.event)).toEqual(['proposed', 'accepted', 'result']);

    expect(await get(`/api/results/${result.queryId}`)).toEqual({ querier: 'ann', ...result });
    const unknown = await send(port, 'GET', `/api/results/${'f'.repeat(32)}`, auth());
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body)).toMatchObject({ code: 'QUERY_INVALID', message: expect.stringContaining('saved no result') });
    // Only a query id names a file: nothing else of the node directory can be read this way.
    const traversal = await send(port, 'GET', '/api/results/..%2Fconfig', auth());
    expect(traversal.status).toBe(400);
    expect(JSON.parse(traversal.body)).toMatchObject({ code: 'QUERY_INVALID', message: expect.stringContaining('32 lowercase hex') });
  });

  it('a login code in the link’s fragment works once, from the console’s own page only, for a session id and no cookie; codes are for the token’s holder only', async () => {
    const link = await cleanroom(['console', ann]);
    expect(link.code, link.stderr).toBe(0);
    expect(link.stderr).toContain('it logs in once');
    const url = new URL(link.stdout.trim());
    // The code is in the fragment, which a browser sends to no server: the page's script reads it.
    expect(`${url.origin}${url.pathname}${url.search}`).toBe(`http://127.0.0.1:${port}/`);
    const code = codeOf(url.href);
    // The code is not the control token: a browser never holds that.
    expect(code).not.toBe(token);

    // Only the console's own page may redeem it: not without its Origin, not from another page, not as a form post.
    expectRefused(await redeem(code, {}), 403, 'Origin');
    expectRefused(await redeem(code, { origin: `http://127.0.0.1:${port + 1}` }), 403, 'web pages');
    expectRefused(await redeem(code, { origin: own(), 'sec-fetch-site': 'same-site' }), 403, 'same-site page');
    expect((await send(port, 'POST', '/api/login', { origin: own(), 'content-type': 'text/plain' }, JSON.stringify({ code }))).status).toBe(415);
    expect((await send(port, 'POST', '/api/login', { origin: own(), ...json }, '{"token": 1}')).status).toBe(400);

    const first = await redeem(code);
    expect(first.status, first.body).toBe(200);
    expect(first.headers['set-cookie']).toBeUndefined();
    expect(first.headers['cache-control']).toBe('no-store');
    const { session, expiresInMs } = JSON.parse(first.body) as { session: string; expiresInMs: number };
    expect(session).toMatch(/^[0-9a-f]{64}$/);
    expect(expiresInMs).toBe(8 * 3600_000);

    expectRefused(await redeem(code), 401, 'used already');
    expectRefused(await redeem('0'.repeat(64)), 401, 'used already');
    // A link of the old form logs in no more, and says what to do instead.
    const old = await send(port, 'GET', `/login?code=${'0'.repeat(64)}`, {});
    expect(old.status).toBe(410);
    expect(old.headers['set-cookie']).toBeUndefined();
    expect(old.body).toContain('Run cleanroom console');

    expect((await send(port, 'GET', '/api/tables', { authorization: `Session ${session}` })).status).toBe(200);
    // The same id as a cookie, as the console once kept it, is no credential at all.
    expectRefused(await send(port, 'GET', '/api/tables', { cookie: `cleanroom_session_${port}=${session}` }), 401, 'missing Authorization');
    expectRefused(await send(port, 'GET', '/api/tables', { authorization: `Session ${'0'.repeat(64)}` }), 401, 'session has ended');
    expectRefused(await send(port, 'GET', '/api/tables', { authorization: `Cookie ${session}` }), 401, 'Session <id>');
    // A logged-in browser still cannot mint login links: only the token's holder can.
    expectRefused(await send(port, 'POST', '/api/login-code', { authorization: `Session ${session}`, origin: own() }), 403, 'control token');
  });

  it('the session alone is refused from a foreign Origin, a cross-site fetch, a rebound Host, or without Origin on a POST; it runs the console’s queries', async () => {
    const session = await login();
    const before = await auditLines(ann);
    expectRefused(await send(port, 'GET', '/api/history', { ...session, origin: 'http://evil.example' }), 403, 'web pages');
    expectRefused(await send(port, 'POST', '/query', { ...session, ...json, origin: 'http://evil.example' }, sqlBody(EXACT_SQL)), 403, 'web pages');
    expectRefused(await send(port, 'POST', '/query', { ...session, ...json, origin: 'null' }, sqlBody(EXACT_SQL)), 403, 'web pages');
    expectRefused(await send(port, 'GET', '/api/history', { ...session, 'sec-fetch-site': 'cross-site' }), 403, 'cross-site page');
    // Another server on the same loopback address is the same site: its Origin (or, without one, Sec-Fetch-Site)
    // keeps it out, should it ever hold the session.
    expectRefused(await send(port, 'POST', '/api/plan', { ...session, ...json, origin: `http://127.0.0.1:${port + 1}` }, sqlBody(EXACT_SQL)), 403, 'web pages');
    expectRefused(await send(port, 'GET', '/api/history', { ...session, 'sec-fetch-site': 'same-site' }), 403, 'same-site page');
    expectRefused(await send(port, 'GET', '/api/history', { ...session, host: `evil.example:${port}` }), 403, 'Host');
    expectRefused(await send(port, 'POST', '/query', { ...session, ...json }, sqlBody(EXACT_SQL)), 403, 'Origin');
    // The simple form post of another site: no JSON type, and its Origin is not the console's.
    expectRefused(await send(port, 'POST', '/query', { ...session, 'content-type': 'text/plain', origin: 'http://evil.example' }, sqlBody(EXACT_SQL)), 403, 'web pages');
    expect(await auditLines(ann)).toBe(before);

    // The positive control: the console's own request, as Chromium sends it, streams progress and the result.
    const q = await send(port, 'POST', '/query', { ...session, ...json, origin: own(), 'sec-fetch-site': 'same-origin' }, sqlBody(EXACT_SQL));
    expect(q.status).toBe(200);
    expect(q.headers['content-type']).toBe('application/x-ndjson');
    const events = q.body.trim().split('\n').map((l) => JSON.parse(l) as { type: string; result?: { rows: unknown[] } });
    expect(events.some((e) => e.type === 'progress')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'result', result: { rows: [['g0', MATCHED_PER_GROUP], ['g1', MATCHED_PER_GROUP]] } });
    expect(await auditLines(ann)).toBeGreaterThan(before);
  });

  it('a session is this node’s only: bob’s node refuses ann’s session, and after logout ann’s node does too', async () => {
    const session = await login();
    const bobPort = cluster.controlPort.bob!;
    expectRefused(await send(bobPort, 'GET', '/api/tables', session), 401, 'session has ended');
    const out = await send(port, 'POST', '/api/logout', { ...session, origin: own() });
    expect(JSON.parse(out.body)).toEqual({ loggedOut: true });
    expectRefused(await send(port, 'GET', '/api/tables', session), 401, 'session has ended');
  });

  it('a peer whose node is down is reported unreachable, with why', async () => {
    await stopNode(cluster.nodes.bob!);
    const c = await get<CollaborationView>('/api/collaboration');
    expect(c.members.find((m) => m.id === 'bob')).toMatchObject({ reachable: false, problem: expect.stringContaining('not running') });
    expect(c.members.find((m) => m.id === 'ann')).toMatchObject({ reachable: true });
  });

  it('History shows where the audit log was tampered with, even when an entry no longer parses', async () => {
    const file = join(ann, DEFAULT_AUDIT_FILE);
    const lines = (await readFile(file, 'utf8')).split('\n');
    // One byte of the second entry: it still parses, but its hash no longer matches.
    lines[1] = lines[1]!.replace('"querier":"ann"', '"querier":"anm"');
    await writeFile(file, lines.join('\n'));
    expect((await get<HistoryView>('/api/history')).audit).toMatchObject({ ok: false, line: 2 });
    // The first entry's opening brace gone: no entry can be listed, the verdict still can.
    lines[0] = lines[0]!.slice(1);
    await writeFile(file, lines.join('\n'));
    const h = await get<HistoryView>('/api/history');
    expect(h.audit).toMatchObject({ ok: false, line: 1 });
    expect(h.items).toEqual([]);
  });
});
