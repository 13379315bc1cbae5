// Progress of a long replay, for people at a terminal: events done, events per second and
// the time left, redrawn in place on stderr at most a few times a second. When stderr is not
// a terminal (piped, in CI, read by a program) it writes nothing at all, so output stays data.
export interface Progress {
  /** `done` events of `total` (when known) so far. */
  update(done: number, total?: number): void;
  /** Clears the line: what follows starts on a clean one. */
  finish(): void;
}

export interface ProgressTarget {
  readonly isTTY: boolean;
  write(text: string): void;
}

const REDRAW_MS = 200;

const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

export const progressLine = (label: string, done: number, total: number | undefined, elapsedSeconds: number): string => {
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const count = total === undefined ? done.toLocaleString('en-US') : `${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`;
  const bar = total === undefined || total === 0 ? '' : `[${'#'.repeat(Math.round((20 * Math.min(done, total)) / total)).padEnd(20, '.')}] `;
  const eta = total === undefined || rate === 0 ? '' : `, ${duration((total - done) / rate)} left`;
  return `${label} ${bar}${count} events, ${Math.round(rate).toLocaleString('en-US')}/s${eta}`;
};

export const progress = (label: string, target: ProgressTarget = { isTTY: process.stderr.isTTY, write: (t) => process.stderr.write(t) }): Progress => {
  if (!target.isTTY) return { update: () => undefined, finish: () => undefined };
  const started = performance.now();
  let drawn = Number.NEGATIVE_INFINITY;
  let shown = false;
  return {
    update: (done, total) => {
      const now = performance.now();
      if (now - drawn < REDRAW_MS) return;
      drawn = now;
      shown = true;
      target.write(`\r\x1b[2K${progressLine(label, done, total, (now - started) / 1000)}`);
    },
    finish: () => {
      if (shown) target.write('\r\x1b[2K');
    },
  };
};
