// The MySQL proxy facing clients that do not follow the protocol: garbage, cut-off and lying
// handshakes, a client that dribbles its bytes, one that says nothing, a crowd of them at once,
// and statements far larger than usual. Whatever they do, they get an error or a closed socket,
// and every well-behaved session is served meanwhile. Raw clients speak with node:net to the
// proxy of a real world (nats-server, keyward, relay, proxy node, this machine's MariaDB).
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cap, CAPS_REQUIRED, handshakeResponse, MAX_PAYLOAD, NATIVE_PASSWORD, nativeScramble, packet, PacketReader, parseErr, parseGreeting, type Greeting,
} from '../../src/mysql-proxy/packets.js';
import { startProxyWorld, type Pair, type ProxyWorld } from '../support/mysql-proxy-world.js';

// The proxy's default handshake timeout: a silent client is closed after it.
const HANDSHAKE_TIMEOUT_MS = 10_000;
const ER_HANDSHAKE = 1043;
const ER_PACKET_TOO_LARGE = 1153;
const ER_ACCESS_DENIED = 1045;

let w: ProxyWorld;
/** A session opened before any misbehaving client: it must keep answering throughout. */
let steady: mysql.Connection;
let steadyQueries = 0;
let pair: Pair;

beforeAll(async () => {
  w = await startProxyWorld();
  pair = await w.authorize('robin');
  await w.atNode(pair);
  steady = await w.mysql2(pair, { database: w.schema });
}, 60_000);

afterAll(async () => {
  await (steady as mysql.Connection | undefined)?.end().catch(() => undefined);
  await (w as ProxyWorld | undefined)?.stop();
}, 60_000);

/** The steady session answers a query with what was asked. */
const steadyAnswers = async (): Promise<void> => {
  const n = ++steadyQueries;
  const [rows] = await steady.query('SELECT ? AS n', [n]);
  expect(rows).toEqual([{ n }]);
};

// ---- a raw client

interface RawPacket {
  readonly seq: number;
  readonly payload: Buffer;
}

interface Raw {
  readonly socket: Socket;
  /** The next whole packet from the proxy, or null once the proxy closed the connection. */
  next(timeoutMs?: number): Promise<RawPacket | null>;
  readonly closed: Promise<void>;
  send(seq: number, payload: Buffer): void;
}

const rawConnect = (port: number): Promise<Raw> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const reader = new PacketReader(MAX_PAYLOAD);
    const queue: RawPacket[] = [];
    const waiting: ((p: RawPacket | null) => void)[] = [];
    let isClosed = false;
    let onClosed = (): void => undefined;
    const closed = new Promise<void>((r) => { onClosed = r; });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let p = reader.next(); p !== null; p = reader.next()) {
        const copy = { seq: p.seq, payload: Buffer.from(p.payload) };
        const w = waiting.shift();
        if (w) w(copy);
        else queue.push(copy);
      }
    });
    socket.on('close', () => {
      isClosed = true;
      onClosed();
      for (const w of waiting.splice(0)) w(null);
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      // Resets by the proxy show as a close.
      socket.on('error', () => undefined);
      resolve({
        socket,
        closed,
        send: (seq, payload) => socket.write(packet(seq, payload)),
        next: (timeoutMs = 15_000) => {
          const queued = queue.shift();
          if (queued !== undefined) return Promise.resolve(queued);
          if (isClosed) return Promise.resolve(null);
          return new Promise((res, rej) => {
            const timer = setTimeout(() => { rej(new Error(`the proxy neither answered nor closed within ${timeoutMs} ms`)); }, timeoutMs);
            waiting.push((p) => { clearTimeout(timer); res(p); });
          });
        },
      });
    });
  });

const greetingOf = async (raw: Raw): Promise<Greeting> => {
  const p = await raw.next();
  const g = p === null ? null : parseGreeting(p.payload);
  if (g === null) throw new Error('no greeting from the proxy');
  return g;
};

type Outcome =
  | { readonly kind: 'error'; readonly code: number; readonly message: string }
  | { readonly kind: 'closed' }
  | { readonly kind: 'auth-switch' }
  | { readonly kind: 'ok' }
  | { readonly kind: 'other'; readonly first: number };

/**
 * What a client that sent something wrong hears: an error (then a close), a close, a request to
 * try another auth method (which it does not), or an OK if what it sent was a valid login after
 * all (it then quits).
 */
