import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { asCleanroomError, errorMessage } from '../errors.js';
import { MANIFEST_POLL_MS } from '../limits.js';
import { manifestHash } from '../manifest/canonical.js';
import { manifestDiff } from '../manifest/diff.js';
import { signatureStatus } from '../manifest/proposal.js';
import type { Manifest } from '../manifest/schema.js';
import type { PendingManifestView } from '../console/api.js';
import { parseSignedManifest } from '../manifest/signature.js';

/** A version in the manifest file that the node does not run (yet): what the console's collaboration page shows. */
export type PendingManifest = PendingManifestView;

/** What the node makes of the manifest file's content. */
export type ManifestOffer =
  | { readonly kind: 'same' }
  | { readonly kind: 'load'; readonly manifest: Manifest; readonly changes: readonly string[] }
  | { readonly kind: 'refused'; readonly problem: string; readonly pending?: PendingManifest };

/**
 * Judges a manifest file against the running manifest: a newer version of the same collaboration, signed by every
 * member and fit for this node (`fits` throws otherwise), is loaded; anything else is refused with the reason.
 */
export function judgeOffer(doc: unknown, running: Manifest, file: string, fits: (m: Manifest) => void): ManifestOffer {
  let signed;
  try {
    signed = parseSignedManifest(doc, false);
  } catch (err) {
    return { kind: 'refused', problem: `not a valid manifest: ${errorMessage(err)}` };
  }
  const m = signed.manifest;
  const status = signatureStatus(signed);
  if (status.hash === Buffer.from(manifestHash(running)).toString('hex')) return { kind: 'same' };
  const pending = (problem: string): ManifestOffer => ({ kind: 'refused', problem, pending: { file, version: m.version, hash: status.hash, signedBy: status.signed, missing: status.missing, problem } });
  if (m.collaborationId !== running.collaborationId) return { kind: 'refused', problem: `v${m.version} is of collaboration ${m.collaborationId}, this node runs ${running.collaborationId}` };
  if (m.version < running.version) return { kind: 'refused', problem: `v${m.version} is older than the running v${running.version}` };
  if (m.version === running.version) return { kind: 'refused', problem: `v${m.version} is the running version number but another manifest: a change is version ${running.version + 1} (cleanroom manifest propose)` };
  if (status.missing.length > 0) {
    const signedBy = status.signed.length > 0 ? `signed by ${status.signed.join(', ')}` : 'signed by nobody yet';
    return pending(`v${m.version} is not signed by ${status.missing.join(', ')} (${signedBy})`);
  }
  try {
    fits(m);
  } catch (err) {
    return pending(`v${m.version} does not fit this node: ${asCleanroomError(err).message}; restart the node once its config maps what the manifest asks`);
  }
  return { kind: 'load', manifest: m, changes: manifestDiff(running, m) };
}

export interface ManifestWatchOptions {
  readonly file: string;
  readonly running: () => Manifest;
  readonly fits: (m: Manifest) => void;
  /** Swaps the node's manifest; synchronous, so that no query starts half on one version and half on the other. */
  readonly load: (m: Manifest) => void;
  readonly log: (line: string) => void;
}

/**
 * Watches a running node's manifest file (a stat every MANIFEST_POLL_MS) and loads a newer version once every
 * member has signed it; any other content is refused in the log, once per change of the file, and the node keeps
 * serving the manifest it runs.
 */
export class ManifestWatch {
  private pendingVersion: PendingManifest | undefined;
  /** One look at a time, in the order the changes came. */
  private chain: Promise<void> = Promise.resolve();
  private readonly listener = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
    this.chain = this.chain.then(() => this.look());
  };
  private watching = false;

  constructor(private readonly o: ManifestWatchOptions) {}

  /** The newer version in the file that the node does not run, and why; none once it runs what the file holds. */
  get pending(): PendingManifest | undefined {
    return this.pendingVersion;
  }

  start(): void {
    if (this.watching) return;
    this.watching = true;
    // Not persistent: the watch never keeps a stopped node's process alive.
    watchFile(this.o.file, { interval: MANIFEST_POLL_MS, persistent: false }, this.listener);
  }

  async stop(): Promise<void> {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.o.file, this.listener);
    await this.chain;
  }

  /** Reads the file now and acts on it (the watch calls it on every change). */
  async look(): Promise<void> {
    let doc: unknown;
    const running = this.o.running();
    try {
      doc = JSON.parse(await readFile(this.o.file, 'utf8'));
    } catch (err) {
      // A file being written, or removed: the next change is looked at again.
      this.o.log(`manifest ${this.o.file} refused: cannot read it: ${errorMessage(err)}; the node keeps serving manifest v${running.version}`);
      return;
    }
    const offer = judgeOffer(doc, running, this.o.file, this.o.fits);
    if (offer.kind === 'same') {
      this.pendingVersion = undefined;
      return;
    }
    if (offer.kind === 'refused') {
      this.pendingVersion = offer.pending;
      this.o.log(`manifest ${this.o.file} refused: ${offer.problem}; the node keeps serving manifest v${running.version}`);
      return;
    }
    this.o.load(offer.manifest);
    this.pendingVersion = undefined;
    this.o.log(`manifest ${this.o.file} v${offer.manifest.version} loaded, signed by every member (queries already running finish on v${running.version}): ${offer.changes.join('; ')}`);
  }
}
