import type { SchemaColumnView, SchemaTableView } from './api.js';

interface Props {
  readonly self: string;
  readonly tables: readonly SchemaTableView[];
  /** Puts `alias.column` into the editor at its cursor. */
  readonly insert: (table: SchemaTableView, column: string) => void;
}

/**
 * Every table of the collaboration with its columns and what each one's rules let a query do with it, so that a query
 * can be written without the manifest at hand. A column's name is a button: it goes into the editor at the cursor,
 * under the alias the editor's FROM gives its table.
 */
export function SchemaBrowser({ self, tables, insert }: Props) {
  return (
    <div class="schema-browser">
      <p>COUNT(*) is allowed over every table. Click a column to insert it at the editor’s cursor.</p>
      {tables.map((t) => (
        <section key={t.name} class="schema-table" data-schema-table={t.name} aria-labelledby={`schema-${t.name}`}>
          <h3 id={`schema-${t.name}`}>
            <code>{t.name}</code> <span class="muted">({t.alias})</span>
          </h3>
          <p class="muted">
            {t.holders.length > 1 ? `Held in parts by ${t.holders.join(', ')}` : `Owned by ${t.owner}`}
            {t.own ? ' (yours)' : ''}; every released row rests on at least {t.minDistinctKeys} distinct keys
            {t.epsilon !== undefined ? `; differentially private, ε = ${t.epsilon} per query` : ''}.
          </p>
          <table class="schema-columns">
            <caption class="visually-hidden">Columns of {t.name} and what its rules allow</caption>
            <thead>
              <tr>
                <th scope="col">Column</th>
                <th scope="col">Type</th>
                <th scope="col">Declared</th>
                <th scope="col">Allowed</th>
              </tr>
            </thead>
            <tbody>
              {t.columns.map((c) => (
                <tr key={c.name} data-schema-column={c.name}>
                  <th scope="row">
                    <button type="button" class="column-insert" onClick={() => insert(t, c.name)} aria-label={`Insert ${t.name}.${c.name} into the query`}>
                      {c.name}
                    </button>
                  </th>
                  <td>{c.type}</td>
                  <td>{c.detail.replace(/^join key(; )?/, '')}</td>
                  <td>
                    <Allowed column={c} self={self} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}

/** What the rules let a query do with one column, each use in words a query's clauses use. */
function Allowed({ column: c, self }: { column: SchemaColumnView; self: string }) {
  const uses: string[] = [];
  if (c.joinKey) uses.push(`join key (JOIN … ON, ${c.joinKey}); never filtered or grouped`);
  if (c.dimension) uses.push('WHERE, GROUP BY');
  if (c.functions.length > 0) uses.push(c.functions.map((f) => (f === 'VARIANCE' ? 'VAR_*, STDDEV_*' : `${f}(…)`)).join(', '));
  for (const m of c.partnerDimensionFor) uses.push(`GROUP BY as the partner’s dimension by ${m === self ? 'you' : m} (joined with a table of ${m === self ? 'yours' : m + '’s'})`);
  if (uses.length === 0) return <span class="muted">nothing</span>;
  return (
    <ul class="uses">
      {uses.map((u) => (
        <li key={u}>{u}</li>
      ))}
    </ul>
  );
}
