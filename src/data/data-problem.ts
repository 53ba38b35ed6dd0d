import { CleanroomError, oneLine } from '../errors.js';
import { MAX_QUOTED_VALUE_CHARS, MAX_REPORTED_PROBLEMS } from '../limits.js';

/** Stable names of the rules a table file can break: the audit log and scripts match on them. */
export type DataRule =
  | 'unreadable'
  | 'unreachable'
  | 'authentication'
  | 'permission'
  | 'missing-table'
  | 'empty-file'
  | 'changed'
  | 'header'
  | 'missing-column'
  | 'duplicate-column'
  | 'column-type'
  | 'unclosed-quote'
  | 'field-count'
  | 'encoding'
  | 'line-too-long'
  | 'malformed'
  | 'too-many-rows'
  | 'integer'
  | 'decimal'
  | 'scale'
  | 'date'
  | 'timestamp'
  | 'boolean'
  | 'bounds'
  | 'values'
  | 'required';

/** One thing wrong with a table's file or database table, precise enough for its operator to find and fix it. */
export interface DataProblem {
  /** The file's path, or the database table (sourceName). */
  readonly file: string;
  /** CSV: the physical line where the record starts (the header is line 1), lines inside quoted fields counted. */
  readonly line?: number;
  /** Parquet: the row, from 1. CSV: the data record, from 1, when its line could not be told. */
  readonly row?: number;
  /** The manifest's column, when the problem is in one. */
  readonly column?: string;
  readonly rule: DataRule;
  /** What is wrong, in words that quote nothing from the file. */
  readonly detail: string;
  /** The offending value: for the node's own operator, never for the audit log or a peer. */
  readonly value?: string;
}

/** The first problems of a table (at most MAX_REPORTED_PROBLEMS, in file order) and how many there are. */
export interface ProblemList {
  readonly problems: readonly DataProblem[];
  readonly total: number;
  /** False when the file was too broken to count every problem: `total` is then a lower bound. */
  readonly exact: boolean;
}

export const NO_PROBLEMS: ProblemList = { problems: [], total: 0, exact: true };

export function problemList(problems: readonly DataProblem[], total = problems.length, exact = true): ProblemList {
  return { problems: [...problems].sort(inFileOrder).slice(0, MAX_REPORTED_PROBLEMS), total, exact };
}

export function mergeProblems(lists: readonly ProblemList[]): ProblemList {
  return problemList(
    lists.flatMap((l) => l.problems),
    lists.reduce((n, l) => n + l.total, 0),
    lists.every((l) => l.exact),
  );
}

/** `file line 12: amount "1.005" has more than 2 decimals`; without the value when `withValue` is false. */
export function describeProblem(p: DataProblem, withValue: boolean): string {
  const where = p.line !== undefined ? ` line ${p.line}` : p.row !== undefined ? ` row ${p.row}` : '';
  const value = withValue && p.value !== undefined ? ` ${quoteValue(p.value)}` : '';
  const subject = p.column === undefined ? '' : `${p.column}${value} `;
  return oneLine(`${p.file}${where}: ${subject}${p.detail}`);
}

/** Every problem listed, then "and N more": one line, as the node's log and the CLI print it. */
export function describeProblems(list: ProblemList, withValue: boolean): string {
  const more = list.total - list.problems.length;
  const tail = more > 0 ? [`and ${list.exact ? '' : 'at least '}${more} more`] : [];
  return [...list.problems.map((p) => describeProblem(p, withValue)), ...tail].join('; ');
}

/**
 * A table whose file breaks the manifest's declarations for the columns a query needs. The message quotes the
 * bad values for the operator; `problems` and `summary` quote nothing from the file, for the audit log.
 */
export class DataInvalid extends CleanroomError {
  readonly table: string;
  readonly problems: readonly DataProblem[];
  readonly total: number;
  /** With the values: a true private field, so that serialising the error (JSON, a structured log) leaves it out. */
  readonly #list: ProblemList;

  constructor(table: string, list: ProblemList, cause?: unknown) {
    super('DATA_INVALID', `table ${table}: ${describeProblems(list, true)}`, { cause });
    this.table = table;
    this.problems = list.problems.map(({ value: _value, ...rest }) => rest);
    this.total = list.total;
    this.#list = list;
  }

  /** The refusal without a single value from the file: what the audit log may keep. */
  get summary(): string {
    return `table ${this.table}: ${describeProblems(this.#list, false)}`;
  }
}

function quoteValue(v: string): string {
  return JSON.stringify(v.length > MAX_QUOTED_VALUE_CHARS ? `${v.slice(0, MAX_QUOTED_VALUE_CHARS)}…` : v);
}

function inFileOrder(a: DataProblem, b: DataProblem): number {
  return (a.line ?? a.row ?? 0) - (b.line ?? b.row ?? 0);
}
