import { useState } from 'preact/hooks';
import { ApiFailure, postJson, type MatchView, type TableView } from './api.js';
import { Loading, useJson, type PageProps } from './common.js';
import { TableSource } from './table-source.js';

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
          {t.data && <TableSource data={t.data} hashCache={t.hashCache ?? []} />}
          {t.budget && <BudgetGauge table={t.name} budget={t.budget} />}
          {t.own && t.holders.length === 1 && <MatchCard table={t.name} partners={[...new Set(data.filter((o) => !o.own && o.holders.length === 1).map((o) => o.owner))]} />}
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
      <p data-queries-left={budget.queriesLeft}>{budget.buys.charAt(0).toUpperCase() + budget.buys.slice(1)}.</p>
    </div>
  );
}

/**
 * The match report of an own table against a partner's (POST /api/match): one count-only query per partner table,
 * run, audited and charged like any query the user submits, so it is asked for, never run on page load.
 */
function MatchCard({ table, partners }: { table: string; partners: readonly string[] }) {
  const [partner, setPartner] = useState(partners[0] ?? '');
  const [state, setState] = useState<{ running?: boolean; lines?: MatchView[]; error?: string }>({});
  if (partners.length === 0) return null;
  const id = `match-${table}`;
  const check = () => {
    setState({ running: true });
    postJson<MatchView[]>('/api/match', { table, partner }).then(
      (lines) => setState({ lines }),
      (e: unknown) => setState({ error: e instanceof ApiFailure ? e.message : String(e) }),
    );
  };
  const pct = (n: number, of: number) => (of === 0 ? '—' : `${((100 * n) / of).toFixed(1)}%`);
  return (
    <div class="match" data-match={table}>
      <h3 id={id}>Match rate</h3>
      <p>
        How many of your distinct keys in {table} a partner also holds: a count-only query per table of theirs, recorded in
        the history and, under a privacy policy, noisy and charged like any.
      </p>
      <label>
        Partner{' '}
        <select value={partner} onChange={(e) => setPartner((e.target as HTMLSelectElement).value)} aria-describedby={id}>
          {partners.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>{' '}
      <button type="button" onClick={check} disabled={state.running === true}>
        Check the match rate
      </button>
      {state.running && <p aria-busy="true">Running the count-only queries…</p>}
      {state.error && (
        <p role="alert" class="refused">
          {state.error}
        </p>
      )}
      {state.lines && (
        <ul>
          {state.lines.map((m) => (
            <li key={m.queryId} data-match-line={m.partnerTable}>
              {m.table}.{m.key} ~ {m.partnerTable}.{m.partnerKey}: <strong>{m.matched}</strong> of your {m.ownKeys} distinct keys match,{' '}
              <strong>{pct(m.matched, m.ownKeys)}</strong>
              {m.interval ? ` (noisy: ${m.interval[0]} to ${m.interval[1]} with 95% confidence)` : ''}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
