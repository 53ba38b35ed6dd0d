import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyHasher } from '../../src/data/hash-cache.js';
import { TableStore } from '../../src/data/table-store.js';
import { MAX_HASH_CACHE_SEGMENTS } from '../../src/limits.js';
import type { JoinKeySpec, Table } from '../../src/manifest/schema.js';
import type { TableSide } from '../../src/query/plan.js';
import { dims, table } from './data-fixtures.js';
import { readCsvRows } from '../../scripts/plaintext/csv-tables.js';
import { keySet, type Row } from '../../scripts/plaintext/rows.js';
import { parseQuery } from '../../src/query/parse.js';

const dir = mkdtempSync(join(tmpdir(), 'cleanroom-store-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

async function storeFor(csv: string, t: Table = table()): Promise<TableStore> {
  const store = await TableStore.open({ [t.name]: { path: file(`${Math.random()}.csv`, csv), format: 'csv' } }, join(dir, `cache-${Math.random()}`));
  await store.prepare(t);
  return store;
}

/** A stand-in for H: SHA-256 of the key, remembered so that the test can read the stream back as keys. */
function recordingHasher() {
  const seen = new Map<string, string>();
  const hasher: KeyHasher = {
    dst: new Uint8Array([1]),
    parallelism: 2,
    async hash(keys) {
      return Buffer.concat(keys.map((k) => {
        const h = createHash('sha256').update(k).digest();
        seen.set(h.toString('hex'), k);
        return h;
      }));
    },
  };
  return { hasher, seen };
}

/** One recorder for the file: a cached hash is not recomputed, so it must still be known. */
const recorder = recordingHasher();

/** The keys behind the hashed stream, in stream order (which aggregateMatched's indices refer to). */
async function keys(store: TableStore, side: TableSide, r = recorder): Promise<string[]> {
  const all: string[] = [];
  for await (const batch of store.hashedKeys(side, r.hasher, 2)) {
    for (let off = 0; off < batch.length; off += 32) all.push(r.seen.get(Buffer.from(batch.subarray(off, off + 32)).toString('hex'))!);
  }
  return all;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TableStore: reading and validating a member\'s table', () => {
  const csv = 'k,amount,n,cat\n" Ann@X.com",1.50,1,a\nann@x.com ,-2.25,2,a\n"\tBOB@x.com",10,3,b\n,5,4,a\n"   ",6,5,b\ncarol@x.com,,6,b\n';
  let store: TableStore;
  beforeAll(async () => {
    store = await storeFor(csv);
  });
  afterAll(() => store.close());

  it('streams H of the distinct normalised keys in batches, never of NULL or empty ones, in a new random order each query', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 13; i++) {
      const order = await keys(store, { table: table(), filters: [] });
      expect([...order].sort()).toEqual(['ann@x.com', 'bob@x.com', 'carol@x.com']);
      orders.add(order.join());
    }
    // Positions are no pseudonyms (issue 10): thirteen queries all in one of six orders has probability 6^-12 < 5e-10.
    expect(orders.size).toBeGreaterThan(1);
  });

  it('counts a side\'s distinct keys before its query is proposed, and streams exactly those keys without reading the table again', async () => {
    const side: TableSide = { table: table(), filters: [{ kind: 'compare', column: { table: 't', column: 'cat' }, op: '=', value: { type: 'string', value: 'b' } }] };
    expect(await store.distinctKeys(side)).toBe(2);
    // Asked twice (a retry), the count is the same key set.
    expect(await store.distinctKeys(side)).toBe(2);
    expect((await keys(store, side)).sort()).toEqual(['bob@x.com', 'carol@x.com']);
    // A side counted and then never run (a peer refused) is released; release is idempotent.
    const refused: TableSide = { table: table(), filters: [] };
    expect(await store.distinctKeys(refused)).toBe(3);
    await store.release(refused);
    await store.release(refused);
    expect((await keys(store, refused)).sort()).toEqual(['ann@x.com', 'bob@x.com', 'carol@x.com']);
  });

  it('a side released while its keys are counted closes its connection only after the count (a failed query\'s teardown)', async () => {
    // Closing a DuckDB connection under its running query corrupted the heap: the fuzzed node died of SIGABRT.
    for (let i = 0; i < 20; i++) {
      const side: TableSide = { table: table(), filters: [] };
      const counting = store.distinctKeys(side);
      await store.release(side);
      expect(await counting).toBe(3);
    }
  });

  it('applies filters before the keys leave', async () => {
    const side: TableSide = { table: table(), filters: [{ kind: 'compare', column: { table: 't', column: 'cat' }, op: '=', value: { type: 'string', value: 'b' } }] };
    expect((await keys(store, side)).sort()).toEqual(['bob@x.com', 'carol@x.com']);
    const between: TableSide = { table: table(), filters: [{ kind: 'between', column: { table: 't', column: 'amount' }, low: { type: 'number', value: '-3' }, high: { type: 'number', value: '1.5' } }] };
    expect((await keys(store, between)).sort()).toEqual(['ann@x.com']);
  });

  it('aggregates the matched rows as a semi-join: every row of a matched key counts once', async () => {
    // Indices into this query's key order.
    const s = { table: table(), filters: [] };
    const order = await keys(store, s);
    const groups = await store.aggregateMatched(s, dims('cat'), ['amount'], ['ann@x.com', 'carol@x.com'].map((k) => order.indexOf(k)));
    // cat a: two rows of ann (150 - 225 cents); cat b: carol with a NULL amount.
    expect(groups).toEqual([
      { labels: ['a'], values: [2n, 1n, -75n, 2n] },
      { labels: ['b'], values: [1n, 1n, 0n, 0n] },
    ]);
  });

  it('labels integer dimensions as numbers', async () => {
    const s = { table: table(), filters: [] };
    const order = await keys(store, s);
    const groups = await store.aggregateMatched(s, dims('n'), [], [order.indexOf('bob@x.com')]);
    expect(groups).toEqual([{ labels: [3], values: [1n, 1n] }]);
  });
});

