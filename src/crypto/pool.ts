import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { BackendPreference } from './backend.js';
import type { PsiGroup } from './group.js';
import type { QuerySecret } from './secret.js';
import type { ReblindCheck } from './verified-reblind.js';
import { failureError, packKeys, type CryptoResult, type CryptoTask } from './worker-task.js';

/**
 * Hashing and blinding on every core: a pool of worker threads fed in batches, so that the main thread only
 * moves bytes between DuckDB, the workers and the socket. Results come back in the order asked for by whoever
 * awaits them; tasks run in parallel.
 */
export interface CryptoPool {
  readonly backend: PsiGroup['name'];
  /** The size of the group's points, which every request and result is a whole number of. */
  readonly pointBytes: number;
  readonly threads: number;
  hashToGroup(keys: readonly string[], dst: Uint8Array): Promise<Uint8Array>;
  /** `points` raised to `secret`; with `padding`, fresh points at those indices of the result (worker-task.ts `blindPadded`). */
  blind(secret: QuerySecret, points: Uint8Array, padding?: Uint32Array): Promise<Uint8Array>;
  /** Verified re-blinding (SPEC §4.2.1): `points` raised on edwards25519, then the batch's proof in `context`. */
  prove(secret: QuerySecret, points: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
  /** Verified re-blinding: a returned batch checked; the u-coordinates to match. */
  check(check: ReblindCheck): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** One worker per core: the work is pure CPU, more threads would only contend. */
export function defaultThreads(): number {
  return availableParallelism();
}

export function createCryptoPool(backend: PsiGroup, threads = defaultThreads()): CryptoPool {
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
    pointBytes: backend.pointBytes,
    threads,
    hashToGroup(keys, dst) {
      const packed = packKeys(keys);
      return run({ op: 'hash', backend: preference, ...packed, dst }, [packed.keys.buffer, packed.ends.buffer]);
    },
    /** Takes ownership of `points` and `padding`: a buffer is moved to the worker when the view covers it whole. */
    blind(secret, points, padding = new Uint32Array(0)) {
      // A copy per task, moved (not cloned) to the worker, which wipes it: no copy stays behind on this thread, and
      // the caller's QuerySecret stays the one to zero.
      const copy = Uint8Array.from(secret.bytes());
      // Copied unless the view covers its buffer whole. Not with `slice()`: on a Node Buffer (a decoded frame's points
      // are one) it makes another view of the same memory, and moving that would take the whole frame with it.
      const own = covers(points) ? points : new Uint8Array(points);
      const at = covers(padding) ? padding : new Uint32Array(padding);
      return run({ op: 'blind', backend: preference, secret: copy, points: own, padding: at }, [own.buffer, copy.buffer, at.buffer]);
    },
    prove(secret, points, context) {
      const copy = Uint8Array.from(secret.bytes());
      return run({ op: 'prove', backend: preference, secret: copy, points, context }, [copy.buffer]);
    },
    check: (check) => run({ op: 'check', backend: preference, ...check }, []),
    close: () => pool.destroy(),
  };
}

/** Whether a view covers its buffer whole, so that moving the buffer moves nothing else. */
function covers(view: Uint8Array | Uint32Array): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}
