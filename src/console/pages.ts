// The console's pages and what each form does. Pages ask keyward's API for what they show and
// send its commands as the signed-in person; an API refusal is shown beside the field it
// concerns. A pair is shown once, on the page that answers the POST that made or viewed it.
import { randomUUID } from 'node:crypto';
import { mayManageKeysOf } from '../../domain/authorization.js';
import { matches, timelineEntry, type TimelineEntry } from '../audit/timeline.js';
import type { Failure, Reply } from '../cli/client.js';
import { decodeRecorded } from '../store/recorded.js';
import type { EventStore } from '../store/types.js';
import { html, type Html } from './html.js';
import type { Request } from './server.js';

export type Page = { readonly status?: number; readonly body: Html } | { readonly redirect: string };

interface Context {
  readonly store: EventStore | undefined;
}

type Row = Record<string, unknown>;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HISTORY_PAGE = 50;

// ---- layout

const layout = (req: Request | null, title: string, content: Html, status?: number): Page => ({
  status,
  body: html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · keyward</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<header>
  <span class="brand">keyward</span>
  ${req === null
    ? ''
    : html`<nav><a href="/proxies">Proxies</a><a href="/tickets">Tickets</a><a href="/history">History</a></nav>
  <span>${req.session.userId} <span class="hint">(${req.session.role})</span></span>
  <form method="post" action="/sign-out">${csrf(req)}<button type="submit">Sign out</button></form>`}
</header>
<main>
<h1>${title}</h1>
${content}
</main>
</body>
</html>`,
});

/** What every form carries: the session's token, and an id for the command it sends. */
const csrf = (req: Request): Html => html`<input type="hidden" name="_csrf" value="${req.session.csrf}"><input type="hidden" name="commandId" value="${randomUUID()}">`;

const when = (t: unknown): string => (typeof t === 'string' ? t.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC') : '—');

const errorOf = (failure: Failure | undefined, field: string): Html =>
  html`${(failure?.details ?? []).filter((d) => fieldOf(d.path) === field).map((d) => html`<span class="error">${d.message}</span>`)}`;

/** API detail paths → the form field they concern. */
const fieldOf = (path: string): string =>
  ({
    'databaseAccount.username': 'dbUsername',
    'databaseAccount.password': 'dbPassword',
    'policy.intervalSeconds': 'intervalHours',
    'policy.expiresAt': 'expiresAt',
  })[path] ?? path.split('.')[0] ?? path;

/** The HTTP status of a page that shows the API's refusal. */
const statusOf = (failure: Failure | undefined): number | undefined =>
  failure === undefined ? undefined : ({ FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, UNAVAILABLE: 503, INTERNAL: 500 } as Record<string, number>)[failure.code] ?? 400;

const alert = (failure: Failure | undefined): Html =>
  failure === undefined ? html`` : html`<p class="alert" role="alert">${failure.message}</p>`;

// What the last action did, said once on the page it led to. Kept in the session, not the
// URL: a link someone else made cannot put words in the console's mouth.
const notice = (req: Request): Html => {
  const text = req.session.notice;
  req.session.notice = undefined;
  return text === undefined ? html`` : html`<p class="notice" role="status">${text}</p>`;
};

const done = (req: Request, to: string, text: string): Page => {
  req.session.notice = text;
  return { redirect: to };
};

const itemsOf = (reply: Reply): Row[] => (reply.ok && Array.isArray(reply.result.items) ? (reply.result.items as Row[]) : []);

// ---- sign-in

export const signInPage = (token: string, problem: string | null): Html => {
  const page = layout(
    null,
    'Sign in',
    html`${problem === null ? '' : html`<p class="alert" role="alert">${problem}</p>`}
<form class="stack" method="post" action="/sign-in">
  <input type="hidden" name="_csrf" value="${token}">
  <label>User <input type="text" name="userId" autocomplete="username" required maxlength="64"></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Sign in</button>
</form>`,
  );
  return 'body' in page ? page.body : html``;
};

// ---- proxies

const proxiesPage = async (req: Request, failure?: Failure, form?: URLSearchParams): Promise<Page> => {
  const proxies = itemsOf(await req.api('query.proxies', { limit: 200 }));
  const counts = await Promise.all(
    proxies.map(async (p) => {
      const grants = await req.api('query.grants', { instanceId: p.instanceId, status: 'active', limit: 500 });
      return grants.ok ? `${itemsOf(grants).length}${grants.result.nextCursor ? '+' : ''}` : '?';
    }),
  );
  return layout(
    req,
    'Proxies',
    html`${notice(req)}${alert(failure)}
<div class="table-wrap"><table class="cards">
<thead><tr><th>Instance</th><th>Owner</th><th>Status</th><th>Enabled at</th><th>Active grants</th><th></th></tr></thead>
<tbody>
${proxies.map(
  (p, i) => html`<tr>
  <td data-label="Instance"><a href="/instances/${String(p.instanceId)}">${String(p.instanceId)}</a></td>
  <td data-label="Owner">${String(p.ownerId)}</td>
  <td data-label="Status" class="status-${String(p.status)}">${String(p.status)}</td>
  <td data-label="Enabled at" class="time">${when(p.enabledAt)}</td>
  <td data-label="Active grants">${counts[i] ?? '?'}</td>
  <td class="actions">${p.status === 'enabled'
    ? html`<form method="post" action="/proxies/${String(p.instanceId)}/disable">${csrf(req)}<button class="danger" type="submit">Disable</button></form>`
    : ''}</td>
</tr>`,
)}
</tbody></table></div>
${proxies.length === 0 ? html`<p class="hint">No proxy is enabled yet.</p>` : ''}
<h2>Enable the proxy of an instance</h2>
<form class="stack" method="post" action="/proxies/enable">${csrf(req)}
  <label>Instance <input type="text" name="instanceId" required maxlength="64" value="${form?.get('instanceId') ?? ''}">${errorOf(failure, 'instanceId')}</label>
  <label>Proxy database account <input type="text" name="dbUsername" required value="${form?.get('dbUsername') ?? ''}">${errorOf(failure, 'dbUsername')}</label>
  <label>Its password <input type="password" name="dbPassword" required autocomplete="new-password">${errorOf(failure, 'dbPassword')}</label>
  <button class="primary" type="submit">Enable</button>
</form>`,
    statusOf(failure),
  );
};

const enableProxy = async (req: Request): Promise<Page> => {
  const instanceId = req.form.get('instanceId') ?? '';
  const reply = await req.api('cmd.proxy.enable', { instanceId, databaseAccount: { username: req.form.get('dbUsername') ?? '', password: req.form.get('dbPassword') ?? '' } });
  if (!reply.ok) return proxiesPage(req, reply.error, req.form);
  return done(req, `/instances/${encodeURIComponent(instanceId)}`, `The proxy of ${instanceId} is enabled.`);
};

const disableProxy = async (req: Request, instanceId: string): Promise<Page> => {
  const reply = await req.api('cmd.proxy.disable', { instanceId });
  if (!reply.ok) return proxiesPage(req, reply.error);
  const revoked = Array.isArray(reply.result.revokedAccessIds) ? reply.result.revokedAccessIds.length : 0;
  return done(req, `/proxies`, `The proxy of ${instanceId} is disabled; ${revoked} key(s) revoked.`);
};

// ---- an instance and its users

const policyText = (policy: unknown): string => {
  const p = policy as { type?: string; intervalSeconds?: number; expiresAt?: string } | undefined;
  if (p?.type === 'rotate') return `rotate every ${formatInterval(p.intervalSeconds ?? 0)}`;
  if (p?.type === 'expire') return 'expires at a set time';
  return 'system (no automatic rotation)';
};

const formatInterval = (seconds: number): string =>
  seconds % 86400 === 0 && seconds > 86400 ? `${seconds / 86400} days` : seconds % 3600 === 0 ? `${seconds / 3600} h` : `${Math.round(seconds / 60)} min`;

const originText = (origin: unknown): string => {
  const o = origin as { type?: string; by?: string; ticketId?: string; approvedBy?: string } | undefined;
  return o?.type === 'ticket' ? `ticket ${o.ticketId ?? ''} (approved by ${o.approvedBy ?? '?'})` : `direct (by ${o?.by ?? '?'})`;
};

const instancePage = async (req: Request, instanceId: string, failure?: Failure): Promise<Page> => {
  const reply = await req.api('query.grants', { instanceId, status: 'all', limit: 500 });
  const grants = itemsOf(reply);
  const userPath = (g: Row): string => `/instances/${instanceId}/users/${String(g.userId)}`;
  // Which proxy nodes enforce a key is for admins and dbas (API.md, query.enforcement).
  const auditor = req.session.role === 'admin' || req.session.role === 'dba';
  return layout(
    req,
    `Instance ${instanceId}`,
    html`${notice(req)}${alert(failure ?? (reply.ok ? undefined : reply.error))}
<p><a class="button" href="/instances/${instanceId}/authorize">Authorize user</a> <a href="/history?instance=${instanceId}">History</a></p>
<div class="table-wrap"><table class="cards">
<thead><tr><th>User</th><th>Status</th><th>AccessID</th><th>Policy</th><th>Account</th><th>Next rotation</th><th>Expiry</th><th>Origin</th><th></th></tr></thead>
<tbody>
${grants.map((g) => {
  const mine = mayManageKeysOf({ userId: req.session.userId, role: req.session.role }, String(g.userId));
  const active = g.status === 'active';
  const account = g.databaseAccount as { username?: string; custom?: boolean } | undefined;
  return html`<tr>
  <td data-label="User">${String(g.userId)}</td>
  <td data-label="Status" class="status-${String(g.status)}">${String(g.status)}</td>
  <td data-label="AccessID"><code>${String(g.accessId)}</code>${auditor ? html` <a class="hint" href="/instances/${instanceId}/keys/${String(g.accessId)}">proxy nodes</a>` : ''}</td>
  <td data-label="Policy">${policyText(g.policy)}</td>
  <td data-label="Account">${account?.custom === true ? `custom: ${account.username ?? ''}` : 'default'}</td>
  <td data-label="Next rotation" class="time">${when(g.rotatesAt)}</td>
  <td data-label="Expiry" class="time">${when(g.notAfter)}</td>
  <td data-label="Origin">${originText(g.origin)}</td>
  <td class="actions">${mine && active
    ? html`<form method="post" action="${userPath(g)}/view">${csrf(req)}<button type="submit">View</button></form>
    <a class="button" href="${userPath(g)}/update">Update</a>
    <a class="button" href="${userPath(g)}/revoke?mode=recycle">Recycling</a>
    <a class="button" href="${userPath(g)}/revoke?mode=release">Release</a>`
    : ''}</td>
</tr>`;
})}
</tbody></table></div>
${grants.length === 0 ? html`<p class="hint">No user is authorized on this instance yet.</p>` : ''}`,
    statusOf(failure),
  );
};

const pairPage = (req: Request, title: string, instanceId: string, result: Row, note: string): Page =>
  layout(
    req,
    title,
    html`<p class="notice" role="status">${note}</p>
<div class="secret">
  <div><strong>AccessID</strong> <code id="access-id">${String(result.accessId)}</code> <button type="button" data-copy="access-id" hidden>Copy</button></div>
  <div><strong>AccessSecret</strong> <code id="access-secret">${String(result.accessSecret)}</code> <button type="button" data-copy="access-secret" hidden>Copy</button></div>
  <p class="hint">Shown once, on this page only: keep it now. The next View shows it again and is recorded.</p>
</div>
<p><a href="/instances/${instanceId}">Back to ${instanceId}</a></p>`,
  );

const authorizeForm = (req: Request, instanceId: string, failure?: Failure): Page => {
  const f = req.form;
  return layout(
    req,
    `Authorize a user on ${instanceId}`,
    html`${alert(failure)}
<form class="stack" method="post" action="/instances/${instanceId}/authorize">${csrf(req)}
  <label>User <input type="text" name="userId" required maxlength="64" value="${f.get('userId') ?? ''}">${errorOf(failure, 'userId')}</label>
  ${accountFields(f, failure)}
  ${policyFields(f, failure)}
  <button class="primary" type="submit">Authorize</button>
</form>`,
    statusOf(failure),
  );
};

const policyFields = (f: URLSearchParams, failure: Failure | undefined): Html => {
  const policy = f.get('policy') ?? 'system';
  return html`<fieldset><legend>Security policy</legend>
    <label class="choice"><input type="radio" name="policy" value="system" ${policy === 'system' ? 'checked' : ''}> System (no automatic rotation)</label>
    <label class="choice"><input type="radio" name="policy" value="rotate" ${policy === 'rotate' ? 'checked' : ''}> Regularly Update AccessKey Pair</label>
    <label>Every (hours) <input type="number" name="intervalHours" min="1" step="1" value="${f.get('intervalHours') ?? '24'}">${errorOf(failure, 'intervalHours')}</label>
    <label class="choice"><input type="radio" name="policy" value="expire" ${policy === 'expire' ? 'checked' : ''}> Expires at Specific Time</label>
    <label>Expires at <span class="hint">your time zone: <span id="zone">UTC without JavaScript</span></span>
      <input type="datetime-local" name="expiresAt" data-utc="expires-at-utc" data-zone="zone" value="${f.get('expiresAt') ?? ''}">${errorOf(failure, 'expiresAt')}</label>
    <input type="hidden" name="expiresAtUtc" id="expires-at-utc" value="">
    ${errorOf(failure, 'policy')}
  </fieldset>`;
};

const accountFields = (f: URLSearchParams, failure: Failure | undefined): Html => {
  const account = f.get('account') ?? 'default';
  return html`<fieldset><legend>Database account</legend>
    <label class="choice"><input type="radio" name="account" value="default" ${account === 'default' ? 'checked' : ''}> The proxy's account</label>
    <label class="choice"><input type="radio" name="account" value="custom" ${account === 'custom' ? 'checked' : ''}> A custom account</label>
    <label>Username <span class="hint">custom account only</span><input type="text" name="dbUsername" value="${f.get('dbUsername') ?? ''}">${errorOf(failure, 'dbUsername')}</label>
    <label>Password <span class="hint">custom account only</span><input type="password" name="dbPassword" autocomplete="new-password">${errorOf(failure, 'dbPassword')}</label>
    ${errorOf(failure, 'databaseAccount')}
  </fieldset>`;
};

/** The account as the API takes it: absent for the proxy's own. */
const accountFrom = (f: URLSearchParams): Record<string, unknown> =>
  f.get('account') === 'custom' ? { databaseAccount: { username: f.get('dbUsername') ?? '', password: f.get('dbPassword') ?? '' } } : {};

/** The policy as the API takes it; an expiry from the picker is UTC unless the browser said otherwise. */
const policyFrom = (f: URLSearchParams): Record<string, unknown> => {
  const type = f.get('policy') ?? 'system';
  if (type === 'rotate') return { type, intervalSeconds: Math.round(Number(f.get('intervalHours') ?? '0') * 3600) };
  if (type === 'expire') {
    const utc = f.get('expiresAtUtc') ?? '';
    const local = f.get('expiresAt') ?? '';
    return { type, expiresAt: utc !== '' ? utc : local === '' ? '' : `${local.length === 16 ? `${local}:00` : local}.000Z` };
  }
  return { type: 'system' };
};

const authorize = async (req: Request, instanceId: string): Promise<Page> => {
  const f = req.form;
  const userId = f.get('userId') ?? '';
  const reply = await req.api('cmd.authorize', { instanceId, userId, policy: policyFrom(f), ...accountFrom(f) });
  if (!reply.ok) return authorizeForm(req, instanceId, reply.error);
  return pairPage(req, `${userId} is authorized on ${instanceId}`, instanceId, reply.result, `Give ${userId} this AccessKey pair.`);
};

const confirmPage = (req: Request, instanceId: string, userId: string, action: 'update' | 'recycle' | 'release'): Page => {
  const what = {
    update: { title: 'Update the AccessKey pair', text: `A new pair replaces ${userId}'s current one, which stops working at once.`, path: 'update', button: 'Update' },
    recycle: { title: 'Recycle the AccessKey pair', text: `${userId}'s pair stops working at once; the grant is kept as revoked (recycled).`, path: 'revoke', button: 'Recycle' },
    release: { title: 'Release the AccessKey pair', text: `${userId}'s pair stops working at once and the grant is released.`, path: 'revoke', button: 'Release' },
  }[action];
  return layout(
    req,
    `${what.title}: ${userId} on ${instanceId}`,
    html`<p class="alert">${what.text}</p>
<form method="post" action="/instances/${instanceId}/users/${userId}/${what.path}">${csrf(req)}
  ${action === 'update' ? '' : html`<input type="hidden" name="mode" value="${action}">`}
  <button class="danger" type="submit">${what.button}</button> <a href="/instances/${instanceId}">Cancel</a>
</form>`,
  );
};

