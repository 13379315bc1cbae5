// The emulator stands in for EventStoreDB wherever the adapter is tested, so it is held to
// what EventStoreDB documents, through the official client: if it were more lenient than
// the server (or stricter), the adapter's tests would pass on behaviour production lacks.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type Filter,
  type Position,
  type ReadPosition,
  type ReadableSubscription,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startEsdbEmulator, type EsdbEmulator } from '../support/esdb-emulator/index.js';

const emulators: EsdbEmulator[] = [];
const clients: EventStoreDBClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
  await Promise.all(emulators.splice(0).map((emulator) => emulator.dispose()));
});

const connect = (emulator: EsdbEmulator): EventStoreDBClient => {
  const client = EventStoreDBClient.connectionString(emulator.url);
  clients.push(client);
  return client;
};

const setUp = async (): Promise<{ emulator: EsdbEmulator; client: EventStoreDBClient }> => {
  const emulator = await startEsdbEmulator();
  emulators.push(emulator);
  return { emulator, client: connect(emulator) };
};

const happened = (n: number, id: string = randomUUID(), type = 'Happened') => jsonEvent({ id, type, data: { n } });

const append = (client: EventStoreDBClient, stream: string, expectedRevision: AppendExpectedRevision, ...events: ReturnType<typeof happened>[]) =>
  client.appendToStream(stream, events, { expectedRevision });

const refusal = async (attempt: Promise<unknown>): Promise<unknown> => {
  try {
    await attempt;
  } catch (error) {
    return error;
  }
  throw new Error('the server accepted it');
};

const collect = async <E>(read: AsyncIterable<E>): Promise<E[]> => {
  const events: E[] = [];
  for await (const event of read) events.push(event);
  return events;
};

const readStream = async (client: EventStoreDBClient, stream: string, options?: Parameters<EventStoreDBClient['readStream']>[1]) =>
  (await collect(client.readStream(stream, options))).map((resolved) => resolved.event);

const readAll = async (client: EventStoreDBClient, options?: Parameters<EventStoreDBClient['readAll']>[0]) =>
  (await collect(client.readAll(options))).flatMap((resolved) => (resolved.event ? [resolved.event] : []));

const until = async (condition: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
};

type Seen =
  | { readonly kind: 'event'; readonly streamId: string; readonly revision: bigint }
  | { readonly kind: 'caughtUp' }
  | { readonly kind: 'checkpoint'; readonly commit: bigint }
  | { readonly kind: 'error'; readonly error: Error };

/** What a subscriber sees, in order; checkpoints come through the filter's callback. */
const watch = (subscribe: (checkpoint: (position: Position) => void) => ReadableSubscription<AllStreamResolvedEvent | ResolvedEvent>) => {
  const seen: Seen[] = [];
  const subscription = subscribe((position) => { seen.push({ kind: 'checkpoint', commit: position.commit }); });
  subscription
    .on('data', ({ event }) => {
      if (event) seen.push({ kind: 'event', streamId: event.streamId, revision: event.revision });
    })
    .on('caughtUp', () => { seen.push({ kind: 'caughtUp' }); })
    .on('error', (error) => { seen.push({ kind: 'error', error }); });
  const events = () => seen.flatMap((entry) => (entry.kind === 'event' ? [entry] : []));
  const caughtUp = () => seen.some((entry) => entry.kind === 'caughtUp');
  return { seen, events, caughtUp };
};

const subscribeToAll = (client: EventStoreDBClient, fromPosition: ReadPosition, filter?: (checkpointReached: (_: unknown, position: Position) => void) => Filter) =>
  watch((checkpoint) => client.subscribeToAll({ fromPosition, ...(filter && { filter: filter((_, position) => { checkpoint(position); }) }) }));

