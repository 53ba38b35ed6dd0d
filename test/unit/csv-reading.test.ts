import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataInvalid } from '../../src/data/data-problem.js';
import type { FileSource } from '../../src/data/table-source.js';
import { dims, csvRows, openStore, scratchDir, side, streamedKeys, table } from './data-fixtures.js';

/**
 * Every class of malformed CSV gives either the exact answer or an error naming the file and the line: never a
 * silently wrong answer. Big files are generated here, in a temporary directory.
 */
const scratch = scratchDir('cleanroom-csv-');
afterAll(() => scratch.remove());

const HEADER = 'k,amount,n,cat\n';

/** The refusal of a file, checked whole; fails the test if the file is accepted. */
async function refusal(content: string | Buffer, source: Partial<FileSource> = {}): Promise<DataInvalid> {
  const path = scratch.file(content);
  const store = await openStore(path, scratch.cacheDir(), source);
  try {
    const err = await store.prepare(table()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataInvalid);
    expect((err as DataInvalid).message).toContain(path);
    return err as DataInvalid;
  } finally {
    store.close();
  }
}

/** COUNT and SUM(amount) per cat over every row with a key, as a federated holder's part is computed. */
async function totals(content: string | Buffer, source: Partial<FileSource> = {}) {
  const store = await openStore(scratch.file(content), scratch.cacheDir(), source);
  try {
    await store.prepare(table());
    return await store.aggregateAll(side(), dims('cat'), ['amount']);
  } finally {
    store.close();
  }
}

