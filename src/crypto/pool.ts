import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { BackendPreference } from './backend.js';
import type { GroupBackend } from './group.js';
import type { QuerySecret } from './secret.js';
import { failureError, packKeys, type CryptoResult, type CryptoTask } from './worker-task.js';

/**
 * Hashing and blinding on every core: a pool of worker threads fed in batches, so that the main thread only
 * moves bytes between DuckDB, the workers and the socket. Results come back in the order asked for by whoever
 * awaits them; tasks run in parallel.
 */
export interface CryptoPool {
  readonly backend: GroupBackend['name'];
  readonly threads: number;
  hashToGroup(keys: readonly string[], dst: Uint8Array): Promise<Uint8Array>;
  blind(secret: QuerySecret, points: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** One worker per core: the work is pure CPU, more threads would only contend. */
export function defaultThreads(): number {
  return availableParallelism();
}

export function createCryptoPool(backend: GroupBackend, threads = defaultThreads()): CryptoPool {
  const pool = new Piscina({
    filename: new URL('./crypto-worker.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    // A worker idles between queries; keep it rather than pay its start-up (loading libsodium) again.
    idleTimeout: 60_000,
  });
  const preference: BackendPreference = backend.name;
  const run = async (task: CryptoTask, transfer: ArrayBufferLike[]): Promise<Uint8Array> => {
    const result = (await pool.run(task, { transferList: transfer as ArrayBuffer[] })) as CryptoResult;
    if (result.ok !== true || !(result.bytes instanceof Uint8Array)) throw failureError(result);
    return result.bytes;
  };
  return {
    backend: backend.name,
    threads,
    hashToGroup(keys, dst) {
      const packed = packKeys(keys);
      return run({ op: 'hash', backend: preference, ...packed, dst }, [packed.keys.buffer, packed.ends.buffer]);
    },
    /** Takes ownership of `points`: its buffer is moved to the worker when the view covers it whole. */
    blind(secret, points) {
      // A copy per task, moved (not cloned) to the worker, which wipes it: no copy stays behind on this thread, and
      // the caller's QuerySecret stays the one to zero.
      const copy = Uint8Array.from(secret.bytes());
      const own = points.byteOffset === 0 && points.byteLength === points.buffer.byteLength ? points : points.slice();
      return run({ op: 'blind', backend: preference, secret: copy, points: own }, [own.buffer, copy.buffer]);
    },
    close: () => pool.destroy(),
  };
}