describe('TableStore: a DP query counts at most maxRowsPerKey rows of each person (SPEC §10.2)', () => {
  // ann has five rows (1, 2, 3, 4, 5), bob one (100): at most two of ann's count, picked at random for every query.
  const csv = 'k,amount,n,cat\nann@x.com,1,1,a\nann@x.com,2,2,a\nann@x.com,3,3,a\nann@x.com,4,4,a\nann@x.com,5,5,a\nbob@x.com,100,6,a\n';
  let store: TableStore;
  beforeAll(async () => {
    store = await storeFor(csv);
  });
  afterAll(() => store.close());

  it('keeps two of ann\'s five rows and every distinct key, and which two changes between queries', async () => {
    const sums = new Set<bigint>();
    for (let i = 0; i < 12; i++) {
      const [g] = await store.aggregateAll({ table: table(), filters: [] }, dims('cat'), ['amount'], 2);
      expect(g!.values.slice(0, 2)).toEqual([3n, 2n]);
      const annCents = g!.values[2]! - 10_000n;
      // Two distinct amounts of ann's, in cents: between 1 + 2 and 4 + 5.
      expect(annCents >= 300n && annCents <= 900n).toBe(true);
      sums.add(annCents);
    }
    // Ten possible pairs: twelve queries all picking the same one has probability 10^-11.
    expect(sums.size).toBeGreaterThan(1);
    // Without the cap every row counts.
    expect((await store.aggregateAll({ table: table(), filters: [] }, dims('cat'), ['amount']))[0]!.values).toEqual([6n, 2n, 11_500n, 6n]);
  });

  it('applies the cap to the matched rows of a two-party query too, after the filters', async () => {
    const s = { table: table(), filters: [] };
    const order = await keys(store, s);
    const [g] = await store.aggregateMatched(s, [], ['amount'], [order.indexOf('ann@x.com')], 1);
    expect(g!.values[0]).toBe(1n);
    // A query side whose keys were never streamed has no order to refer to.
    await expect(store.aggregateMatched({ table: table(), filters: [] }, [], ['amount'], [0])).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(store.aggregateAll({ table: table(), filters: [] }, [], [], 0)).rejects.toThrow(RangeError);
  });
});

