/**
 * GROUP BY dimensions (date_trunc, extract, CASE, columns of every type) as the planner checks them (SPEC §5) and the
 * group domain it derives from the manifest under a privacy policy (SPEC §4.3, §10.2): each refusal names the rule and
 * what to declare, and each domain is every label the data could yield, in result order.
 */
import { describe, expect, it } from 'vitest';
import { CleanroomError, RuleViolation } from '../../src/errors.js';
import { MAX_GROUPS } from '../../src/limits.js';
import { Manifest as ManifestSchema, type Column, type Manifest, type Table } from '../../src/manifest/schema.js';
import { truncDay } from '../../src/query/dimension-domain.js';
import { dateText, daysOf } from '../../src/manifest/time-value.js';
import { ADVERTISER, TEST_POLICY, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';

const TIME_COLUMNS: Column[] = [
  { name: 'day', type: 'date', min: '2024-12-25', max: '2025-02-03' },
  { name: 'seen', type: 'timestamp', min: '2025-01-01T00:00:00Z', max: '2025-12-31T23:59:59Z' },
  { name: 'open_day', type: 'date' },
  { name: 'opted_in', type: 'boolean', required: true },
];

/** The advertiser's table with time and boolean dimensions, a policy when `privacy`. */
function manifest(privacy: boolean, extra: Partial<Table['rules']> = {}): Manifest {
  const c = buildCollaboration({ minDistinctKeys: { publisher: 1, advertiser: 1 }, overlapDisclosure: { publisher: [ADVERTISER] }, ...(privacy ? { privacy: { advertiser: TEST_POLICY } } : {}) });
  const a = advertiserTable(privacy ? { privacy: { advertiser: TEST_POLICY } } : {});
  const advertiser: Table = { ...a, columns: [...a.columns, ...TIME_COLUMNS], rules: { ...a.rules, dimensions: ['category', 'age', 'day', 'seen', 'open_day', 'opted_in'], ...extra } };
  return ManifestSchema.parse({ ...c.manifest, tables: [publisherTable({ overlapDisclosure: { publisher: [ADVERTISER] } }), advertiser] });
}

const J = 'FROM advertiser a JOIN publisher p ON a.email = p.email';
const grouped = (dims: string, m: Manifest) => plan(`SELECT ${dims}, COUNT(*) ${J} GROUP BY ${dims}`, m, ADVERTISER);

describe('GROUP BY dimensions: the planner', () => {
  it('plans date_trunc, extract, CASE and a boolean column over the aggregator, in GROUP BY order', async () => {
    const p = await grouped("date_trunc('month', a.day), extract(hour FROM a.seen), CASE WHEN a.age >= 18 THEN 'adult' END, a.opted_in", manifest(false));
    expect(p.mode).toBe('aggregate');
    expect(p.groupBy.map((d) => d.kind)).toStrictEqual(['date-trunc', 'extract', 'case', 'column']);
  });

  it('refuses date_trunc and extract of a column that is not a date or timestamp, and hour of a date', async () => {
    await expect(grouped("date_trunc('week', a.age)", manifest(false))).rejects.toThrow(/date_trunc\('week', \.\.\.\) applies to date and timestamp columns; advertiser.age is a integer column/);
    await expect(grouped('extract(hour FROM a.day)', manifest(false))).rejects.toThrow(/extract\(hour FROM \.\.\.\) applies to timestamp columns; advertiser.day is a date/);
  });

  it('refuses a dimension over a column that is not a dimension, the join key included, naming the rule', async () => {
    const m = manifest(false, { dimensions: ['category'] });
    const refusal = grouped("date_trunc('week', a.day)", m);
    await expect(refusal).rejects.toBeInstanceOf(RuleViolation);
    await expect(refusal).rejects.toThrow(/advertiser.day may not be used in GROUP BY/);
    await expect(grouped("CASE WHEN a.email LIKE '%@x.com' THEN 'x' END", m)).rejects.toThrow(/advertiser.email may not be used in GROUP BY/);
  });

  it('type-checks a CASE condition as WHERE does: a date column against a DATE literal', async () => {
    await expect(grouped("CASE WHEN a.day < 5 THEN 'early' END", manifest(false))).rejects.toThrow(/advertiser.day is a date column; compare it with a DATE 'YYYY-MM-DD' literal, not 5/);
    await expect(grouped("CASE WHEN a.day < DATE '2025-01-01' THEN 'early' ELSE 'late' END", manifest(false))).resolves.toMatchObject({ mode: 'aggregate' });
    await expect(grouped("CASE WHEN a.seen < DATE '2025-06-01' THEN 'h1' ELSE 'h2' END", manifest(false))).resolves.toMatchObject({ mode: 'aggregate' });
  });

  it('deals no domain without a policy unless every dimension is a string with declared values (as before)', async () => {
    const p = await grouped("date_trunc('week', a.day)", manifest(false));
    expect(p.mode === 'aggregate' && p.domain).toBe(undefined);
  });
});

describe('GROUP BY dimensions: the domain under a privacy policy', () => {
  const domain = async (dims: string) => {
    const p = await grouped(dims, manifest(true));
    if (p.mode !== 'aggregate' || !p.domain) throw new Error('no domain');
    return p.domain;
  };

  it('is every ISO week (Monday) between the bounds, the first holding min, then NULL (the column may be empty)', async () => {
    const weeks = (await domain("date_trunc('week', a.day)")).map((l) => l[0]);
    // 2024-12-25 is a Wednesday: its week starts on Monday 2024-12-23; 2025-02-03 is a Monday.
    expect(weeks).toStrictEqual(['2024-12-23', '2024-12-30', '2025-01-06', '2025-01-13', '2025-01-20', '2025-01-27', '2025-02-03', null]);
  });

  it('is every month, quarter and year from min to max, of a timestamp column by its UTC days', async () => {
    expect((await domain("date_trunc('quarter', a.seen)")).map((l) => l[0])).toStrictEqual(['2025-01-01', '2025-04-01', '2025-07-01', '2025-10-01', null]);
    expect((await domain("date_trunc('month', a.day)")).map((l) => l[0])).toStrictEqual(['2024-12-01', '2025-01-01', '2025-02-01', null]);
    expect((await domain('extract(year FROM a.day)')).map((l) => l[0])).toStrictEqual([2024, 2025, null]);
  });

  it('is the fixed range of a field, a boolean\'s two values (no NULL when required), a CASE\'s labels by UTF-8 bytes', async () => {
    expect((await domain('extract(dow FROM a.open_day)')).map((l) => l[0])).toStrictEqual([0, 1, 2, 3, 4, 5, 6, null]);
    expect((await domain('a.opted_in')).map((l) => l[0])).toStrictEqual(['false', 'true']);
    expect((await domain("CASE WHEN a.age < 18 THEN 'minor' WHEN a.age < 65 THEN 'adult' ELSE 'Senior' END")).map((l) => l[0])).toStrictEqual(['Senior', 'adult', 'minor']);
    expect((await domain("CASE WHEN a.age < 18 THEN 'minor' WHEN a.age > 90 THEN 'minor' END")).map((l) => l[0])).toStrictEqual(['minor', null]);
    expect((await domain('a.age')).length).toBe(152); // 0..150 and NULL
  });

  it('is the product of the dimensions\' domains', async () => {
    const d = await domain("extract(quarter FROM a.day), a.opted_in");
    expect(d).toStrictEqual([1, 2, 3, 4, null].flatMap((q) => [[q, 'false'], [q, 'true']]));
  });

  it('refuses a dimension whose groups the manifest does not bound, saying what to declare', async () => {
    const refusal = domain("date_trunc('week', a.open_day)");
    await expect(refusal).rejects.toBeInstanceOf(RuleViolation);
    await expect(refusal).rejects.toThrow(/needs every group known from the manifest.*min and max for open_day in the manifest \(the groups are then every week between them\)/);
    await expect(domain('a.category')).rejects.toThrow(/values for category in the manifest/);
  });

  it('walks periods up to the last day there is (9999-12-31)', async () => {
    const m = manifest(true);
    const late = ManifestSchema.parse({
      ...m,
      tables: m.tables.map((t) => (t.name === 'advertiser' ? { ...t, columns: t.columns.map((c) => (c.name === 'open_day' ? { ...c, min: '9990-03-04', max: '9999-12-31' } : c)) } : t)),
    });
    const p = await grouped("date_trunc('year', a.open_day)", late);
    expect(p.mode === 'aggregate' && p.domain?.map((l) => l[0])).toStrictEqual([...Array.from({ length: 10 }, (_, i) => `${9990 + i}-01-01`), null]);
  });

  it(`refuses more than MAX_GROUPS (${MAX_GROUPS}) groups with LIMIT_EXCEEDED`, async () => {
    const refusal = domain("date_trunc('day', a.day), extract(hour FROM a.seen), a.opted_in, extract(dow FROM a.day)");
    await expect(refusal).rejects.toBeInstanceOf(CleanroomError);
    await expect(refusal).rejects.toThrow(/possible groups; at most 10000/);
  });
});

describe('truncDay: the first day of a period, as DuckDB truncates', () => {
  const trunc = (unit: Parameters<typeof truncDay>[0], day: string) => dateText(truncDay(unit, daysOf(day)));
  it.each([
    ['week', '2025-01-01', '2024-12-30'],
    ['week', '2024-12-29', '2024-12-23'],
    ['week', '1969-12-31', '1969-12-29'],
    ['week', '1970-01-05', '1970-01-05'],
    ['month', '2024-02-29', '2024-02-01'],
    ['quarter', '2024-06-30', '2024-04-01'],
    ['quarter', '2024-10-01', '2024-10-01'],
    ['year', '0001-07-04', '0001-01-01'],
    ['day', '2024-02-29', '2024-02-29'],
  ] as const)('%s of %s is %s', (unit, day, start) => {
    expect(trunc(unit, day)).toBe(start);
  });
});

describe("the demo's weekly query (cleanroom query --preview, the console's editor)", () => {
  it('plans every one of the thirteen weeks and previews each output\'s error bound', async () => {
    const { DEMO_TABLES, DEMO_WEEKLY_SQL } = await import('../../scripts/demo-tables.js');
    const { preview } = await import('../../src/console/preview.js');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const c = buildCollaboration();
    const m = ManifestSchema.parse({ ...c.manifest, tables: DEMO_TABLES });
    const p = await plan(DEMO_WEEKLY_SQL, m, ADVERTISER);
    expect(p.mode === 'aggregate' && p.domain?.map((l) => l[0])).toStrictEqual(Array.from({ length: 13 }, (_, i) => dateText(daysOf('2026-03-02') + 7 * i)));
    const shown = await preview(p, ADVERTISER, join(mkdtempSync(join(tmpdir(), 'cleanroom-preview-')), 'ledger'));
    expect(shown.dp).toBe(true);
    expect(shown.errors.map((e) => e.output)).toStrictEqual(['purchases', 'revenue']);
  });
});
