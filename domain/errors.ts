// The codes of API.md's error table that a domain decision can produce. The NATS edge maps
// them (and its own transport codes) to Nats-Service-Error-Code in one place.
export const ErrorCode = {
  VALIDATION: 'VALIDATION',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One failing field of a request: `path` is dotted (`policy.expiresAt`), `message` plain words. */
export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

/**
 * A refused command. Messages name ids and fields, never a secret, a password or a sealed
 * value: they travel back to callers and into logs.
 */
export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
  ) {
    super(message);
  }
}

export const forbidden = (message: string): DomainError => new DomainError(ErrorCode.FORBIDDEN, message);
export const notFound = (message: string): DomainError => new DomainError(ErrorCode.NOT_FOUND, message);
export const conflict = (message: string): DomainError => new DomainError(ErrorCode.CONFLICT, message);

export const invalid = (details: readonly ErrorDetail[]): DomainError =>
  new DomainError(ErrorCode.VALIDATION, details.map((d) => (d.path === '' ? d.message : `${d.path}: ${d.message}`)).join('; '), details);

export const invalidField = (path: string, message: string): DomainError => invalid([{ path, message }]);
