// The emulator's memory: one ordered log ($all), indexed by stream, with EventStoreDB's
// append rules. It outlives the gRPC server, so a stopped and restarted emulator keeps its data.
import { randomUUID } from 'node:crypto';

export interface ProposedEvent {
  /** Lower case, so ids compare as the server's Guids do. */
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
}

export interface RecordedEvent extends ProposedEvent {
  readonly streamName: string;
  readonly revision: number;
  /** Commit and prepare position at once: on a single node they may be equal. */
  readonly position: number;
  /** In .NET ticks (100 ns) since the Unix epoch, as the server sends `created`. */
  readonly created: bigint;
}

export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export type AppendOutcome =
  /** revision -1: the stream still has no event; position undefined: nothing was written. */
  | { readonly ok: true; readonly revision: number; readonly position: number | undefined }
  /** current -1: no stream. */
  | { readonly ok: false; readonly current: number };

const encoder = new TextEncoder();
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

// What a fresh server has in $all before any client writes, so readers of $all meet
// system streams and event types (names starting with `$`) and must filter them.
const SYSTEM_EVENTS: readonly (readonly [stream: string, type: string, data: unknown])[] = [
  ['$$$scavenges', '$metadata', { $maxAge: 2_592_000 }],
  ['$user-admin', '$user', { loginName: 'admin', fullName: 'Event Store Administrator' }],
  ['$users', '$UserCreated', 'admin'],
];

export class EventLog {
  readonly all: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();
  private readonly listeners = new Set<(event: RecordedEvent) => void>();
  // A running byte offset, like a transaction file: strictly increasing and with gaps.
  private end = 0;

  constructor() {
    for (const [stream, type, data] of SYSTEM_EVENTS) {
      this.write(stream, [{ id: randomUUID(), type, contentType: 'application/json', data: json(data), metadata: new Uint8Array() }]);
    }
  }

  stream(name: string): readonly RecordedEvent[] {
    return this.streams.get(name) ?? [];
  }

  /** Called with each event as it is recorded; returns the unsubscribe. */
  listen(listener: (event: RecordedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  append(streamName: string, expected: ExpectedRevision, events: readonly ProposedEvent[]): AppendOutcome {
    const stream = this.stream(streamName);
    const current = stream.length - 1;
    const decision = decide(stream, expected, events.map((event) => event.id));
    if (decision === 'wrong') return { ok: false, current };
    // The same write again: acknowledged with what the first one recorded, nothing added.
    if (decision !== 'write') return { ok: true, revision: decision.revision, position: decision.position };
    const last = this.write(streamName, events);
    return { ok: true, revision: last?.revision ?? current, position: last?.position };
  }

  private write(streamName: string, events: readonly ProposedEvent[]): RecordedEvent | undefined {
    let stream = this.streams.get(streamName);
    if (!stream) this.streams.set(streamName, (stream = []));
    const created = BigInt(Date.now()) * 10_000n;
    const recorded = events.map((event) => {
      const record: RecordedEvent = { ...event, streamName, revision: stream.length, position: this.end, created };
      this.end += 64 + streamName.length + event.type.length + event.data.length + event.metadata.length;
      stream.push(record);
      this.all.push(record);
      return record;
    });
    for (const record of recorded) for (const listener of this.listeners) listener(record);
    return recorded.at(-1);
  }
}

// EventStoreDB's rules (its documentation, "Optimistic concurrency and idempotence"): with
// an expected revision behind the stream, the write is the same one again if its ids are
// the events right after that revision, all of them; with any (or stream_exists), if all
// its ids are in the stream. Ids found only in part are a wrong expected version.
const decide = (stream: readonly RecordedEvent[], expected: ExpectedRevision, ids: readonly string[]): 'write' | 'wrong' | RecordedEvent => {
  const current = stream.length - 1;
  if (expected === 'stream_exists' && current < 0) return 'wrong';
  if (expected === 'any' || expected === 'stream_exists') {
    const found = ids.map((id) => stream.find((event) => event.id === id));
    if (found[0] === undefined) return 'write';
    const last = found.at(-1);
    return found.every((event) => event !== undefined) && last ? last : 'wrong';
  }
  const after = expected === 'no_stream' ? -1 : expected;
  if (after === current) return 'write';
  if (after > current) return 'wrong';
  const same = ids.every((id, i) => stream[after + 1 + i]?.id === id);
  const last = stream[after + ids.length];
  return same && ids.length > 0 && last ? last : 'wrong';
};
