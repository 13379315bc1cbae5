// The MySQL proxy when the world is not kind: TLS demanded of clients, NATS gone while keys
// expire, and a proxy node cut off for longer than it may vouch for keys.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxyWorld, type ProxyWorld } from '../support/mysql-proxy-world.js';

const messageOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'succeeded', (e: unknown) => (e as Error).message);

describe('a proxy with a TLS certificate', () => {
  let w: ProxyWorld;
  let dir: string;
  let cert: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-tls-'));
    cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', cert], { stdio: 'ignore' });
    w = await startProxyWorld({ proxy: { tls: { cert: readFileSync(cert), key: readFileSync(join(dir, 'key.pem')) } } });
  }, 60_000);
  afterAll(async () => {
    await (w as ProxyWorld | undefined)?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('serves clients over TLS, checked against its certificate', async () => {
    const p = await w.authorize('tess');
    await w.atNode(p);
    expect((await w.mariadb(p, 'SELECT CURRENT_USER()', ['--ssl', `--ssl-ca=${cert}`, '--ssl-verify-server-cert'])).trim()).toBe(`${w.accounts.proxy.username}@%`);
    const c = await w.mysql2(p, { ssl: { ca: readFileSync(cert) } });
    expect((c as unknown as { connection: { stream: unknown } }).connection.stream).toBeInstanceOf(TLSSocket);
    expect((await c.query('SELECT 1 AS one'))[0]).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('refuses a client that will not use TLS', async () => {
    const p = await w.authorize('ursula');
    await w.atNode(p);
    expect(await messageOf(w.mariadb(p, 'SELECT 1', ['--skip-ssl']))).toMatch(/ERROR 1045 .*requires TLS/);
  });
});

describe('a proxy whose NATS goes away', () => {
  let w: ProxyWorld;
  beforeAll(async () => {
    // Long enough that keys expire well before the node turns stale; short enough to wait for.
    w = await startProxyWorld({ node: { stalenessMs: 8000 }, proxy: { staleCheckMs: 200 } });
  }, 60_000);
  afterAll(async () => {
    await (w as ProxyWorld | undefined)?.stop();
  }, 60_000);

  it('refuses an expired key and closes its session with NATS stopped, then fails closed once stale, and recovers', async () => {
    const expiresAt = new Date(Date.now() + 3000).toISOString();
    const expiring = await w.authorize('vera', { policy: { type: 'expire', expiresAt } });
    const lasting = await w.authorize('walt');
    await w.atNode(expiring);
    await w.atNode(lasting);
    const session = await w.mysql2(expiring);
    expect((await session.query('SELECT 1 AS one'))[0]).toEqual([{ one: 1 }]);
    await w.nats.stop();
    await w.until(() => Date.now() > Date.parse(expiresAt) + 100);
    await expect(session.query('SELECT 2')).rejects.toThrow(/stopped being valid \(expired\)/);
    session.destroy();
    expect(await messageOf(w.mariadb(expiring, 'SELECT 1'))).toMatch(/ERROR 1045 .*expired/);
    // Within the staleness bound the node still vouches for the other key.
    expect((await w.mariadb(lasting, 'SELECT 7')).trim()).toBe('7');
    const open = await w.mysql2(lasting);
    // The proxy looks at the node's staleness every staleCheckMs: the session is gone by then.
    await w.until(() => w.node.metrics().stale && w.proxy.counts().open === 0);
    await expect(open.query('SELECT 3')).rejects.toThrow(/lost contact with keyward/);
    open.destroy();
    expect(await messageOf(w.mariadb(lasting, 'SELECT 1'))).toMatch(/ERROR 1045 .*lost contact with keyward/);
    await w.nats.restart();
    await w.until(() => !w.node.metrics().stale);
    expect((await w.mariadb(lasting, 'SELECT 8')).trim()).toBe('8');
  }, 60_000);
});
