// Command handling on a real SQLite file: load, decide, append, retry; recorded once.
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decideGrant,
  decideProxy,
  grantDecider,
  grantStreamId,
  proxyDecider,
  proxyStreamId,
  type GrantCommand,
  type GrantEvent,
  type ProxyEvent,
  type Timestamp,
} from '../../domain/index.js';
import { execute, loadStream, type CommandMeta } from '../../src/handling/handle.js';
import { eventHash } from '../../src/handling/hash-chain.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { decodeRecorded } from '../../src/store/recorded.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EventStore } from '../../src/store/types.js';
import { admin, bob, INSTANCE, newKey, owner, PROXY_ACCOUNT, T0 } from '../support/fixtures.js';

let dir: string;
let store: SqliteEventStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-handling-'));
  store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const clock = (): Timestamp => T0;
const meta = (commandId: string, actor = admin): CommandMeta => ({ commandId, actor });

const enableProxy = (s: EventStore = store) =>
  execute<ReturnType<typeof proxyDecider.evolve>, ProxyEvent>({
    store: s,
    streamId: proxyStreamId(INSTANCE),
    decider: proxyDecider,
    meta: meta('enable-1', owner),
    clock,
    decide: (state, now) =>
      Promise.resolve(decideProxy({ type: 'EnableProxy', actor: owner, instanceId: INSTANCE, databaseAccount: PROXY_ACCOUNT, endpoints: [] }, state, { now })),
  });

/** Runs a grant command the way the service does: the proxy's state is loaded on every attempt. */
const onGrant = (command: GrantCommand, commandId: string, s: EventStore = store) =>
  execute<ReturnType<typeof grantDecider.evolve>, GrantEvent>({
    store: s,
    streamId: grantStreamId(command.instanceId, command.userId),
    decider: grantDecider,
    meta: meta(commandId, command.actor),
    clock,
    decide: async (state, now) => {
      const proxy = await loadStream(s, proxyStreamId(command.instanceId), proxyDecider);
      return decideGrant(command, state, { now, proxy: proxy.state, newKey: newKey() });
    },
  });

const authorize: GrantCommand = { type: 'Authorize', actor: admin, instanceId: INSTANCE, userId: bob.userId, databaseAccount: null, policy: { type: 'system' } };
const rotate: GrantCommand = { type: 'RotateKey', actor: bob, instanceId: INSTANCE, userId: bob.userId, overlapSeconds: 0 };

const countAll = async (): Promise<number> => {
  let n = 0;
  for await (const _ of store.readAll()) n++;
  return n;
};

const recordedOrFail = <A>(r: E.Either<{ code: string; message: string }, A>): A => {
  if (E.isLeft(r)) throw new Error(`${r.left.code}: ${r.left.message}`);
  return r.right;
};

describe('executing a command', () => {
  it('records the decided events with their metadata and returns them as recorded', async () => {
    recordedOrFail(await enableProxy());
    const outcome = recordedOrFail(await onGrant(authorize, 'auth-1'));
    expect(outcome.duplicate).toBe(false);
    expect(outcome.events.map((e) => [e.type, e.streamId, e.revision])).toEqual([['AccessGranted', `grant-${INSTANCE}:bob`, 0]]);
    expect(outcome.events[0]?.metadata).toEqual({
      commandId: 'auth-1',
      correlationId: 'auth-1',
      causationId: 'auth-1',
      actor: admin,
      occurredAt: T0,
      prevHash: null,
    });
    const stored = (await store.readStream(grantStreamId(INSTANCE, 'bob'))).map(decodeRecorded);
    expect(stored).toEqual(outcome.events);
  });

  it('chains each event of a stream to the one before by prevHash', async () => {
    recordedOrFail(await enableProxy());
    recordedOrFail(await onGrant(authorize, 'auth-1'));
    for (let i = 0; i < 3; i++) recordedOrFail(await onGrant(rotate, `rotate-${i}`));
    const events = (await store.readStream(grantStreamId(INSTANCE, 'bob'))).map(decodeRecorded);
    expect(events).toHaveLength(4);
    events.forEach((e, i) => {
      const before = events[i - 1];
      expect(e.metadata.prevHash).toBe(before === undefined ? null : eventHash(before));
    });
  });

  it('a refused command records nothing', async () => {
    recordedOrFail(await enableProxy());
    const result = await onGrant({ ...authorize, actor: bob }, 'auth-by-bob');
    expect(E.isLeft(result) && result.left.code).toBe('FORBIDDEN');
    expect(await countAll()).toBe(1);
  });
});

