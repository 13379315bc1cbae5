// The commands of API.md: a decoded request becomes a domain command (passwords sealed on
// the way), runs through the command handling, and its reply is built from what was
// recorded, so a repeated commandId answers exactly as the first time did.
import * as E from 'fp-ts/lib/Either.js';
import {
  conflict,
  decideApproval,
  decideGrant,
  decideProxy,
  decideTicket,
  grantDecider,
  grantStreamId,
  proxyDecider,
  proxyStreamId,
  ticketDecider,
  ticketStreamId,
  type ApproveTicketRequest,
  type AuthorizeRequest,
  type DisableProxyRequest,
  type DomainError,
  type DomainEvent,
  type EnableProxyRequest,
  type GrantCommand,
  type GrantEvent,
  type GrantState,
  type ProxyCommand,
  type ProxyEvent,
  type ProxyState,
  type Recorded,
  type RejectTicketRequest,
  type RevokeRequest,
  type RotateRequest,
  type SubmitTicketRequest,
  type TicketEvent,
  type TicketState,
  type ViewKeyRequest,
  SYSTEM_ACTOR,
} from '../../domain/index.js';
import { createHash } from 'node:crypto';
import { issueKey } from '../crypto.js';
import { execute, loadStream, type CommandMeta, type Outcome } from '../handling/handle.js';
import { metaOf, sealAccount, type AppContext } from './context.js';

export type Reply = E.Either<DomainError, Record<string, unknown>>;

type Req<C extends { _A: unknown }> = C['_A'];

// ---- helpers shared by the commands

const loadProxy = async (ctx: AppContext, instanceId: string): Promise<ProxyState> =>
  (await loadStream(ctx.store, proxyStreamId(instanceId), proxyDecider)).state;

const loadGrant = async (ctx: AppContext, instanceId: string, userId: string): Promise<GrantState> =>
  (await loadStream(ctx.store, grantStreamId(instanceId, userId), grantDecider)).state;

