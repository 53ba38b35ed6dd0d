import { afterAll, describe, expect, it } from 'vitest';
import type { Cell, Dimension } from '../../src/query/ast.js';
import type { TableStore } from '../../src/data/table-store.js';
import type { Table } from '../../src/manifest/schema.js';
import { openStore, recordingHasher, scratchDir, side, table } from './data-fixtures.js';

/**
 * SPEC §4.6 in DuckDB: the partner's key set cut in parts by the labels of its GROUP BY dimensions
 * (TableStore.hashedPartKeys), and the aggregating member's groups per part (aggregateMatched with the parts).
 */

const scratch = scratchDir('cleanroom-parts-');
afterAll(() => scratch.remove());

const visits: Table = table({
  name: 't',
  columns: [
    { name: 'k', type: 'string' },
    { name: 'campaign', type: 'string', values: ['spring', 'summer'] },
    { name: 'seen', type: 'date', min: '2025-01-01', max: '2025-03-31' },
  ],
  rules: { aggregations: [], dimensions: ['campaign', 'seen'], minDistinctKeys: 1, overlapDisclosure: [] },
});
const CSV = ['k,campaign,seen', 'a@x,spring,2025-01-05', ' A@X ,summer,2025-02-01', 'b@x,spring,2025-01-20', 'c@x,,2025-03-03', 'd@x,summer,', 'a@x,spring,2025-01-06', ''].join('\n');
const col = (c: string): Dimension => ({ kind: 'column', column: { table: 't', column: c } });
const month: Dimension = { kind: 'date-trunc', unit: 'month', column: { table: 't', column: 'seen' } };

/** One recorder for the file: a cached hash is not recomputed, so it must still be known. */
const hasher = recordingHasher();

async function parts(store: TableStore, dimensions: Dimension[], labels: Cell[][], perKey?: number): Promise<string[][]> {
  const out: string[][] = labels.map(() => []);
  const columns = ['k', 'campaign', 'seen'];
  for await (const { part, points } of store.hashedPartKeys(side(visits), { dimensions, labels, ...(perKey ? { perKey } : {}) }, hasher, 2, columns)) {
    for (let off = 0; off < points.length; off += 32) out[part]!.push(hasher.seen.get(Buffer.from(points.subarray(off, off + 32)).toString('hex'))!);
  }
  return out.map((p) => [...p].sort());
}

describe('the partner\'s parts (SPEC §4.6)', () => {
  it('each distinct key once per label it has, NULL labels a part of their own, labels outside the list in none', async () => {
    const store = await openStore(scratch.file(CSV), scratch.cacheDir(), {}, visits);
    await store.prepare(visits);
    expect(await parts(store, [col('campaign')], [['spring'], ['summer'], [null]])).toEqual([['a@x', 'b@x'], ['a@x', 'd@x'], ['c@x']]);
    // Dates by their text, truncated as the aggregating side's groups are; a label list may leave a month out.
    expect(await parts(store, [col('campaign'), month], [['spring', '2025-01-01'], ['summer', '2025-02-01'], ['summer', null]])).toEqual([['a@x', 'b@x'], ['a@x'], ['d@x']]);
    store.close();
  });

  it('under a policy a key keeps at most perKey of its parts, whichever they are', async () => {
    const store = await openStore(scratch.file(CSV), scratch.cacheDir(), {}, visits);
    await store.prepare(visits);
    const capped = await parts(store, [col('campaign')], [['spring'], ['summer'], [null]], 1);
    const count = (k: string) => capped.filter((p) => p.includes(k)).length;
    expect(['a@x', 'b@x', 'c@x', 'd@x'].map(count)).toEqual([1, 1, 1, 1]);
    store.close();
  });
});
