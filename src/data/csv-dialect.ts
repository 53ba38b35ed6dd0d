import { z } from 'zod';

/** One printable ASCII character or a tab: what DuckDB and csv-parse both take as a delimiter, quote or escape. */
const oneChar = z.string().regex(/^[\t\x20-\x7e]$/, 'one printable ASCII character or a tab');

/**
 * How a table's CSV file is written, declared by its operator rather than guessed: a sniffer that looks at the
 * first rows only misreads a file whose later rows differ (a quoted key after row 20,480 keeps its quotes).
 */
export const CsvDialect = z
  .strictObject({
    delimiter: oneChar.default(','),
    quote: oneChar.default('"'),
    escape: oneChar.default('"'),
    /** Whether the first record names the columns; without one the fields are the manifest's columns in order. */
    header: z.boolean().default(true),
    encoding: z.enum(['utf-8', 'latin-1']).default('utf-8'),
  })
  .refine((d) => d.delimiter !== d.quote && d.delimiter !== d.escape, { message: 'the delimiter must differ from the quote and the escape' });
export type CsvDialect = z.infer<typeof CsvDialect>;

export const DEFAULT_CSV_DIALECT: CsvDialect = CsvDialect.parse({});

/** The same encoding as Node names it, for the reads that csv-parse does. */
export function nodeEncoding(d: CsvDialect): BufferEncoding {
  return d.encoding === 'utf-8' ? 'utf8' : 'latin1';
}
