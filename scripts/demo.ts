import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { joinKeysOf, type Table } from '../src/manifest/schema.js';
import { spawnSync } from 'node:child_process';
import { formatResult, formatTable } from '../src/cli/table.js';
import { generateDemoData } from './demo-data.js';
import { DEMO_DP_SQL, DEMO_TABLES, DEMO_WEEKLY_SQL, MAX_ROWS_PER_KEY } from './demo-tables.js';
import { CLI, createCluster, freePort, query, repoRoot, startNode, type RunningNode } from './local-cluster.js';
import { checkIntervals } from './plaintext/intervals.js';
import { normalizeKey } from './plaintext/rows.js';
import { plaintextAnswer, sameAnswer, type TableData } from './plaintext/answer.js';
import { readCsvTables } from './plaintext/csv-tables.js';

/**
 * `npm run demo`: a publisher and an advertiser, 100,000 rows each, two node processes on loopback, three
 * queries. Each answer is printed beside the plaintext answer computed from the pooled files. Exits non-zero
 * if any answer disagrees.
 */
const ROWS = 100_000;
const SEED = 42;
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
    tables: DEMO_TABLES,
    queriers: ['publisher', 'advertiser'],
    receivers: ['publisher', 'advertiser'],
  });
  say('Starting two nodes as separate processes on loopback, each with its own identity, config and signed manifest');
  const nodes: RunningNode[] = [];
  let failures = 0;
  try {
    nodes.push(await startNode(nodeDirs.publisher!), await startNode(nodeDirs.advertiser!));
    const pooled = await readCsvTables(files);
    say(`\nThe advertiser's table has a privacy policy (ε = 1 per query, δ = 1e-7, ${MAX_ROWS_PER_KEY} rows per person, budget 10 per month): every query touching it returns noisy values, each with a 95% interval.`);
    say(capEffect(pooled, DEMO_TABLES[1]!));
    const dpSql = DEMO_DP_SQL;
    say(`\nWhat the advertiser's second query will cost, before running it (cleanroom query <dir> --preview "<sql>"):`);
    await cli(['query', nodeDirs.advertiser!, '--preview', dpSql]);

    failures += await compare(
      'publisher',
      nodeDirs.publisher!,
      "SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email WHERE p.campaign = 'spring'",
      pooled,
      'count-only PSI with dummy matches: the publisher learns about how many distinct people who saw the spring campaign also bought, never the exact number; nobody learns who.',
    );

    say("\nThe advertiser's match report (cleanroom match <dir> advertiser --with publisher): how many of its customers the publisher reaches, a count-only query, noisy and charged under its policy.");
    await cli(['match', nodeDirs.advertiser!, 'advertiser', '--with', 'publisher']);

    failures += await compare(
      'advertiser',
      nodeDirs.advertiser!,
      dpSql,
      pooled,
      'campaign measurement, purchases per campaign and category in one PSI: the advertiser learns which of its own customers saw the spring ads and which the summer ones (the publisher granted that: what one query per campaign would show), never who else saw them; the publisher learns the advertiser\'s noisy key count, each group\'s noisy matched-row count without its label, and the result. A customer who saw both campaigns counts in both.',
    );

    failures += await compare(
      'advertiser',
      nodeDirs.advertiser!,
      DEMO_WEEKLY_SQL,
      pooled,
      'campaign measurement by week: every one of the thirteen weeks is dealt (the bought_on bounds say which exist), so the weeks without buyers are not told apart from the others; each value is noisy, and ORDER BY sorts the released rows.',
    );

    say('\nQuery 4, asked by the publisher: sales per campaign would tell the publisher who bought, which the advertiser has not granted.');
    const refused = await query(nodeDirs.publisher!, 'SELECT p.campaign, COUNT(*), SUM(p.impressions) FROM publisher p JOIN advertiser a ON p.email = a.email GROUP BY p.campaign');
    if (refused.kind === 'error' && refused.code === 'RULE_VIOLATION') say(`  refused before any cryptography ran, as it should be:\n  ${refused.message}`);
    else {
      say(`  expected a refusal, got ${JSON.stringify(refused)}`);
      failures += 1;
    }

    say("\nThe advertiser's privacy budget after these queries (cleanroom budget <dir>): each DP query it accepted or asked was charged before any cryptography ran.");
    await cli(['budget', nodeDirs.advertiser!]);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
  say(failures === 0 ? '\nEvery exact answer agrees with the plaintext computation, and every noisy one lies around it as stated.' : `\n${failures} answer(s) disagree.`);
  return failures === 0 ? 0 : 1;
}

