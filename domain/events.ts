// Every event keyward records, as one union and one codec: what the store's readers decode.
import { tagged } from './codec.js';
import { AccessGranted, AccessKeyExpired, AccessKeyRotated, AccessKeyViewed, AccessRevoked, type GrantEvent } from './grant/grant.js';
import { ProxyDisabled, ProxyEnabled, type ProxyEvent } from './proxy/proxy.js';
import { TicketApproved, TicketRejected, TicketSubmitted, type TicketEvent } from './ticket/ticket.js';

export type DomainEvent = ProxyEvent | GrantEvent | TicketEvent;
export type EventType = DomainEvent['type'];

export const DomainEvent = tagged('DomainEvent', 'type', {
  ProxyEnabled,
  ProxyDisabled,
  AccessGranted,
  AccessKeyRotated,
  AccessKeyViewed,
  AccessRevoked,
  AccessKeyExpired,
  TicketSubmitted,
  TicketApproved,
  TicketRejected,
});

/**
 * The data fields that hold sealed values: left out wherever events leave the store for
 * readers that must not hold them (JetStream, auditors' output).
 */
export const SEALED_FIELDS = ['secretSealed', 'passwordSealed'] as const;

/** The event's data without sealed values, at any depth. */
export const withoutSealed = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutSealed);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !(SEALED_FIELDS as readonly string[]).includes(k))
      .map(([k, v]) => [k, withoutSealed(v)]),
  );
};
