import type { ExampleQueryView } from './api.js';

const KIND_TEXT: Record<ExampleQueryView['kind'], string> = {
  'count-only': 'Count of matched keys',
  'group-by': 'GROUP BY a dimension',
  'partner-dimension': 'GROUP BY the partner’s dimension',
};

/**
 * Queries built from the manifest that the planner allows this member (src/console/example-queries.ts), each loaded
 * into the editor with one click: loading runs nothing, and so charges no budget.
 */
export function ExampleQueries({ examples, load }: { examples: readonly ExampleQueryView[]; load: (sql: string) => void }) {
  if (examples.length === 0) return <p>The manifest allows this member no join of a table of its own with a partner’s.</p>;
  return (
    <ul class="examples">
      {examples.map((e) => (
        <li key={e.sql} data-example={e.kind}>
          <button type="button" onClick={() => load(e.sql)} aria-label={`Load the example: ${e.title}`}>
            Load
          </button>{' '}
          <strong>{KIND_TEXT[e.kind]}:</strong> {e.title}
          <br />
          <code>{e.sql}</code>
        </li>
      ))}
    </ul>
  );
}
