import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll } from 'vitest';

/** An in-memory DuckDB for the tests of one describe block: opened before them, closed after them. */
export function inMemoryDuckDB(): { readonly conn: DuckDBConnection } {
  let db: DuckDBInstance | undefined;
  let conn: DuckDBConnection | undefined;
  beforeAll(async () => {
    db = await DuckDBInstance.create(':memory:');
    conn = await db.connect();
  });
  afterAll(() => {
    conn?.closeSync();
    db?.closeSync();
  });
  return {
    get conn(): DuckDBConnection {
      if (!conn) throw new Error('inMemoryDuckDB: used outside the tests of its describe block');
      return conn;
    },
  };
}
