import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/node-config.js';
import { scratchDir } from './data-fixtures.js';

/** Table paths stay inside the data directories, caches and results inside the node directory: links resolved. */
const scratch = scratchDir('cleanroom-config-');
afterAll(() => scratch.remove());

let n = 0;
/** A node directory `<scratch>/nodeN` with this config, a data file inside it and one beside it. */
function nodeWith(extra: Record<string, unknown>): { file: string; dir: string } {
  const dir = join(scratch.dir, `node${n++}`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'data', 't.csv'), 'k\n');
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ memberId: 'm', listen: { host: '127.0.0.1', port: 7100 }, control: { host: '127.0.0.1', port: 7200 }, tables: {}, ...extra }));
  return { file, dir };
}
const csv = (path: string) => ({ t: { path, format: 'csv' } });
writeFileSync(join(scratch.dir, 'outside.csv'), 'k\n');

describe('node config: where table files, caches and results may be', () => {
  it('resolves table paths against the config directory, with the CSV dialect defaults', async () => {
    const { file, dir } = nodeWith({ tables: { t: { path: 'data/t.csv', format: 'csv', csv: { delimiter: ';' } } } });
    const cfg = await loadConfig(file);
    expect(cfg.tables.t).toEqual({ kind: 'file', path: join(dir, 'data', 't.csv'), format: 'csv', csv: { delimiter: ';', quote: '"', escape: '"', header: true, encoding: 'utf-8' } });
  });

  it('refuses a path that escapes the node directory, naming the key and the rule', async () => {
    const { file } = nodeWith({ tables: csv('../../../../../../etc/passwd') });
    await expect(loadConfig(file)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/tables\.t\.path: \.\.\/.*etc\/passwd resolves to \/etc\/passwd, which is not inside the data directories/) });
    await expect(loadConfig(nodeWith({ tables: csv('/etc/passwd') }).file)).rejects.toThrow(/tables\.t\.path/);
  });

  it('refuses a link inside the node directory that leads out of it', async () => {
    const { file, dir } = nodeWith({ tables: csv('data/link.csv') });
    symlinkSync(join(scratch.dir, 'outside.csv'), join(dir, 'data', 'link.csv'));
    await expect(loadConfig(file)).rejects.toThrow(/tables\.t\.path: data\/link\.csv resolves to .*outside\.csv, which is not inside/);
  });

  it('takes files from the data directories the operator lists instead', async () => {
    const { file } = nodeWith({ tables: csv('../outside.csv'), dataDirs: ['..'] });
    expect((await loadConfig(file)).tables.t).toMatchObject({ path: join(scratch.dir, 'outside.csv') });
    await expect(loadConfig(nodeWith({ tables: csv('data/t.csv'), dataDirs: ['../elsewhere'] }).file)).rejects.toThrow(/tables\.t\.path/);
  });

  it('keeps the cache and the results inside the node directory', async () => {
    await expect(loadConfig(nodeWith({ cacheDir: '../cache' }).file)).rejects.toThrow(/cacheDir: \.\.\/cache resolves to .*, which is not inside the node directory/);
    await expect(loadConfig(nodeWith({ resultsDir: '/tmp' }).file)).rejects.toThrow(/resultsDir/);
    await expect(loadConfig(nodeWith({ cacheDir: '.' }).file)).rejects.toThrow(/cacheDir/);
    expect((await loadConfig(nodeWith({ cacheDir: 'state/cache' }).file)).config.cacheDir).toBe('state/cache');
  });

  it('refuses CSV options on a Parquet file and an ambiguous dialect', async () => {
    await expect(loadConfig(nodeWith({ tables: { t: { path: 'data/t.csv', format: 'parquet', csv: {} } } }).file)).rejects.toThrow(/csv options apply to csv files only/);
    await expect(loadConfig(nodeWith({ tables: { t: { path: 'data/t.csv', format: 'csv', csv: { delimiter: '"' } } } }).file)).rejects.toThrow(/the delimiter must differ/);
  });
});

describe('node config: a table in PostgreSQL', () => {
  const pg = (postgres: Record<string, unknown>) => ({ tables: { t: { postgres } } });
  it('takes a URL without a password, the variable that holds it and the table', async () => {
    const cfg = await loadConfig(nodeWith(pg({ url: 'postgres://reader@db.internal:5432/crm', passwordEnv: 'CRM_PASSWORD', table: 'public.customers' })).file);
    expect(cfg.tables.t).toEqual({ kind: 'postgres', url: 'postgres://reader@db.internal:5432/crm', passwordEnv: 'CRM_PASSWORD', table: 'public.customers' });
  });

  it.each([
    ['a password in the URL', { url: 'postgres://reader:secret@db/crm', table: 't' }, /must not hold a password: name an environment variable in passwordEnv instead/],
    ['a password as a URL parameter', { url: 'postgresql://reader@db/crm?password=secret', table: 't' }, /must not hold a password/],
    ['another scheme', { url: 'mysql://reader@db/crm', table: 't' }, /must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['a variable name that is none', { url: 'postgres://reader@db/crm', passwordEnv: 'CRM PASSWORD', table: 't' }, /must be an environment variable name/],
    ['a password field', { url: 'postgres://reader@db/crm', password: 'secret', table: 't' }, /Unrecognized key/],
  ])('refuses %s, naming the key', async (_name, postgres, message) => {
    await expect(loadConfig(nodeWith(pg(postgres)).file)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(message) });
  });
});
