// The event store on EventStoreDB, through its gRPC client. The port's semantics are
// EventStoreDB's own, so this adapter mostly translates: revisions, positions and errors.
//
// - Positions are EventStoreDB's {commit, prepare} log positions, written as two 20-digit
//   numbers so that they are opaque strings which still sort as the log does.
// - Only keyward's events are seen: EventStoreDB keeps its own ($-prefixed streams and event
//   types) in $all too. Subscriptions filter them out on the server; a category filter
//   becomes a server-side stream-name prefix filter.
// - Event ids are the command handling's deterministic ids, so EventStoreDB's idempotent
//   append is the dedupe of a retried command.
import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  jsonEvent,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  streamNameFilter,
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type Position as EsdbPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { StoreIncompatibleError, StoreUnavailableError, WrongExpectedRevisionError } from '../errors.js';
import {
  categoryOf,
  ExpectedRevision,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type Position,
  type ReadAllOptions,
  type Revision,
  type StoredEvent,
  type Subscription,
} from '../types.js';

export interface EsdbStoreOptions {
  /** A connection string as the client takes it: `esdb://host:2113?tls=false`. */
  readonly connectionString: string;
  /** Pause before a dropped subscription is opened again; doubles up to 5 s. */
  readonly resubscribeMs?: number;
  /**
   * Prefixed to every stream name (like `staging.`), so several keyward stores can share one
   * EventStoreDB and each sees only its own; the tests use it to run on a shared server.
   */
  readonly namespace?: string;
}

const DIGITS = 20;

const encodePosition = (p: EsdbPosition): Position => `${p.commit.toString().padStart(DIGITS, '0')}/${p.prepare.toString().padStart(DIGITS, '0')}`;

const decodePosition = (position: Position): EsdbPosition => {
  const match = /^(\d{1,20})\/(\d{1,20})$/.exec(position);
  if (match?.[1] === undefined || match[2] === undefined) throw new TypeError(`not a position of the EventStoreDB store: ${position}`);
  return { commit: BigInt(match[1]), prepare: BigInt(match[2]) };
};

const compare = (a: EsdbPosition, b: EsdbPosition): number =>
  a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;

const isSystem = (streamId: string, type: string): boolean => streamId.startsWith('$') || type.startsWith('$');

