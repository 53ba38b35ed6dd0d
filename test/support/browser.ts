/**
 * Headless Chromium for the console's browser tests, driven by playwright-core (which brings no browser of its own):
 * a system Chromium when one is installed, else the build the @sparticuz/chromium npm package ships, so that the
 * README's `npm test` needs nothing but npm. Screenshots go to test/e2e/artifacts/ (git-ignored).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import Chromium from '@sparticuz/chromium';
import { chromium, type Browser } from 'playwright-core';
import { extract } from 'tar-fs';
import { repoRoot } from '../../scripts/local-cluster.js';

export const ARTIFACTS = join(repoRoot(), 'test', 'e2e', 'artifacts');

/**
 * The flags the machine's probe found Chromium needs here: no sandbox as root, and none of the background connections
 * a closed network refuses. Not @sparticuz/chromium's own list, which turns off web security.
 */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `CLEANROOM_TEST_CHROMIUM=npm` skips a system Chromium, to test the npm one where both exist. */
const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

interface Executable {
  readonly path: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Removes what was unpacked for it; never throws. */
  cleanup(): Promise<void>;
}

function systemChromium(): string | undefined {
  if (process.env.CLEANROOM_TEST_CHROMIUM === 'npm') return undefined;
  for (const name of SYSTEM_NAMES) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * The npm package's Chromium, unpacked (~200 MB) into a directory of this test process only: @sparticuz/chromium
 * unpacks into the OS temporary directory and reuses a `chromium` it finds there, which another local user could
 * have put in /tmp. Its binary is built for Amazon Linux and needs NSS and NSPR, which a machine without a system
 * Chromium may lack: the libraries the package ships for Amazon Linux go on its library path.
 */
async function npmChromium(): Promise<Executable> {
  const dir = mkdtempSync(join(tmpdir(), 'cleanroom-chromium-'));
  const cleanup = () => rm(dir, { recursive: true, force: true }).catch(() => {});
  const saved = process.env.TMPDIR;
  try {
    process.env.TMPDIR = dir;
    const path = await Chromium.executablePath();
    const bin = join(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..', '..', 'bin');
    await pipeline(createReadStream(join(bin, 'al2023.tar.br')), createBrotliDecompress(), extract(join(dir, 'al2023')));
    const libraries = [join(dir, 'al2023', 'lib'), process.env.LD_LIBRARY_PATH].filter((p) => p).join(':');
    // The package's fonts.conf names /tmp/fonts; without fonts every text is empty and every element "hidden".
    const fontsConf = join(dir, 'fonts.conf');
    writeFileSync(fontsConf, `<?xml version="1.0"?>\n<fontconfig><dir>${join(dir, 'fonts')}</dir><dir>/usr/share/fonts</dir><cachedir>${join(dir, 'fonts-cache')}</cachedir></fontconfig>\n`);
    return { path, env: { ...process.env, LD_LIBRARY_PATH: libraries, FONTCONFIG_FILE: fontsConf, HOME: dir }, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

/** Starts headless Chromium; a launch that fails says so in one message, and what was unpacked for it is removed. */
export async function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const system = systemChromium();
  let exe: Executable;
  try {
    exe = system ? { path: system, cleanup: async () => {} } : await npmChromium();
  } catch (err) {
    throw new Error(`cannot unpack the npm package's Chromium (@sparticuz/chromium): ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const browser = await chromium.launch({ executablePath: exe.path, args: FLAGS, ...(exe.env ? { env: exe.env } : {}), timeout: 30_000 });
    browser.on('disconnected', () => void exe.cleanup());
    return browser;
  } catch (err) {
    await exe.cleanup();
    throw new Error(`cannot start Chromium at ${exe.path}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}