const userAction = async (req: Request, instanceId: string, userId: string, action: string): Promise<Page | undefined> => {
  if (action === 'view' && req.method === 'POST') {
    const reply = await req.api('query.key', { instanceId, userId });
    if (!reply.ok) return instancePage(req, instanceId, reply.error);
    return pairPage(req, `${userId}'s AccessKey pair on ${instanceId}`, instanceId, reply.result, 'This view is recorded.');
  }
  if (action === 'update' && req.method === 'GET') return confirmPage(req, instanceId, userId, 'update');
  if (action === 'update' && req.method === 'POST') {
    const reply = await req.api('cmd.rotate', { instanceId, userId });
    if (!reply.ok) return instancePage(req, instanceId, reply.error);
    return pairPage(req, `${userId}'s new AccessKey pair on ${instanceId}`, instanceId, reply.result, 'The previous pair no longer works.');
  }
  const mode = (req.method === 'GET' ? req.query : req.form).get('mode');
  if (action === 'revoke' && (mode === 'recycle' || mode === 'release')) {
    if (req.method === 'GET') return confirmPage(req, instanceId, userId, mode);
    const reply = await req.api('cmd.revoke', { instanceId, userId, mode });
    if (!reply.ok) return instancePage(req, instanceId, reply.error);
    return done(req, `/instances/${instanceId}`, `${userId}'s pair is revoked (${mode === 'recycle' ? 'recycled' : 'released'}).`);
  }
  return undefined;
};