const outcomeOf = async (raw: Raw): Promise<Outcome> => {
  const p = await raw.next();
  let outcome: Outcome;
  if (p === null) outcome = { kind: 'closed' };
  else if (p.payload[0] === 0xff) outcome = { kind: 'error', code: parseErr(p.payload)?.code ?? -1, message: parseErr(p.payload)?.message ?? '' };
  else if (p.payload[0] === 0xfe) {
    outcome = { kind: 'auth-switch' };
    raw.socket.end();
  } else if (p.payload[0] === 0x00) {
    outcome = { kind: 'ok' };
    raw.send(0, Buffer.from([0x01]));
  } else {
    outcome = { kind: 'other', first: p.payload[0] ?? -1 };
    raw.socket.destroy();
  }
  // Whatever it was, the proxy closes the connection (the test's timeout says if it does not).
  await raw.closed;
  return outcome;
};

const CLIENT_CAPS = Cap.LONG_PASSWORD | CAPS_REQUIRED | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.CONNECT_WITH_DB;

/** The HandshakeResponse41 payload a client with `p` answers `g` with. */
const responseTo = (g: Greeting, p: Pair, database: string | null = null): Buffer =>
  handshakeResponse({
    capabilities: (CLIENT_CAPS & g.capabilities) >>> 0,
    maxPacket: 1 << 24,
    charset: 45,
    username: p.accessId,
    authResponse: nativeScramble(p.secret, g.salt),
    database,
    authPlugin: NATIVE_PASSWORD,
  });

/** A text-protocol query on a raw session (no DEPRECATE_EOF): the first column of each row. */
const rawQuery = async (raw: Raw, sql: string): Promise<string[]> => {
  raw.send(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));
  const first = await raw.next();
  if (first === null) throw new Error('closed');
  if (first.payload[0] === 0xff) throw new Error(parseErr(first.payload)?.message);
  const columns = first.payload[0] ?? 0;
  for (let i = 0; i <= columns; i++) await raw.next(); // definitions, then EOF
  const rows: string[] = [];
  for (;;) {
    const p = await raw.next();
    if (p === null) throw new Error('closed');
    if (p.payload[0] === 0xfe && p.payload.length < 9) return rows;
    const length = p.payload[0] ?? 0;
    rows.push(p.payload.subarray(1, 1 + length).toString());
  }
};

const quit = async (raw: Raw): Promise<void> => {
  raw.send(0, Buffer.from([0x01]));
  await raw.closed;
};

/** Until the proxy holds exactly the sessions that logged in and have not left. */
const openSessionsAre = (n: number): Promise<void> => w.until(() => w.proxy.counts().open === n);

// ---- the cases

