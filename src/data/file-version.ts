import { stat } from 'node:fs/promises';

/**
 * Which version of a file a check saw. A stat is cheap enough for every query; a new inode, size or timestamp
 * (to the nanosecond) means the file was written since, and its check runs again.
 */
export async function fileVersion(path: string): Promise<{ readonly stamp: string; readonly size: bigint }> {
  const s = await stat(path, { bigint: true });
  if (!s.isFile()) throw new Error(`${path} is not a regular file`);
  return { stamp: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, size: s.size };
}
