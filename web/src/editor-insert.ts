/**
 * Text put into the SQL editor where its cursor is, as typing it would: the user goes on typing after it. The
 * textarea is changed first and the state after, so the render that follows finds the value it already shows and
 * leaves the cursor where it was put.
 */
export function insertAtCursor(editor: HTMLTextAreaElement | null, sql: string, text: string, setSql: (sql: string) => void): void {
  const start = editor?.selectionStart ?? sql.length;
  const end = editor?.selectionEnd ?? start;
  // `SELECT` + `a.g` would make one word: a space is put between a word (or a closing parenthesis) and the column.
  const spaced = /[\w)]$/.test(sql.slice(0, start)) ? ` ${text}` : text;
  const next = sql.slice(0, start) + spaced + sql.slice(end);
  const at = start + spaced.length;
  if (editor) {
    editor.value = next;
    editor.focus();
    editor.setSelectionRange(at, at);
  }
  setSql(next);
}

/** Words that follow a table in FROM without being its alias. */
const NOT_ALIAS = new Set(['join', 'inner', 'on', 'where', 'group', 'order', 'having', 'limit', 'offset', 'using', 'left', 'right', 'full', 'cross', 'natural']);

/**
 * How the editor's query names `table`: the alias its FROM or JOIN gives it, the table's own name when it gives
 * none, or undefined when the query does not read the table (yet).
 */
export function aliasIn(sql: string, table: string): string | undefined {
  const m = new RegExp(`\\b(?:from|join)\\s+${table}\\b(?:\\s+(?:as\\s+)?([a-z_][a-z0-9_]*))?`, 'i').exec(sql);
  if (!m) return undefined;
  const alias = m[1];
  return alias && !NOT_ALIAS.has(alias.toLowerCase()) ? alias : table;
}