describe('the same command again', () => {
  it('returns the first outcome and records nothing new', async () => {
    recordedOrFail(await enableProxy());
    const first = recordedOrFail(await onGrant(authorize, 'auth-1'));
    const again = recordedOrFail(await onGrant(authorize, 'auth-1'));
    expect(again.duplicate).toBe(true);
    expect(again.events).toEqual(first.events);
    expect(await countAll()).toBe(2);
  });

  it('handled by two processes at once, is recorded once and both return what was recorded', async () => {
    recordedOrFail(await enableProxy());
    const other = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    try {
      const [a, b] = await Promise.all([onGrant(authorize, 'auth-1'), onGrant(authorize, 'auth-1', other)]);
      expect(recordedOrFail(a).events).toEqual(recordedOrFail(b).events);
      expect(await countAll()).toBe(2);
    } finally {
      await other.close();
    }
  });
});

describe('concurrent writers on one stream', () => {
  it('no lost update: every accepted rotation is recorded once and replaces the pair before it', async () => {
    recordedOrFail(await enableProxy());
    recordedOrFail(await onGrant(authorize, 'auth-1'));
    const other = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    try {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => onGrant(rotate, `rotate-${i}`, i % 2 === 0 ? store : other)));
      const accepted = results.filter(E.isRight);
      // Bounded retries may give up under this much contention; those answer CONFLICT.
      for (const r of results) if (E.isLeft(r)) expect(r.left.code).toBe('CONFLICT');
      expect(accepted.length).toBeGreaterThan(0);

      const events = (await store.readStream(grantStreamId(INSTANCE, 'bob'))).map(decodeRecorded);
      const rotations = events.filter((e) => e.type === 'AccessKeyRotated');
      expect(rotations).toHaveLength(accepted.length);
      expect(new Set(rotations.map((e) => e.metadata.commandId)).size).toBe(rotations.length);
      // Each rotation names the pair made by the event before it: none was decided on stale state.
      events.slice(1).forEach((e, i) => {
        const before = events[i];
        if (e.type === 'AccessKeyRotated' && before !== undefined && (before.type === 'AccessGranted' || before.type === 'AccessKeyRotated')) {
          expect(e.data.previousAccessId).toBe(before.data.accessId);
        }
      });
    } finally {
      await other.close();
    }
  });
});

describe('a stream that keeps changing under the command', () => {
  it('is retried a bounded number of times, then answers CONFLICT with nothing of this command recorded', async () => {
    recordedOrFail(await enableProxy());
    recordedOrFail(await onGrant(authorize, 'auth-1'));
    let attempts = 0;
    const result = await execute<ReturnType<typeof grantDecider.evolve>, GrantEvent>({
      store,
      streamId: grantStreamId(INSTANCE, bob.userId),
      decider: grantDecider,
      meta: meta('rotate-loser', bob),
      clock,
      maxAttempts: 3,
      decide: async (state, now) => {
        attempts++;
        // Another writer gets in between this decision and its append, every time.
        recordedOrFail(await onGrant(rotate, `rotate-winner-${attempts}`));
        const proxy = await loadStream(store, proxyStreamId(INSTANCE), proxyDecider);
        return decideGrant(rotate, state, { now, proxy: proxy.state, newKey: newKey() });
      },
    });
    expect(attempts).toBe(3);
    expect(E.isLeft(result) && result.left.code).toBe('CONFLICT');
    const events = (await store.readStream(grantStreamId(INSTANCE, bob.userId))).map(decodeRecorded);
    expect(events.map((e) => e.metadata.commandId)).toEqual(['auth-1', 'rotate-winner-1', 'rotate-winner-2', 'rotate-winner-3']);
  });
});

describe('when the store is unavailable', () => {
  it('the command fails with StoreUnavailableError', async () => {
    recordedOrFail(await enableProxy());
    await store.close();
    await expect(onGrant(authorize, 'auth-1')).rejects.toBeInstanceOf(StoreUnavailableError);
    store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    expect(await countAll()).toBe(1);
  });
});
