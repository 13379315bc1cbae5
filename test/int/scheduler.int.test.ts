// The scheduler against a real SQLite file, with a clock the test moves: rotations every
// interval, expiries, restarts, several schedulers, schedules moved or cancelled by hand,
// clocks that jump or disagree, a large batch, and a store that fails for a while.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { Secret, type Policy } from '../../domain/index.js';
import { authorize, disableProxy, enableProxy, revoke, rotate, viewKey, type Reply } from '../../src/app/commands.js';
import type { AppContext } from '../../src/app/context.js';
import { Projector } from '../../src/app/projector.js';
import { grant } from '../../src/app/queries.js';
import { SealingKey, verifiersOf } from '../../src/crypto.js';
import { createLogger } from '../../src/log.js';
import { startScheduler, type RunningScheduler } from '../../src/scheduler/scheduler.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EventStore, StoredEvent } from '../../src/store/types.js';
import { withCleanups } from '../support/cleanups.js';
import { ManualClock } from '../support/manual-clock.js';

const admin = { userId: 'ada', role: 'admin' as const };
const bob = { userId: 'bob', role: 'user' as const };
const T0 = '2027-03-01T09:00:00.000Z';
const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const HOURLY: Policy = { type: 'rotate', intervalSeconds: 3600 };
const silent = createLogger({ level: 'silent' });

const cleanups = withCleanups();

const right = (reply: Reply): Record<string, unknown> => {
  if (E.isLeft(reply)) throw new Error(`expected success, got ${reply.left.code}: ${reply.left.message}`);
  return reply.right;
};

/** One keyward process's worth of state on the shared file: its own store handle, views and clock. */
interface Process {
  readonly ctx: AppContext;
  readonly clock: ManualClock;
  scheduler?: RunningScheduler;
  startScheduler(): RunningScheduler;
  close(): Promise<void>;
}

const setup = () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-scheduler-'));
  const path = join(dir, 'keyward.db');
  const masterKey = SealingKey.generate();
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  });

  const open = (clock = new ManualClock(T0), wrap: (s: EventStore) => EventStore = (s) => s): Process => {
    const raw = SqliteEventStore.open({ path, pollIntervalMs: 10 });
    const store = wrap(raw);
    const projector = new Projector(store);
    projector.start();
    const ctx: AppContext = { store, masterKey, clock: clock.now, projector };
    let closed = false;
    const process: Process = {
      ctx,
      clock,
      startScheduler: () => {
        process.scheduler = startScheduler({ ctx, log: silent, clock });
        return process.scheduler;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await process.scheduler?.stop();
        await projector.stop();
        await raw.close();
      },
    };
    cleanups.push(() => process.close());
    return process;
  };

  const events = async (type?: string): Promise<StoredEvent[]> => {
    const reader = SqliteEventStore.open({ path });
    const out: StoredEvent[] = [];
    try {
      for await (const e of reader.readAll()) if (type === undefined || e.type === type) out.push(e);
    } finally {
      await reader.close();
    }
    return out;
  };

  return { open, events };
};

const enable = async (ctx: AppContext, instanceId = 'orders-db'): Promise<void> => {
  right(await enableProxy(ctx, { actor: admin, instanceId, databaseAccount: { username: 'proxy_acct', password: new Secret('proxy-pw') } }));
};

const authorizeUser = async (ctx: AppContext, userId: string, policy: Policy, instanceId = 'orders-db'): Promise<Record<string, unknown>> =>
  right(await authorize(ctx, { actor: admin, instanceId, userId, policy }));

const grantOf = (ctx: AppContext, userId: string, instanceId = 'orders-db'): Record<string, unknown> => right(grant(ctx, { actor: admin, instanceId, userId }));

const data = (e: StoredEvent): Record<string, unknown> => e.data as Record<string, unknown>;
const metadata = (e: StoredEvent): Record<string, unknown> => e.metadata as Record<string, unknown>;

