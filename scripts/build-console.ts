/**
 * Builds the web console into dist/web/: index.html, and assets/app.js and assets/app.css bundled by esbuild from
 * web/src (Preact, Chart.js and the error-bar plugin included), so that the node serves every byte itself and the
 * console works offline. `npm run build` runs it after tsc.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const root = repoRoot();
const out = join(root, 'dist', 'web');
const entry = join(root, 'web', 'src', 'main.tsx');
await rm(out, { recursive: true, force: true });
if (!existsSync(entry)) {
  // A build from src/ alone (an image that copies no web/) still gives a working node: its console page then says
  // it was not built.
  process.stderr.write(`build-console: ${entry} is missing; the node is built without its web console\n`);
  process.exit(0);
}
await mkdir(join(out, 'assets'), { recursive: true });
await build({
  entryPoints: { app: entry },
  outdir: join(out, 'assets'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(join(root, 'web', 'index.html'), join(out, 'index.html'));
