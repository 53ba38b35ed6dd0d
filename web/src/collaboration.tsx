import type { CollaborationView } from './api.js';
import { Loading, useJson, type PageProps } from './common.js';

export function CollaborationPage(_: PageProps) {
  const { data, error, reload } = useJson<CollaborationView>('/api/collaboration');
  if (!data) return <Loading error={error}>Loading the collaboration and asking each peer whether it is reachable…</Loading>;
  return (
    <>
      <section aria-labelledby="manifest-heading">
        <h2 id="manifest-heading">{data.name}</h2>
        <dl class="facts">
          <dt>Collaboration id</dt>
          <dd>{data.collaborationId}</dd>
          <dt>Manifest version</dt>
          <dd>{data.version}</dd>
          <dt>Manifest hash</dt>
          <dd>
            <code class="hash">{data.hash}</code>
          </dd>
          <dt>Signed by</dt>
          <dd>{data.signedBy.length > 0 ? `${data.signedBy.join(', ')} (every member's signature checks out)` : 'unknown'}</dd>
        </dl>
        {!data.fileMatches && !data.pending && (
          <p role="alert" class="refused">
            Warning: the manifest file in the node directory is not the one this node runs, and the node does not take it (see its log).
          </p>
        )}
      </section>
      {data.pending && (
        <section aria-labelledby="pending-heading" data-pending-version={data.pending.version}>
          <h2 id="pending-heading">Pending manifest version {data.pending.version}</h2>
          <p>
            The node runs version {data.version} until every member has signed version {data.pending.version}; it then loads it without a
            restart.
          </p>
          <dl class="facts">
            <dt>Signed by</dt>
            <dd data-signed>{data.pending.signedBy.length > 0 ? data.pending.signedBy.join(', ') : 'nobody yet'}</dd>
            <dt>Still to sign</dt>
            <dd data-missing>{data.pending.missing.length > 0 ? data.pending.missing.join(', ') : 'nobody'}</dd>
            <dt>Hash</dt>
            <dd>
              <code>{data.pending.hash}</code>
            </dd>
          </dl>
          <p class="refused">{data.pending.problem}</p>
        </section>
      )}
      <section aria-labelledby="members-heading">
        <h2 id="members-heading">Members</h2>
        <table>
          <caption>Members of the collaboration and whether their node answers now</caption>
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Name</th>
              <th scope="col">Endpoint</th>
              <th scope="col">May query</th>
              <th scope="col">Receives results</th>
              <th scope="col">Reachable now</th>
            </tr>
          </thead>
          <tbody>
            {data.members.map((m) => (
              <tr key={m.id} data-member={m.id}>
                <th scope="row">
                  {m.id}
                  {m.self ? ' (this node)' : ''}
                </th>
                <td>{m.name}</td>
                <td>
                  <code>{m.endpoint}</code>
                </td>
                <td>{m.querier ? 'yes' : 'no'}</td>
                <td>{m.receiver ? 'yes' : 'no'}</td>
                <td class={m.reachable ? 'ok' : 'refused'} data-reachable={String(m.reachable)}>
                  {m.reachable ? '✓ reachable' : `✗ unreachable: ${m.problem ?? 'no answer'}`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" onClick={reload}>
          Check again
        </button>
      </section>
    </>
  );
}
