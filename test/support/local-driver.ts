import type { GroupBackend } from '../../src/crypto/group.js';
import { blindPadded } from '../../src/crypto/worker-task.js';
import type { Machine, Step } from '../../src/session/step.js';

/**
 * Answers a step's blind requests at once, on this thread, strictly in request order (requests made by an answer
 * queue behind those already waiting, as on the node's driver), and merges what the answers produce: how scenario
 * tests and the in-process benchmark drive the machines without a worker pool.
 */
export function completeBlinds(machine: Machine, step: Step, group: GroupBackend): Step {
  const send = [...step.send];
  const requests = [...(step.blind ?? [])];
  let { aggregate, parts, outcome } = step;
  while (requests.length > 0 && !outcome) {
    const { points, secret, padding } = requests.shift()!;
    let next: Step;
    try {
      // What a worker computes for the request, padding included (src/crypto/crypto-worker.ts).
      next = machine.blinded(blindPadded(group, secret, points, padding ?? new Uint32Array(0)));
    } catch (err) {
      next = machine.fail(err);
    }
    send.push(...next.send);
    requests.push(...(next.blind ?? []));
    aggregate ??= next.aggregate;
    parts ??= next.parts;
    outcome ??= next.outcome;
  }
  return { send, ...(aggregate ? { aggregate } : {}), ...(parts ? { parts } : {}), ...(outcome ? { outcome } : {}) };
}
