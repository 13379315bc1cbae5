// Commands on a Ticket. Approving one also authorizes its requester, which is a decision on
// another aggregate (the requester's Grant): `decideApproval` makes both, and the handler
// records the grant's events first, so a crash between the two appends leaves a granted
// user and a pending ticket, which the retried approval then completes without a second key.
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { Actor } from '../actor.js';
import type { SealedAccount } from '../account.js';
import { mayApproveTicket, mayRejectTicket, maySubmitTicket } from '../authorization.js';
import { conflict, forbidden, notFound, type DomainError } from '../errors.js';
import { decideGrant, type Authorize, type GrantContext } from '../grant/decide.js';
import { effectiveGrantStatus, hasDetails, type GrantEvent, type GrantState } from '../grant/grant.js';
import { checkPolicyAt, type Policy } from '../policy.js';
import type { TicketEvent, TicketState } from './ticket.js';

// ---- commands

export interface SubmitTicket {
  readonly type: 'SubmitTicket';
  readonly actor: Actor;
  readonly ticketId: string;
  readonly instanceId: string;
  readonly databaseAccount: SealedAccount | null;
  readonly policy: Policy;
  readonly reason: string;
}

export interface ApproveTicket {
  readonly type: 'ApproveTicket';
  readonly actor: Actor;
  readonly ticketId: string;
}

export interface RejectTicket {
  readonly type: 'RejectTicket';
  readonly actor: Actor;
  readonly ticketId: string;
  readonly reason: string;
}

export type TicketCommand = SubmitTicket | ApproveTicket | RejectTicket;

/** The ticket's instance proxy, the requester's grant on it, the clock and, for approval, a new key. */
export interface TicketContext extends GrantContext {
  readonly grant: GrantState;
}

export interface Approval {
  readonly grant: GrantEvent[];
  readonly ticket: TicketEvent[];
}

// ---- decide

export const decideTicket = (command: TicketCommand, state: TicketState, ctx: TicketContext): E.Either<DomainError, TicketEvent[]> => {
  switch (command.type) {
    case 'SubmitTicket':
      return submit(command, state, ctx);
    case 'ApproveTicket':
      return pipe(
        decideApproval(command, state, ctx),
        E.map((approval) => approval.ticket),
      );
    case 'RejectTicket':
      return reject(command, state, ctx);
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
};

const submit = (c: SubmitTicket, state: TicketState, { now, proxy, grant }: TicketContext): E.Either<DomainError, TicketEvent[]> => {
  if (!maySubmitTicket(c.actor)) return E.left(forbidden('tickets are submitted by people, for themselves'));
  if (state.status !== 'none') return E.left(conflict(`ticket ${c.ticketId} already exists`));
  if (proxy.status === 'none') return E.left(notFound(`no proxy is enabled for instance ${c.instanceId}`));
  if (proxy.status === 'disabled') return E.left(conflict(`the proxy of instance ${c.instanceId} is disabled`));
  if (effectiveGrantStatus(grant, proxy, now) === 'active') {
    return E.left(conflict(`user ${c.actor.userId} already holds an active AccessKey pair on instance ${c.instanceId}`));
  }
  return pipe(
    checkPolicyAt(c.policy, now),
    E.map((policy) => [
      {
        type: 'TicketSubmitted',
        data: {
          ticketId: c.ticketId,
          instanceId: c.instanceId,
          requesterId: c.actor.userId,
          databaseAccount: c.databaseAccount,
          policy,
          reason: c.reason,
          submittedAt: now,
        },
      },
    ]),
  );
};

/** Approval: the requester's grant and the ticket's decision, to be recorded in that order. */
export const decideApproval = (c: ApproveTicket, state: TicketState, ctx: TicketContext): E.Either<DomainError, Approval> => {
  if (state.status === 'none') return E.left(notFound(`no ticket ${c.ticketId}`));
  if (!mayApproveTicket(c.actor, ctx.proxy, state.requesterId)) {
    return E.left(
      forbidden(
        c.actor.userId === state.requesterId
          ? `ticket ${c.ticketId} cannot be approved by the user who submitted it`
          : `only an admin, a dba or the proxy's owner may approve tickets on instance ${state.instanceId}`,
      ),
    );
  }
  if (state.status !== 'pending') return E.left(conflict(`ticket ${c.ticketId} is already ${state.status}`));
  const authorize: Authorize = {
    type: 'Authorize',
    actor: c.actor,
    instanceId: state.instanceId,
    userId: state.requesterId,
    databaseAccount: state.databaseAccount,
    policy: state.policy,
    ticketId: state.ticketId,
  };
  return pipe(
    decideGrant(authorize, ctx.grant, ctx),
    E.mapLeft((e) =>
      // The requester did not send this expiry now; say what is wrong with the ticket instead.
      e.code === 'VALIDATION' && state.policy.type === 'expire'
        ? conflict(`ticket ${c.ticketId} asks for access that expires at ${state.policy.expiresAt}, which has passed`)
        : e,
    ),
    E.map((grantEvents): Approval => {
      const granted = grantEvents.find((e) => e.type === 'AccessGranted');
      // No new grant means the grant from this very ticket is already recorded (a retry).
      const accessId = granted !== undefined ? granted.data.accessId : hasDetails(ctx.grant) ? ctx.grant.accessId : ctx.newKey.accessId;
      return {
        grant: grantEvents,
        ticket: [
          {
            type: 'TicketApproved',
            data: { ticketId: state.ticketId, instanceId: state.instanceId, requesterId: state.requesterId, accessId, approvedBy: c.actor.userId, approvedAt: ctx.now },
          },
        ],
      };
    }),
  );
};

const reject = (c: RejectTicket, state: TicketState, { now, proxy }: TicketContext): E.Either<DomainError, TicketEvent[]> => {
  if (state.status === 'none') return E.left(notFound(`no ticket ${c.ticketId}`));
  if (!mayRejectTicket(c.actor, proxy)) {
    return E.left(forbidden(`only an admin, a dba or the proxy's owner may reject tickets on instance ${state.instanceId}`));
  }
  if (state.status !== 'pending') return E.left(conflict(`ticket ${c.ticketId} is already ${state.status}`));
  return E.right([
    {
      type: 'TicketRejected',
      data: { ticketId: state.ticketId, instanceId: state.instanceId, requesterId: state.requesterId, reason: c.reason, rejectedBy: c.actor.userId, rejectedAt: now },
    },
  ]);
};
