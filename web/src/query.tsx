import { useEffect, useRef, useState } from 'preact/hooks';
import { cancelQuery, postJson, runQuery, type ApiError, type ProgressEvent, type PlanView, type QueryEvent, type QueryResult } from './api.js';
import type { PageProps } from './common.js';
import { ResultView } from './result.js';
import { NoiseWarnings } from './noise-warnings.js';
import { QueryHelpers } from './query-helpers.js';

/** Checking waits for a pause in typing: one plan per pause, not one per key. */
const CHECK_DELAY_MS = 300;

/** The stages a query goes through, in order: the progress bar's value is the index of the one reached. */
const STAGES = ['submitted', 'queued', 'psi', 'aggregation', 'done'] as const;
type Stage = (typeof STAGES)[number];
const STAGE_TEXT: Record<Stage, string> = {
  submitted: 'Submitted: the other members are checking the query against their rules',
  queued: 'Waiting for this node’s earlier queries',
  psi: 'Private set intersection',
  aggregation: 'Aggregating the matched rows',
  done: 'Done',
};

type Run =
  | { readonly state: 'idle' }
  | { readonly state: 'running'; readonly stage: Stage; readonly detail: string; readonly seen: readonly Stage[]; readonly queryId?: string; readonly cancelling?: boolean }
  | { readonly state: 'result'; readonly result: QueryResult; readonly seen: readonly Stage[] }
  | { readonly state: 'released'; readonly text: string; readonly seen: readonly Stage[] }
  | { readonly state: 'error'; readonly error: ApiError; readonly seen: readonly Stage[] };