/** The proxy nodes serving the instance, and whether each holds the key's current state. */
const enforcementPage = async (req: Request, instanceId: string, accessId: string): Promise<Page> => {
  const reply = await req.api('query.enforcement', { instanceId, accessId });
  if (!reply.ok) return instancePage(req, instanceId, reply.error);
  const nodes = Array.isArray(reply.result.nodes) ? (reply.result.nodes as Row[]) : [];
  const state = String(reply.result.state);
  return layout(
    req,
    `Key ${accessId} on ${instanceId}`,
    html`<p>This key is <strong class="status-${state === 'active' ? 'active' : 'revoked'}">${state}</strong>. ${state === 'active' ? 'Nodes marked enforcing accept it.' : 'Nodes marked enforcing refuse it.'}</p>
<div class="table-wrap"><table class="cards">
<thead><tr><th>Proxy node</th><th>Status</th><th>Applied at</th><th>Last seen</th></tr></thead>
<tbody>
${nodes.map((n) => html`<tr><td data-label="Proxy node">${String(n.nodeId)}</td><td data-label="Status" class="status-${n.status === 'enforcing' ? 'active' : 'revoked'}">${String(n.status)}</td><td data-label="Applied at" class="time">${when(n.appliedAt)}</td><td data-label="Last seen" class="time">${when(n.lastSeen)}</td></tr>`)}
</tbody></table></div>
${nodes.length === 0 ? html`<p class="hint">No proxy node has reported for this instance.</p>` : ''}
<p><a href="/instances/${instanceId}">Back to ${instanceId}</a></p>`,
  );
};