describe('TableStore: refusing data that does not match the manifest, rather than rounding it', () => {
  it('refuses decimals with more digits than the declared scale', async () => {
    await expect(storeFor('k,amount,n,cat\na,1.005,1,x\n')).rejects.toThrow(/\.csv line 2: amount "1\.005" has more than 2 decimals$/);
  });

  it('accepts trailing zeros beyond the scale', async () => {
    const s = await storeFor('k,amount,n,cat\na,1.500,1,x\n');
    s.close();
  });

  it('refuses values outside the declared bounds', async () => {
    await expect(storeFor('k,amount,n,cat\na,1000.01,1,x\n')).rejects.toMatchObject({ code: 'DATA_INVALID', message: expect.stringMatching(/outside the declared bounds \[-1000, 1000\]/) });
    await expect(storeFor('k,amount,n,cat\na,1,101,x\n')).rejects.toThrow(/line 2: n "101" is outside the declared bounds \[0, 100\]/);
  });

  it('refuses non-numbers in numeric columns', async () => {
    await expect(storeFor('k,amount,n,cat\na,1,2.5,x\n')).rejects.toThrow(/line 2: n "2\.5" is not an integer/);
    await expect(storeFor('k,amount,n,cat\na,1e3,2,x\n')).rejects.toThrow(/line 2: amount "1e3" is not a decimal number/);
  });

  it('refuses a file without a declared column', async () => {
    await expect(storeFor('k,amount,cat\na,1,x\n')).rejects.toMatchObject({ code: 'DATA_INVALID', message: expect.stringMatching(/line 1: n is not named in the header/) });
  });

  it('refuses a table this node has no file for', async () => {
    const s = await TableStore.open({}, join(dir, 'unused-cache'));
    await expect(s.prepare(table())).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    s.close();
  });
});

