// The console's defences, checked over real HTTP against a real keyward: the headers every
// answer carries, sessions an attacker cannot fix or borrow, forms that cannot be forged,
// oversized or of the wrong type, markup that stays text, secrets that stay on the one page
// that shows them (never in a URL, another page or the log), the trusted-header mode's checks
// and `keyward console add-user`.
import { readFileSync, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsole, type ConsoleOptions, type RunningConsole } from '../../src/console/server.js';
import { createLogger } from '../../src/log.js';
import { runCli } from '../support/cli.js';
import { PASSWORD, startConsoleWorld, type ConsoleWorld } from '../support/console-world.js';

let w: ConsoleWorld;
let nc: NatsConnection;
const extraConsoles: RunningConsole[] = [];

beforeAll(async () => {
  w = await startConsoleWorld();
  nc = await connect({ servers: w.nats.url });
  await w.addUser('ada', 'admin');
  await w.addUser('bob', 'user');
}, 60_000);
afterAll(async () => {
  for (const c of extraConsoles.splice(0)) await c.close();
  await (nc as NatsConnection | undefined)?.close();
  await (w as ConsoleWorld | undefined)?.stop();
}, 60_000);

/** Another console on the same keyward: its own sessions, limiter and log. */
const anotherConsole = async (options: Partial<ConsoleOptions> = {}): Promise<{ url: string; lines: string[] }> => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const running = await startConsole({
    nc, prefix: 'keyward', listen: { host: '127.0.0.1', port: 0 }, accountsFile: w.accountsFile, store: w.kw.ctx.store,
    log: createLogger({ level: 'trace', destination }), ...options,
  });
  extraConsoles.push(running);
  return { url: `http://127.0.0.1:${running.port}`, lines };
};

// ---- a browser's part

interface Answer {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

const FORM = 'application/x-www-form-urlencoded';
const csrfIn = (body: string): string | undefined => /name="_csrf" value="([^"]+)"/.exec(body)?.[1];

/** A cookie jar, forms posted with the page's CSRF token, and every answer kept (redirects too). */
class Browser {
  readonly cookies = new Map<string, string>();
  readonly answers: Answer[] = [];
  csrf = '';
  constructor(readonly base: string = w.url) {}

