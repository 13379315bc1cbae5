// Approval records the requester's grant, then the ticket's decision. When another decision
// on the ticket lands in between, the grant must not stand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { grantStreamId } from '../../domain/index.js';
import { keyEntry } from '../../projections/index.js';
import { approveTicket, enableProxy, rejectTicket, submitTicket } from '../../src/app/commands.js';
import { systemClock, type AppContext } from '../../src/app/context.js';
import { Projector } from '../../src/app/projector.js';
import { SealingKey } from '../../src/crypto.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EventStore } from '../../src/store/types.js';
import { Secret } from '../../domain/index.js';

const admin = { userId: 'ada', role: 'admin' as const };
const dba = { userId: 'dmitri', role: 'dba' as const };
const frank = { userId: 'frank', role: 'user' as const };

let dir: string;
let store: SqliteEventStore;
let ctx: AppContext;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-approval-'));
  store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
  const projector = new Projector(store);
  projector.start();
  ctx = { store, masterKey: SealingKey.generate(), clock: systemClock, projector };
});
afterEach(async () => {
  await ctx.projector.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a rejection that lands between the grant and the approval withdraws the grant', async () => {
  await enableProxy(ctx, { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: new Secret('q') } });
  await submitTicket(ctx, { actor: frank, ticketId: 'tkt-1', instanceId: 'orders-db', policy: { type: 'system' }, reason: 'report' });

  // The real store, with a second approver's rejection slipped in right after the grant's append.
  let raced = false;
  const racing: EventStore = {
    append: async (streamId, events, expected) => {
      const result = await store.append(streamId, events, expected);
      if (streamId.startsWith('grant-') && !raced) {
        raced = true;
        expect(E.isRight(await rejectTicket(ctx, { actor: dba, ticketId: 'tkt-1', reason: 'no' }))).toBe(true);
      }
      return result;
    },
    readStream: (s, o) => store.readStream(s, o),
    readAll: (o) => store.readAll(o),
    lastPosition: () => store.lastPosition(),
    subscribe: (o) => store.subscribe(o),
    comparePositions: (a, b) => store.comparePositions(a, b),
    close: () => store.close(),
  };

  const result = await approveTicket({ ...ctx, store: racing }, { actor: admin, ticketId: 'tkt-1' });
  expect(E.isLeft(result) && result.left.code).toBe('CONFLICT');
  const events = await store.readStream(grantStreamId('orders-db', 'frank'));
  expect(events.map((e) => [e.type, (e.metadata as { actor: { userId: string } }).actor.userId])).toEqual([
    ['AccessGranted', 'ada'],
    ['AccessRevoked', 'keyward'],
  ]);
  const accessId = (events[0]?.data as { accessId: string }).accessId;
  await ctx.projector.caughtUpTo(events[1]?.position ?? '');
  expect(keyEntry(ctx.projector.views.keyIndex, accessId)?.state).toBe('revoked');
});