describe('malformed handshake responses', () => {
  const typical = (g: Greeting): Buffer => responseTo(g, pair, w.schema);

  const cases: { name: string; bytes: (g: Greeting) => Buffer; expect: (o: Outcome) => void; end?: boolean }[] = [
    {
      name: 'a packet of random bytes',
      bytes: () => packet(1, randomBytes(200)),
      // Random bytes may even parse as a response with a wrong scramble or an auth length that asks for a switch.
      expect: (o) => { expect(['error', 'closed', 'auth-switch']).toContain(o.kind); },
    },
    {
      name: 'random bytes that are not even a packet, then the end of the stream',
      bytes: () => randomBytes(300),
      end: true,
      expect: (o) => { expect(['error', 'closed', 'auth-switch']).toContain(o.kind); },
    },
    {
      name: 'a response cut short, its header saying so',
      bytes: (g) => packet(1, typical(g).subarray(0, 40)),
      expect: (o) => { expect(o).toEqual({ kind: 'error', code: ER_HANDSHAKE, message: 'bad handshake' }); },
    },
    {
      name: 'a response cut short, its header claiming the whole, then the end of the stream',
      bytes: (g) => packet(1, typical(g)).subarray(0, 50),
      end: true,
      expect: (o) => { expect(o).toEqual({ kind: 'closed' }); },
    },
    {
      name: 'a response whose lenenc auth length is 2^56',
      bytes: (g) => {
        const r = typical(g);
        // 32 fixed bytes, the username and its NUL, then the auth length byte (20) to replace.
        const at = 32 + pair.accessId.length + 1;
        return packet(1, Buffer.concat([r.subarray(0, at), Buffer.from([0xfe, 0, 0, 0, 0, 0, 0, 0, 1]), r.subarray(at + 1)]));
      },
      expect: (o) => { expect(o).toEqual({ kind: 'error', code: ER_HANDSHAKE, message: 'bad handshake' }); },
    },
    {
      name: 'a response whose lenenc auth length is 16 MiB - 1',
      bytes: (g) => {
        const r = typical(g);
        const at = 32 + pair.accessId.length + 1;
        return packet(1, Buffer.concat([r.subarray(0, at), Buffer.from([0xfd, 0xff, 0xff, 0xff]), r.subarray(at + 1)]));
      },
      expect: (o) => { expect(o).toEqual({ kind: 'error', code: ER_HANDSHAKE, message: 'bad handshake' }); },
    },
    {
      name: 'a header announcing 16 MiB, and no body',
      bytes: () => Buffer.from([0xff, 0xff, 0xff, 0x01]),
      expect: (o) => { expect(o).toMatchObject({ kind: 'error', code: ER_PACKET_TOO_LARGE }); },
    },
    {
      name: 'a header announcing 16 KiB and one byte, with some of the body',
      bytes: () => Buffer.concat([Buffer.from([0x01, 0x40, 0x00, 0x01]), randomBytes(1000)]),
      expect: (o) => { expect(o).toMatchObject({ kind: 'error', code: ER_PACKET_TOO_LARGE }); },
    },
    {
      name: 'an empty packet',
      bytes: () => packet(1, Buffer.alloc(0)),
      expect: (o) => { expect(o).toEqual({ kind: 'error', code: ER_HANDSHAKE, message: 'bad handshake' }); },
    },
    {
      name: 'an SSLRequest to a proxy without TLS',
      bytes: () => {
        const ssl = Buffer.alloc(32);
        ssl.writeUInt32LE(CAPS_REQUIRED | Cap.SSL, 0);
        return packet(1, ssl);
      },
      expect: (o) => { expect(o).toMatchObject({ kind: 'error', code: ER_HANDSHAKE }); },
    },
    {
      name: 'a response with the right AccessID and a scramble for another salt',
      bytes: (g) => packet(1, responseTo({ ...g, salt: Buffer.alloc(20, 0x41) }, pair)),
      expect: (o) => { expect(o).toMatchObject({ kind: 'error', code: ER_ACCESS_DENIED }); },
    },
    {
      name: 'a response with a 4,000-byte username of control characters',
      bytes: () => packet(1, handshakeResponse({ capabilities: CAPS_REQUIRED | Cap.PLUGIN_AUTH, maxPacket: 0, charset: 8, username: '\x01\x1b[2J'.repeat(1000), authResponse: Buffer.alloc(20, 1), database: null, authPlugin: NATIVE_PASSWORD })),
      expect: (o) => {
        expect(o).toMatchObject({ kind: 'error', code: ER_ACCESS_DENIED });
        // The error does not echo what the client typed: no control characters, not 4,000 of them.
        const message = o.kind === 'error' ? o.message : '';
        expect(Buffer.from(message).filter((b) => b < 0x20).length, message).toBe(0);
        expect(message.length).toBeLessThan(300);
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: an error or a closed socket, and the steady session keeps answering`, async () => {
      const raw = await rawConnect(w.proxy.port);
      const g = await greetingOf(raw);
      const bytes = c.bytes(g);
      raw.socket.write(bytes);
      if (c.end === true) raw.socket.end();
      const [outcome] = await Promise.all([outcomeOf(raw), steadyAnswers()]);
      c.expect(outcome);
      await steadyAnswers();
    }, 30_000);
  }

  it('mutated copies of a real response, many at once: errors, closes or (if the mutation did not matter) a login, and the steady session meanwhile', async () => {
    const tries = Array.from({ length: 60 }, async (_, i) => {
      const raw = await rawConnect(w.proxy.port);
      const g = await greetingOf(raw);
      const r = Buffer.from(typical(g));
      // Flip a few bytes anywhere, or cut the payload somewhere, framed as sent.
      if (i % 2 === 0) for (const at of randomBytes(3)) r[at % r.length] = (r[at % r.length] ?? 0) ^ (1 << (at % 8));
      const sent = i % 2 === 0 ? r : r.subarray(0, (randomBytes(1)[0] ?? 0) % r.length);
      raw.socket.write(packet(1, sent));
      return { outcome: await outcomeOf(raw), sent: sent.toString('hex') };
    });
    const steadyMeanwhile = (async () => { for (let i = 0; i < 20; i++) await steadyAnswers(); })();
    const results = await Promise.all(tries);
    await steadyMeanwhile;
    // A flip in a byte the proxy ignores (a reserved byte, an unused capability) leaves a valid login.
    for (const { outcome, sent } of results) expect(['error', 'closed', 'auth-switch', 'ok'], sent).toContain(outcome.kind);
    expect(results.filter((r) => r.outcome.kind === 'error').length).toBeGreaterThan(0);
  }, 60_000);

  it('after all that, a new login works and the proxy holds only real sessions', async () => {
    const c = await w.mysql2(pair);
    expect((await c.query('SELECT 6 * 7 AS answer'))[0]).toEqual([{ answer: 42 }]);
    await c.end();
    await steadyAnswers();
    await openSessionsAre(1);
  }, 30_000);
});

describe('slow and silent clients', () => {
  it('a client sending its response a byte every 50 ms logs in, one sending nothing is timed out, and others are served meanwhile', async () => {
    const silentStarted = Date.now();
    const silent = await rawConnect(w.proxy.port);
    await greetingOf(silent);
    const silentOutcome = outcomeOf(silent).then((o) => ({ outcome: o, afterMs: Date.now() - silentStarted }));

    const slow = await rawConnect(w.proxy.port);
    const response = packet(1, responseTo(await greetingOf(slow), pair));
    const state = { dribbling: true };
    const dribble = (async () => {
      for (const byte of response) {
        slow.socket.write(Buffer.from([byte]));
        await sleep(50);
      }
      state.dribbling = false;
    })();

    // Meanwhile: the steady session, and new logins with queries.
    let servedMeanwhile = 0;
    const others = (async () => {
      while (state.dribbling) {
        await steadyAnswers();
        const c = await w.mysql2(pair);
        expect((await c.query('SELECT 1 AS one'))[0]).toEqual([{ one: 1 }]);
        await c.end();
        servedMeanwhile++;
      }
    })();
    await Promise.all([dribble, others]);
    expect(servedMeanwhile, 'logins served while the slow client dribbled').toBeGreaterThan(3);

    const ok = await slow.next();
    expect(ok?.payload[0], 'OK after the slow login').toBe(0x00);
    expect(ok?.seq).toBe(2);
    expect(await rawQuery(slow, 'SELECT 6 * 7')).toEqual(['42']);
    await quit(slow);

    const { outcome, afterMs } = await silentOutcome;
    expect(outcome).toEqual({ kind: 'error', code: ER_HANDSHAKE, message: 'handshake timed out' });
    // Not before the timeout (timers never fire early by a whole second).
    expect(afterMs).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 1000);
    await steadyAnswers();
    await openSessionsAre(1);
  }, 40_000);
});

describe('a crowd of misbehaving clients', () => {
  it('200 connections at once, each with garbage: each gets an error or a close, and the proxy is as before', async () => {
    const before = w.proxy.counts();
    const kinds = [
      (): Buffer => packet(1, randomBytes(1 + ((randomBytes(1)[0] ?? 0) % 200))),
      (): Buffer => Buffer.from([0xff, 0xff, 0xff, 0x01]),
      (): Buffer => packet(1, Buffer.concat([Buffer.from([0x00, 0x82, 0x00, 0x00]), randomBytes(28), Buffer.from('x\0'), Buffer.from([0xfe]), randomBytes(8)])),
      (): Buffer => randomBytes(64),
    ];
    const crowd = Array.from({ length: 200 }, async (_, i) => {
      const raw = await rawConnect(w.proxy.port);
      await greetingOf(raw);
      const kind = i % kinds.length;
      const bytes = (kinds[kind] ?? kinds[0])?.() ?? Buffer.alloc(0);
      raw.socket.write(bytes);
      // Bytes that are not a whole packet leave the proxy waiting: the client hangs up.
      if (kind === 3) raw.socket.end();
      return { outcome: await outcomeOf(raw), sent: bytes.toString('hex') };
    });
    const steadyMeanwhile = (async () => { for (let i = 0; i < 20; i++) await steadyAnswers(); })();
    const results = await Promise.all(crowd);
    await steadyMeanwhile;
    for (const { outcome, sent } of results) expect(['error', 'closed', 'auth-switch'], sent).toContain(outcome.kind);
    expect(results.filter((r) => r.outcome.kind === 'error').length, 'at least the 16 MiB headers and the impossible auth lengths are answered with an error').toBeGreaterThanOrEqual(100);

    await openSessionsAre(1);
    const after = w.proxy.counts();
    expect(after.connections - before.connections).toBe(200);
    expect(after.logins.ok ?? 0).toBe(before.logins.ok ?? 0);
    // Still healthy: the steady session answers, and a new login works.
    await steadyAnswers();
    const c = await w.mysql2(pair);
    expect((await c.query('SELECT 2 AS two'))[0]).toEqual([{ two: 2 }]);
    await c.end();
    await openSessionsAre(1);
  }, 60_000);
});

/** A raw client logged in with `pair`. */
const rawLogin = async (): Promise<Raw> => {
  const raw = await rawConnect(w.proxy.port);
  raw.send(1, responseTo(await greetingOf(raw), pair));
  const ok = await raw.next();
  expect(ok?.payload[0], 'OK after the login').toBe(0x00);
  return raw;
};

describe('misbehaving clients after login', () => {
  it("commands the database does not take get the database's error, and the session goes on", async () => {
    const raw = await rawLogin();
    const commands: [string, Buffer][] = [
      ['an unknown command byte', Buffer.from([0xee, 1, 2, 3])],
      ['an empty command packet', Buffer.alloc(0)],
      ['an execute of a statement never prepared', Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0])],
      ['a fetch without a cursor', Buffer.from([0x1c])],
    ];
    for (const [name, payload] of commands) {
      raw.send(0, payload);
      const answer = await raw.next();
      expect(answer?.payload[0], name).toBe(0xff);
      expect(await rawQuery(raw, 'SELECT 6 * 7'), `after ${name}`).toEqual(['42']);
    }
    await quit(raw);
    await steadyAnswers();
    await openSessionsAre(1);
  }, 30_000);

  it('a packet out of sequence, or bytes that never make a packet: an error or a close, and the proxy forgets the session', async () => {
    const outOfOrder = await rawLogin();
    outOfOrder.send(5, Buffer.from('\x03SELECT 1'));
    expect(['error', 'closed']).toContain((await outcomeOf(outOfOrder)).kind);
    const partial = await rawLogin();
    partial.socket.end(Buffer.from([0x40, 0x00, 0x00, 0x00, 0x03, 0x53]));
    await partial.closed;
    await steadyAnswers();
    await openSessionsAre(1);
  }, 30_000);

  // BUG (src/mysql-proxy/session.ts): readPackets() takes its 'data' listener off the client
  // socket when the handshake response is in, and #relay() puts one back only after the login
  // to the database; the socket keeps flowing, so bytes that arrive in between are emitted to
  // no one and lost. A client that sends its first command without waiting for the OK never
  // hears back. Remove `.fails` once fixed (pause the client socket until #relay listens).
  it('a command sent right after the handshake response, before the OK, is answered', async () => {
    // After the proxy has read the response (a timer lets its socket be polled): while it logs in to the database.
    const pauses: [string, () => Promise<unknown>][] = [
      ['0 ms', () => sleep(0)],
      ['1 ms', () => sleep(1)],
      ['2 ms', () => sleep(2)],
      ['two turns of the event loop', () => new Promise((r) => setImmediate(() => setImmediate(r)))],
    ];
    for (const [name, pause] of pauses) {
      const raw = await rawConnect(w.proxy.port);
      raw.send(1, responseTo(await greetingOf(raw), pair));
      await pause();
      raw.send(0, Buffer.from('\x03SELECT 6 * 7'));
      expect((await raw.next())?.payload[0], 'OK').toBe(0x00);
      const first = await raw.next(3000).catch((e: unknown) => { raw.socket.destroy(); throw e; });
      expect(first?.payload[0], `the column count, for a command sent ${name} after the response`).toBe(0x01);
      for (let i = 0; i < 4; i++) await raw.next();
      await quit(raw);
    }
  }, 30_000);
});

describe('what the audit records of a failed statement', () => {
  // BUG (src/mysql-proxy/session.ts, #relay): the database-side Framer captures 16 bytes of each
  // packet, and the ResponseTracker parses an ERR from that capture: 9 bytes of header leave
  // 7 of the message, so the audit records `You hav` for a syntax error. Remove `.fails` once
  // the capture holds an ERR's message (a few hundred bytes), or the ERR is read in full.
  it("records the database's error message as the client got it", async () => {
    const c = await w.mysql2(pair);
    const error = await c.query('SELEC nonsense').then(() => null, (e: unknown) => e as { errno: number; sqlMessage: string });
    await c.end();
    expect(error?.errno).toBe(1064);
    const recorded = w.records.find((r) => r.kind === 'statement' && r.accessId === pair.accessId && r.statement === 'SELEC nonsense');
    expect(recorded?.kind === 'statement' ? recorded.error : null).toEqual({ code: 1064, message: error?.sqlMessage });
  }, 30_000);
});

describe('large statements after login', () => {
  const maxAllowedPacket = async (): Promise<number> => {
    const [rows] = await w.root.query('SELECT @@global.max_allowed_packet AS max');
    return Number((rows as { max: number | string }[])[0]?.max ?? 0);
  };
  const alphanumerics = (n: number): string => randomBytes(n).toString('base64').replace(/[+/=]/g, 'x').slice(0, n);
  const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

  it('a 4 MiB INSERT, as a query and as a prepared statement, and its row back', async ({ skip }) => {
    const FOUR_MIB = 4 * 1024 * 1024;
    const max = await maxAllowedPacket();
    if (max < FOUR_MIB + 64 * 1024) skip(`MariaDB's max_allowed_packet is ${max} bytes, too small for a 4 MiB statement: raise it to run this case`);
    const c = await w.mysql2(pair, { database: w.schema });
    try {
      await c.query('CREATE TABLE big (id INT PRIMARY KEY, v LONGTEXT)');
      const value = alphanumerics(FOUR_MIB);
      const [inserted] = await c.query('INSERT INTO big VALUES (1, ?)', [value]);
      expect((inserted as { affectedRows: number }).affectedRows).toBe(1);
      const [executed] = await c.execute('INSERT INTO big VALUES (?, ?)', [2, value]);
      expect((executed as { affectedRows: number }).affectedRows).toBe(1);
      const [summary] = await c.query('SELECT id, LENGTH(v) AS n, SHA2(v, 256) AS h FROM big ORDER BY id');
      expect(summary).toEqual([{ id: 1, n: FOUR_MIB, h: sha256(value) }, { id: 2, n: FOUR_MIB, h: sha256(value) }]);
      const [back] = await c.query('SELECT v FROM big WHERE id = 1');
      expect((back as { v: string }[])[0]?.v === value, 'the 4 MiB value read back through the proxy').toBe(true);
      const [backPrepared] = await c.execute('SELECT v FROM big WHERE id = ?', [2]);
      expect((backPrepared as { v: string }[])[0]?.v === value, 'the 4 MiB value read back by a prepared statement').toBe(true);
      expect((await c.query('SELECT 3 AS three'))[0]).toEqual([{ three: 3 }]);
      // Recorded as a statement cut to its first 1,000 characters.
      const recorded = w.records.find((r) => r.kind === 'statement' && r.accessId === pair.accessId && r.statement.startsWith('INSERT INTO big VALUES (1, '));
      expect(recorded).toMatchObject({ truncated: true, rows: 1, error: null });
      expect(recorded?.kind === 'statement' && recorded.statement.length).toBe(1000);
    } finally {
      await c.end();
    }
    await steadyAnswers();
  }, 60_000);

  it('a statement of 16 MiB - 1 bytes: a packet of 0xFFFFFF bytes and the empty one that ends it', async ({ skip }) => {
    const max = await maxAllowedPacket();
    if (max < MAX_PAYLOAD + 1) skip(`MariaDB's max_allowed_packet is ${max} bytes, below 16 MiB: raise it to run this case`);
    const prefix = "SELECT LENGTH('";
    const suffix = "') AS n";
    // The command byte and the statement: exactly 0xFFFFFF bytes of payload.
    const n = MAX_PAYLOAD - 1 - prefix.length - suffix.length;
    const c = await w.mysql2(pair);
    try {
      const [rows] = await c.query(`${prefix}${'a'.repeat(n)}${suffix}`);
      expect(rows).toEqual([{ n }]);
      expect((await c.query('SELECT 4 AS four'))[0]).toEqual([{ four: 4 }]);
    } finally {
      await c.end();
    }
    await steadyAnswers();
  }, 60_000);
});
