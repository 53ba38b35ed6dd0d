import { describe, expect, it } from 'vitest';
import type { Manifest, Table } from '../../src/manifest/schema.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery } from '../../src/query/plan.js';

/** Planning queries on a federated table: its own rules hold whatever the joined table allows. */
const salaries: Table = {
  name: 'salaries',
  owner: 'emp1',
  holders: ['emp1', 'emp2'],
  columns: [
    { name: 'email', type: 'string' },
    { name: 'salary', type: 'integer', min: 0, max: 1_000_000 },
    { name: 'kind', type: 'string', values: ['a', 'b'] },
  ],
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [], dimensions: [], minDistinctKeys: 3, overlapDisclosure: [] },
};
const verified: Table = {
  name: 'verified',
  owner: 'reg',
  columns: [
    { name: 'email', type: 'string' },
    { name: 'salary', type: 'integer', min: 0, max: 1_000_000 },
    { name: 'kind', type: 'string', values: ['a', 'b'] },
  ],
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [{ column: 'salary', functions: ['sum'] }], dimensions: ['kind'], minDistinctKeys: 3, overlapDisclosure: [{ member: 'emp1', filters: ['kind'] }, { member: 'emp2', filters: ['kind'] }] },
};
const manifest: Manifest = {
  format: 'cleanroom-manifest/1',
  collaborationId: 'fed',
  name: 'fed',
  version: 1,
  members: ['emp1', 'emp2', 'reg'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
  tables: [salaries, verified],
  queriers: ['reg', 'emp1'],
  receivers: ['reg'],
};

describe('planning a federated join', () => {
  it('refuses GROUP BY and SUM written against the joined table: they would run on the federated table\'s columns', async () => {
    const q = await parseQuery('SELECT v.kind, SUM(v.salary) FROM salaries s JOIN verified v ON s.email = v.email GROUP BY v.kind');
    expect(() => planQuery(q, manifest, 'reg')).toThrow(expect.objectContaining({ code: 'RULE_VIOLATION', rule: 'privacy-model.single-aggregator' }));
  });

  it('applies the federated table\'s own aggregation rule', async () => {
    const q = await parseQuery('SELECT SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email');
    expect(() => planQuery(q, manifest, 'reg')).toThrow(expect.objectContaining({ rule: 'salaries.rules.aggregations' }));
  });

  it('plans COUNT(*) over the holders\' rows whose key the joined table has, filtered on its dimension', async () => {
    const plan = planQuery(await parseQuery("SELECT COUNT(*) FROM salaries s JOIN verified v ON s.email = v.email WHERE v.kind = 'a'"), manifest, 'reg');
    expect(plan).toMatchObject({ mode: 'federated', aggregator: { table: { name: 'salaries' }, filters: [] }, others: [{ table: { name: 'verified' }, filters: [{ kind: 'compare' }] }] });
  });
});
