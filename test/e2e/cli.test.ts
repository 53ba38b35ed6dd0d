/**
 * The `cleanroom` executable as an operator uses it: init two nodes, write and sign the manifest by hand,
 * start both, query, and the refusals (unsigned manifest, rule violation, control interface on the peer port).
 */
import { type QueryResult } from '../../src/query/result.js';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNode, type RunningNode } from '../../scripts/local-cluster.js';
import { MANIFEST_FORMAT, type Member, type Table } from '../../src/manifest/schema.js';
import { readControlToken } from '../../src/control/control-token.js';
import { plaintextAnswer, type TableData } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import { assertBuilt, assertMatches, cleanroom, makeTempDir, startKeyGroupCluster, stopNode, type Cluster, type Run } from './helpers.js';
import { identicalEmails, salesColumns, visitsColumns, writeDataset } from './random-data.js';

/** An error reported the way the CLI promises: one line on stderr, `cleanroom: CODE: reason`. */
function expectOneLineError(run: Run, code: string): string {
  expect(run.code, run.stderr).not.toBe(0);
  expect(run.code).not.toBeNull();
  const text = run.stderr.trimEnd();
  expect(text.split('\n'), text).toHaveLength(1);
  expect(text).toMatch(new RegExp(`^cleanroom: ${code}: \\S`));
  return text;
}

function httpPost(port: number, path: string, body: string, token: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('error', (err) => resolve({ error: err.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const tables: Table[] = [
  {
    name: 'sales',
    owner: 'alpha',
    columns: salesColumns('email'),
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['category', 'tier'], minDistinctKeys: 3, overlapDisclosure: [{ member: 'beta', filters: ['category', 'tier'] }] },
  },
  {
    name: 'visits',
    owner: 'beta',
    columns: visitsColumns('email'),
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'impressions', functions: ['sum'] }], dimensions: ['campaign'], minDistinctKeys: 3, overlapDisclosure: [{ member: 'alpha', filters: ['campaign'] }] },
  },
];

const GROUP_SQL = "SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount) FROM sales s JOIN visits v ON s.email = v.email WHERE v.campaign != 'winter' GROUP BY s.category";

