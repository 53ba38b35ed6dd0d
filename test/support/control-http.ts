/**
 * Raw HTTP against a node's control interface, for the tests that check what it refuses: any method, path and
 * headers (a forged Host or Origin included), the reply read whole.
 */
import { readFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { expect } from 'vitest';
import { DEFAULT_AUDIT_FILE } from '../../src/audit/audit-log.js';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/** A refusal of the control interface: this status, AUTH_FAILED, and a message that says `says`. */
export function expectRefused(reply: Reply, status: number, says: string): void {
  expect(reply.status, reply.body).toBe(status);
  const error = JSON.parse(reply.body) as { type: string; code: string; message: string };
  expect(error).toMatchObject({ type: 'error', code: 'AUTH_FAILED' });
  expect(error.message).toContain(says);
}

/** Lines of the node's audit log: a refused request must add none. */
export async function auditLines(nodeDir: string): Promise<number> {
  return (await readFile(join(nodeDir, DEFAULT_AUDIT_FILE), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}
