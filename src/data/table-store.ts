import { randomBytes } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cell, GroupAggregate } from '../query/result.js';
import { DuckDBConnection, DuckDBInstance, type DuckDBDateValue, type DuckDBTimestampValue, type DuckDBValue } from '@duckdb/node-api';
import { CleanroomError, errorMessage } from '../errors.js';
import type { Column, JoinKeySpec, Table } from '../manifest/schema.js';
import { dateText, timestampText } from '../manifest/time-value.js';
import type { Condition, Dimension, Literal } from '../query/ast.js';
import { dimensionColumns, dimensionTable } from '../query/dimension.js';
import { columnsOf } from '../query/condition.js';
import { vectorColumns, vectorSelectSql, type VectorShape } from '../query/group-vector.js';
import { alternativesOf, interleaveLabels, sideKey, type PartnerGroups, type TableSide } from '../query/plan.js';
import type { CheckedTable } from './checked-table.js';
import { sourceName, type TableSource } from './table-source.js';
import { DataInvalid, problemList } from './data-problem.js';
import { FileReader } from './file-reader.js';
import { HASH_BYTES, HASH_WORDS, HashCache, type CacheLease, type KeyHasher } from './hash-cache.js';
import { PostgresReader } from './postgres-reader.js';
import { changedDuringQuery, type ReaderHost, type TableReader, type TableReport } from './table-reader.js';
import { dimensionSql } from './dimension-sql.js';
import { conditionSql, duckdbLiteralSql, duckdbPredicateSql } from './filter-sql.js';
import { alternativeColumn, sideKeySql } from './normalize.js';
import { quoteIdent } from './sql-text.js';

/**
 * DuckDB runs beside the crypto workers: two threads are plenty for scans of local files, and the memory cap keeps
 * a node within its budget whatever the table size. Beyond it DuckDB spills to `spill` in the cache directory: what
 * it writes there is table data, so it goes where the owner-only hash cache is, never to the working directory.
 * 384 MB: the distinct keys of 10M rows need it (under 256 MB DuckDB fails to allocate a block of its hash table it
 * cannot spill; 3M rows fail under 128 MB), and they took the process to 569 MiB against 726 MiB under 512 MB.
 */
const duckdbSettings = (cacheDir: string) => ({ threads: '2', memory_limit: '384MB', temp_directory: join(cacheDir, 'spill') });

/**
 * The node's DuckDB, in UTC: a TIMESTAMP WITH TIME ZONE of a Parquet file is written out in the TimeZone setting, which
 * is otherwise the machine's. The setting belongs to the built-in ICU extension, loaded only once the database is,
 * so it is set on the database (GLOBAL: every connection) rather than among the settings it is created with.
 */
/**
 * DuckDB creates its temp_directory but not the directories above it: without them, a table too large for the memory
 * cap fails to read as soon as DuckDB must spill (found at 10M rows). The cache directory may be deleted at any time
 * (README), so every key set makes sure of it again.
 */
async function ensureSpillDirectory(cacheDir: string): Promise<void> {
  await mkdir(join(cacheDir, 'spill'), { recursive: true, mode: 0o700 });
  await chmod(cacheDir, 0o700);
}

async function openDuckDB(cacheDir: string): Promise<DuckDBInstance> {
  await ensureSpillDirectory(cacheDir);
  const db = await DuckDBInstance.create(':memory:', duckdbSettings(cacheDir));
  const conn = await db.connect();
  try {
    await conn.run("SET GLOBAL TimeZone = 'UTC'");
  } finally {
    conn.closeSync();
  }
  return db;
}

export type { TableReport } from './table-reader.js';

/** Matched indices appended to DuckDB between two turns of the event loop: a few milliseconds' work. */
const APPEND_ROWS_PER_TURN = 16_384;


