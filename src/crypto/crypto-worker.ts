import { asCleanroomError } from '../errors.js';
import { selectBackend } from './backend.js';
import { QuerySecret } from './secret.js';
import { blindPadded, failureOf, unpackKeys, type CryptoResult, type CryptoTask } from './worker-task.js';

/** A crypto worker thread: hashes keys to the group or blinds points (with any padding among them), one batch per task. */
export default function run(task: CryptoTask): CryptoResult {
  try {
    const group = selectBackend(task.backend);
    if (task.op === 'hash') {
      return done(group.hashToGroup(unpackKeys(task.keys, task.ends), task.dst));
    }
    const secret = QuerySecret.fromBytes(task.secret);
    task.secret.fill(0);
    try {
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
