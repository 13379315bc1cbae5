import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeTimestamp } from '../../domain/index.js';

describe('times', () => {
  it('takes any RFC 3339 UTC time and gives it in the one stored form', () => {
    expect(normalizeTimestamp('2026-12-04T10:00:00Z')).toBe('2026-12-04T10:00:00.000Z');
    expect(normalizeTimestamp('2026-12-04t10:00:00.5z')).toBe('2026-12-04T10:00:00.500Z');
    expect(normalizeTimestamp('2026-12-04T10:00:00.123456789Z')).toBe('2026-12-04T10:00:00.123Z');
  });

  it('refuses days that do not exist, offsets, and times before 1970', () => {
    for (const s of ['2026-02-29T00:00:00.000Z', '2026-02-30T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-13-01T00:00:00.000Z', '2026-12-04T24:00:00.000Z', '2026-12-04T10:00:00+01:00', '1969-12-31T23:59:59.999Z', '2026-12-04']) {
      expect(normalizeTimestamp(s), s).toBeNull();
    }
    expect(normalizeTimestamp('2024-02-29T00:00:00.000Z')).toBe('2024-02-29T00:00:00.000Z');
  });

  it('a time already in the stored form comes back as it is, whatever the day', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        const s = d.toISOString();
        expect(normalizeTimestamp(s)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });
});
