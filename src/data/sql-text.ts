/** Names and strings inside DuckDB SQL text. Values from a query's literals are bound as parameters instead. */

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
