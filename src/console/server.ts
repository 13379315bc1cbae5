// The console: server-rendered pages over keyward's NATS API. Every action is a plain form
// POST carrying a CSRF token; the signed-in person is the actor of every command, so the
// API's rules decide what they may do (pages only leave out buttons the API would refuse).
// Every response is `no-store` under a strict Content-Security-Policy: pages may show a
// secret, and no script or style comes from anywhere but this server.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { NatsConnection } from 'nats';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';
import { readReply, type Reply } from '../cli/client.js';
import { bodyOf, listen } from '../service/http.js';
import { isUserId, prepareDecoy, readAccounts, ROLES, verifyPassword, type Role } from './accounts.js';
import type { Html } from './html.js';
import { routes, signInPage, type Page } from './pages.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { sameToken, Sessions, SignInLimiter, type ConsoleSession } from './sessions.js';

export interface ConsoleOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** The accounts file (`keyward console add-user`); read at each sign-in, so additions count at once. */
  readonly accountsFile?: string;
  /**
   * Behind an authenticating reverse proxy: the headers that name the person and their role.
   * Off unless given; then there is no sign-in form and no one reaches the console without them.
   */
  readonly trustedHeaders?: { readonly user: string; readonly role: string };
  /** For the history pages (the audit timeline): the event store, read only. */
  readonly store?: EventStore;
  readonly log: Logger;
  /** Cookies marked Secure (default): browsers keep them on https, and on http://localhost. */
  readonly secureCookies?: boolean;
  readonly clock?: () => number;
}

export interface RunningConsole {
  readonly port: number;
  close(): Promise<void>;
}

export interface Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly form: URLSearchParams;
  readonly session: ConsoleSession;
  /** One request to keyward's API as the signed-in person. */
  api(subject: string, body: Record<string, unknown>): Promise<Reply>;
}

/** Password checks at once: beyond, sign-ins are answered 503. */
const MAX_PASSWORD_CHECKS = 2;
const FORM_LIMIT = 64 * 1024;
const ASSETS: Record<string, { type: string; body: string }> = {
  '/static/console.css': { type: 'text/css; charset=utf-8', body: CONSOLE_CSS },
  '/static/console.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_JS },
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Pages show pairs, grants and who did what: no cache, shared or private, may keep one.
  'cache-control': 'no-store',
};

const cookiesOf = (req: IncomingMessage): Map<string, string> =>
  new Map(
    (req.headers.cookie ?? '')
      .split(';')
      .map((c) => c.trim().split('='))
      .filter((kv): kv is [string, string] => kv.length === 2 && kv[0] !== '' && kv[1] !== undefined),
  );

/** The form of a POST; 'unsupported' for another body type, 'too-large' past FORM_LIMIT. */
const readForm = async (req: IncomingMessage): Promise<URLSearchParams | 'unsupported' | 'too-large'> => {
  if (req.method !== 'POST') return new URLSearchParams();
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return 'unsupported';
  const body = await bodyOf(req, FORM_LIMIT);
  if (body === 'cut-off') return 'unsupported';
  return body === 'too-large' ? body : new URLSearchParams(body.toString('utf8'));
};

