// The MySQL proxy's HTTPS SQL endpoint against real servers only: a nats-server, a proxy node
// reading KV values written as the relay writes them (passwords really sealed, verifiers from
// real AccessSecrets), this machine's MariaDB on 127.0.0.1:3306 with an account of the test's
// own, and a self-signed certificate made by openssl.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { connect, type KV } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../domain/index.js';
import { issueKey, SealingKey } from '../../src/crypto.js';
import { KEYS_BUCKET, KeyValue, kvKey, type ActiveKeyValue } from '../../src/keys/kv.js';
import { createLogger } from '../../src/log.js';
import type { SqlAuditInput, SqlAuditLog } from '../../src/mysql-proxy/audit-log.js';
import { BODY_LIMIT, startSqlEndpoint, type SqlEndpoint, type SqlEndpointOptions } from '../../src/mysql-proxy/http-sql.js';
import { startProxyNode, type ProxyNode } from '../../src/proxy-node/index.js';
import { freePort, startNatsServer, type NatsServer } from '../support/nats-server.js';

const run = promisify(execFile);
const INSTANCE = 'shop-db';
const MARIADB = { host: '127.0.0.1', port: 3306 };
const masterKey = SealingKey.generate();
const proxyKey = SealingKey.generate();

const suffix = randomBytes(4).toString('hex');
const SCHEMA = `kw_https_${suffix}`;
const DB_USER = `kw_https_${suffix}`;
const DB_PASSWORD = `Db-${randomBytes(12).toString('base64url')}`;

/** Every AccessSecret and database password the test made: no output may contain one. */
const secrets: string[] = [DB_PASSWORD];
/** Everything the endpoints wrote: replies (raw), log lines and audit records. */
const replies: string[] = [];
const lines: string[] = [];
const records: SqlAuditInput[] = [];

const audit: SqlAuditLog = {
  record: (input) => { records.push(input); },
  counts: () => ({ published: records.length, failed: 0 }),
  flush: () => undefined,
};
const log = createLogger({
  level: 'trace',
  destination: new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString('utf8')); done(); } }),
});

const cleanups: (() => Promise<unknown>)[] = [];
let nats: NatsServer;
let kv: KV;
let node: ProxyNode;
let root: mysql.Connection;
let cert: Buffer;
let key: Buffer;
let endpoint: SqlEndpoint;

const start = async (options: Partial<SqlEndpointOptions> = {}): Promise<SqlEndpoint> => {
  const started = await startSqlEndpoint({ node, instanceId: INSTANCE, database: MARIADB, listen: { host: '127.0.0.1', port: 0 }, tls: { cert, key }, audit, log, ...options });
  cleanups.push(() => started.close());
  return started;
};

