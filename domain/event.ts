import type * as t from 'io-ts';
import { literal, nullable, struct, timestamp, text, type Codec } from './codec.js';
import { RecordedActor, type Actor } from './actor.js';
import { CommandId } from './ids.js';
import { Sha256Hex } from './secret.js';
import type { Timestamp } from './time.js';

type Props = Record<string, t.Mixed>;

/** An event codec: `{ type, data }` with exactly the given data fields. */
export const eventCodec = <T extends string, P extends Props>(type: T, data: P) =>
  struct(type, { type: literal(type), data: struct(`${type}.data`, data) });

/** What the command handling records beside every event (DESIGN.md, "Domain"). */
export interface EventMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly actor: Actor;
  readonly occurredAt: Timestamp;
  /** SHA-256 over the previous event of the stream and this event's canonical JSON; null on the first. */
  readonly prevHash: string | null;
}

export const EventMetadata: Codec<EventMetadata> = struct('EventMetadata', {
  commandId: CommandId,
  correlationId: text('CorrelationId', 1, 128),
  causationId: text('CausationId', 1, 128),
  actor: RecordedActor,
  occurredAt: timestamp,
  prevHash: nullable(Sha256Hex),
});

/**
 * An event as the store hands it back. `position` is the store's opaque global order; only
 * the store compares positions, everything else passes them on.
 */
export type Recorded<E> = E & {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number;
  readonly position: string;
  readonly metadata: EventMetadata;
};
