// The proxy-node SDK against a real nats-server: the test writes KV values as the relay would
// (the codecs of src/keys/kv.ts, passwords really sealed under a proxy key, verifiers from
// real AccessSecrets) and checks what a proxy would see.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type KV, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../domain/index.js';
import { issueKey, SealingKey } from '../../src/crypto.js';
import { KEYS_BUCKET, KeyValue, kvKey, type ActiveKeyValue } from '../../src/keys/kv.js';
import { createLogger } from '../../src/log.js';
import { enforcementSubject, Refusal, startProxyNode, type EnforcementReport, type Invalidated, type ProxyNode, type ProxyNodeOptions } from '../../src/proxy-node/index.js';
import { runCli } from '../support/cli.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const INSTANCE = 'orders-db';
const OTHER = 'billing-db';
const masterKey = SealingKey.generate();
const proxyKey = SealingKey.generate();

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  // Last started, first stopped: nodes before the connection before the server.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface World {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  kv(): Promise<KV>;
  node(options?: Partial<ProxyNodeOptions>): ProxyNode;
}

const world = async (): Promise<World> => {
  const server = await startNatsServer();
  cleanups.push(() => server.dispose());
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  cleanups.push(() => nc.close());
  return {
    server,
    nc,
    // As the relay makes it: history 1, so a key's value is only ever its latest.
    kv: () => nc.jetstream().views.kv(KEYS_BUCKET, { history: 1 }),
    node: (options = {}) => {
      const node = startProxyNode({ instances: [INSTANCE], proxyKey, servers: server.url, ...options });
      cleanups.push(() => node.close());
      return node;
    },
  };
};

interface Issued {
  readonly value: ActiveKeyValue;
  readonly secret: Secret;
  readonly password: string;
}

const issue = (userId: string, options: { instanceId?: string; notAfter?: string | null } = {}): Issued => {
  const { key, secret } = issueKey(masterKey);
  const password = `db-pw-${randomUUID()}`;
  const value: ActiveKeyValue = {
    state: 'active',
    accessId: key.accessId,
    instanceId: options.instanceId ?? INSTANCE,
    userId,
    verifiers: key.verifiers,
    databaseAccount: { username: `app_${userId}`, passwordSealed: proxyKey.seal(new Secret(password)) },
    notAfter: options.notAfter ?? null,
    issuedAt: new Date().toISOString(),
    position: '1',
  };
  return { value, secret, password };
};

const put = (kv: KV, value: KeyValue): Promise<number> => kv.put(kvKey(value.instanceId, value.accessId), JSON.stringify(KeyValue.encode(value)));

const revoke = (kv: KV, { value }: Issued, reason: string): Promise<number> =>
  put(kv, { state: 'revoked', accessId: value.accessId, instanceId: value.instanceId, reason, at: new Date().toISOString(), userId: value.userId, position: '2' });

const eventually = async (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
};

const reasonOf = (r: ReturnType<ProxyNode['verify']>): string => (r.ok ? 'ok' : r.reason);

const invalidations = (node: ProxyNode): Invalidated[] => {
  const seen: Invalidated[] = [];
  node.onInvalidated((e) => seen.push(e));
  return seen;
};

/** What a MySQL client sends for mysql_native_password: SHA1(p) XOR SHA1(salt + SHA1(SHA1(p))). */
const mysqlClientScramble = (password: string, salt: Buffer): Buffer => {
  const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const mask = sha1(Buffer.concat([salt, sha1(stage1)]));
  return Buffer.from(stage1.map((byte, i) => byte ^ (mask[i] ?? 0)));
};

