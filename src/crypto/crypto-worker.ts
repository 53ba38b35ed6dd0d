import { asCleanroomError } from '../errors.js';
import { selectBackend } from './backend.js';
import { edwardsFor } from './edwards.js';
import { QuerySecret } from './secret.js';
import { checkReblind, proveReblind } from './verified-reblind.js';
import { blindPadded, failureOf, unpackKeys, type CryptoResult, type CryptoTask } from './worker-task.js';

/**
 * A crypto worker thread: hashes keys to the group, blinds points (with any padding among them), or proves or checks a
 * verified re-blinding (SPEC §4.2.1), one batch per task.
 */
export default function run(task: CryptoTask): CryptoResult {
  try {
    const group = selectBackend(task.backend);
    if (task.op === 'hash') {
      return done(group.hashToGroup(unpackKeys(task.keys, task.ends), task.dst));
    }
    if (task.op === 'check') return done(checkReblind(edwardsFor(group.name), task));
    const secret = QuerySecret.fromBytes(task.secret);
    task.secret.fill(0);
    try {
      if (task.op === 'prove') return done(proveReblind(edwardsFor(group.name), secret, task.points, task.context));
      return done(blindPadded(group, secret, task.points, task.padding));
    } finally {
      secret.zero();
    }
  } catch (err) {
    const e = asCleanroomError(err);
    return failureOf(e);
  }
}

/** A batch result is 128 KiB: cloning it costs microseconds next to the milliseconds of its multiplications. */
function done(bytes: Uint8Array): CryptoResult {
  return { ok: true, bytes };
}
