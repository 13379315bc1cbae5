// The gRPC side: Streams.Read and Streams.Append over the log, and ServerFeatures, built
// from the service definitions and message classes @eventstore/db-client ships, so the
// wire format is the client's own. The semantics follow EventStoreDB 23.10.
import { randomUUID } from 'node:crypto';
import {
  status,
  type sendUnaryData,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import featuresGrpc from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
import featuresPb from '@eventstore/db-client/generated/serverfeatures_pb.js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import type { SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb.js';
import type { Empty } from '@eventstore/db-client/generated/shared_pb.js';
import streamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb.js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import type { AppendReq, AppendResp, ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb.js';
import type { EventLog, ExpectedRevision, ProposedEvent, RecordedEvent } from './log.js';

const { ReadReq: ReadReqPb, ReadResp: ReadRespPb, AppendResp: AppendRespPb } = streamsPb;
type Filter = ReadReq.Options.FilterOptions;
type ReadCall = ServerWritableStream<ReadReq, ReadResp>;

const empty = (): Empty => new sharedPb.Empty();
const streamName = (identifier: { getStreamName_asU8(): Uint8Array } | undefined): string =>
  Buffer.from(identifier?.getStreamName_asU8() ?? []).toString('utf8');

// The form the client decodes (its dist/utils/convertGrpcEvent.js): the id as a string (the
// client always asks for that form), `type`, `content-type` and `created` in the metadata map.
const eventMessage = (event: RecordedEvent): ReadResp => {
  const recorded = new ReadRespPb.ReadEvent.RecordedEvent();
  const id = new sharedPb.UUID();
  id.setString(event.id);
  recorded.setId(id);
  recorded.setStreamIdentifier(new sharedPb.StreamIdentifier().setStreamName(Buffer.from(event.streamName, 'utf8')));
  recorded.setStreamRevision(String(event.revision));
  recorded.setCommitPosition(String(event.position));
  recorded.setPreparePosition(String(event.position));
  recorded.getMetadataMap().set('type', event.type).set('content-type', event.contentType).set('created', String(event.created));
  recorded.setData(event.data);
  recorded.setCustomMetadata(event.metadata);
  const read = new ReadRespPb.ReadEvent().setEvent(recorded).setCommitPosition(String(event.position));
  return new ReadRespPb().setEvent(read);
};

const checkpointMessage = (event: RecordedEvent): ReadResp =>
  new ReadRespPb().setCheckpoint(
    new ReadRespPb.Checkpoint().setCommitPosition(String(event.position)).setPreparePosition(String(event.position)),
  );

interface Selection {
  readonly matches: (event: RecordedEvent) => boolean;
  /** Events scanned between two checkpoints of a subscription. */
  readonly checkpointEvery: number;
}

// EventStoreDB matches prefixes, else the regular expression, on the stream name or the
// event type. A subscription's checkpoint interval is the multiplier times the search
// window, which is the read batch of 32 unless the client sets `max`. The server checkpoints
// at the end of a page of reads; here it is at the event that completes the interval.
const selection = (filter: Filter): Selection => {
  const onStream = filter.hasStreamIdentifier();
  const expression = onStream ? filter.getStreamIdentifier() : filter.getEventType();
  const prefixes = expression?.getPrefixList() ?? [];
  const regex = new RegExp(expression?.getRegex() ?? '');
  return {
    matches: (event) => {
      const name = onStream ? event.streamName : event.type;
      return prefixes.length > 0 ? prefixes.some((prefix) => name.startsWith(prefix)) : regex.test(name);
    },
    checkpointEvery: filter.getCheckpointintervalmultiplier() * (filter.hasMax() ? filter.getMax() : 32),
  };
};

const fail = (call: ReadCall, details: string): void => {
  call.emit('error', { code: status.INVALID_ARGUMENT, details });
};

// Catch-up then live, as 23.10 does it: confirmation, the recorded events after the start,
// `caught_up` once they are sent, then each event as it is appended. All of it runs in one
// turn of the event loop, so no append falls between catch-up and live. Writes ignore
// backpressure: a test's log fits in memory.
const subscribe = (
  call: ReadCall,
  { log, live }: Emulated,
  history: readonly RecordedEvent[],
  belongs: (event: RecordedEvent) => boolean,
  filter: Selection | undefined,
): void => {
  call.write(new ReadRespPb().setConfirmation(new ReadRespPb.SubscriptionConfirmation().setSubscriptionId(randomUUID())));
  let scanned = 0;
  const deliver = (event: RecordedEvent): void => {
    if (!belongs(event)) return;
    if (!filter) {
      call.write(eventMessage(event));
      return;
    }
    if (filter.matches(event)) call.write(eventMessage(event));
    if (++scanned >= filter.checkpointEvery) {
      scanned = 0;
      call.write(checkpointMessage(event));
    }
  };
  for (const event of history) deliver(event);
  call.write(new ReadRespPb().setCaughtUp(new ReadRespPb.CaughtUp()));
  const stopListening = log.listen(deliver);
  const stop = (): void => {
    stopListening();
    live.delete(cut);
  };
  // What a server going away does to a subscription: UNAVAILABLE.
  const cut = (): void => {
    stop();
    call.emit('error', { code: status.UNAVAILABLE, details: 'Server shutting down' });
  };
  live.add(cut);
  call.on('cancelled', stop);
  call.on('close', stop);
};

const readStream = (call: ReadCall, emulated: Emulated, options: ReadReq.Options): void => {
  const streamOptions = options.getStream();
  const name = streamName(streamOptions?.getStreamIdentifier());
  const events = emulated.log.stream(name);
  const backwards = options.getReadDirection() === ReadReqPb.Options.ReadDirection.BACKWARDS;
  const revision = streamOptions?.hasRevision() ? Number(streamOptions.getRevision()) : undefined;
  if (options.hasSubscription()) {
    // Exclusive, like subscribeToAll's position: a subscription from revision r starts at r + 1.
    const from = revision !== undefined ? revision + 1 : streamOptions?.hasEnd() ? events.length : 0;
    subscribe(call, emulated, events.slice(from), (event) => event.streamName === name, undefined);
    return;
  }
  if (events.length === 0) {
    call.write(new ReadRespPb().setStreamNotFound(new ReadRespPb.StreamNotFound().setStreamIdentifier(streamOptions?.getStreamIdentifier())));
    call.end();
    return;
  }
  // Both ways the revision read from is included.
  const selected = backwards
    ? events.slice(0, (revision ?? (streamOptions?.hasStart() ? 0 : events.length - 1)) + 1).reverse()
    : events.slice(revision ?? (streamOptions?.hasEnd() ? events.length : 0));
  for (const event of selected.slice(0, Number(options.getCount()))) call.write(eventMessage(event));
  call.end();
};

const readAll = (call: ReadCall, emulated: Emulated, options: ReadReq.Options): void => {
  const { log } = emulated;
  const allOptions = options.getAll();
  const position = allOptions?.getPosition();
  const filter = options.hasFilter() ? selection(options.getFilter() ?? new ReadReqPb.Options.FilterOptions()) : undefined;
  // Index of the first event at or after the position asked for.
  const at = (commit: number): number => {
    const index = log.all.findIndex((event) => event.position >= commit);
    return index === -1 ? log.all.length : index;
  };
  const start = allOptions?.hasStart() ?? false;
  const end = allOptions?.hasEnd() ?? false;
  if (options.hasSubscription()) {
    // subscribeToAll from a position is exclusive: EventStoreDB reads the one event at (or
    // first after) the position and starts after it.
    const from = start ? 0 : end ? log.all.length : at(Number(position?.getCommitPosition())) + 1;
    subscribe(call, emulated, log.all.slice(from), () => true, filter);
    return;
  }
  // A read forwards from a position includes the event at that position; a read backwards
  // from it starts with the event before it. EventStoreDB's readers take a position as the
  // start of a record going forwards and as the end of one going backwards (IAllReader).
  const selected = options.getReadDirection() === ReadReqPb.Options.ReadDirection.BACKWARDS
    ? log.all.slice(0, start ? 0 : end ? log.all.length : at(Number(position?.getCommitPosition()))).reverse()
    : log.all.slice(start ? 0 : end ? log.all.length : at(Number(position?.getCommitPosition())));
  const matching = filter ? selected.filter(filter.matches) : selected;
  for (const event of matching.slice(0, Number(options.getCount()))) call.write(eventMessage(event));
  call.end();
};

const expectedRevision = (options: AppendReq.Options): ExpectedRevision =>
  options.hasRevision() ? Number(options.getRevision())
    : options.hasNoStream() ? 'no_stream'
      : options.hasStreamExists() ? 'stream_exists'
        : 'any';

const proposed = (message: AppendReq.ProposedMessage): ProposedEvent => {
  const metadata = message.getMetadataMap();
  return {
    id: (message.getId()?.getString() ?? '').toLowerCase(),
    type: metadata.get('type') ?? '',
    contentType: metadata.get('content-type') ?? 'application/octet-stream',
    data: message.getData_asU8(),
    metadata: message.getCustomMetadata_asU8(),
  };
};

// A wrong expected version is an ordinary response from current servers (older ones sent
// an error status; the client takes both).
const appendResponse = (log: EventLog, options: AppendReq.Options, events: readonly ProposedEvent[]): AppendResp => {
  const expected = expectedRevision(options);
  const outcome = log.append(streamName(options.getStreamIdentifier()), expected, events);
  if (outcome.ok) {
    const success = new AppendRespPb.Success();
    if (outcome.revision < 0) success.setNoStream(empty());
    else success.setCurrentRevision(String(outcome.revision));
    if (outcome.position === undefined) success.setNoPosition(empty());
    else success.setPosition(new AppendRespPb.Position().setCommitPosition(String(outcome.position)).setPreparePosition(String(outcome.position)));
    return new AppendRespPb().setSuccess(success);
  }
  const wrong = new AppendRespPb.WrongExpectedVersion();
  if (outcome.current < 0) wrong.setCurrentNoStream(empty());
  else wrong.setCurrentRevision(String(outcome.current));
  if (expected === 'any') wrong.setExpectedAny(empty());
  else if (expected === 'no_stream') wrong.setExpectedNoStream(empty());
  else if (expected === 'stream_exists') wrong.setExpectedStreamExists(empty());
  else wrong.setExpectedRevision(String(expected));
  return new AppendRespPb().setWrongExpectedVersion(wrong);
};

export const streamsService = streamsGrpc.StreamsService;

/** What one gRPC server works on: the log, which outlives it, and how to cut its live subscriptions. */
export interface Emulated {
  readonly log: EventLog;
  readonly live: Set<() => void>;
}

/** Read and Append; Delete, Tombstone and BatchAppend are left to grpc-js's UNIMPLEMENTED. */
export const streamsImplementation = (emulated: Emulated): UntypedServiceImplementation => ({
  read: (call: ReadCall) => {
    const options = call.request.getOptions();
    if (options?.hasStream()) readStream(call, emulated, options);
    else if (options?.hasAll()) readAll(call, emulated, options);
    else fail(call, 'a read names a stream or $all');
  },
  append: (call: ServerReadableStream<AppendReq, AppendResp>, callback: sendUnaryData<AppendResp>) => {
    let options: AppendReq.Options | undefined;
    const events: ProposedEvent[] = [];
    call.on('data', (request: AppendReq) => {
      const message = request.getProposedMessage();
      if (request.hasOptions()) options = request.getOptions();
      else if (message) events.push(proposed(message));
    });
    call.on('end', () => {
      if (options) callback(null, appendResponse(emulated.log, options, events));
      else callback({ code: status.INVALID_ARGUMENT, details: 'an append starts with its options' });
    });
  },
});

export const cutSubscriptions = ({ live }: Emulated): void => {
  for (const cut of [...live]) cut();
};

export const featuresService = featuresGrpc.ServerFeaturesService;

// The client asks this once per connection (on its first append) and uses BatchAppend
// only if it is listed; without it, Append. Listing Append alone keeps the client on the
// one append call the emulator implements.
export const featuresImplementation: UntypedServiceImplementation = {
  getSupportedMethods: (_call: ServerUnaryCall<Empty, SupportedMethods>, callback: sendUnaryData<SupportedMethods>) => {
    const methods = new featuresPb.SupportedMethods().setEventStoreServerVersion('23.10.0');
    for (const method of ['read', 'append']) {
      methods.addMethods(new featuresPb.SupportedMethod().setServiceName('event_store.client.streams.streams').setMethodName(method));
    }
    callback(null, methods);
  },
};
