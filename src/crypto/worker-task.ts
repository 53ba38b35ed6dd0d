import type { BackendPreference } from './backend.js';

/** What the main thread asks a crypto worker to do. Secrets travel per task and are wiped by the worker after use. */
export type CryptoTask =
  | { readonly op: 'hash'; readonly backend: BackendPreference; readonly keys: Uint8Array; readonly ends: Uint32Array; readonly dst: Uint8Array }
  | { readonly op: 'blind'; readonly backend: BackendPreference; readonly secret: Uint8Array; readonly points: Uint8Array };

/** Errors cross the thread boundary as data, so their code and fault survive (a thrown Error would lose them). */
export type CryptoResult =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly peerFault: boolean };

/** Keys as one byte string plus the end offset of each: one transferable buffer instead of thousands of strings. */
export function packKeys(keys: readonly string[]): { keys: Uint8Array; ends: Uint32Array } {
  const enc = new TextEncoder();
  const parts = keys.map((k) => enc.encode(k));
  const ends = new Uint32Array(parts.length);
  let total = 0;
  parts.forEach((p, i) => (ends[i] = total += p.length));
  const bytes = new Uint8Array(total);
  parts.forEach((p, i) => bytes.set(p, i === 0 ? 0 : ends[i - 1]));
  return { keys: bytes, ends };
}

export function unpackKeys(keys: Uint8Array, ends: Uint32Array): Uint8Array[] {
  return Array.from(ends, (end, i) => keys.subarray(i === 0 ? 0 : ends[i - 1], end));
}