// ---- tickets

const ticketsPage = async (req: Request, failure?: Failure): Promise<Page> => {
  const tickets = itemsOf(await req.api('query.tickets', { limit: 200 }));
  const f = req.form;
  return layout(
    req,
    'Tickets',
    html`${notice(req)}${alert(failure)}
<div class="table-wrap"><table class="cards">
<thead><tr><th>Ticket</th><th>Instance</th><th>Requester</th><th>Policy</th><th>Reason</th><th>Status</th><th></th></tr></thead>
<tbody>
${tickets.map((t) => {
  const own = t.requesterId === req.session.userId;
  return html`<tr>
  <td data-label="Ticket"><code>${String(t.ticketId)}</code></td>
  <td data-label="Instance">${String(t.instanceId)}</td>
  <td data-label="Requester">${String(t.requesterId)}</td>
  <td data-label="Policy">${policyText(t.policy)}</td>
  <td data-label="Reason">${String(t.reason)}</td>
  <td data-label="Status" class="status-${String(t.status)}">${String(t.status)}${typeof t.decidedBy === 'string' ? ` by ${t.decidedBy}` : ''}${typeof t.rejectionReason === 'string' ? html`<br><span class="hint">${t.rejectionReason}</span>` : ''}</td>
  <td class="actions">${t.status === 'pending' && !own
    ? html`<form method="post" action="/tickets/${String(t.ticketId)}/approve">${csrf(req)}<button class="primary" type="submit">Approve</button></form>
    <form method="post" action="/tickets/${String(t.ticketId)}/reject">${csrf(req)}<input type="text" name="reason" placeholder="Why not" required maxlength="1000"><button type="submit">Reject</button></form>`
    : ''}</td>
</tr>`;
})}
</tbody></table></div>
${tickets.length === 0 ? html`<p class="hint">No tickets.</p>` : ''}
<h2>Request access</h2>
<form class="stack" method="post" action="/tickets/submit">${csrf(req)}
  <label>Instance <input type="text" name="instanceId" required maxlength="64" value="${f.get('instanceId') ?? ''}">${errorOf(failure, 'instanceId')}</label>
  ${accountFields(f, failure)}
  ${policyFields(f, failure)}
  <label>Reason <textarea name="reason" required maxlength="1000">${f.get('reason') ?? ''}</textarea>${errorOf(failure, 'reason')}</label>
  <button class="primary" type="submit">Submit</button>
</form>`,
    statusOf(failure),
  );
};

