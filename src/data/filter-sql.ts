import type { Column } from '../manifest/schema.js';
import type { Condition, Literal, Predicate } from '../query/ast.js';
import { quoteIdent } from './sql-text.js';

/**
 * One conjunct of a query side's WHERE as SQL, for the engines an owner evaluates it with: DuckDB for every table,
 * PostgreSQL for what a database table pushes down (postgres-snapshot.ts), each engine writing its own predicates.
 * Both have SQL's three-valued logic, which SPEC §5 takes as its own: a predicate on NULL is unknown, NOT unknown is
 * unknown, and a row is kept only when every conjunct is true.
 */
export function conditionSql(c: Condition, predicate: (p: Predicate) => string): string {
  switch (c.kind) {
    case 'and':
    case 'or':
      return `(${c.operands.map((o) => conditionSql(o, predicate)).join(c.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${predicate(c.operand)})`;
    default:
      return predicate(c);
  }
}

/**
 * One predicate as DuckDB evaluates it over column `c`, its literals bound as parameters by `bind`. DuckDB's lower,
 * upper and trim and its LIKE (no escape character; `_` is one code point) are the definitions of SPEC §5; ILIKE is
 * defined as lower() LIKE lower(), and written so rather than trusting DuckDB's own ILIKE to stay that.
 */
export function duckdbPredicateSql(p: Predicate, c: Column, bind: (lit: Literal) => string): string {
  const subject = (p.functions ?? []).reduce((inner, fn) => `${fn}(${inner})`, quoteIdent(c.name));
  switch (p.kind) {
    case 'compare':
      return `(${subject} ${p.op === '!=' ? '<>' : p.op} ${bind(p.value)})`;
    case 'in':
      return `(${subject} IN (${p.values.map(bind).join(', ')}))`;
    case 'between':
      return `(${subject} BETWEEN ${bind(p.low)} AND ${bind(p.high)})`;
    case 'like': {
      const pattern = bind({ type: 'string', value: p.pattern });
      return p.caseInsensitive ? `(lower(${subject}) LIKE lower(${pattern}))` : `(${subject} LIKE ${pattern})`;
    }
    case 'null':
      return `(${subject} IS NULL)`;
  }
}

/**
 * A literal bound as DuckDB parameter `param`, cast to the type of column `c` it is compared with: a number in its own
 * scale, so that it is compared exactly (the parser allows at most 15 digits); a date literal against a timestamp
 * column is that day's midnight, UTC, as DuckDB casts it.
 */
export function duckdbLiteralSql(param: string, lit: Literal, c: Column): string {
  switch (c.type) {
    case 'string':
      return `CAST(${param} AS VARCHAR)`;
    case 'date':
      return `CAST(${param} AS DATE)`;
    case 'timestamp':
      return `CAST(${param} AS TIMESTAMP)`;
    case 'boolean':
      return `CAST(${param} AS BOOLEAN)`;
    default:
      return `CAST(${param} AS DECIMAL(38, ${lit.type === 'number' ? (lit.value.split('.')[1]?.length ?? 0) : 0}))`;
  }
}
