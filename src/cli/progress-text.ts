import type { ProgressEvent } from '../control/control-event.js';
import { MAX_CONCURRENT_QUERIES } from '../limits.js';

type View = NonNullable<ProgressEvent['view']>;

const STEP_TEXT: Record<View['step'], string> = {
  proposing: 'proposing',
  reading: 'reading own table',
  hashing: 'hashing own keys into the cache',
  'blinding-own': 'blinding own keys',
  'blinding-peer': "blinding the peers' points",
  matching: 'matching',
  aggregating: 'aggregating',
  releasing: 'releasing',
};

const ACTIVITY_TEXT: Record<View['peers'][number]['activity'], string> = {
  waiting: 'waiting',
  'sending-points': 'its points',
  'returning-points': 'our points back',
  blinding: 'blinding our points',
  matching: 'matching',
  releasing: 'releasing',
};

const number = (n: number) => n.toLocaleString('en-US');

/** `42 s`, `3 min 5 s`, `1 h 2 min`: the precision a person waiting needs. */
export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const counted = (done: number | undefined, total: number | undefined) => (done === undefined ? '' : total === undefined ? ` ${number(done)}` : ` ${number(done)} of ${number(total)}`);

/**
 * One line for a progress event: the stage, this node's step with its counts and time left, and each peer's activity
 * as far as this node can tell, e.g. `12 s: blinding own keys 40,960 of 100,000, about 18 s left; bob: its points 8,192`.
 */
export function progressText(e: ProgressEvent): string {
  if (e.stage === 'queued') return `queued: ${e.ahead ?? 0} of this node's queries run or wait ahead (at most ${MAX_CONCURRENT_QUERIES} run at once)`;
  const v = e.view;
  if (!v) return e.stage === 'proposing' ? 'proposing: the other members check the query against their rules' : `${e.stage}: ${number(e.ownKeys)} own keys processed`;
  const eta = v.etaMs === undefined ? '' : `, about ${durationText(v.etaMs)} left`;
  const peers = v.peers.map((p) => `; ${p.member}: ${ACTIVITY_TEXT[p.activity]}${counted(p.done, p.total)}`).join('');
  return `${durationText(v.elapsedMs)}: ${STEP_TEXT[v.step]}${counted(v.done, v.total)}${eta}${peers}`;
}

/** What makes a new line on a terminal that cannot redraw one: a stage, a step or a peer's activity changed. */
export function stageKey(e: ProgressEvent): string {
  return [e.stage, e.ahead ?? '', e.view?.step ?? '', ...(e.view?.peers ?? []).map((p) => `${p.member}:${p.activity}`)].join('|');
}

/**
 * Progress on stderr: on a terminal one line redrawn in place (cut to its width); elsewhere (a pipe, a log file) one
 * line per change of stage, never a `\r`.
 */
export class ProgressLine {
  private drawn = false;
  private lastKey: string | undefined;

  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly tty: boolean,
    private readonly columns = 80,
  ) {}

  show(e: ProgressEvent): void {
    const text = progressText(e);
    if (this.tty) {
      this.out.write(`\r${text.slice(0, Math.max(20, this.columns - 1))}\x1b[K`);
      this.drawn = true;
      return;
    }
    const key = stageKey(e);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.out.write(`${text}\n`);
  }

  /** A line of its own (a notice, the final error): the redrawn line is ended first, so it stays readable. */
  say(text: string): void {
    this.end();
    this.out.write(`${text}\n`);
  }

  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
