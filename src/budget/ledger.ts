import { readFile, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { amountText, costIn, type BudgetUnit, type Cost, type TableBudget } from '../dp/accounting.js';
import { add, compare, fromText, rational, sub, toText, type Rational } from '../dp/rational.js';
import { CleanroomError, errorMessage } from '../errors.js';
import { dropIncompleteLine, openJournal } from '../journal/journal-file.js';

/*
 * The privacy-budget ledger: every ε (or ρ, for a table that accounts in zCDP) a node has charged to its own tables,
 * one JSON object per line (JSON Lines).
 *
 * - A charge is written and fsynced before `charge` resolves, and the node releases nothing noisy before that: a
 *   crash, even kill -9, can lose a charge only together with everything it would have paid for.
 * - The check and the reservation happen synchronously, before the first await, so two concurrent queries can never
 *   both pass the check on the same remaining budget. Lines go through a promise queue, so appends never interleave.
 * - The ledger fails closed: a reservation is never given back, not even when its write fails (the instance then
 *   refuses further charges), and a crash in the middle of a multi-table write leaves the complete lines counted.
 *   Counting too much costs utility; counting too little would cost privacy.
 * - A crash during an append can leave an incomplete final line (no trailing "\n"). Its charge was never
 *   acknowledged, so `open` truncates it and reports a warning. Any complete line that does not parse as a charge is
 *   not a crash artefact: `open` refuses the file (DATA_INVALID) rather than guess how much was spent.
 */

/** The ledger's file name inside a node directory. */
export const DEFAULT_BUDGET_FILE = 'budget.jsonl';

export type Refresh = 'month' | 'never';
export type { TableBudget };

/** One line of the file: the cost in ε or in ρ, exactly one of them. */
export type Charge = {
  readonly time: string;
  /** budgetPeriod(refresh, time) when it was charged: 'YYYY-MM' or 'all'. */
  readonly period: string;
  readonly queryId: string;
  readonly table: string;
} & ({ readonly epsilon: string } | { readonly rho: string });

/** A line's cost. */
export function costOf(c: Charge): Cost {
  return 'rho' in c ? { unit: 'rho', amount: fromText(c.rho) } : { unit: 'epsilon', amount: fromText(c.epsilon) };
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

const positive = z.string().refine(isPositiveText, 'expected a positive rational as toText writes it');
const lineBase = {
  time: z.iso.datetime(),
  period: z.union([z.literal('all'), z.string().regex(MONTH, 'expected YYYY-MM or all')]),
  queryId: z.string().min(1),
  table: z.string().min(1),
};
const ChargeLine = z
  .union([z.strictObject({ ...lineBase, epsilon: positive }), z.strictObject({ ...lineBase, rho: positive })])
  .refine((c) => c.period === 'all' || c.period === monthOf(c.time), 'period is not the month of time');

/** 'month' -> the UTC calendar month 'YYYY-MM' (budget restored on the 1st of each month, UTC); 'never' -> 'all'. */
export function budgetPeriod(refresh: Refresh, now: Date): string {
  assertRefresh(refresh, 'budgetPeriod');
  return refresh === 'never' ? 'all' : monthOf(isoTime(now, 'budgetPeriod'));
}

/** One charge as the ledger counts it: its UTC month and its cost. */
interface Spent {
  readonly month: string;
  readonly cost: Cost;
}

const ZERO = rational(0n);
const NL = 0x0a;

export class BudgetLedger {
  /** Set when `open` dropped an incomplete final line: the node should log it. */
  readonly warning: string | undefined;
  /** Charged and reserved, per table: includes charges whose write is pending or failed, so it never under-counts. */
  private readonly spend = new Map<string, Spent[]>();
  /** Charges on disk, in file order. */
  private readonly written: Charge[];
  private queue: Promise<unknown> = Promise.resolve();
  /** After a failed write or fsync the file's state is unknown; no further charges through this instance. */
  private broken: CleanroomError | undefined;
  private closed = false;

  private constructor(
    readonly file: string,
    /** Undefined for a read-only view (`read`): the CLI reading the ledger of a running node. */
    private readonly fh: FileHandle | undefined,
    charges: Charge[],
    warning: string | undefined,
  ) {
    this.written = charges;
    this.warning = warning;
    for (const c of charges) this.count(c.table, monthOf(c.time), costOf(c));
  }

  /** Opens (creating with mode 0600 if missing) and reads back every charge. */
  static async open(file: string): Promise<BudgetLedger> {
    const fh = await openJournal(file, (err) => unreadable(file, err));
    try {
      const bytes = await readAll(fh);
      const complete = bytes.lastIndexOf(NL) + 1;
      const warning = await dropIncompleteLine(fh, `budget ledger ${file}`, bytes.length, complete);
      return new BudgetLedger(file, fh, parseLines(file, bytes.subarray(0, complete)), warning);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err instanceof CleanroomError ? err : unreadable(file, err);
    }
  }

  /**
   * A read-only view for reports (`cleanroom budget`, `query --preview`) while the node may be writing: an
   * incomplete final line is left alone (the node is writing it, or will drop it at its next start).
   */
  static async read(file: string): Promise<BudgetLedger> {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new BudgetLedger(file, undefined, [], undefined);
      throw unreadable(file, err);
    }
    return new BudgetLedger(file, undefined, parseLines(file, bytes.subarray(0, bytes.lastIndexOf(NL) + 1)), undefined);
  }

  /**
   * Spent on `table` in the period `now` falls in, in the budget's unit: a charge made in the other unit (the table's
   * accounting changed with a new manifest) counts through its conversion (src/dp/accounting.ts).
   */
  spent(table: string, budget: TableBudget, now: Date = new Date()): Rational {
    assertBudget(budget, 'spent');
    const period = budgetPeriod(budget.refresh, now);
    // By the month of each charge rather than the period it was written with: a table whose refresh changed from
    // never to month still counts what it spent this month, and one changed to never counts everything.
    return (this.spend.get(table) ?? []).filter((s) => period === 'all' || s.month === period).reduce((sum, s) => add(sum, costIn(s.cost, budget.unit, budget.delta)), ZERO);
  }

  /** Never below 0. */
  remaining(table: string, budget: TableBudget, now: Date = new Date()): Rational {
    const left = sub(budget.amount, this.spent(table, budget, now));
    return left.num < 0n ? ZERO : left;
  }

  /**
   * Charges each listed table its cost, all or none, and resolves once every line is on disk. Throws
   * BUDGET_EXHAUSTED, writing nothing, if any table lacks budget.
   */
  async charge(queryId: string, charges: readonly { table: string; cost: Cost; budget: TableBudget }[], now: Date = new Date()): Promise<void> {
    if (typeof queryId !== 'string' || queryId === '') throw new TypeError('charge: queryId must be a non-empty string');
    if (!Array.isArray(charges) || charges.length === 0) throw new RangeError('charge: expected at least one table to charge');
    const time = isoTime(now, 'charge');
    const seen = new Set<string>();
    for (const c of charges) {
      if (typeof c.table !== 'string' || c.table === '') throw new TypeError('charge: table must be a non-empty string');
      // One line per table and query: a table the query reads twice is charged its whole cost once, by the caller.
      if (seen.has(c.table)) throw new RangeError(`charge: table ${c.table} is listed twice`);
      seen.add(c.table);
      assertRational(c.cost?.amount, `charge: cost of table ${c.table}`);
      if (c.cost.amount.num <= 0n) throw new RangeError(`charge: cost of table ${c.table} must be positive`);
      assertUnit(c.cost.unit, `charge: cost of table ${c.table}`);
      assertBudget(c.budget, `charge: budget of table ${c.table}`);
      if (c.cost.unit !== c.budget.unit) throw new RangeError(`charge: table ${c.table} counts its budget in ${c.budget.unit}, not ${c.cost.unit}`);
    }
    if (this.closed || !this.fh) throw new CleanroomError('INTERNAL', `budget ledger ${this.file} is ${this.fh ? 'closed' : 'open read-only'}`);
    if (this.broken) throw this.broken;

    // From here to the reservation nothing awaits: no other charge can run between the check and the reservation.
    for (const c of charges) {
      const left = this.remaining(c.table, c.budget, now);
      if (compare(c.cost.amount, left) > 0) throw exhausted(c.table, c.cost, left, c.budget, now);
    }
    const lines = charges.map((c): Charge => ({ time, period: budgetPeriod(c.budget.refresh, now), queryId, table: c.table, ...(c.cost.unit === 'rho' ? { rho: toText(c.cost.amount) } : { epsilon: toText(c.cost.amount) }) }));
    for (const c of charges) this.count(c.table, monthOf(time), c.cost);

    const run = this.queue.then(() => this.write(lines));
    this.queue = run.catch(() => {});
    await run;
  }

  /** Every charge on disk, in file order. */
  entries(): readonly Charge[] {
    return [...this.written];
  }

  /** Refuses new charges, waits for pending ones, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await this.fh?.close();
  }

  private count(table: string, month: string, cost: Cost): void {
    let s = this.spend.get(table);
    if (!s) this.spend.set(table, (s = []));
    s.push({ month, cost });
  }

  private async write(charges: Charge[]): Promise<void> {
    if (this.broken) throw this.broken;
    const bytes = Buffer.from(charges.map((c) => JSON.stringify(c) + '\n').join(''), 'utf8');
    try {
      // One write of all the query's lines (the loop only repeats after a short write), then fsync before resolving.
      const fh = this.fh!;
      for (let off = 0; off < bytes.length; ) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
      await fh.sync();
    } catch (err) {
      // Whatever reached the file stays: complete lines over-count a charge that never resolved, which is safe, and
      // an incomplete one is dropped on the next open.
      this.broken = new CleanroomError('INTERNAL', `cannot write budget ledger ${this.file}, refusing further charges: ${errorMessage(err)}`, { cause: err });
      throw this.broken;
    }
    this.written.push(...charges);
  }
}

function parseLines(file: string, bytes: Uint8Array): Charge[] {
  const charges: Charge[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let i = bytes.indexOf(NL), line = 1; i !== -1; i = bytes.indexOf(NL, start), line++) {
    let doc: unknown;
    try {
      doc = JSON.parse(decoder.decode(bytes.subarray(start, i)));
    } catch (err) {
      throw new CleanroomError('DATA_INVALID', `budget ledger ${file} line ${line} is unparsable: ${errorMessage(err)}`);
    }
    const parsed = ChargeLine.safeParse(doc);
    if (!parsed.success) throw new CleanroomError('DATA_INVALID', `budget ledger ${file} line ${line} is not a charge: ${firstIssue(parsed.error)}`);
    charges.push(parsed.data);
    start = i + 1;
  }
  return charges;
}

function exhausted(table: string, cost: Cost, left: Rational, budget: TableBudget, now: Date): CleanroomError {
  const until = budget.refresh === 'month' ? `until ${nextMonth(now)}` : 'and is never restored';
  return new CleanroomError(
    'BUDGET_EXHAUSTED',
    `table ${table}: this query costs ${amountText(cost.unit, cost.amount)}; ${toText(left)} of the budget of ${amountText(budget.unit, budget.amount)} remains ${until} (refresh: ${budget.refresh})`,
  );
}

/** The first day of the UTC month after `now`'s, 'YYYY-MM-DD'. */
function nextMonth(now: Date): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
}

/** The UTC month of an ISO time ending in Z. */
function monthOf(iso: string): string {
  return iso.slice(0, 7);
}

function isoTime(now: Date, label: string): string {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new RangeError(`${label}: now must be a valid Date`);
  const iso = now.toISOString();
  // Years outside 0000-9999 print as ±YYYYYY, which is no calendar month a line can hold.
  if (!/^\d{4}-/.test(iso)) throw new RangeError(`${label}: now must fall in the years 0000 to 9999`);
  return iso;
}

function isPositiveText(s: string): boolean {
  if (!/^(\d+(\.\d+)?|\d+\/\d+)$/.test(s)) return false;
  try {
    return fromText(s).num > 0n;
  } catch {
    return false; // a zero denominator
  }
}

function assertRefresh(refresh: Refresh, label: string): void {
  if (refresh !== 'month' && refresh !== 'never') throw new RangeError(`${label}: refresh must be 'month' or 'never'`);
}

function assertRational(r: Rational, label: string): void {
  if (typeof r?.num !== 'bigint' || typeof r.den !== 'bigint' || r.den <= 0n) throw new TypeError(`${label} must be a Rational`);
  if (r.num < 0n) throw new RangeError(`${label} must not be negative`);
}

function assertUnit(unit: BudgetUnit, label: string): void {
  if (unit !== 'epsilon' && unit !== 'rho') throw new RangeError(`${label}: unit must be 'epsilon' or 'rho'`);
}

function assertBudget(budget: TableBudget, label: string): void {
  assertRational(budget?.amount, `${label}: amount`);
  assertUnit(budget.unit, label);
  assertRefresh(budget.refresh, label);
  if (!(budget.delta > 0 && budget.delta < 1)) throw new RangeError(`${label}: delta must be in (0, 1)`);
}

async function readAll(fh: FileHandle): Promise<Buffer> {
  const size = (await fh.stat()).size;
  const buf = Buffer.alloc(size);
  for (let off = 0; off < size; ) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) throw new Error('short read');
    off += bytesRead;
  }
  return buf;
}

function firstIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  return issue ? `${issue.path.join('.') || '(line)'}: ${issue.message}` : 'invalid';
}

function unreadable(file: string, err: unknown): CleanroomError {
  return new CleanroomError('DATA_INVALID', `cannot read budget ledger ${file}: ${errorMessage(err)}`, { cause: err });
}