/** The columns a query reads from one side: what decides whether the side's data can serve it. */
export function usedColumns(side: TableSide, groupBy: readonly Dimension[] = [], columns: readonly string[] | VectorShape = []): string[] {
  const grouped = groupBy.flatMap(dimensionColumns).map((c) => c.column);
  return [...new Set([...sideKey(side).columns.map((k) => k.column), ...side.filters.flatMap(columnsOf), ...grouped, ...vectorColumns(shapeOf(columns))])];
}

/** The group vector's shape: the summed columns alone, or the whole shape (summed and counted columns). */
function shapeOf(columns: readonly string[] | VectorShape): VectorShape {
  return Array.isArray(columns) ? { sumColumns: columns } : (columns as VectorShape);
}

/**
 * Every column a query reads from `side`: its GROUP BY dimensions' (the partner's too, SPEC §4.6) besides keys and
 * filters, and the aggregated side's sums.
 */
export function columnsRead(plan: { readonly aggregator: TableSide; readonly groupBy: readonly Dimension[] } & VectorShape, side: TableSide): string[] {
  const grouped = plan.groupBy.filter((d) => dimensionTable(d) === side.table.name);
  return usedColumns(side, grouped, side === plan.aggregator ? plan : []);
}

/** SPEC §4.6: the partner's key set, cut by the labels of its GROUP BY dimensions. */
export interface KeyParts {
  readonly dimensions: readonly Dimension[];
  /** Part i holds the keys of the rows whose dimensions' labels are `labels[i]`. */
  readonly labels: readonly (readonly Cell[])[];
  /** Under a privacy policy: each key keeps at most this many of its parts, drawn at random. */
  readonly perKey?: number;
}

/** One batch of a key stream: H(k) of keys of one part (0 when the set is not cut in parts). */
export interface HashedBatch {
  readonly part: number;
  readonly points: Uint8Array;
}

/** P's matched keys when the partner's set came in parts (SPEC §4.6): key index `indices[i]` is in part `parts[i]`. */
export interface PartMatches {
  readonly indices: readonly number[];
  readonly parts: readonly number[];
}

/**
 * The node's own tables, read through DuckDB. Filters and per-group aggregation run as SQL here; only H(k) of
 * the keys (into the local crypto) and per-group integers leave this module. Each table's source is a TableReader
 * (src/data/table-reader.ts: a file, src/data/file-reader.ts, or a PostgreSQL table, src/data/postgres-reader.ts)
 * that gives a checked version of the table; what is common is here: the key stream and its hash cache, and the
 * aggregate SQL, run through subqueries on connections of their own, so that concurrent queries share neither a
 * pending result nor a catalog object.
 */
export class TableStore {
  private readonly cache: HashCache;
  /** Each table's source, by table name. */
  private readonly readers: ReadonlyMap<string, TableReader>;
  /** The file version (stamp) each query side's keys were streamed from: `matched` indexes that version's key order. */
  private readonly streamed = new WeakMap<TableSide, string>();
  /**
   * The random order each query side's keys were streamed in (a fresh salt per query, kept here): a key's position
   * in one query says nothing of its position in another, so positions cannot serve as pseudonyms (SPEC §4.2).
   */
  private readonly orders = new WeakMap<TableSide, string>();
  /**
   * A query side's distinct keys, counted before the query was proposed (`distinctKeys`) and kept for its key stream:
   * a temporary table of its own connection, so the count costs no second pass over the table.
   */
  private readonly keySets = new Map<TableSide, Promise<KeySet>>();
  /**
   * Counts running on a side's key set: `release` closes its connection only after them. Closing a DuckDB connection
   * under a running query corrupted the process's heap (a fuzzed query that failed while the driver counted its keys).
   */
  private readonly counting = new Map<TableSide, Promise<unknown>>();

  private constructor(
    private db: DuckDBInstance,
    private readonly sources: ReadonlyMap<string, TableSource>,
    private readonly cacheDir: string,
  ) {
    this.cache = new HashCache(cacheDir);
    const host: ReaderHost = { db: () => this.db, survive: (err) => this.survive(err), dropTable: (name) => this.dropTable(name) };
    this.readers = new Map([...sources].map(([name, src]) => [name, src.kind === 'postgres' ? new PostgresReader(host, src) : new FileReader(host, src)]));
  }

