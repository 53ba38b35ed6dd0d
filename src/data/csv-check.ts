import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { MAX_CSV_LINE_BYTES, MAX_KEPT_MALFORMED_LINES, MAX_TABLE_ROWS } from '../limits.js';
import type { Table } from '../manifest/schema.js';
import type { Findings } from './table-source.js';
import type { CsvDialect } from './csv-dialect.js';
import { HeaderError, linesAt, readHeader, recordLines } from './csv-lines.js';
import { NO_PROBLEMS, problemList, type DataProblem, type DataRule, type ProblemList } from './data-problem.js';
import type { FileBytes } from './file-bytes.js';
import { quoteIdent, quoteLiteral } from './sql-text.js';
import { addValueProblems, countsSql, locateBadValues, ruleChecks } from './value-check.js';

/**
 * Reads a CSV file exactly as its operator declared it: no sniffing (the whole file, not a sample, follows one
 * dialect), strict RFC 4180 records, every field text. The file's columns are named c0, c1, ... in SQL so that
 * nothing from its header reaches SQL text.
 */
function csvReader(path: string, d: CsvDialect, fields: number, options = ''): string {
  const columns = Array.from({ length: fields }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
  return (
    `read_csv(${quoteLiteral(path)}, auto_detect = false, header = ${d.header}, delim = ${quoteLiteral(d.delimiter)}, ` +
    `quote = ${quoteLiteral(d.quote)}, escape = ${quoteLiteral(d.escape)}, encoding = ${quoteLiteral(d.encoding)}, ` +
    `columns = {${columns}}, strict_mode = true, null_padding = false, skip = 0, max_line_size = ${MAX_CSV_LINE_BYTES}${options})`
  );
}

/**
 * Bytes (encoding, line length), header, structure, then every value of every manifest column; `size` is the
 * file's length and `bytes` what the pass over its bytes found.
 */
export async function checkCsv(conn: DuckDBConnection, table: Table, path: string, d: CsvDialect, size: bigint, bytes: FileBytes): Promise<Findings> {
  const problem = (p: Omit<DataProblem, 'file'>): DataProblem => ({ file: path, ...p });
  const refuse = (whole: ProblemList): Findings => ({ source: '', raw: new Map(), rows: 0n, whole, byColumn: new Map() });
  if (size === 0n) return refuse(problemList([problem({ rule: 'empty-file', detail: 'is empty: not even a header line' })]));
  if (bytes.badTotal > 0) {
    const lines = await linesAt(path, bytes.bad.map((b) => b.offset));
    const problems = bytes.bad.map((b) => problem({ line: lines.get(b.offset)!, ...(b.rule === 'encoding' ? { rule: 'encoding', detail: 'is not valid utf-8' } : { rule: 'line-too-long', detail: `is longer than ${MAX_CSV_LINE_BYTES} bytes` }) }));
    return refuse(problemList(problems, bytes.badTotal));
  }

  let names: string[];
  try {
    names = d.header ? await readHeader(path, d) : table.columns.map((c) => c.name);
  } catch (err) {
    if (!(err instanceof HeaderError)) throw err;
    return refuse(problemList([problem({ line: 1, rule: 'header', detail: err.reason === 'too-long' ? `has a header longer than ${MAX_CSV_LINE_BYTES} bytes` : 'has a header that is not a CSV record in the declared dialect' })]));
  }
  if (names.length === 0) return refuse(problemList([problem({ line: 1, rule: 'header', detail: 'has no header record' })]));
  const raw = new Map<string, string>();
  const byColumn = new Map<string, ProblemList>();
  for (const c of table.columns) {
    const at = names.flatMap((n, i) => (n === c.name ? [i] : []));
    if (at.length === 1) raw.set(c.name, quoteIdent(`c${at[0]}`));
    else byColumn.set(c.name, problemList([problem({ line: 1, column: c.name, rule: at.length === 0 ? 'missing-column' : 'duplicate-column', detail: at.length === 0 ? 'is not named in the header' : 'is named more than once in the header' })]));
  }

  const source = csvReader(path, d, names.length);
  const checks = ruleChecks(table, raw);
  let counted: DuckDBValue[];
  try {
    [counted] = (await conn.runAndReadAll(`SELECT count(*)${countsSql(checks)} FROM ${source}`)).getRows() as [DuckDBValue[]];
  } catch (err) {
    // A broken structure makes every later field doubtful: only the lines are reported, and the file is refused whole.
    return { source, raw, rows: 0n, whole: await malformedLines(conn, path, d, names.length, err), byColumn };
  }

  const rows = BigInt(counted[0] as bigint);
  const counts = counted.slice(1).map((v) => BigInt(v as bigint));
  const whole = rows > MAX_TABLE_ROWS ? problemList([problem({ rule: 'too-many-rows', detail: `has ${rows} rows; at most ${MAX_TABLE_ROWS} are supported` })]) : NO_PROBLEMS;
  const bad = await locateBadValues(conn, checks, counts, `SELECT row_number() OVER () AS ord, * FROM ${source}`);
  const lines = await recordLines(path, d, names.length, [...bad.values()].flatMap((vs) => vs.map((v) => v.ordinal)));
  addValueProblems(byColumn, path, checks, counts, bad, (ordinal) => (lines.has(ordinal) ? { line: lines.get(ordinal)! } : { row: ordinal }));
  return { source, raw, rows, whole, byColumn };
}

/**
 * Every malformed record DuckDB can find. Its strict read stops at the first; its rejects tables list the rest,
 * but each of its two readers misses some kinds (the parallel one drops an over-long record, the single-threaded
 * one stops at an unclosed quote without a word), so both run, and the strict read's own line is added if
 * neither listed it. This runs only for a file already known to be broken; the rejects tables are temporary
 * tables of the check's own connection, gone with it.
 */
async function malformedLines(conn: DuckDBConnection, path: string, d: CsvDialect, fields: number, failure: unknown): Promise<ProblemList> {
  const message = errorMessage(failure);
  const byRecord = new Map<number, { offset?: number; types: Set<string> }>();
  let kept = 0;
  for (const parallel of [true, false]) {
    const rejects = `rejects_${randomBytes(8).toString('hex')}`;
    const options = `, parallel = ${parallel}, store_rejects = true, rejects_table = '${rejects}', rejects_scan = '${rejects}_scan', rejects_limit = ${MAX_KEPT_MALFORMED_LINES}`;
    // Either pass may fail on what it cannot skip; the other pass and the strict read's own line still count.
    const found = await conn
      .run(`SELECT count(*) FROM ${csvReader(path, d, fields, options)}`)
      .then(async () => (await conn.runAndReadAll(`SELECT line, line_byte_position, error_type FROM ${rejects}`)).getRows())
      .catch(() => []);
    for (const [line, position, type] of found) {
      const entry = byRecord.get(Number(line)) ?? { types: new Set<string>() };
      entry.types.add(String(type));
      if (position !== null) entry.offset = Number(position) - 1;
      byRecord.set(Number(line), entry);
      kept++;
    }
  }
  const strict = /CSV Error on Line: (\d+)/.exec(message);
  const missed = strict !== null && !byRecord.has(Number(strict[1]));
  if (missed) byRecord.set(Number(strict[1]), { types: new Set([errorType(message)]) });
  if (byRecord.size === 0) throw failure;
  // DuckDB numbers records (the header is 1); the byte where a record starts gives its physical line.
  const header = d.header ? 1 : 0;
  const lines = await linesAt(path, [...byRecord.values()].flatMap((e) => (e.offset === undefined ? [] : [e.offset])));
  const unplaced = await recordLines(path, d, fields, [...byRecord].filter(([, e]) => e.offset === undefined).map(([record]) => record - header));
  const problems = [...byRecord].map(([record, e]) => {
    const line = e.offset !== undefined ? lines.get(e.offset) : unplaced.get(record - header);
    return { file: path, ...(line !== undefined ? { line } : { row: record - header }), ...structural([...e.types], d) };
  });
  return problemList(problems, problems.length, !missed && kept < MAX_KEPT_MALFORMED_LINES);
}

/** The rejects table's name for the kind of error a strict read stopped at. */
function errorType(message: string): string {
  if (/unterminated quote/i.test(message)) return 'UNQUOTED VALUE';
  if (/unicode|utf-8/i.test(message)) return 'INVALID ENCODING';
  if (/maximum line size/i.test(message)) return 'LINE SIZE OVER MAXIMUM';
  const columns = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(message);
  if (columns) return Number(columns[2]) > Number(columns[1]) ? 'TOO MANY COLUMNS' : 'MISSING COLUMNS';
  return 'UNKNOWN';
}

/** DuckDB's error types of one malformed line, as one rule; the first that applies names it. */
function structural(types: readonly string[], d: CsvDialect): { rule: DataRule; detail: string } {
  const of = d.header ? 'the header names' : 'the manifest declares';
  if (types.includes('LINE SIZE OVER MAXIMUM')) return { rule: 'line-too-long', detail: `is longer than ${MAX_CSV_LINE_BYTES} bytes` };
  if (types.includes('INVALID ENCODING')) return { rule: 'encoding', detail: `is not valid ${d.encoding}` };
  if (types.includes('UNQUOTED VALUE')) return { rule: 'unclosed-quote', detail: `has a quoted field whose closing quote (${d.quote}) is missing or not followed by a delimiter or line end` };
  if (types.includes('TOO MANY COLUMNS')) return { rule: 'field-count', detail: `has more fields than ${of}` };
  if (types.includes('MISSING COLUMNS')) return { rule: 'field-count', detail: `has fewer fields than ${of}` };
  return { rule: 'malformed', detail: 'is not a CSV record in the declared dialect' };
}
