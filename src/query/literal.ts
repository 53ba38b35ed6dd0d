import { ISO_DATE, ISO_TIMESTAMP } from '../manifest/schema.js';
import { daysOf, dateText, instantOf, timestampText } from '../manifest/time-value.js';
import type { Literal } from './ast.js';
import { child, describe, integer, invalid, text, texts, type Node } from './tree.js';

const LITERALS_ALLOWED = "write a string ('text'), a number (-12.50), a boolean (true), DATE 'YYYY-MM-DD' or TIMESTAMP 'YYYY-MM-DD HH:MM:SS'";

/** A literal in WHERE. Anything else, including a column, is refused: predicates compare a column with constants. */
export function literal(n: Node): Literal {
  switch (n.class) {
    case 'CONSTANT':
      return constant(child(n, 'value'));
    case 'CAST':
      return castLiteral(n);
    case 'COLUMN_REF':
      throw invalid(`comparing with another column (${texts(n, 'column_names').join('.')}) is not supported: ${LITERALS_ALLOWED}`);
    default:
      throw invalid(`${describe(n)} is not supported where a literal is expected: ${LITERALS_ALLOWED}`);
  }
}

function constant(value: Node): Literal {
  if (value.is_null === true) throw invalid('NULL is not supported: compare columns with strings, numbers or booleans');
  const type = child(value, 'type');
  const id = text(type, 'id');
  const raw = value.value;
  if (id === 'VARCHAR' && typeof raw === 'string') return { type: 'string', value: raw };
  if (id === 'INTEGER' || id === 'BIGINT') return { type: 'number', value: decimalText(raw, 0) };
  if (id === 'DECIMAL') return { type: 'number', value: decimalText(raw, integer(child(type, 'type_info'), 'scale')) };
  if (id === 'HUGEINT' || id === 'DOUBLE') throw tooPrecise();
  throw invalid(`literals of type ${id} are not supported: ${LITERALS_ALLOWED}`);
}

/**
 * DuckDB folds a leading minus into the constant and keeps a decimal as an unscaled integer plus
 * its scale, so -12.50 arrives as -1250 with scale 2: the text is rebuilt from digits, never from
 * a float. The tree is JSON, so an unscaled value beyond 2^53 has already been rounded by the
 * time we see it (DuckDB itself writes 64-bit values through a double): refuse those.
 */
function decimalText(unscaled: unknown, scale: number): string {
  if (typeof unscaled !== 'number' || !Number.isSafeInteger(unscaled)) throw tooPrecise();
  const digits = Math.abs(unscaled).toString().padStart(scale + 1, '0');
  const point = digits.length - scale;
  const magnitude = scale === 0 ? digits : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return unscaled < 0 ? `-${magnitude}` : magnitude;
}

function tooPrecise(): Error {
  return invalid('numbers must be plain decimals (no exponent) with at most 15 digits');
}

/**
 * DuckDB parses TRUE and FALSE as CAST('t' AS BOOLEAN) and CAST('f' AS BOOLEAN), and DATE '…' and TIMESTAMP '…' as
 * casts of the text too: those four forms, and no other cast.
 */
function castLiteral(cast: Node): Literal {
  const value = child(cast, 'child');
  const raw = value.class === 'CONSTANT' ? child(value, 'value') : null;
  const to = text(child(cast, 'cast_type'), 'id');
  const textValue = cast.try_cast === false && raw !== null && text(child(raw, 'type'), 'id') === 'VARCHAR' && typeof raw.value === 'string' ? raw.value : null;
  if (textValue === null) throw invalid(`CAST is not supported: ${LITERALS_ALLOWED}`);
  if (to === 'BOOLEAN' && (textValue === 't' || textValue === 'f')) return { type: 'boolean', value: textValue === 't' };
  if (to === 'DATE') return dateLiteral(textValue);
  if (to === 'TIMESTAMP') return timestampLiteral(textValue);
  if (to === 'TIMESTAMP WITH TIME ZONE') return timestampLiteral(textValue);
  throw invalid(`CAST is not supported: ${LITERALS_ALLOWED}`);
}

function dateLiteral(value: string): Literal {
  if (!ISO_DATE.test(value) || dateText(daysOf(value)) !== value || value < '0001') {
    throw invalid(`DATE '${value}' is not a day written YYYY-MM-DD that exists in the calendar`);
  }
  return { type: 'date', value };
}

/** The instant in UTC, written as DuckDB writes a TIMESTAMP: an offset in the text is applied, none means UTC. */
function timestampLiteral(value: string): Literal {
  const valid = ISO_TIMESTAMP.test(value) || ISO_DATE.test(value);
  const day = value.slice(0, 10);
  const [hh, mm, ss] = [Number(value.slice(11, 13) || 0), Number(value.slice(14, 16) || 0), Number(value.slice(17, 19) || 0)];
  if (!valid || dateText(daysOf(day)) !== day || day < '0001' || hh > 23 || mm > 59 || ss > 59) {
    throw invalid(`TIMESTAMP '${value}' is not an instant written YYYY-MM-DD HH:MM[:SS[.ffffff]] with an optional Z or ±HH:MM that exists`);
  }
  return { type: 'timestamp', value: timestampText(instantOf(value)) };
}
