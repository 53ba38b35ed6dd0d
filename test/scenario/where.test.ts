/**
 * WHERE conditions (AND, OR, NOT, IS NULL, LIKE, ILIKE, NOT IN, lower/upper/trim) end to end in one process: both
 * parties of a query in the harness, every answer compared with the plaintext oracle's over the pooled rows; and, in
 * the property, every filtered table side read by DuckDB (TableStore over the same rows as a CSV file) compared with
 * the oracle's, which is where the node's SQL and the oracle's definition of SPEC §5 could part.
 *
 * The property draws messy tables (NULLs, mixed case, unicode, wildcard characters) and random WHERE trees over the
 * collaboration's dimensions from a fixed seed, so a failure replays as it is. CLEANROOM_RANDOM_QUERIES=<n> runs n
 * queries instead of the default few.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { conditionTable } from '../../scripts/plaintext/conditions.js';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { readCsvRows } from '../../scripts/plaintext/csv-tables.js';
import { keyedRows } from '../../scripts/plaintext/rows.js';
import { TableStore } from '../../src/data/table-store.js';
import { Manifest as ManifestSchema, type Table } from '../../src/manifest/schema.js';
import { parseQuery } from '../../src/query/parse.js';
import type { TableSide } from '../../src/query/plan.js';
import { ADVERTISER, PUBLISHER, advertiserTable, buildCollaboration, publisherTable, type Collaboration } from '../support/collaboration.js';
import type { Dataset, Row } from '../support/datasets.js';
import { sortRows } from '../support/expected-result.js';
import { conditionTree, TEXTS } from '../support/random-sql.js';
import { runScenario, type Party } from './harness.js';

/** Every string and integer column a dimension, every dimension a filter the other member's grant allows, minimum 1. */
function collaboration(): Collaboration {
  const c = buildCollaboration({ minDistinctKeys: { publisher: 1, advertiser: 1 } });
  const widen = (t: Table, dimensions: string[], member: string): Table => ({ ...t, rules: { ...t.rules, dimensions, overlapDisclosure: [{ member, filters: dimensions }] } });
  const tables = [widen(publisherTable({ minDistinctKeys: { publisher: 1 } }), ['campaign', 'region', 'impressions'], ADVERTISER), widen(advertiserTable({ minDistinctKeys: { advertiser: 1 } }), ['category', 'items', 'age'], PUBLISHER)];
  return { ...c, manifest: ManifestSchema.parse({ ...c.manifest, tables }) };
}
const COLLABORATION = collaboration();

// ---------------------------------------------------------------------------------------------------------------
// Messy tables and random conditions
// ---------------------------------------------------------------------------------------------------------------

const text = fc.option(fc.constantFrom(...TEXTS), { nil: null, freq: 6 });
const small = fc.option(fc.integer({ min: 0, max: 20 }), { nil: null, freq: 6 });
const email = fc.record({ person: fc.integer({ min: 0, max: 30 }), upper: fc.boolean(), pad: fc.constantFrom('', ' ', '\t') }).map(({ person, upper, pad }) => {
  const e = `person${person}@example.com`;
  return `${pad}${upper ? e.toUpperCase() : e}`;
});
const publisherRow = fc.record({ email: fc.option(email, { nil: null, freq: 20 }), campaign: text, impressions: small, region: text });
const advertiserRow = fc.record({
  email: fc.option(email, { nil: null, freq: 20 }),
  amount: fc.option(fc.integer({ min: -5000, max: 5000 }).map((cents) => (cents / 100).toFixed(2)), { nil: null, freq: 8 }),
  category: text,
  items: small,
  age: small,
});
const tables = (minLength: number, maxLength: number): fc.Arbitrary<Dataset> =>
  fc.record({ [PUBLISHER]: fc.array(publisherRow, { minLength, maxLength }), [ADVERTISER]: fc.array(advertiserRow, { minLength, maxLength }) });

const COLUMNS = {
  p: { strings: ['campaign', 'region'], integers: ['impressions'] },
  a: { strings: ['category'], integers: ['items', 'age'] },
} as const;
type Alias = keyof typeof COLUMNS;

const tree = (alias: Alias) => conditionTree(alias, COLUMNS[alias]);

/** WHERE: each table's tree, joined by AND, or both negated under one NOT (an OR across them that splits in two). */
const where: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.option(tree('p'), { nil: undefined }), fc.option(tree('a'), { nil: undefined })).map(([p, a]) => [p, a].filter((x) => x !== undefined).join(' AND ')),
  fc.tuple(tree('p'), tree('a')).map(([p, a]) => `NOT (${p} OR ${a})`),
);

const JOIN = 'FROM publisher p JOIN advertiser a ON p.email = a.email';
/** [querier, SELECT ... FROM ... JOIN ... before WHERE, GROUP BY after it]: count-only, and each side aggregating. */
const SHAPES: readonly (readonly [string, string, string])[] = [
  [PUBLISHER, `SELECT COUNT(*) ${JOIN}`, ''],
  [ADVERTISER, `SELECT COUNT(*) AS n ${JOIN}`, ''],
  [ADVERTISER, `SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount) ${JOIN}`, ' GROUP BY a.category'],
  [PUBLISHER, `SELECT p.region, p.impressions, COUNT(*), SUM(p.impressions) ${JOIN}`, ' GROUP BY p.region, p.impressions'],
];
const sqlOf = (shape: readonly [string, string, string], condition: string) => `${shape[1]}${condition === '' ? '' : ` WHERE ${condition}`}${shape[2]}`;

// ---------------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------------

