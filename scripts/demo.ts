import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Table } from '../src/manifest/schema.js';
import { formatTable } from '../src/cli/table.js';
import { AVG_DECIMALS } from '../src/limits.js';
import { generateDemoData } from './demo-data.js';
import { createCluster, freePort, query, repoRoot, startNode, type RunningNode } from './local-cluster.js';
import { cellsAgree, csv, normEmail, plaintext } from './plaintext.js';

/**
 * `npm run demo`: a publisher and an advertiser, 100,000 rows each, two node processes on loopback, three
 * queries. Each answer is printed beside the plaintext answer computed from the pooled files. Exits non-zero
 * if any answer disagrees.
 */
const ROWS = 100_000;
const SEED = 42;
const MIN_KEYS = 50;

const tables: Table[] = [
  {
    name: 'publisher',
    owner: 'publisher',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'campaign', type: 'string' },
      { name: 'impressions', type: 'integer', min: 0, max: 1_000_000 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'impressions', functions: ['sum', 'avg'] }],
      dimensions: ['campaign'],
      minDistinctKeys: MIN_KEYS,
      // The advertiser may learn which of its customers saw a campaign: that is what it measures.
      overlapDisclosure: ['advertiser'],
    },
  },
  {
    name: 'advertiser',
    owner: 'advertiser',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'amount', type: 'decimal', scale: 2, min: -100_000, max: 100_000 },
      { name: 'category', type: 'string' },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: {
      aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }],
      dimensions: ['category'],
      minDistinctKeys: MIN_KEYS,
      // The publisher may not learn who bought: joins that would tell it are limited to counts.
      overlapDisclosure: [],
    },
  },
];

async function main(): Promise<number> {
  const dir = join(repoRoot(), 'demo-run');
  await rm(dir, { recursive: true, force: true });
  say(`Generating the demo data: ${ROWS.toLocaleString('en')} publisher rows and ${ROWS.toLocaleString('en')} advertiser rows (seed ${SEED})`);
  const files = await generateDemoData(join(dir, 'data'), { rows: ROWS, seed: SEED });
  const [pPort, pCtl, aPort, aCtl] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const { nodeDirs } = await createCluster({
    dir,
    collaborationId: 'spring-campaign',
    members: [
      { id: 'publisher', name: 'Publisher Media', port: pPort, controlPort: pCtl, tables: { publisher: { path: files.publisher, format: 'csv' } } },
      { id: 'advertiser', name: 'Advertiser Shop', port: aPort, controlPort: aCtl, tables: { advertiser: { path: files.advertiser, format: 'csv' } } },
    ],
    tables,
    queriers: ['publisher', 'advertiser'],
    receivers: ['publisher', 'advertiser'],
  });
  say('Starting two nodes as separate processes on loopback, each with its own identity, config and signed manifest');
  const nodes: RunningNode[] = [];
  let failures = 0;
  try {
    nodes.push(await startNode(nodeDirs.publisher!), await startNode(nodeDirs.advertiser!));
    const pub = csv(files.publisher);
    const adv = csv(files.advertiser);

    failures += await compare(
      'publisher',
      nodeDirs.publisher!,
      "SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email WHERE p.campaign = 'spring'",
      `SELECT count(*) FROM (SELECT DISTINCT ${normEmail('email')} AS k FROM ${pub} WHERE campaign = 'spring') p
       JOIN (SELECT DISTINCT ${normEmail('email')} AS k FROM ${adv}) a USING (k) WHERE k <> ''`,
      'count-only PSI: the publisher learns how many distinct people who saw the spring campaign also bought; nobody learns who.',
    );

    failures += await compare(
      'advertiser',
      nodeDirs.advertiser!,
      "SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign IN ('spring', 'summer') GROUP BY a.category",
      `SELECT category, count(*), CAST(sum(CAST(amount AS DECIMAL(38,2))) AS VARCHAR), round(avg(CAST(amount AS DECIMAL(38,2))), ${AVG_DECIMALS})
       FROM ${adv} a WHERE ${normEmail('email')} <> '' AND ${normEmail('email')} IN (SELECT ${normEmail('email')} FROM ${pub} WHERE campaign IN ('spring', 'summer'))
       GROUP BY category HAVING count(DISTINCT ${normEmail('email')}) >= ${MIN_KEYS} ORDER BY category`,
      'aggregate PSI: the advertiser learns which of its own customers saw spring or summer ads (the publisher granted that), the publisher learns the result only.',
    );

    say('\nQuery 3, asked by the publisher: sales per campaign would tell the publisher who bought, which the advertiser has not granted.');
    const refused = await query(nodeDirs.publisher!, 'SELECT p.campaign, COUNT(*), SUM(p.impressions) FROM publisher p JOIN advertiser a ON p.email = a.email GROUP BY p.campaign');
    if (refused.kind === 'error' && refused.code === 'RULE_VIOLATION') say(`  refused before any cryptography ran, as it should be:\n  ${refused.message}`);
    else {
      say(`  expected a refusal, got ${JSON.stringify(refused)}`);
      failures += 1;
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
  say(failures === 0 ? '\nAll answers agree with the plaintext computation.' : `\n${failures} answer(s) disagree.`);
  return failures === 0 ? 0 : 1;
}

async function compare(asker: string, nodeDir: string, sql: string, reference: string, note: string): Promise<number> {
  say(`\nQuery asked by the ${asker}:\n  ${sql}\n  (${note})`);
  const started = Date.now();
  const answer = await query(nodeDir, sql);
  if (answer.kind !== 'result') {
    say(`  failed: ${JSON.stringify(answer)}`);
    return 1;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const expected = await plaintext(reference);
  const ours = answer.result;
  say(`\n  clean room (${seconds} s, ${ours.mode}):\n${indent(formatTable(ours))}`);
  say(`\n  plaintext, computed from the pooled files:\n${indent(formatTable({ columns: ours.columns, rows: expected }))}`);
  const tolerance = 10 ** -AVG_DECIMALS;
  const agree =
    expected.length === ours.rows.length &&
    ours.rows.every((row, i) => row.every((cell, j) => cellsAgree(cell, expected[i]![j] ?? null, ours.columns[j]!.startsWith('avg') ? tolerance : 0)));
  say(`\n  agree: ${agree ? 'yes' : 'NO'}`);
  return agree ? 0 : 1;
}

const say = (s: string) => process.stdout.write(s + '\n');
const indent = (s: string) => s.replace(/^/gm, '    ');

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
