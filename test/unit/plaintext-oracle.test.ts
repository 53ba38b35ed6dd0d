import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { likeMatch, lowerText, trimText, upperText } from '../../scripts/plaintext/text-functions.js';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { readCsvRows } from '../../scripts/plaintext/csv-tables.js';
import type { Table } from '../../src/manifest/schema.js';
import { inMemoryDuckDB } from '../support/memory-duckdb.js';
import { scratchDir } from './data-fixtures.js';

/** The plaintext oracle on rows small enough to answer by hand: every expected value below is written out. */
const table = (name: string, owner: string, more: Partial<Table> = {}): Table => ({
  name,
  owner,
  columns: [
    { name: 'k', type: 'string' },
    { name: 'cat', type: 'string', values: ['a', 'b'] },
    { name: 'amount', type: 'decimal', scale: 2, min: -1000, max: 1000 },
  ],
  joinKey: { column: 'k', normalization: 'email' },
  rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['cat', 'amount'], minDistinctKeys: 2, overlapDisclosure: ['p', 'h1', 'h2'] },
  ...more,
});
const TABLES = [table('p', 'p'), table('q', 'q'), table('r', 'r', { rules: { ...table('r', 'r').rules, minDistinctKeys: 3 } }), table('f', 'h1', { holders: ['h1', 'h2'] })];
const row = (k: string | null, cat: string | null, amount: string | null) => ({ k, cat, amount });

const DATA = {
  p: [row(' Ann@X.org', 'a', '1.00'), row('ann@x.org', 'a', '-0.01'), row('bob@x.org', 'a', null), row('cy@x.org', 'b', null), row('cy@x.org', null, '3'), row(null, 'a', '5.00'), row(' \t', 'a', '5.00')],
  q: [row('ANN@X.ORG', 'b', null), row('ann@x.org', 'b', null), row('bob@x.org\u00a0', 'a', null), row('bob@x.org', null, null), row('cy@x.org', 'a', null), row(null, 'a', null), row('', 'a', null)],
  r: [row('ann@x.org', 'a', null), row('cy@x.org', 'a', null)],
  f: { h1: [row('ann@x.org', 'a', '1.01'), row('bob@x.org', 'a', '2.00')], h2: [row('ann@x.org', 'a', '0.00'), row('dan@x.org', 'b', '7.50'), row('', 'a', '9.00')] },
};

describe('the plaintext oracle', () => {
  it('count-only counts the distinct normalised keys on every side; NULL, empty and near-miss keys never match', async () => {
    expect(await plaintextAnswer('SELECT COUNT(*) FROM p JOIN q ON p.k = q.k', TABLES, DATA)).toMatchObject({ mode: 'count-only', rows: [[3]], groups: [{ labels: [], keys: 3, rows: 3 }] });
    // Three members: only ann and cy are in all three sets, under r's stricter minimum of 3.
    expect(await plaintextAnswer('SELECT COUNT(*) FROM p JOIN q ON p.k = q.k JOIN r ON p.k = r.k', TABLES, DATA)).toMatchObject({ minDistinctKeys: 3, rows: [], groups: [{ keys: 2 }] });
  });

  it('aggregates a semi-join: duplicate partner keys count once, groups under the minimum are dropped, AVG rounds half away from zero', async () => {
    const answer = await plaintextAnswer('SELECT p.cat, COUNT(*), SUM(p.amount), AVG(p.amount) FROM p JOIN q ON p.k = q.k GROUP BY p.cat', TABLES, DATA);
    // Group a: ann twice and bob (3 rows, 2 keys); b and NULL rest on cy alone.
    expect(answer).toMatchObject({ mode: 'aggregate', columns: ['cat', 'count', 'sum_amount', 'avg_amount'], rows: [['a', 3, '0.99', '0.495000']] });
    expect(answer.groups).toEqual([{ labels: ['a'], keys: 2, rows: 3 }, { labels: ['b'], keys: 1, rows: 1 }, { labels: [null], keys: 1, rows: 1 }]);
    const people = Array.from({ length: 32 }, (_, i) => `n${i}@x.org`);
    const halfway = await plaintextAnswer('SELECT COUNT(*), AVG(p.amount) FROM p JOIN q ON p.k = q.k', TABLES, {
      p: people.map((k, i) => row(k, 'a', i === 0 ? '-0.01' : '0.00')),
      q: people.map((k) => row(k, null, null)),
    });
    // -0.01 / 32 = -0.0003125, half a unit of the 6th decimal.
    expect(halfway.rows).toEqual([[32, '-0.000313']]);
  });

  it('SUM and AVG of no value are NULL; a decimal label shows its declared scale, NULL last', async () => {
    const answer = await plaintextAnswer('SELECT p.amount, COUNT(*), SUM(p.amount) FROM p JOIN q ON p.k = q.k GROUP BY p.amount', TABLES, { ...DATA, q: [...DATA.q, row('dan@x.org', null, null)], p: [...DATA.p, row('dan@x.org', 'a', '3.0'), row('dan@x.org', 'a', '-1')] });
    expect(answer.rows).toEqual([['3.00', 2, '6.00'], [null, 2, null]]);
  });

  it('a federated table adds up its holders\' distinct keys (a person at two holders counts twice), joined or alone', async () => {
    // Group a: ann and bob at h1, ann at h2: h2's own part (one key) is under the minimum of 2, so a is vetoed even
    // though its total, 3, passes (SPEC §4.5). With a second key at h2 each part carries the group on its own.
    expect((await plaintextAnswer('SELECT f.cat, COUNT(*), SUM(f.amount) FROM f GROUP BY f.cat', TABLES, DATA)).rows).toEqual([]);
    const more = { ...DATA, f: { ...DATA.f, h2: [...DATA.f.h2, row('eve@x.org', 'a', '0.50')] } };
    expect((await plaintextAnswer('SELECT f.cat, COUNT(*), SUM(f.amount) FROM f GROUP BY f.cat', TABLES, more)).rows).toEqual([['a', 4, '3.51']]);
    const joined = await plaintextAnswer('SELECT f.cat, COUNT(*), AVG(f.amount) FROM f JOIN r ON f.k = r.k GROUP BY f.cat', TABLES, DATA);
    expect(joined).toMatchObject({ mode: 'federated', minDistinctKeys: 3, rows: [], groups: [{ labels: ['a'], keys: 2, rows: 2 }] });
  });

  describe('reading CSV files', () => {
    const scratch = scratchDir('oracle-');
    afterAll(() => scratch.remove());

    it('takes an empty field, quoted or not, as NULL and keeps every other field as text', async () => {
      const file = join(scratch.dir, 't.csv');
      writeFileSync(file, 'k,cat,amount\n"",a,\n" x ",,+1.5\n');
      expect(await readCsvRows(file)).toEqual([{ k: null, cat: 'a', amount: null }, { k: ' x ', cat: null, amount: '+1.5' }]);
    });
  });
});

