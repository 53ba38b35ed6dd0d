import { createHash, randomBytes } from 'node:crypto';
import { CONSOLE_LOGIN_CODE_TTL_MS, CONSOLE_SESSION_TTL_MS, MAX_CONSOLE_LOGIN_CODES, MAX_CONSOLE_SESSIONS } from '../limits.js';

/**
 * How a browser logs in to the console without ever holding the control token: the token's holder (the CLI) asks
 * for a fresh login code, the browser opens a link carrying it in the URL fragment (which no request sends), and
 * the console's script trades it, once, for a random session id that the tab keeps in sessionStorage and presents
 * in an Authorization header. No cookie: a browser sends a cookie to every port of 127.0.0.1, a header only where
 * the page's own script puts it. Codes and sessions live in memory only: a restart logs every browser out, as it
 * retires the token.
 *
 * Both are kept by their SHA-256, so a lookup's timing depends on the digest of what was presented, not on how much
 * of a real code or session id it shares.
 */
export class ConsoleLogins {
  /** digest of a code -> when it stops working (ms since the epoch). */
  private readonly codes = new Map<string, number>();
  /** digest of a session id -> when it ends. */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A fresh single-use code; the oldest one still waiting is dropped when too many are. */
  newCode(): { code: string; expiresInMs: number } {
    const code = randomBytes(32).toString('hex');
    keepAtMost(this.codes, MAX_CONSOLE_LOGIN_CODES - 1);
    this.codes.set(digest(code), this.now() + CONSOLE_LOGIN_CODE_TTL_MS);
    return { code, expiresInMs: CONSOLE_LOGIN_CODE_TTL_MS };
  }

  /** Trades a code for a new session id: the code is gone afterwards, whether it was still valid or not. */
  redeem(code: string): { session: string; expiresInMs: number } | undefined {
    const key = digest(code);
    const until = this.codes.get(key);
    this.codes.delete(key);
    if (until === undefined || until <= this.now()) return undefined;
    const session = randomBytes(32).toString('hex');
    keepAtMost(this.sessions, MAX_CONSOLE_SESSIONS - 1);
    this.sessions.set(digest(session), this.now() + CONSOLE_SESSION_TTL_MS);
    return { session, expiresInMs: CONSOLE_SESSION_TTL_MS };
  }

  isSession(session: string): boolean {
    const key = digest(session);
    const until = this.sessions.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.sessions.delete(key);
    return false;
  }

  endSession(session: string): void {
    this.sessions.delete(digest(session));
  }
}

function digest(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** Maps keep insertion order: the first keys are the oldest. */
function keepAtMost(m: Map<string, number>, n: number): void {
  for (const key of m.keys()) {
    if (m.size <= n) return;
    m.delete(key);
  }
}
