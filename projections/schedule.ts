// Due rotations and expiries, for the scheduler: the times of every active grant. The
// scheduler's commands are idempotent per due time (RotateOnSchedule, ExpireKey), so this
// view only has to be right eventually, never exactly once.
import { grantStreamId, type Timestamp } from '../domain/index.js';
import { initialEpochs, isEnabledEpoch, trackEpoch, type Epochs } from './epochs.js';
import { addTo, compareBy, firstDelivery, handledBy, removeFrom, takeAll, type RecordedEvent, type Revisions, KEY_LIFECYCLE_EVENTS } from './support.js';

export interface Scheduled {
  readonly instanceId: string;
  readonly userId: string;
  readonly rotatesAt: Timestamp | null;
  readonly notAfter: Timestamp | null;
}

export interface Due {
  readonly kind: 'rotate' | 'expire';
  readonly instanceId: string;
  readonly userId: string;
  readonly dueAt: Timestamp;
}

export interface ScheduleView {
  readonly revisions: Revisions;
  readonly epochs: Epochs;
  /** Active grants only, by grantStreamId. */
  readonly grants: Map<string, Scheduled>;
  /** Each instance's scheduled grants: all of them belong to its current enablement. */
  readonly byInstance: Map<string, Set<string>>;
}

export const handles = KEY_LIFECYCLE_EVENTS;
const isHandled = handledBy(handles);

export const initialSchedule = (): ScheduleView => ({ revisions: new Map(), epochs: initialEpochs(), grants: new Map(), byInstance: new Map() });

// Mutates and returns `view`: a replay of millions of events must not copy the view per
// event. Deterministic (no clock, no randomness, no I/O), so every replay builds the same view.
export const evolveSchedule = (view: ScheduleView, event: RecordedEvent): ScheduleView => {
  if (!isHandled(event) || !firstDelivery(view.revisions, event)) return view;
  const { instanceId } = event.data;
  switch (event.type) {
    case 'ProxyEnabled':
    case 'ProxyDisabled':
      if (trackEpoch(view.epochs, event)) for (const key of takeAll(view.byInstance, instanceId)) view.grants.delete(key);
      return view;
    default:
      break;
  }
  const { userId } = event.data;
  const key = grantStreamId(instanceId, userId);
  switch (event.type) {
    case 'AccessGranted': {
      const { proxyEpoch, rotatesAt, notAfter } = event.data;
      // A grant made under an enablement that has ended is revoked from birth: nothing to schedule.
      if (isEnabledEpoch(view.epochs, instanceId, proxyEpoch)) {
        view.grants.set(key, { instanceId, userId, rotatesAt, notAfter });
        addTo(view.byInstance, instanceId, key);
      } else {
        unschedule(view, instanceId, key);
      }
      return view;
    }
    case 'AccessKeyRotated': {
      const grant = view.grants.get(key);
      if (grant !== undefined) view.grants.set(key, { ...grant, rotatesAt: event.data.rotatesAt, notAfter: event.data.notAfter });
      return view;
    }
    case 'AccessRevoked':
    case 'AccessKeyExpired':
      unschedule(view, instanceId, key);
      return view;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

const unschedule = (view: ScheduleView, instanceId: string, key: string): void => {
  view.grants.delete(key);
  removeFrom(view.byInstance, instanceId, key);
};

// ---- queries
// A scan of the active grants per call: the scheduler asks once per tick, and keeping a
// sorted structure up to date on every event would cost more during a replay than it saves.

/** Every pending rotation and expiry, due or not, in no particular order. */
export function* scheduled(view: ScheduleView): Generator<Due> {
  for (const { instanceId, userId, rotatesAt, notAfter } of view.grants.values()) {
    if (rotatesAt !== null) yield { kind: 'rotate', instanceId, userId, dueAt: rotatesAt };
    if (notAfter !== null) yield { kind: 'expire', instanceId, userId, dueAt: notAfter };
  }
}

/** What is due at `now`, earliest first (ties in a fixed order, so every scheduler sees the same list). */
export const dueAt = (view: ScheduleView, now: Timestamp): Due[] => {
  const due: Due[] = [];
  for (const d of scheduled(view)) if (d.dueAt <= now) due.push(d);
  return due.sort(
    compareBy(
      (d) => d.dueAt,
      (d) => d.instanceId,
      (d) => d.userId,
      (d) => d.kind,
    ),
  );
};

/** The earliest pending time, due or not; null when nothing is scheduled. */
export const nextDueAt = (view: ScheduleView): Timestamp | null => {
  let next: Timestamp | null = null;
  for (const d of scheduled(view)) if (next === null || d.dueAt < next) next = d.dueAt;
  return next;
};
