import type { HashCacheView, TableDataView } from './api.js';

/**
 * Where an own table's rows are and what checking every one of them against the manifest found when the page loaded
 * (`cleanroom check`): the problem lines quote the values, for this node's operator, to find and fix them.
 */
export function TableSource({ data, hashCache }: { data: TableDataView; hashCache: readonly HashCacheView[] }) {
  const id = `source-${data.table}`;
  return (
    <div class="table-source" data-source={data.table}>
      <h3 id={id}>Source and check</h3>
      <dl class="facts" aria-labelledby={id}>
        <dt>{data.kind === 'postgres' ? 'PostgreSQL table' : `File${data.format ? ` (${data.format.toUpperCase()})` : ''}`}</dt>
        <dd>
          <code data-source-path>{data.source || 'unknown'}</code>
        </dd>
        <dt>Rows</dt>
        <dd data-rows={data.rows ?? ''}>{data.rows === undefined ? 'could not be read' : data.rows.toLocaleString('en')}</dd>
        <dt>Checked</dt>
        <dd>
          {data.checkedAt.slice(0, 19).replace('T', ' ')} UTC{data.kind === 'postgres' ? ' (a database table is read again by every query: a problem may come and go)' : ''}
        </dd>
        {hashCache.map((h) => (
          <>
            <dt>Hash cache: {h.key}</dt>
            <dd data-hash-cache={h.key} data-state={h.state}>
              {h.state}
              {h.total === undefined ? '' : `, ${h.done.toLocaleString('en')} of ${h.total.toLocaleString('en')} distinct keys hashed ahead of queries`}
            </dd>
          </>
        ))}
      </dl>
      <Verdict data={data} />
    </div>
  );
}

function Verdict({ data }: { data: TableDataView }) {
  if (data.error) {
    return (
      <p role="alert" class="refused" data-check="error">
        ✗ The check could not run: {data.error}
      </p>
    );
  }
  if (data.total === 0) {
    return (
      <p class="ok" data-check="ok">
        ✓ Every row as the manifest declares.
      </p>
    );
  }
  const more = data.total - data.problems.length;
  const effect = data.unusable
    ? 'No query can use the table until it is fixed.'
    : data.kind === 'postgres'
      ? 'Queries that use it are refused while it lasts.'
      : 'Queries that use the columns named are refused; the others run.';
  return (
    <div class="refused" data-check="problems" data-problems={data.total}>
      <p>
        <strong>
          ✗ {data.total}
          {data.exact ? '' : ' or more'} problem(s).
        </strong>{' '}
        {effect}
      </p>
      <ul>
        {data.problems.map((p, i) => (
          <li key={i} data-problem>
            {p}
          </li>
        ))}
        {more > 0 && <li>and {data.exact ? '' : 'at least '}{more} more</li>}
      </ul>
    </div>
  );
}
