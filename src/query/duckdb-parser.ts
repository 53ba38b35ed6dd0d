import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { CleanroomError } from '../errors.js';
import { child, children, invalid, list, text, type Node } from './tree.js';

/**
 * DuckDB's own parser, reached through json_serialize_sql: it only parses, and the user's SQL is a
 * bound parameter, so nothing the user writes is ever executed. The instance is private to
 * parsing and cannot touch files or fetch extensions, in case that ever stops being true.
 */
let connection: Promise<DuckDBConnection> | undefined;

function parser(): Promise<DuckDBConnection> {
  connection ??= DuckDBInstance.create(':memory:', {
    enable_external_access: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    threads: '1',
  })
    .then((db) => db.connect())
    .catch((err: unknown) => {
      connection = undefined; // let the next query retry rather than fail forever
      throw new CleanroomError('INTERNAL', 'cannot start the SQL parser', { cause: err });
    });
  return connection;
}

async function serialize(sql: string): Promise<Node> {
  const reader = await (await parser()).runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
  const json = reader.getRows()[0]?.[0];
  if (typeof json !== 'string') throw new CleanroomError('INTERNAL', 'json_serialize_sql returned no tree');
  try {
    return JSON.parse(json) as Node;
  } catch {
    // DuckDB writes a number past a double's range (1e309) as Infinity, which is no JSON: the query's fault, not ours.
    throw invalid('the query holds a number no double can hold (such as 1e309); numbers are plain decimals of at most 15 digits');
  }
}

/** The SELECT node of the one statement in `sql`, or QUERY_INVALID saying why there is none. */
export async function parseSelect(sql: string): Promise<Node> {
  // DuckDB reads the text as a C string: whatever follows a NUL would silently not be parsed.
  if (sql.includes('\0')) throw invalid('the query contains a NUL character');
  const root = await serialize(sql);
  if (root.error === true) throw syntaxError(root);
  const statements = root.statements === undefined ? [] : children(root, 'statements');
  const [statement] = statements;
  if (statement === undefined) throw invalid('the query is empty: write SELECT ... FROM a JOIN b ON a.k = b.k');
  if (statements.length > 1) throw invalid(`found ${statements.length} statements: send exactly one SELECT`);
  if (list(statement, 'named_param_map').length > 0) {
    throw invalid('query parameters ($1, ?) are not supported: write literal values');
  }
  return selectNode(child(statement, 'node'));
}

function selectNode(node: Node): Node {
  if (node.type === 'SET_OPERATION_NODE') {
    throw invalid('UNION, INTERSECT and EXCEPT are not supported: send one SELECT');
  }
  if (node.type !== 'SELECT_NODE') throw invalid(`only a plain SELECT is supported, found ${String(node.type)}`);
  return node;
}

function syntaxError(root: Node): CleanroomError {
  const message = text(root, 'error_message');
  // json_serialize_sql refuses every statement but SELECT with this one message.
  if (message.startsWith('Only SELECT statements')) return invalid('only SELECT queries are allowed');
  const position = typeof root.position === 'string' ? ` (at offset ${root.position})` : '';
  return invalid(`SQL syntax error: ${message}${position}`);
}
