// The MySQL proxy's HTTPS endpoint: one SQL statement per request, the AccessKey pair in two
// headers (DESIGN.md, "Proxy nodes"). Each request is checked by the proxy node, run on a
// connection of its own as the grant's database account, and answered as JSON. While a
// statement runs, the key going invalid cuts its database connection and answers 401.
//
// Nothing the client sends as a secret, and no database password, is ever written back: not
// in a reply, a log line, an audit record or an error message.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as connectTcp, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createConnection, type Connection, type FieldPacket, type QueryResult } from 'mysql2/promise';
import { Secret } from '../../domain/index.js';
import { Refusal, type Accepted, type ProxyNode, type Refused } from '../proxy-node/index.js';
import { recordedAccessId, recordedRefusal, recordedStatement, type SqlAuditLog } from './audit-log.js';
import { bodyOf, listen } from '../service/http.js';
import { killQuery } from './kill.js';
import { refusalMessage } from './session.js';

export interface SqlEndpointOptions {
  readonly node: Pick<ProxyNode, 'verify' | 'onInvalidated' | 'nodeId'>;
  readonly instanceId: string;
  /** The MariaDB/MySQL server the proxy fronts. */
  readonly database: { readonly host: string; readonly port: number };
  /** Port 0 picks a free port; the one chosen is in the result. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Certificate and key (PEM): HTTPS. Absent: plain HTTP (the CLI allows it only when explicitly asked, for local use). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly audit: SqlAuditLog;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
}

export interface SqlEndpoint {
  readonly port: number;
  /**
   * Counts for metrics: requests received; verifications refused, by the node's reason (and
   * `invalidated` for statements cut short by one); statements of accepted requests, and those
   * of them that ended in an error (SQL, database unreachable, cut short).
   */
  counts(): { requests: number; refused: Record<string, number>; statements: number; failed: number };
  /** Stops accepting, cuts the statements still running (503), resolves once the server is closed. */
  close(): Promise<void>;
}

export const SQL_PATH = '/v1/sql';
export const BODY_LIMIT = 1024 * 1024;
const ACCESS_ID_HEADER = 'x-keyward-access-id';
const ACCESS_SECRET_HEADER = 'x-keyward-access-secret';
const BODY_FIELDS = new Set(['sql', 'database']);
/** MariaDB's longest database name. */
const DATABASE_NAME_MAX = 64;

// The codes the statement audit record carries when MariaDB itself gave none: the client
// library's for "cannot connect" and "lost the connection", and MariaDB's ER_CONNECTION_KILLED
// for a statement the proxy cut short. A MySQL client would have seen the same.
const CANNOT_CONNECT = 2003;
const CONNECTION_LOST = 2013;
const KILLED = 1927;

type ErrorCode = 'BAD_REQUEST' | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'ACCESS_DENIED' | 'UNAVAILABLE' | 'SQL' | 'INTERNAL';

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

const failure = (status: number, code: ErrorCode, message: string, more: Record<string, unknown> = {}, headers?: Record<string, string>): Reply => ({
  status,
  body: { error: { code, ...more, message } },
  ...(headers === undefined ? {} : { headers }),
});

const badRequest = (message: string): Reply => failure(400, 'BAD_REQUEST', message);

const refusalReply = (r: Refused): Reply => {
  // Not-ready and stale say nothing about the pair: the same request may succeed later.
  const unavailable = r.reason === Refusal.NOT_READY || r.reason === Refusal.STALE;
  const detail = r.reason === Refusal.REVOKED ? { reason: r.reason, revokedReason: r.revokedReason } : { reason: r.reason };
  return failure(unavailable ? 503 : 401, unavailable ? 'UNAVAILABLE' : 'ACCESS_DENIED', refusalMessage(r), detail);
};

/** Why a running statement was cut short. */
class Stop extends Error {
  override readonly name = 'Stop';
  constructor(
    readonly kind: 'invalidated' | 'closing' | 'client-gone',
    readonly reason: string,
  ) {
    super(`${kind}: ${reason}`);
  }
}

/** The answer to a statement cut short (nobody hears it when the client left), and its audit error. */
const stoppedReply = (stop: Stop): { reply: Reply; error: { code: number; message: string } } => {
  switch (stop.kind) {
    case 'invalidated': {
      const message = `the AccessKey pair stopped being valid during the statement: ${stop.reason}`;
      return { reply: failure(401, 'ACCESS_DENIED', message, { reason: stop.reason }), error: { code: KILLED, message } };
    }
    case 'closing': {
      const message = 'the proxy is shutting down; the statement was cut short';
      return { reply: failure(503, 'UNAVAILABLE', message), error: { code: KILLED, message } };
    }
    case 'client-gone':
      return { reply: failure(499, 'UNAVAILABLE', 'the client went away'), error: { code: KILLED, message: 'the client went away during the statement' } };
  }
};