  static async open(sources: Record<string, TableSource>, cacheDir: string): Promise<TableStore> {
    return new TableStore(await openDuckDB(cacheDir), new Map(Object.entries(sources)), cacheDir);
  }

  close(): void {
    this.db.closeSync();
  }

  /** Checks every row of each table's file against the manifest's declarations, and reports every problem found. */
  async check(tables: readonly Table[]): Promise<TableReport[]> {
    return Promise.all(
      tables.map(async (table) => {
        const file = sourceName(this.source(table));
        try {
          return await this.reader(table).check(table);
        } catch (err) {
          if (!(err instanceof DataInvalid)) throw err;
          return { table: table.name, file, problems: problemList(err.problems, err.total) };
        }
      }),
    );
  }

  /**
   * Makes sure the table's current file can serve a query that reads `columns`: its version is checked (once per
   * version), and a problem in one of those columns, or in the file's structure, refuses the query (a database
   * table: its schema; the rows are checked as a query reads them).
   */
  async prepare(table: Table, columns: readonly string[] = table.columns.map((c) => c.name)): Promise<void> {
    await this.reader(table).prepare(table, columns);
  }

  /** Ends a query side: drops its counted key set and the snapshot it read, if its table is in a database. Idempotent. */
  async release(side: TableSide): Promise<void> {
    const counted = this.keySets.get(side);
    this.keySets.delete(side);
    const counts = this.counting.get(side);
    this.counting.delete(side);
    await counts;
    if (counted) await counted.then(({ conn }) => conn.closeSync(), () => {});
    await this.readers.get(side.table.name)?.release(side);
  }

  /**
   * H(k) of the distinct normalised keys of the filtered table, in batches, in a random order drawn for this query
   * side (which `aggregateMatched` refers to by index). The hashes come from the table's hash cache, built first if
   * the table changed since it was last hashed. NULL and empty keys never take part.
   */
  async *hashedKeys(side: TableSide, hasher: KeyHasher, batchSize: number, columns: readonly string[] = usedColumns(side)): AsyncGenerator<Uint8Array> {
    for await (const batch of this.hashedStream(side, hasher, batchSize, columns)) yield batch.points;
  }

  /**
   * The key stream of `hashedKeys`, in batches tagged with their part: with `parts` (SPEC §4.6), H(k) of each distinct
   * (key, part) of the filtered table, part i holding the keys of the rows labelled `parts.labels[i]` (a row whose
   * labels are none of them is in no part), in batches of one part each, parts in order, each in a random order drawn
   * for this query side. `columns` includes the dimensions'.
   */
  hashedPartKeys(side: TableSide, parts: KeyParts | undefined, hasher: KeyHasher, batchSize: number, columns: readonly string[]): AsyncGenerator<HashedBatch> {
    return this.hashedStream(side, hasher, batchSize, columns, parts);
  }

