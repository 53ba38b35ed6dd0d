import type { Table } from '../../src/manifest/schema.js';
import { instantOf, timestampText } from '../../src/manifest/time-value.js';
import type { Condition, Literal, Predicate, StringFunction } from '../../src/query/ast.js';
import { likeMatch, lowerText, trimText, upperText } from './text-functions.js';
import { compareValues, type Cell } from './values.js';

/**
 * WHERE conditions over one row, in SQL's three-valued logic (SPEC §5), written for the plaintext oracle apart from
 * the node's SQL: true, false, or null for unknown. A predicate on a NULL value is unknown (IS NULL aside), NOT
 * unknown is unknown, AND is false if any operand is, OR true if any operand is; a row is kept only when true.
 */
export type Truth = boolean | null;

/** A row as rows.ts reads it (written out here: rows.ts filters with this file). */
type Row = Readonly<Record<string, Cell>>;

const FUNCTIONS: Readonly<Record<StringFunction, (s: string) => string>> = { lower: lowerText, upper: upperText, trim: trimText };

export function conditionTruth(row: Row, c: Condition, table: Table): Truth {
  switch (c.kind) {
    case 'and':
    case 'or': {
      // The value that decides (false for AND, true for OR) wins over unknown, unknown over the other.
      const decisive = c.kind === 'or';
      let result: Truth = !decisive;
      for (const o of c.operands) {
        const t = conditionTruth(row, o, table);
        if (t === decisive) return decisive;
        if (t === null) result = null;
      }
      return result;
    }
    case 'not': {
      const t = predicateTruth(row, c.operand, table);
      return t === null ? null : !t;
    }
    default:
      return predicateTruth(row, c, table);
  }
}

function predicateTruth(row: Row, p: Predicate, table: Table): Truth {
  const column = table.columns.find((c) => c.name === p.column.column);
  if (!column) throw new Error(`${table.name} has no column ${p.column.column}`);
  const raw: Cell = row[column.name] ?? null;
  const v = raw === null ? null : (p.functions ?? []).reduce((s, fn) => FUNCTIONS[fn](s), String(raw));
  if (p.kind === 'null') return v === null;
  if (v === null) return null;
  // A date against a timestamp column is that day's midnight, UTC (SPEC §5).
  const cmp = (lit: Literal) => compareValues(v, column.type === 'timestamp' && lit.type === 'date' ? timestampText(instantOf(lit.value)) : lit.value, column);
  switch (p.kind) {
    case 'compare': {
      const c = cmp(p.value);
      return { '=': c === 0, '!=': c !== 0, '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[p.op];
    }
    case 'in':
      return p.values.some((l) => cmp(l) === 0);
    case 'between':
      return cmp(p.low) >= 0 && cmp(p.high) <= 0;
    case 'like':
      return p.caseInsensitive ? likeMatch(lowerText(v), lowerText(p.pattern)) : likeMatch(v, p.pattern);
  }
}

/** The one table a conjunct of WHERE reads (the clean room refuses a conjunct reading two). */
export function conditionTable(c: Condition): string {
  const tables = new Set(leavesOf(c).map((p) => p.column.table));
  if (tables.size !== 1) throw new Error(`a conjunct of WHERE reads ${[...tables].join(' and ')}: the clean room refuses it`);
  return [...tables][0]!;
}

/** The predicates of a condition, in the order written. */
export function leavesOf(c: Condition): Predicate[] {
  switch (c.kind) {
    case 'and':
    case 'or':
      return c.operands.flatMap(leavesOf);
    case 'not':
      return [c.operand];
    default:
      return [c];
  }
}
