import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CleanroomError } from '../../src/errors.js';
import type { AfterReleaseClauses, ColumnRef, Dimension, Literal, Query } from '../../src/query/ast.js';
import { MAX_LIMIT } from '../../src/limits.js';
import { MAX_QUERY_LENGTH, parseQuery } from '../../src/query/parse.js';
import { MAX_WHERE_DEPTH, MAX_WHERE_PREDICATES } from '../../src/limits.js';
import type { Manifest } from '../../src/manifest/schema.js';
import type { ComparisonOp } from '../../src/query/ast.js';
import { PUBLISHER, buildCollaboration, plan } from '../support/collaboration.js';

const col = (table: string, column: string): ColumnRef => ({ table, column });
const dim = (column: ColumnRef): Dimension => ({ kind: 'column', column });
const str = (value: string): Literal => ({ type: 'string', value });
const num = (value: string): Literal => ({ type: 'number', value });
const count = { kind: 'aggregate', aggregate: { fn: 'count' }, name: 'count' } as const;
const EMAIL_JOIN = { pairs: [{ left: col('publisher', 'email'), right: col('advertiser', 'email') }], combine: 'and' };
const J = 'FROM publisher p JOIN advertiser a ON p.email = a.email';

/** The WHERE of `SELECT COUNT(*) FROM publisher p JOIN advertiser a ON ... WHERE <where>`. */
async function where(predicates: string): Promise<Query['where']> {
  return (await parseQuery(`SELECT COUNT(*) ${J} WHERE ${predicates}`)).where;
}