describe('the hash cache', () => {
  it('hashes each normalised key once, across queries, filters and versions of the table: a changed file costs only its new keys', async () => {
    let hashed = 0;
    const counting: KeyHasher = { ...recorder.hasher, hash: (k) => ((hashed += k.length), recorder.hasher.hash(k)) };
    const path = file('cached.csv', 'k,amount,n,cat\nann@x.com,1,1,a\nbob@x.com,1,1,b\nann@x.com,2,2,a\n');
    const cacheDir = join(dir, 'cache-versions');
    const store = await TableStore.open({ t: { path, format: 'csv' } }, cacheDir);
    const side = { table: table(), filters: [] };
    await store.prepare(side.table);
    expect((await keys(store, side, { ...recorder, hasher: counting })).sort()).toEqual(['ann@x.com', 'bob@x.com']);
    expect(hashed).toBe(2);
    const filtered: TableSide = { table: table(), filters: [{ kind: 'compare', column: { table: 't', column: 'cat' }, op: '=', value: { type: 'string', value: 'b' } }] };
    expect(await keys(store, filtered, { ...recorder, hasher: counting })).toEqual(['bob@x.com']);
    expect(hashed).toBe(2);
    writeFileSync(path, 'k,amount,n,cat\nann@x.com,1,1,a\ncarol@x.com,1,1,b\n');
    await store.prepare(side.table);
    expect((await keys(store, side, { ...recorder, hasher: counting })).sort()).toEqual(['ann@x.com', 'carol@x.com']);
    expect(hashed).toBe(3);
    // One directory per DST, owner-only: it holds normalised keys.
    const [dstDir, ...others] = readdirSync(cacheDir).filter((f) => f.startsWith('h2g-'));
    expect(others).toEqual([]);
    expect(statSync(join(cacheDir, dstDir!)).mode & 0o777).toBe(0o700);
    store.close();
  });

  it('is filled in the background in one pass that a query needing its own keys interrupts, each key hashed once', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `u${i}@x.com,1,1,${i >= 17_000 ? 'b' : 'a'}`);
    const store = await storeFor(`k,amount,n,cat\n${rows.join('\n')}\n`);
    const hashedBy = { warm: 0, query: 0 };
    let queryDone = false;
    // The background hashes one DuckDB chunk (2,048 keys) at a time, slowly (a second for the ten), until the query is done.
    const slow = (who: 'warm' | 'query'): KeyHasher => ({
      ...recorder.hasher,
      parallelism: who === 'warm' ? 1 : 2,
      async hash(k) {
        hashedBy[who] += k.length;
        if (who === 'warm' && !queryDone) await new Promise((r) => setTimeout(r, 100));
        return recorder.hasher.hash(k);
      },
    });
    const progress: number[] = [];
    const warming = store.warm(table(), table().joinKey as JoinKeySpec, slow('warm'), (done) => progress.push(done), () => false);
    await new Promise((r) => setTimeout(r, 250));
    const filtered: TableSide = { table: table(), filters: [{ kind: 'compare', column: { table: 't', column: 'cat' }, op: '=', value: { type: 'string', value: 'b' } }] };
    expect((await keys(store, filtered, { ...recorder, hasher: slow('query') })).length).toBe(3_000);
    queryDone = true;
    // Had the query waited for the whole pass, every key would have been hashed by it, none by the query.
    expect(hashedBy.query).toBeGreaterThan(0);
    expect(await warming).toBe(20_000);
    // Every key hashed exactly once, by one or the other; the query hashed only what the pass had not reached.
    expect(hashedBy.warm + hashedBy.query).toBe(20_000);
    expect(hashedBy.warm).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(20_000);
    expect(await keys(store, { table: table(), filters: [] }, { ...recorder, hasher: slow('query') })).toHaveLength(20_000);
    expect(hashedBy.warm + hashedBy.query).toBe(20_000);
    store.close();
  });

  it('stops the background pass between two batches when the node stops, keeping what it hashed', async () => {
    const store = await storeFor(`k,amount,n,cat\n${Array.from({ length: 10_000 }, (_, i) => `s${i}@x.com,1,1,a`).join('\n')}\n`);
    let batches = 0;
    const counting: KeyHasher = { ...recorder.hasher, parallelism: 1, hash: (k) => ((batches += 1), recorder.hasher.hash(k)) };
    expect(await store.warm(table(), table().joinKey as JoinKeySpec, counting, () => {}, () => batches >= 2)).toBe(10_000);
    expect(batches).toBe(2);
    let again = 0;
    await keys(store, { table: table(), filters: [] }, { ...recorder, hasher: { ...recorder.hasher, hash: (k) => ((again += k.length), recorder.hasher.hash(k)) } });
    expect(again).toBe(10_000 - 2 * 2_048);
    store.close();
  });

  it("holds DuckDB's spill directory from the start, owner-only: a table beyond the memory cap can be read (it failed at 10M rows)", async () => {
    const cacheDir = join(dir, 'cache-spill');
    const store = await TableStore.open({ t: { path: file('spill.csv', 'k,amount,n,cat\nann@x.com,1,1,a\n'), format: 'csv' } }, cacheDir);
    expect(statSync(join(cacheDir, 'spill')).mode & 0o777).toBe(0o700);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    // The cache may be deleted while the node runs: the next key set makes the directory again.
    rmSync(cacheDir, { recursive: true, force: true });
    await store.prepare(table());
    expect(await keys(store, { table: table(), filters: [] })).toEqual(['ann@x.com']);
    expect(statSync(join(cacheDir, 'spill')).mode & 0o777).toBe(0o700);
    store.close();
  });

  it('may be deleted at any time, even while the node runs: the next query hashes its keys again', async () => {
    const cacheDir = join(dir, 'cache-deleted');
    let hashed = 0;
    const counting: KeyHasher = { ...recorder.hasher, hash: (k) => ((hashed += k.length), recorder.hasher.hash(k)) };
    const store = await TableStore.open({ t: { path: file('deleted.csv', 'k,amount,n,cat\nann@x.com,1,1,a\nbob@x.com,1,1,b\n'), format: 'csv' } }, cacheDir);
    const side = { table: table(), filters: [] };
    expect((await keys(store, side, { ...recorder, hasher: counting })).sort()).toEqual(['ann@x.com', 'bob@x.com']);
    rmSync(cacheDir, { recursive: true, force: true });
    expect((await keys(store, side, { ...recorder, hasher: counting })).sort()).toEqual(['ann@x.com', 'bob@x.com']);
    expect(hashed).toBe(4);
    store.close();
  });

  it('deleted while a fill runs: what the fill hashed is kept, in the directory made again, and no key is hashed twice', async () => {
    const cacheDir = join(dir, 'cache-during');
    const path = file('during.csv', `k,amount,n,cat\n${Array.from({ length: 8_000 }, (_, i) => `d${i}@x.com,1,1,a`).join('\n')}\n`);
    const store = await TableStore.open({ t: { path, format: 'csv' } }, cacheDir);
    let hashed = 0;
    // One DuckDB chunk at a time, 50 ms each: the deletion lands in the middle of the fill.
    const slow: KeyHasher = { ...recorder.hasher, parallelism: 1, hash: async (k) => ((hashed += k.length), await new Promise((r) => setTimeout(r, 50)), recorder.hasher.hash(k)) };
    const side = { table: table(), filters: [] };
    const streaming = keys(store, side, { ...recorder, hasher: slow });
    await new Promise((r) => setTimeout(r, 60));
    rmSync(cacheDir, { recursive: true, force: true });
    expect(await streaming).toHaveLength(8_000);
    expect(hashed).toBe(8_000);
    // Made again owner-only: it holds normalised keys.
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    expect(await keys(store, { table: table(), filters: [] }, { ...recorder, hasher: slow })).toHaveLength(8_000);
    expect(hashed).toBe(8_000);
    store.close();
  });

  it('a key in two of its files (a deletion during a fill) is still streamed once, and the matched rows stay right', async () => {
    const cacheDir = join(dir, 'cache-twice');
    const path = file('twice.csv', 'k,amount,n,cat\nann@x.com,1,1,a\nbob@x.com,2,1,b\ncarol@x.com,4,1,a\n');
    const first = await TableStore.open({ t: { path, format: 'csv' } }, cacheDir);
    const side = { table: table(), filters: [] };
    await keys(first, side);
    first.close();
    // Every cached hash a second time, in another file, as two fills unaware of each other would leave them.
    const dstDir = join(cacheDir, readdirSync(cacheDir).find((f) => f.startsWith('h2g-'))!);
    const [one] = readdirSync(dstDir).filter((f) => f.endsWith('.parquet'));
    writeFileSync(join(dstDir, `copy-${one}`), readFileSync(join(dstDir, one!)));
    const store = await TableStore.open({ t: { path, format: 'csv' } }, cacheDir);
    const again = { table: table(), filters: [] };
    const streamed = await keys(store, again);
    expect([...streamed].sort()).toEqual(['ann@x.com', 'bob@x.com', 'carol@x.com']);
    const [g] = await store.aggregateMatched(again, [], ['amount'], [streamed.indexOf('ann@x.com'), streamed.indexOf('carol@x.com')]);
    expect(g!.values[0]).toBe(2n);
    store.close();
  });

  it('merges its files once there are more than MAX_HASH_CACHE_SEGMENTS, and keeps every key exactly once', async () => {
    const cacheDir = join(dir, 'cache-merge');
    let hashed = 0;
    const counting: KeyHasher = { ...recorder.hasher, hash: (k) => ((hashed += k.length), recorder.hasher.hash(k)) };
    const path = file('merge.csv', 'k,amount,n,cat\n');
    const store = await TableStore.open({ t: { path, format: 'csv' } }, cacheDir);
    const side = { table: table(), filters: [] };
    const all: string[] = [];
    for (let i = 0; i <= MAX_HASH_CACHE_SEGMENTS + 1; i++) {
      all.push(`p${i}@x.com`);
      writeFileSync(path, `k,amount,n,cat\n${all.map((k) => `${k},1,1,a`).join('\n')}\n`);
      expect((await keys(store, side, { ...recorder, hasher: counting })).sort()).toEqual([...all].sort());
    }
    expect(hashed).toBe(all.length);
    const dstDir = join(cacheDir, readdirSync(cacheDir).find((f) => f.startsWith('h2g-'))!);
    expect(readdirSync(dstDir).filter((f) => f.endsWith('.parquet')).length).toBeLessThanOrEqual(MAX_HASH_CACHE_SEGMENTS);
    store.close();
  });

  it('never confuses collaborations: another DST is another cache', async () => {
    let hashed = 0;
    const path = file('dst.csv', 'k,amount,n,cat\nann@x.com,1,1,a\n');
    const store = await TableStore.open({ t: { path, format: 'csv' } }, join(dir, 'cache-dst'));
    const side = { table: table(), filters: [] };
    await store.prepare(side.table);
    for (const dst of [new Uint8Array([1]), new Uint8Array([2])]) {
      const h: KeyHasher = { ...recorder.hasher, dst, hash: (k) => ((hashed += k.length), recorder.hasher.hash(k)) };
      await keys(store, side, { ...recorder, hasher: h });
    }
    expect(hashed).toBe(2);
    store.close();
  });
});

