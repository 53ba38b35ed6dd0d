import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFuzzCluster, type FuzzCluster } from '../support/fuzz-cluster.js';

/** CPU seconds a process has used (utime + stime from /proc, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A node whose log pipe breaks (its supervisor died, a `| head` ended) keeps serving and stays idle: the write error
 * must not feed the guard that logs internal errors to the same broken pipe, in a loop that spins a core.
 */
describe('a node whose stderr reader is gone', () => {
  let fc: FuzzCluster;
  beforeAll(async () => {
    fc = await startFuzzCluster('log-pipe');
  });
  afterAll(async () => {
    await fc?.stop();
  });

  it('answers queries and uses almost no CPU when idle', async () => {
    const beta = fc.cluster.nodes.beta!;
    beta.process.stderr!.destroy();
    // Queries make beta log (accepted, done): every line now fails to reach the pipe.
    await fc.expectCorrectAnswers();
    await new Promise((r) => setTimeout(r, 300));
    const before = cpuSeconds(beta.process.pid!);
    await new Promise((r) => setTimeout(r, 1500));
    // An idle node: a spinning one would use about 1.5 s of CPU in 1.5 s.
    expect(cpuSeconds(beta.process.pid!) - before).toBeLessThan(0.3);
    await fc.expectCorrectAnswers();
  });
});