describe("the oracle's lower, upper, trim and LIKE are DuckDB's (SPEC §5)", () => {
  const duck = inMemoryDuckDB();

  it('on every code point of the planes holding any cased letter or space (0 and 1), and in context (no final sigma, no language rules)', async () => {
    await duck.conn.run('CREATE TABLE cp (s VARCHAR, lo VARCHAR, up VARCHAR, tr VARCHAR)');
    const appender = await duck.conn.createAppender('cp');
    const add = (s: string) => {
      for (const v of [s, lowerText(s), upperText(s), trimText(s)]) appender.appendVarchar(v);
      appender.endRow();
    };
    for (let i = 1; i <= 0x1ffff; i++) if (i < 0xd800 || i > 0xdfff) add(String.fromCodePoint(i));
    for (const s of ['ΟΔΟΣ ΟΔΟΣ', 'ǅungla', 'İSTANBUL', 'ﬁnal', 'Straße', '\u3000 \t x \u00a0\u2009', '\ufeffBOM', '  ', '']) add(s);
    appender.closeSync();
    // Compared inside DuckDB: its client library drops a leading U+FEFF from the strings it hands back.
    const [[n]] = (await duck.conn.runAndReadAll('SELECT count(*) FROM cp')).getRows() as [[bigint]];
    expect(n).toBeGreaterThan(100_000n);
    const wrong = (await duck.conn.runAndReadAll('SELECT s FROM cp WHERE lower(s) <> lo OR upper(s) <> up OR trim(s) <> tr LIMIT 10')).getRows();
    expect(wrong.map(([s]) => [...String(s)].map((c) => c.codePointAt(0)!.toString(16)))).toEqual([]);
  });

  it('LIKE and ILIKE on random texts and patterns with wildcards, backslashes and multi-byte code points', async () => {
    const alphabet = fc.constantFrom('a', 'A', 'b', '%', '_', '\\', 'é', 'É', 'ß', 'Σ', 'σ', 'ς', 'İ', 'i', '😀', '\n', ' ');
    const text = fc.array(alphabet, { maxLength: 8 }).map((cs) => cs.join(''));
    await fc.assert(
      fc.asyncProperty(text, text, async (s, pattern) => {
        const [[like, ilike]] = (await duck.conn.runAndReadAll('SELECT $1::VARCHAR LIKE $2::VARCHAR, lower($1::VARCHAR) LIKE lower($2::VARCHAR)', [s, pattern])).getRows() as [[boolean, boolean]];
        expect([likeMatch(s, pattern), likeMatch(lowerText(s), lowerText(pattern))]).toEqual([like, ilike]);
      }),
      { numRuns: 500 },
    );
  });
});