/** A reply is written once the command's events are in every view (read-your-writes). */
const settled = async <Ev>(ctx: AppContext, outcome: Outcome<Ev>): Promise<void> => {
  const last = outcome.events[outcome.events.length - 1];
  if (last === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  // The reply is right without the views; waiting longer than this only delays the caller.
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
  await Promise.race([ctx.projector.caughtUpTo(last.position), timeout]);
  clearTimeout(timer);
};

const find = <T extends DomainEvent['type']>(events: readonly Recorded<DomainEvent>[], type: T): Recorded<Extract<DomainEvent, { type: T }>> | undefined =>
  events.find((e): e is Recorded<Extract<DomainEvent, { type: T }>> => e.type === type);

/** The commandId named events of another kind: it was used for a different command. */
const reused = (meta: CommandMeta): DomainError => conflict(`commandId ${meta.commandId} was already used for a different command`);

/** The plaintext AccessSecret of an AccessID, opened from the event that issued it. */
const secretOf = (ctx: AppContext, events: readonly Recorded<DomainEvent>[], accessId: string): string | undefined => {
  for (const e of events) {
    if ((e.type === 'AccessGranted' || e.type === 'AccessKeyRotated') && e.data.accessId === accessId) return ctx.masterKey.unseal(e.data.secretSealed).reveal();
  }
  return undefined;
};

/** One command on a grant's stream, through the command handling; the scheduler runs its own this way. */
export const onGrant = async (ctx: AppContext, command: GrantCommand, meta: CommandMeta): Promise<E.Either<DomainError, Outcome<GrantEvent>>> =>
  execute<GrantState, GrantEvent>({
    store: ctx.store,
    streamId: grantStreamId(command.instanceId, command.userId),
    decider: grantDecider,
    meta,
    clock: ctx.clock,
    decide: async (state, now) => decideGrant(command, state, { now, proxy: await loadProxy(ctx, command.instanceId), newKey: issueKey(ctx.masterKey).key }),
  });

const reply = async <Ev extends DomainEvent>(
  ctx: AppContext,
  result: E.Either<DomainError, Outcome<Ev>>,
  build: (outcome: Outcome<Ev>) => Reply | Promise<Reply>,
): Promise<Reply> => {
  if (E.isLeft(result)) return result;
  await settled(ctx, result.right);
  return build(result.right);
};

// ---- proxy

const onProxy = (ctx: AppContext, command: ProxyCommand, meta: CommandMeta): Promise<E.Either<DomainError, Outcome<ProxyEvent>>> =>
  execute<ProxyState, ProxyEvent>({
    store: ctx.store,
    streamId: proxyStreamId(command.instanceId),
    decider: proxyDecider,
    meta,
    clock: ctx.clock,
    decide: (state, now) => Promise.resolve(decideProxy(command, state, { now })),
  });

export const enableProxy = async (ctx: AppContext, req: Req<typeof EnableProxyRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const databaseAccount = sealAccount(ctx.masterKey, req.databaseAccount);
  const result = await onProxy(ctx, { type: 'EnableProxy', actor: req.actor, instanceId: req.instanceId, databaseAccount, endpoints: req.endpoints ?? [] }, meta);
  return reply(ctx, result, ({ events }) => {
    const enabled = find(events, 'ProxyEnabled');
    if (enabled === undefined) return E.left(reused(meta));
    return E.right({ instanceId: enabled.data.instanceId, ownerId: enabled.data.ownerId, enabledAt: enabled.data.enabledAt });
  });
};

export const disableProxy = async (ctx: AppContext, req: Req<typeof DisableProxyRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const result = await onProxy(ctx, { type: 'DisableProxy', actor: req.actor, instanceId: req.instanceId }, meta);
  return reply(ctx, result, ({ events }) => {
    const disabled = find(events, 'ProxyDisabled');
    if (disabled === undefined) return E.left(reused(meta));
    // The keys this very event ended, as the key index recorded them.
    const revokedAccessIds = [...ctx.projector.views.keyIndex.entries.values()]
      .filter((k) => k.instanceId === req.instanceId && k.state === 'revoked' && k.reason === 'proxy-disabled' && k.position === disabled.position)
      .map((k) => k.accessId)
      .sort();
    return E.right({ instanceId: req.instanceId, revokedAccessIds });
  });
};

// ---- grants

export const authorize = async (ctx: AppContext, req: Req<typeof AuthorizeRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const databaseAccount = req.databaseAccount === undefined ? null : sealAccount(ctx.masterKey, req.databaseAccount);
  const command: GrantCommand = { type: 'Authorize', actor: req.actor, instanceId: req.instanceId, userId: req.userId, databaseAccount, policy: req.policy };
  return reply(ctx, await onGrant(ctx, command, meta), ({ events }) => {
    const granted = find(events, 'AccessGranted');
    if (granted === undefined) return E.left(reused(meta));
    const { instanceId, userId, accessId, policy, notAfter, rotatesAt } = granted.data;
    return E.right({ instanceId, userId, accessId, accessSecret: secretOf(ctx, events, accessId), policy, notAfter, rotatesAt });
  });
};

export const rotate = async (ctx: AppContext, req: Req<typeof RotateRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const command: GrantCommand = { type: 'RotateKey', actor: req.actor, instanceId: req.instanceId, userId: req.userId, overlapSeconds: req.overlapSeconds ?? 0 };
  return reply(ctx, await onGrant(ctx, command, meta), ({ events }) => {
    const rotated = find(events, 'AccessKeyRotated');
    if (rotated === undefined) return E.left(reused(meta));
    const { accessId, previousAccessId, previousNotAfter, notAfter, rotatesAt } = rotated.data;
    return E.right({ accessId, accessSecret: secretOf(ctx, events, accessId), previousAccessId, previousNotAfter, notAfter, rotatesAt });
  });
};

export const revoke = async (ctx: AppContext, req: Req<typeof RevokeRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const command: GrantCommand = { type: 'Revoke', actor: req.actor, instanceId: req.instanceId, userId: req.userId, mode: req.mode };
  return reply(ctx, await onGrant(ctx, command, meta), ({ events }) => {
    const revoked = find(events, 'AccessRevoked');
    if (revoked === undefined) return E.left(reused(meta));
    return E.right({ accessId: revoked.data.accessId, revokedAt: revoked.data.revokedAt });
  });
};

/** The View query: shows the pair and records who saw it (AccessKeyViewed). */
export const viewKey = async (ctx: AppContext, req: Req<typeof ViewKeyRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const command: GrantCommand = { type: 'ViewKey', actor: req.actor, instanceId: req.instanceId, userId: req.userId };
  return reply(ctx, await onGrant(ctx, command, meta), async ({ events }) => {
    const viewed = find(events, 'AccessKeyViewed');
    if (viewed === undefined) return E.left(reused(meta));
    const stream = await loadStream(ctx.store, grantStreamId(req.instanceId, req.userId), grantDecider);
    const issued = stream.events.find((e) => (e.type === 'AccessGranted' || e.type === 'AccessKeyRotated') && e.data.accessId === viewed.data.accessId);
    if (issued === undefined || (issued.type !== 'AccessGranted' && issued.type !== 'AccessKeyRotated')) return E.left(reused(meta));
    return E.right({
      accessId: viewed.data.accessId,
      accessSecret: secretOf(ctx, stream.events, viewed.data.accessId),
      notAfter: issued.data.notAfter,
      rotatesAt: stream.state.status === 'active' && stream.state.accessId === viewed.data.accessId ? stream.state.rotatesAt : issued.data.rotatesAt,
    });
  });
};

// ---- tickets

const onTicket = (ctx: AppContext, ticketId: string, meta: CommandMeta, decide: (state: TicketState, now: string) => Promise<E.Either<DomainError, TicketEvent[]>>) =>
  execute<TicketState, TicketEvent>({ store: ctx.store, streamId: ticketStreamId(ticketId), decider: ticketDecider, meta, clock: ctx.clock, decide });

export const submitTicket = async (ctx: AppContext, req: Req<typeof SubmitTicketRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  // Without a ticketId, the commandId names the ticket: a repeated request finds the ticket
  // it opened the first time instead of opening another.
  const ticketId = req.ticketId ?? `t-${createHash('sha256').update(meta.commandId).digest('hex').slice(0, 32)}`;
  const databaseAccount = req.databaseAccount === undefined ? null : sealAccount(ctx.masterKey, req.databaseAccount);
  const result = await onTicket(ctx, ticketId, meta, async (state, now) =>
    decideTicket(
      { type: 'SubmitTicket', actor: req.actor, ticketId, instanceId: req.instanceId, databaseAccount, policy: req.policy, reason: req.reason },
      state,
      { now, proxy: await loadProxy(ctx, req.instanceId), grant: await loadGrant(ctx, req.instanceId, req.actor.userId), newKey: issueKey(ctx.masterKey).key },
    ),
  );
  return reply(ctx, result, ({ events }) =>
    find(events, 'TicketSubmitted') === undefined ? E.left(reused(meta)) : E.right({ ticketId, status: 'pending' }),
  );
};

/**
 * Approval records the requester's grant first, then the ticket's decision (see
 * decideApproval): each step is one command on one stream, retried on its own, and a
 * repeat of the whole approval finds the grant already made from this ticket.
 */
export const approveTicket = async (ctx: AppContext, req: Req<typeof ApproveTicketRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const command = { type: 'ApproveTicket' as const, actor: req.actor, ticketId: req.ticketId };
  const ticket = await loadStream(ctx.store, ticketStreamId(req.ticketId), ticketDecider);
  const earlier = ticket.events.filter((e) => e.metadata.commandId === meta.commandId);
  const approval = (state: TicketState, grant: GrantState, now: string) =>
    state.status === 'none'
      ? decideApproval(command, state, { now, proxy: { status: 'none' }, grant, newKey: issueKey(ctx.masterKey).key })
      : loadProxy(ctx, state.instanceId).then((proxy) => decideApproval(command, state, { now, proxy, grant, newKey: issueKey(ctx.masterKey).key }));
  let madeGrant: { instanceId: string; userId: string } | undefined;
  if (earlier.length === 0 && ticket.state.status !== 'none') {
    const { instanceId, requesterId } = ticket.state;
    const granted = await execute<GrantState, GrantEvent>({
      store: ctx.store,
      streamId: grantStreamId(instanceId, requesterId),
      decider: grantDecider,
      meta,
      clock: ctx.clock,
      decide: async (grant, now) => {
        const current = await loadStream(ctx.store, ticketStreamId(req.ticketId), ticketDecider);
        return E.map((a: { grant: GrantEvent[] }) => a.grant)(await approval(current.state, grant, now));
      },
    });
    if (E.isLeft(granted)) return granted;
    if (granted.right.events.length > 0 && !granted.right.duplicate) madeGrant = { instanceId, userId: requesterId };
  }
  const result = await onTicket(ctx, req.ticketId, meta, async (state, now) => {
    const grant = state.status === 'none' ? ({ status: 'none' } as const) : await loadGrant(ctx, state.instanceId, state.requesterId);
    return E.map((a: { ticket: TicketEvent[] }) => a.ticket)(await approval(state, grant, now));
  });
  if (E.isLeft(result) && madeGrant !== undefined) {
    // Another decision on the ticket won after this approval recorded its grant: the grant
    // must not outlive the approval that made it.
    await onGrant(ctx, { type: 'WithdrawTicketGrant', actor: SYSTEM_ACTOR, ...madeGrant, ticketId: req.ticketId }, { ...meta, commandId: `${meta.commandId}/withdraw`, actor: SYSTEM_ACTOR, causationId: meta.commandId });
  }
  return reply(ctx, result, ({ events }) => {
    const approved = find(events, 'TicketApproved');
    if (approved === undefined) return E.left(reused(meta));
    return E.right({ ticketId: req.ticketId, status: 'approved', accessId: approved.data.accessId });
  });
};

export const rejectTicket = async (ctx: AppContext, req: Req<typeof RejectTicketRequest>): Promise<Reply> => {
  const meta = metaOf(req);
  const result = await onTicket(ctx, req.ticketId, meta, async (state, now) => {
    const proxy = state.status === 'none' ? ({ status: 'none' } as const) : await loadProxy(ctx, state.instanceId);
    return decideTicket({ type: 'RejectTicket', actor: req.actor, ticketId: req.ticketId, reason: req.reason }, state, {
      now,
      proxy,
      grant: { status: 'none' },
      newKey: issueKey(ctx.masterKey).key,
    });
  });
  return reply(ctx, result, ({ events }) =>
    find(events, 'TicketRejected') === undefined ? E.left(reused(meta)) : E.right({ ticketId: req.ticketId, status: 'rejected' }),
  );
};
