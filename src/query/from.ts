import { MAX_JOIN_KEYS } from '../limits.js';
import type { ColumnRef, JoinCondition, KeyPair } from './ast.js';
import { child, children, describe, invalid, list, optionalChild, text, texts, type Node } from './tree.js';

const JOIN_FORM = 'FROM a JOIN b ON a.k = b.k [JOIN c ON a.k = c.k]';

/** The tables of FROM and the names (alias, else table name) that columns may be qualified with. */
export class Scope {
  readonly tables: string[] = [];
  private readonly byQualifier = new Map<string, string>();

  add(table: string, qualifier: string): void {
    if (this.tables.includes(table)) throw invalid(`table ${table} appears twice in FROM: self-joins are not supported`);
    if (this.byQualifier.has(qualifier)) throw invalid(`${qualifier} names two tables in FROM: give each table its own alias`);
    this.tables.push(table);
    this.byQualifier.set(qualifier, table);
  }

  /** Resolves a COLUMN_REF node to the real table; every column must be written as qualifier.column. */
  column(ref: Node): ColumnRef {
    const names = texts(ref, 'column_names').map((s) => s.toLowerCase());
    const [qualifier, column] = names;
    if (names.length === 1) throw invalid(`qualify column ${qualifier} with its table, e.g. ${this.firstQualifier()}.${qualifier}`);
    if (names.length !== 2 || qualifier === undefined || column === undefined) {
      throw invalid(`column ${names.join('.')} is not supported: write columns as table.column`);
    }
    const table = this.byQualifier.get(qualifier);
    if (table === undefined) {
      throw invalid(`${qualifier}.${column}: ${qualifier} names no table in FROM (${[...this.byQualifier.keys()].join(', ')})`);
    }
    return { table, column };
  }

  private firstQualifier(): string {
    return this.byQualifier.keys().next().value ?? 't';
  }
}

export interface FromClause {
  readonly scope: Scope;
  readonly joins: readonly JoinCondition[];
}

interface Step {
  readonly table: string;
  readonly qualifier: string;
  readonly on: Node | null; // null for the first table
}

export function fromClause(from: Node): FromClause {
  const steps = joinSteps(from);
  const scope = new Scope();
  for (const s of steps) scope.add(s.table, s.qualifier);
  const joins: JoinCondition[] = [];
  steps.forEach((s, i) => {
    if (s.on !== null) joins.push(joinCondition(s.on, scope, scope.tables.slice(0, i), s.table));
  });
  return { scope, joins };
}

/** DuckDB nests a JOIN b JOIN c as ((a JOIN b) JOIN c): walk down the left spine. */
function joinSteps(n: Node): Step[] {
  if (n.type !== 'JOIN') return [{ ...baseTable(n), on: null }];
  checkJoin(n);
  return [...joinSteps(child(n, 'left')), { ...baseTable(child(n, 'right')), on: joinOn(n) }];
}

function checkJoin(join: Node): void {
  const ref = text(join, 'ref_type');
  if (ref === 'CROSS') throw invalid(`comma joins and CROSS JOIN are not supported: ${JOIN_FORM}`);
  if (ref !== 'REGULAR') throw invalid(`${ref} JOIN is not supported: ${JOIN_FORM}`);
  const type = text(join, 'join_type');
  if (type !== 'INNER') throw invalid(`${type} JOIN is not supported: only inner joins, ${JOIN_FORM}`);
  if (list(join, 'using_columns').length > 0) throw invalid(`JOIN ... USING is not supported: ${JOIN_FORM}`);
  rejectSample(join);
}

function joinOn(join: Node): Node {
  const on = optionalChild(join, 'condition');
  if (on === null) throw invalid(`JOIN needs an ON condition: ${JOIN_FORM}`);
  return on;
}

function baseTable(n: Node): { table: string; qualifier: string } {
  switch (n.type) {
    case 'BASE_TABLE':
      break;
    case 'JOIN':
      throw invalid(`parenthesised joins are not supported: ${JOIN_FORM}`);
    case 'SUBQUERY':
      throw invalid('subqueries are not supported in FROM: name the tables directly');
    case 'TABLE_FUNCTION':
      throw invalid('table functions are not supported in FROM: name the tables directly');
    case 'EMPTY':
      throw invalid(`the query has no FROM clause: ${JOIN_FORM}`);
    default:
      throw invalid(`${String(n.type)} is not supported in FROM: ${JOIN_FORM}`);
  }
  const table = text(n, 'table_name').toLowerCase();
  if (text(n, 'schema_name') !== '' || text(n, 'catalog_name') !== '') {
    throw invalid(`write the table name ${table} without a schema or catalog`);
  }
  if (list(n, 'column_name_alias').length > 0) throw invalid(`column aliases on table ${table} are not supported`);
  if (n.at_clause !== null) throw invalid('AT (time travel) is not supported');
  rejectSample(n);
  const alias = text(n, 'alias').toLowerCase();
  return { table, qualifier: alias === '' ? table : alias };
}

function rejectSample(n: Node): void {
  if (n.sample !== null) throw invalid('SAMPLE and TABLESAMPLE are not supported');
}

/**
 * A JOIN's ON: equalities between a column of the table being joined and one of a table joined before it, each
 * normalised so that `right` is the newly joined table's column; several under one AND (a compound key) or one OR
 * (alternative keys), not mixed (SPEC §4.7).
 */
function joinCondition(on: Node, scope: Scope, joined: readonly string[], table: string): JoinCondition {
  const form = `JOIN ${table} ON x.k = ${table}.k [AND x.k2 = ${table}.k2 ... | OR x.k2 = ${table}.k2 ...], with x one of ${joined.join(', ')}`;
  const combine = on.type === 'CONJUNCTION_AND' ? 'and' : on.type === 'CONJUNCTION_OR' ? 'or' : undefined;
  const equalities = combine ? children(on, 'children') : [on];
  const pairs = equalities.map((e) => keyPair(e, scope, joined, table, form));
  if (pairs.length > MAX_JOIN_KEYS) throw invalid(`a JOIN condition compares ${pairs.length} pairs of columns; at most ${MAX_JOIN_KEYS}`);
  for (const [i, p] of pairs.entries()) {
    if (pairs.findIndex((x) => x.left.table === p.left.table && x.left.column === p.left.column) !== i) throw invalid(`${p.left.table}.${p.left.column} is compared twice in one JOIN condition: ${form}`);
  }
  return { pairs, combine: combine ?? 'and' };
}

function keyPair(on: Node, scope: Scope, joined: readonly string[], table: string, form: string): KeyPair {
  if (on.type === 'CONJUNCTION_AND' || on.type === 'CONJUNCTION_OR') throw invalid(`AND and OR cannot be mixed in a JOIN condition: ${form}`);
  if (on.type !== 'COMPARE_EQUAL') throw invalid(`${describe(on)} is not supported in a JOIN condition: ${form}`);
  const left = child(on, 'left');
  const right = child(on, 'right');
  if (left.class !== 'COLUMN_REF' || right.class !== 'COLUMN_REF') {
    throw invalid(`a JOIN condition compares two columns, one per table: ${form}`);
  }
  const a = scope.column(left);
  const b = scope.column(right);
  if (b.table === table && joined.includes(a.table)) return { left: a, right: b };
  if (a.table === table && joined.includes(b.table)) return { left: b, right: a };
  throw invalid(`the JOIN condition must compare a column of ${table} with a column of a table joined before it: ${form}`);
}
