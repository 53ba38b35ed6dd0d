import { holdersOf, joinKeysOf, overlapGrant, type Manifest, type Table } from '../manifest/schema.js';
import type { SchemaColumnView, SchemaTableView } from './api.js';
import { describeColumn } from './rules-text.js';

/** Words an alias may not be: the parser would read them as SQL. */
const RESERVED = new Set(['as', 'at', 'by', 'do', 'if', 'in', 'is', 'on', 'or', 'to', 'and', 'asc', 'avg', 'end', 'for', 'not', 'sum', 'all', 'any', 'key', 'row', 'set', 'top', 'use', 'desc', 'from', 'join', 'case', 'else', 'then', 'when', 'with', 'null', 'true', 'false', 'limit', 'where', 'group', 'order', 'select', 'having', 'offset']);

/**
 * An alias for each table, the same on every load: the initials of its name's words (`t_ann_dp` → `tad`), a digit
 * added when another table took it first, so that examples and inserted columns read alike.
 */
export function tableAliases(tables: readonly Table[]): Map<string, string> {
  const taken = new Set<string>();
  const aliases = new Map<string, string>();
  for (const t of tables) {
    const initials = t.name.split('_').filter((w) => w.length > 0).map((w) => w[0]).join('') || 't';
    let alias = /^[a-z]/.test(initials) ? initials : `t${initials}`;
    for (let n = 2; taken.has(alias) || RESERVED.has(alias); n++) alias = `${initials}${n}`;
    taken.add(alias);
    aliases.set(t.name, alias);
  }
  return aliases;
}

/** Every table of the manifest with, per column, what its rules allow a query to do with it. */
export function schemaTables(manifest: Manifest, self: string): SchemaTableView[] {
  const aliases = tableAliases(manifest.tables);
  return manifest.tables.map((t) => ({
    name: t.name,
    owner: t.owner,
    holders: holdersOf(t),
    own: holdersOf(t).includes(self),
    alias: aliases.get(t.name)!,
    columns: t.columns.map((c) => columnView(t, manifest, c.name, describeColumn(t, c))),
    ...(t.rules.privacy ? { epsilon: t.rules.privacy.epsilon } : {}),
    minDistinctKeys: t.rules.minDistinctKeys,
  }));
}

function columnView(t: Table, manifest: Manifest, name: string, described: { type: string; detail: string }): SchemaColumnView {
  const key = joinKeysOf(t).find((k) => k.column === name);
  const functions = t.rules.aggregations.filter((a) => a.column === name).flatMap((a) => a.functions.map((f) => f.toUpperCase()));
  // SPEC §4.6: the grant is this table's, to the member aggregating the other table of a two-table join.
  const partnerDimensionFor = manifest.members.map((m) => m.id).filter((id) => !holdersOf(t).includes(id) && (overlapGrant(t, id)?.filters ?? []).includes(name));
  return {
    name,
    type: described.type,
    detail: described.detail,
    ...(key ? { joinKey: key.normalization } : {}),
    dimension: t.rules.dimensions.includes(name),
    functions,
    partnerDimensionFor,
  };
}