export function QueryPage(_: PageProps) {
  const [sql, setSql] = useState(() => sessionStorage.getItem('cleanroom.sql') ?? '');
  const [plan, setPlan] = useState<PlanView | undefined>(undefined);
  const [checking, setChecking] = useState(false);
  const [run, setRun] = useState<Run>({ state: 'idle' });
  const checked = useRef(0);
  const editor = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    sessionStorage.setItem('cleanroom.sql', sql);
    // A verdict on the text before this edit says nothing about this one.
    setPlan(undefined);
    if (!sql.trim()) return;
    const n = ++checked.current;
    setChecking(true);
    const timer = setTimeout(() => {
      postJson<PlanView>('/api/plan', { sql }).then(
        (p) => n === checked.current && (setPlan(p), setChecking(false)),
        (e: unknown) => n === checked.current && (setPlan({ ok: false, code: 'QUERY_INVALID', message: String(e instanceof Error ? e.message : e) }), setChecking(false)),
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [sql]);

  const running = run.state === 'running';
  /** Every member aborts the query; the run ends when the node's CANCELLED error arrives on the query's stream. */
  const cancel = () => {
    if (run.state !== 'running' || run.queryId === undefined || run.cancelling) return;
    setRun({ ...run, cancelling: true, detail: 'cancelling: every member is told to abort' });
    cancelQuery(run.queryId).catch((err: unknown) => setRun({ state: 'error', error: { type: 'error', code: 'ABORTED', message: `the cancel did not reach the node: ${String(err)}` }, seen: run.seen }));
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    if (running || !sql.trim()) return;
    let seen: Stage[] = ['submitted'];
    let queryId: string | undefined;
    setRun({ state: 'running', stage: 'submitted', detail: '', seen });
    await runQuery(sql, (ev: QueryEvent) => {
      switch (ev.type) {
        case 'progress': {
          const stage: Stage = ev.stage === 'proposing' ? 'submitted' : ev.stage;
          seen = seen.includes(stage) ? seen : [...seen, stage];
          queryId ??= ev.queryId;
          // A Cancel clicked stays shown as such until the abort ends the run.
          setRun((r) => ({ state: 'running', stage, detail: progressDetail(ev), seen, queryId, cancelling: r.state === 'running' && r.cancelling }));
          break;
        }
        case 'result':
          setRun({ state: 'result', result: ev.result, seen: [...seen, 'done'] });
          break;
        case 'released':
          setRun({ state: 'released', text: `Query ${ev.queryId} ran: ${ev.groups} group(s) released to ${ev.receivers.join(', ')}. This member is not a result receiver.`, seen: [...seen, 'done'] });
          break;
        case 'error':
          setRun({ state: 'error', error: ev, seen });
          break;
      }
    }).catch((err: unknown) => setRun({ state: 'error', error: { type: 'error', code: 'ABORTED', message: `the connection to the node broke: ${String(err)}` }, seen }));
  };

  return (
    <>
      <QueryHelpers sql={sql} setSql={setSql} editor={editor} />
      <form onSubmit={submit} aria-describedby="check">
        <label for="sql">Query (SQL: SELECT … FROM a JOIN b ON … WHERE … GROUP BY …)</label>
        <textarea ref={editor} id="sql" name="sql" rows={5} spellcheck={false} value={sql} onInput={(e) => setSql(e.currentTarget.value)} aria-describedby="check" />
        <div id="check" role="status" aria-live="polite" class="check">
          <PlanCheck plan={sql.trim() ? plan : undefined} checking={checking} />
        </div>
        <button type="submit" disabled={running || plan?.ok !== true}>
          {running ? 'Running…' : 'Run query'}
        </button>
        {running && (
          <button type="button" id="cancel-query" onClick={cancel} disabled={run.queryId === undefined || run.cancelling === true}>
            {run.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </form>
      {run.state !== 'idle' && <Progress run={run} />}
      {run.state === 'result' && <ResultView result={run.result} outputs={plan?.ok ? plan.outputs : undefined} />}
      {run.state === 'released' && <p role="status">{run.text}</p>}
      {run.state === 'error' && (
        <p role="alert" class="refused" data-error-code={run.error.code}>
          The query did not run to a result ({run.error.code}): {run.error.message}
        </p>
      )}
    </>
  );
}

function PlanCheck({ plan, checking }: { plan: PlanView | undefined; checking: boolean }) {
  if (!plan) return <p>{checking ? 'Checking against the rules…' : 'Type a query: it is checked against every table’s rules as you type.'}</p>;
  if (!plan.ok)
    return (
      <div class="refused" data-plan="refused">
        <p>
          <strong>✗ Refused ({plan.code}):</strong> {plan.message}
        </p>
        {plan.allowed && (
          <p>
            <strong>Allowed:</strong> {plan.allowed}
          </p>
        )}
      </div>
    );
  const p = plan.preview;
  return (
    <div class="ok" data-plan="allowed">
      <p>
        <strong>✓ Allowed:</strong> {plan.mode} query over the tables of {plan.members.join(', ')}.
      </p>
      {p.dp ? (
        <>
          <p>
            Differentially private: ε = {p.epsilon}, δ = {p.delta} per query (the strictest policy of its tables), {p.noise}.
          </p>
          <ul>
            {p.charges.map((c) => (
              <li key={c.table}>
                Charges {c.cost} to {c.table}: {c.remaining === undefined ? `kept by ${c.owners.join(', ')}` : `${c.remaining} of ${c.budget} remains (refresh: ${c.refresh})`}
              </li>
            ))}
          </ul>
          <p>Release threshold: {p.threshold}</p>
          <p>Error of each value, 95% of the time at least:</p>
          <ul>
            {p.errors.map((e) => (
              <li key={e.output}>
                {e.output}: {e.bound}
              </li>
            ))}
          </ul>
          <NoiseWarnings warnings={p.warnings} />
        </>
      ) : (
        <p>No table in it has a privacy policy: exact answers, no budget is charged; groups need {p.threshold}.</p>
      )}
    </div>
  );
}

const STEP_TEXT: Record<NonNullable<ProgressEvent['view']>['step'], string> = {
  proposing: 'proposing',
  reading: 'reading this node’s table',
  hashing: 'hashing this node’s keys into the cache',
  'blinding-own': 'blinding this node’s keys',
  'blinding-peer': 'blinding the other members’ points',
  matching: 'matching',
  aggregating: 'aggregating',
  releasing: 'releasing',
};
const ACTIVITY_TEXT: Record<NonNullable<ProgressEvent['view']>['peers'][number]['activity'], string> = {
  waiting: 'waiting',
  'sending-points': 'sending its points',
  'returning-points': 'returning this node’s points',
  blinding: 'blinding this node’s points',
  matching: 'matching',
  releasing: 'releasing',
};
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
const counts = (done?: number, total?: number) => (done === undefined ? '' : ` ${done.toLocaleString('en-US')}${total === undefined ? '' : ` of ${total.toLocaleString('en-US')}`}`);

/** This node's step with its counts, time taken and left, and each other member's activity as far as it can tell. */
function progressDetail(ev: ProgressEvent): string {
  if (ev.stage === 'queued') return `${ev.ahead ?? 0} ahead`;
  const v = ev.view;
  if (!v) return '';
  const eta = v.etaMs === undefined ? '' : `, about ${seconds(v.etaMs)} left`;
  const peers = v.peers.map((p) => `; ${p.member}: ${ACTIVITY_TEXT[p.activity]}${counts(p.done, p.total)}`).join('');
  return `${seconds(v.elapsedMs)}: ${STEP_TEXT[v.step]}${counts(v.done, v.total)}${eta}${peers}`;
}

function Progress({ run }: { run: Exclude<Run, { state: 'idle' }> }) {
  const stage: Stage = run.state === 'running' ? run.stage : run.state === 'error' ? (run.seen[run.seen.length - 1] ?? 'submitted') : 'done';
  return (
    <section aria-labelledby="progress-label" class="progress">
      <h2 id="progress-label">Progress</h2>
      <progress id="query-progress" aria-labelledby="progress-label" max={STAGES.length - 1} value={STAGES.indexOf(stage)}>
        {STAGE_TEXT[stage]}
      </progress>
      <p aria-live="polite">
        {STAGE_TEXT[stage]}
        {run.state === 'running' && run.detail ? `: ${run.detail}` : ''}
        {run.state === 'error' ? ': stopped' : ''}
      </p>
      <ol class="stages" aria-label="Stages reached">
        {run.seen.map((s) => (
          <li key={s} data-stage={s}>
            {STAGE_TEXT[s]}
          </li>
        ))}
      </ol>
    </section>
  );
}