describe('a proxy node', () => {
  describe('when a key is active', () => {
    it('accepts the AccessKey pair with its user and the database account, password unsealed', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node();
      await node.ready;

      const result = node.verify(INSTANCE, alice.value.accessId, alice.secret);
      expect(result).toMatchObject({ ok: true, instanceId: INSTANCE, accessId: alice.value.accessId, userId: 'alice', databaseAccount: { username: 'app_alice' } });
      if (!result.ok) return;
      expect(result.databaseAccount.password.reveal()).toBe(alice.password);
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret.reveal()))).toBe('ok');
      // A result can be logged: neither the secret nor the password prints.
      expect(JSON.stringify(result)).not.toContain(alice.password);
      expect(JSON.stringify(result)).not.toContain(alice.secret.reveal());
    });

    it('refuses a wrong secret, an unknown AccessID and an instance it does not serve', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      const elsewhere = issue('bob', { instanceId: OTHER });
      await put(kv, alice.value);
      await put(kv, elsewhere.value);
      const node = w.node();
      await node.ready;

      expect(node.verify(INSTANCE, alice.value.accessId, `${alice.secret.reveal().slice(0, -1)}x`)).toEqual({ ok: false, reason: Refusal.WRONG_SECRET });
      expect(node.verify(INSTANCE, issue('carol').value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.UNKNOWN_KEY });
      expect(node.verify(OTHER, elsewhere.value.accessId, elsewhere.secret)).toEqual({ ok: false, reason: Refusal.INSTANCE_NOT_SERVED });
      expect(node.metrics().verifications).toMatchObject({ ok: 0, 'wrong-secret': 1, 'unknown-key': 1, 'instance-not-served': 1 });
    });

    it('checks a mysql_native_password handshake without the secret', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node();
      await node.ready;

      const salt = randomBytes(20);
      const scramble = mysqlClientScramble(alice.secret.reveal(), salt);
      expect(node.verifyMysqlNative(INSTANCE, alice.value.accessId, salt, scramble)).toMatchObject({ ok: true, userId: 'alice' });
      expect(reasonOf(node.verifyMysqlNative(INSTANCE, alice.value.accessId, randomBytes(20), scramble))).toBe(Refusal.WRONG_SECRET);
      expect(reasonOf(node.verifyMysqlNative(INSTANCE, alice.value.accessId, salt, mysqlClientScramble('not-the-secret', salt)))).toBe(Refusal.WRONG_SECRET);
      expect(reasonOf(node.verifyMysqlNative(INSTANCE, alice.value.accessId, salt, Buffer.alloc(0)))).toBe(Refusal.WRONG_SECRET);
    });

    it('forgets it when its value is deleted from KV, and emits invalidated', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node();
      await node.ready;
      const seen = invalidations(node);

      await kv.delete(kvKey(INSTANCE, alice.value.accessId));
      await eventually(() => reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret)) === Refusal.UNKNOWN_KEY, 'the delete applied');
      expect(seen.map((e) => e.reason)).toEqual(['deleted']);
    });

    it('serves every instance when asked to', async () => {
      const w = await world();
      const kv = await w.kv();
      const a = issue('alice');
      const b = issue('bob', { instanceId: OTHER });
      await put(kv, a.value);
      await put(kv, b.value);
      const node = w.node({ instances: 'all' });
      await node.ready;
      expect([reasonOf(node.verify(INSTANCE, a.value.accessId, a.secret)), reasonOf(node.verify(OTHER, b.value.accessId, b.secret))]).toEqual(['ok', 'ok']);
    });
  });

  describe('when a key is revoked', () => {
    it('refuses it from the next verification on, says why, and emits invalidated', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node();
      await node.ready;
      const seen = invalidations(node);
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe('ok');

      await revoke(kv, alice, 'recycled');
      await eventually(() => reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret)) === Refusal.REVOKED, 'the revocation applied');
      expect(node.verify(INSTANCE, alice.value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.REVOKED, revokedReason: 'recycled' });
      expect(seen).toEqual([{ instanceId: INSTANCE, accessId: alice.value.accessId, userId: 'alice', reason: 'recycled' }]);
    });

    it('ignores a later active value for that AccessID (a lagging writer), and counts it', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node();
      await node.ready;
      await revoke(kv, alice, 'rotated');
      await eventually(() => reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret)) === Refusal.REVOKED, 'the revocation applied');

      await put(kv, alice.value);
      await eventually(() => node.metrics().ignoredAfterRevoke === 1, 'the late active value seen');
      expect(node.verify(INSTANCE, alice.value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.REVOKED, revokedReason: 'rotated' });
    });

    it('is never accepted by a node started after the revocation', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      await revoke(kv, alice, 'released');
      const node = w.node();
      await node.ready;
      expect(node.verify(INSTANCE, alice.value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.REVOKED, revokedReason: 'released' });

      await put(kv, alice.value);
      await eventually(() => node.metrics().ignoredAfterRevoke === 1, 'the late active value seen');
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe(Refusal.REVOKED);
    });

    it('keeps refusing it after its value is deleted from KV', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node();
      await node.ready;
      await revoke(kv, alice, 'recycled');
      await kv.delete(kvKey(INSTANCE, alice.value.accessId));
      await put(kv, alice.value);
      await eventually(() => node.metrics().ignoredAfterRevoke === 1, 'the late active value seen');
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe(Refusal.REVOKED);
    });

    it('reports that it applied the revocation on its enforcement subject', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const reports: EnforcementReport[] = [];
      const sub = w.nc.subscribe(enforcementSubject('keyward', 'node-a'), {
        callback: (_e, msg) => reports.push(JSON.parse(new TextDecoder().decode(msg.data)) as EnforcementReport),
      });
      await w.nc.flush();
      cleanups.push(() => sub.drain());
      const node = w.node({ nodeId: 'node-a', heartbeatMs: 200 });
      await node.ready;

      const revision = await revoke(kv, alice, 'recycled');
      await eventually(() => reports.some((r) => r.kind === 'applied'), 'an applied report');
      expect(reports.find((r) => r.kind === 'applied')).toEqual({
        kind: 'applied',
        nodeId: 'node-a',
        instanceId: INSTANCE,
        accessId: alice.value.accessId,
        state: 'revoked',
        kvRevision: revision,
        appliedAt: expect.stringMatching(/Z$/) as unknown,
      });
      await eventually(() => reports.filter((r) => r.kind === 'heartbeat').length >= 2, 'heartbeats');
      expect(reports.filter((r) => r.kind === 'heartbeat').at(-1)).toMatchObject({
        nodeId: 'node-a',
        instances: [INSTANCE],
        keys: 1,
        ready: true,
        stale: false,
        kvRevisions: { [`${INSTANCE}.>`]: revision },
      });
    });

    it('never logs a secret or a password', async () => {
      const lines: string[] = [];
      const destination = new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString('utf8')); done(); } });
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      await put(kv, alice.value);
      const node = w.node({ logger: createLogger({ level: 'trace', destination }) });
      await node.ready;
      node.verify(INSTANCE, alice.value.accessId, alice.secret);
      node.verify(INSTANCE, alice.value.accessId, 'wrong');
      await revoke(kv, alice, 'recycled');
      await eventually(() => lines.some((l) => l.includes('invalidated')), 'the invalidation logged');
      const logged = lines.join('');
      expect(logged).toContain(alice.value.accessId);
      expect(logged).not.toContain(alice.secret.reveal());
      expect(logged).not.toContain(alice.password);
      expect(logged).not.toContain(alice.value.databaseAccount.passwordSealed);
    });
  });

  describe('when a key has a notAfter', () => {
    it('refuses it once the time has passed and emits invalidated, even with NATS gone', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice', { notAfter: new Date(Date.now() + 2500).toISOString() });
      await put(kv, alice.value);
      const node = w.node({ stalenessMs: 60_000 });
      await node.ready;
      const seen = invalidations(node);
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe('ok');

      await w.server.stop();
      await eventually(() => seen.length > 0, 'invalidated on expiry', 5000);
      expect(seen).toEqual([{ instanceId: INSTANCE, accessId: alice.value.accessId, userId: 'alice', reason: 'expired' }]);
      expect(node.verify(INSTANCE, alice.value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.EXPIRED });
    });

    it('judges it by the injected clock', async () => {
      const w = await world();
      const kv = await w.kv();
      let now = Date.parse('2030-01-01T00:00:00.000Z');
      const alice = issue('alice', { notAfter: '2030-01-01T00:00:10.000Z' });
      await put(kv, alice.value);
      const node = w.node({ clock: () => now });
      await node.ready;
      const seen = invalidations(node);
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe('ok');

      now += 10_000;
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe(Refusal.EXPIRED);
      expect(seen.map((e) => e.reason)).toEqual(['expired']);
    });
  });

  describe('fails closed', () => {
    it('answers not-ready until the first load is done (here: until the bucket exists)', async () => {
      const w = await world();
      const node = w.node();
      let ready = false;
      void node.ready.then(() => { ready = true; });
      const alice = issue('alice');
      await sleep(500);
      expect(ready).toBe(false);
      expect(node.verify(INSTANCE, alice.value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.NOT_READY });

      await put(await w.kv(), alice.value);
      await node.ready;
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe('ok');
    });

    it('answers stale after losing NATS past the bound, and catches up after a restart', { timeout: 30_000 }, async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      const bob = issue('bob');
      await put(kv, alice.value);
      await put(kv, bob.value);
      // The real clock, moved on by hand: "within the bound" must not depend on how fast this runs.
      let skew = 0;
      const node = w.node({ stalenessMs: 500, clock: () => Date.now() + skew });
      await node.ready;

      await w.server.stop();
      await eventually(() => !node.metrics().connected, 'the loss noticed');
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe('ok');
      skew = 600;
      expect(node.verify(INSTANCE, alice.value.accessId, alice.secret)).toEqual({ ok: false, reason: Refusal.STALE });
      expect(node.metrics().stale).toBe(true);

      await w.server.restart();
      await eventually(() => reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret)) === 'ok', 'fresh again', 20_000);
      expect(node.metrics().resyncs).toBeGreaterThanOrEqual(2);

      // Following KV again: a revocation after the restart reaches it. A fresh writer: a
      // request the old connection buffered while the server was down can time out.
      const writer = await connect({ servers: w.server.url });
      cleanups.push(() => writer.close());
      await revoke(await writer.jetstream().views.kv(KEYS_BUCKET, { bindOnly: true }), bob, 'recycled');
      await eventually(() => reasonOf(node.verify(INSTANCE, bob.value.accessId, bob.secret)) === Refusal.REVOKED, 'the revocation after the restart');
    });

    it('refuses a value that does not decode, and one whose password does not open with its key', async () => {
      const w = await world();
      const kv = await w.kv();
      const alice = issue('alice');
      const stranger = issue('sam');
      await kv.put(kvKey(INSTANCE, alice.value.accessId), '{"state":"active"}');
      await put(kv, { ...stranger.value, databaseAccount: { username: 'x', passwordSealed: SealingKey.generate().seal(new Secret('pw')) } });
      const node = w.node();
      await node.ready;
      expect(reasonOf(node.verify(INSTANCE, alice.value.accessId, alice.secret))).toBe(Refusal.UNUSABLE_VALUE);
      expect(reasonOf(node.verify(INSTANCE, stranger.value.accessId, stranger.secret))).toBe(Refusal.UNUSABLE_VALUE);
      expect(node.metrics().unusableValues).toBe(2);
    });
  });
});

