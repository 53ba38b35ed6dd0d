import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { MAX_CSV_LINE_BYTES, MAX_REPORTED_PROBLEMS } from '../limits.js';

/** A line that must never reach DuckDB, by the byte where it starts. */
export interface BadLine {
  readonly offset: number;
  readonly rule: 'encoding' | 'line-too-long';
}

export interface FileBytes {
  /** The first bad lines (MAX_REPORTED_PROBLEMS at most) and how many there are. */
  readonly bad: readonly BadLine[];
  readonly badTotal: number;
  /**
   * The first line (from 1) that ends otherwise than line 1 (CRLF against LF), if any: DuckDB reads such a file
   * as no CSV at all and says nowhere why. Only a hint for naming the line; a quoted line break counts too.
   */
  readonly mixedLineEnd?: { readonly line: number; readonly ends: 'CRLF' | 'LF'; readonly first: 'CRLF' | 'LF' };
}

/**
 * One pass over a CSV file's bytes: the lines DuckDB must not read. DuckDB 1.5 fails
 * with an internal error on invalid UTF-8 in a column a query reads, and that error invalidates the whole
 * database; an over-long line is one that its parallel reader cannot read. Lines are checked in blocks that end
 * at a line feed, which is never part of a multi-byte character, so the check is exact and costs one native call
 * per block; only a block that fails is split into its lines. `utf8` false (latin-1) leaves out the encoding check.
 */
export async function scanFile(path: string, utf8: boolean): Promise<FileBytes> {
  const bad: BadLine[] = [];
  let badTotal = 0;
  const found = (offset: number, rule: BadLine['rule']) => {
    if (bad.length < MAX_REPORTED_PROBLEMS) bad.push({ offset, rule });
    badTotal++;
  };
  const checkLines = (block: Buffer, at: number) => {
    if (!utf8 || isUtf8(block)) return;
    for (let start = 0; start < block.length; ) {
      const end = block.indexOf(10, start);
      const stop = end === -1 ? block.length : end + 1;
      if (!isUtf8(block.subarray(start, stop))) found(at + start, 'encoding');
      start = stop;
    }
  };
  let lines = 0;
  let before = -1;
  let first: 'CRLF' | 'LF' | undefined;
  let mixedLineEnd: FileBytes['mixedLineEnd'];
  const lineEnds = (chunk: Buffer) => {
    for (let at = chunk.indexOf(10); at !== -1 && !mixedLineEnd; at = chunk.indexOf(10, at + 1)) {
      lines++;
      const ends = (at > 0 ? chunk[at - 1] : before) === 13 ? 'CRLF' : 'LF';
      first ??= ends;
      if (ends !== first) mixedLineEnd = { line: lines, ends, first };
    }
    before = chunk.length > 0 ? chunk[chunk.length - 1]! : before;
  };
  // The unfinished last line of what was read so far, from byte `lineStart`; an over-long one is skipped to its end.
  let carry = Buffer.alloc(0);
  let lineStart = 0;
  let skipping = false;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    if (!mixedLineEnd) lineEnds(chunk);
    let data = chunk;
    if (skipping) {
      const end = data.indexOf(10);
      if (end === -1) {
        lineStart += data.length;
        continue;
      }
      lineStart += end + 1;
      data = data.subarray(end + 1);
      skipping = false;
    }
    const joined = carry.length > 0 ? Buffer.concat([carry, data]) : data;
    const complete = joined.lastIndexOf(10) + 1;
    checkLines(joined.subarray(0, complete), lineStart);
    lineStart += complete;
    carry = Buffer.from(joined.subarray(complete));
    if (carry.length > MAX_CSV_LINE_BYTES) {
      found(lineStart, 'line-too-long');
      lineStart += carry.length;
      carry = Buffer.alloc(0);
      skipping = true;
    }
  }
  if (!skipping) checkLines(carry, lineStart);
  return { bad, badTotal, ...(mixedLineEnd ? { mixedLineEnd } : {}) };
}
