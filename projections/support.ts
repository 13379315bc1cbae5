// What every projection does before and around its own rules: narrow an event to the types
// it declares, apply each stream revision once, keep small indexes of Sets.
import type { DomainEvent, EventType, Recorded } from '../domain/index.js';

export type RecordedEvent = Recorded<DomainEvent>;
export type RecordedOf<T extends EventType> = Recorded<Extract<DomainEvent, { type: T }>>;

/** What ends or changes an AccessKey pair: the events of every projection that follows keys. */
export const KEY_LIFECYCLE_EVENTS = [
  'ProxyEnabled',
  'ProxyDisabled',
  'AccessGranted',
  'AccessKeyRotated',
  'AccessRevoked',
  'AccessKeyExpired',
] as const satisfies readonly EventType[];

/** The guard for the event types a projection lists in its `handles`. */
export const handledBy = <T extends EventType>(types: readonly T[]) => {
  const set: ReadonlySet<EventType> = new Set(types);
  return (event: RecordedEvent): event is RecordedOf<T> => set.has(event.type);
};

/**
 * The last revision applied, per stream. Subscriptions deliver at least once and a restart
 * may resume from an earlier position; applying an event a second time could bring back a
 * state that later events ended (a revoked grant listed as active again, a cancelled
 * rotation scheduled again).
 */
export type Revisions = Map<string, number>;

/** Whether this is the first time the event is seen; remembers it. */
export const firstDelivery = (revisions: Revisions, event: RecordedEvent): boolean => {
  const last = revisions.get(event.streamId);
  if (last !== undefined && event.revision <= last) return false;
  revisions.set(event.streamId, event.revision);
  return true;
};

export const addTo = <K, V>(index: Map<K, Set<V>>, key: K, value: V): void => {
  const set = index.get(key);
  if (set === undefined) index.set(key, new Set([value]));
  else set.add(value);
};

export const removeFrom = <K, V>(index: Map<K, Set<V>>, key: K, value: V): void => {
  index.get(key)?.delete(value);
};

/** Empties a Set index entry and gives back what it held. */
export const takeAll = <K, V>(index: Map<K, Set<V>>, key: K): V[] => {
  const set = index.get(key);
  if (set === undefined) return [];
  const values = [...set];
  set.clear();
  return values;
};

/** Ids and normalized timestamps compare as plain strings (domain/time.ts), never by locale. */
export const compareBy =
  <T>(...keys: ((item: T) => string)[]) =>
  (a: T, b: T): number => {
    for (const key of keys) {
      const x = key(a);
      const y = key(b);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
