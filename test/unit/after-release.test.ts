/**
 * HAVING, ORDER BY, LIMIT and OFFSET as a receiver applies them to the result table it assembled
 * (src/query/after-release.ts), and, for random tables and clauses, the same as the plaintext oracle applies them
 * (scripts/plaintext/after-release.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shownRows } from '../../scripts/plaintext/after-release.js';
import { formatResult } from '../../src/cli/table.js';
import type { Manifest } from '../../src/manifest/schema.js';
import { afterRelease } from '../../src/query/after-release.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery } from '../../src/query/plan.js';
import type { Cell, Interval, QueryResult } from '../../src/query/result.js';
import { ADVERTISER, TEST_POLICY, buildCollaboration } from '../support/collaboration.js';

const FROM = 'FROM advertiser a JOIN publisher p ON a.email = p.email';
const SELECT = `SELECT a.category, COUNT(*) AS n, SUM(a.amount), AVG(a.amount) ${FROM} GROUP BY a.category`;
const { manifest } = buildCollaboration();
const withAge: Manifest = { ...manifest, tables: manifest.tables.map((t) => (t.name === 'advertiser' ? { ...t, rules: { ...t.rules, dimensions: ['category', 'age'] } } : t)) };
const dpManifest = buildCollaboration({ categoryValues: ['books', 'garden', 'music', 'toys'], privacy: { advertiser: TEST_POLICY } }).manifest;

/** Rows in label order (NULL last), as assembleResult gives them; string order and numeric order disagree on the sums. */
const ROWS: (readonly Cell[])[] = [
  ['books', 8, '10.30', '1.287500'],
  ['garden', 4, '108.15', '27.037500'],
  ['music', 8, '9.50', '-1.187500'],
  ['toys', 3, null, null],
  [null, 4, '-0.04', '-0.010000'],
];

function exact(rows: readonly (readonly Cell[])[] = ROWS): QueryResult {
  return { queryId: 'q', mode: 'aggregate', columns: ['category', 'n', 'sum_amount', 'avg_amount'], rows, minDistinctKeys: 3 };
}

/** A DP result whose every interval names its row's label, so that its alignment can be read off. */
function noisy(rows: readonly (readonly Cell[])[] = ROWS): QueryResult {
  const intervals = rows.map((r) => r.map((c, i): Interval | null => (i === 0 || c === null ? null : [`${String(r[0])}-lo`, `${String(r[0])}-hi`])));
  return { ...exact(rows), privacy: { epsilon: '1', delta: '1/10000000', confidence: 0.95, intervals } };
}

async function shaped(tail: string, result: QueryResult = exact(), m: Manifest = manifest, select = SELECT): Promise<QueryResult> {
  return afterRelease(planQuery(await parseQuery(`${select} ${tail}`), m, ADVERTISER), result);
}

const labels = (r: QueryResult) => r.rows.map((row) => row[0] ?? null);

describe('HAVING on the released values', () => {
  it('on a count, by alias or expression', async () => {
    expect(labels(await shaped('HAVING n >= 4'))).toStrictEqual(['books', 'garden', 'music', null]);
    expect(labels(await shaped('HAVING COUNT(*) = 8'))).toStrictEqual(['books', 'music']);
    expect(labels(await shaped('HAVING 4 > n'))).toStrictEqual(['toys']);
  });

  it('on a sum as an exact decimal, not as text ("9.50" < 10 < "10.30"); a NULL sum fails every comparison', async () => {
    expect(labels(await shaped('HAVING sum_amount > 10'))).toStrictEqual(['books', 'garden']);
    expect(labels(await shaped('HAVING SUM(a.amount) <= 10.3'))).toStrictEqual(['books', 'music', null]);
    expect(labels(await shaped('HAVING sum_amount != 9.5'))).toStrictEqual(['books', 'garden', null]);
    expect(labels(await shaped('HAVING sum_amount IN (10.30, -0.04, 1)'))).toStrictEqual(['books', null]);
  });

  it('on an average, BETWEEN inclusive and negative bounds; IS NULL and IS NOT NULL', async () => {
    expect(labels(await shaped('HAVING AVG(a.amount) BETWEEN -1.1875 AND 1.2875'))).toStrictEqual(['books', 'music', null]);
    expect(labels(await shaped('HAVING avg_amount IS NULL'))).toStrictEqual(['toys']);
    expect(labels(await shaped('HAVING avg_amount IS NOT NULL AND avg_amount < 0'))).toStrictEqual(['music', null]);
  });

  it('on a label, by bytes; a NULL label fails != and IN, passes IS NULL', async () => {
    expect(labels(await shaped("HAVING category != 'books'"))).toStrictEqual(['garden', 'music', 'toys']);
    expect(labels(await shaped("HAVING a.category IN ('toys', 'books')"))).toStrictEqual(['books', 'toys']);
    expect(labels(await shaped("HAVING category < 'h'"))).toStrictEqual(['books', 'garden']);
    expect(labels(await shaped('HAVING category IS NULL'))).toStrictEqual([null]);
  });

  it('keeps every row it passes in label order, and says how many groups were released', async () => {
    const r = await shaped('HAVING n > 3');
    expect(r.rows).toStrictEqual([ROWS[0], ROWS[1], ROWS[2], ROWS[4]]);
    expect(r.afterRelease).toStrictEqual({ released: 5 });
  });

  it('under a privacy policy tests the noisy values, keeps intervals aligned and says so in the result', async () => {
    // Say the exact count of garden is 2: its noisy count 4 passes HAVING n > 3 all the same.
    const r = await shaped('HAVING n > 3', noisy(), dpManifest);
    expect(labels(r)).toStrictEqual(['books', 'garden', 'music', null]);
    expect(r.privacy!.intervals.map((row) => row[1]![0])).toStrictEqual(['books-lo', 'garden-lo', 'music-lo', 'null-lo']);
    expect(r.afterRelease).toStrictEqual({ released: 5, onNoisyValues: ['HAVING'] });
    expect(formatResult(r).split('\n').at(-1)).toMatch(/^\(4 row\(s\) shown of 5 released; differentially private: .*; HAVING tested the noisy values: a group whose exact value fails it may be shown, and one that passes it left out\)$/);
    // A HAVING on a label tests no noisy value.
    expect((await shaped("HAVING category != 'music'", noisy(), dpManifest)).afterRelease).toStrictEqual({ released: 5 });
  });
});