  /** One request, no redirect followed. */
  async send(path: string, init: { method?: string; body?: string | Blob; type?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
    const res = await fetch(`${this.base}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(this.cookies.size === 0 ? {} : { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }),
        ...(init.type === undefined ? {} : { 'content-type': init.type }),
        ...init.headers,
      },
      body: init.body,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const at = pair.indexOf('=');
      const [k, v] = [pair.slice(0, at), pair.slice(at + 1)];
      if (v === '') this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    const answer = { method, path, status: res.status, headers: res.headers, body: await res.text() };
    this.answers.push(answer);
    const token = csrfIn(answer.body);
    if (token !== undefined) this.csrf = token;
    return answer;
  }

  /** A request as a browser makes it: 303s followed with a GET. */
  async request(path: string, form?: Record<string, string>): Promise<Answer> {
    const answer = await this.send(path, form === undefined ? {} : { body: new URLSearchParams(form).toString(), type: FORM });
    return answer.status === 303 ? this.request(answer.headers.get('location') ?? '/') : answer;
  }

  post(path: string, form: Record<string, string> = {}): Promise<Answer> {
    return this.request(path, { _csrf: this.csrf, ...form });
  }

  async signIn(userId: string, password = PASSWORD): Promise<Answer> {
    await this.request('/sign-in');
    return this.post('/sign-in', { userId, password });
  }

  get locations(): string[] {
    return this.answers.map((a) => a.headers.get('location')).filter((l): l is string => l !== null);
  }
}

const signedIn = async (userId: string, base?: string): Promise<Browser> => {
  const b = new Browser(base);
  const page = await b.signIn(userId);
  expect(page.body, `${userId} signed in`).toContain(`${userId} <span class="hint">`);
  return b;
};

const pairIn = (body: string): { accessId: string; secret: string } => ({
  accessId: /id="access-id">([^<]+)</.exec(body)?.[1] ?? '',
  secret: /id="access-secret">([^<]+)</.exec(body)?.[1] ?? '',
});

const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const expectSecurityHeaders = (a: Answer): void => {
  const where = `${a.method} ${a.path} (${a.status})`;
  expect(a.headers.get('content-security-policy'), where).toBe(CSP);
  expect(a.headers.get('x-frame-options'), where).toBe('DENY');
  expect(a.headers.get('x-content-type-options'), where).toBe('nosniff');
  expect(a.headers.get('referrer-policy'), where).toBe('no-referrer');
  expect(a.headers.get('cache-control'), where).toBe('no-store');
};

/** Nothing in a page the CSP would have to allow: one script, from this server, and no inline code or style. */
const expectNoInlineCode = (a: Answer): void => {
  const where = `${a.method} ${a.path}`;
  expect(a.body.match(/<script/gi) ?? [], where).toHaveLength(a.body.includes('<html') ? 1 : 0);
  expect(a.body, where).not.toMatch(/<script(?![^>]*src="\/static\/console\.js")/i);
  // Only real tags are looked at, without their (escaped) attribute values: text may well say "onerror=".
  for (const tag of a.body.match(/<[A-Za-z][^>]*>/g) ?? []) expect(tag.replace(/"[^"]*"/g, '""'), where).not.toMatch(/^<style|\sstyle=|\son[a-z]+=/i);
  expect(a.body, where).not.toMatch(/(href|src|action)="\s*javascript:/i);
};

describe('every answer of the console', () => {
  it('carries the CSP, X-Frame-Options DENY, nosniff, Referrer-Policy no-referrer and Cache-Control no-store', async () => {
    const b = new Browser();
    await b.request('/proxies'); // not signed in: 303 to the sign-in page
    await b.post('/sign-in', { userId: 'ada', password: 'not the password' }); // 401
    await b.signIn('ada'); // 200, then 303 to /proxies
    await b.post('/proxies/enable', { instanceId: 'headers-db', dbUsername: 'app', dbPassword: 'app-password-h' });
    await b.request('/instances/headers-db');
    await b.request('/instances/headers-db/authorize');
    await b.post('/instances/headers-db/authorize', { userId: 'carol', account: 'default', policy: 'system' });
    await b.request('/instances/headers-db/users/carol/update');
    await b.request('/instances/headers-db/users/carol/revoke?mode=recycle');
    await b.request('/tickets');
    await b.request('/history?instance=headers-db');
    await b.request('/history');
    await b.request('/no/such/page'); // 404
    await b.request('/instances/headers-db/users/carol/view'); // a GET where only POST is: 404
    await b.send('/proxies/enable', { body: `_csrf=${b.csrf}&instanceId=x`, type: 'text/plain' }); // 415
    await b.send('/proxies/enable', { body: 'instanceId=x', type: FORM }); // 403
    await b.send('/static/console.css');
    await b.send('/static/console.js');
    const statuses = new Set(b.answers.map((a) => a.status));
    for (const status of [200, 303, 401, 403, 404, 415]) expect(statuses, `an answer with status ${status}`).toContain(status);
    for (const path of ['/sign-in', '/proxies', '/instances/headers-db', '/instances/headers-db/authorize', '/tickets', '/history?instance=headers-db', '/no/such/page']) {
      expect(b.answers.map((a) => a.path), path).toContain(path);
    }
    for (const a of b.answers) expectSecurityHeaders(a);
    for (const a of b.answers.filter((x) => x.headers.get('content-type')?.startsWith('text/html') === true)) expectNoInlineCode(a);
    expect(b.answers.find((a) => a.path === '/static/console.css')?.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('in trusted-header mode too, refusals included', async () => {
    const t = await anotherConsole({ trustedHeaders: { user: 'X-Forwarded-User', role: 'X-Forwarded-Role' } });
    const b = new Browser(t.url);
    await b.send('/proxies'); // 401
    const as = { 'x-forwarded-user': 'ada', 'x-forwarded-role': 'admin' };
    await b.send('/proxies', { headers: as });
    await b.send('/tickets', { headers: as });
    await b.send('/sign-in', { headers: as }); // 404
    expect(b.answers.map((a) => a.status)).toEqual([401, 200, 200, 404]);
    for (const a of b.answers) expectSecurityHeaders(a);
  });
});

describe('sessions', () => {
  it('cannot be fixed in advance: a cookie value chosen before sign-in is not the one issued after, and opens nothing', async () => {
    const chosen = 'A'.repeat(43);
    const victim = new Browser();
    victim.cookies.set('__Host-kw_session', chosen);
    await victim.signIn('ada');
    const issued = victim.cookies.get('__Host-kw_session');
    expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issued).not.toBe(chosen);
    const attacker = new Browser();
    attacker.cookies.set('__Host-kw_session', chosen);
    expect((await attacker.request('/proxies')).body).toContain('action="/sign-in"');
  });

  it('cannot be fixed with a session of the attacker\'s own: signing in gives a new one, and each stays its owner\'s', async () => {
    const attacker = await signedIn('bob');
    const planted = attacker.cookies.get('__Host-kw_session') ?? '';
    const victim = new Browser();
    victim.cookies.set('__Host-kw_session', planted);
    await victim.signIn('ada');
    expect(victim.cookies.get('__Host-kw_session')).not.toBe(planted);
    expect((await victim.request('/proxies')).body).toContain('ada <span class="hint">(admin)</span>');
    const stillBob = await attacker.request('/proxies');
    expect(stillBob.body).toContain('bob <span class="hint">(user)</span>');
    expect(stillBob.body).not.toContain('ada <span');
  });

  it('are new at every sign-in, even for the same person, and their cookies are HttpOnly, Secure and SameSite=Strict', async () => {
    const one = await signedIn('ada');
    const two = await signedIn('ada');
    expect(one.cookies.get('__Host-kw_session')).not.toBe(two.cookies.get('__Host-kw_session'));
    expect(one.csrf).not.toBe(two.csrf);
    const cookies = one.answers.flatMap((a) => a.headers.getSetCookie());
    expect(cookies.length).toBeGreaterThan(0);
    for (const c of cookies) expect(c).toMatch(/; HttpOnly; SameSite=Strict; Secure/);
  });
});

describe('forms', () => {
  it('with a valid session but another session\'s CSRF token are refused 403 and record nothing', async () => {
    const ada = await signedIn('ada');
    const otherAda = await signedIn('ada');
    const bob = await signedIn('bob');
    const signInToken = csrfIn((await new Browser().request('/sign-in')).body) ?? '';
    expect(signInToken).not.toBe('');
    const before = await w.kw.eventCount();
    const forms: [string, Record<string, string>][] = [
      ['/proxies/enable', { instanceId: 'forged-db', dbUsername: 'app', dbPassword: 'forged-password' }],
      ['/tickets/submit', { instanceId: 'forged-db', policy: 'system', reason: 'forged' }],
      ['/sign-out', {}],
    ];
    for (const token of [otherAda.csrf, bob.csrf, signInToken, '', `${ada.csrf}x`, ada.csrf.slice(0, -1)]) {
      for (const [path, form] of forms) {
        const forged = await ada.send(path, { body: new URLSearchParams({ _csrf: token, ...form }).toString(), type: FORM });
        expect(forged.status, `${path} with token ${token}`).toBe(403);
      }
    }
    // Twice the field, the right token second: the first one counts.
    const doubled = await ada.send('/proxies/enable', { body: `_csrf=${bob.csrf}&_csrf=${ada.csrf}&instanceId=forged-db&dbUsername=a&dbPassword=b`, type: FORM });
    expect(doubled.status).toBe(403);
    expect(await w.kw.eventCount()).toBe(before);
    // The session is still signed in: the refusals signed nobody out.
    expect((await ada.request('/proxies')).body).toContain('Sign out');
  });

  it('of another content type than a urlencoded form are refused and record nothing', async () => {
    const ada = await signedIn('ada');
    const before = await w.kw.eventCount();
    const fields = `_csrf=${ada.csrf}&instanceId=typed-db&dbUsername=app&dbPassword=typed-password`;
    const bodies: [string | undefined, string | Blob][] = [
      ['text/plain', fields],
      ['text/plain', new Blob([fields])],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${ada.csrf}\r\n--x\r\nContent-Disposition: form-data; name="instanceId"\r\n\r\ntyped-db\r\n--x--\r\n`],
      ['application/json', JSON.stringify({ _csrf: ada.csrf, instanceId: 'typed-db', dbUsername: 'app', dbPassword: 'typed-password' })],
      // No content type at all (fetch gives a string body text/plain, a Blob without a type none).
      [undefined, new Blob([fields])],
    ];
    for (const [type, body] of bodies) {
      const refused = await ada.send('/proxies/enable', { body, type });
      expect(refused.status, String(type)).toBe(415);
    }
    // The sign-in form too: no session is opened from a text/plain post.
    const b = new Browser();
    await b.request('/sign-in');
    const signIn = await b.send('/sign-in', { body: `_csrf=${b.csrf}&userId=ada&password=${encodeURIComponent(PASSWORD)}`, type: 'text/plain' });
    expect(signIn.status).toBe(415);
    expect(b.cookies.has('__Host-kw_session')).toBe(false);
    expect(await w.kw.eventCount()).toBe(before);
  });

  it('over 64 KiB are refused and record nothing, and the console answers on', async () => {
    const ada = await signedIn('ada');
    await ada.post('/proxies/enable', { instanceId: 'big-db', dbUsername: 'app', dbPassword: 'app-password-b' });
    const before = await w.kw.eventCount();
    const body = new URLSearchParams({ _csrf: ada.csrf, instanceId: 'big-db', policy: 'system', reason: 'r'.repeat(65 * 1024) }).toString();
    const answer = await ada.send('/tickets/submit', { body, type: FORM }).catch((e: unknown) => e as Error);
    expect(answer instanceof Error ? answer.message : answer.status).toBe(413);
    expect(await w.kw.eventCount()).toBe(before);
    expect((await ada.request('/tickets')).status).toBe(200);
    // A form of exactly 64 KiB is read, and answered with the API's refusal (a reason that long is no ticket's).
    const base = new URLSearchParams({ _csrf: ada.csrf, instanceId: 'big-db', policy: 'system', reason: '' }).toString();
    const exact = `${base}${'r'.repeat(64 * 1024 - base.length)}`;
    expect(exact.length).toBe(64 * 1024);
    const read = await ada.send('/tickets/submit', { body: exact, type: FORM });
    expect(read.status).toBe(400);
    expect(read.body).toContain('role="alert"');
    expect(await w.kw.eventCount()).toBe(before);
  });

  // BUG (src/console/server.ts readForm, the `size > FORM_LIMIT` branch): past 64 KiB the request is destroyed,
  // which closes the socket before the handler's answer is written: the browser gets "connection
  // reset", not a page. Remove `.fails` once an oversized form gets a 413.
  it('over 64 KiB get an HTTP answer: 413', async () => {
    const ada = await signedIn('ada');
    const body = new URLSearchParams({ _csrf: ada.csrf, instanceId: 'big-db', policy: 'system', reason: 'r'.repeat(65 * 1024) }).toString();
    const answer = await ada.send('/tickets/submit', { body, type: FORM });
    expect(answer.status).toBe(413);
  });
});

