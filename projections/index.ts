// Every projection in one list, and their queries: what src/ imports. A runner keeps one view
// per projection and may subscribe to just the event types in `handles`; each `evolve` also
// ignores any other type, and any event it has already applied.
import type { DomainEvent, EventType, Recorded } from '../domain/index.js';
import * as access from './access.js';
import * as grants from './grants.js';
import * as keyIndex from './key-index.js';
import * as proxies from './proxies.js';
import * as schedule from './schedule.js';
import * as tickets from './tickets.js';

export interface Projection<View> {
  readonly name: string;
  readonly handles: readonly EventType[];
  // Method signatures, so that the list of all projections can be handled as one type.
  initial(): View;
  /** Applies one event to `view` in place and returns it. */
  evolve(view: View, event: Recorded<DomainEvent>): View;
}

export const proxiesProjection: Projection<proxies.ProxiesView> = {
  name: 'proxies',
  handles: proxies.handles,
  initial: proxies.initialProxies,
  evolve: proxies.evolveProxies,
};

export const grantsProjection: Projection<grants.GrantsView> = {
  name: 'grants',
  handles: grants.handles,
  initial: grants.initialGrants,
  evolve: grants.evolveGrants,
};

export const ticketsProjection: Projection<tickets.TicketsView> = {
  name: 'tickets',
  handles: tickets.handles,
  initial: tickets.initialTickets,
  evolve: tickets.evolveTickets,
};

export const keyIndexProjection: Projection<keyIndex.KeyIndexView> = {
  name: 'key-index',
  handles: keyIndex.handles,
  initial: keyIndex.initialKeyIndex,
  evolve: keyIndex.evolveKeyIndex,
};

export const scheduleProjection: Projection<schedule.ScheduleView> = {
  name: 'schedule',
  handles: schedule.handles,
  initial: schedule.initialSchedule,
  evolve: schedule.evolveSchedule,
};

export const accessProjection: Projection<access.AccessView> = {
  name: 'access',
  handles: access.handles,
  initial: access.initialAccess,
  evolve: access.evolveAccess,
};

/**
 * All of them, for code that runs every projection alike (a runner, a replay). A view is
 * opaque here: each one goes back only to the `evolve` of the projection that made it; the
 * typed constants above are for queries.
 */
export const PROJECTIONS: readonly Projection<unknown>[] = [
  proxiesProjection,
  grantsProjection,
  ticketsProjection,
  keyIndexProjection,
  scheduleProjection,
  accessProjection,
];

/** Folds events into a view, a fresh one unless given. */
export const replay = <View>(projection: Projection<View>, events: Iterable<Recorded<DomainEvent>>, view: View = projection.initial()): View => {
  let current = view;
  for (const event of events) current = projection.evolve(current, event);
  return current;
};

export { accessAt, accessDuring, type AccessAtRequest, type AccessDuringRequest, type AccessInterval, type AccessView } from './access.js';
export { getGrant, listGrants, type Grant, type GrantListRequest, type GrantStatus, type GrantsView } from './grants.js';
export { isKeyValidAt, keyEntry, keysOfInstance, type ActiveKey, type KeyEntry, type KeyIndexView, type RevocationReason, type RevokedKey } from './key-index.js';
export { decodeCursor, encodeCursor, type Page, type PageRequest } from './page.js';
export { getProxy, listProxies, type Proxy, type ProxiesView, type ProxyListRequest } from './proxies.js';
export { dueAt, nextDueAt, scheduled, type Due, type Scheduled, type ScheduleView } from './schedule.js';
export { getTicket, listTickets, type Ticket, type TicketListRequest, type TicketStatus, type TicketsView } from './tickets.js';
