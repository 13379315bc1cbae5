// Times are RFC 3339 strings in UTC with milliseconds, exactly as Date#toISOString writes
// them. In that one form they order as strings do, so comparisons need no parsing; the
// codec normalizes every accepted input to it.
export type Timestamp = string;

export const isBefore = (a: Timestamp, b: Timestamp): boolean => a < b;

export const isAtOrAfter = (a: Timestamp, b: Timestamp): boolean => a >= b;

export const addSeconds = (t: Timestamp, seconds: number): Timestamp =>
  new Date(Date.parse(t) + seconds * 1000).toISOString();

export const earliest = (a: Timestamp, b: Timestamp | null): Timestamp => (b !== null && b < a ? b : a);

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/i;

// The form every stored time already has (Date#toISOString's): accepted as it is, without a
// Date, since a replay meets several per event. Days past the 28th still go the long way,
// which knows month lengths and leap years.
const CANONICAL = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/** The normalized form of an RFC 3339 UTC time, or null if it is not one (or names no real day). */
export const normalizeTimestamp = (s: string): Timestamp | null => {
  if (CANONICAL.test(s) && s >= '1970') return s;
  const m = RFC3339_UTC.exec(s);
  if (m === null) return null;
  const [, y, mo, d, h, mi, sec] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec, Math.floor(Number(`0${m[7] ?? ''}`) * 1000));
  const date = new Date(ms);
  // Date.UTC rolls 2026-02-30 over into March; a time that does not exist is refused instead.
  if (
    y < 1970 ||
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== sec
  ) {
    return null;
  }
  return date.toISOString();
};