describe('ORDER BY on the released values', () => {
  it('without ORDER BY, rows keep the label order', async () => {
    expect((await shaped('LIMIT 10')).rows).toStrictEqual(ROWS);
  });

  it('a label: by code point, NULLs last in both directions unless NULLS FIRST', async () => {
    const ascii = exact([['Zebra', 3, null, null], ['apple', 3, null, null], ['Äpfel', 3, null, null], [null, 3, null, null]]);
    expect(labels(await shaped('ORDER BY category', ascii))).toStrictEqual(['Zebra', 'apple', 'Äpfel', null]);
    expect(labels(await shaped('ORDER BY a.category DESC', ascii))).toStrictEqual(['Äpfel', 'apple', 'Zebra', null]);
    expect(labels(await shaped('ORDER BY category DESC NULLS FIRST', ascii))).toStrictEqual([null, 'Äpfel', 'apple', 'Zebra']);
    expect(labels(await shaped('ORDER BY category ASC NULLS FIRST', ascii))).toStrictEqual([null, 'Zebra', 'apple', 'Äpfel']);
  });

  it('an integer label: by value', async () => {
    const select = `SELECT a.age, COUNT(*) ${FROM} GROUP BY a.age`;
    const ages = { ...exact([[9, 5], [10, 3], [100, 4], [null, 6]]), columns: ['age', 'count'] };
    expect(labels(await shaped('ORDER BY age DESC', ages, withAge, select))).toStrictEqual([100, 10, 9, null]);
    expect(labels(await shaped('ORDER BY count', ages, withAge, select))).toStrictEqual([10, 100, 9, null]);
  });

  it('a count: by value, ties in label order whichever the direction', async () => {
    expect(labels(await shaped('ORDER BY n DESC'))).toStrictEqual(['books', 'music', 'garden', null, 'toys']);
    expect(labels(await shaped('ORDER BY COUNT(*)'))).toStrictEqual(['toys', 'garden', null, 'books', 'music']);
    expect(labels(await shaped('ORDER BY n DESC, category DESC'))).toStrictEqual(['music', 'books', 'garden', null, 'toys']);
  });

  it('a sum and an average: as exact decimals, NULLs last both ways unless NULLS FIRST', async () => {
    expect(labels(await shaped('ORDER BY sum_amount'))).toStrictEqual([null, 'music', 'books', 'garden', 'toys']);
    expect(labels(await shaped('ORDER BY SUM(a.amount) DESC'))).toStrictEqual(['garden', 'books', 'music', null, 'toys']);
    expect(labels(await shaped('ORDER BY sum_amount DESC NULLS FIRST'))).toStrictEqual(['toys', 'garden', 'books', 'music', null]);
    expect(labels(await shaped('ORDER BY avg_amount ASC NULLS FIRST'))).toStrictEqual(['toys', 'music', null, 'books', 'garden']);
  });

  it('under a privacy policy sorts the noisy values, each row with its own intervals, and says so', async () => {
    const r = await shaped('ORDER BY sum_amount DESC', noisy(), dpManifest);
    expect(labels(r)).toStrictEqual(['garden', 'books', 'music', null, 'toys']);
    r.rows.forEach((row, i) => expect(r.privacy!.intervals[i]!.slice(1)).toStrictEqual(noisy([row]).privacy!.intervals[0]!.slice(1)));
    expect(r.afterRelease).toStrictEqual({ released: 5, onNoisyValues: ['ORDER BY'] });
    expect(formatResult(r)).toContain('; ORDER BY sorted the noisy values: rows may stand out of their exact order)');
  });
});