/**
 * Asks the clean room and prints its answer beside the plaintext oracle's over the pooled files. An exact answer
 * must agree cell for cell; a DP answer states an interval for every value, and the demo says which hold the exact
 * value (each should, 95% of the time). Returns 1 if an exact answer differs or a DP answer misses most intervals.
 */
async function compare(asker: string, nodeDir: string, sql: string, pooled: TableData, note: string): Promise<number> {
  say(`\nQuery asked by the ${asker}:\n  ${sql}\n  (${note})`);
  const started = Date.now();
  const answer = await query(nodeDir, sql);
  if (answer.kind !== 'result') {
    say(`  failed: ${JSON.stringify(answer)}`);
    return 1;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const expected = await plaintextAnswer(sql, DEMO_TABLES, pooled);
  const ours = answer.result;
  say(`\n  clean room (${seconds} s, ${ours.mode}):\n${indent(formatResult(ours))}`);
  say(`\n  plaintext, computed from the pooled files:\n${indent(formatTable(expected))}`);
  if (!ours.privacy) {
    const agree = sameAnswer(ours, expected);
    say(`\n  agree: ${agree ? 'yes' : 'NO'}`);
    return agree ? 0 : 1;
  }
  const check = checkIntervals(ours, expected);
  const per = check.verdicts.map((v, i) => `${ours.rows[i]!.filter((_, c) => expected.outputs[c] === 'dimension').join(', ') || 'all'}: ${v === null ? 'not released exactly' : v.filter((x) => x !== null).map((x) => (x ? 'inside' : 'OUTSIDE')).join(', ')}`);
  say(`\n  exact value inside the stated ${ours.privacy.confidence * 100}% interval:\n${indent(per.join('\n'))}`);
  say(`  ${check.within} of ${check.cells} values inside their interval${check.onlyExact + check.onlyNoisy > 0 ? `; ${check.onlyExact} group(s) released only exactly, ${check.onlyNoisy} only with noise (the threshold is on noisy counts)` : ''}`);
  // Each interval misses 5% of the time at most: fewer than half inside would mean the bounds are wrong.
  return check.within * 2 >= check.cells ? 0 : 1;
}

/** People with more rows than the cap: their extra rows are dropped at random before a DP aggregation. */
function capEffect(rows: TableData, table: Table): string {
  const perKey = new Map<string, number>();
  for (const r of rows[table.name] as readonly Record<string, unknown>[]) {
    const [key] = joinKeysOf(table);
    const k = normalizeKey(r[key!.column] as string | null, key!.normalization);
    if (k) perKey.set(k, (perKey.get(k) ?? 0) + 1);
  }
  const over = [...perKey.values()].filter((n) => n > MAX_ROWS_PER_KEY);
  const dropped = over.reduce((a, n) => a + n - MAX_ROWS_PER_KEY, 0);
  return `${over.length} of ${perKey.size} people have more than ${MAX_ROWS_PER_KEY} rows in ${table.name}; DP queries count ${MAX_ROWS_PER_KEY} of each, at random (${dropped} rows set aside), so their exact answers can differ a little from the plaintext over every row`;
}

const say = (s: string) => process.stdout.write(s + '\n');

/** Runs the CLI as a user would and shows its output, indented. */
async function cli(args: string[]): Promise<void> {
  const r = spawnSync(process.execPath, [CLI(), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cleanroom ${args[0]} failed: ${r.stderr}`);
  say(indent(r.stdout.trimEnd()));
}
const indent = (s: string) => s.replace(/^/gm, '    ');

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