describe('normalisations', () => {
  it('phone keeps digits only, exact keeps the value', async () => {
    const phone = table({ joinKey: { column: 'k', normalization: 'phone' } });
    const s1 = await storeFor('k,amount,n,cat\n"+1 (555) 010-2030",1,1,x\n15550102030,1,1,x\n"+-()",1,1,x\n', phone);
    expect(await keys(s1, { table: phone, filters: [] })).toEqual(['15550102030']);
    s1.close();
    const exact = table({ joinKey: { column: 'k', normalization: 'exact' } });
    const s2 = await storeFor('k,amount,n,cat\n" A",1,1,x\nA,1,1,x\n', exact);
    expect((await keys(s2, { table: exact, filters: [] })).sort()).toEqual([' A', 'A']);
    s2.close();
  });
});

describe('TableStore: WHERE conditions in DuckDB, as SPEC §5 defines them', () => {
  // Keys a..j@x.com. c has no cat, d no n; e's cat has an ideographic and a no-break space around it, j's a tab.
  const rows = [
    ['a', '1.00', '1', 'Apple'],
    ['b', '2.00', '2', 'apple'],
    ['c', '', '3', ''],
    ['d', '4.00', '', 'BANANA'],
    ['e', '5.00', '5', '\u3000straße\u00a0'],
    ['f', '6.00', '6', 'Ωmega'],
    ['g', '7.00', '7', '50%_off'],
    ['h', '8.00', '8', 'İstanbul'],
    ['i', '9.00', '9', 'a\\b'],
    ['j', '10.00', '10', '\tx'],
  ];
  const csv = `k,amount,n,cat\n${rows.map(([k, ...rest]) => [`${k}@x.com`, ...rest.map((v) => (v === '' ? '' : `"${v}"`))].join(',')).join('\n')}\n`;
  let store: TableStore;
  let pooled: Row[];
  beforeAll(async () => {
    const path = file('where.csv', csv);
    store = await TableStore.open({ t: { path, format: 'csv' } }, join(dir, 'cache-where'));
    pooled = await readCsvRows(path);
  });
  afterAll(() => store.close());

  const cases: ReadonlyArray<readonly [string, string, string]> = [
    // [what, WHERE on t, the keys it keeps]
    ['OR', "t.cat = 'Apple' OR t.n >= 8", 'a h i j'],
    ['NOT of a comparison on NULL is unknown', "NOT (t.cat = 'apple')", 'a d e f g h i j'],
    ['NULL OR true is true', "t.cat != 'apple' OR t.n = 3", 'a c d e f g h i j'],
    ['NOT (false OR NULL) is unknown', "NOT (t.cat = 'apple' OR t.n = 3)", 'a e f g h i j'],
    ['NOT over AND: an OR of the negations', "NOT (t.n < 5 AND t.cat LIKE '%a%')", 'a d e f g h i j'],
    ['IS NULL', 't.cat IS NULL OR t.n IS NULL', 'c d'],
    ['IS NOT NULL', 't.cat IS NOT NULL AND t.n IS NOT NULL', 'a b e f g h i j'],
    ['NOT IN keeps no NULL', "t.cat NOT IN ('Apple', 'apple')", 'd e f g h i j'],
    ['NOT BETWEEN keeps no NULL', 't.n NOT BETWEEN 2 AND 8', 'a i j'],
    ['LIKE: _ is one code point', "t.cat LIKE '_pple' OR t.cat LIKE '_mega'", 'a b f'],
    ['LIKE: a backslash is an ordinary character', "t.cat LIKE '50\\%%' OR t.cat LIKE 'a\\%'", 'i'],
    ['LIKE: % and _ are always wildcards', "t.cat LIKE '50%_o%'", 'g'],
    ['NOT LIKE keeps no NULL and is case-sensitive', "t.cat NOT LIKE 'a%'", 'a d e f g h j'],
    ['ILIKE: simple case mapping, İ is i', "t.cat ILIKE 'APPLE' OR t.cat ILIKE 'ω%' OR t.cat ILIKE 'is%'", 'a b f h'],
    ['NOT ILIKE', "t.cat NOT ILIKE '%A%'", 'g j'],
    ['lower', "lower(t.cat) = 'apple'", 'a b'],
    ['upper of trim: ß is ẞ, and trim takes the ideographic and no-break spaces', "upper(trim(t.cat)) = 'STRAẞE'", 'e'],
    ['trim leaves a tab', "trim(t.cat) IN ('x', 'straße')", 'e'],
    ['lower compared byte-wise', "lower(t.cat) < 'b'", 'a b g i j'],
    ['a literal is bound, never SQL text', "t.cat IN ('x''); DROP TABLE t; --') OR t.cat = 'Apple'", 'a'],
  ];

  it.each(cases)('%s', async (_what, where, expected) => {
    const filters = (await parseQuery(`SELECT COUNT(*) FROM t JOIN u ON t.k = u.k WHERE ${where}`)).where;
    const kept = (await keys(store, { table: table(), filters })).sort();
    expect(kept).toEqual(expected.split(' ').map((k) => `${k}@x.com`));
    // The plaintext oracle reads the same file the same way.
    expect([...keySet(table(), pooled, filters)].sort()).toEqual(kept);
  });
});