const ticketAction = async (req: Request, ticketId: string | null, action: string): Promise<Page> => {
  if (action === 'submit') {
    const reply = await req.api('cmd.ticket.submit', { instanceId: req.form.get('instanceId') ?? '', policy: policyFrom(req.form), reason: req.form.get('reason') ?? '', ...accountFrom(req.form) });
    if (!reply.ok) return ticketsPage(req, reply.error);
    return done(req, `/tickets`, `Ticket ${String(reply.result.ticketId)} is submitted.`);
  }
  const reply = action === 'approve' ? await req.api('cmd.ticket.approve', { ticketId }) : await req.api('cmd.ticket.reject', { ticketId, reason: req.form.get('reason') ?? '' });
  if (!reply.ok) return ticketsPage(req, reply.error);
  return done(req, `/tickets`, `Ticket ${ticketId ?? ''} is ${action === 'approve' ? 'approved' : 'rejected'}.`);
};

// ---- history

const historyPage = async (req: Request, ctx: Context): Promise<Page> => {
  const instanceId = req.query.get('instance') ?? '';
  const userId = req.query.get('user') ?? '';
  const page = Math.max(1, Number.parseInt(req.query.get('page') ?? '1', 10) || 1);
  const form = html`<form class="stack" method="get" action="/history">
  <label>Instance <input type="text" name="instance" maxlength="64" value="${instanceId}"></label>
  <label>User <input type="text" name="user" maxlength="64" value="${userId}"></label>
  <button type="submit">Show</button>
</form>`;
  if (ctx.store === undefined) return layout(req, 'History', html`<p class="hint">This console was started without the event store: no history here (keyward audit timeline reads it).</p>`);
  if ((instanceId === '' && userId === '') || (instanceId !== '' && !ID.test(instanceId)) || (userId !== '' && !ID.test(userId))) return layout(req, 'History', html`${form}<p class="hint">Give an instance, a user or both.</p>`);
  const filter = { instanceId: instanceId === '' ? undefined : instanceId, userId: userId === '' ? undefined : userId, from: undefined, to: undefined };
  const entries: TimelineEntry[] = [];
  for await (const stored of ctx.store.readAll({ categories: ['proxy', 'grant', 'ticket'] })) {
    const entry = timelineEntry(decodeRecorded(stored));
    if (matches(entry, filter)) entries.push(entry);
  }
  const shown = entries.slice((page - 1) * HISTORY_PAGE, page * HISTORY_PAGE);
  const link = (p: number): string => `/history?${new URLSearchParams({ instance: instanceId, user: userId, page: String(p) }).toString()}`;
  return layout(
    req,
    'History',
    html`${form}
<div class="table-wrap"><table class="cards">
<thead><tr><th>When</th><th>What</th><th>Instance</th><th>User</th><th>Who</th><th>AccessID</th><th>Detail</th></tr></thead>
<tbody>
${shown.map(
  (e) => html`<tr><td data-label="When" class="time">${when(e.at)}</td><td data-label="What">${e.event}</td><td data-label="Instance">${e.instanceId}</td><td data-label="User">${e.userId ?? ''}</td><td data-label="Who">${e.actor} (${e.actorRole})</td><td data-label="AccessID"><code>${e.accessId ?? ''}</code></td><td data-label="Detail">${e.detail}</td></tr>`,
)}
</tbody></table></div>
<p class="hint">${entries.length} event(s), oldest first; page ${page} of ${Math.max(1, Math.ceil(entries.length / HISTORY_PAGE))}.</p>
<div class="pager">${page > 1 ? html`<a href="${link(page - 1)}">← Previous</a>` : ''}${page * HISTORY_PAGE < entries.length ? html`<a href="${link(page + 1)}">Next →</a>` : ''}</div>`,
  );
};

