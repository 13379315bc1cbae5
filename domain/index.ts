// The domain's public face: what src/ and projections/ import.
import type { Decider } from './decider.js';
import { decideGrant, type GrantCommand, type GrantContext } from './grant/decide.js';
import { evolveGrant, initialGrantState, type GrantEvent, type GrantState } from './grant/grant.js';
import { decideProxy, type ProxyCommand, type ProxyContext } from './proxy/decide.js';
import { evolveProxy, initialProxyState, type ProxyEvent, type ProxyState } from './proxy/proxy.js';
import { decideTicket, type TicketCommand, type TicketContext } from './ticket/decide.js';
import { evolveTicket, initialTicketState, type TicketEvent, type TicketState } from './ticket/ticket.js';

export const proxyDecider: Decider<ProxyCommand, ProxyEvent, ProxyState, ProxyContext> = {
  decide: decideProxy,
  evolve: evolveProxy,
  initialState: initialProxyState,
};

export const grantDecider: Decider<GrantCommand, GrantEvent, GrantState, GrantContext> = {
  decide: decideGrant,
  evolve: evolveGrant,
  initialState: initialGrantState,
};

export const ticketDecider: Decider<TicketCommand, TicketEvent, TicketState, TicketContext> = {
  decide: decideTicket,
  evolve: evolveTicket,
  initialState: initialTicketState,
};

export * from './account.js';
export * from './canonical.js';
export * from './actor.js';
export * from './authorization.js';
export * from './codec.js';
export * from './decider.js';
export * from './errors.js';
export * from './event.js';
export * from './events.js';
export * from './grant/decide.js';
export * from './grant/grant.js';
export * from './ids.js';
export * from './key.js';
export * from './policy.js';
export * from './proxy/decide.js';
export * from './proxy/proxy.js';
export * from './requests.js';
export * from './secret.js';
export * from './ticket/decide.js';
export * from './ticket/ticket.js';
export * from './time.js';
