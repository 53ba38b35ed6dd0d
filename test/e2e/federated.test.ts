import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../scripts/demo-data.js';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { plaintextAnswer, type TableData } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * A federated table (salaries at three employers) with an auditor that holds no part and receives results, as
 * four node processes: totals equal the pooled plaintext, groups under the minimum are dropped, holders that are
 * not receivers learn only that values were released.
 */
const HOLDERS = ['emp1', 'emp2', 'emp3'] as const;
const MIN_KEYS = 4;
const salaries: Table = {
  name: 'salaries',
  owner: 'emp1',
  holders: [...HOLDERS],
  columns: [
    { name: 'email', type: 'string' },
    { name: 'dept', type: 'string', values: ['eng', 'ops', 'sales', 'legal'] },
    { name: 'level', type: 'integer', min: 1, max: 9 },
    { name: 'salary', type: 'decimal', scale: 2, min: 0, max: 1_000_000 },
  ],
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [{ column: 'salary', functions: ['sum', 'avg'] }], dimensions: ['dept', 'level'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [] },
};

const verified: Table = {
  name: 'verified',
  owner: 'registry',
  columns: [{ name: 'email', type: 'string' }, { name: 'kind', type: 'string' }],
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [], dimensions: ['kind'], minDistinctKeys: MIN_KEYS, overlapDisclosure: HOLDERS.map((member) => ({ member, filters: ['kind'] })) },
};

describe('a federated table held by three members, with an auditor as receiver', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let pooled: TableData;
  let files: Record<string, string>;

  beforeAll(async () => {
    const tmp = await makeTempDir('federated');
    cleanup = tmp.cleanup;
    const rand = prng(11);
    files = {};
    for (const [n, h] of HOLDERS.entries()) {
      // 'legal' exists at one employer only, with 2 people: it must never be released.
      const rows = Array.from({ length: 60 + 10 * n }, (_, i) => {
        const dept = n === 0 && i < 2 ? 'legal' : rand() < 0.05 ? '' : ['eng', 'ops', 'sales'][Math.floor(rand() * 3)]!;
        return `person${n}-${i}@firm${n}.example,${dept},${1 + Math.floor(rand() * 5)},${(30_000 + Math.floor(rand() * 9_000_000) / 100).toFixed(2)}`;
      });
      files[h] = join(tmp.dir, `${h}.csv`);
      writeFileSync(files[h]!, 'email,dept,level,salary\n' + rows.join('\n') + '\n');
    }
    // The registry knows about two thirds of everyone, in upper case.
    files.registry = join(tmp.dir, 'verified.csv');
    const registered = HOLDERS.flatMap((_, n) => Array.from({ length: 80 }, (_, i) => i).filter(() => rand() < 0.66).map((i) => `PERSON${n}-${i}@FIRM${n}.EXAMPLE,${rand() < 0.8 ? 'full-time' : 'contractor'}`));
    writeFileSync(files.registry, 'email,kind\n' + registered.join('\n') + '\n');
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'pay-equity',
      members: [
        ...HOLDERS.map((h) => ({ id: h, name: h, tables: { salaries: { path: files[h]!, format: 'csv' as const } } })),
        { id: 'auditor', name: 'Auditor', tables: {} },
        { id: 'registry', name: 'Registry', tables: { verified: { path: files.registry, format: 'csv' as const } } },
      ],
      tables: [salaries, verified],
      queriers: [...HOLDERS, 'auditor', 'registry'],
      receivers: ['auditor', 'emp1'],
    });
    pooled = await readCsvTables({ salaries: Object.fromEntries(HOLDERS.map((h) => [h, files[h]!])), verified: files.registry });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('the auditor receives totals per department equal to the pooled plaintext; the one-employer department is dropped', async () => {
    const sql = 'SELECT s.dept, COUNT(*), SUM(s.salary), AVG(s.salary) FROM salaries s WHERE s.level >= 2 GROUP BY s.dept';
    const answer = await query(cluster.nodeDirs.auditor!, sql);
    if (answer.kind !== 'result') throw new Error(JSON.stringify(answer));
    const expected = (await plaintextAnswer(sql, [salaries, verified], pooled)).rows;
    expect(answer.result.rows.map((r) => r.slice(0, 3))).toEqual(expected.map((r) => r.slice(0, 3)));
    answer.result.rows.forEach((r, i) => expect(Number(r[3])).toBeCloseTo(Number(expected[i]![3]), 6));
    expect(answer.result.rows.map((r) => r[0])).not.toContain('legal');
    // The oracle applies the per-holder minimum too (SPEC §4.5): what was released is what it releases.
    expect(answer.result.rows.length).toBeGreaterThan(0);
  });

  it('joined with another member\'s table: totals over the holders\' rows whose key that table has', async () => {
    const sql = "SELECT s.dept, COUNT(*), SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email WHERE v.kind = 'full-time' GROUP BY s.dept";
    const answer = await query(cluster.nodeDirs.auditor!, sql);
    if (answer.kind !== 'result') throw new Error(JSON.stringify(answer) + Object.entries(cluster.nodes).map(([k, n]) => `\n--- ${k}\n${n.log.join('')}`).join(''));
    const expected = (await plaintextAnswer(sql, [salaries, verified], pooled)).rows;
    expect(expected.length).toBeGreaterThan(0);
    expect(answer.result.rows).toEqual(expected);
    // The registry takes part in the PSIs only: it is no receiver.
    expect(await query(cluster.nodeDirs.registry!, 'SELECT COUNT(*) FROM salaries s JOIN verified v ON s.email = v.email')).toMatchObject({ kind: 'released' });
  });

  it('a holder that is no receiver learns only that the totals were released', async () => {
    const answer = await query(cluster.nodeDirs.emp2!, 'SELECT COUNT(*), SUM(s.salary) FROM salaries s');
    expect(answer).toMatchObject({ kind: 'released', groups: 1, receivers: ['auditor', 'emp1'] });
  });

  it('groups by an integer column over every value between its bounds, which every holder deals (SPEC §5 domain)', async () => {
    const answer = await query(cluster.nodeDirs.auditor!, 'SELECT s.level, COUNT(*) FROM salaries s GROUP BY s.level');
    if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
    const levels = answer.result.rows.map((r) => r[0]);
    expect(levels.length).toBeGreaterThan(0);
    for (const l of levels) expect([1, 2, 3, 4, 5, 6, 7, 8, 9, null]).toContain(l);
  });

  it('refuses a column the federated table does not have', async () => {
    const answer = await query(cluster.nodeDirs.emp3!, 'SELECT s.nope, COUNT(*) FROM salaries s GROUP BY s.nope');
    expect(answer).toMatchObject({ kind: 'error', code: 'QUERY_INVALID' });
  });
});
