// The event store contract: what every adapter must do, EventStoreDB's semantics. Each
// adapter's spec calls `eventStoreContract` with a factory for fresh, empty stores.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError, WrongExpectedRevisionError } from '../../src/store/errors.js';
import { ExpectedRevision, type EventStore, type EventToAppend, type StoredEvent } from '../../src/store/types.js';

export interface StoreUnderTest {
  readonly store: EventStore;
  /** Closes the store and frees what it used (files, servers). */
  dispose(): Promise<void>;
}

const event = (type = 'Tested', data: unknown = { n: 1 }, metadata: unknown = { by: 'contract' }): EventToAppend => ({ id: randomUUID(), type, data, metadata });
const events = (n: number, type = 'Tested'): EventToAppend[] => Array.from({ length: n }, (_, i) => event(type, { i }));

const collect = async (iterable: AsyncIterable<StoredEvent>): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
};

/** Reads `count` events from a subscription, then closes it. */
const take = async (sub: { close(): Promise<void> } & AsyncIterable<StoredEvent>, count: number): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = [];
  if (count === 0) return out;
  for await (const e of sub) {
    out.push(e);
    if (out.length === count) break;
  }
  await sub.close();
  return out;
};

const wrongRevision = async (p: Promise<unknown>): Promise<WrongExpectedRevisionError> => {
  const error: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  return error as WrongExpectedRevisionError;
};