// ---- routing

export const routes = async (req: Request, ctx: Context): Promise<Page | undefined> => {
  let parts: string[];
  try {
    parts = req.path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const [first, second, third, fourth, fifth] = parts;
  // Every word of every path is an id or has an id's form: nothing else names a page.
  if (parts.some((p) => !ID.test(p))) return undefined;
  const get = req.method === 'GET';
  const post = req.method === 'POST';
  if (parts.length === 0 && get) return { redirect: '/proxies' };
  if (first === 'proxies') {
    if (parts.length === 1 && get) return proxiesPage(req);
    if (second === 'enable' && parts.length === 2 && post) return enableProxy(req);
    if (second !== undefined && third === 'disable' && parts.length === 3 && post) return disableProxy(req, second);
  }
  if (first === 'instances' && second !== undefined && ID.test(second)) {
    if (parts.length === 2 && get) return instancePage(req, second);
    if (third === 'authorize' && parts.length === 3) return get ? authorizeForm(req, second) : post ? authorize(req, second) : undefined;
    if (third === 'users' && fourth !== undefined && fifth !== undefined && parts.length === 5) return userAction(req, second, fourth, fifth);
    if (third === 'keys' && fourth !== undefined && parts.length === 4 && get) return enforcementPage(req, second, fourth);
  }
  if (first === 'tickets') {
    if (parts.length === 1 && get) return ticketsPage(req);
    if (second === 'submit' && parts.length === 2 && post) return ticketAction(req, null, 'submit');
    if (second !== undefined && (third === 'approve' || third === 'reject') && parts.length === 3 && post) return ticketAction(req, second, third);
  }
  if (first === 'history' && parts.length === 1 && get) return historyPage(req, ctx);
  return undefined;
};
