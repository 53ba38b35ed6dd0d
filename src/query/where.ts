import { CleanroomError } from '../errors.js';
import { MAX_WHERE_DEPTH, MAX_WHERE_PREDICATES } from '../limits.js';
import type { ComparisonOp, Condition, Predicate, StringFunction, Subject } from './ast.js';
import { predicatesOf } from './condition.js';
import type { Scope } from './from.js';
import { literal } from './literal.js';
import { child, children, COMPARISONS, describe, invalid, list, MIRRORED, text, type Node } from './tree.js';

const PREDICATE_FORMS =
  "t.c = 'x' (or !=, <, <=, >, >=), t.c [NOT] IN ('x', 'y'), t.c [NOT] BETWEEN 1 AND 9, t.c IS [NOT] NULL, " +
  "t.c [NOT] LIKE 'a%' and [NOT] ILIKE, on a column or on lower(t.c), upper(t.c), trim(t.c); a boolean column alone (t.b, NOT t.b); " +
  'combined with AND, OR, NOT and parentheses';

const SUBJECT_FORMS = 'a column, or lower(t.c), upper(t.c) or trim(t.c) of a string column';

// NOT t.x < 5 is t.x >= 5, also when t.x is NULL: both are unknown.
const NEGATED: Readonly<Record<ComparisonOp, ComparisonOp>> = { '=': '!=', '!=': '=', '<': '>=', '<=': '>', '>': '<=', '>=': '<' };

const STRING_FUNCTIONS: ReadonlySet<string> = new Set<StringFunction>(['lower', 'upper', 'trim']);

interface LikeOperator { readonly name: string; readonly caseInsensitive: boolean; readonly negated: boolean }

// DuckDB writes LIKE and its kin as operator functions.
const LIKE_OPERATORS: ReadonlyMap<string, LikeOperator> = new Map([
  ['~~', { name: 'LIKE', caseInsensitive: false, negated: false }],
  ['!~~', { name: 'NOT LIKE', caseInsensitive: false, negated: true }],
  ['~~*', { name: 'ILIKE', caseInsensitive: true, negated: false }],
  ['!~~*', { name: 'NOT ILIKE', caseInsensitive: true, negated: true }],
]);
const LIKE_ESCAPE = /^(not_)?i?like_escape$/;

/** A predicate, or NOT of one: what NOT can be pushed down to. */
type Leaf = Predicate | { readonly kind: 'not'; readonly operand: Predicate };

/**
 * The conjuncts of WHERE: NOT pushed inward (De Morgan), nested ANDs and ORs merged, then the top AND split, so that
 * `NOT (a.x = 1 OR p.y = 2)` is two conjuncts, one per table. Each conjunct is checked on its own.
 */
export function whereClause(where: Node | null, scope: Scope): Condition[] {
  if (where === null) return [];
  const tree = condition(where, false, scope);
  checkSize(tree);
  return tree.kind === 'and' ? [...tree.operands] : [tree];
}

/** One condition outside WHERE (a CASE dimension's WHEN), NOT pushed inward and bounded as WHERE is. */
export function conditionClause(n: Node, scope: Scope): Condition {
  const tree = condition(n, false, scope);
  checkSize(tree);
  return tree;
}

/** `n`, or NOT `n` when `negated`, with NOT pushed down to the predicates. */
function condition(n: Node, negated: boolean, scope: Scope): Condition {
  if (n.type === 'CONJUNCTION_AND' || n.type === 'CONJUNCTION_OR') {
    const kind = (n.type === 'CONJUNCTION_AND') !== negated ? 'and' : 'or';
    const operands = children(n, 'children').flatMap((c) => {
      const o = condition(c, negated, scope);
      return (o.kind === 'and' || o.kind === 'or') && o.kind === kind ? o.operands : [o];
    });
    return { kind, operands };
  }
  if (n.type === 'OPERATOR_NOT') return condition(only(n, 'NOT'), !negated, scope);
  const p = predicate(n, scope);
  return negated ? negate(p) : p;
}

function negate(p: Leaf): Leaf {
  if (p.kind === 'not') return p.operand;
  if (p.kind === 'compare') return { ...p, op: NEGATED[p.op] };
  return { kind: 'not', operand: p };
}

function predicate(n: Node, scope: Scope): Leaf {
  const op = COMPARISONS.get(String(n.type));
  if (op !== undefined) return comparison(n, op, scope);
  switch (n.type) {
    case 'COMPARE_IN':
      return inList(n, 'IN', scope);
    case 'COMPARE_NOT_IN':
      return { kind: 'not', operand: inList(n, 'NOT IN', scope) };
    case 'COMPARE_BETWEEN':
      return between(n, scope);
    case 'OPERATOR_IS_NULL':
      return { kind: 'null', ...subject(only(n, 'IS NULL'), 'IS NULL', scope) };
    case 'OPERATOR_IS_NOT_NULL':
      return { kind: 'not', operand: { kind: 'null', ...subject(only(n, 'IS NOT NULL'), 'IS NOT NULL', scope) } };
  }
  // A boolean column alone is the test that it is true (NOT then pushes down to = false, unknown on NULL alike).
  if (n.class === 'COLUMN_REF') return { kind: 'compare', column: scope.column(n), op: '=', value: { type: 'boolean', value: true } };
  if (n.class === 'FUNCTION') {
    const like = n.is_operator === true ? LIKE_OPERATORS.get(text(n, 'function_name')) : undefined;
    if (like) return likeOf(n, like, scope);
    if (LIKE_ESCAPE.test(text(n, 'function_name'))) {
      throw invalid('LIKE ... ESCAPE is not supported: a pattern has no escape character, % and _ are always wildcards (match a literal % or _ with = or IN)');
    }
  }
  throw invalid(`${describe(n)} is not supported in WHERE; allowed: ${PREDICATE_FORMS}`);
}

