/**
 * Failpoints, as in etcd's gofail and TiKV's fail-rs: named places where the crash-fault tests stop a real node
 * process exactly there, to check that its peers end cleanly and nothing partial is released anywhere.
 * Off unless CLEANROOM_FAILPOINT is `<action>@<place>`: `crash` kills the process with SIGKILL, `freeze` stops it
 * with SIGSTOP (a peer that hangs), the first time it reaches the place. Only the process's own end or stop is
 * ever injected: a failpoint cannot change what a node computes or sends.
 */
export type Failpoint = 'before-accept' | `send:${string}`;

export function failpoint(place: Failpoint): void {
  const spec = process.env.CLEANROOM_FAILPOINT;
  if (spec === undefined) return;
  if (spec === `crash@${place}`) process.kill(process.pid, 'SIGKILL');
  if (spec === `freeze@${place}`) process.kill(process.pid, 'SIGSTOP');
}
