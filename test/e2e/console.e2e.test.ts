// The console over HTTP as a browser would speak to it (forms, cookies, redirects), against
// a real keyward, a real nats-server and a proxy node that checks the pairs it shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startConsoleWorld, type ConsoleWorld } from '../support/console-world.js';

let w: ConsoleWorld;
beforeAll(async () => {
  w = await startConsoleWorld();
  await w.addUser('ada', 'admin');
  await w.addUser('olivia', 'user');
  await w.addUser('bob', 'user');
}, 60_000);
afterAll(async () => {
  await (w as ConsoleWorld | undefined)?.stop();
}, 60_000);

interface Response {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** A browser's part: a cookie jar, forms posted with the page's CSRF token, redirects seen. */
class Browser {
  readonly #cookies = new Map<string, string>();
  csrf = '';
  seen: string[] = [];

  async request(path: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(`${w.url}${path}`, {
      method: form === undefined ? 'GET' : 'POST',
      redirect: 'manual',
      headers: {
        ...headers,
        cookie: [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body: form === undefined ? undefined : new URLSearchParams(form).toString(),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = (pair ?? '').split('=');
      if (k !== undefined && v !== undefined) {
        if (v === '') this.#cookies.delete(k);
        else this.#cookies.set(k, v);
      }
    }
    const body = await res.text();
    this.seen.push(body);
    const token = /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
    if (token !== undefined) this.csrf = token;
    if (res.status === 303) return this.request(res.headers.get('location') ?? '/');
    return { status: res.status, headers: res.headers, body };
  }

  post(path: string, form: Record<string, string> = {}): Promise<Response> {
    return this.request(path, { _csrf: this.csrf, ...form });
  }

  async signIn(userId: string, password = PASSWORD): Promise<Response> {
    await this.request('/sign-in');
    return this.post('/sign-in', { userId, password });
  }
}

const pairIn = (body: string): { accessId: string; secret: string } => ({
  accessId: /id="access-id">([^<]+)</.exec(body)?.[1] ?? '',
  secret: /id="access-secret">([^<]+)</.exec(body)?.[1] ?? '',
});

const until = async (check: () => boolean): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('the proxy node did not see the change in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('the console', () => {
  it('sends people who are not signed in to the sign-in page, and refuses a wrong password without saying which part was wrong', async () => {
    const b = new Browser();
    const page = await b.request('/proxies');
    expect(page.body).toContain('action="/sign-in"');
    const wrong = await b.post('/sign-in', { userId: 'ada', password: 'not it' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('Wrong user or password.');
    const unknown = await b.signIn('nobody');
    expect(unknown.body).toContain('Wrong user or password.');
  });

  it('rate-limits failed sign-ins for a user, even with the right password then', async () => {
    const b = new Browser();
    await b.request('/sign-in');
    await w.addUser('mallory', 'user');
    for (let i = 0; i < 5; i++) expect((await b.post('/sign-in', { userId: 'mallory', password: `guess-${i}` })).status).toBe(401);
    const blocked = await b.post('/sign-in', { userId: 'mallory', password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('900');
  });

  it('answers with strict security headers and session cookies', async () => {
    const b = new Browser();
    const signIn = await fetch(`${w.url}/sign-in`);
    expect(signIn.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(signIn.headers.get('cache-control')).toBe('no-store');
    const token = /name="_csrf" value="([^"]+)"/.exec(await signIn.text())?.[1] ?? '';
    const cookie = signIn.headers.getSetCookie()[0] ?? '';
    const res = await fetch(`${w.url}/sign-in`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie.split(';')[0] ?? '' },
      body: new URLSearchParams({ _csrf: token, userId: 'ada', password: PASSWORD }).toString(),
    });
    expect(res.status).toBe(303);
    const session = res.headers.getSetCookie().find((c) => c.startsWith('__Host-kw_session='));
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/Secure/);
    expect(session).toMatch(/SameSite=Strict/);
    expect((await b.signIn('ada')).body).toContain('Enable the proxy of an instance');
  });

  it('refuses a form without the session token and records nothing', async () => {
    const b = new Browser();
    await b.signIn('ada');
    const before = await w.kw.eventCount();
    const forged = await b.request('/proxies/enable', { instanceId: 'forged-db', dbUsername: 'x', dbPassword: 'y' });
    expect(forged.status).toBe(403);
    expect(await w.kw.eventCount()).toBe(before);
  });

  it('runs the whole workflow: enable, authorize, view, update, recycle, release, disable — with the pairs checked by a proxy node', async () => {
    const b = new Browser();
    await b.signIn('ada');
    const enabled = await b.post('/proxies/enable', { instanceId: 'orders-db', dbUsername: 'app', dbPassword: 'app-password-1' });
    expect(enabled.body).toContain('The proxy of orders-db is enabled.');
    await b.request('/instances/orders-db/authorize');
    const authorized = await b.post('/instances/orders-db/authorize', { userId: 'carol', account: 'default', policy: 'rotate', intervalHours: '24' });
    expect(authorized.headers.get('cache-control')).toBe('no-store');
    const first = pairIn(authorized.body);
    expect(first.secret).toMatch(/^[A-Za-z0-9]{40}$/);
    await until(() => w.node.verify('orders-db', first.accessId, first.secret).ok);
    const list = await b.request('/instances/orders-db');
    expect(list.body).toContain('carol');
    expect(list.body).toContain('rotate every 24 h');
    expect(list.body).not.toContain(first.secret);
    const viewed = await b.post('/instances/orders-db/users/carol/view');
    expect(pairIn(viewed.body)).toEqual(first);
    expect((await b.request('/instances/orders-db/users/carol/update')).body).toContain('stops working at once');
    const updated = pairIn((await b.post('/instances/orders-db/users/carol/update')).body);
    expect(updated.accessId).not.toBe(first.accessId);
    await until(() => w.node.verify('orders-db', updated.accessId, updated.secret).ok && !w.node.verify('orders-db', first.accessId, first.secret).ok);
    expect((await b.request('/instances/orders-db/users/carol/revoke?mode=recycle')).body).toContain('Recycle');
    expect((await b.post('/instances/orders-db/users/carol/revoke', { mode: 'recycle' })).body).toContain('revoked (recycled)');
    await until(() => !w.node.verify('orders-db', updated.accessId, updated.secret).ok);
    // The proxy node reports that it applied the revocation: the key's page says it refuses it.
    expect((await b.request('/instances/orders-db')).body).toContain(`/instances/orders-db/keys/${updated.accessId}`);
    let enforcement = '';
    for (let i = 0; i < 100 && !/status-active">enforcing/.test(enforcement); i++) {
      enforcement = (await b.request(`/instances/orders-db/keys/${updated.accessId}`)).body;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(enforcement).toContain('Nodes marked enforcing refuse it.');
    expect(enforcement).toMatch(/status-active">enforcing/);
    const dave = pairIn((await b.post('/instances/orders-db/authorize', { userId: 'dave', account: 'custom', dbUsername: 'dave_rw', dbPassword: 'dave-password-1', policy: 'system' })).body);
    await until(() => w.node.verify('orders-db', dave.accessId, dave.secret).ok);
    expect((await b.request('/instances/orders-db')).body).toContain('custom: dave_rw');
    expect((await b.post('/instances/orders-db/users/dave/revoke', { mode: 'release' })).body).toContain('revoked (released)');
    const disabled = await b.post('/proxies/orders-db/disable');
    expect(disabled.body).toContain('The proxy of orders-db is disabled');
    const history = await b.request('/history?instance=orders-db');
    expect(history.body).toContain('AccessKeyRotated');
    for (const secret of [first.secret, updated.secret, dave.secret, 'app-password-1', 'dave-password-1']) {
      expect(history.body).not.toContain(secret);
      expect(list.body).not.toContain(secret);
    }
  });

  it('shows a service error beside the field it concerns and keeps what was typed', async () => {
    const b = new Browser();
    await b.signIn('ada');
    await b.post('/proxies/enable', { instanceId: 'billing-db', dbUsername: 'app', dbPassword: 'app-password-2' });
    await b.request('/instances/billing-db/authorize');
    const past = await b.post('/instances/billing-db/authorize', { userId: 'erin', account: 'default', policy: 'expire', expiresAt: '2001-01-01T10:00', expiresAtUtc: '' });
    expect(past.status).toBe(400);
    expect(past.body).toMatch(/name="expiresAt"[^>]*value="2001-01-01T10:00">\s*<span class="error">[^<]*future/);
    expect(past.body).toContain('value="erin"');
  });

  it('shows a regular owner no action on other users\' rows, and the service refuses them when posted by hand', async () => {
    const owner = new Browser();
    await owner.signIn('olivia');
    await owner.post('/proxies/enable', { instanceId: 'olivia-db', dbUsername: 'app', dbPassword: 'app-password-3' });
    await owner.request('/instances/olivia-db/authorize');
    const granted = pairIn((await owner.post('/instances/olivia-db/authorize', { userId: 'frank', account: 'default', policy: 'system' })).body);
    expect(granted.secret).not.toBe('');
    const page = await owner.request('/instances/olivia-db');
    expect(page.body).toContain('frank');
    expect(page.body).not.toContain('/users/frank/view');
    expect(page.body).not.toContain('/users/frank/update');
    expect(page.body).not.toContain('/users/frank/revoke');
    expect(page.body).not.toContain(`/keys/${granted.accessId}`);
    expect((await owner.request(`/instances/olivia-db/keys/${granted.accessId}`)).status).toBe(403);
    const byHand = await owner.post('/instances/olivia-db/users/frank/view');
    expect(byHand.status).toBe(403);
    expect(byHand.body).toMatch(/role="alert">only an admin, a dba or user frank may manage the AccessKey pair of user frank/);
    expect(byHand.body).not.toContain(granted.secret);
    expect((await owner.post('/instances/olivia-db/users/frank/update')).status).toBe(403);
    expect((await owner.post('/instances/olivia-db/users/frank/revoke', { mode: 'recycle' })).status).toBe(403);
    // Frank's pair still works: nothing the owner posted changed it.
    await until(() => w.node.verify('olivia-db', granted.accessId, granted.secret).ok);
  });

  it('takes tickets, never lets the requester approve their own, and lets an admin approve', async () => {
    const requester = new Browser();
    await requester.signIn('bob');
    await requester.request('/tickets');
    const submitted = await requester.post('/tickets/submit', { instanceId: 'billing-db', policy: 'system', reason: 'month-end reports' });
    const ticketId = /Ticket ([A-Za-z0-9_-]+) is submitted/.exec(submitted.body)?.[1] ?? '';
    expect(ticketId).not.toBe('');
    expect(submitted.body).not.toContain(`/tickets/${ticketId}/approve`);
    const own = await requester.post(`/tickets/${ticketId}/approve`);
    expect(own.body).toMatch(/role="alert"/);
    const admin = new Browser();
    await admin.signIn('ada');
    const queue = await admin.request('/tickets');
    expect(queue.body).toContain(`/tickets/${ticketId}/approve`);
    expect((await admin.post(`/tickets/${ticketId}/approve`)).body).toContain(`Ticket ${ticketId} is approved.`);
    expect((await admin.request('/instances/billing-db')).body).toContain(`ticket ${ticketId} (approved by ada)`);
    // A ticket may ask for a custom database account; approved, the grant has it.
    await admin.post('/proxies/enable', { instanceId: 'reports-db', dbUsername: 'app', dbPassword: 'app-password-4' });
    await requester.request('/tickets');
    const custom = await requester.post('/tickets/submit', { instanceId: 'reports-db', account: 'custom', dbUsername: 'bob_ro', dbPassword: 'bob-password-1', policy: 'system', reason: 'read-only reports' });
    const second = /Ticket ([A-Za-z0-9_-]+) is submitted/.exec(custom.body)?.[1] ?? '';
    await admin.request('/tickets');
    await admin.post(`/tickets/${second}/approve`);
    const reports = await admin.request('/instances/reports-db');
    expect(reports.body).toContain('custom: bob_ro');
    expect(reports.body).not.toContain('bob-password-1');
  });

  it('signs out: the old session cookie no longer opens a page', async () => {
    const b = new Browser();
    await b.signIn('ada');
    expect((await b.request('/proxies')).body).toContain('Sign out');
    await b.post('/sign-out');
    expect((await b.request('/proxies')).body).toContain('action="/sign-in"');
  });
});

describe('the console behind an authenticating reverse proxy', () => {
  let t: ConsoleWorld;
  beforeAll(async () => {
    t = await startConsoleWorld({ trustedHeaders: { user: 'X-Forwarded-User', role: 'X-Forwarded-Role' } });
  }, 60_000);
  afterAll(async () => {
    await (t as ConsoleWorld | undefined)?.stop();
  }, 60_000);

  it('takes the person from the headers, and refuses requests without them', async () => {
    const bare = await fetch(`${t.url}/proxies`);
    expect(bare.status).toBe(401);
    const named = await fetch(`${t.url}/proxies`, { headers: { 'x-forwarded-user': 'ada', 'x-forwarded-role': 'admin' } });
    expect(await named.text()).toContain('ada <span class="hint">(admin)</span>');
    const noForm = await fetch(`${t.url}/sign-in`, { headers: { 'x-forwarded-user': 'ada', 'x-forwarded-role': 'admin' }, redirect: 'manual' });
    expect(noForm.status).toBe(404);
  });
});