describe('the cleanroom CLI', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>> | undefined;
  const nodes: RunningNode[] = [];
  let pooled: TableData;
  let dir: { alpha: string; beta: string };
  let port: { alpha: number; beta: number; alphaControl: number; betaControl: number };
  let members: Member[];
  let manifestFile: string;
  let files: { sales: string; visits: string };

  beforeAll(async () => {
    assertBuilt();
    tmp = await makeTempDir('cli');
    dir = { alpha: join(tmp.dir, 'alpha'), beta: join(tmp.dir, 'beta') };
    port = { alpha: await freePort(), beta: await freePort(), alphaControl: await freePort(), betaControl: await freePort() };
    await mkdir(join(tmp.dir, 'data'));
    files = await writeDataset(join(tmp.dir, 'data'), identicalEmails(5, 120));
    pooled = await readCsvTables(files);
    manifestFile = join(tmp.dir, 'manifest.json');
  });

  afterAll(async () => {
    await Promise.all(nodes.map(stopNode));
    await tmp?.cleanup();
  });

  it('init creates each node and prints its member entry', async () => {
    members = [];
    for (const [id, name, p, c] of [['alpha', 'Alpha Retail', port.alpha, port.alphaControl], ['beta', 'Beta Media', port.beta, port.betaControl]] as const) {
      const run = await cleanroom(['init', dir[id], '--member', id, '--name', name, '--listen', `127.0.0.1:${p}`, '--control', String(c)]);
      expect(run.code, run.stderr).toBe(0);
      const member = JSON.parse(run.stdout) as Member;
      expect(member).toEqual({ id, name, endpoint: `ws://127.0.0.1:${p}`, publicKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
      members.push(member);
      expect((await readdir(dir[id])).sort()).toEqual(['.gitignore', 'config.json', 'identity.json']);
      // The private key and the control token stay out of git, should the directory be in a repository.
      expect(await readFile(join(dir[id], '.gitignore'), 'utf8')).toBe('identity.json\ncontrol.token\n');
    }
    // init never overwrites an identity, and says why.
    const before = await readFile(join(dir.alpha, 'identity.json'), 'utf8');
    const again = await cleanroom(['init', dir.alpha, '--member', 'alpha', '--name', 'Alpha Retail', '--listen', `127.0.0.1:${port.alpha}`, '--control', String(port.alphaControl)]);
    expect(expectOneLineError(again, 'CONFIG_INVALID')).toContain('already exists');
    // A config that start would refuse is refused by init, and nothing is written.
    const badPort = await cleanroom(['init', join(dir.alpha, '..', 'gamma'), '--member', 'gamma', '--name', 'Gamma', '--listen', '127.0.0.1:7000', '--control', 'abc']);
    expect(expectOneLineError(badPort, 'CONFIG_INVALID')).toContain('control.port');
    await expect(readdir(join(dir.alpha, '..', 'gamma'))).rejects.toThrow();
    expect(await readFile(join(dir.alpha, 'identity.json'), 'utf8')).toBe(before);
  });

  it('manifest verify fails before anyone signs, naming the missing signatures', async () => {
    const manifest = { format: MANIFEST_FORMAT, collaborationId: 'cli-test', name: 'CLI test collaboration', version: 1, members, tables, queriers: ['alpha', 'beta'], receivers: ['alpha', 'beta'] };
    await writeFile(manifestFile, JSON.stringify({ manifest, signatures: {} }, null, 2));
    const run = await cleanroom(['manifest', 'verify', manifestFile]);
    const line = expectOneLineError(run, 'MANIFEST_UNSIGNED');
    expect(line).toContain('signature');
    expect(line).toContain('alpha, beta');
  });

  it('a node refuses to start with an unsigned manifest (MANIFEST_UNSIGNED)', async () => {
    for (const id of ['alpha', 'beta'] as const) {
      const cfgFile = join(dir[id], 'config.json');
      const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as { tables: Record<string, unknown>; dataDirs?: string[] };
      // One relative path (resolved against the node directory) and one absolute; the data lives beside the nodes.
      cfg.tables = id === 'alpha' ? { sales: { path: '../data/' + files.sales.split('/').pop(), format: 'csv' } } : { visits: { path: files.visits, format: 'csv' } };
      cfg.dataDirs = ['../data'];
      await writeFile(cfgFile, JSON.stringify(cfg, null, 2));
    }
    await copyFile(manifestFile, join(dir.alpha, 'manifest.json'));
    const run = await cleanroom(['start', dir.alpha], 20_000);
    expect(expectOneLineError(run, 'MANIFEST_UNSIGNED')).toContain('alpha, beta');
  });

  it('manifest sign by each member; verify succeeds only once both have signed', async () => {
    const a = await cleanroom(['manifest', 'sign', manifestFile, '--node', dir.alpha]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain('signed by alpha; still to sign: beta');

    const half = await cleanroom(['manifest', 'verify', manifestFile]);
    const line = expectOneLineError(half, 'MANIFEST_UNSIGNED');
    expect(line).toMatch(/signature of beta$/);

    // A node refuses a manifest some member has not signed, not just one nobody has.
    await copyFile(manifestFile, join(dir.beta, 'manifest.json'));
    expect(expectOneLineError(await cleanroom(['start', dir.beta], 20_000), 'MANIFEST_UNSIGNED')).toContain('beta');

    const b = await cleanroom(['manifest', 'sign', manifestFile, '--node', dir.beta]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('signed by beta; all members have signed');

    const ok = await cleanroom(['manifest', 'verify', manifestFile]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('signed by every member');
    const hash = await cleanroom(['manifest', 'hash', manifestFile]);
    expect(hash.code).toBe(0);
    expect(ok.stdout).toContain(`hash ${hash.stdout.trim()}`);
    const signed = JSON.parse(await readFile(manifestFile, 'utf8')) as { signatures: Record<string, string> };
    expect(Object.keys(signed.signatures).sort()).toEqual(['alpha', 'beta']);
  });

  it('start runs both nodes with the signed manifest', async () => {
    await copyFile(manifestFile, join(dir.alpha, 'manifest.json'));
    await copyFile(manifestFile, join(dir.beta, 'manifest.json'));
    const started = await Promise.allSettled([startNode(dir.alpha), startNode(dir.beta)]);
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    expect(nodes).toHaveLength(2);
    const status = await cleanroom(['status', dir.alpha, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ member: 'alpha', manifestVersion: 1, workers: expect.any(Number) });
    // Then one line per join key of its own tables: how far their background hashing is (src/node/cache-warmer.ts).
    expect((await cleanroom(['status', dir.beta])).stdout).toMatch(/^running: node beta of \S+ \(manifest v1\); crypto backend \w+ on \d+ worker thread\(s\); peak memory \d+ MiB\n(hash cache: \w+\.\w+ (waiting|hashing|ready)(, \d+ of \d+ distinct keys)?\n)+$/);
  });

  it('a second node on ports in use fails to start with CONFIG_INVALID, and the running one keeps its token', async () => {
    const token = await readControlToken(dir.alpha);
    const run = await cleanroom(['start', dir.alpha], 20_000);
    // The node logs its table check first; the error is the last line.
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(/^cleanroom: CONFIG_INVALID: cannot listen .*EADDRINUSE/);
    expect(await readControlToken(dir.alpha)).toBe(token);
  });

  it('query prints a table, and --json the same result as parseable JSON', async () => {
    const exp = await plaintextAnswer(GROUP_SQL, tables, pooled);
    const columns = ['category', 'count', 'sum_amount', 'avg_amount'];

    const json = await cleanroom(['query', dir.alpha, GROUP_SQL, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as QueryResult;
    assertMatches(result, exp, columns);
    expect(exp.rows.length).toBeGreaterThan(3);

    const text = await cleanroom(['query', dir.alpha, GROUP_SQL]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(columns);
    expect(lines[1]).toMatch(/^-+( {2}-+){3}$/);
    const body = lines.slice(2, 2 + exp.rows.length).map((l) => l.trim().split(/\s{2,}/));
    // Table rows are the JSON rows (same order: the node sorts groups by label), NULL printed as NULL.
    expect(body).toEqual(result.rows.map((r) => r.map((c) => (c === null ? 'NULL' : String(c)))));
    expect(lines[2 + exp.rows.length]).toBe(`(${exp.rows.length} row(s); rows resting on fewer than 3 distinct join keys are never released)`);
    // Then one line saying what COUNT(*) counts, which --json carries as `counts`.
    const counts = "COUNT(*) counts rows of sales whose join key matched visits (each row once, however often its key appears there), after WHERE";
    expect(lines[3 + exp.rows.length]).toBe(counts);
    expect(result.counts).toBe(counts);
    expect(lines).toHaveLength(4 + exp.rows.length);
  });

  it('a count-only query from the other node: the same 120 people on both sides', async () => {
    const run = await cleanroom(['query', dir.beta, 'SELECT COUNT(*) AS people FROM visits v JOIN sales s ON v.email = s.email', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as QueryResult;
    expect(result).toMatchObject({ mode: 'count-only', columns: ['people'], rows: [[120]] });
    expect(result.counts).toBe('COUNT(*) counts distinct people (normalised join keys) present in both visits and sales');
  });

  it('HAVING, ORDER BY and LIMIT: the oracle\'s rows in its order, printed so; the audit records every group released', async () => {
    const sql =
      'SELECT s.category AS cat, COUNT(*) AS n, SUM(s.amount) FROM sales s JOIN visits v ON s.email = v.email GROUP BY s.category ' +
      'HAVING n >= 3 AND cat IS NOT NULL ORDER BY sum_amount DESC NULLS FIRST, cat LIMIT 3';
    const exp = await plaintextAnswer(sql, tables, pooled);
    expect(exp.released).toBeGreaterThan(3);
    // Asked by beta, the member without the summed table: both receive, both shape alike.
    const json = await cleanroom(['query', dir.beta, sql, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as QueryResult;
    expect(result.columns).toEqual(['cat', 'n', 'sum_amount']);
    expect(result.rows).toStrictEqual(exp.rows);
    expect(result.afterRelease).toStrictEqual({ released: exp.released });
    const saved = JSON.parse(await readFile(join(dir.alpha, 'results', `${result.queryId}.json`), 'utf8')) as QueryResult;
    expect(saved.rows).toStrictEqual(exp.rows);
    // The audit says what was opened to each receiver: every released group, whatever HAVING and LIMIT show.
    for (const id of ['alpha', 'beta'] as const) {
      const entries = (await readFile(join(dir[id], 'audit.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { queryId: string; event: string; released?: { groups: number } });
      expect(entries.find((e) => e.queryId === result.queryId && e.event === 'result')?.released?.groups).toBe(exp.released);
    }

    const text = await cleanroom(['query', dir.alpha, sql]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines.slice(2, 5).map((l) => l.trim().split(/\s{2,}/))).toEqual(exp.rows.map((r) => r.map((c) => String(c))));
    expect(lines[5]).toBe(`(3 row(s) shown of ${exp.released} released; rows resting on fewer than 3 distinct join keys are never released)`);
  });

  it('COUNT(t.c) and COUNT(DISTINCT key) through the nodes: the oracle\'s rows, usable in HAVING and ORDER BY', async () => {
    const sql =
      'SELECT s.category AS cat, COUNT(*) AS n, COUNT(s.amount), COUNT(s.tier), COUNT(DISTINCT v.email) FROM sales s JOIN visits v ON s.email = v.email ' +
      'GROUP BY s.category HAVING count_distinct_email >= 3 ORDER BY COUNT(s.amount) DESC, cat';
    const exp = await plaintextAnswer(sql, tables, pooled);
    expect(exp.rows.length).toBeGreaterThan(3);
    const json = await cleanroom(['query', dir.beta, sql, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as QueryResult;
    expect(result.columns).toEqual(['cat', 'n', 'count_amount', 'count_tier', 'count_distinct_email']);
    expect(result.rows).toStrictEqual(exp.rows);
    // Rows and people side by side: the line says which is which.
    expect(result.counts).toBe(
      'COUNT(*) counts rows of sales whose join key matched visits (each row once, however often its key appears there); ' +
        'COUNT(sales.amount) counts those with a value in amount; COUNT(sales.tier) counts those with a value in tier; ' +
        'COUNT(DISTINCT visits.email) counts matched people (distinct normalised join keys)',
    );
    // Alone, COUNT(DISTINCT key) is the count-only intersection size.
    const alone = await cleanroom(['query', dir.alpha, 'SELECT COUNT(DISTINCT s.email) FROM sales s JOIN visits v ON s.email = v.email', '--json']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(JSON.parse(alone.stdout) as QueryResult).toMatchObject({ mode: 'count-only', columns: ['count_distinct_email'], rows: [[120]] });
  });

  it('a count-only HAVING that its count fails shows no row, and says that one was released', async () => {
    const run = await cleanroom(['query', dir.beta, 'SELECT COUNT(*) AS people FROM visits v JOIN sales s ON v.email = s.email HAVING people > 120']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual([
      'people',
      '------',
      '(0 row(s) shown of 1 released; rows resting on fewer than 3 distinct join keys are never released)',
      'COUNT(*) counts distinct people (normalised join keys) present in both visits and sales',
    ]);
  });

  it('a refused query exits non-zero with a one-line reason on stderr', async () => {
    const refused = await cleanroom(['query', dir.beta, 'SELECT AVG(v.impressions) FROM visits v JOIN sales s ON v.email = s.email']);
    expect(expectOneLineError(refused, 'RULE_VIOLATION')).toContain('visits.rules.aggregations');
    expect(refused.stdout).toBe('');
    const invalid = await cleanroom(['query', dir.alpha, 'SELECT * FROM sales']);
    expectOneLineError(invalid, 'QUERY_INVALID');
    expect(invalid.stdout).toBe('');
  });

  it('the control interface is not reachable on the peer port', async () => {
    const resultsBefore = await readdir(join(dir.alpha, 'results'));
    const logBefore = nodes.map((n) => n.log.join('').length);
    // With the control token, so that only the port keeps the query out.
    const token = await readControlToken(dir.alpha);
    for (const p of [port.alpha, port.beta]) {
      const res = await httpPost(p, '/query', JSON.stringify({ sql: GROUP_SQL }), token);
      if ('status' in res) {
        expect(res.status).not.toBe(200);
        expect(res.body).not.toContain('"type"');
      }
    }
    // Positive control: the same request on the control port does run the query.
    const control = await httpPost(port.alphaControl, '/query', JSON.stringify({ sql: GROUP_SQL }), token);
    expect('status' in control && control.status).toBe(200);
    expect('body' in control && control.body).toContain('"type":"result"');
    const resultsAfter = await readdir(join(dir.alpha, 'results'));
    // Exactly one more result (the control-port query); the peer-port requests ran nothing.
    expect(resultsAfter.length).toBe(resultsBefore.length + 1);
    // Both node logs show that one query only (querier: "accepted by beta", peer: "from alpha accepted").
    const accepted = () => nodes.map((n, i) => n.log.join('').slice(logBefore[i])).join('').match(/ accepted /g)?.length ?? 0;
    for (let i = 0; i < 40 && accepted() < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(accepted()).toBe(2);
  });

  it('stop lets a running query finish, then the node exits; a second stop says no node runs there', async () => {
    const [alpha, beta] = nodes;
    const exited = (n: RunningNode) => new Promise<number | null>((r) => (n.process.exitCode !== null ? r(n.process.exitCode) : n.process.once('exit', (code) => r(code))));
    const alphaExit = exited(alpha!);
    const logBefore = alpha!.log.join('').length;
    // A query from alpha with beta, and alpha asked to stop once it runs: it still ends with its result.
    const running = cleanroom(['query', dir.alpha, GROUP_SQL, '--json']);
    for (let i = 0; i < 200 && !alpha!.log.join('').slice(logBefore).includes(' accepted by beta'); i++) await new Promise((r) => setTimeout(r, 10));
    // (The query may well have ended before the stop arrives: the next describe holds one running for certain.)
    const stopped = await cleanroom(['stop', dir.alpha], 60_000);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/^stopped: node alpha of \S+ \(.*alpha\)\n$/);
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
    expect((JSON.parse(ran.stdout) as QueryResult).rows.length).toBeGreaterThan(3);
    // The node has exited, cleanly, by the time stop returns (or a moment after: the port closes last).
    expect(await alphaExit).toBe(0);
    expect(alpha!.log.join('')).toContain('stopped');
    // Nothing answers now: a clear one-line error, and status agrees.
    const again = await cleanroom(['stop', dir.alpha]);
    expect(expectOneLineError(again, 'PEER_UNREACHABLE')).toContain(`no node is running for ${dir.alpha}`);
    expectOneLineError(await cleanroom(['status', dir.alpha]), 'PEER_UNREACHABLE');
    // The other node stops the same way.
    const betaExit = exited(beta!);
    const stoppedBeta = await cleanroom(['stop', dir.beta], 60_000);
    expect(stoppedBeta.code, stoppedBeta.stderr).toBe(0);
    expect(await betaExit).toBe(0);
  });
});

describe('cleanroom stop with a query in flight', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>> | undefined;
  let cluster: Cluster | undefined;

  afterAll(async () => {
    if (cluster) for (const n of Object.values(cluster.nodes)) n.process.kill('SIGCONT');
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('refuses new queries, waits for the running one to end, then exits', async () => {
    tmp = await makeTempDir('cli-stop');
    // bob freezes (SIGSTOP) as it is about to accept ann's query: the query is in flight on ann until bob goes on.
    cluster = await startKeyGroupCluster(tmp.dir, 'stop-drain', ['ann', 'bob'], { queriers: ['ann'], receivers: ['ann'] }, (id) => (id === 'bob' ? { CLEANROOM_FAILPOINT: 'freeze@before-accept' } : {}));
    const { ann, bob } = cluster.nodes as Record<'ann' | 'bob', RunningNode>;
    const annDir = cluster.nodeDirs.ann!;
    const sql = 'SELECT COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k';
    const until = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(done(), what).toBe(true);
    };
    const frozen = () => readFileSync(`/proc/${bob.process.pid}/stat`, 'utf8').split(' ')[2] === 'T';
    const running = cleanroom(['query', annDir, sql, '--json'], 60_000);
    await until('bob froze before accepting', frozen);
    const annExit = new Promise<number | null>((r) => ann.process.once('exit', (code) => r(code)));
    const stopping = cleanroom(['stop', annDir], 60_000);
    await until('ann began to stop', () => ann.log.join('').includes('stopping: refusing new queries'));
    // A new query is refused at once, and ann still runs for the one in flight.
    const refused = await cleanroom(['query', annDir, sql]);
    expect(expectOneLineError(refused, 'ABORTED')).toContain('the node is stopping');
    expect(ann.process.exitCode).toBeNull();
    bob.process.kill('SIGCONT');
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
    expect((JSON.parse(ran.stdout) as QueryResult).rows).toEqual([[20]]);
    const stopped = await stopping;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain('stopping: 1 query(ies) running may take up to 30 s to end');
    expect(stopped.stdout).toMatch(/^stopped: node ann of stop-drain \(/);
    expect(await annExit).toBe(0);
  });
});

describe('the CLI\'s help and argument errors', () => {
  it('answers `<command> --help` for every command with its usage and an example, and --version', async () => {
    const { COMMANDS } = await import('../../src/cli/help.js');
    for (const [name, help] of Object.entries(COMMANDS)) {
      const run = await cleanroom([name, '--help']);
      expect(run.code, `${name} --help: ${run.stderr}`).toBe(0);
      expect(run.stdout).toContain(help.usage);
      expect(run.stdout).toContain(`example:\n  ${help.example}`);
    }
    const all = await cleanroom(['--help']);
    expect(all.code).toBe(0);
    for (const help of Object.values(COMMANDS)) expect(all.stdout).toContain(help.usage);
    const version = await cleanroom(['--version']);
    expect(version.stdout.trim()).toMatch(/^cleanroom \d+\.\d+\.\d+$/);
  });

  it('an unknown option or a missing value is the user\'s mistake (CONFIG_INVALID) and points to the command\'s help', async () => {
    const unknown = await cleanroom(['query', './nowhere', '--bogus']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^cleanroom: CONFIG_INVALID: Unknown option '--bogus'.*; see cleanroom query --help\n$/s);
    const missing = await cleanroom(['match', './nowhere', 't', '--with']);
    expect(missing.stderr).toMatch(/^cleanroom: CONFIG_INVALID: Option '--with <value>' argument missing; see cleanroom match --help\n$/);
  });
});
