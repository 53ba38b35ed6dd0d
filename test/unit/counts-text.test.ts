/** The one line that says what a result's counts count (src/query/counts-text.ts), per kind of query. */
import { describe, expect, it } from 'vitest';
import type { Manifest, Table } from '../../src/manifest/schema.js';
import { countsText } from '../../src/query/counts-text.js';
import { ADVERTISER, buildCollaboration, plan } from '../support/collaboration.js';

const FROM = 'FROM advertiser a JOIN publisher p ON a.email = p.email';
const { manifest } = buildCollaboration({ campaignValues: ['spring', 'summer'] });

describe('what the counts count', () => {
  it('count-only: distinct people in both tables', async () => {
    expect(countsText(await plan(`SELECT COUNT(*) ${FROM}`, manifest, ADVERTISER))).toBe('COUNT(*) counts distinct people (normalised join keys) present in both advertiser and publisher');
  });

  it("aggregate: COUNT(*) counts P's rows, COUNT(DISTINCT key) people; WHERE is mentioned", async () => {
    const p = await plan(`SELECT a.category, COUNT(*), COUNT(DISTINCT a.email), SUM(a.amount) ${FROM} WHERE p.campaign = 'spring' GROUP BY a.category`, manifest, ADVERTISER);
    expect(p.mode).toBe('aggregate');
    expect(countsText(p)).toBe(
      'COUNT(*) counts rows of advertiser whose join key matched publisher (each row once, however often its key appears there), after WHERE; ' +
        'COUNT(DISTINCT advertiser.email) counts matched people (distinct normalised join keys)',
    );
  });

  it('aggregate without a count: what the sums are over', async () => {
    expect(countsText(await plan(`SELECT a.category, SUM(a.amount) ${FROM} GROUP BY a.category`, manifest, ADVERTISER))).toBe(
      'the aggregates are over rows of advertiser whose join key matched publisher (each row once, however often its key appears there)',
    );
  });

  it("GROUP BY over the partner's table: a row counts once in each group its key is in", async () => {
    const text = countsText(await plan(`SELECT p.campaign, COUNT(*), SUM(a.amount) ${FROM} GROUP BY p.campaign`, manifest, ADVERTISER));
    expect(text).toBe('COUNT(*) counts rows of advertiser whose join key matched publisher (each row once per group it is in, however often its key appears there)');
  });

  it("federated: the rows of every holder's part", async () => {
    const salaries: Table = {
      name: 'salaries',
      owner: 'emp1',
      holders: ['emp1', 'emp2'],
      columns: [{ name: 'email', type: 'string' }, { name: 'salary', type: 'integer', min: 0, max: 1_000_000 }],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [{ column: 'salary', functions: ['sum'] }], dimensions: [], minDistinctKeys: 3, overlapDisclosure: [] },
    };
    const fed: Manifest = {
      format: 'cleanroom-manifest/1',
      collaborationId: 'fed',
      name: 'fed',
      version: 1,
      members: ['emp1', 'emp2', 'reg'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
      tables: [salaries],
      queriers: ['reg'],
      receivers: ['reg'],
    };
    expect(countsText(await plan('SELECT COUNT(*), SUM(s.salary) FROM salaries s', fed, 'reg'))).toBe("COUNT(*) counts rows of salaries (every holder's part: emp1, emp2) (each row once)");
  });
});
