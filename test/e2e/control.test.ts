/**
 * The local control interface answers the node's own operator only: every request needs the token the node writes
 * to its directory at start, a Host naming the loopback server (no DNS rebinding) and no foreign Origin (no web
 * page); a query needs a JSON content type (no cross-site "simple" form post).
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode } from '../../scripts/local-cluster.js';
import { controlTokenPath, readControlToken } from '../../src/control/control-token.js';
import { auditLines, expectRefused, send } from '../support/control-http.js';
import { cleanroom, makeTempDir, startKeyGroupCluster, stopNode, type Cluster } from './helpers.js';

const IDS = ['ann', 'bob'] as const;
const SQL = 'SELECT a.g, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k GROUP BY a.g';

describe('the local control interface', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let dir: string;
  let ann: string;
  let port: number;
  let token: string;
  const body = JSON.stringify({ sql: SQL });

  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('control'));
    cluster = await startKeyGroupCluster(dir, 'control', IDS, { queriers: ['ann'], receivers: ['ann'] });
    ann = cluster.nodeDirs.ann!;
    port = cluster.controlPort.ann!;
    token = await readControlToken(ann);
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('the node writes a fresh 32-byte token to an owner-only file at start', async () => {
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(controlTokenPath(ann))).mode & 0o777).toBe(0o600);
    expect(await readControlToken(cluster.nodeDirs.bob!)).not.toBe(token);
  });

  it('refuses a request without the token or with a wrong one (401), on both routes', async () => {
    const json = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' };
    expectRefused(await send(port, 'POST', '/query', json, body), 401, 'missing Authorization');
    expectRefused(await send(port, 'GET', '/status', {}), 401, 'missing Authorization');
    const wrong = token.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expectRefused(await send(port, 'POST', '/query', { ...json, authorization: `Bearer ${wrong}` }, body), 401, 'wrong token');
    expectRefused(await send(port, 'GET', '/status', { authorization: `Bearer ${token}x` }), 401, 'wrong token');
    expectRefused(await send(port, 'GET', '/status', { authorization: `Basic ${token}` }), 401, 'Bearer <token>');
    const status = await send(port, 'GET', '/status', { authorization: `Bearer ${token}` });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body)).toMatchObject({ member: 'ann', collaboration: 'control', manifestVersion: 1 });
  });

  it('refuses a Host that is not the loopback server, as after DNS rebinding (403), even with the token', async () => {
    const auth = { authorization: `Bearer ${token}` };
    expectRefused(await send(port, 'GET', '/status', { ...auth, host: `evil.example:${port}` }), 403, 'Host');
    expectRefused(await send(port, 'POST', '/query', { ...auth, host: `evil.example:${port}`, 'content-type': 'application/json' }, body), 403, 'Host');
    expectRefused(await send(port, 'GET', '/status', { ...auth, host: `127.0.0.1:${port + 1}` }), 403, 'Host');
    expect((await send(port, 'GET', '/status', { ...auth, host: `localhost:${port}` })).status).toBe(200);
  });

  it('refuses a foreign Origin (403), even with the token', async () => {
    const auth = { authorization: `Bearer ${token}` };
    expectRefused(await send(port, 'GET', '/status', { ...auth, origin: 'http://evil.example' }), 403, 'web pages');
    expectRefused(await send(port, 'GET', '/status', { ...auth, origin: 'null' }), 403, 'web pages');
    expectRefused(await send(port, 'POST', '/query', { ...auth, origin: `http://evil.example:${port}`, 'content-type': 'application/json' }, body), 403, 'web pages');
    expect((await send(port, 'GET', '/status', { ...auth, origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });

  it('a cross-site "simple" POST (text/plain, no token) is refused and runs no query; text/plain is refused even with the token', async () => {
    const before = await auditLines(ann);
    const simple = { 'content-type': 'text/plain', origin: 'http://evil.example' };
    expectRefused(await send(port, 'POST', '/query', simple, body), 403, 'web pages');
    // A form without Origin (older browsers, some redirects): the token still keeps it out.
    expectRefused(await send(port, 'POST', '/query', { 'content-type': 'text/plain' }, body), 401, 'missing Authorization');
    const plain = await send(port, 'POST', '/query', { 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body);
    expect(plain.status).toBe(415);
    expect(JSON.parse(plain.body)).toMatchObject({ type: 'error', code: 'QUERY_INVALID', message: expect.stringContaining('application/json') });
    expect(await auditLines(ann)).toBe(before);
  });

  it('the CLI reads the token from the node directory and runs the query', async () => {
    const before = await auditLines(ann);
    const run = await cleanroom(['query', ann, SQL, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rows: [['g0', 10], ['g1', 10]] });
    // The positive control of the refusals above: a query that runs is audited.
    expect(await auditLines(ann)).toBeGreaterThan(before);
  });

  it('without the token file the CLI says where the node writes it', async () => {
    const elsewhere = join(dir, 'no-token');
    await mkdir(elsewhere);
    await copyFile(join(ann, 'config.json'), join(elsewhere, 'config.json'));
    const run = await cleanroom(['query', elsewhere, SQL]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^cleanroom: AUTH_FAILED: /);
    expect(run.stderr).toContain(`is the node started? the token is written at start to ${controlTokenPath(elsewhere)}`);
  });

  it('a restart writes a new token and the old one no longer opens the interface', async () => {
    await stopNode(cluster.nodes.ann!);
    const restarted = await startNode(ann);
    cluster.nodes.ann = restarted;
    const fresh = await readControlToken(ann);
    expect(fresh).not.toBe(token);
    expect((await stat(controlTokenPath(ann))).mode & 0o777).toBe(0o600);
    expectRefused(await send(port, 'GET', '/status', { authorization: `Bearer ${token}` }), 401, 'wrong token');
    expect((await send(port, 'GET', '/status', { authorization: `Bearer ${fresh}` })).status).toBe(200);
  });
});
