/**
 * The two-member collaboration of the differential-privacy end-to-end tests: `pub` owns `visits`, `shop` owns
 * copies of one orders table, each under its own privacy budget so that every test spends a budget nobody else
 * touches, and one copy with no policy at all. Nobody has more than MAX_ROWS_PER_KEY rows in an orders table, so
 * the per-person cap drops nothing and the plaintext oracle's answer over the files is the exact one. Under a policy
 * GROUP BY needs declared values: the policy copies declare CATEGORIES, the only categories in the data, so every
 * query of theirs deals the groups CATEGORIES and NULL (which holds nobody).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TableData } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import type { Table } from '../../src/manifest/schema.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

export const EPSILON = 1;
export const DELTA = 1e-7;
export const MAX_ROWS_PER_KEY = 2;
export const MIN_KEYS = 3;
/** The largest |amount|: with MAX_ROWS_PER_KEY it sizes the noise of every SUM. */
export const AMOUNT_MAX = 100;
/** The declared values of `category` in the tables with a policy: every order's category is one of them. */
export const CATEGORIES = ['books', 'toys'] as const;

/** Each policy table's whole budget (ε = 1 per query), in the order the tests spend them. */
export const BUDGETS = { orders_q: 2, orders_p: 2, orders_crash: 3, orders_race: 4, orders_big: 100, orders_z: 10 } as const;
/** The one table that accounts in zCDP: discrete Gaussian noise, charges in ρ (SPEC §10.4). */
export const ZCDP = 'orders_z';
export type PolicyTable = keyof typeof BUDGETS;
/** A copy without a privacy policy: exact answers. */
export const PLAIN = 'orders_plain';
/** The one budget restored monthly; the others never are, so their messages do not depend on the date. */
const MONTHLY: PolicyTable = 'orders_p';

/** 700 people in common, 350 in each category: far above the release threshold (MIN_KEYS) of the noisy distinct-key counts. */
const VISITORS = [0, 800] as const;
const BUYERS = [100, 900] as const;
export const MATCHED_PEOPLE = 700;

/** shop owns the GROUP BY and SUM table, so it aggregates (visits grants it the overlap) whoever asks. */
export const groupSql = (table: string) => `SELECT o.category, COUNT(*), SUM(o.amount), AVG(o.amount) FROM ${table} o JOIN visits v ON o.email = v.email GROUP BY o.category`;
/** Asked by pub, which then aggregates: shop is the partner that adds the dummy matches. */
export const countSql = (table: string) => `SELECT COUNT(*) FROM visits v JOIN ${table} o ON v.email = o.email`;

function ordersTable(name: string): Table {
  const budget = (BUDGETS as Record<string, number>)[name];
  return {
    name,
    owner: 'shop',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'category', type: 'string', ...(budget === undefined ? {} : { values: [...CATEGORIES] }) },
      { name: 'amount', type: 'decimal', scale: 2, min: 0, max: AMOUNT_MAX },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }],
      dimensions: ['category'],
      minDistinctKeys: MIN_KEYS,
      overlapDisclosure: [],
      ...(budget === undefined
        ? {}
        : {
            privacy: {
              epsilon: EPSILON,
              delta: DELTA,
              maxRowsPerKey: MAX_ROWS_PER_KEY,
              budget: { epsilon: budget, refresh: name === MONTHLY ? ('month' as const) : ('never' as const) },
              // Stated, so that each test knows its noise: a budget of 100 queries would default to zCDP.
              accounting: name === ZCDP ? ('zcdp' as const) : ('pure' as const),
            },
          }),
    },
  };
}

const ORDERS = [...Object.keys(BUDGETS), PLAIN];

export const TABLES: Table[] = [
  {
    name: 'visits',
    owner: 'pub',
    // Declared and granted as a filter: the shop may group by it as the partner's dimension (SPEC §4.6).
    columns: [{ name: 'email', type: 'string' }, { name: 'campaign', type: 'string', values: ['spring', 'summer'] }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['campaign'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [{ member: 'shop', filters: ['campaign'] }] },
  },
  ...ORDERS.map(ordersTable),
];

const range = ([from, to]: readonly [number, number]) => Array.from({ length: to - from }, (_, i) => from + i);
const email = (p: number) => `person${p}@example.com`;

/** Every third person has two orders; every 17th amount is NULL. */
function orderRows(): string[] {
  return range(BUYERS).flatMap((p) => {
    const rows = p % 3 === 0 ? 2 : 1;
    return Array.from({ length: rows }, (_, r) => {
      const amount = (p + r) % 17 === 0 ? '' : `${(p * 37 + r) % AMOUNT_MAX}.${String((p * 13) % 100).padStart(2, '0')}`;
      return `${email(p)},${CATEGORIES[p % 2]},${amount}`;
    });
  });
}

export interface DpCluster {
  readonly cluster: Cluster;
  /** Every table's rows, as the plaintext oracle reads them. */
  readonly pooled: TableData;
  cleanup(): Promise<void>;
}

export async function startDpCluster(): Promise<DpCluster> {
  const tmp = await makeTempDir('dp');
  const files: Record<string, string> = { visits: join(tmp.dir, 'visits.csv') };
  writeFileSync(files.visits!, 'email,campaign\n' + range(VISITORS).map((p) => `${email(p)},${p % 2 === 0 ? 'spring' : 'summer'}`).join('\n') + '\n');
  const orders = 'email,category,amount\n' + orderRows().join('\n') + '\n';
  // One file per table: each table is checked, cached and prepared on its own.
  for (const name of ORDERS) writeFileSync((files[name] = join(tmp.dir, `${name}.csv`)), orders);
  try {
    const cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'dp-e2e',
      members: [
        { id: 'pub', name: 'Publisher', tables: { visits: { path: files.visits!, format: 'csv' } } },
        { id: 'shop', name: 'Shop', tables: Object.fromEntries(ORDERS.map((name) => [name, { path: files[name]!, format: 'csv' as const }])) },
      ],
      tables: TABLES,
      queriers: ['pub', 'shop'],
      receivers: ['pub', 'shop'],
    });
    return { cluster, pooled: await readCsvTables(files), cleanup: tmp.cleanup };
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
}
