import { describe, expect, it } from 'vitest';
import { progress, progressLine } from '../../src/cli/progress.js';

describe('replay progress', () => {
  it('says events done, the rate and the time left', () => {
    expect(progressLine('replaying', 250_000, 1_000_000, 2)).toBe('replaying [#####...............] 250,000 / 1,000,000 events, 125,000/s, 6s left');
    expect(progressLine('replaying', 5000, undefined, 0.5)).toBe('replaying 5,000 events, 10,000/s');
  });

  it('draws in place on a terminal and clears its line at the end', () => {
    const written: string[] = [];
    const p = progress('replaying', { isTTY: true, write: (t) => written.push(t) });
    p.update(10, 100);
    p.finish();
    expect(written[0]?.startsWith('\r\x1b[2Kreplaying [##..................] 10 / 100 events')).toBe(true);
    expect(written[written.length - 1]).toBe('\r\x1b[2K');
  });

  it('writes nothing at all when the output is not a terminal', () => {
    const written: string[] = [];
    const p = progress('replaying', { isTTY: false, write: (t) => written.push(t) });
    p.update(10, 100);
    p.finish();
    expect(written).toEqual([]);
  });
});
