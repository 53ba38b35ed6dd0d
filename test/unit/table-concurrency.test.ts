import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeyHasher } from '../../src/data/hash-cache.js';
import { dims, csvRows, openStore, recordingHasher, scratchDir, side, streamedKeys, table } from './data-fixtures.js';

const scratch = scratchDir('cleanroom-concurrency-');
afterAll(() => scratch.remove());

const HEADER = 'k,amount,n,cat\n';
const ROWS = 5000;

describe('queries at once on one store', () => {
  it('20 concurrent hashedKeys + aggregateMatched from a cold store all succeed with the right answer', async () => {
    const store = await openStore(scratch.file(HEADER + csvRows(ROWS)), scratch.cacheDir());
    try {
      const filters = [{ kind: 'compare' as const, column: { table: 't', column: 'n' }, op: '<' as const, value: { type: 'number' as const, value: '3' } }];
      // One recorder for all queries: only the first hashes (the others read the cache), and all must read keys back.
      const hasher = recordingHasher();
      // The keys of `rows` whose key is in `matched`, grouped as the store groups them.
      const expected = (filtered: boolean, matched: ReadonlySet<string>) => {
        const rows = Array.from({ length: ROWS }, (_, i) => i).filter((i) => !filtered || i % 7 < 3);
        const byCat = new Map<string, bigint[]>();
        for (const i of rows.filter((i) => matched.has(`u${i}@x.com`))) {
          const g = byCat.get(i % 2 === 0 ? 'a' : 'b') ?? [0n, 0n, 0n, 0n];
          byCat.set(i % 2 === 0 ? 'a' : 'b', [g[0]! + 1n, g[1]! + 1n, g[2]! + BigInt(i % 100000), g[3]! + 1n]);
        }
        return { keys: rows.length, groups: [...byCat].sort().map(([cat, values]) => ({ labels: [cat], values })) };
      };
      const answers = await Promise.all(
        Array.from({ length: 20 }, async (_, q) => {
          // Half filter, half not; every query matches the keys at even positions of its own (random) key order.
          const s = side(table(), q % 2 === 0 ? filters : []);
          const keys = await streamedKeys(store, s, hasher);
          const matched = keys.flatMap((_, i) => (i % 2 === 0 ? [i] : []));
          const got = { keys: keys.length, groups: await store.aggregateMatched(s, dims('cat'), ['amount'], matched) };
          return { got, want: expected(q % 2 === 0, new Set(matched.map((i) => keys[i]!))) };
        }),
      );
      for (const a of answers) expect(a.got).toEqual(a.want);
    } finally {
      store.close();
    }
  });

  it('a check and queries at once while the file changes: every answer is of one version, or an error naming the change', async () => {
    const path = scratch.file(HEADER + csvRows(ROWS));
    const store = await openStore(path, scratch.cacheDir());
    try {
      const runs = Array.from({ length: 10 }, (_, q) =>
        (async () => {
          if (q === 5) writeFileSync(path, HEADER + csvRows(ROWS, (i) => (i === 0 ? 'u0@x.com,5000.00,0,a' : undefined)));
          return store.aggregateAll(side(), [], ['amount']);
        })().then(
          (groups) => groups[0]!.values[2],
          (err: { message: string }) => err.message,
        ),
      );
      const sums = await Promise.all(runs);
      const before = BigInt(Array.from({ length: ROWS }, (_, i) => i % 100000).reduce((a, b) => a + b, 0));
      for (const s of sums) expect([before, expect.stringMatching(/line 2: amount "5000\.00" is outside the declared bounds|changed while the query read it/)]).toContainEqual(s);
      expect(sums[9]).toMatch(/line 2: amount "5000\.00"/);
    } finally {
      store.close();
    }
  });
});

describe('a file that changes during a query', () => {
  it('between streaming the keys and aggregating the matched ones: refused, never aggregated by another key order', async () => {
    const path = scratch.file(HEADER + 'b@x.com,1.00,1,a\nc@x.com,2.00,1,a\n');
    const store = await openStore(path, scratch.cacheDir());
    try {
      const s = side();
      expect((await streamedKeys(store, s)).sort()).toEqual(['b@x.com', 'c@x.com']);
      // Index 0 meant a key of the old version; in the new version it could be a@x.com.
      writeFileSync(path, HEADER + 'a@x.com,5.00,1,a\nb@x.com,1.00,1,a\nc@x.com,2.00,1,a\n');
      await expect(store.aggregateMatched(s, [], ['amount'], [0])).rejects.toThrow(/changed while the query read it; run the query again/);
      // A new query (a new side) on the new version runs.
      const again = side();
      const keys = await streamedKeys(store, again);
      expect(await store.aggregateMatched(again, [], ['amount'], [keys.indexOf('a@x.com')])).toEqual([{ labels: [], values: [1n, 1n, 500n, 1n] }]);
    } finally {
      store.close();
    }
  });

  it('stops the query, names the bad line at the next read, and serves the file again once it is good', async () => {
    // The keys were read before the file turned bad: the query must not go on as if nothing happened, and the
    // invalid UTF-8 must be found by the byte scan before DuckDB reads it (DuckDB 1.5 gives up its whole database
    // on invalid UTF-8 in a column read alone).
    const good = 'cat,k,amount,n\n' + Array.from({ length: 100 }, (_, i) => `a,u${i}@x.com,1.00,1\n`).join('');
    const path = scratch.file(good);
    const store = await openStore(path, scratch.cacheDir());
    const bad = Buffer.from(good);
    // Same size: the key of line 3 gets bytes that are not UTF-8.
    bad.set([0xff, 0xfe], good.indexOf('u1@'));
    const recorder = recordingHasher();
    let turned = false;
    // The file turns bad between the check and the read that streams the keys out.
    const turning: KeyHasher = {
      ...recorder,
      async hash(keys) {
        if (!turned) writeFileSync(path, bad);
        turned = true;
        return recorder.hash(keys);
      },
    };
    try {
      await store.prepare(table());
      const err = await streamedKeys(store, side(), Object.assign(turning, { seen: recorder.seen })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'DATA_INVALID', message: expect.stringMatching(/changed while the query read it/) });
      expect(await streamedKeys(store, side()).catch((e: unknown) => e)).toMatchObject({ code: 'DATA_INVALID', message: expect.stringMatching(/line 3: is not valid utf-8/) });
      writeFileSync(path, good);
      expect(await streamedKeys(store, side())).toHaveLength(100);
    } finally {
      store.close();
    }
  });
});
