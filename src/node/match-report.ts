import { CleanroomError, RuleViolation } from '../errors.js';
import { joinKeysOf, type JoinKeySpec, type Manifest, type Table } from '../manifest/schema.js';
import type { MatchView } from '../control/control-event.js';
import type { Cell, QueryOutcome } from '../query/result.js';

/** What a match report needs of its node: its collaboration, its own distinct keys, and its query path. */
export interface MatchDeps {
  readonly manifest: Manifest;
  readonly self: string;
  /** This member's distinct normalised keys of one join key of `table`: its own data, counted here and never sent. */
  readonly ownKeys: (table: Table, key: JoinKeySpec) => Promise<number>;
  /** Runs a query as if this node's user had submitted it: checked, audited and charged like any. */
  readonly query: (sql: string) => Promise<QueryOutcome>;
}

/**
 * The share of this member's keys in `table` that `partner` also holds, per join key against each join key of the
 * partner's tables normalised the same way (SPEC §4.7): the first thing a data partnership looks at. Each line is one
 * count-only query (SPEC §4, §10.3), so it reveals to anyone no more than that query does, and costs what it costs.
 */
export async function matchReport(d: MatchDeps, table: string, partner: string): Promise<MatchView[]> {
  const own = d.manifest.tables.find((t) => t.name === table && t.owner === d.self && !t.holders);
  if (!own) {
    const mine = d.manifest.tables.filter((t) => t.owner === d.self && !t.holders).map((t) => t.name);
    throw new CleanroomError('QUERY_INVALID', `${table} is not a table of ${d.self} alone; its tables: ${mine.join(', ') || 'none'}`);
  }
  if (partner === d.self || !d.manifest.members.some((m) => m.id === partner)) {
    throw new CleanroomError('QUERY_INVALID', `${partner} is not another member of this collaboration; the others: ${d.manifest.members.filter((m) => m.id !== d.self).map((m) => m.id).join(', ')}`);
  }
  const theirs = d.manifest.tables.filter((t) => t.owner === partner && !t.holders);
  if (theirs.length === 0) throw new CleanroomError('QUERY_INVALID', `${partner} holds no table of its own to match against (a federated table's parts are never matched one by one)`);
  const pairs = joinKeysOf(own).flatMap((key) => theirs.flatMap((t) => joinKeysOf(t).filter((k) => k.normalization === key.normalization).map((k) => ({ key, t, partnerKey: k }))));
  if (pairs.length === 0) throw new CleanroomError('QUERY_INVALID', `no join key of ${partner}'s tables is normalised as one of ${own.name}'s (${joinKeysOf(own).map((k) => `${k.column}: ${k.normalization}`).join(', ')}): no key of theirs can match one of yours`);
  const report: MatchView[] = [];
  const counted = new Map<string, number>();
  for (const { key, t, partnerKey } of pairs) {
    const ownKeys = counted.get(key.column) ?? (await d.ownKeys(own, key));
    counted.set(key.column, ownKeys);
    const outcome = await d.query(`SELECT COUNT(*) FROM ${own.name} o JOIN ${t.name} p ON o.${key.column} = p.${partnerKey.column}`);
    if (outcome.kind !== 'result') {
      throw new RuleViolation('receivers', `${d.self} does not receive results in this collaboration, so its match counts went to ${outcome.receivers.join(', ')}`, `receivers: ${d.manifest.receivers.join(', ')}`);
    }
    const { rows, privacy } = outcome.result;
    const interval = privacy?.intervals[0]?.[0];
    report.push({
      table: own.name,
      key: key.column,
      partnerTable: t.name,
      partnerKey: partnerKey.column,
      ownKeys,
      matched: count(rows[0]?.[0] ?? null),
      ...(interval ? { interval: [count(interval[0]), count(interval[1])] } : {}),
      queryId: outcome.result.queryId,
    });
  }
  return report;
}

function count(c: Cell): number {
  return Number(c ?? 0);
}

/** A report as lines for a terminal: the rate against the member's own keys, and a noisy count's interval. */
export function matchLines(report: readonly MatchView[]): string[] {
  const pct = (n: number, of: number) => (of === 0 ? 'no keys' : `${((100 * n) / of).toFixed(1)}%`);
  return report.map((m) => {
    const noisy = m.interval ? ` (noisy: ${m.interval[0]} to ${m.interval[1]} with 95% confidence, ${pct(m.interval[0], m.ownKeys)} to ${pct(m.interval[1], m.ownKeys)})` : '';
    return `${m.table}.${m.key} ~ ${m.partnerTable}.${m.partnerKey}: ${m.matched} of your ${m.ownKeys} distinct keys match, ${pct(m.matched, m.ownKeys)}${noisy}`;
  });
}