const expectedOf = (expected: ExpectedRevision): AppendExpectedRevision => {
  switch (expected) {
    case ExpectedRevision.any:
      return ANY;
    case ExpectedRevision.noStream:
      return NO_STREAM;
    case ExpectedRevision.streamExists:
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
};

/** gRPC status codes that mean the server could not be reached or did not answer in time. */
const TRANSIENT = new Set(['unavailable', 'deadline-exceeded', 'timeout', 'not-leader', 'cancelled']);

const isTransient = (e: unknown): boolean => {
  if (!(e instanceof Error)) return false;
  const type = (e as { type?: unknown }).type;
  return (typeof type === 'string' && TRANSIENT.has(type)) || /ECONNREFUSED|UNAVAILABLE|No connection established|Failed to discover/i.test(e.message);
};

/** Vendor errors into the port's: only these leave the adapter. */
const translate = (e: unknown, what: string): Error => {
  if (e instanceof StoreUnavailableError || e instanceof StoreIncompatibleError || e instanceof WrongExpectedRevisionError) return e;
  if (isTransient(e)) return new StoreUnavailableError(`EventStoreDB cannot be reached to ${what} now`, { cause: e });
  return new StoreUnavailableError(`EventStoreDB refused to ${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
};

/** Whether an event is one a read with these options asks for. */
const matching =
  ({ categories, types }: ReadAllOptions) =>
  (e: StoredEvent): boolean =>
    (categories === undefined || categories.length === 0 || categories.includes(categoryOf(e.streamId))) && (types === undefined || types.length === 0 || types.includes(e.type));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class EsdbEventStore implements EventStore {
  readonly #client: EventStoreDBClient;
  readonly #resubscribeMs: number;
  readonly #namespace: string;
  #closed = false;
  readonly #open = new Set<{ close(): Promise<void> }>();

  private constructor(client: EventStoreDBClient, options: EsdbStoreOptions) {
    this.#client = client;
    this.#resubscribeMs = options.resubscribeMs ?? 100;
    this.#namespace = options.namespace ?? '';
    if (this.#namespace.startsWith('$')) throw new TypeError('an EventStoreDB namespace must not start with $ (EventStoreDB keeps those streams for itself)');
  }

  /** Keyward's event from EventStoreDB's, or undefined for EventStoreDB's own and other namespaces'. */
  #toStored(resolved: ResolvedEvent | AllStreamResolvedEvent): StoredEvent | undefined {
    const event = resolved.event;
    if (event === undefined || isSystem(event.streamId, event.type) || !event.streamId.startsWith(this.#namespace)) return undefined;
    if (event.position === undefined) {
      throw new StoreIncompatibleError('EventStoreDB returned an event without its position: keyward needs EventStoreDB 22.6 or later');
    }
    if (!event.isJson) throw new StoreIncompatibleError(`event ${event.id} (${event.streamId}@${event.revision}) is not JSON: not a keyward event`);
    return {
      id: event.id,
      streamId: event.streamId.slice(this.#namespace.length),
      revision: Number(event.revision),
      position: encodePosition(event.position),
      type: event.type,
      data: event.data,
      metadata: event.metadata ?? null,
    };
  }

  /** Connects lazily: the first call reaches the server, so a store that is down now is not an error yet. */
  static open(options: EsdbStoreOptions): EsdbEventStore {
    return new EsdbEventStore(EventStoreDBClient.connectionString(options.connectionString), options);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreUnavailableError('the EventStoreDB store is closed');
  }

  async append(streamId: string, events: readonly EventToAppend[], expected: ExpectedRevision): Promise<AppendResult> {
    this.#checkOpen();
    if (events.length === 0) throw new TypeError('append needs at least one event');
    let result;
    try {
      result = await this.#client.appendToStream(
        this.#namespace + streamId,
        events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data as Record<string, unknown>, metadata: e.metadata as Record<string, unknown> })),
        { expectedRevision: expectedOf(expected) },
      );
    } catch (e) {
      if (e instanceof WrongExpectedVersionError) {
        const actual = e.actualVersion;
        throw new WrongExpectedRevisionError(streamId, expected, typeof actual === 'bigint' ? Number(actual) : 'no_stream');
      }
      throw translate(e, `append to ${streamId}`);
    }
    const nextExpectedRevision = Number(result.nextExpectedRevision);
    // A repeated append (same ids at the same place) may come back without a position: it is
    // the position of the stream's event at that revision, recorded the first time.
    const position = result.position === undefined ? (await this.#eventAt(streamId, nextExpectedRevision)).position : encodePosition(result.position);
    return { nextExpectedRevision, position };
  }

  async #eventAt(streamId: string, revision: Revision): Promise<StoredEvent> {
    const [event] = await this.#readStream(streamId, revision, 1);
    if (event?.revision !== revision) throw new StoreUnavailableError(`EventStoreDB did not return ${streamId}@${revision}, which it had just acknowledged`);
    return event;
  }

  readStream(streamId: string, options: { readonly fromRevision?: Revision } = {}): Promise<StoredEvent[]> {
    return this.#readStream(streamId, options.fromRevision ?? 0);
  }

  async #readStream(streamId: string, fromRevision: Revision, maxCount?: number): Promise<StoredEvent[]> {
    this.#checkOpen();
    const out: StoredEvent[] = [];
    try {
      for await (const resolved of this.#client.readStream(this.#namespace + streamId, { fromRevision: BigInt(fromRevision), direction: FORWARDS, ...(maxCount === undefined ? {} : { maxCount }) })) {
        const stored = this.#toStored(resolved);
        if (stored !== undefined) out.push(stored);
      }
    } catch (e) {
      if (e instanceof StreamNotFoundError) return [];
      throw translate(e, `read ${streamId}`);
    }
    return out;
  }

  lastPosition(): Promise<Position | undefined> {
    return this.#newest(() => true);
  }

  /**
   * The newest of our events that `matches`, read backwards from the end of $all: EventStoreDB's
   * own events (and other namespaces') may come after it. Page by page, each read to its end:
   * a read left early keeps its call open and the client never closes.
   */
  async #newest(matches: (e: StoredEvent) => boolean): Promise<Position | undefined> {
    this.#checkOpen();
    const PAGE = 64;
    let from: EsdbPosition | typeof END = END;
    try {
      for (;;) {
        let found: StoredEvent | undefined;
        let read = 0;
        let oldest: EsdbPosition | undefined;
        for await (const resolved of this.#client.readAll({ direction: BACKWARDS, fromPosition: from, maxCount: PAGE })) {
          read++;
          oldest = resolved.event?.position ?? oldest;
          const stored = this.#toStored(resolved);
          if (found === undefined && stored !== undefined && matches(stored)) found = stored;
        }
        if (found !== undefined) return found.position;
        if (read < PAGE || oldest === undefined) return undefined;
        from = oldest;
      }
    } catch (e) {
      throw translate(e, 'read the end of $all');
    }
  }

  // A read that ends: the same filtered feed as a subscription, up to the last event of ours
  // that was recorded when the read began.
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<StoredEvent> {
    const end = await this.#newest(matching(options));
    if (end === undefined || (options.after !== undefined && this.comparePositions(end, options.after) <= 0)) return;
    const feed = this.subscribe(options);
    try {
      for await (const event of feed) {
        yield event;
        if (this.comparePositions(event.position, end) >= 0) return;
      }
    } finally {
      await feed.close();
    }
  }

  subscribe(options: ReadAllOptions = {}): Subscription {
    this.#checkOpen();
    const client = this.#client;
    const categories = options.categories;
    const ns = this.#namespace;
    const filter =
      categories === undefined || categories.length === 0
        ? ns === ''
          ? excludeSystemEvents()
          : streamNameFilter({ prefixes: [ns] })
        : streamNameFilter({ prefixes: categories.map((c) => `${ns}${c}-`) });
    const toStored = (resolved: AllStreamResolvedEvent): StoredEvent | undefined => this.#toStored(resolved);
    // The server filters on one thing only: stream names here; event types are checked on arrival.
    const matches = matching(options);
    let last = options.after === undefined ? undefined : decodePosition(options.after);
    let closed = false;
    // A function, not the variable: close() flips it while the generator is suspended.
    const isClosed = (): boolean => closed;
    let current: { unsubscribe(): Promise<void> } | undefined;
    const resubscribeMs = this.#resubscribeMs;

    // Catch-up then live, and after a dropped connection the same again from the last event
    // seen: EventStoreDB starts a subscription after the position it is given, so nothing is
    // repeated, and nothing after that position is missed.
    async function* follow(): AsyncGenerator<StoredEvent> {
      let pause = resubscribeMs;
      while (!isClosed()) {
        const subscription = client.subscribeToAll({ fromPosition: last ?? START, filter });
        current = subscription;
        try {
          for await (const resolved of subscription) {
            pause = resubscribeMs;
            const stored = toStored(resolved);
            if (stored === undefined) continue;
            if (!matches(stored)) continue;
            const at = decodePosition(stored.position);
            if (last !== undefined && compare(at, last) <= 0) continue;
            last = at;
            yield stored;
            if (isClosed()) return;
          }
          if (isClosed()) return;
        } catch (e) {
          if (isClosed()) return;
          if (!isTransient(e)) throw translate(e, 'follow $all');
        } finally {
          await subscription.unsubscribe().catch(() => undefined);
        }
        await sleep(pause);
        pause = Math.min(pause * 2, 5000);
      }
    }

    const iterator = follow();
    const handle = {
      close: async (): Promise<void> => {
        closed = true;
        this.#open.delete(handle);
        await current?.unsubscribe().catch(() => undefined);
        await iterator.return(undefined);
      },
    };
    this.#open.add(handle);
    return Object.assign(handle, { [Symbol.asyncIterator]: () => iterator });
  }

  comparePositions(a: Position, b: Position): number {
    return compare(decodePosition(a), decodePosition(b));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#open].map((s) => s.close()));
    await this.#client.dispose();
  }
}