export const startConsole = async (options: ConsoleOptions): Promise<RunningConsole> => {
  const { nc, prefix, log } = options;
  const clock = options.clock ?? Date.now;
  const sessions = new Sessions(clock);
  const limiter = new SignInLimiter({ user: 5, address: 30 }, 15 * 60_000, clock);
  let checking = 0;
  void prepareDecoy();
  const sweeper = setInterval(() => {
    sessions.sweep();
    limiter.sweep();
  }, 60_000);
  sweeper.unref();
  const secure = options.secureCookies ?? true;
  // __Host-: the browser takes it only from this host, over https (or localhost), for path /,
  // so no sibling subdomain or plain-http page can plant one.
  const SESSION_COOKIE = `${secure ? '__Host-' : ''}kw_session`;
  const SIGN_IN_COOKIE = `${secure ? '__Host-' : ''}kw_sign_in`;
  const cookie = (name: string, value: string, maxAge?: number): string =>
    `${name}=${value}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}${maxAge === undefined ? '' : `; Max-Age=${maxAge}`}`;

  // A form's commandId goes with the command it sends: posted again (a retry after a timeout,
  // a double click), the command is not done twice; the service answers as the first time.
  const api = (session: ConsoleSession, commandId: string | null) => async (subject: string, body: Record<string, unknown>): Promise<Reply> => {
    const once = commandId !== null && subject.startsWith('cmd.') && /^[\x20-\x7e]{1,128}$/.test(commandId) ? { commandId: `console-${commandId}` } : {};
    try {
      const msg = await nc.request(`${prefix}.${subject}`, new TextEncoder().encode(JSON.stringify({ ...body, ...once, actor: { userId: session.userId, role: session.role } })), { timeout: 5000 });
      return readReply(msg.data);
    } catch {
      return { ok: false, error: { code: 'UNAVAILABLE', message: 'keyward did not answer: try again in a moment', details: [] } };
    }
  };

  const send = (res: ServerResponse, status: number, body: Html | string, headers: Record<string, string | string[]> = {}): void => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...headers });
    res.end(typeof body === 'string' ? body : body.text);
  };
  const redirect = (res: ServerResponse, to: string, headers: Record<string, string | string[]> = {}): void => {
    res.writeHead(303, { location: to, ...SECURITY_HEADERS, ...headers });
    res.end();
  };

  const trusted = (req: IncomingMessage): ConsoleSession | undefined => {
    const names = options.trustedHeaders;
    if (names === undefined) return undefined;
    const userId = req.headers[names.user.toLowerCase()];
    const role = req.headers[names.role.toLowerCase()];
    if (typeof userId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(userId) || !ROLES.includes(role as Role)) return undefined;
    // One session per person and role, so their CSRF token stays the same across requests.
    return sessions.find(`trusted:${userId}:${String(role)}`) ?? sessions.adopt(`trusted:${userId}:${String(role)}`, userId, role as Role);
  };

  const signIn = async (req: IncomingMessage, res: ServerResponse, form: URLSearchParams, cookies: Map<string, string>): Promise<void> => {
    if (req.method === 'GET') {
      // Kept while it lasts: a second sign-in page (another tab, a favicon's redirect) must not
      // make the form of the first one stale.
      const token = /^[A-Za-z0-9_-]{32}$/.test(cookies.get(SIGN_IN_COOKIE) ?? '') ? (cookies.get(SIGN_IN_COOKIE) ?? '') : randomBytes(24).toString('base64url');
      send(res, 200, signInPage(token, null), { 'set-cookie': cookie(SIGN_IN_COOKIE, token) });
      return;
    }
    const token = cookies.get(SIGN_IN_COOKIE) ?? '';
    if (token === '' || !sameToken(form.get('_csrf') ?? '', token)) {
      send(res, 403, signInPage(token, 'The form expired: sign in again.'));
      return;
    }
    // Only an id-shaped name is looked up, counted or logged: anything else is not a user.
    const typed = form.get('userId') ?? '';
    const userId = isUserId(typed) ? typed : '(malformed)';
    const address = req.socket.remoteAddress ?? '?';
    if (limiter.blocked(userId, address)) {
      send(res, 429, signInPage(token, 'Too many failed sign-ins: wait a few minutes and try again.'), { 'retry-after': '900' });
      return;
    }
    // Each check takes 128 MiB and about half a second of a worker: a flood waits its turn elsewhere.
    if (checking >= MAX_PASSWORD_CHECKS) {
      send(res, 503, signInPage(token, 'The console is busy signing people in: try again in a moment.'), { 'retry-after': '2' });
      return;
    }
    limiter.attempt(userId, address);
    checking++;
    let account;
    let ok: boolean;
    try {
      account = options.accountsFile === undefined ? undefined : readAccounts(options.accountsFile).find((a) => a.userId === userId);
      ok = await verifyPassword(account?.passwordHash, form.get('password') ?? '');
    } finally {
      checking--;
    }
    // The same wording whichever part was wrong: the form does not tell which users exist.
    if (!ok || account === undefined) {
      log.info({ known: account !== undefined, address }, 'console: sign-in refused');
      send(res, 401, signInPage(token, 'Wrong user or password.'));
      return;
    }
    limiter.succeeded(userId, address);
    const session = sessions.open(account.userId, account.role);
    log.info({ userId: account.userId, role: account.role }, 'console: signed in');
    redirect(res, '/proxies', { 'set-cookie': [cookie(SESSION_COOKIE, session.id), cookie(SIGN_IN_COOKIE, '', 0)] });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://console');
    const asset = ASSETS[url.pathname];
    if (asset !== undefined && req.method === 'GET') {
      res.writeHead(200, { 'content-type': asset.type, ...SECURITY_HEADERS });
      res.end(asset.body);
      return;
    }
    const cookies = cookiesOf(req);
    const read = await readForm(req);
    if (read === 'too-large') {
      send(res, 413, 'The form is too large.', { connection: 'close' });
      return;
    }
    if (read === 'unsupported') {
      send(res, 415, 'Forms are sent as application/x-www-form-urlencoded.');
      return;
    }
    const form = read;
    if (url.pathname === '/sign-in' && options.trustedHeaders === undefined) {
      await signIn(req, res, form, cookies);
      return;
    }
    const session = trusted(req) ?? (options.trustedHeaders === undefined ? sessions.find(cookies.get(SESSION_COOKIE)) : undefined);
    if (session === undefined) {
      if (options.trustedHeaders !== undefined) send(res, 401, 'This console is reached through the sign-in of its reverse proxy.');
      else redirect(res, '/sign-in');
      return;
    }
    if (req.method === 'POST') {
      // Every form carries the session's token: a page on another site cannot post here.
      if (!sameToken(form.get('_csrf') ?? '', session.csrf)) {
        send(res, 403, 'The form expired or did not come from this console: go back, reload and try again.');
        return;
      }
      if (url.pathname === '/sign-out') {
        sessions.close(session.id);
        redirect(res, '/sign-in', { 'set-cookie': cookie(SESSION_COOKIE, '', 0) });
        return;
      }
    }
    const request: Request = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, form, session, api: api(session, req.method === 'POST' ? form.get('commandId') : null) };
    const page: Page | undefined = await routes(request, { store: options.store });
    if (page === undefined) send(res, 404, 'No such page.');
    else if ('redirect' in page) redirect(res, page.redirect);
    else send(res, page.status ?? 200, page.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'console: a page failed');
      if (!res.headersSent) send(res, 500, 'The console failed to answer; see its log.');
      else res.end();
    });
  });
  const port = await listen(server, options.listen.port, options.listen.host);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => { resolve(); });
        server.closeAllConnections();
      }),
  };
};
