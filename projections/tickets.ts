// Tickets as the `tickets` query lists them, oldest first. A custom account shows its user
// name only; its sealed password stays in the store.
import type { EventType, Policy, Timestamp } from '../domain/index.js';
import { decodeCursor, encodeCursor, pageLimit, type Page, type PageRequest } from './page.js';
import { firstDelivery, handledBy, type RecordedEvent, type Revisions } from './support.js';

export type TicketStatus = 'pending' | 'approved' | 'rejected';

export interface Ticket {
  readonly ticketId: string;
  readonly instanceId: string;
  readonly requesterId: string;
  readonly status: TicketStatus;
  readonly policy: Policy;
  readonly databaseAccount: { readonly custom: false } | { readonly custom: true; readonly username: string };
  readonly reason: string;
  readonly submittedAt: Timestamp;
  readonly decidedBy: string | null;
  readonly decidedAt: Timestamp | null;
  readonly rejectionReason: string | null;
  readonly accessId: string | null;
}

export interface TicketsView {
  readonly revisions: Revisions;
  readonly tickets: Map<string, Ticket>;
  /**
   * ticketIds in the order their TicketSubmitted was recorded: submission order is the
   * store's order, which clocks of several processes could contradict.
   */
  readonly order: string[];
}

export const handles = ['TicketSubmitted', 'TicketApproved', 'TicketRejected'] as const satisfies readonly EventType[];
const isHandled = handledBy(handles);

export const initialTickets = (): TicketsView => ({ revisions: new Map(), tickets: new Map(), order: [] });

// Mutates and returns `view`: a replay of millions of events must not copy the view per
// event. Deterministic (no clock, no randomness, no I/O), so every replay builds the same view.
export const evolveTickets = (view: TicketsView, event: RecordedEvent): TicketsView => {
  if (!isHandled(event) || !firstDelivery(view.revisions, event)) return view;
  const { ticketId } = event.data;
  const ticket = view.tickets.get(ticketId);
  switch (event.type) {
    case 'TicketSubmitted': {
      if (ticket !== undefined) return view;
      const { instanceId, requesterId, databaseAccount, policy, reason, submittedAt } = event.data;
      view.tickets.set(ticketId, {
        ticketId,
        instanceId,
        requesterId,
        status: 'pending',
        policy,
        databaseAccount: databaseAccount === null ? { custom: false } : { custom: true, username: databaseAccount.username },
        reason,
        submittedAt,
        decidedBy: null,
        decidedAt: null,
        rejectionReason: null,
        accessId: null,
      });
      view.order.push(ticketId);
      return view;
    }
    // A ticket is decided once; the first decision stands.
    case 'TicketApproved':
      if (ticket?.status === 'pending') {
        const { approvedBy, approvedAt, accessId } = event.data;
        view.tickets.set(ticketId, { ...ticket, status: 'approved', decidedBy: approvedBy, decidedAt: approvedAt, accessId });
      }
      return view;
    case 'TicketRejected':
      if (ticket?.status === 'pending') {
        const { rejectedBy, rejectedAt, reason } = event.data;
        view.tickets.set(ticketId, { ...ticket, status: 'rejected', decidedBy: rejectedBy, decidedAt: rejectedAt, rejectionReason: reason });
      }
      return view;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

// ---- queries

const copy = (ticket: Ticket): Ticket => ({ ...ticket, databaseAccount: { ...ticket.databaseAccount } });

export const getTicket = (view: TicketsView, ticketId: string): Ticket | undefined => {
  const ticket = view.tickets.get(ticketId);
  return ticket === undefined ? undefined : copy(ticket);
};

export interface TicketListRequest extends PageRequest {
  readonly instanceId?: string;
  readonly status?: TicketStatus | 'all';
}

/** In submission order. The cursor holds the place in that order, so a page costs what it skips, not the whole list. */
export const listTickets = (view: TicketsView, request: TicketListRequest = {}): Page<Ticket> => {
  const status = request.status ?? 'all';
  const limit = pageLimit(request.limit);
  const start = request.cursor === undefined ? 0 : Number(decodeCursor(request.cursor, /^\d{1,15}$/)) + 1;
  const items: Ticket[] = [];
  let lastIndex = start;
  for (let i = start; i < view.order.length; i++) {
    const ticketId = view.order[i];
    const ticket = ticketId === undefined ? undefined : view.tickets.get(ticketId);
    if (ticket === undefined) continue;
    if (request.instanceId !== undefined && ticket.instanceId !== request.instanceId) continue;
    if (status !== 'all' && ticket.status !== status) continue;
    // One more match than the page holds: there is a next page, starting after the last item.
    if (items.length === limit) return { items, nextCursor: encodeCursor(String(lastIndex)) };
    items.push(copy(ticket));
    lastIndex = i;
  }
  return { items, nextCursor: null };
};
