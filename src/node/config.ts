import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { CleanroomError, errorMessage } from '../errors.js';
import { STAGE_IDLE_TIMEOUT_MS } from '../limits.js';
import { MemberId } from '../manifest/schema.js';

/** The control interface answers the node's own operators only, so it may never face the network. */
const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;

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
  /** Manifest table name -> local file. Only this node's own tables belong here. */
  tables: z.record(z.string(), z.strictObject({ path: z.string().min(1), format: z.enum(['csv', 'parquet']) })),
  backend: z.enum(['auto', 'noble', 'sodium']).default('auto'),
  /** Crypto worker threads; 'auto' is one per core. */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
  /** Where the per-table hash caches live (owner-only: they hold normalised keys). */
  cacheDir: z.string().default('cache'),
  resultsDir: z.string().default('results'),
  /** How long a query may go without a message from any peer or any local progress before it is aborted. */
  sessionIdleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(STAGE_IDLE_TIMEOUT_MS),
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;
/** A config as written to config.json: fields with defaults may be left out. */
export type NodeConfigFile = z.input<typeof NodeConfigSchema>;

export interface LoadedConfig {
  readonly config: NodeConfig;
  /** The directory relative paths in the config are resolved against. */
  readonly baseDir: string;
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
  const baseDir = dirname(resolve(file));
  return { config: parsed.data, baseDir, path: (p) => resolve(baseDir, p) };
}