  private async *hashedStream(side: TableSide, hasher: KeyHasher, batchSize: number, columns: readonly string[], parts?: KeyParts): AsyncGenerator<HashedBatch> {
    // The side's keys are a temporary table of `conn`, never an object of the shared catalog, which queries running
    // at once would contend for; counted before the proposal, they are that table already. New hashes are written on
    // `writer` while the missing keys stream from `conn`: a query on a connection ends the result still streaming on it.
    const counted = this.keySets.get(side);
    this.keySets.delete(side);
    const { conn, keys, checked } = await (counted ?? this.keySet(side, columns));
    const writer = await this.db.connect();
    let lease: CacheLease | undefined;
    try {
      lease = await this.cache.lookup(conn, writer, keys, hasher);
      const order = randomBytes(16).toString('hex');
      this.orders.set(side, order);
      const { sql, params } = parts ? partKeysSql(side, checked.relation(columns), parts) : { sql: `SELECT 0 AS part, nk FROM ${keys}`, params: [] };
      params.push(order);
      // One row per key however many cache files hold it: a cache deleted while a fill ran (hash-cache.ts, vanished)
      // can end up with a key in two files, and a key streamed twice would shift every index `aggregateMatched` reads.
      const result = await conn.stream(
        `SELECT f.part, ${HASH_WORDS.map((w) => `any_value(c.${w}) AS ${w}`).join(', ')} FROM (${sql}) f LEFT JOIN ${lease.relation} c ON f.nk = c.nk GROUP BY f.part, f.nk ORDER BY f.part, ${saltedOrder('f.nk', params.length)}`,
        params,
      );
      let batch = new Uint8Array(batchSize * HASH_BYTES);
      let view = new DataView(batch.buffer);
      let n = 0;
      let part = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const partColumn = chunk.getColumnVector(0);
        const words = HASH_WORDS.map((_, w) => chunk.getColumnVector(1 + w));
        for (let i = 0; i < chunk.rowCount; i++) {
          const at = Number(partColumn.getItem(i) as number);
          if (at !== part && n > 0) {
            yield { part, points: batch.subarray(0, n * HASH_BYTES) };
            batch = new Uint8Array(batchSize * HASH_BYTES);
            view = new DataView(batch.buffer);
            n = 0;
          }
          part = at;
          for (let w = 0; w < words.length; w++) {
            const word = words[w]!.getItem(i) as bigint | null;
            // Every key of the table is in its cache; a miss means the file changed under us during the query.
            if (word === null) throw changedDuringQuery(checked);
            view.setBigUint64(n * HASH_BYTES + w * 8, word, true);
          }
          if (++n === batchSize) {
            yield { part, points: batch };
            batch = new Uint8Array(batchSize * HASH_BYTES);
            view = new DataView(batch.buffer);
            n = 0;
          }
        }
      }
      await this.unchanged(checked);
      this.streamed.set(side, checked.stamp);
      if (n > 0) yield { part, points: batch.subarray(0, n * HASH_BYTES) };
    } catch (err) {
      throw await this.failure(side.table, columns, err);
    } finally {
      lease?.release();
      writer.closeSync();
      conn.closeSync();
    }
  }

  /**
   * Fills the hash cache with H(k) of every distinct key of one join key of `table`, unfiltered, before any query
   * needs them, in one pass over the keys still missing, which a query that must fill its own keys interrupts (the
   * pass goes on after it) and `stopped` ends early. Reports as it goes how many of the keys are in the cache;
   * resolves with their number.
   */
  async warm(table: Table, key: JoinKeySpec, hasher: KeyHasher, onProgress: (done: number, total: number) => void, stopped: () => boolean): Promise<number> {
    const side: TableSide = { table, filters: [], key: { columns: [key], combine: 'and' } };
    const columns = usedColumns(side);
    const { conn, keys } = await this.keySet(side, columns);
    const writer = await this.db.connect();
    try {
      const total = Number(((await conn.runAndReadAll(`SELECT count(*) FROM ${keys}`)).getRows()[0]![0] as bigint));
      let done = 0;
      const background = {
        onMissing: (missing: number) => onProgress((done = total - missing), total),
        onHashed: (hashed: number) => onProgress((done = Math.min(total, done + hashed)), total),
        stopped,
      };
      (await this.cache.lookup(conn, writer, keys, hasher, background)).release();
      return total;
    } catch (err) {
      throw await this.failure(table, columns, err);
    } finally {
      writer.closeSync();
      conn.closeSync();
      await this.release(side);
    }
  }

  /**
   * How many distinct normalised keys the filtered table holds: a querier's check of its own padded set before it
   * dials anyone (src/session/probe-guard.ts). Reads the same version (or database snapshot) the query then streams.
   */
  async distinctKeys(side: TableSide, columns: readonly string[] = usedColumns(side)): Promise<number> {
    let set = this.keySets.get(side);
    if (!set) {
      set = this.keySet(side, columns);
      set.catch(() => {});
      this.keySets.set(side, set);
    }
    const count = set.then(({ conn, keys }) => conn.runAndReadAll(`SELECT count(*) FROM ${keys}`));
    this.counting.set(side, Promise.allSettled([this.counting.get(side), count]));
    return Number((await count).getRows()[0]![0] as bigint);
  }

  /** The distinct normalised keys of a side's filtered table, in a temporary table of a connection of their own. */
  private async keySet(side: TableSide, columns: readonly string[]): Promise<KeySet> {
    await ensureSpillDirectory(this.cacheDir);
    const checked = await this.read(side, columns);
    const conn = await this.db.connect();
    const keys = quoteIdent(`side_keys_${randomBytes(8).toString('hex')}`);
    try {
      const { sql, params } = keySetSql(side, checked.relation(usedColumns(side)));
      await conn.run(`CREATE TEMP TABLE ${keys} AS ${distinctKeysSql(side, sql)}`, params);
      return { conn, keys, checked };
    } catch (err) {
      conn.closeSync();
      throw await this.failure(side.table, columns, err);
    }
  }

  /**
   * Per-group aggregates over the filtered rows whose key matched (a semi-join: a row counts once however often
   * its key appears on the other side). `matched` holds indices into the key order of `hashedKeys`, so the keys
   * themselves never sit in the JS heap. Groups come sorted by their labels.
   */
  async aggregateMatched(
    side: TableSide,
    groupBy: readonly Dimension[],
    sumColumns: readonly string[] | VectorShape,
    matched: readonly number[] | PartMatches,
    maxRowsPerKey?: number,
    partner?: PartnerGroups,
  ): Promise<GroupAggregate[]> {
    assertRowCap(maxRowsPerKey);
    const order = this.orders.get(side);
    if (order === undefined) throw new CleanroomError('INTERNAL', 'matched keys of a query side whose keys were never streamed');
    const indices = 'indices' in matched ? matched.indices : matched;
    const parts = 'parts' in matched ? matched.parts : undefined;
    if ((parts === undefined) !== (partner === undefined)) throw new CleanroomError('INTERNAL', 'matched parts without the partner\'s groups, or the groups without parts');
    return this.using(side, groupBy, sumColumns, async (conn, relation, checked) => {
      // Indices into another version's key order would pick other rows: a silently wrong answer.
      const keyed = this.streamed.get(side);
      if (keyed !== undefined && keyed !== checked.stamp) throw changedDuringQuery(checked);
      // A temporary table belongs to its connection: queries at once each have their own.
      await conn.run('CREATE TEMP TABLE matched (i BIGINT, part INTEGER)');
      const appender = await conn.createAppender('matched');
      for (let at = 0; at < indices.length; at++) {
        appender.appendBigInt(BigInt(indices[at]!));
        appender.appendInteger(parts?.[at] ?? 0);
        appender.endRow();
        // Millions of matches take seconds to append: the session's keepalives and messages go on meanwhile.
        if ((at + 1) % APPEND_ROWS_PER_TURN === 0) await new Promise((r) => setImmediate(r));
      }
      appender.closeSync();
      const { sql, params } = keySetSql(side, relation);
      const hits = `SELECT k.nk, m.part FROM (SELECT nk, row_number() OVER (ORDER BY ${saltedOrder('nk', params.length + 1)}) - 1 AS i FROM (${distinctKeysSql(side, sql)})) k JOIN matched m ON k.i = m.i`;
      const groups = await aggregate(conn, side, relation, groupBy, sumColumns, hits, maxRowsPerKey, order, partner !== undefined);
      if (!partner) return groups;
      // The part comes last among the labels: it stands for the partner's labels, at their GROUP BY positions.
      const width = groupBy.length + partner.positions.length;
      return groups.map((g) => ({ labels: interleaveLabels(g.labels.slice(0, -1), partner.labels[Number(g.labels.at(-1))]!, partner.positions, width), values: g.values }));
    });
  }

  /** Per-group aggregates over every filtered row with a key: one holder's part of a federated table. */
  async aggregateAll(side: TableSide, groupBy: readonly Dimension[], sumColumns: readonly string[] | VectorShape, maxRowsPerKey?: number): Promise<GroupAggregate[]> {
    assertRowCap(maxRowsPerKey);
    return this.using(side, groupBy, sumColumns, (conn, relation) => aggregate(conn, side, relation, groupBy, sumColumns, undefined, maxRowsPerKey));
  }

  private source(table: Table): TableSource {
    const src = this.sources.get(table.name);
    if (!src) throw new CleanroomError('CONFIG_INVALID', `this node's config maps no file or database to its table ${table.name}`);
    return src;
  }

  private reader(table: Table): TableReader {
    this.source(table);
    return this.readers.get(table.name)!;
  }

  /** The version of the table a query side reads, checked for `columns` (its source's, src/data/table-reader.ts). */
  private async read(side: TableSide, columns: readonly string[]): Promise<CheckedTable> {
    return this.reader(side.table).read(side, columns);
  }

  private async dropTable(name: string): Promise<void> {
    const conn = await this.db.connect();
    try {
      await conn.run(`DROP TABLE IF EXISTS ${quoteIdent(name)}`);
    } catch {
      // A database replaced after an internal error (survive) took the table with it.
    } finally {
      conn.closeSync();
    }
  }

  /** Runs `f` on a connection of its own, over the side's table as the query reads it, all of one file version. */
  private async using<T>(side: TableSide, groupBy: readonly Dimension[], sumColumns: readonly string[] | VectorShape, f: (conn: DuckDBConnection, relation: string, checked: CheckedTable) => Promise<T>): Promise<T> {
    const columns = usedColumns(side, groupBy, sumColumns);
    const checked = await this.read(side, columns);
    const conn = await this.db.connect();
    try {
      const result = await f(conn, checked.relation(columns), checked);
      await this.unchanged(checked);
      return result;
    } catch (err) {
      throw await this.failure(side.table, columns, err);
    } finally {
      conn.closeSync();
    }
  }

  /** A query read the table as `checked` found it only if it is still that version once the query is done. */
  private async unchanged(checked: CheckedTable): Promise<void> {
    return this.reader(checked.table).unchanged(checked);
  }

  /** A read failed: what it means for the operator, as the table's source says (a file is checked again). */
  private async failure(table: Table, columns: readonly string[], err: unknown): Promise<CleanroomError> {
    if (err instanceof CleanroomError) return err;
    await this.survive(err);
    return this.reader(table).failure(table, columns, err);
  }

  /**
   * DuckDB 1.5 invalidates its whole database on an internal error (one that invalid UTF-8 reaching a query
   * triggers), and refuses every query after it. The database holds nothing but per-query temporary tables, so
   * a fresh one keeps the node serving; queries still running on the old one fail as they would have anyway.
   */
  private async survive(err: unknown): Promise<void> {
    const cause = err instanceof CleanroomError && err.cause !== undefined ? err.cause : err;
    if (/^INTERNAL Error|database has been invalidated/m.test(errorMessage(cause))) this.db = await openDuckDB(this.cacheDir);
  }
}

