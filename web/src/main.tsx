import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, getJson, logIn, logOut } from './api.js';
import { CollaborationPage } from './collaboration.js';
import { HistoryPage } from './history.js';
import { QueryPage } from './query.js';
import { takeLoginCode } from './session.js';
import { TablesPage } from './tables.js';
import './style.css';

const PAGES = [
  { id: 'collaboration', title: 'Collaboration', Page: CollaborationPage },
  { id: 'tables', title: 'Tables', Page: TablesPage },
  { id: 'query', title: 'Query', Page: QueryPage },
  { id: 'history', title: 'History', Page: HistoryPage },
] as const;

interface Status {
  readonly member: string;
  readonly collaboration: string;
  readonly manifestVersion: number;
}

const pageOf = () => PAGES.find((p) => `#/${p.id}` === location.hash) ?? PAGES[0];

const asFailure = (e: unknown) => (e instanceof ApiFailure ? e : new ApiFailure(0, { type: 'error', code: 'PEER_UNREACHABLE', message: String(e) }));

/** Read before the first render: the login code leaves the address bar before any page or request sees it. */
const loginCode = takeLoginCode();

function App() {
  const [page, setPage] = useState(pageOf);
  const [status, setStatus] = useState<Status | ApiFailure | 'logged out' | undefined>(undefined);
  const opened = useRef(page);
  useEffect(() => {
    const connect = (code: string | undefined) =>
      (code === undefined ? Promise.resolve() : logIn(code))
        .then(() => getJson<Status>('/status'))
        .then(setStatus, (e: unknown) => setStatus(asFailure(e)));
    // A link opened in a tab that shows the console already changes only the fragment: it logs in all the same.
    const onHash = () => {
      const code = takeLoginCode();
      if (code !== undefined) connect(code);
      setPage(pageOf());
    };
    addEventListener('hashchange', onHash);
    connect(loginCode);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    document.title = `${page.title} · Clean room console`;
    // Keyboard and screen-reader users land on a new page's heading, not on the link they left; the first page
    // leaves focus at the top, where the skip link and the page links are.
    if (page !== opened.current) document.getElementById('page-heading')?.focus();
  }, [page]);
  if (status === undefined) return <p>Connecting to the node…</p>;
  if (status === 'logged out' || status instanceof ApiFailure) return <LoggedOut failure={status === 'logged out' ? undefined : status} />;
  const { Page } = page;
  const leave = () => logOut().then(() => setStatus('logged out'), (e: unknown) => setStatus(asFailure(e)));
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <p class="brand">
          Clean room console: <strong>{status.member}</strong> in <strong>{status.collaboration}</strong> (manifest v{status.manifestVersion})
        </p>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.id}>
                <a href={`#/${p.id}`} aria-current={p.id === page.id ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="logout" onClick={leave}>
          Log out
        </button>
      </header>
      <main id="main">
        <h1 id="page-heading" tabIndex={-1}>
          {page.title}
        </h1>
        <Page self={status.member} />
      </main>
    </>
  );
}

function LoggedOut({ failure }: { failure: ApiFailure | undefined }) {
  return (
    <main id="main">
      <h1>Not logged in</h1>
      <p role="alert">{failure ? `The node refused this browser: ${failure.error.message}` : 'You logged out: the node ended this session.'}</p>
      <p>
        On the machine that runs the node, type <code>npx cleanroom console &lt;node dir&gt;</code> and open the link it prints within two
        minutes. The link works once.
      </p>
    </main>
  );
}

render(<App />, document.getElementById('app')!);
