// Command handling: load the aggregate's stream, decide, append with the expected revision;
// on a conflict, load and decide again. A command is recorded at most once, whatever retries.
import * as E from 'fp-ts/lib/Either.js';
import { conflict, type Actor, type Decider, type DomainError, type DomainEvent, type EventMetadata, type Recorded, type Timestamp } from '../../domain/index.js';
import { WrongExpectedRevisionError } from '../store/errors.js';
import { decodeRecorded } from '../store/recorded.js';
import { ExpectedRevision, type EventStore } from '../store/types.js';
import { eventIdFor } from './event-ids.js';
import { eventHash } from './hash-chain.js';

export interface CommandMeta {
  readonly commandId: string;
  /** The conversation this command belongs to; the commandId when it starts one. */
  readonly correlationId?: string;
  /** What caused this command (a request, an event); the commandId when it came from a caller. */
  readonly causationId?: string;
  readonly actor: Actor;
}

export interface LoadedStream<S, Ev> {
  readonly state: S;
  readonly events: readonly Recorded<Ev>[];
  readonly expected: ExpectedRevision;
}

type Fold<S, Ev> = Pick<Decider<unknown, Ev, S, unknown>, 'evolve' | 'initialState'>;

export const loadStream = async <S, Ev extends DomainEvent>(store: EventStore, streamId: string, fold: Fold<S, Ev>): Promise<LoadedStream<S, Ev>> => {
  // The stream's own decider only ever appended its own event types to it.
  const events = (await store.readStream(streamId)).map(decodeRecorded) as Recorded<Ev>[];
  let state = fold.initialState;
  for (const e of events) state = fold.evolve(state, e);
  const last = events[events.length - 1];
  return { state, events, expected: last === undefined ? ExpectedRevision.noStream : last.revision };
};

export interface Execution<S, Ev> {
  readonly store: EventStore;
  readonly streamId: string;
  readonly decider: Fold<S, Ev>;
  readonly meta: CommandMeta;
  readonly clock: () => Timestamp;
  /**
   * The decision, asked again on every attempt with the stream's fresh state; whatever else
   * it needs (another aggregate's state) it loads again itself.
   */
  readonly decide: (state: S, now: Timestamp) => Promise<E.Either<DomainError, Ev[]>>;
  readonly maxAttempts?: number;
}

export interface Outcome<Ev> {
  /** The events as recorded, read back from the store: what a reply is built from. */
  readonly events: readonly Recorded<Ev>[];
  /** True when this commandId had been recorded before: nothing new was appended. */
  readonly duplicate: boolean;
}

export const DEFAULT_MAX_ATTEMPTS = 5;

export const execute = async <S, Ev extends DomainEvent>(x: Execution<S, Ev>): Promise<E.Either<DomainError, Outcome<Ev>>> => {
  const attempts = x.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const loaded = await loadStream(x.store, x.streamId, x.decider);
    const earlier = loaded.events.filter((e) => e.metadata.commandId === x.meta.commandId);
    if (earlier.length > 0) return E.right({ events: earlier, duplicate: true });

    const now = x.clock();
    const decision = await x.decide(loaded.state, now);
    if (E.isLeft(decision)) return decision;
    if (decision.right.length === 0) return E.right({ events: [], duplicate: false });

    const firstRevision = loaded.expected === ExpectedRevision.noStream ? 0 : (loaded.expected as number) + 1;
    const previous = loaded.events[loaded.events.length - 1];
    let prevHash: string | null = previous === undefined ? null : eventHash(previous);
    const toAppend = decision.right.map((event, i) => {
      const metadata: EventMetadata = {
        commandId: x.meta.commandId,
        correlationId: x.meta.correlationId ?? x.meta.commandId,
        causationId: x.meta.causationId ?? x.meta.commandId,
        actor: x.meta.actor,
        occurredAt: now,
        prevHash,
      };
      const revision = firstRevision + i;
      prevHash = eventHash({ streamId: x.streamId, revision, type: event.type, data: event.data, metadata });
      return { id: eventIdFor(x.meta.commandId, x.streamId, i), type: event.type, data: event.data, metadata };
    });

    try {
      await x.store.append(x.streamId, toAppend, loaded.expected);
    } catch (e) {
      if (e instanceof WrongExpectedRevisionError) continue;
      throw e;
    }
    // Read back rather than trust what was decided here: another process handling the same
    // command at the same revision appends the same ids, and the store keeps only the first.
    const ids = new Set(toAppend.map((e) => e.id));
    const recorded = (await x.store.readStream(x.streamId, { fromRevision: firstRevision }))
      .filter((e) => ids.has(e.id))
      .map(decodeRecorded) as Recorded<Ev>[];
    return E.right({ events: recorded, duplicate: false });
  }
  return E.left(conflict(`stream ${x.streamId} kept changing while command ${x.meta.commandId} was decided; nothing was recorded, try again`));
};