function comparison(n: Node, op: ComparisonOp, scope: Scope): Predicate {
  const left = child(n, 'left');
  const right = child(n, 'right');
  // The column may stand on either side: `5 < t.x` is `t.x > 5`.
  if (isSubject(right) && !isSubject(left)) return { kind: 'compare', ...subject(right, `comparison ${op}`, scope), op: MIRRORED[op], value: literal(left) };
  if (!isSubject(left)) throw invalid(`${describe(left)} is not supported in WHERE: compare a column with a literal; allowed: ${PREDICATE_FORMS}`);
  return { kind: 'compare', ...subject(left, `comparison ${op}`, scope), op, value: literal(right) };
}

function inList(n: Node, construct: string, scope: Scope): Predicate {
  const [first, ...values] = children(n, 'children');
  return { kind: 'in', ...subject(first, construct, scope), values: values.map(literal) };
}

function between(n: Node, scope: Scope): Predicate {
  return { kind: 'between', ...subject(child(n, 'input'), 'BETWEEN', scope), low: literal(child(n, 'lower')), high: literal(child(n, 'upper')) };
}

function likeOf(n: Node, like: LikeOperator, scope: Scope): Leaf {
  const [first, pattern, ...rest] = children(n, 'children');
  if (pattern === undefined || rest.length > 0) throw invalid(`${like.name} takes a column and a pattern: t.c ${like.name} 'a%'`);
  const s = subject(first, like.name, scope);
  const lit = literal(pattern);
  if (lit.type !== 'string') throw invalid(`the pattern of ${like.name} must be a string literal, e.g. t.c ${like.name} 'a%'`);
  const p: Predicate = { kind: 'like', ...s, pattern: lit.value, caseInsensitive: like.caseInsensitive };
  return like.negated ? { kind: 'not', operand: p } : p;
}

function isSubject(n: Node): boolean {
  return n.class === 'COLUMN_REF' || (n.class === 'FUNCTION' && n.is_operator !== true);
}

/** A column, through lower/upper/trim applied innermost first: `upper(trim(t.c))` is t.c with [trim, upper]. */
function subject(n: Node | undefined, construct: string, scope: Scope): Subject {
  const functions: StringFunction[] = [];
  let at = n;
  while (at?.class === 'FUNCTION' && at.is_operator !== true) {
    functions.unshift(stringFunction(at));
    at = children(at, 'children')[0];
  }
  if (at?.class !== 'COLUMN_REF') {
    throw invalid(`the left side of ${construct} must be ${SUBJECT_FORMS}, e.g. t.c ${construct} ...; found ${at === undefined ? 'nothing' : describe(at)}`);
  }
  const column = scope.column(at);
  return functions.length > 0 ? { column, functions } : { column };
}

function stringFunction(n: Node): StringFunction {
  const fn = text(n, 'function_name');
  if (!STRING_FUNCTIONS.has(fn)) throw invalid(`${describe(n)} is not supported in WHERE: the functions allowed are lower(t.c), upper(t.c) and trim(t.c) of a string column`);
  // DuckDB's parser writes TRIM(...) as main.trim, whatever the user wrote: main is its default schema.
  if (!['', 'main'].includes(text(n, 'schema')) || text(n, 'catalog') !== '') throw invalid(`write ${fn} without a schema`);
  if (n.distinct === true || n.filter !== null || list(child(n, 'order_bys'), 'orders').length > 0 || children(n, 'children').length !== 1) {
    throw invalid(`${fn} takes exactly one column, e.g. ${fn}(t.c)`);
  }
  return fn as StringFunction;
}

function only(n: Node, construct: string): Node {
  const [operand, ...rest] = children(n, 'children');
  if (operand === undefined || rest.length > 0) throw invalid(`${construct} takes one operand`);
  return operand;
}

/** MAX_WHERE_PREDICATES and MAX_WHERE_DEPTH, on the condition as it is evaluated (NOT pushed inward, ANDs merged). */
function checkSize(tree: Condition): void {
  const predicates = predicatesOf(tree).length;
  if (predicates > MAX_WHERE_PREDICATES) {
    throw new CleanroomError('LIMIT_EXCEEDED', `WHERE has ${predicates} predicates; at most ${MAX_WHERE_PREDICATES} (a list of values is one IN)`);
  }
  const levels = depth(tree);
  if (levels > MAX_WHERE_DEPTH) {
    throw new CleanroomError('LIMIT_EXCEEDED', `WHERE nests ${levels} levels of AND, OR and lower/upper/trim; at most ${MAX_WHERE_DEPTH}`);
  }
}

function depth(c: Condition): number {
  switch (c.kind) {
    case 'and':
    case 'or':
      return 1 + Math.max(...c.operands.map(depth));
    case 'not':
      return depth(c.operand);
    default:
      return c.functions?.length ?? 0;
  }
}
