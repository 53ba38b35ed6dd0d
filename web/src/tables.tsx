import type { TableView } from './api.js';
import { Loading, useJson, type PageProps } from './common.js';

export function TablesPage({ self }: PageProps) {
  const { data, error } = useJson<TableView[]>('/api/tables');
  if (!data) return <Loading error={error} />;
  return (
    <>
      <p>Every table of the collaboration and what its owner allows. Your node ({self}) holds the tables marked “yours”.</p>
      {data.map((t) => (
        <section key={t.name} aria-labelledby={`table-${t.name}`} class="table-card" data-table={t.name}>
          <h2 id={`table-${t.name}`}>
            {t.name}
            {t.own ? ' (yours)' : ''}
          </h2>
          <p>
            Owner: <strong>{t.owner}</strong>
            {t.holders.length > 1 ? `; held in parts by ${t.holders.join(', ')}` : ''}
          </p>
          <table>
            <caption>Columns of {t.name}</caption>
            <thead>
              <tr>
                <th scope="col">Column</th>
                <th scope="col">Type</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {t.columns.map((c) => (
                <tr key={c.name}>
                  <th scope="row">{c.name}</th>
                  <td>{c.type}</td>
                  <td>{c.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Analysis rule</h3>
          <ul>
            {t.rules.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
          {t.privacy && (
            <>
              <h3>Privacy policy</h3>
              <ul>
                {t.privacy.map((r) => (
                  <li key={r}>{r}</li>
                ))}
              </ul>
            </>
          )}
          {t.budget && <BudgetGauge table={t.name} budget={t.budget} />}
        </section>
      ))}
    </>
  );
}

function BudgetGauge({ table, budget }: { table: string; budget: NonNullable<TableView['budget']> }) {
  const total = Number(budget.budget);
  const spent = Number(budget.spent);
  const id = `budget-${table}`;
  return (
    <div class="gauge" data-budget={table}>
      <h3 id={id}>Privacy budget</h3>
      <meter aria-labelledby={id} min={0} max={total} value={spent} high={total * 0.8} optimum={0}>
        {budget.unit} {budget.spent} of {budget.budget} spent
      </meter>
      <p>
        Spent {budget.unit} <strong>{budget.spent}</strong>, remaining {budget.unit} <strong data-remaining>{budget.remaining}</strong> of {budget.budget}.{' '}
        {budget.nextRefresh ? `Restored in full on ${budget.nextRefresh} (UTC).` : 'Never restored.'}
      </p>
    </div>
  );
}
