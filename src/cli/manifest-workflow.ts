import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/node-config.js';
import { CleanroomError, errorMessage } from '../errors.js';
import { manifestDiff } from '../manifest/diff.js';
import { proposeManifest, signatureStatus } from '../manifest/proposal.js';
import { parseSignedManifest, type SignedManifest } from '../manifest/signature.js';

/**
 * `cleanroom manifest propose|diff|status`: a manifest's next version, from edit to every signature. `sign` adds
 * one; a running node loads the version once every member has signed it (src/node/manifest-watch.ts).
 */
export interface WorkflowOptions {
  readonly from?: string;
  readonly out?: string;
  readonly json?: boolean;
}

export async function manifestWorkflow(sub: 'propose' | 'diff' | 'status', files: readonly string[], o: WorkflowOptions, out: (line: string) => void): Promise<number> {
  switch (sub) {
    case 'propose': {
      const edited = files[0];
      if (!edited || !o.from) throw usage('manifest propose <edited.json> --from <signed manifest or node dir> [--out <file>]');
      const current = await readSigned(await manifestFileOf(o.from));
      const next = proposeManifest(current.manifest, await readJson(edited));
      const target = o.out ?? edited;
      await writeFile(target, JSON.stringify(next, null, 2) + '\n');
      out(`wrote ${target}: manifest ${next.manifest.collaborationId} v${next.manifest.version} (from v${current.manifest.version}), no signature yet`);
      for (const line of manifestDiff(current.manifest, next.manifest)) out(`  ${line}`);
      out(`each member reads the changes above and signs: cleanroom manifest sign ${target} --node <dir>; then copies the file to its node's manifest.json`);
      return 0;
    }
    case 'diff': {
      const [a, b] = files;
      if (!a || !b) throw usage('manifest diff <old> <new>');
      const [before, after] = [await readSigned(a), await readSigned(b)];
      const lines = manifestDiff(before.manifest, after.manifest);
      if (o.json) out(JSON.stringify({ from: before.manifest.version, to: after.manifest.version, changes: lines }));
      else if (lines.length === 0) out(`no change: v${before.manifest.version} and v${after.manifest.version} say the same`);
      else for (const line of lines) out(line);
      return 0;
    }
    case 'status': {
      const file = files[0];
      if (!file) throw usage('manifest status <file> [--json]');
      const s = signatureStatus(await readSigned(await manifestFileOf(file)));
      if (o.json) {
        out(JSON.stringify(s));
        return 0;
      }
      out(`manifest ${s.collaborationId} v${s.version}, hash ${s.hash}`);
      out(`signed by: ${s.signed.length > 0 ? s.signed.join(', ') : 'nobody yet'}`);
      out(s.missing.length > 0 ? `still to sign: ${s.missing.join(', ')}` : 'every member has signed: a running node loads it once it is its manifest.json');
      return 0;
    }
  }
}

/** A node directory names its manifest file in its config; anything else is the manifest file itself. */
async function manifestFileOf(path: string): Promise<string> {
  const isDir = await stat(path).then((s) => s.isDirectory(), () => false);
  if (!isDir) return path;
  const cfg = await loadConfig(join(path, 'config.json'));
  return cfg.path(cfg.config.manifestFile);
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    throw new CleanroomError('MANIFEST_INVALID', `cannot read ${file}: ${errorMessage(err)}`);
  }
}

async function readSigned(file: string): Promise<SignedManifest> {
  return parseSignedManifest(await readJson(file), false);
}

function usage(message: string): CleanroomError {
  return new CleanroomError('CONFIG_INVALID', `usage: cleanroom ${message}`);
}
