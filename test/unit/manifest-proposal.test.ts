/**
 * A manifest's next version: `propose` makes it from an edit (version + 1, no signature), `status` says who has
 * signed it, and a running node's watch loads it only once every member has, refusing anything else with the reason.
 */
import { describe, expect, it } from 'vitest';
import { manifestHash } from '../../src/manifest/canonical.js';
import { proposeManifest, signatureStatus } from '../../src/manifest/proposal.js';
import { Manifest } from '../../src/manifest/schema.js';
import { signManifest, type SignedManifest } from '../../src/manifest/signature.js';
import { judgeOffer } from '../../src/node/manifest-watch.js';
import { ADVERTISER, AUDITOR, PUBLISHER, buildCollaboration } from '../support/collaboration.js';

const c = buildCollaboration();
const v1 = c.manifest;
const policy = { epsilon: 1, delta: 1e-6, maxRowsPerKey: 5, budget: { epsilon: 10, refresh: 'month' as const } };
const withPolicy = (m: Manifest) => ({ ...m, tables: m.tables.map((t) => (t.name === 'advertiser' ? { ...t, rules: { ...t.rules, privacy: policy } } : t)) });
const sign = (s: SignedManifest, ...ids: string[]): SignedManifest => ({
  manifest: s.manifest,
  signatures: { ...s.signatures, ...Object.fromEntries(ids.map((id) => [id, signManifest(s.manifest, id, c.identities[id]!.secretKey)])) },
});
const FILE = '/nodes/ann/manifest.json';

describe('proposeManifest', () => {
  it('makes version + 1 of the edit, whatever version it says, without any signature', () => {
    const signedV1 = sign({ manifest: v1, signatures: {} }, PUBLISHER, ADVERTISER, AUDITOR);
    const p = proposeManifest(v1, { ...signedV1, manifest: { ...withPolicy(v1), version: 7 } });
    expect(p.manifest.version).toBe(2);
    expect(p.signatures).toEqual({});
    expect(p.manifest.tables[1]!.rules.privacy).toEqual(policy);
    expect(proposeManifest(v1, withPolicy(v1)).manifest.version).toBe(2);
  });

  it('refuses an edit that changes nothing, another collaboration, or an invalid manifest', () => {
    expect(() => proposeManifest(v1, { ...v1, version: 5 })).toThrow(/the edit changes nothing of manifest v1/);
    expect(() => proposeManifest(v1, { ...v1, collaborationId: 'other' })).toThrow(/collaboration other/);
    expect(() => proposeManifest(v1, { ...v1, queriers: ['nobody'] })).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID', message: expect.stringContaining('nobody is not a member') }));
    expect(() => proposeManifest(v1, [])).toThrow(/not a manifest/);
  });
});

describe('signatureStatus', () => {
  it('lists who has signed and who has not, in manifest order; a signature of another version does not count', () => {
    const v2 = proposeManifest(v1, withPolicy(v1));
    expect(signatureStatus(v2)).toMatchObject({ version: 2, signed: [], missing: [PUBLISHER, ADVERTISER, AUDITOR] });
    const part = sign(v2, AUDITOR, PUBLISHER);
    expect(signatureStatus(part)).toMatchObject({ signed: [PUBLISHER, AUDITOR], missing: [ADVERTISER], hash: Buffer.from(manifestHash(v2.manifest)).toString('hex') });
    const old = sign({ manifest: v1, signatures: {} }, ADVERTISER);
    expect(signatureStatus({ ...part, signatures: { ...part.signatures, ...old.signatures } }).missing).toEqual([ADVERTISER]);
  });
});

describe('judgeOffer (what a running node makes of its manifest file)', () => {
  const fits = () => {};
  const v2 = proposeManifest(v1, withPolicy(v1));

  it('loads a newer version signed by every member, with its changes in words', () => {
    const offer = judgeOffer(sign(v2, PUBLISHER, ADVERTISER, AUDITOR), v1, FILE, fits);
    expect(offer).toMatchObject({ kind: 'load', manifest: { version: 2 }, changes: ['version 1 → 2', expect.stringContaining('advertiser: privacy policy added')] });
  });

  it('ignores the version it runs', () => {
    expect(judgeOffer(sign({ manifest: v1, signatures: {} }, PUBLISHER), v1, FILE, fits)).toEqual({ kind: 'same' });
  });

  it('refuses a partly signed version naming who has not signed, and keeps it as pending', () => {
    const offer = judgeOffer(sign(v2, PUBLISHER), v1, FILE, fits);
    expect(offer).toMatchObject({
      kind: 'refused',
      problem: 'v2 is not signed by advertiser, auditor (signed by publisher)',
      pending: { file: FILE, version: 2, signedBy: [PUBLISHER], missing: [ADVERTISER, AUDITOR] },
    });
  });

  it('refuses an older version, another with the running number, another collaboration, an invalid file, one unfit for the node', () => {
    const all = (s: SignedManifest) => sign(s, PUBLISHER, ADVERTISER, AUDITOR);
    const running = Manifest.parse({ ...withPolicy(v1), version: 3 });
    expect(judgeOffer(all(v2), running, FILE, fits)).toMatchObject({ kind: 'refused', problem: 'v2 is older than the running v3' });
    const same = Manifest.parse({ ...v1, version: 3 });
    expect(judgeOffer(all({ manifest: same, signatures: {} }), running, FILE, fits)).toMatchObject({ kind: 'refused', problem: expect.stringContaining('v3 is the running version number but another manifest: a change is version 4') });
    const other = Manifest.parse({ ...v1, collaborationId: 'other', version: 2 });
    expect(judgeOffer(all({ manifest: other, signatures: {} }), v1, FILE, fits)).toMatchObject({ kind: 'refused', problem: 'v2 is of collaboration other, this node runs spring-campaign' });
    expect(judgeOffer({ manifest: { version: 2 }, signatures: {} }, v1, FILE, fits)).toMatchObject({ kind: 'refused', problem: expect.stringMatching(/^not a valid manifest: /) });
    const unfit = judgeOffer(all(v2), v1, FILE, () => {
      throw new Error('config maps no file to table x');
    });
    expect(unfit).toMatchObject({ kind: 'refused', problem: expect.stringContaining('v2 does not fit this node: config maps no file to table x'), pending: { version: 2 } });
  });
});
