import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../domain/index.js';
import { getProxy, listProxies, proxiesProjection, replay } from '../../../projections/index.js';
import { admin, dba, INSTANCE, later, owner, PROXY_ACCOUNT, proxyDisabled, proxyEnabled, sealedAccount, T0 } from '../../support/fixtures.js';
import { recorder, viewJson } from '../../support/recorded.js';

const build = (...events: DomainEvent[]) => {
  const store = recorder();
  return { store, view: replay(proxiesProjection, store.record(...events)) };
};

const ENDPOINTS = [{ kind: 'private', host: '10.0.0.5', port: 3306 }] as const;

describe('Proxies', () => {
  describe('when a proxy is enabled', () => {
    it('shows its owner, epoch, endpoints and account user name', () => {
      const { view } = build(proxyEnabled({ endpoints: [...ENDPOINTS] }));
      expect(getProxy(view, INSTANCE)).toEqual({
        instanceId: INSTANCE,
        ownerId: owner.userId,
        status: 'enabled',
        epoch: 1,
        enabledAt: T0,
        disabledAt: null,
        endpoints: [...ENDPOINTS],
        databaseAccount: { username: PROXY_ACCOUNT.username },
      });
      expect(getProxy(view, 'unknown-db')).toBeUndefined();
    });

    it('never holds the account’s sealed password', () => {
      const { view } = build(proxyEnabled());
      const json = viewJson(view);
      expect(json).toContain(PROXY_ACCOUNT.username);
      expect(json).not.toContain(PROXY_ACCOUNT.passwordSealed);
    });
  });

  describe('when a proxy is disabled', () => {
    it('shows it disabled at disabledAt, with the same epoch', () => {
      const { view } = build(proxyEnabled(), proxyDisabled({ disabledAt: later(100) }));
      expect(getProxy(view, INSTANCE)).toMatchObject({ status: 'disabled', epoch: 1, disabledAt: later(100), ownerId: owner.userId });
    });

    it('is not enabled again by a stale ProxyEnabled of the ended epoch', () => {
      const { view, store } = build(proxyEnabled(), proxyDisabled({ disabledAt: later(100) }));
      replay(proxiesProjection, store.record(proxyEnabled({ ownerId: dba.userId, enabledAt: later(200) })), view);
      expect(getProxy(view, INSTANCE)).toMatchObject({ status: 'disabled', epoch: 1, ownerId: owner.userId });
    });
  });

  describe('when a proxy is enabled again', () => {
    it('has epoch 2, the new owner and account, and no disabledAt', () => {
      const second = sealedAccount('keyward_proxy2', 'another-password');
      const { view } = build(
        proxyEnabled(),
        proxyDisabled({ disabledAt: later(100) }),
        proxyEnabled({ epoch: 2, ownerId: admin.userId, databaseAccount: second, enabledAt: later(200) }),
      );
      expect(getProxy(view, INSTANCE)).toMatchObject({
        status: 'enabled',
        epoch: 2,
        ownerId: admin.userId,
        enabledAt: later(200),
        disabledAt: null,
        databaseAccount: { username: 'keyward_proxy2' },
      });
    });
  });

  describe('when proxies are listed', () => {
    const instances = ['db-c', 'db-a', 'db-e', 'db-b', 'db-d'];
    const setup = () => build(...instances.map((instanceId, i) => proxyEnabled({ instanceId, ownerId: i % 2 === 0 ? owner.userId : dba.userId })));

    it('pages through them by instanceId', () => {
      const { view } = setup();
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = listProxies(view, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.items.map((p) => p.instanceId));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor !== undefined && pages < 10);
      expect(seen).toEqual(['db-a', 'db-b', 'db-c', 'db-d', 'db-e']);
      expect(pages).toBe(3);
    });

    it('filters by owner', () => {
      const { view } = setup();
      expect(listProxies(view, { ownerId: dba.userId }).items.map((p) => p.instanceId)).toEqual(['db-a', 'db-b']);
      expect(listProxies(view, { ownerId: 'nobody' })).toEqual({ items: [], nextCursor: null });
    });

    it('gives every proxy on one page by default, disabled ones included', () => {
      const { view, store } = setup();
      replay(proxiesProjection, store.record(proxyDisabled({ instanceId: 'db-a' })), view);
      const page = listProxies(view);
      expect(page.nextCursor).toBeNull();
      expect(page.items.map((p) => [p.instanceId, p.status])).toEqual([
        ['db-a', 'disabled'],
        ['db-b', 'enabled'],
        ['db-c', 'enabled'],
        ['db-d', 'enabled'],
        ['db-e', 'enabled'],
      ]);
    });
  });
});
