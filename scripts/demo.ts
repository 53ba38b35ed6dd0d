import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Table } from '../src/manifest/schema.js';
import { formatTable } from '../src/cli/table.js';
import { generateDemoData } from './demo-data.js';
import { createCluster, freePort, query, repoRoot, startNode, type RunningNode } from './local-cluster.js';
import { plaintextAnswer, sameAnswer, type TableData } from './plaintext/answer.js';
import { readCsvTables } from './plaintext/csv-tables.js';

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
    const pooled = await readCsvTables(files);

    failures += await compare(
      'publisher',
      nodeDirs.publisher!,
      "SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email WHERE p.campaign = 'spring'",
      pooled,
      'count-only PSI: the publisher learns how many distinct people who saw the spring campaign also bought; nobody learns who.',
    );

    failures += await compare(
      'advertiser',
      nodeDirs.advertiser!,
      "SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign IN ('spring', 'summer') GROUP BY a.category",
      pooled,
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

/** Asks the clean room, prints its answer beside the plaintext oracle's over the pooled files; 1 if they differ. */
async function compare(asker: string, nodeDir: string, sql: string, pooled: TableData, note: string): Promise<number> {
  say(`\nQuery asked by the ${asker}:\n  ${sql}\n  (${note})`);
  const started = Date.now();
  const answer = await query(nodeDir, sql);
  if (answer.kind !== 'result') {
    say(`  failed: ${JSON.stringify(answer)}`);
    return 1;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const expected = await plaintextAnswer(sql, tables, pooled);
  const ours = answer.result;
  say(`\n  clean room (${seconds} s, ${ours.mode}):\n${indent(formatTable(ours))}`);
  say(`\n  plaintext, computed from the pooled files:\n${indent(formatTable(expected))}`);
  const agree = sameAnswer(ours, expected);
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
