import { open as openFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/*
 * What the node's append-only JSON Lines files (the audit log, the budget ledger) share: how one is opened and how
 * a crash's leftovers are recovered. Each keeps its own line format and its own queue of fsynced appends.
 */

/**
 * Opens `file` for appending and reading, creating it with mode 0600 if missing. A new file's directory is fsynced
 * too: the directory entry must survive a crash, or the first fsynced lines could vanish with it. `unreadable` turns
 * an error into the caller's.
 */
export async function openJournal(file: string, unreadable: (err: unknown) => Error): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await openFile(file, 'ax+', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unreadable(err);
    try {
      return await openFile(file, 'a+');
    } catch (err2) {
      throw unreadable(err2);
    }
  }
  try {
    await syncDir(dirname(file));
  } catch (err) {
    await fh.close().catch(() => {});
    throw unreadable(err);
  }
  return fh;
}

/**
 * A crash during an append can leave an incomplete final line, one the writer never acknowledged: it is cut off
 * (the file is `size` bytes, its complete lines `complete`), and the returned warning says so for the operator.
 */
export async function dropIncompleteLine(fh: FileHandle, what: string, size: number, complete: number): Promise<string | undefined> {
  if (complete >= size) return undefined;
  await fh.truncate(complete);
  await fh.sync();
  return `${what}: dropped an incomplete final line (${size - complete} bytes), a write interrupted by a crash before it was acknowledged`;
}

async function syncDir(dir: string): Promise<void> {
  // Not every platform can fsync a directory (Windows); the file's own fsyncs still hold there.
  const d = await openFile(dir, 'r').catch(() => undefined);
  if (!d) return;
  await d.sync().catch(() => {});
  await d.close();
}
