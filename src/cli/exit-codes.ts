// The exit status of every outcome, in one place: scripts branch on these numbers, so they
// are part of the CLI's contract and only ever added to.
import type { ApiErrorCode } from '../service/errors.js';

/**
 * An outcome the CLI itself decides: a refused command line, a reply that never came, or a
 * recorded history that `keyward audit verify` found broken.
 */
export type LocalCode = 'OK' | 'FAILED' | 'USAGE' | 'TIMEOUT' | 'HISTORY_BROKEN';

export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  VALIDATION: 3,
  BAD_JSON: 3,
  FORBIDDEN: 4,
  NOT_FOUND: 5,
  CONFLICT: 6,
  PAYLOAD_TOO_LARGE: 7,
  UNAVAILABLE: 8,
  INTERNAL: 9,
  TIMEOUT: 10,
  HISTORY_BROKEN: 11,
} as const satisfies Record<ApiErrorCode | LocalCode, number>;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

// A code this CLI does not know yet (a newer service) still fails, and says so as a bug would.
export const exitCodeOf = (code: string): ExitCode => (Object.hasOwn(ExitCode, code) ? ExitCode[code as keyof typeof ExitCode] : ExitCode.INTERNAL);

const MEANINGS: readonly (readonly [number, string])[] = [
  [ExitCode.OK, 'done'],
  [ExitCode.FAILED, 'keyward serve or relay could not start, or the CLI itself failed (a bug)'],
  [ExitCode.USAGE, 'usage error: bad or missing flags, caught before anything was sent'],
  [ExitCode.VALIDATION, 'VALIDATION or BAD_JSON: the service refused a field'],
  [ExitCode.FORBIDDEN, 'FORBIDDEN: the actor may not do this'],
  [ExitCode.NOT_FOUND, 'NOT_FOUND: no such proxy, grant or ticket'],
  [ExitCode.CONFLICT, 'CONFLICT: the state forbids it'],
  [ExitCode.PAYLOAD_TOO_LARGE, 'PAYLOAD_TOO_LARGE: the request is over 64 KiB'],
  [ExitCode.UNAVAILABLE, 'UNAVAILABLE: the event store, the NATS server or the keyward service cannot be reached'],
  [ExitCode.INTERNAL, 'INTERNAL: a bug in the service (or a reply this CLI cannot read)'],
  [ExitCode.TIMEOUT, 'no reply in time: a command may still have been recorded'],
  [ExitCode.HISTORY_BROKEN, 'keyward audit verify: the recorded history has a break (an event edited, removed, reordered, repeated or malformed)'],
];

export const EXIT_CODE_HELP = ['Exit codes:', ...MEANINGS.map(([n, text]) => `  ${String(n).padStart(2)}  ${text}`)].join('\n');