describe('scheduled rotation', () => {
  it('replaces the pair every interval, as keyward, and the grant always shows the next rotation', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    const first = await authorizeUser(p.ctx, 'bob', HOURLY);
    expect(first.rotatesAt).toBe(at(3600));
    const scheduler = p.startScheduler();
    await scheduler.ready;

    p.clock.advance(3599);
    await scheduler.idle();
    expect(await events('AccessKeyRotated')).toHaveLength(0);

    let previous = first.accessId;
    for (let n = 1; n <= 4; n++) {
      p.clock.set(at(3600 * n));
      await scheduler.idle();
      const rotations = await events('AccessKeyRotated');
      expect(rotations).toHaveLength(n);
      const last = rotations[n - 1];
      if (last === undefined) throw new Error('no rotation');
      expect(data(last)).toMatchObject({ previousAccessId: previous, reason: 'scheduled', rotatedBy: 'keyward', rotatedAt: at(3600 * n), previousNotAfter: at(3600 * n), rotatesAt: at(3600 * (n + 1)) });
      expect(metadata(last).actor).toEqual({ userId: 'keyward', role: 'system' });
      const current = grantOf(p.ctx, 'bob');
      expect(current).toMatchObject({ status: 'active', accessId: data(last).accessId, rotatesAt: at(3600 * (n + 1)) });
      previous = data(last).accessId;
    }

    // The user gets the new pair through View, and it is the pair the last rotation issued.
    const viewed = right(await viewKey(p.ctx, { actor: bob, instanceId: 'orders-db', userId: 'bob' }));
    expect(viewed.accessId).toBe(previous);
    expect(viewed.rotatesAt).toBe(at(3600 * 5));
    const rotations = await events('AccessKeyRotated');
    expect(verifiersOf(new Secret(String(viewed.accessSecret)))).toEqual(data(rotations[3] ?? rotations[0] ?? ({} as StoredEvent)).verifiers);
  });

  it('a rotation due while no scheduler ran is made once at start, and the cadence holds', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    await authorizeUser(p.ctx, 'bob', HOURLY);
    p.clock.set(at(3600 * 5 + 1800));
    const scheduler = p.startScheduler();
    await scheduler.idle();
    const rotations = await events('AccessKeyRotated');
    expect(rotations.map(data)).toEqual([expect.objectContaining({ rotatedAt: at(3600 * 5 + 1800), rotatesAt: at(3600 * 6), reason: 'scheduled' })]);

    // Started again at the same time: nothing more to do.
    await p.close();
    const again = open(p.clock);
    await again.startScheduler().idle();
    expect(await events('AccessKeyRotated')).toHaveLength(1);
  });

  it('a rotation by hand moves the next scheduled one an interval from itself', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    await authorizeUser(p.ctx, 'bob', HOURLY);
    const scheduler = p.startScheduler();
    p.clock.set(at(1800));
    const manual = right(await rotate(p.ctx, { actor: bob, instanceId: 'orders-db', userId: 'bob' }));
    expect(manual.rotatesAt).toBe(at(5400));
    expect(grantOf(p.ctx, 'bob').rotatesAt).toBe(at(5400));

    p.clock.set(at(3600));
    await scheduler.idle();
    expect((await events('AccessKeyRotated')).map((e) => data(e).reason)).toEqual(['manual']);

    p.clock.set(at(5400));
    await scheduler.idle();
    expect((await events('AccessKeyRotated')).map((e) => data(e).reason)).toEqual(['manual', 'scheduled']);
    expect(grantOf(p.ctx, 'bob').rotatesAt).toBe(at(9000));
  });

  it('recycle, release and a disabled proxy cancel what was scheduled', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    await enable(p.ctx, 'billing-db');
    for (const user of ['bob', 'carol']) await authorizeUser(p.ctx, user, HOURLY);
    await authorizeUser(p.ctx, 'dave', HOURLY, 'billing-db');
    await authorizeUser(p.ctx, 'erin', { type: 'expire', expiresAt: at(1800) });
    const scheduler = p.startScheduler();

    right(await revoke(p.ctx, { actor: admin, instanceId: 'orders-db', userId: 'bob', mode: 'recycle' }));
    right(await revoke(p.ctx, { actor: admin, instanceId: 'orders-db', userId: 'carol', mode: 'release' }));
    right(await revoke(p.ctx, { actor: admin, instanceId: 'orders-db', userId: 'erin', mode: 'recycle' }));
    right(await disableProxy(p.ctx, { actor: admin, instanceId: 'billing-db' }));
    expect(grantOf(p.ctx, 'bob')).toMatchObject({ status: 'revoked', rotatesAt: null });

    p.clock.advance(3600 * 3);
    await scheduler.idle();
    expect(await events('AccessKeyRotated')).toHaveLength(0);
    expect(await events('AccessKeyExpired')).toHaveLength(0);
  });
});