describe('keyward proxy-node', () => {
  it('exits 2 with one line when KEYWARD_PROXY_KEY is missing', async () => {
    const run = await runCli(['proxy-node', '--instance', INSTANCE]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('KEYWARD_PROXY_KEY');
  });

  it('says when it is ready, answers stdin lines, prints invalidations, stops on SIGTERM', { timeout: 30_000 }, async () => {
    const w = await world();
    const kv = await w.kv();
    const alice = issue('alice');
    await put(kv, alice.value);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'proxy-node', '--instance', INSTANCE, '--nats', w.server.url, '--node-id', 'cli-node'], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, KEYWARD_PROXY_KEY: proxyKey.exportBase64() },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => { child.kill('SIGKILL'); await exited; });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));

    await eventually(() => lines.includes('proxy-node ready'), 'proxy-node ready', 20_000);
    child.stdin.write(`${INSTANCE} ${alice.value.accessId} ${alice.secret.reveal()}\n`);
    child.stdin.write(`${INSTANCE} ${alice.value.accessId} wrong\n`);
    await eventually(() => lines.length >= 3, 'two answers');
    expect(lines.slice(1, 3).map((l) => JSON.parse(l) as unknown)).toEqual([
      { kind: 'verify', instanceId: INSTANCE, accessId: alice.value.accessId, ok: true, userId: 'alice', username: 'app_alice' },
      { kind: 'verify', instanceId: INSTANCE, accessId: alice.value.accessId, ok: false, reason: 'wrong-secret' },
    ]);

    await revoke(kv, alice, 'recycled');
    await eventually(() => lines.some((l) => l.includes('"invalidated"')), 'the invalidation printed');
    expect(JSON.parse(lines.find((l) => l.includes('"invalidated"')) ?? '{}')).toEqual({ kind: 'invalidated', instanceId: INSTANCE, accessId: alice.value.accessId, userId: 'alice', reason: 'recycled' });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const printed = lines.join('\n') + stderr;
    expect(printed).not.toContain(alice.secret.reveal());
    expect(printed).not.toContain(alice.password);
  });
});
