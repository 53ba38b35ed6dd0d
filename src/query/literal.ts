import type { Literal } from './ast.js';
import { child, describe, integer, invalid, text, texts, type Node } from './tree.js';

const LITERALS_ALLOWED = "write a string ('text'), a number (-12.50) or a boolean (true)";

/** A literal in WHERE. Anything else, including a column, is refused: predicates compare a column with constants. */
export function literal(n: Node): Literal {
  switch (n.class) {
    case 'CONSTANT':
      return constant(child(n, 'value'));
    case 'CAST':
      return booleanLiteral(n);
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

/** DuckDB parses TRUE and FALSE as CAST('t' AS BOOLEAN) and CAST('f' AS BOOLEAN). */
function booleanLiteral(cast: Node): Literal {
  const value = child(cast, 'child');
  const raw = value.class === 'CONSTANT' ? child(value, 'value') : null;
  const isBoolean =
    text(child(cast, 'cast_type'), 'id') === 'BOOLEAN' &&
    cast.try_cast === false &&
    raw !== null &&
    text(child(raw, 'type'), 'id') === 'VARCHAR' &&
    (raw.value === 't' || raw.value === 'f');
  if (!isBoolean) throw invalid(`CAST is not supported: ${LITERALS_ALLOWED}`);
  return { type: 'boolean', value: raw.value === 't' };
}
