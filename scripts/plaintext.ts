import { DuckDBInstance } from '@duckdb/node-api';

/**
 * The answer computed directly from both files in one DuckDB, as if the data had been pooled: the reference the
 * clean room must match. Written independently of the node's SQL (its own normalisation, its own semi-join).
 */
export async function plaintext(sql: string): Promise<(string | number | null)[][]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const rows = (await conn.runAndReadAll(sql)).getRowsJS();
    return rows.map((r) => r.map((v) => (v === null ? null : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : String(v))));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Email normalisation written differently from the node's: strip ASCII whitespace at both ends, then lowercase. */
export const normEmail = (col: string) => `lower(regexp_replace(${col}, '^[ \\t\\n\\r\\f\\v]+|[ \\t\\n\\r\\f\\v]+$', '', 'g'))`;

export function csv(path: string): string {
  return `read_csv('${path.replaceAll("'", "''")}', header = true, all_varchar = true)`;
}

/** Cells equal when counts and sums match exactly and averages within the reported precision. */
export function cellsAgree(ours: string | number | null, theirs: string | number | null, tolerance = 0): boolean {
  if (ours === null || theirs === null) return ours === theirs;
  if (typeof theirs === 'string' && Number.isNaN(Number(theirs))) return String(ours) === theirs;
  const diff = Math.abs(Number(ours) - Number(theirs));
  return tolerance === 0 ? String(ours) === String(theirs) || diff === 0 : diff <= tolerance;
}