/** The order of a query's keys: by SHA-256 of the query's salt and the key (the key itself breaks ties), as SQL. */
function saltedOrder(key: string, saltParam: number): string {
  return `sha256(CAST($${saltParam} AS VARCHAR) || ${key}), ${key}`;
}

/** Checked before any read: a bad cap is the caller's bug, not a problem of the table. */
function assertRowCap(maxRowsPerKey: number | undefined): void {
  if (maxRowsPerKey !== undefined && !(Number.isSafeInteger(maxRowsPerKey) && maxRowsPerKey >= 1)) throw new RangeError(`aggregate: maxRowsPerKey must be a positive integer, got ${maxRowsPerKey}`);
}

interface KeySet {
  readonly conn: DuckDBConnection;
  /** The temporary table of `conn` holding the distinct `nk`. */
  readonly keys: string;
  readonly checked: CheckedTable;
}

/**
 * The group vector (src/query/group-vector.ts) of each group of the filtered rows meeting `where`. With
 * `maxRowsPerKey` (a DP query, SPEC §10.2), each key keeps at most that many of those rows, picked at random anew for
 * every query, so that one person's contribution is bounded whatever the table holds.
 */
async function aggregate(
  conn: DuckDBConnection,
  side: TableSide,
  relation: string,
  groupBy: readonly Dimension[],
  sumColumns: readonly string[] | VectorShape,
  /** The matched keys, as SQL of (nk, part); every filtered row with a key when undefined. */
  hits: string | undefined,
  maxRowsPerKey?: number,
  /** The salt `hits` orders keys by, bound after the filters' literals (the same ones `hits` was built with). */
  order?: string,
  /** SPEC §4.6: a row counts once in each part its key matched in, the part grouped last (a label of its own). */
  byPart = false,
): Promise<GroupAggregate[]> {
  const { sql, params, bind } = keySetSql(side, relation);
  if (order !== undefined) params.push(order);
  const dims = groupBy.map((d) => dimensionSql(d, side.table, bind));
  const grouped = byPart ? [...dims, PART] : dims;
  // An aggregate's CASE conditions are written as the filters are, their literals bound after the others.
  const column = (name: string) => side.table.columns.find((c) => c.name === name)!;
  const condition = (c: Condition) => conditionSql(c, (p) => duckdbPredicateSql(p, column(p.column.column), (lit) => bind(lit, column(p.column.column))));
  const select = [...grouped, ...vectorSelectSql(side.table, shapeOf(sumColumns), 'nk', quoteIdent, condition)].join(', ');
  const grouping = grouped.length > 0 ? ` GROUP BY ${grouped.join(', ')} ORDER BY ${grouped.map((d) => `${d} NULLS LAST`).join(', ')}` : '';
  // The cap keeps a person's rows before they are counted in each part: each row then moves perKey parts at most.
  const cap = maxRowsPerKey === undefined ? '' : ` QUALIFY row_number() OVER (PARTITION BY nk ORDER BY random()) <= ${maxRowsPerKey}`;
  const rows_ = hits === undefined ? `SELECT * FROM (${sql}) s${cap}` : `SELECT * FROM (${sql}) s WHERE ${matchedSql(side, hits)}${cap}`;
  const from = byPart ? `(SELECT r.*, h.part AS ${PART} FROM (${rows_}) r JOIN (${hits}) h ON r.nk = h.nk)` : `(${rows_})`;
  const rows = (await conn.runAndReadAll(`SELECT ${select} FROM ${from}${grouping}`, params)).getRows();
  return rows.map((r) => ({
    labels: r.slice(0, grouped.length).map((v, i) => (i < dims.length ? dimensionLabel(v, groupBy[i]!, side.table) : Number(v as number))),
    values: r.slice(grouped.length).map((v) => BigInt(v as bigint)),
  }));
}

