// Timing and the printed tables shared by the benchmarks.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Row {
  readonly name: string;
  readonly count: number;
  readonly seconds: number;
  readonly baselineName: string;
  readonly baselineSeconds: number;
}

export interface LatencyRow {
  readonly name: string;
  /** Round-trip times, milliseconds. */
  readonly ms: readonly number[];
  readonly baselineName: string;
  readonly baselineMs: readonly number[];
}

/** Seconds taken by `work`; `count` only documents what one run does. */
export function timed(count: number, work: () => Promise<void>): Promise<number>;
export function timed(count: number, work: () => void): number;
export function timed(_count: number, work: () => void | Promise<void>): number | Promise<number> {
  const start = performance.now();
  const result = work();
  if (result instanceof Promise) return result.then(() => (performance.now() - start) / 1000);
  return (performance.now() - start) / 1000;
}

/** Nearest rank, so the figure is always one that was measured. */
export const percentile = (samples: readonly number[], p: number): number => {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length))) - 1] ?? Number.NaN;
};

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMs = (ms: number): string => `${ms.toFixed(2)} ms`;

/** Columns 0 and `textColumn` are names, left-aligned; the rest are figures. */
export const table = (title: string, header: readonly string[], lines: readonly (readonly string[])[], textColumn: number): void => {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 || i === textColumn ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  process.stdout.write(`\n${title}\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${lines.map(line).join('\n')}\n`);
};

export const report = (title: string, rows: readonly Row[]): void => {
  const lines = rows.map((r) => {
    const rate = r.count / r.seconds;
    const baseRate = r.count / r.baselineSeconds;
    return [r.name, `${fmt(rate)}/s`, r.baselineName, `${fmt(baseRate)}/s`, `${(rate / baseRate).toFixed(2)}x`];
  });
  table(title, ['measured', 'rate', 'baseline (same run)', 'rate', 'ratio'], lines, 2);
};

/** The ratio is p50 over the baseline's p50: how many times longer a typical round trip takes. */
export const latencyReport = (title: string, rows: readonly LatencyRow[]): void => {
  const lines = rows.map((r) => {
    const p50 = percentile(r.ms, 0.5);
    const baseP50 = percentile(r.baselineMs, 0.5);
    return [r.name, fmtMs(p50), fmtMs(percentile(r.ms, 0.99)), r.baselineName, fmtMs(baseP50), fmtMs(percentile(r.baselineMs, 0.99)), `${(p50 / baseP50).toFixed(2)}x`];
  });
  table(title, ['measured', 'p50', 'p99', 'baseline (same run)', 'p50', 'p99', 'ratio (p50)'], lines, 3);
};

/** One request, answered as expected or thrown. */
export type Send = (i: number) => Promise<void>;

/** No steady loop runs longer than this, however slow the machine. */
const STEADY_LIMIT_MS = 60_000;

/**
 * Round-trip times (ms) of requests started on a fixed schedule, one at a time, so each
 * meets the service as a caller at that rate would; one that runs late delays the next
 * instead of being followed by a catch-up burst. Runs for `seconds`, or until `until` resolves.
 */
export const steady = async (send: Send, rate: number, seconds: number, until?: Promise<unknown>): Promise<number[]> => {
  // An object, not a variable: the loop must see the flag the promise sets.
  const run = { over: false };
  void until?.then(() => (run.over = true));
  const count = rate * seconds;
  const times: number[] = [];
  const start = performance.now();
  const deadline = start + STEADY_LIMIT_MS;
  for (let i = 0; i < count && !run.over && performance.now() < deadline; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const sent = performance.now();
    await send(i);
    times.push(performance.now() - sent);
  }
  return times;
};

/**
 * `inFlight` callers, each awaiting one item before taking the next, until `count` are done
 * (or `deadline`, a performance.now() time, passes); resolves to how many were started.
 */
export const pool = async (count: number, inFlight: number, work: (i: number) => Promise<unknown>, deadline = Number.POSITIVE_INFINITY): Promise<number> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count && performance.now() < deadline) await work(next++);
    }),
  );
  return next;
};
