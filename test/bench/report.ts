// Timing and the printed table shared by the benchmarks.
import { performance } from 'node:perf_hooks';

export interface Row {
  readonly name: string;
  readonly count: number;
  readonly seconds: number;
  readonly baselineName: string;
  readonly baselineSeconds: number;
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

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export const report = (title: string, rows: readonly Row[]): void => {
  const lines = rows.map((r) => {
    const rate = r.count / r.seconds;
    const baseRate = r.count / r.baselineSeconds;
    return [r.name, `${fmt(rate)}/s`, r.baselineName, `${fmt(baseRate)}/s`, `${(rate / baseRate).toFixed(2)}x`];
  });
  const header = ['measured', 'rate', 'baseline (same run)', 'rate', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 || i === 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  process.stdout.write(`\n${title}\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${lines.map(line).join('\n')}\n`);
};
