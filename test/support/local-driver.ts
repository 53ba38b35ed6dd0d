import type { PsiGroup } from '../../src/crypto/group.js';
import { blindPadded } from '../../src/crypto/worker-task.js';
import { edwardsFor } from '../../src/crypto/edwards.js';
import { checkReblind, proveReblind, type ReblindCheck } from '../../src/crypto/verified-reblind.js';
import type { BlindRequest, Machine, Step } from '../../src/session/step.js';

/** What a worker computes for a request (src/crypto/crypto-worker.ts), on this thread. */
function work(req: BlindRequest | ReblindCheck, group: PsiGroup): Uint8Array {
  if ('returned' in req) return checkReblind(edwardsFor(group.name), req);
  if (req.prove) return proveReblind(edwardsFor(group.name), req.secret, req.points, req.prove);
  const out = blindPadded(group, req.secret, req.points, req.padding ?? new Uint32Array(0));
  // The pool takes a blind request's points to its worker when the view covers its buffer whole (src/crypto/pool.ts):
  // the buffer is detached here likewise, so that a machine that keeps or shares a buffer it handed over fails here.
  if (req.points.byteOffset === 0 && req.points.byteLength === req.points.buffer.byteLength && req.points.byteLength > 0) structuredClone(req.points.buffer, { transfer: [req.points.buffer as ArrayBuffer] });
  return out;
}

/**
 * Answers a step's blind requests (and checks, SPEC §4.2.1) at once, on this thread, strictly in request order (requests made by an answer
 * queue behind those already waiting, as on the node's driver), and merges what the answers produce: how scenario
 * tests and the in-process benchmark drive the machines without a worker pool.
 */
export function completeBlinds(machine: Machine, step: Step, group: PsiGroup): Step {
  const send = [...step.send];
  const requests: (BlindRequest | ReblindCheck)[] = [...(step.blind ?? []), ...(step.check ?? [])];
  let { aggregate, parts, outcome } = step;
  while (requests.length > 0 && !outcome) {
    const req = requests.shift()!;
    let next: Step;
    try {
      // What a worker computes for the request, padding included (src/crypto/crypto-worker.ts).
      next = machine.blinded(work(req, group));
    } catch (err) {
      next = machine.fail(err);
    }
    send.push(...next.send);
    requests.push(...(next.blind ?? []), ...(next.check ?? []));
    aggregate ??= next.aggregate;
    parts ??= next.parts;
    outcome ??= next.outcome;
  }
  return { send, ...(aggregate ? { aggregate } : {}), ...(parts ? { parts } : {}), ...(outcome ? { outcome } : {}) };
}
