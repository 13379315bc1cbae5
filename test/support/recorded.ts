// Recorded events for the projection suites: each DomainEvent gets its stream (named by the
// domain's helpers), the next revision of that stream and the next global position, as the
// store hands them back. Also builders for the events fixtures.ts has no builder for.
import {
  grantStreamId,
  proxyStreamId,
  ticketStreamId,
  SYSTEM_ACTOR,
  type AccessKeyExpired,
  type AccessKeyRotated,
  type AccessKeyViewed,
  type AccessRevoked,
  type DomainEvent,
  type IssuedKey,
  type Recorded,
  type RevokeMode,
  type TicketApproved,
  type TicketRejected,
  type TicketSubmitted,
} from '../../domain/index.js';
import { admin, bob, INSTANCE, later, owner, SYSTEM_POLICY, T0 } from './fixtures.js';

export type RecordedEvent = Recorded<DomainEvent>;

export const streamOf = (event: DomainEvent): string => {
  switch (event.type) {
    case 'ProxyEnabled':
    case 'ProxyDisabled':
      return proxyStreamId(event.data.instanceId);
    case 'TicketSubmitted':
    case 'TicketApproved':
    case 'TicketRejected':
      return ticketStreamId(event.data.ticketId);
    default:
      return grantStreamId(event.data.instanceId, event.data.userId);
  }
};

export interface Recorder {
  /** Records events in order and returns them as recorded. */
  record(...events: DomainEvent[]): RecordedEvent[];
  /** Everything recorded so far, in store order. */
  readonly events: readonly RecordedEvent[];
}

export const recorder = (): Recorder => {
  const revisions = new Map<string, number>();
  const events: RecordedEvent[] = [];
  return {
    events,
    record(...domainEvents) {
      const recorded = domainEvents.map((event): RecordedEvent => {
        const streamId = streamOf(event);
        const revision = (revisions.get(streamId) ?? -1) + 1;
        revisions.set(streamId, revision);
        const n = events.length + 1;
        const id = `evt-${n}`;
        const r: RecordedEvent = {
          ...event,
          id,
          streamId,
          revision,
          position: String(n).padStart(12, '0'),
          metadata: { commandId: `cmd-${n}`, correlationId: id, causationId: id, actor: SYSTEM_ACTOR, occurredAt: T0, prevHash: null },
        };
        events.push(r);
        return r;
      });
      return recorded;
    },
  };
};

/** JSON of a view with its Maps and Sets spelt out (JSON.stringify alone writes a Map as `{}`). */
export const viewJson = (view: unknown): string =>
  JSON.stringify(view, (_key, value: unknown) => (value instanceof Map ? [...value.entries()] : value instanceof Set ? [...value] : value));

// ---- builders for the events fixtures.ts does not make

/** A manual rotation of bob's key, one minute after T0, with no overlap unless previousNotAfter says so. */
export const accessKeyRotated = (previous: IssuedKey, next: IssuedKey, over: Partial<AccessKeyRotated['data']> = {}): AccessKeyRotated => {
  const rotatedAt = over.rotatedAt ?? later(60);
  return {
    type: 'AccessKeyRotated',
    data: {
      instanceId: INSTANCE,
      userId: bob.userId,
      accessId: next.accessId,
      secretSealed: next.secretSealed,
      verifiers: next.verifiers,
      previousAccessId: previous.accessId,
      previousNotAfter: rotatedAt,
      notAfter: null,
      rotatesAt: null,
      reason: 'manual',
      rotatedBy: admin.userId,
      rotatedAt,
      ...over,
    },
  };
};

export const accessRevoked = (key: IssuedKey, mode: RevokeMode, over: Partial<AccessRevoked['data']> = {}): AccessRevoked => ({
  type: 'AccessRevoked',
  data: { instanceId: INSTANCE, userId: bob.userId, accessId: key.accessId, mode, revokedBy: admin.userId, revokedAt: later(600), ...over },
});

export const accessKeyExpired = (key: IssuedKey, over: Partial<AccessKeyExpired['data']> = {}): AccessKeyExpired => ({
  type: 'AccessKeyExpired',
  data: { instanceId: INSTANCE, userId: bob.userId, accessId: key.accessId, expiredAt: later(600), ...over },
});

export const accessKeyViewed = (key: IssuedKey, over: Partial<AccessKeyViewed['data']> = {}): AccessKeyViewed => ({
  type: 'AccessKeyViewed',
  data: { instanceId: INSTANCE, userId: bob.userId, accessId: key.accessId, viewedBy: bob.userId, viewedAt: later(30), ...over },
});

export const ticketSubmitted = (ticketId: string, over: Partial<TicketSubmitted['data']> = {}): TicketSubmitted => ({
  type: 'TicketSubmitted',
  data: {
    ticketId,
    instanceId: INSTANCE,
    requesterId: bob.userId,
    databaseAccount: null,
    policy: SYSTEM_POLICY,
    reason: 'monthly report',
    submittedAt: T0,
    ...over,
  },
});

export const ticketApproved = (ticketId: string, accessId: string, over: Partial<TicketApproved['data']> = {}): TicketApproved => ({
  type: 'TicketApproved',
  data: { ticketId, instanceId: INSTANCE, requesterId: bob.userId, accessId, approvedBy: owner.userId, approvedAt: later(60), ...over },
});

export const ticketRejected = (ticketId: string, over: Partial<TicketRejected['data']> = {}): TicketRejected => ({
  type: 'TicketRejected',
  data: { ticketId, instanceId: INSTANCE, requesterId: bob.userId, reason: 'not needed', rejectedBy: owner.userId, rejectedAt: later(60), ...over },
});
