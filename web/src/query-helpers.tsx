import type { RefObject } from 'preact';
import type { SchemaTableView, SchemaView } from './api.js';
import { Loading, useJson } from './common.js';
import { aliasIn, insertAtCursor } from './editor-insert.js';
import { ExampleQueries } from './examples.js';
import { SavedQueries } from './saved-queries.js';
import { SchemaBrowser } from './schema-browser.js';

interface Props {
  readonly sql: string;
  readonly setSql: (sql: string) => void;
  /** The Query page's SQL editor. */
  readonly editor: RefObject<HTMLTextAreaElement | null>;
}

/**
 * What helps write a query, beside the Query page's editor: the schema browser, the manifest's example queries, and
 * the queries saved in this browser. Each only changes the editor's text; the page checks and runs it as typed text.
 */
export function QueryHelpers({ sql, setSql, editor }: Props) {
  const { data, error } = useJson<SchemaView>('/api/schema');
  const insert = (t: SchemaTableView, column: string) => insertAtCursor(editor.current, sql, `${aliasIn(sql, t.name) ?? t.alias}.${column}`, setSql);
  const load = (text: string) => {
    setSql(text);
    editor.current?.focus();
  };
  return (
    <div class="query-helpers">
      <details open class="helper" data-helper="schema">
        <summary>Schema browser</summary>
        {data ? <SchemaBrowser self={data.self} tables={data.tables} insert={insert} /> : <Loading error={error} />}
      </details>
      <div>
        <details open class="helper" data-helper="examples">
          <summary>Example queries</summary>
          {data ? <ExampleQueries examples={data.examples} load={load} /> : <Loading error={error} />}
        </details>
        <details open class="helper" data-helper="saved">
          <summary>Saved queries</summary>
          <SavedQueries sql={sql} load={load} />
        </details>
      </div>
    </div>
  );
}
