// API.md's error codes: the domain's four plus the ones only the edge can tell, and the one
// place that maps each to the NATS services header code.
import { ErrorCode, type ErrorDetail } from '../../domain/index.js';

export const ApiErrorCode = {
  ...ErrorCode,
  BAD_JSON: 'BAD_JSON',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

export const headerCodeOf = (code: ApiErrorCode): number => {
  switch (code) {
    case 'BAD_JSON':
    case 'VALIDATION':
      return 400;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'INTERNAL':
      return 500;
    case 'UNAVAILABLE':
      return 503;
    default: {
      const _exhaustive: never = code;
      return _exhaustive;
    }
  }
};

export interface ApiError {
  readonly code: ApiErrorCode;
  readonly message: string;
  readonly details: readonly ErrorDetail[];
}