/** The column holding a row's part of the partner's set (SPEC §4.6): a name no manifest column can have (schema.ts). */
const PART = '"cleanroom part"';

/**
 * SPEC §4.6: the distinct (nk, part) of a side's filtered rows, part i holding the rows whose dimensions' labels are
 * `labels[i]`, matched as DuckDB writes each label as text (time-value.ts writes days and instants the same way). Under
 * a policy a key keeps `perKey` of its parts, drawn at random.
 */
function partKeysSql(side: TableSide, relation: string, parts: KeyParts): { sql: string; params: DuckDBValue[] } {
  // The planner refuses parts with alternative keys: a row would be in a part once per alternative.
  if (alternativesOf(side) > 1) throw new CleanroomError('INTERNAL', 'the partner\'s parts of a join on alternative keys');
  const { sql, params, bind } = keySetSql(side, relation);
  const dims = parts.dimensions.map((d) => dimensionSql(d, side.table, bind));
  const label = (v: Cell) => {
    if (v === null) return 'NULL';
    params.push(String(v));
    return `$${params.length}`;
  };
  const values = parts.labels.map((l, i) => `(${i}, ${l.map(label).join(', ')})`).join(', ');
  // Names no manifest column can have: the dimensions' SQL names the table's columns unqualified.
  const names = dims.map((_, i) => `"cleanroom label ${i}"`);
  const on = dims.map((d, i) => `CAST(${d} AS VARCHAR) IS NOT DISTINCT FROM CAST(l.${names[i]} AS VARCHAR)`).join(' AND ');
  const distinct = `SELECT DISTINCT nk, l.${PART} AS part FROM (${sql}) r JOIN (VALUES ${values}) l(${PART}, ${names.join(', ')}) ON ${on}`;
  const cap = parts.perKey === undefined ? '' : ` QUALIFY row_number() OVER (PARTITION BY nk ORDER BY random()) <= ${parts.perKey}`;
  return { sql: `SELECT * FROM (${distinct})${cap}`, params };
}

