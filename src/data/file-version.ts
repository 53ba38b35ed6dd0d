import { lstat } from 'node:fs/promises';

/**
 * Which version of a file a check saw. A stat is cheap enough for every query; a new inode, size or timestamp
 * (to the nanosecond) means the file was written since, and its check runs again. The config resolved the path's
 * links when it checked that the file lies inside the data directories, so a link found here was put in its place
 * since: it could lead anywhere, and is refused rather than followed.
 */
export async function fileVersion(path: string): Promise<{ readonly stamp: string; readonly size: bigint }> {
  const s = await lstat(path, { bigint: true });
  if (!s.isFile()) throw new Error(`${path} is not a regular file${s.isSymbolicLink() ? ' (a link put in its place after start)' : ''}`);
  return { stamp: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, size: s.size };
}