/** Who did it, as every audit record of a request says. */
interface Who {
  readonly instanceId: string;
  readonly accessId: string;
  readonly userId: string | null;
  readonly nodeId: string;
  readonly session: string;
  readonly via: 'https';
  readonly client: string;
}

// ---- the request ----

interface SqlRequest {
  readonly accessId: string;
  readonly secret: Secret;
  readonly sql: string;
  readonly database: string | undefined;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

const isJson = (req: IncomingMessage): boolean => {
  const type = req.headers['content-type'];
  return type !== undefined && /^application\/json\s*(;|$)/i.test(type.trim());
};

/** The body as text, or a reply saying why not. Never more than BODY_LIMIT bytes are kept. */
const readBody = async (req: IncomingMessage): Promise<string | Reply> => {
  const body = await bodyOf(req, BODY_LIMIT);
  if (body === 'too-large') return failure(413, 'PAYLOAD_TOO_LARGE', `the body must be at most ${BODY_LIMIT} bytes`);
  // A client that went away mid-body is answered to nobody; send() sees the closed response.
  if (body === 'cut-off') return badRequest('the body was cut off');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return badRequest('the body is not UTF-8');
  }
};

// Messages name the fields, never what was sent in them: a client that pasted a secret into
// the wrong place must not see it echoed, or find it in a log.
const parseBody = (text: string): { sql: string; database: string | undefined } | Reply => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return badRequest('the body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return badRequest('the body must be a JSON object: {"sql": "...", "database": "..."}');
  const fields = body as Record<string, unknown>;
  if (!Object.keys(fields).every((k) => BODY_FIELDS.has(k))) return badRequest('the body may hold only "sql" and "database"');
  const { sql, database } = fields;
  if (typeof sql !== 'string' || sql.trim() === '') return badRequest('"sql" must be a non-empty string');
  if (database !== undefined && (typeof database !== 'string' || database === '' || database.length > DATABASE_NAME_MAX)) {
    return badRequest(`"database" must be a string of 1–${DATABASE_NAME_MAX} characters`);
  }
  return { sql, database };
};

const readRequest = async (req: IncomingMessage): Promise<SqlRequest | Reply> => {
  if (!isJson(req)) return failure(415, 'UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  const accessId = header(req, ACCESS_ID_HEADER);
  const secret = header(req, ACCESS_SECRET_HEADER);
  if (accessId === undefined || secret === undefined) return badRequest('the AccessKey pair goes in the headers X-Keyward-Access-Id and X-Keyward-Access-Secret');
  const text = await readBody(req);
  if (typeof text !== 'string') return text;
  const body = parseBody(text);
  if ('status' in body) return body;
  return { accessId, secret: new Secret(secret), ...body };
};

// ---- the statement ----

type Answer = { readonly columns: string[]; readonly rows: unknown[][] } | { readonly affectedRows: number; readonly insertId: number | string };

const isField = (f: unknown): f is FieldPacket => typeof f === 'object' && f !== null && typeof (f as { name?: unknown }).name === 'string';

// Binary values (BLOB, BINARY, BIT, ...) go out as base64 strings: JSON has no bytes. With
// dateStrings and bigNumberStrings every other value is a string, a number or null.
const cell = (value: unknown): unknown => (Buffer.isBuffer(value) ? value.toString('base64') : value);

const answerOf = (result: unknown, fields: unknown): Answer => {
  // A CALL answers with one result set per SELECT in the procedure, then its own OK: the first set is answered.
  if (Array.isArray(fields) && Array.isArray(fields[0]) && Array.isArray(result)) return answerOf(result[0], fields[0]);
  if (Array.isArray(result) && Array.isArray(fields) && fields.every(isField)) {
    return { columns: fields.map((f) => f.name), rows: result.map((row) => (Array.isArray(row) ? row.map(cell) : [])) };
  }
  const header = result as { affectedRows?: unknown; insertId?: unknown };
  return {
    affectedRows: typeof header.affectedRows === 'number' ? header.affectedRows : 0,
    insertId: typeof header.insertId === 'number' || typeof header.insertId === 'string' ? header.insertId : 0,
  };
};

/** What MariaDB said: an error packet carries a positive errno and an SQLSTATE; a network failure carries neither. */
interface ServerError {
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}
const serverError = (e: unknown): ServerError | undefined => {
  if (!(e instanceof Error)) return undefined;
  const { errno, sqlState } = e as { errno?: unknown; sqlState?: unknown };
  return typeof errno === 'number' && errno > 0 && typeof sqlState === 'string' ? { errno, sqlState, message: e.message } : undefined;
};

const codeOf = (e: unknown): string => {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'unknown';
};

/** Rejects with the Stop as soon as the signal fires; the work itself goes on, its result unused. */
const unlessStopped = <T>(signal: AbortSignal, work: Promise<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason as Stop); };
    if (signal.aborted) { onAbort(); return; }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error instanceof Error ? error : new Error(String(error))); },
    );
  });