export const eventStoreContract = (name: string, factory: () => Promise<StoreUnderTest>): void => {
  describe(`event store contract: ${name}`, () => {
    let current: StoreUnderTest | undefined;
    const fresh = async (): Promise<EventStore> => {
      current = await factory();
      return current.store;
    };
    afterEach(async () => {
      await current?.dispose();
      current = undefined;
    });

    describe('an empty store', () => {
      it('reads nothing, from a stream or from everything', async () => {
        const store = await fresh();
        expect(await store.readStream('grant-x:y')).toEqual([]);
        expect(await collect(store.readAll())).toEqual([]);
        expect(await store.lastPosition()).toBeUndefined();
      });
    });

    describe('appending', () => {
      it('numbers a new stream from revision 0 and keeps what was appended', async () => {
        const store = await fresh();
        const batch = events(3);
        const result = await store.append('grant-a:b', batch, ExpectedRevision.noStream);
        expect(result.nextExpectedRevision).toBe(2);
        const read = await store.readStream('grant-a:b');
        expect(read.map((e) => [e.id, e.revision, e.type, e.data, e.metadata, e.streamId])).toEqual(
          batch.map((e, i) => [e.id, i, e.type, e.data, e.metadata, 'grant-a:b']),
        );
        expect(read[2]?.position).toBe(result.position);
        expect((await store.readStream('grant-a:b', { fromRevision: 1 })).map((e) => e.id)).toEqual([batch[1]?.id, batch[2]?.id]);
        expect(await store.readStream('grant-a:b', { fromRevision: 3 })).toEqual([]);
      });

      it('no_stream: refused once the stream exists, reporting its revision, recording nothing', async () => {
        const store = await fresh();
        await store.append('s-1', events(2), ExpectedRevision.noStream);
        const error = await wrongRevision(store.append('s-1', events(1), ExpectedRevision.noStream));
        expect([error.streamId, error.expected, error.actual]).toEqual(['s-1', 'no_stream', 1]);
        expect(await store.readStream('s-1')).toHaveLength(2);
      });

      it('stream_exists: refused for a missing stream, accepted for an existing one', async () => {
        const store = await fresh();
        const error = await wrongRevision(store.append('s-1', events(1), ExpectedRevision.streamExists));
        expect(error.actual).toBe('no_stream');
        expect(await store.readStream('s-1')).toEqual([]);
        await store.append('s-1', events(1), ExpectedRevision.noStream);
        expect((await store.append('s-1', events(1), ExpectedRevision.streamExists)).nextExpectedRevision).toBe(1);
      });

      it('any: accepted whether or not the stream exists', async () => {
        const store = await fresh();
        expect((await store.append('s-1', events(1), ExpectedRevision.any)).nextExpectedRevision).toBe(0);
        expect((await store.append('s-1', events(2), ExpectedRevision.any)).nextExpectedRevision).toBe(2);
      });

      it('an exact revision: accepted when it is the last one, refused when stale, ahead or for a missing stream', async () => {
        const store = await fresh();
        await wrongRevision(store.append('s-1', events(1), 0)).then((e) => { expect(e.actual).toBe('no_stream'); });
        await store.append('s-1', events(2), ExpectedRevision.noStream);
        expect((await store.append('s-1', events(1), 1)).nextExpectedRevision).toBe(2);
        await wrongRevision(store.append('s-1', events(1), 1)).then((e) => { expect([e.expected, e.actual]).toEqual([1, 2]); });
        await wrongRevision(store.append('s-1', events(1), 5)).then((e) => { expect(e.actual).toBe(2); });
        expect(await store.readStream('s-1')).toHaveLength(3);
      });

      it('the same event ids again at the same place succeed and record nothing (a retried append)', async () => {
        const store = await fresh();
        await store.append('s-1', events(1), ExpectedRevision.noStream);
        const batch = events(2);
        const first = await store.append('s-1', batch, 0);
        expect(await store.append('s-1', batch, 0)).toEqual(first);
        expect(await store.append('s-1', batch, ExpectedRevision.any)).toEqual(first);
        expect(await store.append('s-1', batch, ExpectedRevision.streamExists)).toEqual(first);
        const fromStart = events(1);
        const r = await store.append('s-2', fromStart, ExpectedRevision.noStream);
        expect(await store.append('s-2', fromStart, ExpectedRevision.noStream)).toEqual(r);
        expect((await store.readStream('s-1')).map((e) => e.revision)).toEqual([0, 1, 2]);
        expect(await collect(store.readAll())).toHaveLength(4);
      });

      it('ids that match only in part are a wrong revision, not a retry', async () => {
        const store = await fresh();
        const batch = events(2);
        await store.append('s-1', batch, ExpectedRevision.noStream);
        const first = batch[0] as EventToAppend;
        await wrongRevision(store.append('s-1', [first, event()], ExpectedRevision.noStream));
        expect(await store.readStream('s-1')).toHaveLength(2);
      });

      it('of many writers racing on one stream with the same expected revision, exactly one wins', async () => {
        const store = await fresh();
        await store.append('s-1', events(1), ExpectedRevision.noStream);
        const results = await Promise.allSettled(Array.from({ length: 32 }, () => store.append('s-1', events(2), 0)));
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WrongExpectedRevisionError);
        expect((await store.readStream('s-1')).map((e) => e.revision)).toEqual([0, 1, 2]);
      });

      it('concurrent appends to many streams: positions strictly increase, revisions have no gaps', async () => {
        const store = await fresh();
        const streams = Array.from({ length: 16 }, (_, i) => `grant-i:u${i}`);
        await Promise.all(
          streams.map(async (s) => {
            for (let r = 0; r < 10; r++) await store.append(s, events(r % 3 + 1), r === 0 ? ExpectedRevision.noStream : ExpectedRevision.streamExists);
          }),
        );
        const all = await collect(store.readAll());
        expect(all).toHaveLength(16 * 19);
        expect(new Set(all.map((e) => e.position)).size).toBe(all.length);
        // Positions are opaque: their order shows in what reading after one returns, and in
        // the store's own comparison.
        for (let i = 1; i < all.length; i++) expect(store.comparePositions(all[i]?.position ?? '', all[i - 1]?.position ?? '')).toBeGreaterThan(0);
        expect(store.comparePositions(all[3]?.position ?? '', all[3]?.position ?? '')).toBe(0);
        for (const i of [0, 1, 57, 150, all.length - 2]) {
          expect((await collect(store.readAll({ after: all[i]?.position }))).map((e) => e.id)).toEqual(all.slice(i + 1).map((e) => e.id));
        }
        for (const s of streams) {
          const revisions = all.filter((e) => e.streamId === s).map((e) => e.revision);
          expect(revisions).toEqual(revisions.map((_, i) => i));
        }
      });

      it('keeps very large events, unicode and nested data exactly', async () => {
        const store = await fresh();
        const big = { blob: 'x'.repeat(2_000_000), note: 'Grüße, 世界, مرحبا, 👩‍💻, \u0000 nul, "quotes", \\ backslash' };
        const nested = { a: [1, 2.5, -3e-7, null, true, { b: ['ç', { c: {} }] }], big: Number.MAX_SAFE_INTEGER };
        await store.append('s-ü', [event('Big', big), event('Nested', nested, { emoji: '🔑' })], ExpectedRevision.noStream);
        const [a, b] = await store.readStream('s-ü');
        expect(a?.data).toEqual(big);
        expect(b?.data).toEqual(nested);
        expect(b?.metadata).toEqual({ emoji: '🔑' });
      });

      it('a stream of 10,000 events reads back whole and in order', async () => {
        const store = await fresh();
        for (let i = 0; i < 10; i++) await store.append('long-1', events(1000), i === 0 ? ExpectedRevision.noStream : i * 1000 - 1);
        const read = await store.readStream('long-1');
        expect(read).toHaveLength(10_000);
        expect(read.every((e, i) => e.revision === i && (e.data as { i: number }).i === i % 1000)).toBe(true);
      });
    });

    describe('reading everything', () => {
      it('after a position, and only the categories asked for', async () => {
        const store = await fresh();
        await store.append('grant-a:b', events(2), ExpectedRevision.noStream);
        const mid = await store.append('proxy-a', events(1), ExpectedRevision.noStream);
        await store.append('ticket-t', events(1), ExpectedRevision.noStream);
        await store.append('grant-a:c', events(1), ExpectedRevision.noStream);
        expect((await collect(store.readAll({ after: mid.position }))).map((e) => e.streamId)).toEqual(['ticket-t', 'grant-a:c']);
        expect((await collect(store.readAll({ categories: ['grant', 'proxy'] }))).map((e) => e.streamId)).toEqual([
          'grant-a:b',
          'grant-a:b',
          'proxy-a',
          'grant-a:c',
        ]);
        expect(await collect(store.readAll({ categories: ['grant'], after: mid.position }))).toHaveLength(1);
      });

      it('the last position is that of the last event recorded, whatever its stream', async () => {
        const store = await fresh();
        const first = await store.append('grant-a:b', events(3), ExpectedRevision.noStream);
        expect(await store.lastPosition()).toBe(first.position);
        const second = await store.append('proxy-a', events(1), ExpectedRevision.noStream);
        expect(await store.lastPosition()).toBe(second.position);
        const all = await collect(store.readAll());
        expect(all[all.length - 1]?.position).toBe(second.position);
        const again = await store.append('grant-a:b', events(1), 2);
        const last = await store.lastPosition();
        expect(last).toBe(again.position);
        expect(store.comparePositions(last ?? '', second.position)).toBeGreaterThan(0);
      });

      it('only the types asked for, with or without categories, from reads and subscriptions alike', async () => {
        const store = await fresh();
        await store.append('grant-a:b', [event('Kept', { n: 1 }), event('Skipped', { n: 2 }), event('Kept', { n: 3 })], ExpectedRevision.noStream);
        await store.append('proxy-a', [event('Kept', { n: 4 })], ExpectedRevision.noStream);
        await store.append('grant-a:c', [event('Other', { n: 5 }), event('Kept', { n: 6 })], ExpectedRevision.noStream);
        const ns = (es: StoredEvent[]) => es.map((e) => (e.data as { n: number }).n);
        expect(ns(await collect(store.readAll({ types: ['Kept'] })))).toEqual([1, 3, 4, 6]);
        expect(ns(await collect(store.readAll({ types: ['Kept', 'Other'], categories: ['grant'] })))).toEqual([1, 3, 5, 6]);
        // The newest event is of a type not asked for: the read still ends.
        await store.append('grant-a:d', [event('Skipped', { n: 7 })], ExpectedRevision.noStream);
        expect(ns(await collect(store.readAll({ types: ['Other'] })))).toEqual([5]);
        expect(ns(await take(store.subscribe({ types: ['Kept'], categories: ['proxy', 'grant'] }), 4))).toEqual([1, 3, 4, 6]);
      });

      it('across more events than one page', async () => {
        const store = await fresh();
        for (let i = 0; i < 5; i++) await store.append(`s-${i}`, events(1000), ExpectedRevision.noStream);
        const all = await collect(store.readAll());
        expect(all).toHaveLength(5000);
        expect(new Set(all.map((e) => e.id)).size).toBe(5000);
      });
    });

    describe('subscribing', () => {
      it('catches up on the past, then follows new appends', async () => {
        const store = await fresh();
        await store.append('s-1', events(3), ExpectedRevision.noStream);
        const sub = store.subscribe();
        const seen = take(sub, 5);
        await store.append('s-1', events(2), 2);
        expect((await seen).map((e) => e.revision)).toEqual([0, 1, 2, 3, 4]);
      });

      it('started in the middle of a burst, sees every event exactly once and in order', async () => {
        const store = await fresh();
        const total = 2000;
        const burst = (async () => {
          for (let i = 0; i < total / 10; i++) await store.append(`b-${i % 7}`, events(10), ExpectedRevision.any);
        })();
        await store.append('b-x', events(1), ExpectedRevision.noStream);
        const sub = store.subscribe();
        const seen = await take(sub, total + 1);
        await burst;
        expect(new Set(seen.map((e) => e.id)).size).toBe(total + 1);
        const all = await collect(store.readAll());
        expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));
      });

      it('from a position, sees only what came after it; with categories, only those', async () => {
        const store = await fresh();
        const first = await store.append('grant-a:b', events(2), ExpectedRevision.noStream);
        const sub = store.subscribe({ after: first.position, categories: ['grant'] });
        const seen = take(sub, 2);
        await store.append('proxy-a', events(1), ExpectedRevision.noStream);
        await store.append('grant-a:b', events(1), 1);
        await store.append('grant-a:c', events(1), ExpectedRevision.noStream);
        expect((await seen).map((e) => `${e.streamId}@${e.revision}`)).toEqual(['grant-a:b@2', 'grant-a:c@0']);
      });

      it('ends when closed, also while waiting for appends', async () => {
        const store = await fresh();
        const sub = store.subscribe();
        const iterator = sub[Symbol.asyncIterator]();
        const pending = iterator.next();
        await sub.close();
        expect(await pending).toEqual({ done: true, value: undefined });
      });
    });

    it('after close, appends are refused as unavailable', async () => {
      const store = await fresh();
      await store.close();
      await expect(store.append('s-1', events(1), ExpectedRevision.any)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.lastPosition()).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });
};
