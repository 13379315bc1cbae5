// The relay against a real nats-server: KV mirrors the active-key index exactly as API.md
// lays it out, events reach JetStream without sealed values, and nothing ever brings a
// revoked key back.
import * as E from 'fp-ts/lib/Either.js';
import { JSONCodec, type KV } from 'nats';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../domain/index.js';
import { SealingKey, verifiersOf } from '../../src/crypto.js';
import { KEYS_BUCKET, KeyValue, kvKey } from '../../src/keys/kv.js';
import { createLogger } from '../../src/log.js';
import { EVENTS_STREAM, startRelay, type Relay } from '../../src/relay/relay.js';
import type { EventStore } from '../../src/store/types.js';
import { type Keyward, ok, startKeyward } from '../support/keyward.js';
import { withCleanups } from '../support/cleanups.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const admin = { userId: 'ada', role: 'admin' };
const bob = { userId: 'bob', role: 'user' };
const json = JSONCodec();
const silent = createLogger({ level: 'silent' });

const cleanups = withCleanups();

/** The real store, with every live event reaching this subscriber late: a lagging relay. */
const lagging = (store: EventStore, delayMs: number): EventStore => ({
  append: (s, e, x) => store.append(s, e, x),
  readStream: (s, o) => store.readStream(s, o),
  readAll: (o) => store.readAll(o),
  lastPosition: () => store.lastPosition(),
  comparePositions: (a, b) => store.comparePositions(a, b),
  close: () => store.close(),
  subscribe: (o) => {
    const sub = store.subscribe(o);
    return {
      close: () => sub.close(),
      async *[Symbol.asyncIterator]() {
        for await (const e of sub) {
          await new Promise((r) => setTimeout(r, delayMs));
          yield e;
        }
      },
    };
  },
});

interface Setup {
  nats: NatsServer;
  kw: Keyward;
  proxyKey: SealingKey;
  kv: KV;
  relay: (store?: EventStore) => Promise<Relay>;
}

const setup = async (): Promise<Setup> => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const kw = await startKeyward(nats.url);
  cleanups.push(() => kw.stop());
  const proxyKey = SealingKey.generate();
  const relay = async (store: EventStore = kw.ctx.store): Promise<Relay> => {
    const r = startRelay({ store, nc: kw.client, prefix: 'keyward', masterKey: kw.ctx.masterKey, proxyKey, log: silent });
    cleanups.push(() => r.stop());
    await r.ready;
    return r;
  };
  ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'keyward_proxy', password: 'Pr0xy-pass' } }));
  const first = await relay();
  await first.stop();
  const kv = await kw.client.jetstream().views.kv(KEYS_BUCKET);
  return { nats, kw, proxyKey, kv, relay };
};

const valueOf = async (kv: KV, instanceId: string, accessId: unknown): Promise<KeyValue | undefined> => {
  const entry = await kv.get(kvKey(instanceId, String(accessId)));
  if (entry === null) return undefined;
  const decoded = KeyValue.decode(entry.json());
  if (E.isLeft(decoded)) throw new Error(`KV holds a value that is not API.md's: ${JSON.stringify(entry.json())}`);
  return decoded.right;
};

/** Waits until the relay has handled everything the store holds now. */
const settled = async (kw: Keyward, relay: Relay): Promise<void> => {
  let last: string | undefined;
  for await (const e of kw.ctx.store.readAll()) last = e.position;
  for (let i = 0; i < 200 && relay.position() !== last; i++) await new Promise((r) => setTimeout(r, 10));
  await relay.reconcile();
};

