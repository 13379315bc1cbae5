// The only errors the event store port throws. Adapters translate their vendor's errors into
// these, so nothing above the port knows which store it runs on.
import type { ExpectedRevision, Revision } from './types.js';

export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';

  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's last revision, or `no_stream`. */
    readonly actual: Revision | 'no_stream',
  ) {
    super(`stream ${streamId} is at ${String(actual)}, not ${String(expected)}`);
  }
}

/** The store cannot be reached or cannot write now; nothing was recorded. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** The store's data cannot be used as it is: not a keyward store, corrupt, or from a newer version. */
export class StoreIncompatibleError extends Error {
  override readonly name = 'StoreIncompatibleError';
}
