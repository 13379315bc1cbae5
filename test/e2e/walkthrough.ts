// The product over NATS, as another service uses it: a real nats-server, keyward on an event
// store, requests and replies exactly as API.md writes them. One walk-through for every
// store: each store's suite calls `walkthrough` with the store to run on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyEntry } from '../../projections/index.js';
import type { EventStore } from '../../src/store/types.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { type Answer, type Keyward, ok, startKeyward } from '../support/keyward.js';

const admin = { userId: 'ada', role: 'admin' };
const dba = { userId: 'dmitri', role: 'dba' };
const owner = { userId: 'olivia', role: 'user' };
const bob = { userId: 'bob', role: 'user' };
const carol = { userId: 'carol', role: 'user' };
const INSTANCE = 'orders-db';

export interface WalkthroughStore {
  readonly store: EventStore;
  /** Frees what the store used beyond itself (keyward closes the store). */
  dispose(): Promise<void>;
}

export const walkthrough = (name: string, openStore?: () => Promise<WalkthroughStore>): void => {
  let nats: NatsServer;
  let kw: Keyward;
  let opened: WalkthroughStore | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
    opened = await openStore?.();
    kw = await startKeyward(nats.url, opened === undefined ? {} : { store: opened.store });
  });
  afterAll(async () => {
    await kw.stop();
    await opened?.dispose();
    await nats.dispose();
  });

  const failed = (a: Answer, code: string, header: string): void => {
    expect(a.ok).toBe(false);
    expect(a.error?.code).toBe(code);
    expect(a.headerCode).toBe(header);
  };
  const keyState = (accessId: unknown) => keyEntry(kw.ctx.projector.views.keyIndex, String(accessId))?.state;

  describe(`the product walk-through over NATS, ${name}`, () => {
    it('enables a proxy; its owner is whoever enabled it', async () => {
      const r = ok(await kw.request('cmd.proxy.enable', { commandId: 'enable-1', actor: owner, instanceId: INSTANCE, databaseAccount: { username: 'keyward_proxy', password: 'proxy-pass-9' }, endpoints: [{ kind: 'private', host: '10.0.0.5', port: 3306 }] }));
      expect(r).toMatchObject({ instanceId: INSTANCE, ownerId: 'olivia' });
      failed(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'x', password: 'y' } }), 'CONFLICT', '409');
      expect(ok(await kw.request('query.proxies', { actor: bob, ownerId: 'olivia' }))).toMatchObject({ items: [{ instanceId: INSTANCE, ownerId: 'olivia', status: 'enabled' }], nextCursor: null });
    });

    it('authorizes users with each policy and with a custom account, each with a pair of their own', async () => {
      const system = ok(await kw.request('cmd.authorize', { actor: owner, instanceId: INSTANCE, userId: 'bob', policy: { type: 'system' } }));
      expect(system).toMatchObject({ instanceId: INSTANCE, userId: 'bob', policy: { type: 'system' }, notAfter: null, rotatesAt: null });
      expect(system.accessId).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(system.accessSecret).toMatch(/^[A-Za-z0-9]{40}$/);
      expect(keyState(system.accessId)).toBe('active');

      const rotating = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'carol', policy: { type: 'rotate', intervalSeconds: 3600 } }));
      expect(Date.parse(String(rotating.rotatesAt)) - Date.now()).toBeGreaterThan(3500_000);

      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      expect(ok(await kw.request('cmd.authorize', { actor: dba, instanceId: INSTANCE, userId: 'dave', policy: { type: 'expire', expiresAt } }))).toMatchObject({ notAfter: expiresAt, rotatesAt: null });

      ok(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'erin', databaseAccount: { username: 'report_reader', password: 'Rep0rt-pass' }, policy: { type: 'system' } }));
      expect(ok(await kw.request('query.grant', { actor: carol, instanceId: INSTANCE, userId: 'erin' }))).toMatchObject({ status: 'active', databaseAccount: { username: 'report_reader', custom: true } });
      expect(ok(await kw.request('query.grant', { actor: carol, instanceId: INSTANCE, userId: 'bob' }))).toMatchObject({ databaseAccount: { username: 'keyward_proxy', custom: false }, origin: { type: 'direct', by: 'olivia' } });

      failed(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'bob', policy: { type: 'system' } }), 'CONFLICT', '409');
      failed(await kw.request('cmd.authorize', { actor: carol, instanceId: INSTANCE, userId: 'frank', policy: { type: 'system' } }), 'FORBIDDEN', '403');
      failed(await kw.request('cmd.authorize', { actor: admin, instanceId: 'no-such-db', userId: 'frank', policy: { type: 'system' } }), 'NOT_FOUND', '404');
    });

    it('View shows the pair to the user, an admin or a dba, and records each view; never to the owner', async () => {
      const before = ok(await kw.request('query.grant', { actor: bob, instanceId: INSTANCE, userId: 'bob' }));
      const viewed = ok(await kw.request('query.key', { actor: bob, instanceId: INSTANCE, userId: 'bob' }));
      expect(viewed.accessId).toBe(before.accessId);
      expect(viewed.accessSecret).toMatch(/^[A-Za-z0-9]{40}$/);
      expect(ok(await kw.request('query.key', { actor: dba, instanceId: INSTANCE, userId: 'bob' })).accessSecret).toBe(viewed.accessSecret);
      failed(await kw.request('query.key', { actor: owner, instanceId: INSTANCE, userId: 'bob' }), 'FORBIDDEN', '403');
      const views = (await kw.ctx.store.readStream(`grant-${INSTANCE}:bob`)).filter((e) => e.type === 'AccessKeyViewed').map((e) => (e.data as { viewedBy: string }).viewedBy);
      expect(views).toEqual(['bob', 'dmitri']);
    });

    it('Update rotates: the old pair is refused at once, the new one works; the owner cannot rotate others', async () => {
      const old = ok(await kw.request('query.grant', { actor: bob, instanceId: INSTANCE, userId: 'bob' }));
      failed(await kw.request('cmd.rotate', { actor: owner, instanceId: INSTANCE, userId: 'bob' }), 'FORBIDDEN', '403');
      const rotated = ok(await kw.request('cmd.rotate', { actor: bob, instanceId: INSTANCE, userId: 'bob' }));
      expect(rotated.previousAccessId).toBe(old.accessId);
      expect(rotated.accessId).not.toBe(old.accessId);
      expect(keyState(old.accessId)).toBe('revoked');
      expect(keyState(rotated.accessId)).toBe('active');
      expect(ok(await kw.request('query.key', { actor: bob, instanceId: INSTANCE, userId: 'bob' }))).toMatchObject({ accessId: rotated.accessId, accessSecret: rotated.accessSecret });
    });

    it('recycle keeps the grant listed as revoked; release takes it out of the listings', async () => {
      failed(await kw.request('cmd.revoke', { actor: owner, instanceId: INSTANCE, userId: 'carol', mode: 'recycle' }), 'FORBIDDEN', '403');
      const recycled = ok(await kw.request('cmd.revoke', { actor: carol, instanceId: INSTANCE, userId: 'carol', mode: 'recycle' }));
      expect(keyState(recycled.accessId)).toBe('revoked');
      expect(ok(await kw.request('query.grant', { actor: admin, instanceId: INSTANCE, userId: 'carol' }))).toMatchObject({ status: 'revoked' });
      ok(await kw.request('cmd.revoke', { actor: admin, instanceId: INSTANCE, userId: 'carol', mode: 'release' }));
      failed(await kw.request('query.grant', { actor: admin, instanceId: INSTANCE, userId: 'carol' }), 'NOT_FOUND', '404');
      const listed = ok(await kw.request('query.grants', { actor: admin, instanceId: INSTANCE, status: 'all' }));
      expect((listed.items as { userId: string }[]).map((g) => g.userId)).toEqual(['bob', 'dave', 'erin']);
    });

    it('tickets: submitted for oneself, approved by the owner (never the requester), or rejected', async () => {
      const submitted = ok(await kw.request('cmd.ticket.submit', { actor: { userId: 'frank', role: 'user' }, ticketId: 'tkt-1', instanceId: INSTANCE, policy: { type: 'system' }, reason: 'quarterly report' }));
      expect(submitted).toEqual({ ticketId: 'tkt-1', status: 'pending' });
      failed(await kw.request('cmd.ticket.approve', { actor: { userId: 'frank', role: 'user' }, ticketId: 'tkt-1' }), 'FORBIDDEN', '403');
      const approved = ok(await kw.request('cmd.ticket.approve', { actor: owner, ticketId: 'tkt-1' }));
      expect(approved).toMatchObject({ ticketId: 'tkt-1', status: 'approved' });
      expect(ok(await kw.request('query.grant', { actor: admin, instanceId: INSTANCE, userId: 'frank' }))).toMatchObject({ accessId: approved.accessId, origin: { type: 'ticket', ticketId: 'tkt-1', approvedBy: 'olivia' } });
      expect(ok(await kw.request('query.key', { actor: { userId: 'frank', role: 'user' }, instanceId: INSTANCE, userId: 'frank' })).accessId).toBe(approved.accessId);
      failed(await kw.request('cmd.ticket.approve', { actor: admin, ticketId: 'tkt-1' }), 'CONFLICT', '409');

      ok(await kw.request('cmd.ticket.submit', { actor: { userId: 'gina', role: 'user' }, ticketId: 'tkt-2', instanceId: INSTANCE, policy: { type: 'system' }, reason: 'curious' }));
      expect(ok(await kw.request('cmd.ticket.reject', { actor: dba, ticketId: 'tkt-2', reason: 'use the replica' }))).toEqual({ ticketId: 'tkt-2', status: 'rejected' });
      failed(await kw.request('query.grant', { actor: admin, instanceId: INSTANCE, userId: 'gina' }), 'NOT_FOUND', '404');
      expect(ok(await kw.request('query.tickets', { actor: bob, instanceId: INSTANCE, status: 'all' }))).toMatchObject({ items: [{ ticketId: 'tkt-1', status: 'approved' }, { ticketId: 'tkt-2', status: 'rejected', rejectionReason: 'use the replica' }] });
    });

    it('the same commandId again returns the same reply and records nothing new', async () => {
      const body = { commandId: 'auth-hank-1', actor: admin, instanceId: INSTANCE, userId: 'hank', policy: { type: 'system' } };
      const first = ok(await kw.request('cmd.authorize', body));
      const count = await kw.eventCount();
      expect(ok(await kw.request('cmd.authorize', body))).toEqual(first);
      expect(await kw.eventCount()).toBe(count);
    });

    it('a ticket submitted again with the same commandId and no ticketId is the same ticket', async () => {
      const body = { commandId: 'ask-ivy-1', actor: { userId: 'ivy', role: 'user' }, instanceId: INSTANCE, policy: { type: 'system' }, reason: 'on call' };
      const first = ok(await kw.request('cmd.ticket.submit', body));
      expect(ok(await kw.request('cmd.ticket.submit', body))).toEqual(first);
      const mine = (ok(await kw.request('query.tickets', { actor: admin, instanceId: INSTANCE, status: 'pending' })).items as { requesterId: string }[]).filter((t) => t.requesterId === 'ivy');
      expect(mine).toHaveLength(1);
      ok(await kw.request('cmd.ticket.reject', { actor: admin, ticketId: String(first.ticketId), reason: 'not today' }));
    });

    it('access-at is for admins and dbas', async () => {
      const now = new Date().toISOString();
      const items = ok(await kw.request('query.access-at', { actor: admin, instanceId: INSTANCE, at: now })).items as { userId: string }[];
      expect(items.map((i) => i.userId)).toEqual(['bob', 'dave', 'erin', 'frank', 'hank']);
      failed(await kw.request('query.access-at', { actor: owner, instanceId: INSTANCE, at: now }), 'FORBIDDEN', '403');
    });

    it('disabling the proxy revokes every active key on it at once', async () => {
      const active = (ok(await kw.request('query.grants', { actor: admin, instanceId: INSTANCE, status: 'active' })).items as { accessId: string }[]).map((g) => g.accessId);
      const r = ok(await kw.request('cmd.proxy.disable', { actor: owner, instanceId: INSTANCE }));
      expect(r.revokedAccessIds).toEqual([...active].sort());
      for (const id of active) expect(keyState(id)).toBe('revoked');
      failed(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'ivy', policy: { type: 'system' } }), 'CONFLICT', '409');
    });

    it('answers the NATS services discovery: PING, INFO, STATS', async () => {
      const ping = await kw.client.request('$SRV.PING.keyward', '', { timeout: 2000 });
      expect(JSON.parse(new TextDecoder().decode(ping.data))).toMatchObject({ name: 'keyward', type: 'io.nats.micro.v1.ping_response' });
      const info = JSON.parse(new TextDecoder().decode((await kw.client.request('$SRV.INFO.keyward', '', { timeout: 2000 })).data)) as { endpoints: { subject: string; queue_group: string }[] };
      expect(info.endpoints.map((e) => e.subject)).toContain('keyward.cmd.authorize');
      expect(new Set(info.endpoints.map((e) => e.queue_group))).toEqual(new Set(['keyward']));
    });
  });
};