/** The filtered rows with their normalised key `nk`, as parameterised SQL: literals never enter the SQL text. */
function keySetSql(side: TableSide, relation: string): { sql: string; params: DuckDBValue[]; bind: (lit: Literal, c: Column) => string } {
  const params: DuckDBValue[] = [];
  const bind = (lit: Literal, c: Column): string => {
    params.push(lit.value);
    return duckdbLiteralSql(`$${params.length}`, lit, c);
  };
  const conds = side.filters.map((f) =>
    conditionSql(f, (p) => {
      const c = side.table.columns.find((x) => x.name === p.column.column)!;
      return duckdbPredicateSql(p, c, (lit) => bind(lit, c));
    }),
  );
  const { nk, alternatives = [] } = sideKeySql(sideKey(side));
  const where = ['nk IS NOT NULL', "nk <> ''"];
  const keys = [`${nk} AS nk`, ...alternatives.map((a, i) => `${a} AS ${alternativeColumn(i)}`)].join(', ');
  const inner = `SELECT *, ${keys} FROM ${relation}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''}`;
  return { sql: `SELECT * FROM (${inner}) WHERE ${where.join(' AND ')}`, params, bind };
}

/**
 * The distinct keys a side brings to PSI, as `nk`, from the rows of keySetSql: its keys, or (SPEC §4.7) every
 * alternative's tagged key of every row.
 */
