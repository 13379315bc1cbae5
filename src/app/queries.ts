// The read side of API.md, answered from the projections' views. The View query (`key`) is
// a command in disguise, since it records who saw the secret: it lives in commands.ts.
import * as E from 'fp-ts/lib/Either.js';
import {
  DomainError,
  forbidden,
  mayAuditAccess,
  notFound,
  type AccessAtRequest,
  type EnforcementRequest,
  type GrantRequest,
  type GrantsRequest,
  type ProxiesRequest,
  type TicketsRequest,
} from '../../domain/index.js';
import { accessAt, getGrant, keyEntry, listGrants, listProxies, listTickets } from '../../projections/index.js';
import type { Reply } from './commands.js';
import type { AppContext } from './context.js';

type Req<C extends { _A: unknown }> = C['_A'];

/** Queries fail only on a cursor they never gave out, which the projections throw. */
const answer = (read: () => Record<string, unknown> | DomainError): Reply => {
  try {
    const result = read();
    return result instanceof DomainError ? E.left(result) : E.right(result);
  } catch (e) {
    if (e instanceof DomainError) return E.left(e);
    throw e;
  }
};

export const grant = (ctx: AppContext, req: Req<typeof GrantRequest>): Reply =>
  answer(() => {
    const found = getGrant(ctx.projector.views.grants, req.instanceId, req.userId, ctx.clock());
    return found === undefined ? notFound(`no grant for user ${req.userId} on instance ${req.instanceId}`) : { ...found };
  });

export const grants = (ctx: AppContext, req: Req<typeof GrantsRequest>): Reply =>
  answer(() => ({ ...listGrants(ctx.projector.views.grants, { instanceId: req.instanceId, status: req.status, limit: req.limit, cursor: req.cursor }, ctx.clock()) }));

export const proxies = (ctx: AppContext, req: Req<typeof ProxiesRequest>): Reply =>
  answer(() => ({ ...listProxies(ctx.projector.views.proxies, { ownerId: req.ownerId, limit: req.limit, cursor: req.cursor }) }));

export const tickets = (ctx: AppContext, req: Req<typeof TicketsRequest>): Reply =>
  answer(() => ({ ...listTickets(ctx.projector.views.tickets, { instanceId: req.instanceId, status: req.status, limit: req.limit, cursor: req.cursor }) }));

export const accessAtQuery = (ctx: AppContext, req: Req<typeof AccessAtRequest>): Reply =>
  answer(() =>
    mayAuditAccess(req.actor)
      ? { items: accessAt(ctx.projector.views.access, { instanceId: req.instanceId, at: req.at, userId: req.userId }) }
      : forbidden('only an admin or a dba may ask who could reach an instance'),
  );

/** Which proxy nodes serving the instance already refuse a key (or hold its current value). */
export const enforcement = async (ctx: AppContext, req: Req<typeof EnforcementRequest>): Promise<Reply> => {
  if (!mayAuditAccess(req.actor)) return E.left(forbidden('only an admin or a dba may ask which proxy nodes enforce a key'));
  const entry = keyEntry(ctx.projector.views.keyIndex, req.accessId);
  if (entry?.instanceId !== req.instanceId) return E.left(notFound(`no AccessID ${req.accessId} on instance ${req.instanceId}`));
  const source = ctx.enforcement;
  const kvRevision = source === undefined ? undefined : await source.kvRevisionOf(req.instanceId, req.accessId);
  return E.right({
    instanceId: req.instanceId,
    accessId: req.accessId,
    state: entry.state,
    nodes: source === undefined ? [] : source.view.nodesFor(req.instanceId, req.accessId, kvRevision, Date.now()),
  });
};
