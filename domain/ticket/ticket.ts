// The Ticket aggregate: a user's request for access, approved or rejected by someone else.
// Stream `ticket-<ticketId>`.
import { nullable, text, timestamp } from '../codec.js';
import { eventCodec } from '../event.js';
import { AccessId, InstanceId, TicketId, UserId } from '../ids.js';
import { SealedAccount } from '../account.js';
import { Policy } from '../policy.js';
import type { Timestamp } from '../time.js';

export const ticketStreamId = (ticketId: string): string => `ticket-${ticketId}`;

export const TicketReason = text('Reason', 1, 1000);

// ---- events

export const TicketSubmitted = eventCodec('TicketSubmitted', {
  ticketId: TicketId,
  instanceId: InstanceId,
  requesterId: UserId,
  /** null: the proxy's own account. */
  databaseAccount: nullable(SealedAccount),
  policy: Policy,
  reason: TicketReason,
  submittedAt: timestamp,
});
export type TicketSubmitted = typeof TicketSubmitted._A;

export const TicketApproved = eventCodec('TicketApproved', {
  ticketId: TicketId,
  instanceId: InstanceId,
  requesterId: UserId,
  accessId: AccessId,
  approvedBy: UserId,
  approvedAt: timestamp,
});
export type TicketApproved = typeof TicketApproved._A;

export const TicketRejected = eventCodec('TicketRejected', {
  ticketId: TicketId,
  instanceId: InstanceId,
  requesterId: UserId,
  reason: TicketReason,
  rejectedBy: UserId,
  rejectedAt: timestamp,
});
export type TicketRejected = typeof TicketRejected._A;

export type TicketEvent = TicketSubmitted | TicketApproved | TicketRejected;
export const TICKET_EVENT_TYPES = ['TicketSubmitted', 'TicketApproved', 'TicketRejected'] as const;

// ---- state

export type TicketState =
  | { readonly status: 'none' }
  | ({ readonly status: 'pending' | 'approved' | 'rejected'; readonly decidedAt: Timestamp | null } & TicketSubmitted['data']);

export const initialTicketState: TicketState = { status: 'none' };

export const evolveTicket = (state: TicketState, event: TicketEvent): TicketState => {
  switch (event.type) {
    case 'TicketSubmitted':
      return { status: 'pending', ...event.data, decidedAt: null };
    case 'TicketApproved':
      return state.status === 'none' ? state : { ...state, status: 'approved', decidedAt: event.data.approvedAt };
    case 'TicketRejected':
      return state.status === 'none' ? state : { ...state, status: 'rejected', decidedAt: event.data.rejectedAt };
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};
