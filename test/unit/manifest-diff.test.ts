/**
 * `cleanroom manifest diff` and the node's log of a loaded version: every kind of change is one line in words, and two
 * equal manifests have none.
 */
import { describe, expect, it } from 'vitest';
import { manifestDiff } from '../../src/manifest/diff.js';
import { Manifest, type Table } from '../../src/manifest/schema.js';
import { ADVERTISER, AUDITOR, PUBLISHER, buildCollaboration } from '../support/collaboration.js';

const { manifest: v1 } = buildCollaboration();
const edit = (change: (m: Manifest) => void): Manifest => {
  const m = structuredClone(v1);
  change(m);
  return Manifest.parse(m);
};
const table = (m: Manifest, name: string): Table => m.tables.find((t) => t.name === name)!;

describe('manifestDiff', () => {
  it('says nothing of two equal manifests', () => {
    expect(manifestDiff(v1, structuredClone(v1))).toEqual([]);
  });

  it('names verify turned on or off (SPEC §4.2.1)', () => {
    const on = edit((m) => {
      m.verify = true;
    });
    expect(manifestDiff(v1, on)).toEqual(['verify on: the partner proves every point it returns in a two-party aggregate query (SPEC §4.2.1)']);
    expect(manifestDiff(on, v1)).toEqual(['verify off: returned points are no longer proven']);
    expect(manifestDiff(on, edit((m) => (m.verify = true)))).toEqual([]);
  });

  it('names the version, a table added or removed, and members, queriers and receivers in and out', () => {
    const v2 = edit((m) => {
      m.version = 2;
      m.tables = m.tables.filter((t) => t.name !== 'advertiser');
      m.tables.push({ ...structuredClone(table(v1, 'advertiser')), name: 'shop', owner: AUDITOR });
      m.queriers = [PUBLISHER, AUDITOR];
      m.receivers = [PUBLISHER];
      m.members[2]!.endpoint = 'ws://auditor.example:7000';
    });
    expect(manifestDiff(v1, v2)).toEqual([
      'version 1 → 2',
      'member auditor: endpoint ws://127.0.0.1:7102 → ws://auditor.example:7000',
      'auditor now may query',
      'advertiser no longer may query',
      'advertiser no longer receives results',
      'table shop added (owner auditor; columns email, amount, category, items, age)',
      'table advertiser removed',
    ]);
  });

  it('names each change of a table: columns, join keys, dimensions, aggregations, minDistinctKeys, grants', () => {
    const v2 = edit((m) => {
      const t = table(m, 'publisher');
      t.columns.push({ name: 'device', type: 'string' });
      t.columns = t.columns.filter((c) => c.name !== 'region');
      const imp = t.columns.find((c) => c.name === 'impressions')!;
      if (imp.type === 'integer') imp.max = 2_000_000;
      t.joinKey = { column: 'email', normalization: 'exact' };
      t.rules.dimensions = ['device'];
      t.rules.aggregations = [{ column: 'impressions', functions: ['sum', 'variance'] }];
      t.rules.minDistinctKeys = 10;
      t.rules.overlapDisclosure = [{ member: ADVERTISER, filters: [] }, AUDITOR];
    });
    expect(manifestDiff(v1, v2)).toEqual([
      'publisher: column impressions: max 1000000 → 2000000',
      'publisher: column device (string) added',
      'publisher: column region removed',
      'publisher: join keys email (email) → email (exact)',
      'publisher: dimension device allowed (WHERE, GROUP BY)',
      'publisher: dimension campaign no longer allowed',
      'publisher: VARIANCE(impressions) allowed',
      'publisher: AVG(impressions) no longer allowed',
      'publisher: minDistinctKeys 3 → 10',
      "publisher: advertiser's overlap grant: filtered by campaign → unfiltered",
      'publisher: auditor may learn which of its keys are here (unfiltered)',
    ]);
  });

  it('names a privacy policy added, changed and removed', () => {
    const policy = { epsilon: 1, delta: 1e-6, maxRowsPerKey: 5, budget: { epsilon: 10, refresh: 'month' as const } };
    const v2 = edit((m) => void (table(m, 'advertiser').rules.privacy = policy));
    expect(manifestDiff(v1, v2)).toEqual([
      'advertiser: privacy policy added: ε 1, δ 0.000001 per query, at most 5 row(s) per key, budget ε 10 (refresh: month); every query on it becomes differentially private',
    ]);
    const v3 = Manifest.parse({ ...structuredClone(v2), tables: v2.tables.map((t) => (t.rules.privacy ? { ...t, rules: { ...t.rules, privacy: { ...policy, epsilon: 0.5 } } } : t)) });
    expect(manifestDiff(v2, v3)).toEqual([expect.stringMatching(/^advertiser: privacy policy ε 1, .* → ε 0\.5, /)]);
    expect(manifestDiff(v3, v1)).toEqual(['advertiser: privacy policy removed: queries on it are exact again']);
  });
});
