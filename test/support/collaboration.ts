import { MANIFEST_FORMAT, Manifest as ManifestSchema, type Manifest, type PrivacyPolicy, type Table } from '../../src/manifest/schema.js';
import { generateIdentity, hex, type Identity } from '../../src/manifest/identity.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type QueryPlan } from '../../src/query/plan.js';

/**
 * The collaboration of the scenario tests: two tables shaped like the demo's (scripts/demo.ts), plus a few columns
 * the rules tests need (a non-dimension string, an integer nobody may aggregate, an integer that may only be summed).
 */
export const PUBLISHER = 'publisher';
export const ADVERTISER = 'advertiser';
/** A third member: owns no table; used as a receiver that is neither party, and by the handshake tests. */
export const AUDITOR = 'auditor';
export const COLLABORATION = 'spring-campaign';

export const COUNT_SQL = 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email';
export const AGG_SQL = 'SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';

export interface ManifestOptions {
  readonly minDistinctKeys?: { readonly publisher?: number; readonly advertiser?: number };
  readonly overlapDisclosure?: { readonly publisher?: readonly string[]; readonly advertiser?: readonly string[] };
  readonly queriers?: readonly string[];
  readonly receivers?: readonly string[];
  readonly collaborationId?: string;
  /** The manifest's `verify` (SPEC §4.2.1): the partner proves its re-blinding. */
  readonly verify?: boolean;
  /** Declared values of the advertiser's category (needed to GROUP BY it under a privacy policy). */
  readonly categoryValues?: readonly string[];
  /** Declared values of the publisher's campaign (needed to GROUP BY it as the partner's dimension, SPEC §4.6). */
  readonly campaignValues?: readonly string[];
  /** A differential-privacy policy per table (none by default). */
  readonly privacy?: { readonly publisher?: PrivacyPolicy; readonly advertiser?: PrivacyPolicy };
}

/** A policy for tests: ε 1 per query, δ 1e-7, 2 rows per person, a budget of 10 that never refreshes. */
export const TEST_POLICY: PrivacyPolicy = { epsilon: 1, delta: 1e-7, maxRowsPerKey: 2, budget: { epsilon: 10, refresh: 'never' } };

export interface Collaboration {
  readonly manifest: Manifest;
  readonly identities: Readonly<Record<string, Identity>>;
}

export function publisherTable(o: ManifestOptions = {}): Table {
  return {
    name: PUBLISHER,
    owner: PUBLISHER,
    columns: [
      { name: 'email', type: 'string' },
      o.campaignValues ? { name: 'campaign', type: 'string', values: [...o.campaignValues] } : { name: 'campaign', type: 'string' },
      { name: 'impressions', type: 'integer', min: 0, max: 1_000_000 },
      { name: 'region', type: 'string' },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'impressions', functions: ['sum', 'avg'] }],
      dimensions: ['campaign'],
      minDistinctKeys: o.minDistinctKeys?.publisher ?? 3,
      // The advertiser may learn which of its customers are in the publisher's set, narrowed by campaign only.
      overlapDisclosure: o.overlapDisclosure?.publisher ? [...o.overlapDisclosure.publisher] : [{ member: ADVERTISER, filters: ['campaign'] }],
      ...(o.privacy?.publisher ? { privacy: o.privacy.publisher } : {}),
    },
  };
}

export function advertiserTable(o: ManifestOptions = {}): Table {
  return {
    name: ADVERTISER,
    owner: ADVERTISER,
    columns: [
      { name: 'email', type: 'string' },
      { name: 'amount', type: 'decimal', scale: 2, min: -100_000, max: 100_000 },
      o.categoryValues ? { name: 'category', type: 'string', values: [...o.categoryValues] } : { name: 'category', type: 'string' },
      { name: 'items', type: 'integer', min: 0, max: 1000 },
      { name: 'age', type: 'integer', min: 0, max: 150 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [
        { column: 'amount', functions: ['sum', 'avg'] },
        { column: 'items', functions: ['sum'] },
      ],
      dimensions: ['category'],
      minDistinctKeys: o.minDistinctKeys?.advertiser ?? 3,
      overlapDisclosure: [...(o.overlapDisclosure?.advertiser ?? [])],
      ...(o.privacy?.advertiser ? { privacy: o.privacy.advertiser } : {}),
    },
  };
}

/** A schema-valid manifest with fresh member identities (publisher, advertiser, auditor). */
export function buildCollaboration(o: ManifestOptions = {}): Collaboration {
  const ids = [PUBLISHER, ADVERTISER, AUDITOR];
  const identities = Object.fromEntries(ids.map((id) => [id, generateIdentity(id)]));
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    collaborationId: o.collaborationId ?? COLLABORATION,
    name: 'Spring campaign measurement (test)',
    version: 1,
    members: ids.map((id, i) => ({ id, name: `${id} org`, endpoint: `ws://127.0.0.1:${7100 + i}`, publicKey: hex(identities[id]!.publicKey) })),
    tables: [publisherTable(o), advertiserTable(o)],
    queriers: [...(o.queriers ?? [PUBLISHER, ADVERTISER])],
    receivers: [...(o.receivers ?? [PUBLISHER, ADVERTISER])],
    ...(o.verify ? { verify: true } : {}),
  };
  // What a node would load: the schema (with its cross-field checks) must accept it.
  return { manifest: ManifestSchema.parse(manifest), identities };
}

/** The plan a node makes of `sql` asked by `querier`. */
export async function plan(sql: string, manifest: Manifest, querier: string): Promise<QueryPlan> {
  return planQuery(await parseQuery(sql), manifest, querier);
}