describe('scheduled expiry', () => {
  it('an expiry that passed while no scheduler ran is recorded once, at its own time, when one starts', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    const granted = await authorizeUser(p.ctx, 'carol', { type: 'expire', expiresAt: at(1800) });
    expect(granted.notAfter).toBe(at(1800));
    await p.startScheduler().idle();
    await p.close();

    const later = open(new ManualClock(at(7200)));
    await later.startScheduler().idle();
    const expired = await events('AccessKeyExpired');
    expect(expired.map(data)).toEqual([{ instanceId: 'orders-db', userId: 'carol', accessId: granted.accessId, expiredAt: at(1800) }]);
    expect(grantOf(later.ctx, 'carol')).toMatchObject({ status: 'expired', notAfter: at(1800) });
    await later.close();

    const again = open(new ManualClock(at(9000)));
    await again.startScheduler().idle();
    expect(await events('AccessKeyExpired')).toHaveLength(1);
  });
});

describe('several schedulers', () => {
  it('two schedulers on one store make exactly one rotation per grant and due time', async () => {
    const { open, events } = setup();
    const a = open();
    const b = open();
    await enable(a.ctx);
    for (let i = 0; i < 40; i++) await authorizeUser(a.ctx, `user-${i}`, HOURLY);
    await authorizeUser(a.ctx, 'erin', { type: 'expire', expiresAt: at(5000) });
    const schedulers = [a.startScheduler(), b.startScheduler()];
    for (let n = 1; n <= 3; n++) {
      a.clock.set(at(3600 * n));
      b.clock.set(at(3600 * n));
      await Promise.all(schedulers.map((s) => s.idle()));
    }
    const rotations = await events('AccessKeyRotated');
    expect(rotations).toHaveLength(40 * 3);
    const perDueTime = new Set(rotations.map((e) => `${e.streamId}@${String(data(e).rotatedAt)}`));
    expect(perDueTime.size).toBe(40 * 3);
    expect(await events('AccessKeyExpired')).toHaveLength(1);
  });

  it('clocks that disagree by 30 seconds still make one rotation', async () => {
    const { open, events } = setup();
    const ahead = open(new ManualClock(T0));
    const behind = open(new ManualClock(T0));
    await enable(ahead.ctx);
    await authorizeUser(ahead.ctx, 'bob', HOURLY);
    const schedulers = [ahead.startScheduler(), behind.startScheduler()];
    ahead.clock.set(at(3600 + 30));
    behind.clock.set(at(3600));
    await Promise.all(schedulers.map((s) => s.idle()));
    behind.clock.set(at(3630));
    await Promise.all(schedulers.map((s) => s.idle()));
    const rotations = await events('AccessKeyRotated');
    expect(rotations).toHaveLength(1);
    expect(data(rotations[0] ?? ({} as StoredEvent)).rotatesAt).toBe(at(7200));
  });
});

