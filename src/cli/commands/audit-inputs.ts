// What the audit commands share: time flags, and the store's failures as the CLI's exit codes.
import { normalizeTimestamp, type Timestamp } from '../../../domain/index.js';
import { ConfigError } from '../../config.js';
import { StoreIncompatibleError, StoreUnavailableError } from '../../store/errors.js';
import { printFailure } from '../command.js';
import { UsageError } from '../flags.js';
import type { Io } from '../io.js';

export const timeFlag = (value: string | undefined, name: string): Timestamp | undefined => {
  if (value === undefined) return undefined;
  const t = normalizeTimestamp(value);
  if (t === null) throw new UsageError(`--${name} must be an RFC 3339 UTC time like 2027-03-01T09:00:00Z`);
  return t;
};

/** A failure of reading the store, printed; undefined for anything else (a bug: rethrow it). */
export const auditFailure = (io: Io, json: boolean, e: unknown): number | undefined => {
  if (e instanceof ConfigError) return printFailure(io, json, { code: 'USAGE', message: e.problems.join('; '), details: [] });
  if (e instanceof StoreUnavailableError) return printFailure(io, json, { code: 'UNAVAILABLE', message: e.message, details: [] });
  if (e instanceof StoreIncompatibleError) return printFailure(io, json, { code: 'INTERNAL', message: e.message, details: [] });
  return undefined;
};
