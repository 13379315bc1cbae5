// The MySQL proxy end to end, with the tools users have: keyward and its relay on a real
// nats-server, a proxy node, the proxy in front of this machine's MariaDB, and the `mariadb`
// command-line client and mysql2 connecting with AccessKey pairs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok } from '../support/keyward.js';
import { ADMIN, INSTANCE, startProxyWorld, type ProxyWorld } from '../support/mysql-proxy-world.js';

let w: ProxyWorld;
beforeAll(async () => {
  w = await startProxyWorld();
}, 60_000);
afterAll(async () => {
  await (w as ProxyWorld | undefined)?.stop();
}, 60_000);

const stderrOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'succeeded', (e: unknown) => (e as Error).message);

describe('the MySQL proxy with the mariadb client', () => {
  it('runs queries for an authorized pair, as the proxy database account', async () => {
    const p = await w.authorize('bob');
    await w.atNode(p);
    const out = await w.mariadb(p, `SELECT CURRENT_USER(); SELECT 6 * 7;`);
    expect(out.trim().split('\n')).toEqual([`${w.accounts.proxy.username}@%`, '42']);
  });

  it('uses a custom database account when the grant has one', async () => {
    const p = await w.authorize('carol', { databaseAccount: w.accounts.custom });
    await w.atNode(p);
    expect((await w.mariadb(p, 'SELECT CURRENT_USER()')).trim()).toBe(`${w.accounts.custom.username}@%`);
  });

  it('refuses a wrong secret, an unknown AccessID and a revoked key with error 1045 saying which', async () => {
    const p = await w.authorize('dave');
    await w.atNode(p);
    expect(await stderrOf(w.mariadb({ ...p, secret: `${p.secret.slice(0, -1)}x` }, 'SELECT 1'))).toMatch(/ERROR 1045 \(28000\).*wrong AccessSecret/);
    expect(await stderrOf(w.mariadb({ accessId: 'A'.repeat(24), secret: p.secret }, 'SELECT 1'))).toMatch(/ERROR 1045 \(28000\).*unknown AccessID/);
    ok(await w.kw.request('cmd.revoke', { actor: ADMIN, instanceId: INSTANCE, userId: 'dave', mode: 'recycle' }));
    await w.atNode(p, false);
    expect(await stderrOf(w.mariadb(p, 'SELECT 1'))).toMatch(/ERROR 1045 \(28000\).*revoked \(recycled\)/);
  });
});

describe('the MySQL proxy with mysql2', () => {
  it('closes an open session when its key is revoked, and only that one', async () => {
    const erin = await w.authorize('erin');
    const frank = await w.authorize('frank');
    await w.atNode(erin);
    await w.atNode(frank);
    const a = await w.mysql2(erin, { database: w.schema });
    const b = await w.mysql2(frank, { database: w.schema });
    expect((await a.query('SELECT 1 AS one'))[0]).toEqual([{ one: 1 }]);
    ok(await w.kw.request('cmd.revoke', { actor: ADMIN, instanceId: INSTANCE, userId: 'erin', mode: 'release' }));
    await w.atNode(erin, false);
    await expect(a.query('SELECT 2')).rejects.toThrow(/AccessKey pair of this session stopped being valid \(released\)/);
    expect((await b.query('SELECT 3 AS three'))[0]).toEqual([{ three: 3 }]);
    await b.end();
    a.destroy();
  });

  it('stops the statement a revoked key was running, in the database too', async () => {
    const p = await w.authorize('jill', { databaseAccount: w.accounts.custom });
    await w.atNode(p);
    const c = await w.mysql2(p);
    const running = c.query('SELECT SLEEP(60) AS slept');
    const sleeping = async (): Promise<number> => {
      const [rows] = await w.root.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE 'SELECT SLEEP%'`, [w.accounts.custom.username]);
      return Number((rows as { n: number }[])[0]?.n);
    };
    while ((await sleeping()) === 0) await new Promise((r) => setTimeout(r, 20));
    ok(await w.kw.request('cmd.revoke', { actor: ADMIN, instanceId: INSTANCE, userId: 'jill', mode: 'recycle' }));
    await expect(running).rejects.toThrow(/stopped being valid \(recycled\)/);
    c.destroy();
    // Gone from MariaDB long before its 60 s, not merely cut off from the client.
    let left = await sleeping();
    for (let i = 0; i < 250 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = await sleeping();
    }
    expect(left).toBe(0);
  });

  it('after a rotation refuses the old pair and accepts the new one', async () => {
    const old = await w.authorize('gina');
    await w.atNode(old);
    const open = await w.mysql2(old);
    const fresh = await w.rotate('gina');
    await w.atNode(fresh);
    await w.atNode(old, false);
    await expect(w.mysql2(old)).rejects.toThrow(/replaced by a rotation/);
    await expect(open.query('SELECT 1')).rejects.toThrow(/stopped being valid \(rotated\)/);
    open.destroy();
    const c = await w.mysql2(fresh);
    expect((await c.query('SELECT 4 AS four'))[0]).toEqual([{ four: 4 }]);
    await c.end();
  });

  it('relays result sets, prepared statements and errors, and records each statement', async () => {
    const p = await w.authorize('hank');
    await w.atNode(p);
    const c = await w.mysql2(p, { database: w.schema });
    await c.query('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))');
    const values = Array.from({ length: 1000 }, (_, i) => [i, `item-${i}`]);
    const [inserted] = await c.query('INSERT INTO items VALUES ?', [values]);
    expect((inserted as { affectedRows: number }).affectedRows).toBe(1000);
    const [rows] = await c.query('SELECT id, name FROM items ORDER BY id');
    expect(rows).toHaveLength(1000);
    const [prepared] = await c.execute('SELECT name FROM items WHERE id = ?', [7]);
    expect(prepared).toEqual([{ name: 'item-7' }]);
    await expect(c.query('SELEC nonsense')).rejects.toThrow(/You have an error in your SQL syntax/);
    expect((await c.query('SELECT 5 AS five'))[0]).toEqual([{ five: 5 }]);
    await c.end();
    const mine = w.records.filter((r) => r.accessId === p.accessId && r.kind === 'statement');
    expect(mine.find((r) => r.kind === 'statement' && r.statement === 'SELECT id, name FROM items ORDER BY id')).toMatchObject({ rows: 1000, error: null, userId: 'hank', instanceId: INSTANCE, via: 'mysql' });
    expect(mine.find((r) => r.kind === 'statement' && r.command === 'execute')).toMatchObject({ statement: 'SELECT name FROM items WHERE id = ?', rows: 1 });
    expect(mine.find((r) => r.kind === 'statement' && r.statement === 'SELEC nonsense')).toMatchObject({ error: { code: 1064 } });
  });

  it('never lets a client change to another database user', async () => {
    const p = await w.authorize('ivan');
    await w.atNode(p);
    const c = await w.mysql2(p);
    await expect(c.changeUser({ user: 'root', password: '' })).rejects.toThrow(/not available through the keyward proxy/);
    c.destroy();
  });

  it('records no secret anywhere', () => {
    const text = JSON.stringify(w.records);
    for (const s of w.secrets) expect(text).not.toContain(s);
  });
});
