import { readFile } from 'node:fs/promises';
import { CleanroomError, errorMessage } from '../errors.js';
import { holdersOf, type Manifest, type Table } from '../manifest/schema.js';
import { parseSignedManifest } from '../manifest/signature.js';
import { loadConfig, type LoadedConfig } from '../config/node-config.js';
import { readIdentity, type Identity } from '../manifest/identity.js';

/** What a node directory holds, checked against itself: the config, the identity, the signed manifest. */
export interface NodeSetup {
  readonly cfg: LoadedConfig;
  readonly identity: Identity;
  readonly manifest: Manifest;
  /** The manifest's tables this member holds (owns, or holds a part of), each mapped to a file by the config. */
  readonly ownTables: readonly Table[];
}

/** Reads and cross-checks a node directory's config, identity and manifest; refuses a manifest not signed by all. */
export async function loadNodeSetup(configFile: string): Promise<NodeSetup> {
  const cfg = await loadConfig(configFile);
  const identity = await readIdentity(cfg.path(cfg.config.identityFile));
  if (identity.memberId !== cfg.config.memberId) throw new CleanroomError('CONFIG_INVALID', `identity belongs to ${identity.memberId}, config to ${cfg.config.memberId}`);
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(cfg.path(cfg.config.manifestFile), 'utf8'));
  } catch (err) {
    throw new CleanroomError('MANIFEST_INVALID', `cannot read manifest ${cfg.config.manifestFile}: ${errorMessage(err)}`);
  }
  const { manifest } = parseSignedManifest(doc, true);
  return { cfg, identity, manifest, ownTables: tablesOfNode(manifest, cfg, identity) };
}

/**
 * Checks a manifest against this node's identity and config, and returns the tables this member holds: at start, and
 * for each new version a running node is offered (src/node/manifest-watch.ts).
 */
export function tablesOfNode(manifest: Manifest, cfg: LoadedConfig, identity: Identity): readonly Table[] {
  const me = manifest.members.find((m) => m.id === identity.memberId);
  if (!me) throw new CleanroomError('MANIFEST_INVALID', `${identity.memberId} is not a member of collaboration ${manifest.collaborationId}`);
  if (me.publicKey !== Buffer.from(identity.publicKey).toString('hex')) throw new CleanroomError('MANIFEST_INVALID', `the manifest lists another public key for ${me.id} than this node's identity`);
  for (const name of Object.keys(cfg.config.tables)) {
    const t = manifest.tables.find((x) => x.name === name);
    if (!t) throw new CleanroomError('CONFIG_INVALID', `config maps a file to ${name}, which the manifest does not declare`);
    if (!holdersOf(t).includes(me.id)) throw new CleanroomError('CONFIG_INVALID', `config maps a file to ${name}, which belongs to ${holdersOf(t).join(', ')}`);
  }
  const ownTables = manifest.tables.filter((t) => holdersOf(t).includes(me.id));
  const missing = ownTables.filter((t) => !cfg.config.tables[t.name]);
  if (missing.length > 0) throw new CleanroomError('CONFIG_INVALID', `config maps no file to this member's table(s) ${missing.map((t) => t.name).join(', ')}`);
  return ownTables;
}
