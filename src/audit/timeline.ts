// The auditors' timeline: every recorded event as one flat row an auditor can read. Each row
// is built from a list of named fields per event type, never by copying event data, which
// holds sealed secrets, sealed passwords and verifiers: a field added to an event later
// stays out of the timeline until someone decides it belongs there.
import type { DomainEvent, EventType, GrantAccount, Policy, Recorded, Role, SealedAccount, Timestamp } from '../../domain/index.js';

export interface TimelineEntry {
  /** When it happened: the event's occurredAt, the clock of the process that recorded it. */
  readonly at: Timestamp;
  /** The store's position: the order events were recorded in. */
  readonly position: string;
  readonly instanceId: string;
  /** The grant's user or the ticket's requester; null for the proxy's own events. */
  readonly userId: string | null;
  readonly event: EventType;
  readonly actor: string;
  readonly actorRole: Role;
  readonly accessId: string | null;
  /** The pair a rotation replaced. */
  readonly previousAccessId: string | null;
  readonly detail: string;
}

/** The fields of an entry in output order: the CSV header and the keys of each JSON line. */
export const TIMELINE_FIELDS = ['at', 'position', 'instanceId', 'userId', 'event', 'actor', 'actorRole', 'accessId', 'previousAccessId', 'detail'] as const satisfies readonly (keyof TimelineEntry)[];

export interface TimelineFilter {
  readonly instanceId?: string;
  readonly userId?: string;
  /** Inclusive. */
  readonly from?: Timestamp;
  /** Exclusive, so consecutive ranges never count an event twice. */
  readonly to?: Timestamp;
}

export const policyText = (policy: Policy): string => {
  switch (policy.type) {
    case 'system':
      return 'system';
    case 'rotate':
      return `rotate every ${policy.intervalSeconds} s${(policy.overlapSeconds ?? 0) > 0 ? `, overlap ${policy.overlapSeconds ?? 0} s` : ''}`;
    case 'expire':
      return `expires ${policy.expiresAt}`;
    default: {
      const _exhaustive: never = policy;
      return _exhaustive;
    }
  }
};

// The user name only: the password beside it is sealed and stays in the store.
const grantAccountText = (account: GrantAccount): string => `${account.kind} account ${account.username}`;
const ticketAccountText = (account: SealedAccount | null): string => (account === null ? "the proxy's own account" : `custom account ${account.username}`);

// Free text is quoted so where it ends is plain, whatever commas or quotes it holds.
const quoted = (text: string): string => JSON.stringify(text);

type Row = Pick<TimelineEntry, 'instanceId' | 'userId' | 'accessId' | 'previousAccessId' | 'detail'>;

const rowOf = (event: DomainEvent): Row => {
  const none = { userId: null, accessId: null, previousAccessId: null };
  switch (event.type) {
    case 'ProxyEnabled': {
      const { instanceId, epoch, ownerId, databaseAccount, endpoints } = event.data;
      const where = endpoints.length === 0 ? '' : `; endpoints ${endpoints.map((e) => `${e.kind} ${e.host}:${e.port}`).join(', ')}`;
      return { ...none, instanceId, detail: `proxy enabled, epoch ${epoch}; proxy account ${databaseAccount.username}; owner ${ownerId}${where}` };
    }
    case 'ProxyDisabled': {
      const { instanceId, epoch } = event.data;
      return { ...none, instanceId, detail: `proxy disabled, epoch ${epoch} ended: every grant made under it is revoked` };
    }
    case 'AccessGranted': {
      const { instanceId, userId, accessId, policy, databaseAccount, origin } = event.data;
      const from = origin.type === 'ticket' ? `from ticket ${origin.ticketId} approved by ${origin.approvedBy}` : `directly by ${origin.by}`;
      return { instanceId, userId, accessId, previousAccessId: null, detail: `granted ${from}; policy ${policyText(policy)}; ${grantAccountText(databaseAccount)}` };
    }
    case 'AccessKeyRotated': {
      const { instanceId, userId, accessId, previousAccessId, previousNotAfter, reason, rotatedAt } = event.data;
      const previous = previousNotAfter === rotatedAt ? 'ends at once' : `works until ${previousNotAfter}`;
      return { instanceId, userId, accessId, previousAccessId, detail: `${reason} rotation; previous key ${previousAccessId} ${previous}` };
    }
    case 'AccessKeyViewed': {
      const { instanceId, userId, accessId, viewedBy } = event.data;
      return { instanceId, userId, accessId, previousAccessId: null, detail: `secret viewed by ${viewedBy}` };
    }
    case 'AccessRevoked': {
      const { instanceId, userId, accessId, mode } = event.data;
      const meaning = mode === 'release' ? 'the grant leaves the listings' : 'the grant stays listed as revoked';
      return { instanceId, userId, accessId, previousAccessId: null, detail: `revoked, mode ${mode}: ${meaning}` };
    }
    case 'AccessKeyExpired': {
      const { instanceId, userId, accessId, expiredAt } = event.data;
      return { instanceId, userId, accessId, previousAccessId: null, detail: `expired at ${expiredAt}` };
    }
    case 'TicketSubmitted': {
      const { ticketId, instanceId, requesterId, databaseAccount, policy, reason } = event.data;
      return { ...none, instanceId, userId: requesterId, detail: `ticket ${ticketId} submitted; policy ${policyText(policy)}; ${ticketAccountText(databaseAccount)}; reason ${quoted(reason)}` };
    }
    case 'TicketApproved': {
      const { ticketId, instanceId, requesterId, accessId } = event.data;
      return { instanceId, userId: requesterId, accessId, previousAccessId: null, detail: `ticket ${ticketId} approved` };
    }
    case 'TicketRejected': {
      const { ticketId, instanceId, requesterId, reason } = event.data;
      return { ...none, instanceId, userId: requesterId, detail: `ticket ${ticketId} rejected; reason ${quoted(reason)}` };
    }
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

export const timelineEntry = (event: Recorded<DomainEvent>): TimelineEntry => {
  const row = rowOf(event);
  return {
    at: event.metadata.occurredAt,
    position: event.position,
    instanceId: row.instanceId,
    userId: row.userId,
    event: event.type,
    actor: event.metadata.actor.userId,
    actorRole: event.metadata.actor.role,
    accessId: row.accessId,
    previousAccessId: row.previousAccessId,
    detail: row.detail,
  };
};

/**
 * Whether an entry is in the timeline asked for. The proxy's own events have no user: they
 * belong to the instance, so they are in it when an instance is asked for (with or without a
 * user, since disabling the proxy ends that user's access too), and never for a user alone.
 */
export const matches = (entry: TimelineEntry, filter: TimelineFilter): boolean => {
  if (filter.instanceId !== undefined && entry.instanceId !== filter.instanceId) return false;
  if (filter.userId !== undefined && entry.userId !== filter.userId && !(entry.userId === null && filter.instanceId !== undefined)) return false;
  if (filter.from !== undefined && entry.at < filter.from) return false;
  if (filter.to !== undefined && entry.at >= filter.to) return false;
  return true;
};
