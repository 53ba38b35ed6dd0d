import { useEffect, useRef, useState } from 'preact/hooks';
import type { QueryResult } from './api.js';
import { drawBars, type Bar } from './chart.js';
import { NoiseWarnings } from './noise-warnings.js';

type Cell = string | number | null;

export interface ResultProps {
  readonly result: QueryResult;
  /** Which columns are group labels and which values, from the query's plan; guessed from the cells without it. */
  readonly outputs?: readonly { readonly name: string; readonly kind: 'dimension' | 'aggregate' }[] | undefined;
}

/** What a clause that acted on noisy values means for the rows shown. */
const NOISY_CLAUSES = {
  HAVING: 'HAVING tested the noisy values: a group whose exact value fails it may be shown, and one that passes it left out.',
  'ORDER BY': 'ORDER BY sorted the noisy values: rows may stand out of their exact order.',
} as const;

/** A result as a table, as a bar chart of one value per group (with its interval under a privacy policy), and as files. */
export function ResultView({ result, outputs }: ResultProps) {
  const aggregates = result.columns.map((name, i) => (outputs ? outputs[i]?.kind === 'aggregate' : result.rows.every((r) => r[i] === null || !Number.isNaN(Number(r[i])))));
  const valueColumns = result.columns.flatMap((_, i) => (aggregates[i] ? [i] : []));
  const [charted, setCharted] = useState(valueColumns[0]);
  const dp = result.privacy;
  // HAVING, ORDER BY and LIMIT shaped the rows: they come in the result's order, and may be fewer than were released.
  const shaped = result.afterRelease;
  const noisy = shaped?.onNoisyValues ?? [];
  return (
    <section aria-labelledby="result-heading" class="result">
      <h2 id="result-heading">Result</h2>
      <p>
        Query <code>{result.queryId}</code>: {shaped ? `${shaped.released} group(s) released, ${result.rows.length} shown` : `${result.rows.length} group(s) released`}, each
        resting on at least {result.minDistinctKeys} distinct join keys.{' '}
        {dp
          ? `Differentially private (ε = ${dp.epsilon}, δ = ${dp.delta}): each value is noisy, and its interval holds the exact value with probability at least ${dp.confidence}.`
          : 'Exact values.'}
        {noisy.map((clause) => ` ${NOISY_CLAUSES[clause]}`).join('')}
      </p>
      {result.counts && <p class="counts">{result.counts}.</p>}
      <NoiseWarnings warnings={result.warnings} />
      <table class="result-table">
        <caption>Result of the query, one row per group</caption>
        <thead>
          <tr>
            {result.columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {result.rows.map((row, r) => (
            <tr key={r}>
              {row.map((cell, i) => {
                const interval = dp?.intervals[r]?.[i];
                const text = `${cell ?? 'NULL'}${interval ? ` (${interval[0]} to ${interval[1]})` : ''}`;
                return aggregates[i] ? <td class="num">{text}</td> : <th scope="row">{text}</th>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="downloads">
        <button type="button" onClick={() => download(`${result.queryId}.csv`, 'text/csv', toCsv(result))}>
          Download CSV
        </button>{' '}
        <button type="button" onClick={() => download(`${result.queryId}.json`, 'application/json', JSON.stringify(result, null, 2) + '\n')}>
          Download JSON
        </button>
      </p>
      {charted !== undefined && result.rows.length > 0 && (
        <>
          {valueColumns.length > 1 && (
            <p>
              <label for="chart-column">Chart of </label>
              <select id="chart-column" value={charted} onChange={(e) => setCharted(Number(e.currentTarget.value))}>
                {valueColumns.map((i) => (
                  <option key={i} value={i}>
                    {result.columns[i]}
                  </option>
                ))}
              </select>
            </p>
          )}
          <Chart result={result} column={charted} labelColumns={result.columns.flatMap((_, i) => (aggregates[i] ? [] : [i]))} />
        </>
      )}
    </section>
  );
}

function Chart({ result, column, labelColumns }: { result: QueryResult; column: number; labelColumns: readonly number[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const bars: Bar[] = result.rows.map((row, r) => {
    const interval = result.privacy?.intervals[r]?.[column];
    return {
      label: labelColumns.length === 0 ? 'all' : labelColumns.map((i) => String(row[i] ?? 'NULL')).join(' / '),
      value: toNumber(row[column] ?? null),
      ...(interval && interval[0] !== null && interval[1] !== null ? { low: Number(interval[0]), high: Number(interval[1]) } : {}),
    };
  });
  const name = result.columns[column] ?? '';
  useEffect(() => (canvas.current ? drawBars(canvas.current, name, bars) : undefined), [result, column]);
  const described = bars.map((b) => `${b.label}: ${b.value ?? 'NULL'}${b.low !== undefined ? ` (${b.low} to ${b.high})` : ''}`).join('; ');
  return (
    <figure class="chart">
      <div class="chart-box">
        <canvas ref={canvas} role="img" aria-label={`Bar chart of ${name} per group. ${described}`} data-bars={bars.length} />
      </div>
      <figcaption>
        {name} per group{result.privacy ? '; the whiskers show each value’s interval' : ''}.
      </figcaption>
    </figure>
  );
}

function toNumber(c: Cell): number | null {
  return c === null ? null : Number(c);
}

function toCsv(result: QueryResult): string {
  const quote = (c: Cell) => {
    const text = c === null ? '' : String(c);
    // A label from a member's data that starts like a formula would run as one in a spreadsheet; numbers stay as they are.
    const s = /^[=+\-@\t\r]/.test(text) && !/^[+-]?\d+(\.\d+)?$/.test(text) ? `'${text}` : text;
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const withIntervals = result.privacy !== undefined;
  const header = result.columns.flatMap((c, i) => (withIntervals && result.privacy!.intervals.some((row) => row[i]) ? [c, `${c} low`, `${c} high`] : [c]));
  const lines = result.rows.map((row, r) =>
    row.flatMap((cell, i) => {
      if (!withIntervals || !result.privacy!.intervals.some((x) => x[i])) return [quote(cell)];
      const interval = result.privacy!.intervals[r]?.[i];
      return [quote(cell), quote(interval?.[0] ?? null), quote(interval?.[1] ?? null)];
    }),
  );
  return [header.map(quote), ...lines].map((l) => l.join(',')).join('\r\n') + '\r\n';
}

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
