import { describe, expect, it } from 'vitest';
import { decodeRingElements } from '../../src/crypto/shares.js';
import type { Manifest, Table } from '../../src/manifest/schema.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type FederatedPlan } from '../../src/query/plan.js';
import type { GroupAggregate } from '../../src/query/result.js';
import { SessionMessage } from '../../src/wire/messages.js';
import { runFederated, type FederatedRun } from '../support/federated-run.js';

/**
 * A federated table held by h1 and h2, joined with r's table: every member's FederatedSession in this process,
 * messages through the wire codec. Each holder's PSI with r runs inside its machine (SPEC §4.5), so the holders'
 * totals cover only the rows whose key r has.
 */
const QUERY = 'ab'.repeat(16);
const SQL = 'SELECT f.g, COUNT(*), SUM(f.v) FROM ft f JOIN tr r ON f.k = r.k GROUP BY f.g';
const HOLDERS = ['h1', 'h2'];

const POLICY = { epsilon: 1, delta: 1e-7, maxRowsPerKey: 1, budget: { epsilon: 10, refresh: 'never' as const } };

/** Which tables have the policy: none, both, or only the joined one (tr). */
type Policies = boolean | 'joined';

function manifest(receivers: string[], privacy: Policies = false): Manifest {
  const ft: Table = {
    name: 'ft',
    owner: 'h1',
    holders: HOLDERS,
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string', values: ['x', 'y'] }, { name: 'v', type: 'integer', min: 0, max: 1000 }],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: { aggregations: [{ column: 'v', functions: ['sum'] }], dimensions: ['g'], minDistinctKeys: 2, overlapDisclosure: [], ...(privacy === true ? { privacy: POLICY } : {}) },
  };
  const tr: Table = {
    name: 'tr',
    owner: 'r',
    columns: [{ name: 'k', type: 'string' }],
    joinKey: { column: 'k', normalization: 'exact' },
    // Under a policy on ft alone, tr's exact minimum would raise the threshold far above these small groups
    // (SPEC §10.2): both tables have one here, so the threshold is ft's minimum on the noisy counts.
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 2, overlapDisclosure: HOLDERS, ...(privacy ? { privacy: POLICY } : {}) },
  };
  return {
    format: 'cleanroom-manifest/1',
    collaborationId: 'fed',
    name: 'fed',
    version: 1,
    members: ['h1', 'h2', 'r'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
    tables: [ft, tr],
    queriers: ['r'],
    receivers,
  };
}

/** Each holder's rows: key, group, value. */
const ROWS: Record<string, [string, string, number][]> = {
  h1: [['a', 'x', 10], ['b', 'x', 20], ['c', 'y', 5], ['g', 'y', 2], ['z1', 'y', 99]],
  h2: [['d', 'x', 1], ['h', 'x', 4], ['e', 'y', 7], ['f', 'y', 8], ['z2', 'x', 50]],
};
const R_KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'other'];

/** Runs the query to its end; `tamper` may replace a message in flight. */
async function run(receivers: string[], tamper?: (from: string, to: string, msg: SessionMessage) => SessionMessage, privacy: Policies = false): Promise<FederatedRun> {
  const plan = planQuery(await parseQuery(SQL), manifest(receivers, privacy), 'r') as FederatedPlan;
  const keys = { h1: ROWS.h1!.map((r) => r[0]), h2: ROWS.h2!.map((r) => r[0]), r: R_KEYS };
  // Per group: rows, distinct keys, the sum of v, and the rows that have a v.
  const aggregate = (holder: string, matched: readonly number[]): GroupAggregate[] => {
    const groups = new Map<string, bigint[]>([['x', [0n, 0n, 0n, 0n]], ['y', [0n, 0n, 0n, 0n]]]);
    for (const i of matched) {
      const [, g, v] = ROWS[holder]![i]!;
      const [rows, distinct, sum, valued] = groups.get(g)!;
      groups.set(g, [rows! + 1n, distinct! + 1n, sum! + BigInt(v), valued! + 1n]);
    }
    return [...groups].map(([g, values]) => ({ labels: [g], values }));
  };
  return runFederated({ plan, queryId: QUERY, keys, aggregate, ...(tamper ? { tamper } : {}) });
}

