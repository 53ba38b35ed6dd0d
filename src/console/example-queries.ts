import { joinKeysOf, overlapGrant, type Column, type Manifest, type Table } from '../manifest/schema.js';
import type { ExampleQueryView } from './api.js';
import { tableAliases } from './schema-view.js';

/** Enough to show each kind of query without burying the editor under them. */
const MAX_PER_KIND = 2;

/**
 * Example queries from the manifest, for `self` to load into the editor: per own table joined with a partner's, a
 * count of the matched keys; a GROUP BY over a dimension with SUM and AVG of a column its rule allows; and a GROUP BY
 * over the partner's dimension (SPEC §4.6) where the partner's grant lists it. Candidates only: the caller keeps
 * those the planner allows, so an example never fails on a rule this builder did not foresee.
 */
export function exampleCandidates(manifest: Manifest, self: string): ExampleQueryView[] {
  const aliases = tableAliases(manifest.tables);
  const own = manifest.tables.filter((t) => t.owner === self && !t.holders);
  const partners = manifest.tables.filter((t) => t.owner !== self && !t.holders);
  const out: ExampleQueryView[] = [];
  for (const p of own) {
    for (const q of partners) {
      const on = joinOn(p, q, aliases);
      if (!on) continue;
      const [a, b] = [aliases.get(p.name)!, aliases.get(q.name)!];
      const from = `FROM ${p.name} ${a} JOIN ${q.name} ${b} ON ${on}`;
      out.push({ kind: 'count-only', title: `How many keys of ${p.name} ${q.owner}'s ${q.name} also holds`, sql: `SELECT COUNT(*) ${from}` });
      const values = valuesOf(p);
      const dimension = groupable(p, p.rules.dimensions);
      if (dimension) {
        out.push({
          kind: 'group-by',
          title: `Per ${dimension.name} of ${p.name}: matched keys${values.length > 0 ? `, ${values.map((v) => v.text).join(' and ')}` : ''}`,
          sql: `SELECT ${a}.${dimension.name}, COUNT(*)${values.map((v) => `, ${v.sql(a)}`).join('')} ${from} GROUP BY ${a}.${dimension.name}`,
        });
      }
      const partnerDimension = groupable(q, overlapGrant(q, self)?.filters ?? []);
      if (partnerDimension) {
        const value = values[0];
        out.push({
          kind: 'partner-dimension',
          title: `Per ${partnerDimension.name} of ${q.owner}'s ${q.name}: matched keys of ${p.name}${value ? `, ${value.text}` : ''}`,
          sql: `SELECT ${b}.${partnerDimension.name}, COUNT(*)${value ? `, ${value.sql(a)}` : ''} ${from} GROUP BY ${b}.${partnerDimension.name}`,
        });
      }
    }
  }
  return (['count-only', 'group-by', 'partner-dimension'] as const).flatMap((kind) => out.filter((e) => e.kind === kind).slice(0, MAX_PER_KIND));
}

/** ON over the first key pair of one normalisation: a join on differently normalised keys would match nothing. */
function joinOn(p: Table, q: Table, aliases: ReadonlyMap<string, string>): string | undefined {
  for (const kp of joinKeysOf(p)) {
    const kq = joinKeysOf(q).find((k) => k.normalization === kp.normalization);
    if (kq) return `${aliases.get(p.name)}.${kp.column} = ${aliases.get(q.name)}.${kq.column}`;
  }
  return undefined;
}

/**
 * A column among `names` worth grouping by: one with declared values first (a table under a privacy policy, and a
 * partner's dimension, need them: every group is dealt, SPEC §4.3, §4.6), then any boolean or string one.
 */
function groupable(t: Table, names: readonly string[]): Column | undefined {
  const columns = t.columns.filter((c) => names.includes(c.name));
  return columns.find((c) => c.type === 'string' && c.values !== undefined) ?? columns.find((c) => c.type === 'boolean') ?? columns[0];
}

/** SUM and AVG of the first column the rule lets be summed or averaged. */
function valuesOf(t: Table): { text: string; sql: (alias: string) => string }[] {
  const rule = t.rules.aggregations.find((r) => r.functions.includes('sum') || r.functions.includes('avg'));
  if (!rule) return [];
  return (['sum', 'avg'] as const)
    .filter((f) => rule.functions.includes(f))
    .map((f) => ({ text: `${f.toUpperCase()} of ${rule.column}`, sql: (alias: string) => `${f.toUpperCase()}(${alias}.${rule.column})` }));
}
