// Access intervals, for point-in-time audits: for each key, from its issue to the moment it
// stopped working. An interval only ever shortens (every stop takes the earliest time), so a
// late or repeated event can never extend access that had ended.
import { earliest, grantStreamId, type Timestamp } from '../domain/index.js';
import { initialEpochs, isEnabledEpoch, trackEpoch, type Epochs } from './epochs.js';
import { addTo, compareBy, firstDelivery, handledBy, removeFrom, takeAll, type RecordedEvent, type Revisions, KEY_LIFECYCLE_EVENTS } from './support.js';

/** One key's interval as the audit queries give it (the instance is the one asked about). */
export interface AccessInterval {
  readonly userId: string;
  readonly accessId: string;
  readonly from: Timestamp;
  /** Exclusive; null while the key has no end yet. */
  readonly to: Timestamp | null;
}

interface Interval {
  readonly instanceId: string;
  readonly userId: string;
  readonly accessId: string;
  readonly from: Timestamp;
  to: Timestamp | null;
}

interface GrantKeys {
  readonly proxyEpoch: number;
  current: string;
  /** The key a rotation replaced, while it works out its overlap. */
  previous: string | null;
}

export interface AccessView {
  readonly revisions: Revisions;
  readonly epochs: Epochs;
  readonly intervals: Map<string, Interval>;
  /** Each instance's intervals in the order the keys were issued. */
  readonly byInstance: Map<string, Interval[]>;
  /** Each instance's keys no event has stopped yet (an overlap end may still be cut shorter). */
  readonly live: Map<string, Set<string>>;
  /** By grantStreamId. */
  readonly grants: Map<string, GrantKeys>;
}

export const handles = KEY_LIFECYCLE_EVENTS;
const isHandled = handledBy(handles);

export const initialAccess = (): AccessView => ({
  revisions: new Map(),
  epochs: initialEpochs(),
  intervals: new Map(),
  byInstance: new Map(),
  live: new Map(),
  grants: new Map(),
});

// Mutates and returns `view`: a replay of millions of events must not copy the view per
// event. Deterministic (no clock, no randomness, no I/O), so every replay builds the same view.
export const evolveAccess = (view: AccessView, event: RecordedEvent): AccessView => {
  if (!isHandled(event) || !firstDelivery(view.revisions, event)) return view;
  switch (event.type) {
    case 'ProxyEnabled':
    case 'ProxyDisabled': {
      if (!trackEpoch(view.epochs, event)) return view;
      const at = event.type === 'ProxyDisabled' ? event.data.disabledAt : event.data.enabledAt;
      for (const accessId of takeAll(view.live, event.data.instanceId)) stop(view, accessId, at);
      return view;
    }
    case 'AccessGranted': {
      const { instanceId, userId, proxyEpoch, accessId, notAfter, grantedAt } = event.data;
      const key = grantStreamId(instanceId, userId);
      const before = view.grants.get(key);
      // Re-authorization follows a grant that ended: nothing of it outlasts the new grant.
      if (before !== undefined) for (const old of [before.current, before.previous]) if (old !== null) stop(view, old, grantedAt);
      const grant: GrantKeys = { proxyEpoch, current: accessId, previous: null };
      view.grants.set(key, grant);
      open(view, grant, { instanceId, userId, accessId, from: grantedAt, to: notAfter });
      return view;
    }
    case 'AccessKeyRotated': {
      const { instanceId, userId, accessId, previousAccessId, previousNotAfter, notAfter, rotatedAt } = event.data;
      const grant = view.grants.get(grantStreamId(instanceId, userId));
      if (grant === undefined) return view;
      for (const old of [grant.previous, grant.current]) if (old !== null && old !== previousAccessId) stop(view, old, rotatedAt);
      const previous = view.intervals.get(previousAccessId);
      if (previous !== undefined) previous.to = earliest(previousNotAfter, previous.to);
      grant.previous = previousNotAfter > rotatedAt ? previousAccessId : null;
      if (grant.previous === null) removeFrom(view.live, instanceId, previousAccessId);
      grant.current = accessId;
      open(view, grant, { instanceId, userId, accessId, from: rotatedAt, to: notAfter });
      return view;
    }
    case 'AccessRevoked':
    case 'AccessKeyExpired': {
      const { instanceId, userId, accessId } = event.data;
      const at = event.type === 'AccessRevoked' ? event.data.revokedAt : event.data.expiredAt;
      const grant = view.grants.get(grantStreamId(instanceId, userId));
      for (const id of [accessId, grant?.current ?? null, grant?.previous ?? null]) if (id !== null) stop(view, id, at);
      if (grant !== undefined) grant.previous = null;
      return view;
    }
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

/** A key issued after its enablement ended (a race with a disable) never worked: an empty interval. */
const open = (view: AccessView, grant: GrantKeys, interval: Interval): void => {
  if (view.intervals.has(interval.accessId)) return;
  const { instanceId, accessId, from } = interval;
  const live = isEnabledEpoch(view.epochs, instanceId, grant.proxyEpoch);
  const created: Interval = live ? { ...interval } : { ...interval, to: from };
  view.intervals.set(accessId, created);
  const list = view.byInstance.get(instanceId);
  if (list === undefined) view.byInstance.set(instanceId, [created]);
  else list.push(created);
  if (live) addTo(view.live, instanceId, accessId);
};

const stop = (view: AccessView, accessId: string, at: Timestamp): void => {
  const interval = view.intervals.get(accessId);
  if (interval === undefined) return;
  interval.to = earliest(at, interval.to);
  removeFrom(view.live, interval.instanceId, accessId);
};

// ---- queries

const copy = ({ userId, accessId, from, to }: Interval): AccessInterval => ({ userId, accessId, from, to });

const select = (view: AccessView, instanceId: string, userId: string | undefined, keep: (i: Interval) => boolean): AccessInterval[] =>
  (view.byInstance.get(instanceId) ?? [])
    .filter((i) => (userId === undefined || i.userId === userId) && (i.to === null || i.from < i.to) && keep(i))
    .map(copy)
    .sort(
      compareBy(
        (i) => i.userId,
        (i) => i.from,
        (i) => i.accessId,
      ),
    );

export interface AccessAtRequest {
  readonly instanceId: string;
  readonly at: Timestamp;
  readonly userId?: string;
}

/** Who held a valid key at `at`: from <= at < to. Sorted by userId, then from. */
export const accessAt = (view: AccessView, request: AccessAtRequest): AccessInterval[] =>
  select(view, request.instanceId, request.userId, (i) => i.from <= request.at && (i.to === null || request.at < i.to));

export interface AccessDuringRequest {
  readonly instanceId: string;
  readonly from: Timestamp;
  readonly to: Timestamp;
  readonly userId?: string;
}

/** The keys valid at some moment of [from, to). Sorted by userId, then from. */
export const accessDuring = (view: AccessView, request: AccessDuringRequest): AccessInterval[] =>
  select(view, request.instanceId, request.userId, (i) => i.from < request.to && (i.to === null || request.from < i.to));