describe('structural errors name the file and the line', () => {
  it('an unclosed quote early in the file', async () => {
    const err = await refusal(HEADER + csvRows(100, (i) => (i === 3 ? '"u3@x.com,1.00,1,a' : undefined)));
    expect(err.problems).toEqual([expect.objectContaining({ line: 5, rule: 'unclosed-quote' })]);
  });

  it('an unclosed quote late in the file (past any sample a sniffer would read)', async () => {
    const err = await refusal(HEADER + csvRows(40_000, (i) => (i === 29_998 ? 'u1@x.com,"1.00,1,a' : undefined)));
    expect(err.problems).toEqual([expect.objectContaining({ line: 30_000, rule: 'unclosed-quote' })]);
  });

  it('ragged lines, every one of them', async () => {
    const err = await refusal(HEADER + csvRows(30_000, (i) => (i === 9 ? 'x@x.com,1.00,1,a,extra' : i === 25_000 ? 'y@x.com,1.00' : undefined)));
    expect(err.problems).toEqual([
      expect.objectContaining({ line: 11, rule: 'field-count', detail: 'has more fields than the header names' }),
      expect.objectContaining({ line: 25_002, rule: 'field-count', detail: 'has fewer fields than the header names' }),
    ]);
  });

  it('invalid UTF-8 bytes', async () => {
    const err = await refusal(Buffer.concat([Buffer.from(HEADER + csvRows(10) + '\nbad@x.com,1.00,1,'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('\n' + csvRows(5))]));
    expect(err.problems).toEqual([expect.objectContaining({ line: 12, rule: 'encoding' })]);
  });

  it('lines after a quoted field with line breaks are counted as lines, not records', async () => {
    const err = await refusal(HEADER + 'a@x.com,1.00,1,"two\nlines"\n' + csvRows(3) + '\nb@x.com,1.00,1,a,extra\n');
    expect(err.problems).toEqual([expect.objectContaining({ line: 7, rule: 'field-count' })]);
  });

  it('line ends that change within the file', async () => {
    const err = await refusal(HEADER + 'a@x.com,1.00,1,a\nb@x.com,1.00,1,"two\nlines"\r\nc@x.com,1.00,1,a\n');
    expect(err.problems).toEqual([expect.objectContaining({ line: 3, rule: 'unclosed-quote' })]);
  });

  it('one CRLF line in a file of LF lines, wherever it is: its line is named', async () => {
    for (const at of [0, 57, 998]) {
      const err = await refusal(HEADER + csvRows(1000, (i) => (i === at ? `u${i}@x.com,1.00,1,a\r` : undefined)) + '\n');
      expect(err.problems).toEqual([expect.objectContaining({ line: at + 2, rule: 'malformed', detail: expect.stringContaining('ends with CRLF where line 1 ends with LF') })]);
    }
  });

  it('an empty file', async () => {
    const err = await refusal('');
    expect(err.problems).toEqual([expect.objectContaining({ rule: 'empty-file' })]);
    expect(err.problems[0]!.line).toBeUndefined();
  });

  it('a 100 MB line: refused by its line, without reading it into memory', async () => {
    const path = join(scratch.dir, 'huge.csv');
    const fd = openSync(path, 'w');
    writeSync(fd, `${HEADER}a@x.com,1.00,1,a\nb@x.com,1.00,1,`);
    const block = Buffer.alloc(1 << 20, 'x');
    for (let i = 0; i < 100; i++) writeSync(fd, block);
    writeSync(fd, '\nc@x.com,1.00,1,a\n');
    closeSync(fd);
    const store = await openStore(path, scratch.cacheDir());
    const rss = process.memoryUsage().rss;
    const err = await store.prepare(table()).catch((e: unknown) => e);
    store.close();
    expect(err).toBeInstanceOf(DataInvalid);
    expect((err as DataInvalid).problems).toEqual([expect.objectContaining({ line: 3, rule: 'line-too-long' })]);
    // The line is never held whole: DuckDB reads in bounded buffers and csv-parse is not asked to.
    expect(process.memoryUsage().rss - rss).toBeLessThan(300 << 20);
  });
});

describe('well-formed files give the exact answer', () => {
  it('a quoted key after row 20,480 matches as the same key unquoted', async () => {
    const rows = csvRows(30_000, (i) => (i === 25_000 ? '"late@x.com",7.25,1,"c, quoted"' : i === 25_001 ? 'late@x.com,0.50,2,c' : undefined));
    const path = scratch.file(HEADER + rows);
    const store = await openStore(path, scratch.cacheDir());
    try {
      const s = side();
      const keys = await streamedKeys(store, s);
      expect(keys).toHaveLength(29_999);
      expect(keys).toContain('late@x.com');
      const groups = await store.aggregateMatched(s, dims('cat'), ['amount'], [keys.indexOf('late@x.com')]);
      expect(groups).toEqual([
        { labels: ['c'], values: [1n, 1n, 50n, 1n] },
        { labels: ['c, quoted'], values: [1n, 1n, 725n, 1n] },
      ]);
    } finally {
      store.close();
    }
  });

  it('a UTF-8 byte order mark before the header', async () => {
    expect(await totals('\ufeff' + HEADER + 'a@x.com,1.50,1,a\nb@x.com,2.00,1,b\n')).toEqual([
      { labels: ['a'], values: [1n, 1n, 150n, 1n] },
      { labels: ['b'], values: [1n, 1n, 200n, 1n] },
    ]);
  });

  it('CRLF line ends: no carriage return left in the last field', async () => {
    expect(await totals('k,amount,n,cat\r\na@x.com,1.50,1,a\r\nb@x.com,2.00,1,a\r\n')).toEqual([{ labels: ['a'], values: [2n, 2n, 350n, 2n] }]);
  });

  it('a header only: a table of no rows', async () => {
    const store = await openStore(scratch.file(HEADER), scratch.cacheDir());
    try {
      const [report] = await store.check([table()]);
      expect(report).toMatchObject({ rows: 0n, problems: { total: 0 } });
      expect(await streamedKeys(store, side())).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('the declared dialect: semicolons, a backslash escape, latin-1, extra columns ignored, columns in any order', async () => {
    const text = 'note;cat;n;amount;k\n"say \\"hi\\"";caf\xe9;1;1,5;a@x.com\nx;caf\xe9;2;2.25;b@x.com\n';
    const source = { csv: { delimiter: ';', quote: '"', escape: '\\', header: true, encoding: 'latin-1' } } as const;
    // 1,5 is not a decimal in the manifest's sense: the declared dialect says how fields split, not how numbers read.
    const err = await refusal(Buffer.from(text, 'latin1'), source);
    expect(err.problems).toEqual([expect.objectContaining({ line: 2, column: 'amount', rule: 'decimal' })]);
    expect(await totals(Buffer.from(text.replace('1,5', '1.5'), 'latin1'), source)).toEqual([{ labels: ['café'], values: [2n, 2n, 375n, 2n] }]);
  });

  it('no header: the fields are the manifest columns in order', async () => {
    expect(await totals('a@x.com,1.50,1,a\nb@x.com,2.00,1,a\n', { csv: { delimiter: ',', quote: '"', escape: '"', header: false, encoding: 'utf-8' } })).toEqual([
      { labels: ['a'], values: [2n, 2n, 350n, 2n] },
    ]);
  });
});

describe('value errors name the line, the column and the rule', () => {
  it('counting the lines of quoted fields with line breaks and blank lines before the bad value', async () => {
    const text = HEADER + 'a@x.com,1.00,1,"two\nlines"\n\nb@x.com,2.00,1,"three\nlines\n"\n\nc@x.com,12.345,1,a\n';
    const err = await refusal(text);
    expect(err.message).toMatch(/\.csv line 9: amount "12\.345" has more than 2 decimals$/);
    expect(err.problems).toEqual([{ file: expect.any(String), line: 9, column: 'amount', rule: 'scale', detail: 'has more than 2 decimals' }]);
  });

  it('the same in a file with CRLF records and LF inside fields, as spreadsheets write them', async () => {
    const text = 'k,amount,n,cat\r\na@x.com,1.00,1,"two\nlines"\r\n\r\nb@x.com,2.00,1,"three\r\nlines"\r\nc@x.com,1.00,x,a\r\n';
    const err = await refusal(text);
    expect(err.problems).toEqual([expect.objectContaining({ line: 7, column: 'n', rule: 'integer' })]);
  });

  it('reports every problem at once, in file order, the first twenty listed', async () => {
    const text = HEADER + csvRows(30_000, (i) => (i % 1000 === 0 ? `u${i}@x.com,${i}.001,1,a` : i === 15_500 ? `u${i}@x.com,1,101,a` : undefined));
    const err = await refusal(text);
    expect(err.total).toBe(31);
    expect(err.problems).toHaveLength(20);
    expect(err.problems.map((p) => p.line)).toEqual([2, 1002, 2002, 3002, 4002, 5002, 6002, 7002, 8002, 9002, 10002, 11002, 12002, 13002, 14002, 15002, 15502, 16002, 17002, 18002]);
    expect(err.problems[16]).toMatchObject({ column: 'n', rule: 'bounds' });
    expect(err.message).toMatch(/; and 11 more$/);
  });

  it('the summary for the audit log quotes no value', async () => {
    const err = await refusal(HEADER + 'a@x.com,secret-value,1,a\n');
    expect(err.message).toContain('"secret-value"');
    expect(err.summary).toMatch(/line 2: amount is not a decimal number$/);
    expect(err.summary).not.toContain('secret-value');
    expect(JSON.stringify(err)).not.toContain('secret-value');
  });
});