describe('LIMIT and OFFSET', () => {
  it('cut the ordered rows; past the end is empty; LIMIT 0 shows nothing but still says what was released', async () => {
    expect(labels(await shaped('ORDER BY n DESC LIMIT 2'))).toStrictEqual(['books', 'music']);
    expect(labels(await shaped('ORDER BY n DESC LIMIT 2 OFFSET 2'))).toStrictEqual(['garden', null]);
    expect(labels(await shaped('OFFSET 3'))).toStrictEqual(['toys', null]);
    expect(labels(await shaped('LIMIT 3 OFFSET 9'))).toStrictEqual([]);
    const none = await shaped('LIMIT 0');
    expect(none.rows).toStrictEqual([]);
    expect(none.afterRelease).toStrictEqual({ released: 5 });
    expect(formatResult(none).split('\n').at(-1)).toBe('(0 row(s) shown of 5 released; rows resting on fewer than 3 distinct join keys are never released)');
  });

  it('after HAVING and ORDER BY, with the intervals of the rows kept', async () => {
    const r = await shaped('HAVING n >= 4 ORDER BY sum_amount LIMIT 2', noisy(), dpManifest);
    expect(labels(r)).toStrictEqual([null, 'music']);
    expect(r.privacy!.intervals).toStrictEqual(noisy([ROWS[4]!, ROWS[2]!]).privacy!.intervals);
    expect(r.afterRelease).toStrictEqual({ released: 5, onNoisyValues: ['HAVING', 'ORDER BY'] });
  });

  it('leave a result without any of the clauses as it is', async () => {
    const r = exact();
    expect(afterRelease(planQuery(await parseQuery(SELECT), manifest, ADVERTISER), r)).toBe(r);
  });
});

describe('the product and the plaintext oracle apply the clauses alike', () => {
  // Labels drawn so that byte order, case and NULL all matter; values so that text order and numeric order differ.
  const label = fc.option(fc.constantFrom('books', 'Books', 'garden', 'Äpfel', 'toys', 'zz', ''), { nil: null });
  const count = fc.integer({ min: 0, max: 12 });
  const decimal = (scale: number) => fc.option(fc.integer({ min: -2500, max: 2500 }).map((n) => (n / 10 ** scale).toFixed(scale)), { nil: null });
  const rows = fc.uniqueArray(fc.tuple(label, count, decimal(2), decimal(6)), { selector: (r) => r[0], maxLength: 8 });
  const name = fc.constantFrom('category', 'n', 'sum_amount', 'avg_amount', 'a.category', 'COUNT(*)', 'SUM(a.amount)', 'AVG(a.amount)');
  const literalFor = (subject: string) =>
    subject.includes('category') ? fc.constantFrom("'books'", "'Books'", "'m'", "''", "'zz'") : fc.constantFrom('0', '3', '-1.5', '10', '0.25', '-25');
  const having = name.chain((subject) =>
    fc.oneof(
      fc.tuple(fc.constantFrom('=', '!=', '<>', '<', '<=', '>', '>='), literalFor(subject)).map(([op, lit]) => `${subject} ${op} ${lit}`),
      fc.tuple(literalFor(subject), literalFor(subject)).map(([x, y]) => `${subject} BETWEEN ${x} AND ${y}`),
      fc.array(literalFor(subject), { minLength: 1, maxLength: 3 }).map((ls) => `${subject} IN (${ls.join(', ')})`),
      fc.constantFrom(`${subject} IS NULL`, `${subject} IS NOT NULL`),
    ),
  );
  const term = fc.tuple(name, fc.constantFrom('', ' ASC', ' DESC'), fc.constantFrom('', ' NULLS FIRST', ' NULLS LAST')).map(([n, d, o]) => `${n}${d}${o}`);
  const clauses = fc.record({
    having: fc.array(having, { maxLength: 3 }),
    orderBy: fc.array(term, { maxLength: 3 }),
    limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
    offset: fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
  });

  it('for random result tables and clauses (fast-check; replay with the printed seed)', async () => {
    await fc.assert(
      fc.asyncProperty(rows, clauses, async (drawn, c) => {
        const tail = [
          c.having.length > 0 ? `HAVING ${c.having.join(' AND ')}` : '',
          c.orderBy.length > 0 ? `ORDER BY ${c.orderBy.join(', ')}` : '',
          c.limit !== null ? `LIMIT ${c.limit}` : '',
          c.offset !== null ? `OFFSET ${c.offset}` : '',
        ].join(' ');
        // Both start from the rows in the product's label order, as receivers hold them.
        const table = exact([...drawn].sort((x, y) => (x[0] === null ? 1 : y[0] === null ? -1 : Buffer.compare(Buffer.from(x[0]), Buffer.from(y[0])))));
        const query = await parseQuery(`${SELECT} ${tail}`);
        const product = afterRelease(planQuery(query, manifest, ADVERTISER), table);
        const oracle = shownRows(query, manifest.tables, table.rows).map((i) => table.rows[i]);
        expect(product.rows).toStrictEqual(oracle);
      }),
      { numRuns: 300, seed: 20240518 },
    );
  });
});
