import { useState } from 'preact/hooks';

export interface SavedQuery {
  readonly name: string;
  readonly sql: string;
}

/**
 * Where the list is kept: this browser's localStorage, which is per origin, and the console's origin is its node's
 * control address and port, so each node's console keeps a list of its own. The node never sees it.
 */
const KEY = 'cleanroom.saved-queries';

function readSaved(): SavedQuery[] {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown;
    // Anything else under the key (edited by hand, an older shape) is ignored rather than breaking the page.
    return Array.isArray(list) ? list.filter((q): q is SavedQuery => typeof q?.name === 'string' && typeof q?.sql === 'string') : [];
  } catch {
    return [];
  }
}

/** The editor's query kept under a name, to load again later, in this browser and for this node only. */
export function SavedQueries({ sql, load }: { sql: string; load: (sql: string) => void }) {
  const [saved, setSaved] = useState(readSaved);
  const [name, setName] = useState('');
  const keep = (list: SavedQuery[]) => {
    localStorage.setItem(KEY, JSON.stringify(list));
    setSaved(list);
  };
  const save = (e: Event) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || !sql.trim()) return;
    // A name saved again is replaced, in place.
    const at = saved.findIndex((q) => q.name === n);
    keep(at < 0 ? [...saved, { name: n, sql }] : saved.map((q, i) => (i === at ? { name: n, sql } : q)));
    setName('');
  };
  return (
    <div class="saved-queries">
      <form onSubmit={save} class="inline-form">
        <label for="saved-name">Save the query in the editor as</label>
        <input id="saved-name" type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={100} />{' '}
        <button type="submit" disabled={!name.trim() || !sql.trim()}>
          Save
        </button>
      </form>
      {saved.length === 0 ? (
        <p class="muted">No saved query yet. Saved queries stay in this browser, for this node only.</p>
      ) : (
        <ul>
          {saved.map((q) => (
            <li key={q.name} data-saved={q.name}>
              <button type="button" onClick={() => load(q.sql)} aria-label={`Load the saved query ${q.name}`}>
                Load
              </button>{' '}
              <button type="button" onClick={() => keep(saved.filter((s) => s !== q))} aria-label={`Delete the saved query ${q.name}`}>
                Delete
              </button>{' '}
              <strong>{q.name}</strong>: <code>{q.sql}</code>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
