import { useState } from 'preact/hooks';
import { ApiFailure, getJson, postJson, type HistoryItem, type HistoryView, type PlanView, type QueryResult } from './api.js';
import { Loading, useJson, type PageProps } from './common.js';
import { ResultView, type ResultProps } from './result.js';

const STATUS_TEXT: Record<string, string> = {
  result: 'ran; result received',
  released: 'ran; released to the receivers',
  refused: 'refused',
  failed: 'failed',
  cancelled: 'cancelled by a member’s user',
  accepted: 'accepted, running or stopped',
  proposed: 'proposed, waiting for the others',
};

export function HistoryPage({ self }: PageProps) {
  const { data, error, reload } = useJson<HistoryView>('/api/history');
  const [shown, setShown] = useState<{ id: string; view?: ResultProps; error?: string } | undefined>(undefined);
  if (!data) return <Loading error={error} />;
  const show = async (item: HistoryItem) => {
    setShown({ id: item.queryId });
    try {
      const [result, plan] = await Promise.all([getJson<QueryResult>(`/api/results/${item.queryId}`), postJson<PlanView>('/api/plan', { sql: item.sql })]);
      setShown({ id: item.queryId, view: { result, outputs: plan.ok ? plan.outputs : undefined } });
    } catch (e) {
      setShown({ id: item.queryId, error: e instanceof ApiFailure ? e.message : String(e) });
    }
  };
  const a = data.audit;
  return (
    <>
      <p role="status" class={a.ok ? 'ok' : 'refused'} data-audit={a.ok ? 'intact' : 'tampered'}>
        {a.ok
          ? `✓ Audit log verified: ${a.entries} entries, hash chain intact. Head hash ${a.head} (compare it with a copy kept elsewhere to see that nothing was cut from the end).`
          : `✗ Audit log TAMPERED at line ${a.line}: ${a.problem}`}
      </p>
      <p>
        Queries that reached this node ({self}), newest first: its own and those other members proposed on its tables.
        {data.omitted > 0 ? ` ${data.omitted} older ones are in the audit log (cleanroom audit <dir>).` : ''}{' '}
        <button type="button" onClick={reload}>
          Reload
        </button>
      </p>
      {data.items.length === 0 ? (
        <p>No query yet.</p>
      ) : (
        <table class="history">
          <caption>Query history from the audit log and the result files</caption>
          <thead>
            <tr>
              <th scope="col">Time (UTC)</th>
              <th scope="col">Asked by</th>
              <th scope="col">SQL</th>
              <th scope="col">Outcome</th>
              <th scope="col">Released / reason</th>
              <th scope="col">ε charged</th>
              <th scope="col">Manifest</th>
              <th scope="col">Duration</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((item) => (
              <tr key={item.queryId} data-query={item.queryId} data-status={item.status}>
                <td>{item.time.slice(0, 19).replace('T', ' ')}</td>
                <td>{item.querier === self ? `${item.querier} (this node)` : item.querier}</td>
                <td>
                  <code>{item.sql}</code>
                </td>
                <td>{STATUS_TEXT[item.status] ?? item.status}</td>
                <td>
                  {item.released ? `${item.released.groups} group(s) of ${item.released.columns.join(', ') || 'no column'} to ${item.released.receivers.join(', ') || 'nobody'}` : ''}
                  {item.reason ?? ''}
                </td>
                <td data-charged>{chargedText(item)}</td>
                <td data-manifest-version={item.manifestVersion ?? ''}>{item.manifestVersion === undefined ? 'not recorded' : `v${item.manifestVersion}`}</td>
                <td class="num" data-duration-ms={item.durationMs}>
                  {durationText(item.durationMs)}
                </td>
                <td>
                  {item.hasResult && (
                    <button type="button" onClick={() => void show(item)} aria-label={`Show the result of query ${item.queryId}`}>
                      Show
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown && (shown.view ? <ResultView {...shown.view} /> : <Loading error={shown.error} />)}
    </>
  );
}

/** What the query cost this node's tables, from its ledger; a partner's table is charged by the partner's node. */
function chargedText(item: HistoryItem): string {
  if (item.charged.length > 0) return item.charged.map((c) => `${c.cost} to ${c.table}`).join('; ');
  return item.dp ? 'none of this node’s tables (noisy: charged by their owners)' : 'none';
}

/** From the query's first entry to its last, as a person reads a wait. */
function durationText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
