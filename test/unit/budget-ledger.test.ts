import fc from 'fast-check';
import type { FileHandle } from 'node:fs/promises';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BudgetLedger, budgetPeriod, type TableBudget } from '../../src/budget/ledger.js';
import type { Cost } from '../../src/dp/accounting.js';
import { add, compare, fromDecimal, rational, sub, toText, type Rational } from '../../src/dp/rational.js';
import { CleanroomError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'cleanroom-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `budget-${n++}.jsonl`);

const r = (x: number) => fromDecimal(x);
const monthly = (x: number): TableBudget => ({ unit: 'epsilon', amount: r(x), refresh: 'month', delta: 1e-7 });
const never = (x: number): TableBudget => ({ unit: 'epsilon', amount: r(x), refresh: 'never', delta: 1e-7 });
const eps = (x: Rational | number): Cost => ({ unit: 'epsilon', amount: typeof x === 'number' ? r(x) : x });
const NOV = new Date('2026-11-15T12:00:00Z');
const DEC = new Date('2026-12-15T12:00:00Z');
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const text = (x: Rational) => toText(x);

async function rejection(p: Promise<unknown>): Promise<CleanroomError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CleanroomError);
  return err as CleanroomError;
}

describe('budgetPeriod', () => {
  it('is the UTC calendar month for month and all for never, switching exactly at midnight UTC on the 1st', () => {
    expect(budgetPeriod('month', new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11');
    expect(budgetPeriod('month', new Date('2026-12-01T00:00:00Z'))).toBe('2026-12');
    // 23:30 on Nov 30 in New York is already December in UTC.
    expect(budgetPeriod('month', new Date('2026-11-30T23:30:00-05:00'))).toBe('2026-12');
    expect(budgetPeriod('month', new Date('2026-12-31T23:59:59Z'))).toBe('2026-12');
    expect(budgetPeriod('month', new Date('2027-01-01T00:00:00Z'))).toBe('2027-01');
    expect(budgetPeriod('never', new Date('2026-11-30T23:59:59Z'))).toBe('all');
    expect(() => budgetPeriod('month', new Date(Number.NaN))).toThrow(RangeError);
    expect(() => budgetPeriod('weekly' as 'month', NOV)).toThrow(/budgetPeriod: refresh/);
  });
});

describe('BudgetLedger', () => {
  it('creates the file with mode 0600', async () => {
    if (process.platform === 'win32') return;
    const file = fresh();
    await (await BudgetLedger.open(file)).close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('holds exactly ten charges of 0.1 in a budget of 1, and reads them back exactly after reopening', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    const budget = never(1);
    for (let i = 0; i < 10; i++) await ledger.charge(`q${i}`, [{ table: 't', cost: eps(0.1), budget }], NOV);
    const err = await rejection(ledger.charge('q10', [{ table: 't', cost: eps(0.1), budget }], NOV));
    expect(err.code).toBe('BUDGET_EXHAUSTED');
    expect(ledger.spent('t', never(1), NOV)).toEqual(rational(1n));
    await ledger.close();
    expect(lines(file)).toHaveLength(10);

    const again = await BudgetLedger.open(file);
    expect(again.warning).toBeUndefined();
    expect(again.spent('t', never(1), NOV)).toEqual(rational(1n));
    expect(again.remaining('t', budget, NOV)).toEqual(rational(0n));
    expect(again.remaining('t', never(2.5), NOV)).toEqual(rational(3n, 2n));
    expect(again.spent('other', never(1), NOV)).toEqual(rational(0n));
    expect((await rejection(again.charge('q11', [{ table: 't', cost: eps(0.1), budget }], NOV))).code).toBe('BUDGET_EXHAUSTED');
    expect(again.entries()).toHaveLength(10);
    expect(again.entries()[3]).toEqual({ time: NOV.toISOString(), period: 'all', queryId: 'q3', table: 't', epsilon: '0.1' });
    await again.close();
  });

  it('never reports remaining below zero when the budget shrank under what was spent', async () => {
    const ledger = await BudgetLedger.open(fresh());
    await ledger.charge('q', [{ table: 't', cost: eps(3), budget: never(5) }], NOV);
    expect(ledger.remaining('t', never(2), NOV)).toEqual(rational(0n));
    await ledger.close();
  });

  it('charges all tables or none: one table short means nothing is written for either', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    await ledger.charge('q0', [{ table: 'b', cost: eps(0.75), budget: monthly(1) }], NOV);
    const err = await rejection(
      ledger.charge(
        'q1',
        [
          { table: 'a', cost: eps(0.5), budget: monthly(1) },
          { table: 'b', cost: eps(0.5), budget: monthly(1) },
        ],
        NOV,
      ),
    );
    expect(err.code).toBe('BUDGET_EXHAUSTED');
    expect(err.message).toMatch(/table b:/);
    expect(ledger.spent('a', monthly(1), NOV)).toEqual(rational(0n));
    expect(ledger.spent('b', monthly(1), NOV)).toEqual(r(0.75));
    await ledger.close();
    expect(lines(file)).toHaveLength(1);
    // Both fit: one line per table, in one query.
    const again = await BudgetLedger.open(file);
    await again.charge('q2', [{ table: 'a', cost: eps(0.25), budget: monthly(1) }, { table: 'b', cost: eps(0.25), budget: monthly(1) }], NOV);
    await again.close();
    expect(lines(file).map((l) => JSON.parse(l) as { queryId: string; table: string }).map((c) => `${c.queryId} ${c.table}`)).toEqual(['q0 b', 'q2 a', 'q2 b']);
  });

  it('lets exactly 4 of 10 concurrent charges through a budget for 4', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => ledger.charge(`q${i}`, [{ table: 't', cost: eps(1), budget: never(4) }], NOV)));
    await ledger.close();
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(4);
    for (const x of results) if (x.status === 'rejected') expect(x.reason).toMatchObject({ code: 'BUDGET_EXHAUSTED' });
    expect(lines(file)).toHaveLength(4);
    const again = await BudgetLedger.open(file);
    expect(again.spent('t', never(1), NOV)).toEqual(rational(4n));
    await again.close();
  });

  it('restores a monthly budget on the 1st (UTC) while a never-refreshing one keeps counting', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    await ledger.charge('q0', [{ table: 'm', cost: eps(1), budget: monthly(1) }, { table: 'n', cost: eps(1), budget: never(2) }], new Date('2026-11-30T23:59:59Z'));
    expect((await rejection(ledger.charge('q1', [{ table: 'm', cost: eps(0.5), budget: monthly(1) }], NOV))).code).toBe('BUDGET_EXHAUSTED');
    await ledger.close();

    const again = await BudgetLedger.open(file);
    const dec1 = new Date('2026-12-01T00:00:00Z');
    expect(again.spent('m', monthly(1), new Date('2026-11-30T23:59:59Z'))).toEqual(rational(1n));
    expect(again.spent('m', monthly(1), dec1)).toEqual(rational(0n));
    expect(again.remaining('m', monthly(1), DEC)).toEqual(rational(1n));
    expect(again.spent('n', never(1), DEC)).toEqual(rational(1n));
    await again.charge('q2', [{ table: 'm', cost: eps(1), budget: monthly(1) }, { table: 'n', cost: eps(1), budget: never(2) }], dec1);
    expect((await rejection(again.charge('q3', [{ table: 'n', cost: eps(0.01), budget: never(2) }], new Date('2027-06-01T00:00:00Z')))).code).toBe('BUDGET_EXHAUSTED');
    expect(again.entries().map((c) => c.period)).toEqual(['2026-11', 'all', '2026-12', 'all']);
    // Switching a table to never counts every month it ever spent.
    expect(again.spent('m', never(1), DEC)).toEqual(rational(2n));
    await again.close();
  });

  it('names the table, the cost, what remains and when it refreshes', async () => {
    const ledger = await BudgetLedger.open(fresh());
    const now = new Date('2026-12-31T23:59:59Z');
    await ledger.charge('q0', [{ table: 'advertiser', cost: eps(9.75), budget: monthly(10) }], now);
    const err = await rejection(ledger.charge('q1', [{ table: 'advertiser', cost: eps(0.5), budget: monthly(10) }], now));
    expect(err.message).toBe('table advertiser: this query costs ε = 0.5; 0.25 of the budget of ε = 10 remains until 2027-01-01 (refresh: month)');
    await ledger.charge('q2', [{ table: 'publisher', cost: eps(1), budget: never(1) }], now);
    const err2 = await rejection(ledger.charge('q3', [{ table: 'publisher', cost: eps(rational(1n, 3n)), budget: never(1) }], now));
    expect(err2.message).toBe('table publisher: this query costs ε = 1/3; 0 of the budget of ε = 1 remains and is never restored (refresh: never)');
    await ledger.close();
  });

  it('refuses bad input before reserving anything', async () => {
    const ledger = await BudgetLedger.open(fresh());
    const t = { table: 't', cost: eps(1), budget: never(5) };
    await expect(ledger.charge('q', [], NOV)).rejects.toThrow(RangeError);
    await expect(ledger.charge('', [t], NOV)).rejects.toThrow(TypeError);
    await expect(ledger.charge('q', [t, t], NOV)).rejects.toThrow(/listed twice/);
    await expect(ledger.charge('q', [{ ...t, cost: eps(rational(0n)) }], NOV)).rejects.toThrow(/positive/);
    await expect(ledger.charge('q', [{ ...t, cost: { unit: 'epsilon', amount: { num: 1n, den: 0n } } }], NOV)).rejects.toThrow(TypeError);
    await expect(ledger.charge('q', [t], new Date(Number.NaN))).rejects.toThrow(/valid Date/);
    expect(ledger.spent('t', never(1), NOV)).toEqual(rational(0n));
    await ledger.close();
  });

  it('drops an incomplete final line on open, with a warning, and keeps the complete ones', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    await ledger.charge('q0', [{ table: 't', cost: eps(0.5), budget: never(1) }], NOV);
    await ledger.close();
    const intact = readFileSync(file);
    appendFileSync(file, lines(file)[0]!.slice(0, 30));
    const again = await BudgetLedger.open(file);
    expect(again.warning).toMatch(/dropped an incomplete final line \(30 bytes\)/);
    expect(readFileSync(file).equals(intact)).toBe(true);
    expect(again.spent('t', never(1), NOV)).toEqual(r(0.5));
    await again.charge('q1', [{ table: 't', cost: eps(0.5), budget: never(1) }], NOV);
    await again.close();
    expect(lines(file)).toHaveLength(2);
  });

  it('refuses a complete line that is garbage, naming the file and the line', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    await ledger.charge('q0', [{ table: 't', cost: eps(0.5), budget: never(1) }], NOV);
    await ledger.close();
    const good = lines(file)[0]!;
    for (const bad of ['not json', '', '{"time":']) {
      writeFileSync(file, `${good}\n${bad}\n${good}\n`);
      const err = await rejection(BudgetLedger.open(file));
      expect(err.code).toBe('DATA_INVALID');
      expect(err.message).toContain(`budget ledger ${file} line 2 `);
    }
  });

  it('refuses a line with an unknown field, a missing field or a value no charge has', async () => {
    const file = fresh();
    const ok = { time: NOV.toISOString(), period: '2026-11', queryId: 'q', table: 't', epsilon: '0.5' };
    writeFileSync(file, JSON.stringify(ok) + '\n');
    await (await BudgetLedger.open(file)).close();
    const { table: _, ...noTable } = ok;
    for (const bad of [
      { ...ok, refund: '0.5' },
      noTable,
      { ...ok, epsilon: '-0.5' },
      { ...ok, epsilon: '0' },
      { ...ok, epsilon: 0.5 },
      { ...ok, epsilon: '1/0' },
      { ...ok, period: '2026-12' },
      { ...ok, period: 'week' },
      { ...ok, time: '2026-11-15' },
    ]) {
      writeFileSync(file, JSON.stringify(ok) + '\n' + JSON.stringify(bad) + '\n');
      const err = await rejection(BudgetLedger.open(file));
      expect(err, JSON.stringify(bad)).toMatchObject({ code: 'DATA_INVALID', message: expect.stringContaining('line 2 is not a charge') });
    }
  });

  it('keeps the reservation of a failed write and refuses later charges', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    await ledger.charge('q0', [{ table: 't', cost: eps(1), budget: never(10) }], NOV);
    await (ledger as unknown as { fh: FileHandle }).fh.close();
    const err = await rejection(ledger.charge('q1', [{ table: 't', cost: eps(2), budget: never(10) }], NOV));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/cannot write budget ledger/);
    expect(ledger.spent('t', never(1), NOV)).toEqual(rational(3n));
    expect(ledger.remaining('t', never(10), NOV)).toEqual(rational(7n));
    expect(ledger.entries()).toHaveLength(1);
    expect(await rejection(ledger.charge('q2', [{ table: 'u', cost: eps(1), budget: never(10) }], NOV))).toBe(err);
    expect(ledger.spent('u', never(1), NOV)).toEqual(rational(0n));
    await ledger.close();
    expect(lines(file)).toHaveLength(1);
  });

  it.skipIf(!existsSync('/dev/full'))('fails closed when the disk is full (ENOSPC), charges queued behind included', async () => {
    const ledger = await BudgetLedger.open('/dev/full');
    const results = await Promise.allSettled([1, 2, 3].map((i) => ledger.charge(`q${i}`, [{ table: 't', cost: eps(1), budget: never(10) }], NOV)));
    for (const x of results) expect(x).toMatchObject({ status: 'rejected', reason: { code: 'INTERNAL' } });
    expect(ledger.spent('t', never(1), NOV)).toEqual(rational(3n));
    await ledger.close();
  });

  it('keeps a zCDP table\'s charges in ρ: lines carry rho, ρ adds up exactly, and the refusal names ρ', async () => {
    const file = fresh();
    const ledger = await BudgetLedger.open(file);
    const budget: TableBudget = { unit: 'rho', amount: r(0.05), refresh: 'never', delta: 1e-7 };
    const rho = (x: number): Cost => ({ unit: 'rho', amount: r(x) });
    for (let i = 0; i < 5; i++) await ledger.charge(`q${i}`, [{ table: 'z', cost: rho(0.01), budget }], NOV);
    const err = await rejection(ledger.charge('q5', [{ table: 'z', cost: rho(0.01), budget }], NOV));
    expect(err.message).toBe('table z: this query costs ρ = 0.01; 0 of the budget of ρ = 0.05 remains and is never restored (refresh: never)');
    await ledger.close();
    expect(JSON.parse(lines(file)[0]!)).toEqual({ time: NOV.toISOString(), period: 'all', queryId: 'q0', table: 'z', rho: '0.01' });
    const again = await BudgetLedger.open(file);
    expect(again.spent('z', budget, NOV)).toEqual(r(0.05));
    // A cost in the other unit than the budget is a caller's error, refused before anything is reserved.
    await expect(again.charge('q6', [{ table: 'z', cost: eps(0.01), budget }], NOV)).rejects.toThrow(/counts its budget in rho/);
    await again.close();
  });

  it('counts a charge made in the other unit through its conversion, when a table\'s accounting changed (SPEC §10.4)', async () => {
    const ledger = await BudgetLedger.open(fresh());
    await ledger.charge('q0', [{ table: 't', cost: eps(0.5), budget: never(10) }], NOV);
    await ledger.charge('q1', [{ table: 't', cost: { unit: 'rho', amount: r(0.02) }, budget: { unit: 'rho', amount: r(1), refresh: 'never', delta: 1e-7 } }], NOV);
    // In ρ: 0.5²/2 for the pure query (pure ε-DP is ε²/2-zCDP), plus 0.02.
    expect(ledger.spent('t', { unit: 'rho', amount: r(1), refresh: 'never', delta: 1e-7 }, NOV)).toEqual(r(0.145));
    // In ε: 0.5, plus ε(0.02, 1e-7) rounded up, which lies between ρ + 2√(ρ ln(1/δ)) minus its slack and that bound.
    const inEpsilon = Number(toText(sub(ledger.spent('t', never(10), NOV), r(0.5))));
    const simple = 0.02 + 2 * Math.sqrt(0.02 * Math.log(1e7));
    expect(inEpsilon).toBeLessThanOrEqual(simple + 1e-9);
    expect(inEpsilon).toBeGreaterThan(0.75 * simple);
    await ledger.close();
  });

  it('matches a model of the budget over random charges and months, and after reopening (property)', async () => {
    const months = ['2026-10', '2026-11', '2026-12'];
    const step = fc.record({
      table: fc.constantFrom('a', 'b'),
      refresh: fc.constantFrom<'month' | 'never'>('month', 'never'),
      month: fc.integer({ min: 0, max: 2 }),
      cost: fc.integer({ min: 1, max: 6 }).map((k) => rational(BigInt(k), 4n)),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const file = fresh();
        const ledger = await BudgetLedger.open(file);
        const model: { table: string; month: number; cost: Rational }[] = [];
        const spentIn = (table: string, refresh: 'month' | 'never', month: number) =>
          model.filter((c) => c.table === table && (refresh === 'never' || c.month === month)).reduce((s, c) => add(s, c.cost), rational(0n));
        for (const [i, s] of steps.entries()) {
          const now = new Date(`${months[s.month]}-10T00:00:00Z`);
          const budget: TableBudget = { unit: 'epsilon', amount: rational(2n), refresh: s.refresh, delta: 1e-7 };
          const fits = compare(s.cost, sub(budget.amount, spentIn(s.table, s.refresh, s.month))) <= 0;
          const outcome = await ledger.charge(`q${i}`, [{ table: s.table, cost: eps(s.cost), budget }], now).then(
            () => true,
            (e: unknown) => (e as CleanroomError).code,
          );
          expect(outcome).toBe(fits ? true : 'BUDGET_EXHAUSTED');
          if (fits) model.push({ table: s.table, month: s.month, cost: s.cost });
        }
        await ledger.close();
        const again = await BudgetLedger.open(file);
        for (const table of ['a', 'b'])
          for (const [m, month] of months.entries()) {
            const now = new Date(`${month}-28T23:00:00Z`);
            expect(text(again.spent(table, monthly(1), now))).toBe(text(spentIn(table, 'month', m)));
            expect(text(again.spent(table, never(1), now))).toBe(text(spentIn(table, 'never', m)));
          }
        expect(again.entries()).toHaveLength(model.length);
        await again.close();
      }),
      { numRuns: 25 },
    );
  });
});