function distinctKeysSql(side: TableSide, rows: string): string {
  const n = alternativesOf(side);
  if (n === 1) return `SELECT DISTINCT nk FROM (${rows})`;
  const each = Array.from({ length: n }, (_, i) => `SELECT ${alternativeColumn(i)} AS nk FROM (${rows})`);
  return `SELECT DISTINCT nk FROM (${each.join(' UNION ALL ')}) WHERE nk IS NOT NULL`;
}

/** The condition on a row of keySetSql that its key is among `hits` (SQL of `nk`): any alternative's, SPEC §4.7. */
function matchedSql(side: TableSide, hits: string): string {
  const n = alternativesOf(side);
  if (n === 1) return `nk IN (SELECT nk FROM (${hits}))`;
  return `(${Array.from({ length: n }, (_, i) => `${alternativeColumn(i)} IN (SELECT nk FROM (${hits}))`).join(' OR ')})`;
}

/** A dimension's value as its label: dimension-sql.ts computes every one but a column's, labelled by its type. */
function dimensionLabel(v: DuckDBValue, d: Dimension, table: Table): Cell {
  if (v === null) return null;
  if (d.kind === 'column') return label(v, table.columns.find((c) => c.name === d.column.column)!);
  return d.kind === 'extract' ? Number(v as bigint) : String(v);
}

/** A column's value as a label: days and instants as time-value.ts writes them, which is DuckDB's CAST AS VARCHAR. */
function label(v: DuckDBValue, c: Column): Cell {
  if (v === null) return null;
  if (c.type === 'integer') return Number(v as bigint);
  if (c.type === 'date') return dateText((v as DuckDBDateValue).days);
  if (c.type === 'timestamp') return timestampText((v as DuckDBTimestampValue).micros);
  return String(v);
}

