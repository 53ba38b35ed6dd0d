/** Watches a node process during a fuzz run: whether it exits, and the largest resident set it reaches. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

export class NodeWatch {
  maxRssMiB = 0;
  exit: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = (code: number | null, signal: string | null) => (this.exit = `exited with ${code ?? signal}`);

  constructor(private readonly proc: ChildProcess, everyMs = 50) {
    proc.once('exit', this.onExit);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.proc.off('exit', this.onExit);
    this.sample();
  }

  private sample(): void {
    if (this.exit || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      this.maxRssMiB = Math.max(this.maxRssMiB, rssMiB(this.proc.pid!));
    } catch {
      // The process ended between the check and the read: its 'exit' records that.
    }
  }
}
