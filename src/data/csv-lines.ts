import { parse, type Options } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { MAX_CSV_LINE_BYTES } from '../limits.js';
import { nodeEncoding, type CsvDialect } from './csv-dialect.js';

/**
 * What DuckDB does not tell: the header's names, and the physical line where a record starts. DuckDB numbers
 * records, not lines, so a quoted field with line breaks before a bad value would shift the line it reports;
 * csv-parse (with the same declared dialect) walks the file again to find the byte where each wanted record
 * starts. Every check reads the header; the walk runs only when a file has problems to report.
 */

function parserOptions(d: CsvDialect): Options {
  return {
    delimiter: d.delimiter,
    quote: d.quote,
    escape: d.escape,
    encoding: nodeEncoding(d),
    bom: true,
    max_record_size: MAX_CSV_LINE_BYTES,
  };
}

export class HeaderError extends Error {
  constructor(
    readonly reason: 'too-long' | 'malformed',
    options: { cause: unknown },
  ) {
    super(`header ${reason}`, options);
  }
}

/** The first record's fields, trimmed (the manifest's names never have spaces around them). */
export async function readHeader(path: string, d: CsvDialect): Promise<string[]> {
  const stream = createReadStream(path);
  const parser = stream.pipe(parse({ ...parserOptions(d), to: 1, relax_quotes: true }));
  try {
    for await (const record of parser as AsyncIterable<string[]>) return record.map((name) => name.trim());
    return [];
  } catch (err) {
    throw new HeaderError((err as { code?: string }).code === 'CSV_MAX_RECORD_SIZE' ? 'too-long' : 'malformed', { cause: err });
  } finally {
    stream.destroy();
    parser.destroy();
  }
}

/**
 * The physical line where each of the given data records starts (records from 1, after the header). DuckDB
 * skips blank lines in a file of several columns and keeps them as NULL rows in a file of one, so the walk does
 * the same. A record the walk cannot reach (csv-parse disagreeing on a broken file) is left out of the map.
 */
export async function recordLines(path: string, d: CsvDialect, columns: number, records: readonly number[]): Promise<Map<number, number>> {
  if (records.length === 0) return new Map();
  const wanted = new Set(records);
  const last = Math.max(...records);
  const starts = new Map<number, { offset: number; blankLines: number }>();
  const stream = createReadStream(path);
  const parser = stream.pipe(parse({ ...parserOptions(d), info: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: columns > 1 }));
  let index = d.header ? -1 : 0;
  // Where the previous record ended, and the blank lines skipped up to there.
  let previous = { offset: 0, blankLines: 0 };
  try {
    for await (const { info } of parser as AsyncIterable<{ info: { bytes: number; empty_lines: number } }>) {
      index++;
      if (wanted.has(index)) starts.set(index, { offset: previous.offset, blankLines: info.empty_lines - previous.blankLines });
      if (index >= last) break;
      previous = { offset: info.bytes, blankLines: info.empty_lines };
    }
  } catch {
    // The records before the one csv-parse could not read keep their lines; the rest are reported by record.
  } finally {
    stream.destroy();
    parser.destroy();
  }
  const lines = await linesAt(
    path,
    [...starts.values()].map((s) => s.offset),
  );
  return new Map([...starts].map(([record, s]) => [record, lines.get(s.offset)! + s.blankLines]));
}

/** The line (from 1) that each byte offset falls on: one plus the line feeds before it. */
export async function linesAt(path: string, offsets: readonly number[]): Promise<Map<number, number>> {
  const sorted = [...new Set(offsets)].sort((a, b) => a - b);
  const result = new Map<number, number>();
  if (sorted.length === 0) return result;
  let base = 0;
  let feeds = 0;
  let next = 0;
  const stream = createReadStream(path, { end: sorted[sorted.length - 1]! });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (let at = chunk.indexOf(10); ; at = chunk.indexOf(10, at + 1)) {
        const end = at === -1 ? base + chunk.length : base + at;
        while (next < sorted.length && sorted[next]! <= end) result.set(sorted[next++]!, feeds + 1);
        if (at === -1) break;
        feeds++;
      }
      base += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  for (; next < sorted.length; next++) result.set(sorted[next]!, feeds + 1);
  return result;
}