describe('a federated table joined with another member\'s table, PSI phase inside the machine', () => {
  it('under a privacy policy the receiver gets noisy totals with intervals; both holders add noise (SPEC §10.1)', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const { outcomes } = await run(['r'], undefined, true);
      const o = outcomes.r;
      if (o?.kind !== 'result') throw new Error(JSON.stringify(o));
      expect(o.result.privacy).toMatchObject({ epsilon: '1', delta: '0.0000001', confidence: 0.95 });
      for (const [r, row] of o.result.rows.entries()) {
        const [lo, hi] = o.result.privacy!.intervals[r]![1]!;
        expect(Number(lo)).toBeLessThanOrEqual(Number(row[1]));
        // A noisy COUNT(*) below zero reads as 0 and its interval can be [0, 0]; never upside down.
        expect(Number(hi)).toBeGreaterThanOrEqual(Number(lo));
        expect(Number(hi)).toBeGreaterThanOrEqual(Number(row[1]));
      }
      seen.add(JSON.stringify(o.result.rows));
    }
    // Each group's noisy row count (4 rows; two holders' noise of scale 2·3/0.9: sensitivity 2, three opened values
    // sharing the 0.9 of ε the padding leaves) misses the threshold of 2 with probability 0.408 (laplaceSumTail), so
    // a run releases nothing with probability 0.166: twelve runs alike, 4.4e-10.
    expect(seen.size).toBeGreaterThan(1);
  });

  it('the receiver gets totals over the holders\' rows whose key it has; the holders release', async () => {
    const { outcomes } = await run(['r']);
    expect(outcomes.h1).toMatchObject({ kind: 'released', groups: 2 });
    expect(outcomes.h2).toMatchObject({ kind: 'released', groups: 2 });
    expect(outcomes.r?.kind).toBe('result');
    const rows = outcomes.r?.kind === 'result' ? outcomes.r.result.rows : [];
    // x: a 10, b 20, d 1, h 4; y: c 5, g 2, e 7, f 8. The keys r lacks (z1, z2) count nowhere.
    expect(rows.map((row) => row.map(String))).toEqual([['x', '4', '35'], ['y', '4', '22']]);
  });

  it('a holder cannot pad a group to carry another holder\'s single person over the minimum (SPEC §4.5)', async () => {
    // h1 keeps one person in y (c: g leaves), h2 pads y with extra made-up keys that r happens to hold: y's total
    // passes the minimum, but h1's own part does not, so h1 vetoes y and c's value is never opened.
    const saved = { h1: ROWS.h1!, h2: ROWS.h2! };
    ROWS.h1 = saved.h1.filter(([k]) => k !== 'g');
    ROWS.h2 = [...saved.h2, ['other', 'y', 0]];
    try {
      const { outcomes } = await run(['r']);
      const rows = outcomes.r?.kind === 'result' ? outcomes.r.result.rows : [];
      expect(rows.map((row) => row[0])).toEqual(['x']);
    } finally {
      ROWS.h1 = saved.h1;
      ROWS.h2 = saved.h2;
    }
  });

  it('a policy on the joined table alone does not lift the holders\' veto: the federated table has none (issue 17)', async () => {
    // As above, h1's own part of y is one person. tr's policy makes the totals noisy, but ft's owners never chose
    // noise for their people: h1 still vetoes y, whose opened count is then some 2^100 below zero, noise or not.
    const saved = { h1: ROWS.h1!, h2: ROWS.h2! };
    ROWS.h1 = saved.h1.filter(([k]) => k !== 'g');
    ROWS.h2 = [...saved.h2, ['other', 'y', 0]];
    const opened: bigint[][] = [];
    try {
      const { outcomes } = await run(['r'], (from, to, msg) => {
        if (msg.type === 'open' && msg.stage === 'counts' && HOLDERS.includes(from) && HOLDERS.includes(to)) opened.push(decodeRingElements(msg.values));
        return msg;
      }, 'joined');
      expect(outcomes.r?.kind).toBe('result');
    } finally {
      ROWS.h1 = saved.h1;
      ROWS.h2 = saved.h2;
    }
    // Each holder opens its share of every group's count to the other: [x, y, NULL] (declared values, NULL last).
    expect(opened).toHaveLength(2);
    const signed = (v: bigint) => BigInt.asIntN(128, v);
    const y = signed(opened[0]![1]! + opened[1]![1]!);
    const x = signed(opened[0]![0]! + opened[1]![0]!);
    expect(y < -(1n << 90n)).toBe(true);
    // x is not vetoed: each holder's part has two people. Its noise (scale below 100 here) leaves it far from 2^90.
    expect(x > -(1n << 90n)).toBe(true);
  });

  it('a joined member that receives nothing ends its part with its PSIs and learns no group count', async () => {
    const { outcomes } = await run(['h1']);
    expect(outcomes.r).toEqual({ kind: 'released', groups: 0, receivers: ['h1'] });
    expect(outcomes.h1?.kind).toBe('result');
  });

  it('a violation in one holder\'s PSI aborts the query at every peer, with its reason', async () => {
    // r's second stream to h1 skips a batch number: h1 refuses it and tells h2 and r.
    const { outcomes } = await run(['r'], (from, to, msg) => (from === 'r' && to === 'h1' && msg.type === 'points' && msg.stage === 'pq' ? { ...msg, seq: msg.seq + 1 } : msg));
    expect(outcomes.h1).toMatchObject({ kind: 'failed', error: { code: 'PROTOCOL_VIOLATION', reason: 'skipped-batch' } });
    expect(outcomes.h2).toMatchObject({ kind: 'failed', error: { code: 'ABORTED' } });
    expect(outcomes.r).toMatchObject({ kind: 'failed', error: { code: 'ABORTED' } });
  });
});
