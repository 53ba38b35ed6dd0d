/**
 * Headless Chromium for the console's browser tests: Debian's `chromium` (.ci/run installs it), driven by
 * playwright-core, which brings no browser of its own. Screenshots go to test/e2e/artifacts/ (git-ignored).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '../../scripts/local-cluster.js';

export const ARTIFACTS = join(repoRoot(), 'test', 'e2e', 'artifacts');

/** Where `command -v chromium` finds it; a clear failure when it is not installed. */
export function chromiumPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not installed: apt-get install -y chromium (.ci/run does)');
  }
}

export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  // As root (CI, containers) Chromium refuses to start with its sandbox.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'], timeout: 30_000 });
}
