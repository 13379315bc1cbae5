// Paging for the list queries. A cursor is base64url of the sort key of the last item given
// out: opaque to callers, and it stays valid when items come or go between pages (the next
// page starts after that key, wherever it now sits).
import { DEFAULT_PAGE_SIZE, invalidField, MAX_PAGE_SIZE } from '../domain/index.js';
import { compareBy } from './support.js';

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

export interface PageRequest {
  readonly limit?: number;
  readonly cursor?: string;
}

// Keys are ids or digits (ASCII), so btoa/atob need no byte encoding and run anywhere.
export const encodeCursor = (key: string): string => btoa(key).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/**
 * The key a cursor names. A cursor this service never gave out is the caller's mistake:
 * the one failure a query has, thrown as the VALIDATION error a decision would return.
 */
export const decodeCursor = (cursor: string, keyPattern: RegExp): string => {
  let key: string | null = null;
  try {
    key = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    // not base64url: refused below
  }
  if (key === null || !keyPattern.test(key)) throw invalidField('cursor', 'is not a cursor given out by this query');
  return key;
};

export const pageLimit = (limit: number | undefined): number => Math.min(Math.max(Math.trunc(limit ?? DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE);

/** One page of `candidates` in the order of `keyOf`, after the cursor's key. */
export const paginate = <T>(candidates: readonly T[], keyOf: (item: T) => string, request: PageRequest, keyPattern: RegExp): Page<T> => {
  const after = request.cursor === undefined ? null : decodeCursor(request.cursor, keyPattern);
  const limit = pageLimit(request.limit);
  const rest = (after === null ? [...candidates] : candidates.filter((item) => keyOf(item) > after)).sort(compareBy(keyOf));
  const items = rest.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rest.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
};

/** The id alphabet of API.md: what proxy and grant cursors carry. */
export const ID_KEY = /^[A-Za-z0-9_-]{1,64}$/;