describe('the relay', () => {
  it('mirrors each key into KV as API.md lays it out, with the password sealed for proxy nodes', async () => {
    const { kw, kv, proxyKey, relay } = await setup();
    const r = await relay();
    const granted = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }));
    await settled(kw, r);
    const value = await valueOf(kv, 'orders-db', granted.accessId);
    expect(value).toMatchObject({ state: 'active', accessId: granted.accessId, instanceId: 'orders-db', userId: 'bob', notAfter: null });
    if (value?.state !== 'active') throw new Error('not active');
    expect(value.verifiers).toEqual(verifiersOf(new Secret(String(granted.accessSecret))));
    expect(value.databaseAccount.username).toBe('keyward_proxy');
    expect(proxyKey.unseal(value.databaseAccount.passwordSealed).reveal()).toBe('Pr0xy-pass');
    // Least privilege: the master key does not open what proxy nodes get.
    expect(() => kw.ctx.masterKey.unseal(value.databaseAccount.passwordSealed)).toThrow();
  });

  it('rotate revokes the old key and adds the new; revoke revokes; reasons say which', async () => {
    const { kw, kv, relay } = await setup();
    const r = await relay();
    const granted = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }));
    const rotated = ok(await kw.request('cmd.rotate', { actor: bob, instanceId: 'orders-db', userId: 'bob' }));
    await settled(kw, r);
    expect(await valueOf(kv, 'orders-db', granted.accessId)).toMatchObject({ state: 'revoked', reason: 'rotated' });
    expect(await valueOf(kv, 'orders-db', rotated.accessId)).toMatchObject({ state: 'active' });
    ok(await kw.request('cmd.revoke', { actor: bob, instanceId: 'orders-db', userId: 'bob', mode: 'recycle' }));
    await settled(kw, r);
    expect(await valueOf(kv, 'orders-db', rotated.accessId)).toMatchObject({ state: 'revoked', reason: 'recycled' });
  });

  it('publishes every event to JetStream once, by event id, without sealed values', async () => {
    const { kw, relay } = await setup();
    const r = await relay();
    ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', databaseAccount: { username: 'bob_ro', password: 'B0b-pass' }, policy: { type: 'system' } }));
    await settled(kw, r);
    await r.stop();
    const again = await relay(); // a restart publishes nothing twice
    await settled(kw, again);
    const jsm = await kw.client.jetstreamManager();
    const info = await jsm.streams.info(EVENTS_STREAM);
    expect(info.state.messages).toBe(2);
    const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: 2 });
    expect(msg.subject).toBe('keyward.events.orders-db.AccessGranted');
    expect(msg.header.get('Nats-Msg-Id')).toBe((await kw.ctx.store.readStream('grant-orders-db:bob'))[0]?.id);
    const text = new TextDecoder().decode(msg.data);
    expect(text).not.toMatch(/secretSealed|passwordSealed|B0b-pass/);
    expect(JSON.parse(text)).toMatchObject({ type: 'AccessGranted', streamId: 'grant-orders-db:bob', revision: 0, data: { userId: 'bob', databaseAccount: { kind: 'custom', username: 'bob_ro' } } });
  });

  it('on start, reconciles the bucket: a missing key is added, an active key the store never issued is revoked', async () => {
    const { kw, kv, relay } = await setup();
    const granted = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }));
    // No relay ran since the grant, as after a crash between append and publish; and a stray key.
    const stray = { state: 'active', accessId: 'A'.repeat(24), instanceId: 'orders-db', userId: 'mallory', verifiers: verifiersOf(new Secret('x')), databaseAccount: { username: 'root', passwordSealed: SealingKey.generate().seal(new Secret('p')) }, notAfter: null, issuedAt: new Date().toISOString(), position: '1' };
    await kv.put(kvKey('orders-db', stray.accessId), json.encode(stray));
    expect(await valueOf(kv, 'orders-db', granted.accessId)).toBeUndefined();
    await relay();
    expect(await valueOf(kv, 'orders-db', granted.accessId)).toMatchObject({ state: 'active' });
    expect(await valueOf(kv, 'orders-db', stray.accessId)).toMatchObject({ state: 'revoked', reason: 'unknown-to-store' });
  });

  it('two relays at once and a full replay: a watcher that records every KV update never sees a revoked key active again', async () => {
    const { kw, kv, relay } = await setup();
    const seen = new Map<string, string[]>();
    const watch = await kv.watch({ key: 'orders-db.>' });
    cleanups.push(() => {
      watch.stop();
      return Promise.resolve();
    });
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        const state = (e.json<{ state: string }>()).state;
        seen.set(e.key, [...(seen.get(e.key) ?? []), state]);
      }
    })();
    const a = await relay();
    // b sees every change 30 ms after a has written it: its "active" for a new key arrives
    // after a has already revoked that key.
    const b = await relay(lagging(kw.ctx.store, 30));
    for (let i = 0; i < 20; i++) {
      ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: `u${i}`, policy: { type: 'system' } }));
      ok(await kw.request('cmd.rotate', { actor: admin, instanceId: 'orders-db', userId: `u${i}` }));
      if (i % 2 === 0) ok(await kw.request('cmd.revoke', { actor: admin, instanceId: 'orders-db', userId: `u${i}`, mode: 'recycle' }));
    }
    await settled(kw, a);
    await settled(kw, b);
    const replay = await relay(); // from position 0, while the others still run
    await settled(kw, replay);
    await new Promise((r) => setTimeout(r, 200));
    let revoked = 0;
    for (const [key, states] of seen) {
      const first = states.indexOf('revoked');
      if (first === -1) continue;
      revoked++;
      expect({ key, after: states.slice(first) }).toEqual({ key, after: states.slice(first).map(() => 'revoked') });
    }
    expect(revoked).toBe(30);
  }, 60_000);
});
