// The one logger keyward writes with. Secrets are kept out at two levels: plaintext lives in
// a `Secret`, which serializes as "[redacted]", and the paths below are censored whatever
// their value, for the fields that hold a secret as a plain string (an AccessSecret in a
// reply, a password in a request, a sealed value) and for whole request bodies.
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const CENSOR = '[redacted]';

// Names from API.md: the fields that hold a secret, in replies, requests, events and KV values.
const SECRET_FIELDS = ['accessSecret', 'password', 'passwordSealed', 'secretSealed'] as const;
// A request or message body may hold any of them, under any name.
const BODY_FIELDS = ['body', 'payload'] as const;

// Each at the top level and one or two levels down: log calls pass flat objects or a
// reply, request or event nested in one or two wrappers ({ reply: { result } }).
const atDepths = (path: string): string[] => [path, `*.${path}`, `*.*.${path}`];

export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELDS.flatMap(atDepths),
  // `*.*.password` stops at depth two; an account inside a result inside a wrapper is deeper.
  ...atDepths('databaseAccount.password'),
  'req.body',
  ...BODY_FIELDS.flatMap(atDepths),
];

export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; stdout when absent. Tests pass a stream that keeps them. */
  readonly destination?: DestinationStream;
}

export const createLogger = (options: LoggerOptions = {}): Logger => {
  const settings = {
    level: options.level ?? 'info',
    // pid and hostname are pino's defaults, kept: several keyward processes share one log store.
    base: { service: 'keyward', pid: process.pid, hostname: hostname() },
    // RFC 3339, as every time in API.md is written.
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
};