describe('parseQuery: the subset', () => {
  it('parses the count-only demo query', async () => {
    expect(await parseQuery("SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email WHERE p.campaign = 'spring'")).toStrictEqual({
      select: [count],
      tables: ['publisher', 'advertiser'],
      joins: [EMAIL_JOIN],
      where: [{ kind: 'compare', column: col('publisher', 'campaign'), op: '=', value: str('spring') }],
      groupBy: [],
    });
  });

  it('parses the grouped demo query', async () => {
    const sql =
      'SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email ' +
      "WHERE p.campaign IN ('spring', 'summer') AND a.amount BETWEEN -10.5 AND 1000 GROUP BY a.category";
    expect(await parseQuery(sql)).toStrictEqual({
      select: [
        { kind: 'dimension', dimension: dim(col('advertiser', 'category')), name: 'category' },
        count,
        { kind: 'aggregate', aggregate: { fn: 'sum', column: col('advertiser', 'amount') }, name: 'sum_amount' },
        { kind: 'aggregate', aggregate: { fn: 'avg', column: col('advertiser', 'amount') }, name: 'avg_amount' },
      ],
      tables: ['advertiser', 'publisher'],
      joins: [{ pairs: [{ left: col('advertiser', 'email'), right: col('publisher', 'email') }], combine: 'and' }],
      where: [
        { kind: 'in', column: col('publisher', 'campaign'), values: [str('spring'), str('summer')] },
        { kind: 'between', column: col('advertiser', 'amount'), low: num('-10.5'), high: num('1000') },
      ],
      groupBy: [dim(col('advertiser', 'category'))],
    });
  });

  it('joins three tables, putting the newly joined table on the right of each condition', async () => {
    const sql =
      'SELECT SUM(c.spend) AS total FROM publisher JOIN advertiser AS a ON a.email = publisher.email ' +
      'JOIN crm c ON c.email = publisher.email';
    expect(await parseQuery(sql)).toStrictEqual({
      select: [{ kind: 'aggregate', aggregate: { fn: 'sum', column: col('crm', 'spend') }, name: 'total' }],
      tables: ['publisher', 'advertiser', 'crm'],
      joins: [EMAIL_JOIN, { pairs: [{ left: col('publisher', 'email'), right: col('crm', 'email') }], combine: 'and' }],
      where: [],
      groupBy: [],
    });
  });

  it('joins the third table to either earlier table', async () => {
    const q = await parseQuery('SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email JOIN crm c ON a.email = c.email');
    expect(q.joins[1]).toStrictEqual({ pairs: [{ left: col('advertiser', 'email'), right: col('crm', 'email') }], combine: 'and' });
  });

  it('flips literal-op-column comparisons so the column is on the left', async () => {
    expect(await where("5 < p.x AND 'a' = p.y AND -1.25 >= a.z AND 10 <> a.w AND 1 <= a.v AND 2 > a.u AND 3 != a.t")).toStrictEqual([
      { kind: 'compare', column: col('publisher', 'x'), op: '>', value: num('5') },
      { kind: 'compare', column: col('publisher', 'y'), op: '=', value: str('a') },
      { kind: 'compare', column: col('advertiser', 'z'), op: '<=', value: num('-1.25') },
      { kind: 'compare', column: col('advertiser', 'w'), op: '!=', value: num('10') },
      { kind: 'compare', column: col('advertiser', 'v'), op: '>=', value: num('1') },
      { kind: 'compare', column: col('advertiser', 'u'), op: '<', value: num('2') },
      { kind: 'compare', column: col('advertiser', 't'), op: '!=', value: num('3') },
    ]);
  });

  it('keeps every comparison operator when the column is on the left', async () => {
    const ops = (await where('p.a = 1 AND p.a != 1 AND p.a <> 1 AND p.a < 1 AND p.a <= 1 AND p.a > 1 AND p.a >= 1')).map((p) =>
      p.kind === 'compare' ? p.op : p.kind,
    );
    expect(ops).toStrictEqual(['=', '!=', '!=', '<', '<=', '>', '>=']);
  });

  it('flattens nested ANDs in order', async () => {
    const preds = await where('(p.a = 1 AND (p.b = 2 AND (a.c = 3 AND a.d = 4))) AND p.e = 5');
    expect(preds.map((p) => (p.kind === 'compare' ? p.column : p.kind))).toStrictEqual([
      col('publisher', 'a'),
      col('publisher', 'b'),
      col('advertiser', 'c'),
      col('advertiser', 'd'),
      col('publisher', 'e'),
    ]);
  });

  it('treats keywords and identifiers case-insensitively, keeping output aliases as written', async () => {
    const sql =
      'select A.Category, count(*) As N, Sum(A.AMOUNT) as "Total" from Advertiser A inner join PUBLISHER p on a.EMAIL = P.email ' +
      "where P.Campaign in ('Spring') group by a.category;";
    expect(await parseQuery(sql)).toStrictEqual({
      select: [
        { kind: 'dimension', dimension: dim(col('advertiser', 'category')), name: 'category' },
        { kind: 'aggregate', aggregate: { fn: 'count' }, name: 'N' },
        { kind: 'aggregate', aggregate: { fn: 'sum', column: col('advertiser', 'amount') }, name: 'Total' },
      ],
      tables: ['advertiser', 'publisher'],
      joins: [{ pairs: [{ left: col('advertiser', 'email'), right: col('publisher', 'email') }], combine: 'and' }],
      where: [{ kind: 'in', column: col('publisher', 'campaign'), values: [str('Spring')] }],
      groupBy: [dim(col('advertiser', 'category'))],
    });
  });

  it('reads string literals with doubled quotes, escapes and unicode exactly', async () => {
    const preds = await where("p.a = 'O''Brien' AND p.b = 'héllo ✓ 😀 東京' AND p.c = '' AND p.d = E'tab\\there' AND p.e = 'x''AB'");
    expect(preds.map((p) => (p.kind === 'compare' ? p.value : null))).toStrictEqual([
      str("O'Brien"),
      str('héllo ✓ 😀 東京'),
      str(''),
      str('tab\there'),
      str("x'AB"),
    ]);
  });

  it('reads numbers as exact decimal text, including negatives, and booleans', async () => {
    const preds = await where(
      'p.a IN (-5, -1.25, -12.50, 0.5, .5, 007, 1_000, 123456789012345, -0.000000000000001, 9007199254740991) AND p.b = true AND p.c = FALSE AND p.d = -(3)',
    );
    expect(preds).toStrictEqual([
      {
        kind: 'in',
        column: col('publisher', 'a'),
        values: ['-5', '-1.25', '-12.50', '0.5', '0.5', '7', '1000', '123456789012345', '-0.000000000000001', '9007199254740991'].map(num),
      },
      { kind: 'compare', column: col('publisher', 'b'), op: '=', value: { type: 'boolean', value: true } },
      { kind: 'compare', column: col('publisher', 'c'), op: '=', value: { type: 'boolean', value: false } },
      { kind: 'compare', column: col('publisher', 'd'), op: '=', value: num('-3') },
    ]);
  });

  it('round-trips every decimal of up to 15 digits exactly', async () => {
    const decimal = fc
      .record({ negative: fc.boolean(), int: fc.stringMatching(/^[0-9]{1,8}$/), frac: fc.stringMatching(/^[0-9]{0,7}$/) })
      .map(({ negative, int, frac }) => {
        const written = `${negative ? '-' : ''}${int}${frac === '' ? '' : `.${frac}`}`;
        const magnitude = `${BigInt(int)}${frac === '' ? '' : `.${frac}`}`;
        const zero = /^[0.]*$/.test(`${int}${frac}`);
        return { written, expected: negative && !zero ? `-${magnitude}` : magnitude };
      });
    await fc.assert(
      fc.asyncProperty(decimal, async ({ written, expected }) => {
        expect(await where(`p.x = ${written}`)).toStrictEqual([{ kind: 'compare', column: col('publisher', 'x'), op: '=', value: num(expected) }]);
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips every string literal', async () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
    await fc.assert(
      fc.asyncProperty(text, async (s) => {
        expect(await where(`p.x = '${s.replaceAll("'", "''")}'`)).toStrictEqual([{ kind: 'compare', column: col('publisher', 'x'), op: '=', value: str(s) }]);
      }),
      { numRuns: 200 },
    );
  });

  it('names dimensions and aggregates by alias, else by column and function', async () => {
    const q = await parseQuery(
      `SELECT p.region, p.campaign AS c, COUNT(*) AS n, AVG(a.amount) ${J} GROUP BY p.campaign, p.region`,
    );
    expect(q.select.map((i) => i.name)).toStrictEqual(['region', 'c', 'n', 'avg_amount']);
    expect(q.groupBy).toStrictEqual([dim(col('publisher', 'campaign')), dim(col('publisher', 'region'))]);
  });

  it('reads COUNT(t.c) and COUNT(DISTINCT t.key), named count_<col> and count_distinct_<col> by default', async () => {
    const q = await parseQuery(`SELECT p.region, COUNT(a.amount), COUNT(DISTINCT a.email), count(distinct p.email) AS people ${J} GROUP BY p.region`);
    expect(q.select).toStrictEqual([
      { kind: 'dimension', dimension: dim(col('publisher', 'region')), name: 'region' },
      { kind: 'aggregate', aggregate: { fn: 'count-values', column: col('advertiser', 'amount') }, name: 'count_amount' },
      { kind: 'aggregate', aggregate: { fn: 'count-distinct', column: col('advertiser', 'email') }, name: 'count_distinct_email' },
      { kind: 'aggregate', aggregate: { fn: 'count-distinct', column: col('publisher', 'email') }, name: 'people' },
    ]);
    // Two default names alike are refused as any other pair.
    await expect(parseQuery(`SELECT COUNT(DISTINCT a.email), COUNT(DISTINCT p.email) ${J}`)).rejects.toThrow('two output columns are named count_distinct_email');
  });

  it('reads COUNT(t.c) and COUNT(DISTINCT t.key) in HAVING and ORDER BY, by default name or as written', async () => {
    const q = await parseQuery(
      `SELECT a.category, COUNT(a.amount), COUNT(DISTINCT a.email) ${J} GROUP BY a.category HAVING count_amount > 1 AND COUNT(DISTINCT a.email) >= 2 ORDER BY COUNT(a.amount) DESC, count_distinct_email`,
    );
    expect(q.afterRelease).toStrictEqual({
      having: [
        { output: { kind: 'name', name: 'count_amount' }, test: { kind: 'compare', op: '>', value: num('1') } },
        { output: { kind: 'aggregate', aggregate: { fn: 'count-distinct', column: col('advertiser', 'email') } }, test: { kind: 'compare', op: '>=', value: num('2') } },
      ],
      orderBy: [
        { output: { kind: 'aggregate', aggregate: { fn: 'count-values', column: col('advertiser', 'amount') } }, descending: true, nullsFirst: false },
        { output: { kind: 'name', name: 'count_distinct_email' }, descending: false, nullsFirst: false },
      ],
      limit: null,
      offset: 0,
    });
  });

  it('accepts comments, a trailing semicolon and the parser rewriting NOT x = 1 to x != 1', async () => {
    const q = await parseQuery(`-- spring only\nSELECT COUNT(*) /* all rows */ ${J} WHERE NOT p.campaign = 'spring';`);
    expect(q.where).toStrictEqual([{ kind: 'compare', column: col('publisher', 'campaign'), op: '!=', value: str('spring') }]);
  });

  it('accepts a query of exactly MAX_QUERY_LENGTH characters', async () => {
    const sql = `SELECT COUNT(*) ${J}`;
    await expect(parseQuery(sql.padEnd(MAX_QUERY_LENGTH, ' '))).resolves.toMatchObject({ tables: ['publisher', 'advertiser'] });
  });
});

describe('parseQuery: rejections', () => {
  async function rejection(sql: string): Promise<CleanroomError> {
    const err: unknown = await parseQuery(sql).then(
      () => new Error(`accepted: ${sql}`),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CleanroomError);
    return err as CleanroomError;
  }

  const cases: ReadonlyArray<readonly [string, string, string]> = [
    // [what, sql, message fragment]
    ['syntax error', 'SELEC COUNT(*) FROM publisher', 'SQL syntax error: syntax error at or near "SELEC"'],
    ['unterminated string', `SELECT COUNT(*) ${J} WHERE p.a = 'x`, 'unterminated quoted string'],
    ['empty input', '', 'the query is empty'],
    ['blank input', '  \n\t ', 'the query is empty'],
    ['only a comment', '-- nothing', 'the query is empty'],
    ['two statements', `SELECT COUNT(*) ${J}; SELECT COUNT(*) ${J}`, 'found 2 statements: send exactly one SELECT'],
    ['not a SELECT', 'DROP TABLE publisher', 'only SELECT queries are allowed'],
    ['NUL character', `SELECT COUNT(*) ${J}\0; DROP TABLE publisher`, 'NUL character'],
    ['CTE', `WITH x AS (SELECT 1) SELECT COUNT(*) ${J}`, 'WITH (common table expressions) is not supported'],
    ['DISTINCT', `SELECT DISTINCT p.region, COUNT(*) ${J} GROUP BY p.region`, 'DISTINCT is not supported: queries are SELECT'],
    ['DISTINCT ON', `SELECT DISTINCT ON (p.region) COUNT(*) ${J}`, 'DISTINCT is not supported'],
    ['LIMIT percent', `SELECT COUNT(*) ${J} LIMIT 10%`, 'LIMIT with a percentage is not supported: queries are SELECT'],
    ['UNION', `SELECT COUNT(*) ${J} UNION SELECT COUNT(*) ${J}`, 'UNION, INTERSECT and EXCEPT are not supported'],
    ['QUALIFY', `SELECT COUNT(*) ${J} QUALIFY true`, 'QUALIFY is not supported'],
    ['USING SAMPLE', `SELECT COUNT(*) ${J} USING SAMPLE 10%`, 'SAMPLE and TABLESAMPLE are not supported'],
    ['TABLESAMPLE', 'SELECT COUNT(*) FROM publisher p TABLESAMPLE 10% JOIN advertiser a ON p.email = a.email', 'SAMPLE and TABLESAMPLE'],
    ['SELECT *', `SELECT * ${J}`, 'SELECT * is not supported'],
    ['SELECT t.*', `SELECT p.*, COUNT(*) ${J}`, 'SELECT * is not supported'],
    ['FROM subquery', 'SELECT COUNT(*) FROM (SELECT 1) s JOIN advertiser a ON s.email = a.email', 'subqueries are not supported in FROM'],
    ['WHERE subquery', `SELECT COUNT(*) ${J} WHERE p.email IN (SELECT a.email FROM advertiser a)`, 'a subquery is not supported in WHERE'],
    ['scalar subquery', `SELECT COUNT(*) ${J} WHERE p.x = (SELECT 1)`, 'a subquery is not supported where a literal is expected'],
    ['EXISTS', `SELECT COUNT(*) ${J} WHERE EXISTS (SELECT 1)`, 'a subquery is not supported in WHERE'],
    ['window', `SELECT COUNT(*) OVER () ${J}`, 'a window function (OVER) is not supported in SELECT'],
    ['table function', "SELECT COUNT(*) FROM read_csv('x.csv') x JOIN advertiser a ON x.email = a.email", 'table functions are not supported'],
    ['VALUES', 'SELECT COUNT(*) FROM (VALUES (1)) v JOIN advertiser a ON v.email = a.email', 'subqueries are not supported in FROM'],
    ['schema-qualified table', 'SELECT COUNT(*) FROM main.publisher p JOIN advertiser a ON p.email = a.email', 'without a schema or catalog'],
    ['table column aliases', 'SELECT COUNT(*) FROM publisher p(x, y) JOIN advertiser a ON p.x = a.email', 'column aliases on table publisher'],
    ['no FROM', 'SELECT COUNT(*)', 'the query has no FROM clause'],
    ['comma join', 'SELECT COUNT(*) FROM publisher p, advertiser a WHERE p.email = a.email', 'comma joins and CROSS JOIN are not supported'],
    ['CROSS JOIN', 'SELECT COUNT(*) FROM publisher p CROSS JOIN advertiser a', 'comma joins and CROSS JOIN'],
    ['NATURAL JOIN', 'SELECT COUNT(*) FROM publisher p NATURAL JOIN advertiser a', 'NATURAL JOIN is not supported'],
    ['ASOF JOIN', 'SELECT COUNT(*) FROM publisher p ASOF JOIN advertiser a ON p.t >= a.t', 'ASOF JOIN is not supported'],
    ['POSITIONAL JOIN', 'SELECT COUNT(*) FROM publisher p POSITIONAL JOIN advertiser a', 'POSITIONAL JOIN is not supported'],
    ['USING', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a USING (email)', 'JOIN ... USING is not supported'],
    ['LEFT JOIN', 'SELECT COUNT(*) FROM publisher p LEFT JOIN advertiser a ON p.email = a.email', 'LEFT JOIN is not supported: only inner joins'],
    ['RIGHT JOIN', 'SELECT COUNT(*) FROM publisher p RIGHT OUTER JOIN advertiser a ON p.email = a.email', 'RIGHT JOIN is not supported'],
    ['FULL JOIN', 'SELECT COUNT(*) FROM publisher p FULL JOIN advertiser a ON p.email = a.email', 'FULL JOIN is not supported'],
    ['SEMI JOIN', 'SELECT COUNT(*) FROM publisher p SEMI JOIN advertiser a ON p.email = a.email', 'SEMI JOIN is not supported'],
    ['LATERAL', 'SELECT COUNT(*) FROM publisher p JOIN LATERAL (SELECT 1) s ON true', 'subqueries are not supported in FROM'],
    [
      'parenthesised join',
      'SELECT COUNT(*) FROM publisher p JOIN (advertiser a JOIN crm c ON a.email = c.email) ON p.email = a.email',
      'parenthesised joins are not supported',
    ],
    ['self-join', 'SELECT COUNT(*) FROM publisher p JOIN publisher q ON p.email = q.email', 'table publisher appears twice in FROM: self-joins'],
    ['reused alias', 'SELECT COUNT(*) FROM publisher x JOIN advertiser x ON x.email = x.email', 'x names two tables in FROM'],
    ['alias equal to another table', 'SELECT COUNT(*) FROM publisher JOIN advertiser publisher ON publisher.email = publisher.email', 'publisher names two tables'],
    ['join on AND with a literal', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email AND p.x = 1', 'a JOIN condition compares two columns, one per table'],
    ['join on AND and OR mixed', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email AND (p.phone = a.phone OR p.id = a.id)', 'AND and OR cannot be mixed in a JOIN condition'],
    ['join comparing one column twice', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email OR p.email = a.phone', 'publisher.email is compared twice in one JOIN condition'],
    ['join on inequality', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email < a.email', 'comparison < is not supported in a JOIN condition'],
    ['join on IS NOT DISTINCT FROM', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email IS NOT DISTINCT FROM a.email', 'IS NOT DISTINCT FROM is not supported in a JOIN'],
    ['join on true', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON true', 'CAST is not supported in a JOIN condition'],
    ['join on a literal', "SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = 'x'", 'a JOIN condition compares two columns'],
    ['join on a function', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON lower(p.email) = a.email', 'a JOIN condition compares two columns'],
    ['join within one table', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = p.email2', 'must compare a column of advertiser with a column of a table joined before it'],
    [
      'join on a later table',
      'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = c.email JOIN crm c ON c.email = p.email',
      'must compare a column of advertiser with a column of a table joined before it: JOIN advertiser ON x.k = advertiser.k [AND x.k2 = advertiser.k2 ... | OR x.k2 = advertiser.k2 ...], with x one of publisher',
    ],
    ['unqualified column in SELECT', `SELECT region, COUNT(*) ${J} GROUP BY region`, 'qualify column region with its table, e.g. p.region'],
    ['unqualified column in WHERE', `SELECT COUNT(*) ${J} WHERE campaign = 'spring'`, 'qualify column campaign with its table, e.g. p.campaign'],
    ['unqualified column in JOIN', 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON email = a.email', 'qualify column email with its table'],
    ['unqualified column in SUM', `SELECT SUM(amount) ${J}`, 'qualify column amount with its table'],
    ['unknown qualifier', `SELECT COUNT(*) ${J} WHERE x.campaign = 'spring'`, 'x.campaign: x names no table in FROM (p, a)'],
    ['real name of an aliased table', `SELECT COUNT(*) ${J} WHERE publisher.campaign = 'spring'`, 'publisher names no table in FROM (p, a)'],
    ['three-part column', `SELECT COUNT(*) ${J} WHERE main.p.campaign = 'spring'`, 'column main.p.campaign is not supported: write columns as table.column'],
    ['COUNT of an expression', `SELECT COUNT(a.amount + 1) ${J}`, 'COUNT takes exactly one column, e.g. COUNT(t.c); expressions are not supported'],
    ['COUNT(DISTINCT) of an expression', `SELECT COUNT(DISTINCT lower(p.email)) ${J}`, 'COUNT(DISTINCT ...) takes exactly one column, a join key'],
    ['COUNT(DISTINCT) of two columns', `SELECT COUNT(DISTINCT (p.email, a.email)) ${J}`, 'COUNT(DISTINCT ...) takes exactly one column, a join key'],
    ['AVG(DISTINCT)', `SELECT AVG(DISTINCT a.amount) ${J}`, 'AVG(DISTINCT ...) is not supported: DISTINCT is allowed only as COUNT(DISTINCT t.joinkey)'],
    ['SUM(DISTINCT)', `SELECT SUM(DISTINCT a.amount) ${J}`, 'SUM(DISTINCT ...) is not supported'],
    ['MIN', `SELECT MIN(a.amount) ${J}`, 'function min() is not supported in SELECT: allowed are '],
    ['MAX', `SELECT MAX(a.amount) ${J}`, 'function max() is not supported in SELECT'],
    ['FILTER', `SELECT SUM(a.amount) FILTER (WHERE p.x = 1) ${J}`, 'FILTER (WHERE ...) is not supported: put conditions in WHERE'],
    ['ORDER BY in an aggregate', `SELECT SUM(a.amount ORDER BY a.x) ${J}`, 'ORDER BY inside SUM(...) is not supported'],
    ['schema-qualified aggregate', `SELECT main.sum(a.amount) ${J}`, 'write SUM without a schema'],
    ['division in an aggregate', `SELECT SUM(a.amount / 2) ${J}`, 'division (/) is not supported in SUM(...); allowed: '],
    ['two arguments', `SELECT AVG(a.amount, a.x) ${J}`, 'AVG takes exactly one argument, a column or an arithmetic expression'],
    ['SUM(*)', `SELECT SUM(*) ${J}`, 'SUM takes exactly one argument'],
    ['arithmetic in SELECT', `SELECT COUNT(*) + 1 ${J}`, 'operator + is not supported in SELECT'],
    ['CAST in SELECT', `SELECT CAST(p.region AS INT), COUNT(*) ${J}`, 'CAST is not supported in SELECT'],
    ['literal in SELECT', `SELECT 1, COUNT(*) ${J}`, 'a literal is not supported in SELECT'],
    ['CASE with a number label', `SELECT CASE WHEN p.x = 1 THEN 1 END, COUNT(*) ${J}`, 'a literal is not supported after THEN or ELSE of a CASE dimension: write a string label'],
    ['no aggregate', `SELECT p.region ${J} GROUP BY p.region`, 'SELECT needs at least one aggregate'],
    ['dimension not grouped', `SELECT p.region, COUNT(*) ${J}`, 'publisher.region is selected but not grouped: add it to GROUP BY'],
    ['group not selected', `SELECT COUNT(*) ${J} GROUP BY p.region`, 'GROUP BY publisher.region is not selected: add it to SELECT'],
    ['GROUP BY position', `SELECT p.region, COUNT(*) ${J} GROUP BY 1`, 'GROUP BY by position is not supported'],
    ['GROUP BY ALL', `SELECT p.region, COUNT(*) ${J} GROUP BY ALL`, 'GROUP BY ALL is not supported'],
    ['GROUP BY expression', `SELECT COUNT(*) ${J} GROUP BY lower(p.region)`, 'function lower() is not supported in GROUP BY'],
    ['ROLLUP', `SELECT p.region, p.city, COUNT(*) ${J} GROUP BY ROLLUP (p.region, p.city)`, 'ROLLUP, CUBE, GROUPING SETS'],
    ['GROUPING SETS', `SELECT p.region, COUNT(*) ${J} GROUP BY GROUPING SETS ((p.region), ())`, 'ROLLUP, CUBE, GROUPING SETS'],
    ['GROUP BY ()', `SELECT COUNT(*) ${J} GROUP BY ()`, 'ROLLUP, CUBE, GROUPING SETS and GROUP BY ()'],
    ['IS DISTINCT FROM', `SELECT COUNT(*) ${J} WHERE p.a IS DISTINCT FROM 1`, 'IS DISTINCT FROM is not supported in WHERE'],
    ['SIMILAR TO', `SELECT COUNT(*) ${J} WHERE p.a SIMILAR TO 'x'`, 'SIMILAR TO is not supported in WHERE'],
    ['column to column', `SELECT COUNT(*) ${J} WHERE p.a = a.b`, 'comparing with another column (a.b) is not supported'],
    ['column in IN list', `SELECT COUNT(*) ${J} WHERE p.a IN (1, a.b)`, 'comparing with another column (a.b)'],
    ['literal to literal', `SELECT COUNT(*) ${J} WHERE 1 = 1`, 'a literal is not supported in WHERE: compare a column with a literal'],
    ['bare literal', `SELECT COUNT(*) ${J} WHERE 'x'`, 'a literal is not supported in WHERE'],
    ['bare true', `SELECT COUNT(*) ${J} WHERE true`, 'CAST is not supported in WHERE'],
    ['literal IN', `SELECT COUNT(*) ${J} WHERE 1 IN (p.a)`, 'the left side of IN must be a column'],
    ['expression BETWEEN', `SELECT COUNT(*) ${J} WHERE p.a + 1 BETWEEN 1 AND 2`, 'the left side of BETWEEN must be a column'],
    ['NULL literal', `SELECT COUNT(*) ${J} WHERE p.a = NULL`, 'NULL is not supported'],
    ['NULL in IN', `SELECT COUNT(*) ${J} WHERE p.a IN (1, NULL)`, 'NULL is not supported'],
    ['positional parameter', `SELECT COUNT(*) ${J} WHERE p.a = $1`, 'query parameters ($1, ?) are not supported'],
    ['anonymous parameter', `SELECT COUNT(*) ${J} WHERE p.a = ?`, 'query parameters ($1, ?) are not supported'],
    ['named parameter', `SELECT COUNT(*) ${J} WHERE p.a = $name`, 'query parameters ($1, ?) are not supported'],
    ['CAST literal', `SELECT COUNT(*) ${J} WHERE p.a = '5'::INT`, 'CAST is not supported'],
    ['typed literal', `SELECT COUNT(*) ${J} WHERE p.a = '1'::INTEGER`, 'CAST is not supported'],
    ['a number past a double', `SELECT COUNT(*) ${J} WHERE p.a = 1e309`, 'the query holds a number no double can hold (such as 1e309)'],
    ['arithmetic literal', `SELECT COUNT(*) ${J} WHERE p.a = 1 + 2`, 'operator + is not supported where a literal is expected'],
    ['negated column', `SELECT COUNT(*) ${J} WHERE p.a = -a.b`, 'operator - is not supported where a literal is expected'],
    ['exponent', `SELECT COUNT(*) ${J} WHERE p.a = 1e5`, 'numbers must be plain decimals (no exponent) with at most 15 digits'],
    ['16+ digit integer', `SELECT COUNT(*) ${J} WHERE p.a = 9007199254740993`, 'at most 15 digits'],
    ['huge integer', `SELECT COUNT(*) ${J} WHERE p.a = 123456789012345678901234567890`, 'at most 15 digits'],
    ['long decimal', `SELECT COUNT(*) ${J} WHERE p.a = 123456789012345.678`, 'at most 15 digits'],
    ['COLLATE', `SELECT COUNT(*) ${J} WHERE p.a = 'x' COLLATE nocase`, 'COLLATE is not supported'],
    ['list IN', `SELECT COUNT(*) ${J} WHERE p.a IN [1, 2]`, 'function contains() is not supported in WHERE'],
    ['duplicate default name', `SELECT SUM(a.amount), SUM(a.amount) ${J}`, 'two output columns are named sum_amount; give one an alias'],
    ['duplicate dimension name', `SELECT p.region, a.region, COUNT(*) ${J} GROUP BY p.region, a.region`, 'two output columns are named region'],
    ['duplicate alias ignoring case', `SELECT COUNT(*) AS total, SUM(a.amount) AS Total ${J}`, 'two output columns are named Total'],
  ];

  it.each(cases)('rejects %s', async (_what, sql, fragment) => {
    const err = await rejection(sql);
    expect(err.code).toBe('QUERY_INVALID');
    expect(err.message).toContain(fragment);
  });

  it('rejects input longer than MAX_QUERY_LENGTH before parsing it', async () => {
    const err = await rejection(`SELECT COUNT(*) ${J}`.padEnd(MAX_QUERY_LENGTH + 1, ' '));
    expect(err.code).toBe('QUERY_INVALID');
    expect(err.message).toBe(`the query is ${MAX_QUERY_LENGTH + 1} characters long; at most ${MAX_QUERY_LENGTH} are accepted`);
  });
});

describe('parseQuery: HAVING, ORDER BY, LIMIT and OFFSET (after release)', () => {
  const G = `SELECT a.category AS cat, COUNT(*) AS n, SUM(a.amount) ${J} GROUP BY a.category`;
  const amount = col('advertiser', 'amount');
  const clauses = async (tail: string): Promise<AfterReleaseClauses | undefined> => (await parseQuery(`${G} ${tail}`)).afterRelease;

  it('is absent when none is written, so the query reads as before', async () => {
    expect(await parseQuery(G)).not.toHaveProperty('afterRelease');
  });

  it('reads HAVING conjuncts on outputs by alias, default name, aggregate and column, the output moved to the left', async () => {
    const having = "HAVING n > 10 AND 5 <= COUNT(*) AND SUM(a.amount) BETWEEN -1.5 AND 100 AND Cat IN ('books', 'toys') AND a.category != 'x' AND sum_amount IS NOT NULL AND n IS NULL";
    expect(await clauses(having)).toStrictEqual({
      having: [
        { output: { kind: 'name', name: 'n' }, test: { kind: 'compare', op: '>', value: num('10') } },
        { output: { kind: 'aggregate', aggregate: { fn: 'count' } }, test: { kind: 'compare', op: '>=', value: num('5') } },
        { output: { kind: 'aggregate', aggregate: { fn: 'sum', column: amount } }, test: { kind: 'between', low: num('-1.5'), high: num('100') } },
        { output: { kind: 'name', name: 'Cat' }, test: { kind: 'in', values: [str('books'), str('toys')] } },
        { output: { kind: 'dimension', dimension: dim(col('advertiser', 'category')) }, test: { kind: 'compare', op: '!=', value: str('x') } },
        { output: { kind: 'name', name: 'sum_amount' }, test: { kind: 'null', isNull: false } },
        { output: { kind: 'name', name: 'n' }, test: { kind: 'null', isNull: true } },
      ],
      orderBy: [],
      limit: null,
      offset: 0,
    });
  });

  it('reads ORDER BY terms: ASC by default, NULLS LAST by default in both directions (DuckDB\'s), or as written', async () => {
    const order = (await clauses('ORDER BY n DESC, cat, SUM(a.amount) ASC NULLS FIRST, a.category DESC NULLS LAST, AVG(a.amount) DESC NULLS FIRST'))!.orderBy;
    expect(order).toStrictEqual([
      { output: { kind: 'name', name: 'n' }, descending: true, nullsFirst: false },
      { output: { kind: 'name', name: 'cat' }, descending: false, nullsFirst: false },
      { output: { kind: 'aggregate', aggregate: { fn: 'sum', column: amount } }, descending: false, nullsFirst: true },
      { output: { kind: 'dimension', dimension: dim(col('advertiser', 'category')) }, descending: true, nullsFirst: false },
      { output: { kind: 'aggregate', aggregate: { fn: 'avg', column: amount } }, descending: true, nullsFirst: true },
    ]);
  });

  it('reads LIMIT and OFFSET, each alone or together; LIMIT ALL is no limit; MAX_LIMIT is accepted', async () => {
    const limits = async (tail: string) => {
      const c = (await clauses(tail))!;
      return [c.limit, c.offset];
    };
    expect(await limits('LIMIT 5')).toStrictEqual([5, 0]);
    expect(await limits('LIMIT 0')).toStrictEqual([0, 0]);
    expect(await limits('ORDER BY n LIMIT 10 OFFSET 3')).toStrictEqual([10, 3]);
    expect(await limits('OFFSET 3 LIMIT 10')).toStrictEqual([10, 3]);
    expect(await limits('OFFSET 7')).toStrictEqual([null, 7]);
    expect(await limits('LIMIT ALL')).toStrictEqual([null, 0]);
    expect(await limits(`LIMIT ${MAX_LIMIT} OFFSET ${MAX_LIMIT}`)).toStrictEqual([MAX_LIMIT, MAX_LIMIT]);
  });

  it('reads HAVING without GROUP BY (one group) and all four clauses together', async () => {
    const q = await parseQuery(`SELECT COUNT(*) ${J} HAVING COUNT(*) >= 100 ORDER BY count LIMIT 1`);
    expect(q.afterRelease).toStrictEqual({
      having: [{ output: { kind: 'aggregate', aggregate: { fn: 'count' } }, test: { kind: 'compare', op: '>=', value: num('100') } }],
      orderBy: [{ output: { kind: 'name', name: 'count' }, descending: false, nullsFirst: false }],
      limit: 1,
      offset: 0,
    });
  });

  const refused: ReadonlyArray<readonly [string, string, string]> = [
    ['OR in HAVING', 'HAVING n > 1 OR n < 0', 'OR is not supported in HAVING: combine conditions with AND, or use IN (...)'],
    ['NOT in HAVING', 'HAVING NOT (n > 1 AND n < 5)', 'NOT is not supported in HAVING: negate the comparison itself'],
    ['NOT BETWEEN in HAVING', 'HAVING n NOT BETWEEN 1 AND 5', 'NOT is not supported in HAVING'],
    ['NOT IN in HAVING', 'HAVING n NOT IN (1, 2)', 'NOT IN is not supported in HAVING'],
    ['LIKE in HAVING', "HAVING cat LIKE 'b%'", 'LIKE is not supported in HAVING'],
    ['a function of an output', "HAVING lower(cat) = 'x'", 'function lower() is not supported in HAVING: name an output column'],
    ['arithmetic on an output', 'HAVING COUNT(*) + 1 > 5', 'operator + is not supported in HAVING'],
    ['an output compared with an output', 'HAVING n > SUM(a.amount)', 'comparing two outputs is not supported in HAVING: compare an output column with a literal'],
    ['a literal compared with a literal', 'HAVING 1 = 1', 'a literal is not supported in HAVING: compare an output column with a literal'],
    ['a bare output', 'HAVING n', 'column n is not supported in HAVING'],
    ['NULL in HAVING', 'HAVING n = NULL', 'NULL is not supported'],
    ['MIN in HAVING', 'HAVING MIN(a.amount) > 1', 'function min() is not supported in HAVING'],
    ['COUNT(DISTINCT) of an expression in HAVING', 'HAVING COUNT(DISTINCT upper(a.email)) > 1', 'COUNT(DISTINCT ...) takes exactly one column, a join key'],
    ['unqualified column in an aggregate', 'HAVING SUM(amount) > 1', 'qualify column amount with its table'],
    ['ORDER BY position', 'ORDER BY 2', 'ORDER BY by position is not supported: name the output column'],
    ['ORDER BY ALL', 'ORDER BY ALL', 'ORDER BY ALL is not supported: list the output columns'],
    ['ORDER BY an expression', 'ORDER BY n + 1', 'operator + is not supported in ORDER BY: name an output column'],
    ['ORDER BY a function', 'ORDER BY lower(cat)', 'function lower() is not supported in ORDER BY'],
    ['ORDER BY COLLATE', 'ORDER BY cat COLLATE nocase', 'COLLATE is not supported in ORDER BY'],
    ['a negative LIMIT', 'LIMIT -1', `LIMIT takes a whole number from 0 to ${MAX_LIMIT}, found -1`],
    ['a decimal LIMIT', 'LIMIT 1.5', `LIMIT takes a whole number from 0 to ${MAX_LIMIT}, found a decimal literal`],
    ['a string LIMIT', "LIMIT '5'", 'LIMIT takes a whole number'],
    ['an expression in LIMIT', 'LIMIT 1 + 1', 'operator + is not supported in LIMIT'],
    ['a negative OFFSET', 'LIMIT 1 OFFSET -2', `OFFSET takes a whole number from 0 to ${MAX_LIMIT}, found -2`],
  ];

  it.each(refused)('rejects %s (QUERY_INVALID)', async (_what, tail, fragment) => {
    const err = await parseQuery(`${G} ${tail}`).then(
      () => new Error(`accepted: ${tail}`),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CleanroomError);
    expect((err as CleanroomError).code).toBe('QUERY_INVALID');
    expect((err as CleanroomError).message).toContain(fragment);
  });

  it('refuses LIMIT or OFFSET over MAX_LIMIT (LIMIT_EXCEEDED)', async () => {
    for (const tail of [`LIMIT ${MAX_LIMIT + 1}`, `OFFSET ${MAX_LIMIT + 1}`, 'LIMIT 3000000000', 'LIMIT 99999999999999999999']) {
      const err = await parseQuery(`${G} ${tail}`).then(
        () => new Error(`accepted: ${tail}`),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CleanroomError);
      expect((err as CleanroomError).code).toBe('LIMIT_EXCEEDED');
      expect((err as CleanroomError).message).toMatch(new RegExp(`^(LIMIT|OFFSET) is over ${MAX_LIMIT}, the most rows a result can have`));
    }
  });
});

describe('parseQuery: WHERE conditions (AND, OR, NOT, IS NULL, LIKE, lower/upper/trim)', () => {
  const p = (column: string) => col('publisher', column);
  const eq = (column: string, value: Literal, op: ComparisonOp = '=') => ({ kind: 'compare', column: p(column), op, value }) as const;

  it('keeps an OR of one table as one conjunct, beside the others', async () => {
    expect(await where("p.a = 1 AND (p.b = 'x' OR p.c < 2) AND a.d = 3")).toStrictEqual([
      eq('a', num('1')),
      { kind: 'or', operands: [eq('b', str('x')), eq('c', num('2'), '<')] },
      { kind: 'compare', column: col('advertiser', 'd'), op: '=', value: num('3') },
    ]);
  });

  it('merges nested ANDs and ORs of their own kind, and keeps AND inside OR (AND binds tighter)', async () => {
    expect(await where('p.a = 1 OR (p.b = 2 OR (p.c = 3 OR p.d = 4 AND p.e = 5))')).toStrictEqual([
      { kind: 'or', operands: [eq('a', num('1')), eq('b', num('2')), eq('c', num('3')), { kind: 'and', operands: [eq('d', num('4')), eq('e', num('5'))] }] },
    ]);
  });

  it('pushes NOT inward: over OR it splits into conjuncts (one per table), over AND it is an OR of the negations', async () => {
    expect(await where('NOT (p.a = 1 OR a.b = 2)')).toStrictEqual([eq('a', num('1'), '!='), { kind: 'compare', column: col('advertiser', 'b'), op: '!=', value: num('2') }]);
    expect(await where("NOT (p.a < 1 AND (p.b <= 2 OR p.c > 3) AND p.d >= 4 AND p.e != 'x')")).toStrictEqual([
      { kind: 'or', operands: [eq('a', num('1'), '>='), { kind: 'and', operands: [eq('b', num('2'), '>'), eq('c', num('3'), '<=')] }, eq('d', num('4'), '<'), eq('e', str('x'))] },
    ]);
  });

  it('negates IN, BETWEEN, LIKE and IS NULL as NOT before the predicate, and NOT of those back to the predicate', async () => {
    const inList = { kind: 'in', column: p('a'), values: [num('1'), num('2')] } as const;
    const between = { kind: 'between', column: p('b'), low: num('1'), high: num('9') } as const;
    const like = { kind: 'like', column: p('c'), pattern: 'x%', caseInsensitive: false } as const;
    const isNull = { kind: 'null', column: p('d') } as const;
    expect(await where("p.a NOT IN (1, 2) AND p.b NOT BETWEEN 1 AND 9 AND p.c NOT LIKE 'x%' AND p.d IS NOT NULL")).toStrictEqual(
      [inList, between, like, isNull].map((operand) => ({ kind: 'not', operand })),
    );
    expect(await where("NOT (p.a NOT IN (1, 2) OR NOT p.b BETWEEN 1 AND 9 OR p.c NOT LIKE 'x%' OR p.d IS NOT NULL)")).toStrictEqual([inList, between, like, isNull]);
  });

  it('reads IS NULL and IS NOT NULL, also written ISNULL and NOTNULL', async () => {
    const isNull = { kind: 'null', column: p('a') } as const;
    expect(await where('p.a IS NULL AND p.a ISNULL AND p.a IS NOT NULL AND p.a NOTNULL')).toStrictEqual([isNull, isNull, { kind: 'not', operand: isNull }, { kind: 'not', operand: isNull }]);
  });

  it('reads LIKE and ILIKE, negated or not, keeping the pattern exactly (a backslash is an ordinary character)', async () => {
    const like = (pattern: string, caseInsensitive: boolean) => ({ kind: 'like', column: p('a'), pattern, caseInsensitive }) as const;
    expect(await where("p.a LIKE 'a\\%_' AND p.a ILIKE '%É%' AND p.a NOT ILIKE '' AND p.a ~~ 'x'")).toStrictEqual([
      like('a\\%_', false),
      like('%É%', true),
      { kind: 'not', operand: like('', true) },
      like('x', false),
    ]);
  });

  it('reads lower, upper and trim of a column, nested innermost first, on either side of a comparison and before IN, BETWEEN, LIKE and IS NULL', async () => {
    expect(await where("lower(p.a) = 'x' AND 'Y' < UPPER(TRIM(p.a)) AND main.trim(p.a) IN ('z') AND lower(p.a) BETWEEN 'a' AND 'm' AND trim(lower(p.a)) LIKE 'a%' AND upper(p.a) IS NULL")).toStrictEqual([
      { kind: 'compare', column: p('a'), functions: ['lower'], op: '=', value: str('x') },
      { kind: 'compare', column: p('a'), functions: ['trim', 'upper'], op: '>', value: str('Y') },
      { kind: 'in', column: p('a'), functions: ['trim'], values: [str('z')] },
      { kind: 'between', column: p('a'), functions: ['lower'], low: str('a'), high: str('m') },
      { kind: 'like', column: p('a'), functions: ['lower', 'trim'], pattern: 'a%', caseInsensitive: false },
      { kind: 'null', column: p('a'), functions: ['upper'] },
    ]);
  });

  it(`accepts ${MAX_WHERE_PREDICATES} predicates and ${MAX_WHERE_DEPTH} levels of nesting`, async () => {
    const many = Array.from({ length: MAX_WHERE_PREDICATES }, (_, i) => `p.a = ${i}`).join(' OR ');
    expect(await where(many)).toHaveLength(1);
    await expect(where(nested(MAX_WHERE_DEPTH))).resolves.not.toHaveLength(0);
    expect(await where(`upper(${'lower('.repeat(MAX_WHERE_DEPTH - 1)}p.a${')'.repeat(MAX_WHERE_DEPTH - 1)}) = 'x'`)).toHaveLength(1);
  });

  it(`refuses more than ${MAX_WHERE_PREDICATES} predicates or ${MAX_WHERE_DEPTH} levels with LIMIT_EXCEEDED`, async () => {
    const many = Array.from({ length: MAX_WHERE_PREDICATES + 1 }, (_, i) => `p.a = ${i}`).join(' OR ');
    await expect(where(many)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', message: `WHERE has ${MAX_WHERE_PREDICATES + 1} predicates; at most ${MAX_WHERE_PREDICATES} (a list of values is one IN)` });
    await expect(where(nested(MAX_WHERE_DEPTH + 1))).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', message: `WHERE nests ${MAX_WHERE_DEPTH + 1} levels of AND, OR and lower/upper/trim; at most ${MAX_WHERE_DEPTH}` });
    await expect(where(`${'lower('.repeat(MAX_WHERE_DEPTH + 1)}p.a${')'.repeat(MAX_WHERE_DEPTH + 1)} = 'x'`)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });

  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ['a function other than lower, upper, trim', "abs(p.a) = 1", 'function abs() is not supported in WHERE: the functions allowed are lower(t.c), upper(t.c) and trim(t.c)'],
    ['ltrim', "TRIM(LEADING FROM p.a) = 'x'", 'function ltrim() is not supported in WHERE'],
    ['trim of given characters', "trim(p.a, 'x') = 'y'", 'trim takes exactly one column, e.g. trim(t.c)'],
    ['a schema on a function', "pg_catalog.lower(p.a) = 'x'", 'write lower without a schema'],
    ['a function of an expression', "lower(p.a || 'x') = 'y'", 'the left side of comparison = must be a column, or lower(t.c), upper(t.c) or trim(t.c) of a string column'],
    ['a function of a literal', "lower('X') = p.a", 'found a literal'],
    ['a function as a literal', "p.a = lower('X')", 'function lower() is not supported where a literal is expected'],
    ['LIKE with ESCAPE', "p.a LIKE 'a!%' ESCAPE '!'", 'LIKE ... ESCAPE is not supported: a pattern has no escape character'],
    ['NOT ILIKE with ESCAPE', "p.a NOT ILIKE 'a!%' ESCAPE '!'", 'LIKE ... ESCAPE is not supported'],
    ['a numeric pattern', 'p.a LIKE 5', 'the pattern of LIKE must be a string literal'],
    ['a column as a pattern', 'p.a ILIKE a.b', 'comparing with another column (a.b) is not supported'],
    ['a literal LIKE a column', "'abc' LIKE p.a", 'the left side of LIKE must be a column'],
    ['IS NULL of an expression', 'p.a + 1 IS NULL', 'the left side of IS NULL must be a column'],
    ['GLOB', "p.a GLOB 'x*'", 'GLOB is not supported in WHERE'],
    ['NOT SIMILAR TO', "p.a NOT SIMILAR TO 'x'", 'SIMILAR TO is not supported in WHERE'],
    ['IS TRUE', 'p.a IS TRUE', 'IS NOT DISTINCT FROM is not supported in WHERE'],
    ['a subquery inside OR', 'p.a = 1 OR p.b IN (SELECT 1)', 'a subquery is not supported in WHERE'],
    ['a bare literal inside NOT', "NOT 'x'", 'a literal is not supported in WHERE'],
    ['NULL in NOT IN', 'p.a NOT IN (1, NULL)', 'NULL is not supported'],
  ];

  it.each(cases)('rejects %s', async (_what, predicates, fragment) => {
    const err: unknown = await where(predicates).then(
      () => new Error(`accepted: ${predicates}`),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CleanroomError);
    expect(err).toMatchObject({ code: 'QUERY_INVALID' });
    expect((err as Error).message).toContain(fragment);
  });

  // Refusals that need the collaboration's rules (test/support/collaboration.ts): the planner's, after parsing.
  const withNumeric = ((m: Manifest): Manifest => ({ ...m, tables: m.tables.map((t) => (t.name === 'publisher' ? { ...t, rules: { ...t.rules, dimensions: ['campaign', 'impressions'] } } : t)) }))(buildCollaboration().manifest);
  const planned: ReadonlyArray<readonly [string, string, string, string]> = [
    ['OR across tables', "p.campaign = 'x' OR a.category = 'y'", 'RULE_VIOLATION', 'rule: privacy-model.one-table-per-or'],
    ['NOT over an AND across tables', "NOT (p.campaign = 'x' AND a.category = 'y')", 'RULE_VIOLATION', 'rule: privacy-model.one-table-per-or'],
    ['a function on the join key', "lower(p.email) = 'ann@x.org'", 'RULE_VIOLATION', 'rule: publisher.rules.dimensions'],
    ['a non-dimension column inside an OR', "p.campaign = 'x' OR p.region = 'eu'", 'RULE_VIOLATION', 'publisher.region may not be used in WHERE'],
    ['a non-dimension column under NOT', "NOT (p.campaign = 'x' AND p.region IS NULL)", 'RULE_VIOLATION', 'publisher.region may not be used in WHERE'],
    ['LIKE on a numeric column', "p.impressions LIKE '1%'", 'QUERY_INVALID', 'LIKE applies to string columns; publisher.impressions is a integer column'],
    ['lower on a numeric column', "lower(p.impressions) = '1'", 'QUERY_INVALID', 'lower() applies to string columns'],
    ['a literal of the wrong type inside an OR', "p.campaign = 'x' OR p.impressions = 'y'", 'QUERY_INVALID', 'compare it with a number literal'],
  ];
  it.each(planned)('refuses %s once the rules apply', async (_what, predicates, code, fragment) => {
    const err = await plan(`SELECT COUNT(*) ${J} WHERE ${predicates}`, withNumeric, PUBLISHER).then(
      () => new Error(`accepted: ${predicates}`),
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toContain(fragment);
  });
});

/** `... AND (p.a = 2 OR (p.a = 1 AND p.x = 0))`: AND and OR alternating, `levels` deep. */
function nested(levels: number): string {
  let sql = 'p.x = 0';
  for (let i = 1; i <= levels; i++) sql = `p.a = ${i} ${i % 2 === 1 ? 'AND' : 'OR'} (${sql})`;
  return sql;
}

describe('parseQuery: dimensions (date_trunc, extract, CASE) and DATE/TIMESTAMP literals', () => {
  const d = col('publisher', 'day');
  const G = (select: string, group = select) => parseQuery(`SELECT ${select}, COUNT(*) ${J} GROUP BY ${group}`);

  it('reads date_trunc, extract (DuckDB date_part) and CASE, named <col>_<unit>, <col>_<field> and case by default', async () => {
    const dims = "date_trunc('week', p.day), EXTRACT(dow FROM p.day), CASE WHEN p.impressions > 10 THEN 'many' ELSE 'few' END";
    const q = await G("date_trunc('week', p.day), EXTRACT(dow FROM p.day) AS weekday, CASE WHEN p.impressions > 10 THEN 'many' ELSE 'few' END", dims);
    expect(q.select.slice(0, 3)).toStrictEqual([
      { kind: 'dimension', dimension: { kind: 'date-trunc', unit: 'week', column: d }, name: 'day_week' },
      { kind: 'dimension', dimension: { kind: 'extract', field: 'dow', column: d }, name: 'weekday' },
      {
        kind: 'dimension',
        dimension: { kind: 'case', branches: [{ when: { kind: 'compare', column: col('publisher', 'impressions'), op: '>', value: num('10') }, then: 'many' }], otherwise: 'few' },
        name: 'case',
      },
    ]);
    expect(q.groupBy).toStrictEqual(q.select.slice(0, 3).map((i) => (i.kind === 'dimension' ? i.dimension : null)));
  });

  it('reads a CASE without ELSE (NULL label) and with ELSE NULL alike, and units and fields in any case', async () => {
    const a = await G("CASE WHEN p.region = 'north' THEN 'n' END");
    const b = await G("CASE WHEN p.region = 'north' THEN 'n' ELSE NULL END");
    expect(a.groupBy).toStrictEqual(b.groupBy);
    expect((await G("date_trunc('MONTH', p.day)")).groupBy).toStrictEqual([{ kind: 'date-trunc', unit: 'month', column: d }]);
  });

  it('matches SELECT and GROUP BY dimensions as written, and refuses one without the other', async () => {
    await expect(G("date_trunc('week', p.day)", "date_trunc('month', p.day)")).rejects.toThrow(/date_trunc\('week', publisher.day\) is selected but not grouped/);
    await expect(G('p.region', "p.region, extract(month FROM p.day)")).rejects.toThrow(/GROUP BY extract\(month FROM publisher.day\) is not selected/);
  });

  it('refuses units, fields, functions and CASE forms outside the language, saying what is allowed', async () => {
    await expect(G("date_trunc('hour', p.day)")).rejects.toThrow(/date_trunc\('hour', \.\.\.\) is not supported: the units are 'day', 'week', 'month', 'quarter', 'year'/);
    await expect(G('extract(epoch FROM p.day)')).rejects.toThrow(/extract\(epoch FROM \.\.\.\) is not supported: the fields are year, quarter, month, dow, hour/);
    await expect(G("date_trunc('week', p.day + 1)")).rejects.toThrow(/date_trunc takes a unit and a column/);
    await expect(G("CASE WHEN p.impressions > 1 THEN p.region END")).rejects.toThrow(/after THEN or ELSE of a CASE dimension: write a string label/);
    await expect(G("CASE WHEN p.impressions > 1 THEN 'x' WHEN a.age > 3 THEN 'y' END")).rejects.toThrow(/reads columns of publisher and advertiser: each dimension reads one table/);
    await expect(G('upper(p.region)')).rejects.toThrow(/function upper\(\) is not supported in SELECT: allowed are dimensions/);
  });

  it('reads DATE and TIMESTAMP literals, a timestamp in UTC as DuckDB writes it (an offset applied)', async () => {
    expect(await where("p.day >= DATE '2024-02-29'")).toStrictEqual([{ kind: 'compare', column: d, op: '>=', value: { type: 'date', value: '2024-02-29' } }]);
    const ts = (text: string) => where(`p.day < TIMESTAMP '${text}'`).then((w) => (w[0] as { value: Literal }).value);
    expect(await ts('2024-03-01T10:00:00+02:00')).toStrictEqual({ type: 'timestamp', value: '2024-03-01 08:00:00' });
    expect(await ts('2024-03-01 00:30Z')).toStrictEqual({ type: 'timestamp', value: '2024-03-01 00:30:00' });
    expect(await ts('2024-03-01 23:59:59.250-01')).toStrictEqual({ type: 'timestamp', value: '2024-03-02 00:59:59.25' });
    await expect(where("p.day = DATE '2023-02-29'")).rejects.toThrow(/DATE '2023-02-29' is not a day written YYYY-MM-DD that exists/);
    await expect(where("p.day = DATE '2024-1-5'")).rejects.toThrow(/is not a day written YYYY-MM-DD/);
    await expect(where("p.day = TIMESTAMP '2024-01-05 24:00'")).rejects.toThrow(/is not an instant written/);
    await expect(where("p.day = CAST('2024-01-05' AS VARCHAR)")).rejects.toThrow(/CAST is not supported/);
  });
});