describe('a clock that jumps', () => {
  it('set back after a rotation, it does not rotate again; set far ahead, it rotates once', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    await authorizeUser(p.ctx, 'bob', HOURLY);
    const scheduler = p.startScheduler();
    p.clock.set(at(3600));
    await scheduler.idle();
    p.clock.set(at(3000));
    await scheduler.idle();
    p.clock.set(at(3600));
    await scheduler.idle();
    expect(await events('AccessKeyRotated')).toHaveLength(1);

    p.clock.set(at(86_400 + 600));
    await scheduler.idle();
    const rotations = await events('AccessKeyRotated');
    expect(rotations).toHaveLength(2);
    expect(data(rotations[1] ?? ({} as StoredEvent)).rotatesAt).toBe(at(86_400 + 3600));
  });

  it('a jump past an expiry records it once at its own time, and a jump back does not undo it', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    await authorizeUser(p.ctx, 'carol', { type: 'expire', expiresAt: at(1800) });
    const scheduler = p.startScheduler();
    p.clock.set(at(1000));
    await scheduler.idle();
    p.clock.set(at(50_000));
    await scheduler.idle();
    p.clock.set(at(1000));
    await scheduler.idle();
    p.clock.set(at(60_000));
    await scheduler.idle();
    expect((await events('AccessKeyExpired')).map((e) => data(e).expiredAt)).toEqual([at(1800)]);
  });
});

describe('a busy or failing store', () => {
  it('10,000 grants due at one instant are all rotated while other commands are answered', async () => {
    const { open, events } = setup();
    const p = open();
    await enable(p.ctx);
    const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    for (let i = 0; i < users.length; i += 200) await Promise.all(users.slice(i, i + 200).map((u) => authorizeUser(p.ctx, u, HOURLY)));
    const scheduler = p.startScheduler();
    await scheduler.ready;
    p.clock.set(at(3600));
    // Commands from users while the batch runs: each one answered, and right.
    const during = Promise.all(Array.from({ length: 100 }, (_, i) => authorizeUser(p.ctx, `late-${i}`, { type: 'system' })));
    await during;
    await scheduler.idle();
    const rotations = await events('AccessKeyRotated');
    expect(rotations).toHaveLength(10_000);
    expect(new Set(rotations.map((e) => e.streamId)).size).toBe(10_000);
    expect(grantOf(p.ctx, 'user-9999').rotatesAt).toBe(at(7200));
    expect(grantOf(p.ctx, 'late-99')).toMatchObject({ status: 'active', rotatesAt: null });
  }, 120_000);

  it('a store that cannot be used for a while, at start and when a rotation falls due: the rotation is made once when it is back', async () => {
    const unavailable = (): Error => new StoreUnavailableError('the event store cannot be used now (SQLITE_BUSY)');
    const { open, events } = setup();
    let refusing = false;
    const flaky = (store: EventStore): EventStore => ({
      append: (s, e, x) => (refusing ? Promise.reject(unavailable()) : store.append(s, e, x)),
      readStream: (s, o) => store.readStream(s, o),
      readAll: (o) => store.readAll(o),
      lastPosition: () => (refusing ? Promise.reject(unavailable()) : store.lastPosition()),
      subscribe: (o) => store.subscribe(o),
      comparePositions: (a, b) => store.comparePositions(a, b),
      close: () => store.close(),
    });
    const p = open(new ManualClock(T0), flaky);
    await enable(p.ctx);
    await authorizeUser(p.ctx, 'bob', HOURLY);
    // Started while the store cannot answer: it waits, and starts once it can.
    refusing = true;
    const scheduler = p.startScheduler();
    await new Promise((r) => setTimeout(r, 100));
    refusing = false;
    await scheduler.ready;
    refusing = true;
    p.clock.set(at(3600));
    // The pass that failed still ends; nothing was recorded.
    await scheduler.idle();
    expect(await events('AccessKeyRotated')).toHaveLength(0);
    refusing = false;
    // The retry comes after a pause measured in real time (about a second): wait for it.
    for (let i = 0; i < 50 && (await events('AccessKeyRotated')).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    await scheduler.idle();
    expect(await events('AccessKeyRotated')).toHaveLength(1);
  });
});