const clientOf = (req: IncomingMessage): string => {
  const { remoteAddress = '?', remotePort = 0 } = req.socket;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
};

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

// ---- the endpoint ----

export const startSqlEndpoint = async (options: SqlEndpointOptions): Promise<SqlEndpoint> => {
  const { node, instanceId, audit, log } = options;
  const counts = { requests: 0, statements: 0, failed: 0 };
  const refused: Record<string, number> = {};
  const countRefusal = (reason: string): void => { refused[reason] = (refused[reason] ?? 0) + 1; };

  /** Statements running, by AccessID: what an invalidation cuts. */
  const running = new Map<string, Set<AbortController>>();
  /** Every request being handled: close() waits for them. */
  const handling = new Set<Promise<void>>();
  let closing = false;

  const stopInvalidated = node.onInvalidated((event) => {
    if (event.instanceId !== instanceId) return;
    for (const controller of running.get(event.accessId) ?? []) controller.abort(new Stop('invalidated', event.reason));
  });

  const send = (res: ServerResponse, reply: Reply): void => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      // Rows and refusals are about one user at one moment: no cache may keep them.
      'cache-control': 'no-store',
      ...(closing ? { connection: 'close' } : {}),
      ...reply.headers,
    });
    res.end(JSON.stringify(reply.body));
  };

  /** Connects as the grant's account, runs the statement, audits it; answers unless stopped for a client that left. */
  const runStatement = async (request: SqlRequest, verdict: Accepted, who: Who, signal: AbortSignal): Promise<Reply> => {
    const password = verdict.databaseAccount.password.reveal();
    // MariaDB quotes statements back in its messages, and a client may paste anything into one:
    // neither the AccessSecret nor the account's password leaves the proxy that way.
    const scrub = (text: string): string => [password, request.secret.reveal()].reduce((t, s) => (s === '' ? t : t.split(s).join('[redacted]')), text);
    // The socket is the proxy's own, so that cutting the statement short closes it at once:
    // mysql2's destroy() only half-closes and would still wait for the result.
    const socket: Socket = connectTcp({ host: options.database.host, port: options.database.port });
    socket.setNoDelay(true);
    let connection: Connection | undefined;
    // mysql2 is told first, or it would report the closed socket as a lost connection.
    const cut = (): void => { connection?.destroy(); socket.destroy(); };
    // Cut short: what the database is still running for it is stopped too.
    const stop = (): void => {
      const threadId = connection?.threadId;
      cut();
      if (typeof threadId !== 'number') return;
      killQuery(options.database, verdict.databaseAccount, threadId).catch((e: unknown) => {
        log.warn({ ...who, threadId, err: scrub(e instanceof Error ? e.message : String(e)) }, 'sql endpoint: the statement of a cut request could not be killed');
      });
    };
    signal.addEventListener('abort', stop, { once: true });

    counts.statements++;
    // From before the connection: over HTTPS each statement pays for its own login.
    const started = performance.now();
    let outcome: { reply: Reply; rows: number; error: { code: number; message: string } | null; logged?: object };
    try {
      connection = await unlessStopped(
        signal,
        createConnection({
          stream: socket,
          user: verdict.databaseAccount.username,
          password,
          ...(request.database === undefined ? {} : { database: request.database }),
          multipleStatements: false,
          dateStrings: true,
          supportBigNumbers: true,
          bigNumberStrings: true,
          // LOAD DATA LOCAL would let the database ask the proxy for its files.
          flags: ['-LOCAL_FILES'],
        }),
      );
      // An error on an idle connection is emitted, and an unheard 'error' event would end the process.
      connection.on('error', (e: unknown) => { log.warn({ ...who, code: codeOf(e) }, 'sql endpoint: database connection error'); });
      const [result, fields] = await unlessStopped(signal, connection.query<QueryResult>({ sql: request.sql, rowsAsArray: true }));
      const answer = answerOf(result, fields);
      outcome = { reply: { status: 200, body: answer }, rows: 'rows' in answer ? answer.rows.length : answer.affectedRows, error: null };
    } catch (e) {
      cut();
      counts.failed++;
      const sql = serverError(e);
      if (e instanceof Stop) {
        if (e.kind === 'invalidated') countRefusal('invalidated');
        outcome = { ...stoppedReply(e), rows: 0 };
      } else if (sql !== undefined) {
        const message = scrub(sql.message);
        outcome = { reply: failure(400, 'SQL', message, { sqlCode: sql.errno, sqlState: sql.sqlState }), rows: 0, error: { code: sql.errno, message } };
      } else {
        const connected = connection !== undefined;
        const message = connected ? 'the connection to the database was lost during the statement' : 'the database cannot be reached';
        outcome = {
          reply: failure(503, 'UNAVAILABLE', message),
          rows: 0,
          error: { code: connected ? CONNECTION_LOST : CANNOT_CONNECT, message: `${message} (${codeOf(e)})` },
          // mysql2's network errors are Node's (code, address, port); its own carry no password, but scrub anyway.
          logged: { code: codeOf(e), err: scrub(e instanceof Error ? e.message : String(e)) },
        };
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    const durationMs = round(performance.now() - started);
    audit.record({ kind: 'statement', command: 'query', ...recordedStatement(scrub(request.sql)), rows: outcome.rows, durationMs, error: outcome.error, ...who });
    if (outcome.logged !== undefined) log.warn({ ...who, ...outcome.logged }, 'sql endpoint: the database cannot be reached');
    // Not awaited: the client need not wait for the goodbye to the database.
    if (connection !== undefined && outcome.error === null) connection.end().catch(() => { socket.destroy(); });
    return outcome.reply;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counts.requests++;
    const started = performance.now();
    const session = randomUUID();
    const client = clientOf(req);
    const fields: Record<string, unknown> = { session, client };
    const answer = (reply: Reply): void => {
      send(res, reply);
      log.info({ ...fields, status: reply.status, durationMs: round(performance.now() - started) }, 'sql endpoint: request');
    };

    const path = (req.url ?? '').split('?', 1)[0];
    const early =
      path !== SQL_PATH ? failure(404, 'NOT_FOUND', `the only path is POST ${SQL_PATH}`)
      : req.method !== 'POST' ? failure(405, 'METHOD_NOT_ALLOWED', `${SQL_PATH} takes POST`, {}, { allow: 'POST' })
      : closing ? failure(503, 'UNAVAILABLE', 'the proxy is shutting down')
      : undefined;
    if (early !== undefined) {
      answer(early);
      return;
    }
    const request = await readRequest(req);
    if ('status' in request) {
      answer(request);
      return;
    }

    // A client that swapped the two headers must not put its AccessSecret into the log either.
    const accessId = recordedAccessId(request.accessId);
    const verdict = node.verify(instanceId, request.accessId, request.secret);
    const who: Who = { instanceId, accessId, userId: verdict.ok ? verdict.userId : null, nodeId: node.nodeId, session, via: 'https', client };
    Object.assign(fields, { accessId, userId: who.userId });
    if (!verdict.ok) {
      countRefusal(verdict.reason);
      audit.record({ kind: 'login', ok: false, reason: recordedRefusal(verdict), ...who });
      answer(refusalReply(verdict));
      return;
    }
    audit.record({ kind: 'login', ok: true, databaseUser: verdict.databaseAccount.username, ...who });

    // Registered before the first await: an invalidation from here on reaches this statement.
    const controller = new AbortController();
    const flights = running.get(request.accessId) ?? new Set();
    running.set(request.accessId, flights.add(controller));
    const gone = (): void => { if (!res.writableFinished) controller.abort(new Stop('client-gone', 'client-gone')); };
    res.once('close', gone);
    try {
      answer(await runStatement(request, verdict, who, controller.signal));
    } finally {
      res.off('close', gone);
      flights.delete(controller);
      if (flights.size === 0) running.delete(request.accessId);
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const work = handle(req, res)
      .catch((error: unknown) => {
        log.error({ err: error instanceof Error ? error.message : String(error) }, 'sql endpoint: a request failed');
        send(res, failure(500, 'INTERNAL', 'the proxy failed to answer; see its log'));
      })
      .finally(() => handling.delete(work));
    handling.add(work);
  };

  const server = options.tls === undefined ? createHttpServer(onRequest) : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest);
  const port = await listen(server, options.listen.port, options.listen.host);

  return {
    port,
    counts: () => ({ ...counts, refused: { ...refused } }),
    close: async () => {
      if (closing) return;
      closing = true;
      stopInvalidated();
      const closed = new Promise<void>((resolve, reject) => {
        server.close((error) => { if (error === undefined) resolve(); else reject(error); });
      });
      for (const flights of running.values()) for (const controller of flights) controller.abort(new Stop('closing', 'closing'));
      await Promise.all(handling);
      // Keep-alive connections would otherwise hold the server open until they time out.
      server.closeAllConnections();
      await closed;
    },
  };
};