describe('markup typed into the console', () => {
  const SCRIPT = '<script>alert(1)</script>';
  const IMG = '"><img src=x onerror=alert(2)>';
  const SVG = '<svg onload=alert(3)>';

  const expectInert = (a: Answer, ...markup: string[]): void => {
    expectNoInlineCode(a);
    for (const m of markup) expect(a.body, `${a.path} holds ${m} raw`).not.toContain(m.replace(/^"?>?/, ''));
  };

  it('comes back escaped in the tickets and history pages: a ticket reason, a rejection reason, a custom account name', async () => {
    const ada = await signedIn('ada');
    const bob = await signedIn('bob');
    await ada.post('/proxies/enable', { instanceId: 'xss-db', dbUsername: SVG, dbPassword: 'xss-password-1' });
    await bob.request('/tickets');
    const submitted = await bob.post('/tickets/submit', { instanceId: 'xss-db', policy: 'system', reason: SCRIPT });
    const ticketId = /Ticket ([A-Za-z0-9_-]+) is submitted/.exec(submitted.body)?.[1] ?? '';
    expect(ticketId).not.toBe('');
    for (const page of [submitted, await ada.request('/tickets')]) {
      expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expectInert(page, SCRIPT);
    }
    const rejected = await ada.post(`/tickets/${ticketId}/reject`, { reason: IMG });
    expect(rejected.body).toContain(`Ticket ${ticketId} is rejected.`);
    expectInert(rejected, SCRIPT, IMG);
    expectInert(await bob.request('/tickets'), SCRIPT, IMG);
    await ada.request('/instances/xss-db/authorize');
    const granted = await ada.post('/instances/xss-db/authorize', { userId: 'erin', account: 'custom', dbUsername: SVG, dbPassword: 'xss-password-2', policy: 'system' });
    expect(pairIn(granted.body).secret).not.toBe('');
    const instance = await ada.request('/instances/xss-db');
    expect(instance.body).toContain('custom: &lt;svg onload=alert(3)&gt;');
    expectInert(instance, SVG);
    for (const path of ['/history?instance=xss-db', '/history?user=bob', '/history?instance=xss-db&user=erin']) {
      const history = await ada.request(path);
      expectInert(history, SCRIPT, IMG, SVG);
      if (path !== '/history?instance=xss-db&user=erin') expect(history.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    }
    const history = await ada.request('/history?instance=xss-db');
    expect(history.body).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(history.body).toContain('proxy account &lt;svg onload=alert(3)&gt;');
    expect(history.body).toContain('custom account &lt;svg onload=alert(3)&gt;');
  });

  it('in a user id is refused by the API, and the refusal and the form keep it as text', async () => {
    const ada = await signedIn('ada');
    await ada.post('/proxies/enable', { instanceId: 'xss2-db', dbUsername: 'app', dbPassword: 'xss-password-3' });
    const before = await w.kw.eventCount();
    await ada.request('/instances/xss2-db/authorize');
    const refused = await ada.post('/instances/xss2-db/authorize', { userId: SCRIPT, account: 'default', policy: 'system' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatch(/role="alert">userId: must be 1–64 characters/);
    expect(refused.body).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
    expectInert(refused, SCRIPT);
    // A form re-shown after a refusal keeps a reason that tries to close its textarea as text.
    const ticket = await ada.post('/tickets/submit', { instanceId: IMG, policy: 'system', reason: `</textarea>${SCRIPT}` });
    expect(ticket.status).toBe(400);
    expect(ticket.body).toContain('&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;</textarea>');
    expect(ticket.body).toContain('value="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"');
    expectInert(ticket, SCRIPT, IMG);
    expect(await w.kw.eventCount()).toBe(before);
  });

  it('in a query string or a path stays text, or names no page', async () => {
    const ada = await signedIn('ada');
    const history = await ada.request(`/history?instance=${encodeURIComponent(SCRIPT)}&user=${encodeURIComponent(IMG)}`);
    expect(history.body).toContain('Give an instance, a user or both.');
    expectInert(history, SCRIPT, IMG);
    // Notices come from the session, never from the URL: a crafted link shows nothing.
    const notice = await ada.request(`/proxies?done=${encodeURIComponent(SCRIPT)}`);
    expect(notice.body).not.toContain('class="notice"');
    expectInert(notice, SCRIPT);
    const path = await ada.request(`/instances/${encodeURIComponent(SCRIPT)}`);
    expect(path.status).toBe(404);
    expect(path.body).not.toContain('<script');
  });
});

describe('AccessSecrets', () => {
  it('are shown only on the no-store page that answers the POST: never in a URL, another page or the console\'s log', async () => {
    const c = await anotherConsole();
    const passwords = ['Wrong-Password-Not-Logged-1', 'db-Password-Not-Logged-2', 'dave-Password-Not-Logged-3', PASSWORD];
    const failed = new Browser(c.url);
    await failed.signIn('ada', passwords[0]);
    const ada = await signedIn('ada', c.url);
    await ada.post('/proxies/enable', { instanceId: 'secret-db', dbUsername: 'app', dbPassword: passwords[1] ?? '' });
    await ada.request('/instances/secret-db/authorize');
    const shown: Answer[] = [];
    shown.push(await ada.post('/instances/secret-db/authorize', { userId: 'carol', account: 'default', policy: 'rotate', intervalHours: '24' }));
    shown.push(await ada.post('/instances/secret-db/authorize', { userId: 'dave', account: 'custom', dbUsername: 'dave_rw', dbPassword: passwords[2] ?? '', policy: 'system' }));
    shown.push(await ada.post('/instances/secret-db/users/carol/view'));
    await ada.request('/instances/secret-db/users/carol/update');
    shown.push(await ada.post('/instances/secret-db/users/carol/update'));
    const secrets = shown.map((a) => pairIn(a.body).secret);
    for (const [i, a] of shown.entries()) {
      expect(a.status, a.path).toBe(200);
      expect(a.method).toBe('POST');
      expect(secrets[i], a.path).toMatch(/^[A-Za-z0-9]{40}$/);
      expect(a.headers.get('cache-control'), a.path).toBe('no-store');
      expect(a.headers.get('location'), a.path).toBeNull();
    }
    expect(secrets[2]).toBe(secrets[0]);
    expect(new Set(secrets).size).toBe(3);
    await ada.post('/instances/secret-db/users/dave/revoke', { mode: 'recycle' });
    const shownAt = new Set(shown);
    const later = [
      await ada.request('/proxies'),
      await ada.request('/instances/secret-db'),
      await ada.request('/instances/secret-db/authorize'),
      await ada.request('/instances/secret-db/users/carol/update'),
      await ada.request('/instances/secret-db/users/carol/revoke?mode=release'),
      await ada.request('/tickets'),
      await ada.request('/history?instance=secret-db'),
      await ada.request('/history?user=carol'),
      await ada.request('/history?instance=secret-db&user=dave'),
    ];
    expect(later.find((a) => a.path === '/history?instance=secret-db')?.body).toContain('AccessKeyViewed');
    for (const secret of [...secrets, ...passwords]) {
      for (const a of [...ada.answers, ...failed.answers].filter((x) => !shownAt.has(x))) expect(a.body, `${a.method} ${a.path}`).not.toContain(secret);
      for (const location of [...ada.locations, ...failed.locations]) expect(location).not.toContain(secret);
      for (const line of c.lines) expect(line).not.toContain(secret);
      for (const line of w.kw.logs) expect(line).not.toContain(secret);
    }
    expect(later).toHaveLength(9);
    expect(ada.locations.length).toBeGreaterThan(0);
    // The log was written to: sign-ins are in it, refused and accepted.
    expect(c.lines.some((l) => l.includes('console: sign-in refused'))).toBe(true);
    expect(c.lines.some((l) => l.includes('console: signed in'))).toBe(true);
  });
});

describe('the trusted-header mode', () => {
  it('refuses 401 a role outside admin|dba|user and a user that is not id-shaped, and takes the pair that is right', async () => {
    const t = await anotherConsole({ trustedHeaders: { user: 'X-Forwarded-User', role: 'X-Forwarded-Role' } });
    const as = (user: string | undefined, role: string | undefined): Promise<Response> =>
      fetch(`${t.url}/proxies`, { redirect: 'manual', headers: { ...(user === undefined ? {} : { 'x-forwarded-user': user }), ...(role === undefined ? {} : { 'x-forwarded-role': role }) } });
    const refused: [string | undefined, string | undefined][] = [
      ['ada', 'root'], ['ada', 'Admin'], ['ada', 'ad min'], ['ada', 'admin,user'], ['ada', ''], ['ada', undefined], ['ada', 'constructor'], ['ada', 'toString'],
      ['<script>alert(1)</script>', 'admin'], ['ada bob', 'admin'], ['ada.b', 'admin'], ['a'.repeat(65), 'admin'], ['', 'admin'], [undefined, 'admin'], ['ada,bob', 'admin'], ['%61da', 'admin'], [undefined, undefined],
    ];
    for (const [user, role] of refused) {
      const res = await as(user, role);
      expect(res.status, `user ${String(user)}, role ${String(role)}`).toBe(401);
      const body = await res.text();
      expect(body).not.toContain('<script');
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    for (const role of ['admin', 'dba', 'user']) {
      const res = await as('a'.repeat(64), role);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(`${'a'.repeat(64)} <span class="hint">(${role})</span>`);
    }
  });

  it('takes no cookie session and still wants the CSRF token on every form', async () => {
    const t = await anotherConsole({ trustedHeaders: { user: 'X-Forwarded-User', role: 'X-Forwarded-Role' } });
    const session = (await signedIn('ada')).cookies.get('__Host-kw_session') ?? '';
    const cookieOnly = await fetch(`${t.url}/proxies`, { headers: { cookie: `__Host-kw_session=${session}` } });
    expect(cookieOnly.status).toBe(401);
    const as = { 'x-forwarded-user': 'ada', 'x-forwarded-role': 'admin' };
    const before = await w.kw.eventCount();
    const page = await fetch(`${t.url}/proxies`, { headers: as });
    const token = csrfIn(await page.text()) ?? '';
    expect(token).not.toBe('');
    const asBob = csrfIn(await (await fetch(`${t.url}/proxies`, { headers: { 'x-forwarded-user': 'bob', 'x-forwarded-role': 'admin' } })).text()) ?? '';
    for (const forged of ['', asBob]) {
      const res = await fetch(`${t.url}/proxies/enable`, { method: 'POST', redirect: 'manual', headers: { ...as, 'content-type': FORM }, body: new URLSearchParams({ _csrf: forged, instanceId: 'trusted-db', dbUsername: 'app', dbPassword: 'trusted-pw' }).toString() });
      expect(res.status).toBe(403);
    }
    expect(await w.kw.eventCount()).toBe(before);
  });
});

describe('keyward console add-user', () => {
  const cliPassword = 'cli-Password-Never-Printed-42';
  const add = (user: string, role: string, stdin: string) => runCli(['console', 'add-user', '--user', user, '--role', role, '--file', w.accountsFile], { stdin, timeoutMs: 60_000 });

  it('writes an account, from the password on stdin, that signs in over HTTP; it never prints the password', async () => {
    const run = await add('cli-dba', 'dba', `${cliPassword}\n`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('cli-dba (dba) can sign in');
    expect(`${run.stdout}${run.stderr}`).not.toContain(cliPassword);
    expect(readFileSync(w.accountsFile, 'utf8')).not.toContain(cliPassword);
    expect(statSync(w.accountsFile).mode & 0o777).toBe(0o600);
    const b = new Browser();
    const page = await b.signIn('cli-dba', cliPassword);
    expect(page.status).toBe(200);
    expect(page.body).toContain('cli-dba <span class="hint">(dba)</span>');
    // A password given without a final newline is the same password.
    const again = await add('cli-user', 'user', cliPassword);
    expect(again.code, again.stderr).toBe(0);
    expect((await new Browser().signIn('cli-user', cliPassword)).body).toContain('cli-user <span class="hint">(user)</span>');
  }, 60_000);

  it('refuses a short password, a bad role, a bad user and no password with exit 2, writing nothing and printing no password', async () => {
    const file = readFileSync(w.accountsFile, 'utf8');
    const runs: [string, Awaited<ReturnType<typeof add>>, RegExp][] = [
      ['short', await add('cli-short', 'user', 'short-pw-11\n'), /at least 12 characters/],
      ['role', await add('cli-role', 'root', `${cliPassword}\n`), /--role must be one of admin, dba, user/],
      ['user', await add('<b>x</b>', 'user', `${cliPassword}\n`), /--user must be/],
      ['empty', await add('cli-empty', 'user', ''), /give the password on stdin/],
    ];
    for (const [what, run, message] of runs) {
      expect(run.code, what).toBe(2);
      expect(run.stderr, what).toMatch(message);
      expect(`${run.stdout}${run.stderr}`, what).not.toContain(cliPassword);
      expect(`${run.stdout}${run.stderr}`, what).not.toContain('short-pw-11');
    }
    expect(readFileSync(w.accountsFile, 'utf8')).toBe(file);
  }, 120_000);
});

describe('known problems', () => {
  // BUG (src/console/server.ts signIn, lines 156–163): `blocked` is asked before the scrypt
  // check and `failed` recorded after it, so guesses sent together all pass the check: ten at
  // once are all tried, not five. Remove `.fails` once an attempt counts from its start.
  it('the sign-in limit holds for guesses sent at once', async () => {
    const c = await anotherConsole();
    const b = new Browser(c.url);
    await b.request('/sign-in');
    const statuses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => b.send('/sign-in', { body: new URLSearchParams({ _csrf: b.csrf, userId: 'ada', password: `guess-${i}` }).toString(), type: FORM }).then((a) => a.status)),
    );
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
  }, 60_000);

  // BUG (src/console/pages.ts routes, the `.map(decodeURIComponent)` of the path): it throws on a malformed
  // escape, so such a path answers 500 and logs an error instead of 404.
  it('a path with a malformed escape names no page (404)', async () => {
    const ada = await signedIn('ada');
    expect((await ada.send('/instances/%E0%A4%A')).status).toBe(404);
  });
});
