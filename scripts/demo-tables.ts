import type { Table } from '../src/manifest/schema.js';
import { CAMPAIGNS, CATEGORIES, PURCHASE_DAYS } from './demo-data.js';

/**
 * The demo's collaboration (`npm run demo`): a publisher and an advertiser, the advertiser's table under a privacy
 * policy. Tests that check what the demo states (its intervals) plan against these same tables.
 */
export const MIN_KEYS = 50;
export const MAX_ROWS_PER_KEY = 4;

export const DEMO_TABLES: Table[] = [
  {
    name: 'publisher',
    owner: 'publisher',
    columns: [
      { name: 'email', type: 'string' },
      // Declared: the advertiser groups its purchases by campaign (SPEC §4.6), whose labels come from the manifest.
      { name: 'campaign', type: 'string', values: [...CAMPAIGNS] },
      { name: 'impressions', type: 'integer', min: 0, max: 1_000_000 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'impressions', functions: ['sum', 'avg'] }],
      dimensions: ['campaign'],
      minDistinctKeys: MIN_KEYS,
      // The advertiser may learn which of its customers saw a campaign, and which campaign: that is what it measures.
      // Filters on any other column would narrow the set it learns about to read that column person by person.
      overlapDisclosure: [{ member: 'advertiser', filters: ['campaign'] }],
    },
  },
  {
    name: 'advertiser',
    owner: 'advertiser',
    columns: [
      { name: 'email', type: 'string' },
      // Declared tightly: one person's largest possible contribution sizes the noise of every SUM and AVG. Required
      // (every row has an amount): SUM and AVG then need no non-null count of their own, one noisy value fewer.
      { name: 'amount', type: 'decimal', scale: 2, min: -100, max: 600, required: true },
      // Declared: a DP query deals every category, so which ones have buyers is never shown.
      { name: 'category', type: 'string', values: [...CATEGORIES] },
      // Bounded: a DP query by week deals every week between them, so which weeks had buyers is never shown.
      { name: 'bought_on', type: 'date', min: PURCHASE_DAYS.first, max: lastPurchaseDay(), required: true },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }],
      dimensions: ['category', 'bought_on'],
      minDistinctKeys: MIN_KEYS,
      // The publisher may not learn who bought: joins that would tell it are limited to counts.
      overlapDisclosure: [],
      // Every query touching the advertiser's table is differentially private: ε = 1 per query, at most 4 rows per
      // person counted, and 10 in all per month, kept by the advertiser's node.
      privacy: { epsilon: 1, delta: 1e-7, maxRowsPerKey: MAX_ROWS_PER_KEY, budget: { epsilon: 10, refresh: 'month' } },
    },
  },
];

/**
 * The advertiser's differentially private query, campaign measurement: purchases per campaign and category of the
 * people who saw the spring or summer ads, in one query and one PSI (SPEC §4.6). A person who saw both counts in both.
 */
export const DEMO_DP_SQL =
  "SELECT p.campaign, a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign IN ('spring', 'summer') GROUP BY p.campaign, a.category";

/** The advertiser's weekly query: purchases and revenue per week among the people who saw the spring campaign. */
export const DEMO_WEEKLY_SQL =
  "SELECT date_trunc('week', a.bought_on) AS week, COUNT(*) AS purchases, SUM(a.amount) AS revenue FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign = 'spring' GROUP BY date_trunc('week', a.bought_on) ORDER BY week";

function lastPurchaseDay(): string {
  return new Date(Date.parse(PURCHASE_DAYS.first) + (PURCHASE_DAYS.days - 1) * 86_400_000).toISOString().slice(0, 10);
}
