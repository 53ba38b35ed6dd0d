import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CleanroomError, errorMessage } from '../errors.js';

/**
 * The secret a client of the local control interface must present. The node draws a fresh one at every start and
 * leaves it in its directory readable by its own user only: whoever can read the node's directory as that user is
 * its operator, and no other local user or web page is.
 */
export const CONTROL_TOKEN_FILE = 'control.token';

export function controlTokenPath(nodeDir: string): string {
  return join(nodeDir, CONTROL_TOKEN_FILE);
}

export function newControlToken(): string {
  return randomBytes(32).toString('hex');
}

/** Temp file and rename: a client never reads half a token, and a symlink planted at the temp name is refused. */
export async function writeControlToken(nodeDir: string, token: string): Promise<void> {
  const file = controlTokenPath(nodeDir);
  const temp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  try {
    await writeFile(temp, token + '\n', { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw new CleanroomError('CONFIG_INVALID', `cannot write the control token ${file}: ${errorMessage(err)}`);
  }
}

export async function readControlToken(nodeDir: string): Promise<string> {
  const file = controlTokenPath(nodeDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CleanroomError('AUTH_FAILED', `cannot read the control token (${errorMessage(err)}): is the node started? the token is written at start to ${file}, readable by the node's user only`);
  }
  const token = text.trim();
  if (token === '') throw new CleanroomError('AUTH_FAILED', `the control token ${file} is empty: restart the node to write a fresh one`);
  return token;
}

/** Constant time in the presented value: both sides are hashed to equal-length digests before the comparison. */
export function tokenMatches(expected: string, presented: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(presented));
}