function resultOf(p: Party) {
  if (p.outcome?.kind !== 'result') throw new Error(`${p.role} (${p.member}) has outcome ${JSON.stringify(p.outcome)}`);
  return p.outcome.result;
}

/** Runs `sql` in the harness and checks both receivers' results against the oracle's answer; returns that answer. */
async function expectOracleAnswer(sql: string, querier: string, data: Dataset) {
  const s = await runScenario({ collaboration: COLLABORATION, sql, querier, data });
  const answer = await plaintextAnswer(sql, COLLABORATION.manifest.tables, data);
  for (const p of [s.P, s.Q]) {
    const result = resultOf(p);
    expect(result.mode, sql).toBe(answer.mode);
    expect(result.columns, sql).toEqual(answer.columns);
    expect(sortRows(result.rows), sql).toEqual(sortRows(answer.rows));
  }
  return { s, answer };
}

const scratch = mkdtempSync(join(tmpdir(), 'cleanroom-where-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

/** Rows as a CSV file in the default dialect: every value quoted, NULL an empty field. */
function csvFile(t: Table, rows: readonly Row[]): string {
  const path = join(scratch, `${t.name}-${files++}.csv`);
  const names = t.columns.map((c) => c.name);
  const field = (v: Row[string] | undefined) => (v === null || v === undefined ? '' : `"${String(v).replaceAll('"', '""')}"`);
  writeFileSync(path, `${names.join(',')}\n${rows.map((r) => names.map((n) => field(r[n])).join(',')).join('\n')}\n`);
  return path;
}

/** Each side of the plan read by DuckDB from a CSV of its rows: its filtered rows and keys are the oracle's. */
async function expectDuckDbSides(sql: string, sides: readonly TableSide[], data: Dataset): Promise<void> {
  const paths = Object.fromEntries(sides.map((side) => [side.table.name, csvFile(side.table, data[side.table.name] ?? [])]));
  const store = await TableStore.open(Object.fromEntries(sides.map((side) => [side.table.name, { path: paths[side.table.name]!, format: 'csv' as const }])), join(scratch, `cache-${files++}`));
  try {
    const conditions = (await parseQuery(sql)).where;
    for (const side of sides) {
      // The oracle splits WHERE by itself; DuckDB gets the planner's split.
      const own = conditions.filter((c) => conditionTable(c) === side.table.name);
      const kept = keyedRows(side.table, await readCsvRows(paths[side.table.name]!), own);
      const [all] = await store.aggregateAll(side, [], []);
      expect(all?.values ?? [0n, 0n], `${side.table.name}: rows and keys of ${sql}`).toEqual([BigInt(kept.length), BigInt(new Set(kept.map((r) => r.key)).size)]);
    }
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

describe('WHERE conditions through both parties, against the plaintext oracle', () => {
  const [data] = fc.sample(tables(150, 150), { seed: 18, numRuns: 1 }) as [Dataset];

  const queries: readonly (readonly [string, number, string])[] = [
    // [what, shape (SHAPES), WHERE]
    ['OR on each side, count-only', 0, "(p.campaign = 'spring' OR p.region IS NULL) AND (a.category IN ('été', 'Été') OR a.items > 10)"],
    ['NOT over an OR of both tables, count-only', 1, "NOT (p.campaign LIKE '%s%' OR a.category IS NULL)"],
    ['IS NULL and IS NOT NULL, aggregate', 2, '(a.age IS NULL OR a.category IS NOT NULL) AND p.impressions IS NOT NULL'],
    ['LIKE and NOT LIKE with wildcards and a backslash, aggregate', 2, "(a.category LIKE '50%' OR a.category LIKE 'a\\b' OR a.category NOT LIKE '%_%_%') AND p.region NOT LIKE 'S%'"],
    ['ILIKE and lower, aggregate on the other side', 3, "(lower(p.campaign) = 'spring' OR p.region ILIKE '%STRA%') AND NOT (a.category ILIKE 'é%')"],
    ['NOT IN and NOT BETWEEN keep no NULL, count-only', 0, "p.region NOT IN ('spring', 'été') AND a.items NOT BETWEEN 5 AND 15"],
    ['upper and trim, nested', 2, "upper(trim(a.category)) IN ('SPRING', 'STRAẞE', 'İSTANBUL') OR trim(a.category) = 'spring'"],
  ];

  it.each(queries)('%s', async (_what, shape, condition) => {
    const [querier] = SHAPES[shape]!;
    const { answer } = await expectOracleAnswer(sqlOf(SHAPES[shape]!, condition), querier, data);
    // A condition that kept nothing, or everything, would test little.
    const kept = answer.groups.reduce((n, g) => n + g.rows, 0);
    expect(kept).toBeGreaterThan(0);
    const unfiltered = await plaintextAnswer(sqlOf(SHAPES[shape]!, ''), COLLABORATION.manifest.tables, data);
    expect(kept).toBeLessThan(unfiltered.groups.reduce((n, g) => n + g.rows, 0));
  });

  it('random WHERE trees on random messy tables: the harness, DuckDB and the oracle agree', async () => {
    const runs = Number(process.env.CLEANROOM_RANDOM_QUERIES ?? 40);
    await fc.assert(
      fc.asyncProperty(tables(10, 40), where, fc.constantFrom(...SHAPES), async (data, condition, shape) => {
        const sql = sqlOf(shape, condition);
        const { s } = await expectOracleAnswer(sql, shape[0], data);
        await expectDuckDbSides(sql, [s.P.plan.aggregator, ...s.P.plan.others], data);
      }),
      { numRuns: runs, seed: 20261207 },
    );
  });
});
