/**
 * The match report (src/node/match-report.ts) over a fake node: one count-only query per partner table on the join
 * keys, the own key count beside it, a noisy count's interval carried through, and each refusal before any query.
 */
import { describe, expect, it } from 'vitest';
import { matchLines, matchReport, type MatchDeps } from '../../src/node/match-report.js';
import type { QueryOutcome } from '../../src/query/result.js';
import { ADVERTISER, PUBLISHER, buildCollaboration } from '../support/collaboration.js';

const { manifest } = buildCollaboration();

function deps(outcome: (sql: string) => QueryOutcome, asked: string[] = []): MatchDeps {
  return {
    manifest,
    self: ADVERTISER,
    ownKeys: async () => 200,
    query: async (sql) => {
      asked.push(sql);
      return outcome(sql);
    },
  };
}

const result = (count: number, interval?: [number, number]): QueryOutcome => ({
  kind: 'result',
  result: { queryId: 'ab'.repeat(16), mode: 'count-only', columns: ['count'], rows: [[count]], minDistinctKeys: 3, ...(interval ? { privacy: { epsilon: '1', delta: '0.0000001', confidence: 0.95, intervals: [[interval]] } } : {}) },
});

describe('matchReport', () => {
  it('asks one count-only query on the declared join keys, and reports the rate against the own keys', async () => {
    const asked: string[] = [];
    const report = await matchReport(deps(() => result(50), asked), 'advertiser', PUBLISHER);
    expect(asked).toEqual(['SELECT COUNT(*) FROM advertiser o JOIN publisher p ON o.email = p.email']);
    expect(report).toEqual([{ table: 'advertiser', key: 'email', partnerTable: 'publisher', partnerKey: 'email', ownKeys: 200, matched: 50, queryId: 'ab'.repeat(16) }]);
    expect(matchLines(report)).toEqual(['advertiser.email ~ publisher.email: 50 of your 200 distinct keys match, 25.0%']);
  });

  it('carries a noisy count\'s interval into the report and its line', async () => {
    const report = await matchReport(deps(() => result(50, [44, 56])), 'advertiser', PUBLISHER);
    expect(report[0]!.interval).toEqual([44, 56]);
    expect(matchLines(report)[0]).toBe('advertiser.email ~ publisher.email: 50 of your 200 distinct keys match, 25.0% (noisy: 44 to 56 with 95% confidence, 22.0% to 28.0%)');
  });

  it('refuses, before any query, a table that is not the member\'s own, itself or a stranger as partner', async () => {
    const asked: string[] = [];
    await expect(matchReport(deps(() => result(1), asked), PUBLISHER, PUBLISHER)).rejects.toThrow('publisher is not a table of advertiser alone; its tables: advertiser');
    await expect(matchReport(deps(() => result(1), asked), 'advertiser', ADVERTISER)).rejects.toThrow(/advertiser is not another member of this collaboration; the others: publisher, auditor/);
    await expect(matchReport(deps(() => result(1), asked), 'advertiser', 'nobody')).rejects.toThrow(/nobody is not another member/);
    await expect(matchReport(deps(() => result(1), asked), 'advertiser', 'auditor')).rejects.toThrow('auditor holds no table of its own to match against');
    expect(asked).toEqual([]);
  });

  it('says where the count went when this member receives no results', async () => {
    const released: QueryOutcome = { kind: 'released', queryId: 'cd'.repeat(16), groups: 1, receivers: [PUBLISHER] };
    await expect(matchReport(deps(() => released), 'advertiser', PUBLISHER)).rejects.toMatchObject({ code: 'RULE_VIOLATION', rule: 'receivers' });
  });
});
