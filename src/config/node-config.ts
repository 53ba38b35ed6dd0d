import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { CsvDialect } from '../data/csv-dialect.js';
import type { TableSource } from '../data/table-source.js';
import { CleanroomError, errorMessage } from '../errors.js';
import { HASH_CACHE_DATABASE_REFRESH_MS, STAGE_IDLE_TIMEOUT_MS } from '../limits.js';
import { MemberId } from '../manifest/schema.js';

/** The control interface answers the node's own operators only, so it may never face the network. */
const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;

/** A table's file, and for CSV how it is written (explicit: nothing is guessed from the file's first rows). */
const TableFile = z
  .strictObject({ path: z.string().min(1), format: z.enum(['csv', 'parquet']), csv: CsvDialect.optional() })
  .refine((t) => t.format === 'csv' || t.csv === undefined, { message: 'csv options apply to csv files only', path: ['csv'] });

/** A URL names the server, database and user; the password would put a secret in a file operators copy around. */
const PostgresUrl = z
  .string()
  .refine((u) => URL.canParse(u) && ['postgres:', 'postgresql:'].includes(new URL(u).protocol), { message: 'must be a postgres:// or postgresql:// URL' })
  .refine((u) => !URL.canParse(u) || (new URL(u).password === '' && !new URL(u).searchParams.has('password')), {
    message: 'must not hold a password: name an environment variable in passwordEnv instead',
  });

/** A table or view in PostgreSQL, read in place at every query. */
const TablePostgres = z.strictObject({
  postgres: z.strictObject({
    url: PostgresUrl,
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
    /** As PostgreSQL parses a name: `customers`, `public.customers`, `crm."Customers"`. */
    table: z.string().min(1).max(200),
  }),
});

export const NodeConfigSchema = z.strictObject({
  memberId: MemberId,
  identityFile: z.string().default('identity.json'),
  manifestFile: z.string().default('manifest.json'),
  /** Where peers reach this node: the address behind the manifest's endpoint for this member. */
  listen: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  control: z.strictObject({
    host: z.enum(LOOPBACK_HOSTS, { message: `the control interface listens on loopback only (${LOOPBACK_HOSTS.join(', ')})` }),
    port: z.number().int().min(1).max(65535),
  }),
  /** Manifest table name -> local file or PostgreSQL table. Only this node's own tables belong here. */
  tables: z.record(z.string(), z.union([TableFile, TablePostgres])),
  /** Directories the table files must be in, links resolved; the node directory when left out. */
  dataDirs: z.array(z.string().min(1)).optional(),
  backend: z.enum(['auto', 'noble', 'sodium']).default('auto'),
  /** Crypto worker threads; 'auto' is one per core. */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
  /** Where the per-table hash caches live (owner-only: they hold normalised keys). */
  cacheDir: z.string().default('cache'),
  resultsDir: z.string().default('results'),
  /** How long a query may go without a message from any peer or any local progress before it is aborted. */
  sessionIdleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(STAGE_IDLE_TIMEOUT_MS),
  /** How often the keys of an own table in PostgreSQL are hashed again ahead of queries (a file: when it changes). */
  databaseHashRefreshMs: z.number().int().min(10_000).max(86_400_000).default(HASH_CACHE_DATABASE_REFRESH_MS),
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;
/** A config as written to config.json: fields with defaults may be left out. */
export type NodeConfigFile = z.input<typeof NodeConfigSchema>;

export interface LoadedConfig {
  readonly config: NodeConfig;
  /** The directory relative paths in the config are resolved against. */
  readonly baseDir: string;
  /** Manifest table name -> its source; a file resolved (links too) and inside one of the data directories. */
  readonly tables: Readonly<Record<string, TableSource>>;
  path(relative: string): string;
}

export async function loadConfig(file: string): Promise<LoadedConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CleanroomError('CONFIG_INVALID', `cannot read node config ${file}: ${errorMessage(err)}`);
  }
  const parsed = NodeConfigSchema.safeParse(raw);
  if (!parsed.success) throw new CleanroomError('CONFIG_INVALID', `node config ${file}: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  const baseDir = dirname(resolve(file));
  const refuse = (key: string, rule: string) => new CleanroomError('CONFIG_INVALID', `node config ${file}: ${key}: ${rule}`);
  // Resolved through links, so that a link inside the node directory cannot lead a path out of it.
  const nodeDir = await realPath(baseDir);
  for (const key of ['cacheDir', 'resultsDir'] as const) {
    const dir = await realPath(resolve(baseDir, config[key]));
    if (!isInside(dir, nodeDir)) throw refuse(key, `${config[key]} resolves to ${dir}, which is not inside the node directory ${nodeDir}`);
  }
  const dataDirs = await Promise.all((config.dataDirs ?? ['.']).map((d) => realPath(resolve(baseDir, d))));
  const tables: Record<string, TableSource> = {};
  for (const [name, t] of Object.entries(config.tables)) {
    if ('postgres' in t) {
      tables[name] = { kind: 'postgres', ...t.postgres };
      continue;
    }
    const path = await realPath(resolve(baseDir, t.path));
    if (!dataDirs.some((d) => isInside(path, d))) throw refuse(`tables.${name}.path`, `${t.path} resolves to ${path}, which is not inside the data directories (dataDirs: ${dataDirs.join(', ')})`);
    tables[name] = { kind: 'file', path, format: t.format, ...(t.csv ? { csv: t.csv } : {}) };
  }
  return { config, baseDir, tables, path: (p) => resolve(baseDir, p) };
}

/** The path with every link resolved, as far as it exists; what does not exist yet is appended as written. */
async function realPath(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    const parent = dirname(p);
    return parent === p ? p : join(await realPath(parent), basename(p));
  }
}

/** Strictly below `dir`: the directory itself is not inside it. */
function isInside(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}