beforeAll(async () => {
  root = await mysql.createConnection({ ...MARIADB, user: 'root', password: '' });
  cleanups.push(() => root.end());
  cleanups.push(async () => {
    await root.query(`DROP DATABASE IF EXISTS ${SCHEMA}`);
    await root.query(`DROP USER IF EXISTS ?@'%'`, [DB_USER]);
  });
  await root.query(`CREATE DATABASE ${SCHEMA}`);
  await root.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [DB_USER, DB_PASSWORD]);
  await root.query(`GRANT ALL ON ${SCHEMA}.* TO ?@'%'`, [DB_USER]);

  const dir = await mkdtemp(join(tmpdir(), 'keyward-https-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  [cert, key] = await Promise.all([readFile(join(dir, 'cert.pem')), readFile(join(dir, 'key.pem'))]);

  nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  cleanups.push(() => nc.close());
  // As the relay makes it: history 1, so a key's value is only ever its latest.
  kv = await nc.jetstream().views.kv(KEYS_BUCKET, { history: 1 });
  node = startProxyNode({ instances: [INSTANCE], proxyKey, servers: nats.url });
  cleanups.push(() => node.close());
  await node.ready;
  endpoint = await start();
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

// ---- keys, written to KV as the relay writes them ----

interface Pair {
  readonly value: ActiveKeyValue;
  readonly accessId: string;
  readonly secret: string;
}

const eventually = async (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
};

const put = (value: KeyValue): Promise<number> => kv.put(kvKey(value.instanceId, value.accessId), JSON.stringify(KeyValue.encode(value)));

/** An active key for `userId` on the test's database account, once the node has it. */
const issue = async (userId: string, account: { username: string; password: string } = { username: DB_USER, password: DB_PASSWORD }): Promise<Pair> => {
  const { key: issued, secret } = issueKey(masterKey);
  secrets.push(secret.reveal(), account.password);
  const value: ActiveKeyValue = {
    state: 'active',
    accessId: issued.accessId,
    instanceId: INSTANCE,
    userId,
    verifiers: issued.verifiers,
    databaseAccount: { username: account.username, passwordSealed: proxyKey.seal(new Secret(account.password)) },
    notAfter: null,
    issuedAt: new Date().toISOString(),
    position: '1',
  };
  await put(value);
  await eventually(() => node.verify(INSTANCE, issued.accessId, secret).ok, 'the key at the node');
  return { value, accessId: issued.accessId, secret: secret.reveal() };
};

const revoke = async (pair: Pair, reason: string): Promise<void> => {
  await put({ state: 'revoked', accessId: pair.accessId, instanceId: INSTANCE, reason, at: new Date().toISOString(), userId: pair.value.userId, position: '2' });
};

// ---- requests, as a client sends them ----

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

interface Call {
  readonly path?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** Sent as it is when a string, as JSON otherwise. */
  readonly body?: unknown;
  readonly port?: number;
  readonly plain?: boolean;
  /** Without a content-length: the body goes in chunks, its size unknown until the end. */
  readonly chunked?: boolean;
}

const call = (c: Call): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const payload = c.body === undefined ? '' : typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
    const options: RequestOptions = {
      host: '127.0.0.1',
      port: c.port ?? endpoint.port,
      path: c.path ?? '/v1/sql',
      method: c.method ?? 'POST',
      headers: { 'content-type': 'application/json', ...(c.chunked === true ? {} : { 'content-length': String(Buffer.byteLength(payload)) }), ...c.headers },
      agent: false,
    };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      let raw = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { raw += chunk; });
      res.on('end', () => {
        replies.push(raw);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(raw) as unknown });
      });
    };
    const req = c.plain === true ? httpRequest(options, onResponse) : httpsRequest({ ...options, ca: cert }, onResponse);
    req.on('error', reject);
    if (c.chunked === true) req.write(payload.slice(0, 1000));
    req.end(c.chunked === true ? payload.slice(1000) : payload);
  });

const pairHeaders = (p: { accessId: string; secret: string }): Record<string, string> => ({ 'x-keyward-access-id': p.accessId, 'x-keyward-access-secret': p.secret });

const sql = (p: { accessId: string; secret: string }, statement: string, more: Record<string, unknown> = {}, c: Call = {}): Promise<Answer> =>
  call({ ...c, headers: pairHeaders(p), body: { sql: statement, ...more } });

const sessionsOf = (accessId: string): string[] => [...new Set(records.filter((r) => r.accessId === accessId).map((r) => r.session))];


