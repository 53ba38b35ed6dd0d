/**
 * This tab's console session. The login link carries its code in the URL fragment (#login=<code>), which a browser
 * sends to no server and puts in no Referer; the page takes it out of the address bar at once and trades it for a
 * session id (POST /api/login). The id lives in sessionStorage, which is this origin's (its port included) and this
 * tab's alone, and goes out only in the Authorization header the page's own calls set. Never a cookie: a browser
 * sends cookies to every port of 127.0.0.1, so another local user's server there would receive one.
 */
const KEY = 'cleanroom.session';
const LOGIN = /^#login=(.*)$/;

/** The header that authenticates a call, or none when this tab has no session. */
export function sessionHeaders(): Record<string, string> {
  const id = sessionStorage.getItem(KEY);
  return id === null ? {} : { authorization: `Session ${id}` };
}

export function keepSession(id: string): void {
  sessionStorage.setItem(KEY, id);
}

export function forgetSession(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * The login code of the link this tab was opened with, if any, removed from the address bar before anything else:
 * history, bookmarks and a shared screen keep the console's plain address. The code works once anyway.
 */
export function takeLoginCode(): string | undefined {
  const code = LOGIN.exec(location.hash)?.[1];
  if (code === undefined) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return code;
}
