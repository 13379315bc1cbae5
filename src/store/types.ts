// The event store port. Its semantics are EventStoreDB's, so the embedded SQLite store and
// the EventStoreDB adapter are interchangeable above it, and one contract suite proves both.

/**
 * A place in the store's global order. Opaque: only the store that issued it compares or
 * interprets it; everyone else stores it and hands it back to resume after it.
 */
export type Position = string;

/** Revisions count from 0 per stream, with no gaps. */
export type Revision = number;

export const ExpectedRevision = {
  /** No check at all. */
  any: 'any',
  /** The stream must not exist yet. */
  noStream: 'no_stream',
  /** The stream must exist, at any revision. */
  streamExists: 'stream_exists',
} as const;
/** One of the sentinels, or the exact revision of the stream's last event. */
export type ExpectedRevision = (typeof ExpectedRevision)[keyof typeof ExpectedRevision] | Revision;

export interface EventToAppend {
  /** A UUID. Appending the same ids again at the same place succeeds and records nothing. */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export interface StoredEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: Revision;
  readonly position: Position;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export interface AppendResult {
  /** The revision of the stream's last event after the append. */
  readonly nextExpectedRevision: Revision;
  /** The position of the last event appended. */
  readonly position: Position;
}

export interface ReadAllOptions {
  /** Start after this position; from the beginning when absent. */
  readonly after?: Position;
  /** Only streams of these categories (the part of the stream id before the first `-`). */
  readonly categories?: readonly string[];
  /** Only events of these types: a replay that needs a few kinds skips the rest before decoding them. */
  readonly types?: readonly string[];
}

/** A live feed of events: the past after a position, then every append as it commits. */
export interface Subscription extends AsyncIterable<StoredEvent> {
  /** Ends the iteration; a pending `next()` resolves as done. */
  close(): Promise<void>;
}

export interface EventStore {
  /** Appends atomically, or throws WrongExpectedRevisionError and records nothing. */
  append(streamId: string, events: readonly EventToAppend[], expected: ExpectedRevision): Promise<AppendResult>;
  /** The stream's events from a revision (0 by default), oldest first; empty when there are none. */
  readStream(streamId: string, options?: { readonly fromRevision?: Revision }): Promise<StoredEvent[]>;
  /** Every event in global order, after a position; ends at the current end. */
  readAll(options?: ReadAllOptions): AsyncIterable<StoredEvent>;
  /**
   * The position of the last event recorded, undefined when the store is empty: a follower
   * that has applied up to it has seen everything recorded before it asked.
   */
  lastPosition(): Promise<Position | undefined>;
  /** Catches up on the past, then follows appends, in order, with no gap and no repeat, until closed. */
  subscribe(options?: ReadAllOptions): Subscription;
  /** Orders two positions of this store: negative, zero or positive, like a sort comparator. */
  comparePositions(a: Position, b: Position): number;
  close(): Promise<void>;
}

export const categoryOf = (streamId: string): string => {
  const dash = streamId.indexOf('-');
  return dash === -1 ? streamId : streamId.slice(0, dash);
};