describe('the SQL endpoint of the MySQL proxy', () => {
  it('runs a statement as the grant\'s database account and answers columns and rows', async () => {
    const alice = await issue('alice');
    const answer = await sql(alice, 'SELECT 1 AS one, CURRENT_USER() AS who');
    expect(answer).toMatchObject({ status: 200, body: { columns: ['one', 'who'], rows: [[1, `${DB_USER}@%`]] } });
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['cache-control']).toBe('no-store');

    const [session] = sessionsOf(alice.accessId);
    const who = { instanceId: INSTANCE, accessId: alice.accessId, userId: 'alice', nodeId: node.nodeId, session, via: 'https', client: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown };
    expect(records.filter((r) => r.accessId === alice.accessId)).toEqual([
      { kind: 'login', ok: true, databaseUser: DB_USER, ...who },
      { kind: 'statement', command: 'query', statement: 'SELECT 1 AS one, CURRENT_USER() AS who', truncated: false, rows: 1, durationMs: expect.any(Number) as unknown, error: null, ...who },
    ]);
  });

  it('answers affectedRows and insertId, uses the database the body names, and sends bytes as base64', async () => {
    const bob = await issue('bob');
    const inSchema = { database: SCHEMA };
    expect((await sql(bob, 'SELECT DATABASE() AS db')).body).toEqual({ columns: ['db'], rows: [[null]] });
    expect((await sql(bob, 'SELECT DATABASE() AS db', inSchema)).body).toEqual({ columns: ['db'], rows: [[SCHEMA]] });
    expect(await sql(bob, 'CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), tag VARBINARY(4), n BIGINT, at DATETIME)', inSchema)).toMatchObject({ status: 200, body: { affectedRows: 0, insertId: 0 } });
    expect(await sql(bob, "INSERT INTO items (name, tag, n, at) VALUES ('pen', x'00ff', 9007199254740993, '2030-01-02 03:04:05'), ('ink', NULL, NULL, NULL)", inSchema)).toMatchObject({
      status: 200,
      body: { affectedRows: 2, insertId: 1 },
    });
    expect((await sql(bob, 'SELECT name, tag, n, at FROM items ORDER BY id', inSchema)).body).toEqual({
      columns: ['name', 'tag', 'n', 'at'],
      rows: [['pen', 'AP8=', '9007199254740993', '2030-01-02 03:04:05'], ['ink', null, null, null]],
    });
    const statements = records.filter((r) => r.accessId === bob.accessId && r.kind === 'statement');
    expect(statements.map((r) => (r.kind === 'statement' ? r.rows : -1))).toEqual([1, 1, 0, 2, 2]);
  });

  it('refuses a wrong secret, an unknown AccessID and a revoked pair with 401, says why, and opens no database connection', async () => {
    const carol = await issue('carol');
    const before = endpoint.counts();
    const wrong = await sql({ accessId: carol.accessId, secret: `${carol.secret.slice(0, -1)}x` }, 'SELECT 1');
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'ACCESS_DENIED', reason: 'wrong-secret', message: expect.stringContaining('wrong AccessSecret') as unknown } } });
    const unknown = await sql({ accessId: 'A'.repeat(24), secret: carol.secret }, 'SELECT 1');
    expect(unknown).toMatchObject({ status: 401, body: { error: { code: 'ACCESS_DENIED', reason: 'unknown-key', message: 'unknown AccessID' } } });

    await revoke(carol, 'recycled');
    await eventually(() => !node.verify(INSTANCE, carol.accessId, carol.secret).ok, 'the revocation at the node');
    const revoked = await sql(carol, 'SELECT 1');
    expect(revoked).toMatchObject({ status: 401, body: { error: { code: 'ACCESS_DENIED', reason: 'revoked', revokedReason: 'recycled', message: 'this AccessKey pair was revoked (recycled)' } } });

    const mine = records.filter((r) => r.accessId === carol.accessId || r.accessId === 'A'.repeat(24));
    expect(mine.map((r) => (r.kind === 'login' && !r.ok ? r.reason : r.kind))).toEqual(['wrong-secret', 'unknown-key', 'revoked: recycled']);
    expect(mine.every((r) => r.userId === null)).toBe(true);
    const after = endpoint.counts();
    expect(after.statements).toBe(before.statements);
    expect(after.refused['wrong-secret']).toBe((before.refused['wrong-secret'] ?? 0) + 1);
  });

  it('refuses bad requests before the pair is checked: 400, 404, 405, 413, 415', async () => {
    const dave = await issue('dave');
    const pair = pairHeaders(dave);
    const recorded = records.length;
    const before = endpoint.counts();
    const cases: [Call, number, string][] = [
      [{ body: { sql: 'SELECT 1' } }, 400, 'X-Keyward-Access-Id'],
      [{ headers: { 'x-keyward-access-id': dave.accessId }, body: { sql: 'SELECT 1' } }, 400, 'X-Keyward-Access-Secret'],
      [{ headers: pair, body: '{"sql": "SELECT 1"' }, 400, 'not valid JSON'],
      [{ headers: pair, body: '["SELECT 1"]' }, 400, 'JSON object'],
      [{ headers: pair, body: { sql: 'SELECT 1', 'field-marker': 'value-marker' } }, 400, 'only "sql" and "database"'],
      [{ headers: pair, body: { sql: '' } }, 400, '"sql" must be a non-empty string'],
      [{ headers: pair, body: { sql: 42 } }, 400, '"sql" must be a non-empty string'],
      [{ headers: pair, body: { sql: 'SELECT 1', database: 'x'.repeat(65) } }, 400, '"database"'],
      [{ headers: pair, body: { sql: `SELECT '${'x'.repeat(BODY_LIMIT)}'` } }, 413, `at most ${BODY_LIMIT} bytes`],
      [{ headers: pair, body: { sql: `SELECT '${'x'.repeat(BODY_LIMIT)}'` }, chunked: true }, 413, `at most ${BODY_LIMIT} bytes`],
      [{ headers: { ...pair, 'content-type': 'text/plain' }, body: { sql: 'SELECT 1' } }, 415, 'application/json'],
      [{ headers: pair, method: 'GET' }, 405, 'POST'],
      [{ headers: pair, path: '/v1/other', body: { sql: 'SELECT 1' } }, 404, '/v1/sql'],
    ];
    for (const [c, status, says] of cases) {
      const answer = await call(c);
      expect({ status: answer.status, body: answer.body }).toEqual({ status, body: { error: { code: expect.any(String) as unknown, message: expect.stringContaining(says) as unknown } } });
      expect(answer.headers['cache-control']).toBe('no-store');
      if (status === 405) expect(answer.headers.allow).toBe('POST');
    }
    // Nothing submitted is quoted back.
    expect(replies.slice(-cases.length).join('\n')).not.toMatch(/marker|SELECT/);
    expect(records).toHaveLength(recorded);
    expect(endpoint.counts()).toMatchObject({ requests: before.requests + cases.length, statements: before.statements });
  });

  it('answers a MariaDB error with 400, its code, state and message, and records it', async () => {
    const erin = await issue('erin');
    const answer = await sql(erin, 'SELEC 1');
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'SQL', sqlCode: 1064, sqlState: '42000', message: expect.stringContaining('SQL syntax') as unknown } } });
    // One statement per request: a second one is a syntax error, as MariaDB sees it.
    expect(await sql(erin, 'SELECT 1; SELECT 2')).toMatchObject({ status: 400, body: { error: { sqlCode: 1064 } } });
    expect(await sql(erin, 'SELECT 1', { database: 'kw_no_such_schema' })).toMatchObject({ status: 400, body: { error: { code: 'SQL', sqlCode: 1044 } } });
    const statement = records.find((r) => r.accessId === erin.accessId && r.kind === 'statement');
    expect(statement).toMatchObject({ statement: 'SELEC 1', rows: 0, error: { code: 1064, message: expect.stringContaining('SQL syntax') as unknown } });
  });

  it('answers 503 when MariaDB cannot be reached', async () => {
    const frank = await issue('frank');
    const nowhere = await start({ database: { host: '127.0.0.1', port: await freePort() } });
    const answer = await sql(frank, 'SELECT 1', {}, { port: nowhere.port });
    expect(answer).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the database cannot be reached' } } });
    expect(records.filter((r) => r.accessId === frank.accessId).map((r) => r.kind)).toEqual(['login', 'statement']);
    expect(records.find((r) => r.accessId === frank.accessId && r.kind === 'statement')).toMatchObject({ error: { code: 2003 } });
  });

  it('answers 503 while the proxy node has not loaded its keys', async () => {
    // A NATS server without the keys bucket: the node never finishes its first load.
    const empty = await startNatsServer();
    cleanups.push(() => empty.dispose());
    const waiting = startProxyNode({ instances: [INSTANCE], proxyKey, servers: empty.url });
    cleanups.push(() => waiting.close().catch(() => undefined));
    const unready = await start({ node: waiting });
    const grace = await issue('grace');
    expect(await sql(grace, 'SELECT 1', {}, { port: unready.port })).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE', reason: 'not-ready' } } });
  });

  it('tells MariaDB\'s refusal of the database account without its password', async () => {
    const wrongPassword = `Wrong-${randomBytes(9).toString('base64url')}`;
    const heidi = await issue('heidi', { username: DB_USER, password: wrongPassword });
    const answer = await sql(heidi, 'SELECT 1');
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'SQL', sqlCode: 1045, message: expect.stringContaining(DB_USER) as unknown } } });
    expect(JSON.stringify(answer.body)).not.toContain(wrongPassword);
  });

  it('cuts a running statement when its pair is revoked, stops it in the database, and answers 401 with the reason', async () => {
    const ivan = await issue('ivan');
    const began = performance.now();
    const pending = sql(ivan, 'SELECT SLEEP(30)');
    const running = async (): Promise<boolean> => {
      const [rows] = await root.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO = 'SELECT SLEEP(30)'`, [DB_USER]);
      return Number(rows[0]?.n) > 0;
    };
    while (!(await running())) await sleep(20);

    await revoke(ivan, 'recycled');
    const answer = await pending;
    expect(performance.now() - began).toBeLessThan(30_000);
    expect(answer).toMatchObject({
      status: 401,
      body: { error: { code: 'ACCESS_DENIED', reason: 'recycled', message: 'the AccessKey pair stopped being valid during the statement: recycled' } },
    });
    expect(records.find((r) => r.accessId === ivan.accessId && r.kind === 'statement')).toMatchObject({ statement: 'SELECT SLEEP(30)', error: { code: 1927 } });
    // Stopped in MariaDB too, not merely cut off from the proxy.
    let still = await running();
    for (let i = 0; i < 250 && still; i++) {
      await sleep(20);
      still = await running();
    }
    expect(still).toBe(false);
    expect(endpoint.counts().refused.invalidated).toBeGreaterThanOrEqual(1);
  });

  it('cuts the statement of a client that went away', async () => {
    const lena = await issue('lena');
    const req = httpsRequest({ host: '127.0.0.1', port: endpoint.port, path: '/v1/sql', method: 'POST', ca: cert, agent: false, headers: { 'content-type': 'application/json', ...pairHeaders(lena) } });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ sql: 'SELECT SLEEP(5)' }));
    await eventually(() => records.some((r) => r.accessId === lena.accessId && r.kind === 'login'), 'the statement started');
    req.destroy();
    await eventually(() => records.some((r) => r.accessId === lena.accessId && r.kind === 'statement'), 'the statement cut', 4000);
    expect(records.find((r) => r.accessId === lena.accessId && r.kind === 'statement')).toMatchObject({ error: { code: 1927, message: 'the client went away during the statement' } });
  });

  it('serves plain HTTP when no certificate is given', async () => {
    const judy = await issue('judy');
    const plain = await start({ tls: undefined });
    expect(await sql(judy, 'SELECT 2 AS two', {}, { port: plain.port, plain: true })).toMatchObject({ status: 200, body: { columns: ['two'], rows: [[2]] } });
  });

  it('cuts running statements with 503 on close, then stops listening', async () => {
    const kim = await issue('kim');
    const closing = await start();
    const pending = sql(kim, 'SELECT SLEEP(5)', {}, { port: closing.port });
    await eventually(() => records.some((r) => r.accessId === kim.accessId && r.kind === 'login'), 'the statement started');
    const began = performance.now();
    await closing.close();
    expect(performance.now() - began).toBeLessThan(5000);
    expect(await pending).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
    await expect(sql(kim, 'SELECT 1', {}, { port: closing.port })).rejects.toThrow(/ECONNREFUSED/);
  });

  // Last: it reads everything the tests above made the endpoints write.
  it('never writes an AccessSecret or a database password into a reply, a log line or an audit record', async () => {
    const mallory = await issue('mallory');
    // Headers swapped: the AccessSecret arrives as the AccessID.
    expect(await sql({ accessId: mallory.secret, secret: mallory.accessId }, 'SELECT 1')).toMatchObject({ status: 401, body: { error: { reason: 'unknown-key' } } });
    expect(records.at(-1)).toMatchObject({ kind: 'login', ok: false, accessId: '(malformed)' });
    // MariaDB quotes the statement back in its message.
    expect(await sql(mallory, `SELEC '${DB_PASSWORD}', '${mallory.secret}'`)).toMatchObject({ status: 400, body: { error: { sqlCode: 1064 } } });

    expect(lines.length).toBeGreaterThan(20);
    expect(records.length).toBeGreaterThan(20);
    const written = [...replies, ...lines, ...records.map((r) => JSON.stringify(r))].join('\n');
    for (const secret of secrets) expect(written).not.toContain(secret);
  });
});
