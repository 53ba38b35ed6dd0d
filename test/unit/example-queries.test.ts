/**
 * The console's schema view and example queries (src/console/schema-view.ts, example-queries.ts) over a manifest the
 * browser test's cluster does not cover: a table with several join keys (the join takes the one the partner shares),
 * a partner whose grant lists no filter (no GROUP BY over its columns), aliases that would be SQL words.
 */
import { describe, expect, it } from 'vitest';
import { exampleCandidates } from '../../src/console/example-queries.js';
import { schemaTables, tableAliases } from '../../src/console/schema-view.js';
import { MANIFEST_FORMAT, type Manifest, type Table } from '../../src/manifest/schema.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery } from '../../src/query/plan.js';

const member = (id: string, port: number) => ({ id, name: id, endpoint: `ws://127.0.0.1:${port}`, publicKey: '0'.repeat(64) });

/** shop (owner ann) joins on email or phone; calls (bob) on phone only and grants ann region; visits (cat) grants ann nothing to filter by. */
function manifest(): Manifest {
  const shop: Table = {
    name: 'shop',
    owner: 'ann',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'phone', type: 'string' },
      { name: 'segment', type: 'string', values: ['a', 'b'] },
      { name: 'amount', type: 'integer', min: 0, max: 1000 },
    ],
    joinKey: [
      { column: 'email', normalization: 'email' },
      { column: 'phone', normalization: 'phone' },
    ],
    rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['segment'], minDistinctKeys: 2, overlapDisclosure: ['bob', 'cat'] },
  };
  const calls: Table = {
    name: 'calls',
    owner: 'bob',
    columns: [
      { name: 'phone', type: 'string' },
      { name: 'region', type: 'string', values: ['north', 'south'] },
    ],
    joinKey: { column: 'phone', normalization: 'phone' },
    rules: { aggregations: [], dimensions: ['region'], minDistinctKeys: 2, overlapDisclosure: [{ member: 'ann', filters: ['region'] }] },
  };
  const visits: Table = {
    name: 'visits',
    owner: 'cat',
    columns: [
      { name: 'mail', type: 'string' },
      { name: 'page', type: 'string', values: ['home', 'cart'] },
    ],
    joinKey: { column: 'mail', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['page'], minDistinctKeys: 2, overlapDisclosure: ['ann'] },
  };
  return {
    format: MANIFEST_FORMAT,
    collaborationId: 'helpers',
    name: 'helpers',
    version: 3,
    members: [member('ann', 7001), member('bob', 7002), member('cat', 7003)],
    tables: [shop, calls, visits],
    queriers: ['ann', 'bob', 'cat'],
    receivers: ['ann'],
  };
}

describe('example queries and the schema view', () => {
  it('joins on the key the partner shares, groups by the partner’s dimension only where its grant lists it, and every example plans', async () => {
    const m = manifest();
    const examples = exampleCandidates(m, 'ann');
    const sqls = examples.map((e) => e.sql);
    expect(sqls).toContain('SELECT COUNT(*) FROM shop s JOIN calls c ON s.phone = c.phone');
    expect(sqls).toContain('SELECT COUNT(*) FROM shop s JOIN visits v ON s.email = v.mail');
    expect(sqls).toContain('SELECT s.segment, COUNT(*), SUM(s.amount), AVG(s.amount) FROM shop s JOIN calls c ON s.phone = c.phone GROUP BY s.segment');
    // calls grants ann region; visits grants ann no filter: only the first is grouped by as the partner's dimension.
    expect(examples.filter((e) => e.kind === 'partner-dimension').map((e) => e.sql)).toEqual(['SELECT c.region, COUNT(*), SUM(s.amount) FROM shop s JOIN calls c ON s.phone = c.phone GROUP BY c.region']);
    // The planner allows each: it throws on a refusal.
    for (const sql of sqls) expect(planQuery(await parseQuery(sql), m, 'ann').members).toContain('ann');
  });

  it('says per column what the rules allow: join keys with their normalisation, dimensions, functions, partner dimensions', () => {
    const [shop, calls] = schemaTables(manifest(), 'ann');
    expect(shop!.own).toBe(true);
    expect(shop!.columns.map((c) => [c.name, c.joinKey, c.dimension, c.functions])).toEqual([
      ['email', 'email', false, []],
      ['phone', 'phone', false, []],
      ['segment', undefined, true, []],
      ['amount', undefined, false, ['SUM', 'AVG']],
    ]);
    expect(calls!.columns.find((c) => c.name === 'region')!.partnerDimensionFor).toEqual(['ann']);
    expect(shop!.columns.every((c) => c.partnerDimensionFor.length === 0)).toBe(true);
  });

  it('gives every table its own alias, never an SQL word', () => {
    const t = (name: string) => ({ name }) as Table;
    expect([...tableAliases([t('a_b'), t('a_bc'), t('order_notes'), t('_x')]).values()]).toEqual(['ab', 'ab2', 'on2', 'x']);
  });
});