describe('the EventStoreDB emulator, through @eventstore/db-client', () => {
  it('refuses each kind of expected revision as EventStoreDB does, naming the actual revision, and records nothing then', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    const refused = async (expectedRevision: AppendExpectedRevision, actualVersion: bigint | 'no_stream') => {
      const error = await refusal(append(client, stream, expectedRevision, happened(9)));
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect(error).toMatchObject({ streamName: stream, expectedVersion: expectedRevision, actualVersion });
    };

    await refused('stream_exists', 'no_stream');
    await refused(0n, 'no_stream');
    expect(await append(client, stream, 'no_stream', happened(0))).toMatchObject({ success: true, nextExpectedRevision: 0n });
    expect(await append(client, stream, 0n, happened(1), happened(2))).toMatchObject({ success: true, nextExpectedRevision: 2n });
    await refused('no_stream', 2n);
    await refused(1n, 2n);
    await refused(3n, 2n);
    expect(await append(client, stream, 'stream_exists', happened(3))).toMatchObject({ success: true, nextExpectedRevision: 3n });
    expect(await append(client, stream, 'any', happened(4))).toMatchObject({ success: true, nextExpectedRevision: 4n });
    expect((await readStream(client, stream)).map((event) => event?.data)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
  });

  it('acknowledges the same append again (same ids, same place) without recording it twice', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const first = await append(client, stream, 'no_stream', happened(0, a), happened(1, b));

    expect(await append(client, stream, 'no_stream', happened(0, a), happened(1, b))).toEqual(first);
    expect(await append(client, stream, 1n, happened(2, c))).toMatchObject({ nextExpectedRevision: 2n });
    expect(await append(client, stream, 1n, happened(2, c))).toMatchObject({ success: true, nextExpectedRevision: 2n });
    expect(await append(client, stream, 0n, happened(1, b))).toMatchObject({ success: true, nextExpectedRevision: 1n });
    expect(await append(client, stream, 'any', happened(0, a), happened(1, b))).toEqual(first);
    expect(await append(client, stream, 'stream_exists', happened(2, c))).toMatchObject({ success: true, nextExpectedRevision: 2n });

    expect((await readStream(client, stream)).map((event) => event?.id)).toEqual([a, b, c]);
    expect((await readAll(client)).filter((event) => event.streamId === stream)).toHaveLength(3);
  });

  it('refuses a re-append whose ids match the recorded ones only in part', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    const [a, b] = [randomUUID(), randomUUID()];
    await append(client, stream, 'no_stream', happened(0, a), happened(1, b));

    for (const [expected, events] of [
      ['no_stream', [happened(0, a), happened(9)]],
      [0n, [happened(1, b), happened(9)]],
      ['any', [happened(0, a), happened(9)]],
    ] as const) {
      const error = await refusal(append(client, stream, expected, ...events));
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect(error).toMatchObject({ actualVersion: 1n });
    }
    expect((await readStream(client, stream)).map((event) => event?.id)).toEqual([a, b]);
  });

  it('reads a stream forwards and backwards, from a revision, with a count; a missing stream is StreamNotFoundError', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    await append(client, stream, 'no_stream', ...[0, 1, 2, 3, 4].map((n) => happened(n)));
    const revisions = async (options?: Parameters<EventStoreDBClient['readStream']>[1]) =>
      (await readStream(client, stream, options)).map((event) => event?.revision);

    expect(await revisions()).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(await revisions({ fromRevision: 2n, maxCount: 2 })).toEqual([2n, 3n]);
    expect(await revisions({ fromRevision: END })).toEqual([]);
    expect(await revisions({ direction: BACKWARDS, fromRevision: END })).toEqual([4n, 3n, 2n, 1n, 0n]);
    expect(await revisions({ direction: BACKWARDS, fromRevision: 2n })).toEqual([2n, 1n, 0n]);
    expect(await revisions({ direction: BACKWARDS, fromRevision: END, maxCount: 1 })).toEqual([4n]);
    await expect(readStream(client, `missing-${randomUUID()}`)).rejects.toBeInstanceOf(StreamNotFoundError);
    await expect(readStream(client, `missing-${randomUUID()}`, { direction: BACKWARDS, fromRevision: END })).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('orders $all across streams with strictly increasing positions, after system events, and reads it backwards', async () => {
    const { client } = await setUp();
    const [one, two] = [`account-${randomUUID()}`, `order-${randomUUID()}`];
    await append(client, one, 'any', happened(0));
    await append(client, two, 'any', happened(1));
    await append(client, two, 'any', happened(2), happened(3));
    const last = await append(client, one, 'any', happened(4));

    const all = await readAll(client);
    const commits = all.map((event) => event.position.commit);
    expect(commits.every((commit, i) => i === 0 || commit > (commits[i - 1] ?? commit))).toBe(true);
    const firstOfOurs = all.findIndex((event) => !event.streamId.startsWith('$'));
    expect(firstOfOurs).toBeGreaterThan(0);
    expect(all.slice(0, firstOfOurs).every((event) => event.streamId.startsWith('$') && event.type.startsWith('$'))).toBe(true);
    expect(all.slice(firstOfOurs).map((event) => [event.streamId, event.data])).toEqual(
      [[one, { n: 0 }], [two, { n: 1 }], [two, { n: 2 }], [two, { n: 3 }], [one, { n: 4 }]],
    );
    expect(all.at(-1)?.position).toEqual(last.position);

    expect(await readAll(client, { direction: BACKWARDS, fromPosition: END })).toEqual([...all].reverse());
    expect(await readAll(client, { direction: BACKWARDS, fromPosition: END, maxCount: 2 })).toEqual(all.slice(-2).reverse());
    expect(await readAll(client, { maxCount: 2 })).toEqual(all.slice(0, 2));
  });

  it('reads $all from a position as EventStoreDB does: forwards includes the event there, backwards starts before it', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    await append(client, stream, 'no_stream', happened(0), happened(1), happened(2));
    const [, second] = await readStream(client, stream);
    const at = second?.position ?? { commit: 0n, prepare: 0n };

    expect((await readAll(client, { fromPosition: at })).map((event) => event.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect((await readAll(client, { fromPosition: at, direction: BACKWARDS, maxCount: 1 })).map((event) => event.data)).toEqual([{ n: 0 }]);
  });

  it('subscribes to $all: catch-up, caughtUp once at the end of it, then live events; system events included', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    await append(client, stream, 'no_stream', happened(0), happened(1));
    const subscription = subscribeToAll(client, 'start');
    await until(subscription.caughtUp, 'caughtUp');
    await append(client, stream, 1n, happened(2));
    await until(() => subscription.events().length === 6, 'the live event');
    await sleep(50);

    expect(subscription.seen.map((entry) => (entry.kind === 'event' ? entry.streamId.startsWith('$') ? '$' : entry.revision : entry.kind)))
      .toEqual(['$', '$', '$', 0n, 1n, 'caughtUp', 2n]);
  });

  it('starts a subscription to $all after the position given, and one to a stream after the revision given', async () => {
    const { client } = await setUp();
    const stream = `order-${randomUUID()}`;
    const first = await append(client, stream, 'no_stream', happened(0));
    await append(client, stream, 0n, happened(1), happened(2));
    const all = subscribeToAll(client, first.position ?? 'start');
    const fromRevision = watch(() => client.subscribeToStream(stream, { fromRevision: 0n }));
    const fromStart = watch(() => client.subscribeToStream(stream));
    const fromEnd = watch(() => client.subscribeToStream(stream, { fromRevision: END }));
    await until(() => [all, fromRevision, fromStart, fromEnd].every((subscription) => subscription.caughtUp()), 'caughtUp');
    await append(client, stream, 2n, happened(3));
    await until(() => fromEnd.events().length === 1 && all.events().length === 3, 'the live event');

    const revisions = (subscription: ReturnType<typeof watch>) => subscription.events().map((event) => event.revision);
    expect(revisions(all)).toEqual([1n, 2n, 3n]);
    expect(revisions(fromRevision)).toEqual([1n, 2n, 3n]);
    expect(revisions(fromStart)).toEqual([0n, 1n, 2n, 3n]);
    expect(revisions(fromEnd)).toEqual([3n]);
  });

  it('filters a subscription to $all on stream prefix, event type or regex, which leaves system events out', async () => {
    const { client } = await setUp();
    const [account, order] = [`account-${randomUUID()}`, `order-${randomUUID()}`];
    await append(client, account, 'any', happened(0, randomUUID(), 'Opened'));
    await append(client, order, 'any', happened(1, randomUUID(), 'Placed'));
    const byPrefix = subscribeToAll(client, 'start', (checkpointReached) => streamNameFilter({ prefixes: ['account-', 'nothing-'], checkpointReached }));
    const byRegex = subscribeToAll(client, 'start', (checkpointReached) => streamNameFilter({ regex: '^order-', checkpointReached }));
    const byType = subscribeToAll(client, 'start', (checkpointReached) => eventTypeFilter({ prefixes: ['Placed'], checkpointReached }));
    const noSystem = subscribeToAll(client, 'start', (checkpointReached) => excludeSystemEvents({ checkpointReached }));
    const subscriptions = [byPrefix, byRegex, byType, noSystem];
    await until(() => subscriptions.every((subscription) => subscription.caughtUp()), 'caughtUp');
    await append(client, account, 'any', happened(2, randomUUID(), 'Closed'));
    await until(() => byPrefix.events().length === 2 && noSystem.events().length === 3, 'the live event');

    const streams = (subscription: ReturnType<typeof watch>) => subscription.events().map((event) => event.streamId);
    expect(streams(byPrefix)).toEqual([account, account]);
    expect(streams(byRegex)).toEqual([order]);
    expect(streams(byType)).toEqual([order]);
    expect(streams(noSystem)).toEqual([account, order, account]);
  });

  it('sends checkpoints when filtering, every checkpointInterval × search window events scanned, matching or not', async () => {
    const { client } = await setUp();
    for (let n = 0; n < 40; n++) await append(client, `order-${randomUUID()}`, 'no_stream', happened(n));
    const everySixth = subscribeToAll(client, 'start', (checkpointReached) =>
      streamNameFilter({ prefixes: ['nothing-'], maxSearchWindow: 2, checkpointInterval: 3, checkpointReached }));
    // Without maxSearchWindow the window is EventStoreDB's read batch, 32 events.
    const defaultWindow = subscribeToAll(client, 'start', (checkpointReached) =>
      streamNameFilter({ prefixes: ['nothing-'], checkpointReached }));
    await until(() => everySixth.caughtUp() && defaultWindow.caughtUp(), 'caughtUp');
    // 43 events so far (3 of them the system's), 48 with these: the eighth checkpoint is live.
    await append(client, 'order-live', 'no_stream', ...[40, 41, 42, 43, 44].map((n) => happened(n)));
    const all = (await readAll(client)).map((event) => event.position.commit);
    const checkpoints = (subscription: ReturnType<typeof watch>) =>
      subscription.seen.flatMap((entry) => (entry.kind === 'checkpoint' ? [entry.commit] : []));
    await until(() => checkpoints(everySixth).length === 8, 'the live checkpoint');

    expect(all).toHaveLength(48);
    expect(checkpoints(everySixth)).toEqual(all.filter((_, i) => (i + 1) % 6 === 0));
    expect(checkpoints(defaultWindow)).toEqual([all[31]]);
    expect(everySixth.events()).toEqual([]);
  });

  it('keeps its data over a stop and a start on the same port; a stop ends live subscriptions with an error', async () => {
    const { emulator, client } = await setUp();
    const stream = `order-${randomUUID()}`;
    await append(client, stream, 'no_stream', happened(0), happened(1));
    const before = await readAll(client);
    const live = watch(() => client.subscribeToStream(stream, { fromRevision: END }));
    await until(live.caughtUp, 'caughtUp');

    await emulator.stop();
    await until(() => live.seen.some((entry) => entry.kind === 'error'), 'the subscription to fail');
    expect(live.seen.find((entry) => entry.kind === 'error')).toMatchObject({ error: expect.any(UnavailableError) as unknown });
    await expect(readStream(client, stream)).rejects.toThrow();
    await expect(append(client, stream, 1n, happened(2))).rejects.toThrow();

    await emulator.start();
    expect(await readAll(client)).toEqual(before);
    const after = await append(client, stream, 1n, happened(2));
    expect(after.nextExpectedRevision).toBe(2n);
    expect(after.position?.commit).toBeGreaterThan(before.at(-1)?.position.commit ?? 0n);
    const again = watch(() => client.subscribeToStream(stream));
    await until(again.caughtUp, 'caughtUp after the restart');
    expect(again.events().map((event) => event.revision)).toEqual([0n, 1n, 2n]);
  });

  it('serves again at once after a stop, and on the port it is asked for', async () => {
    const { emulator } = await setUp();
    const { port } = emulator;
    await emulator.dispose();
    const again = await startEsdbEmulator({ port });
    emulators.push(again);
    expect(again.url).toBe(`esdb://127.0.0.1:${port}?tls=false`);
    const client = connect(again);
    for (let n = 0; n < 3; n++) {
      await again.stop();
      await again.start();
      expect(await append(client, 'order-1', 'any', happened(n))).toMatchObject({ nextExpectedRevision: BigInt(n) });
    }
    await again.dispose();
    await expect(again.start()).rejects.toThrow(/disposed/);
  });
});
