// Replays of the recorded history for auditors: the projections rebuilt from the events, as
// the service builds them, read straight from the store.
import { normalizeTimestamp, type Timestamp } from '../../domain/index.js';
import { accessProjection, type AccessView } from '../../projections/index.js';
import { applyToViews, initialViews, type Views } from '../app/projector.js';
import { decodeRecorded } from '../store/recorded.js';
import type { EventStore, Position } from '../store/types.js';

/** How often a replay reports how far it got. */
const PROGRESS_EVERY = 10_000;

/**
 * The access intervals of every key, from the whole history: what `access-at` and `access`
 * answer from. Only the events that can grant or end access are read: the store leaves the
 * others (views of a secret, tickets) out before anything is parsed or decoded.
 */
export const replayAccess = async (store: EventStore, onProgress?: (done: number) => void): Promise<AccessView> => {
  const view = accessProjection.initial();
  let done = 0;
  for await (const stored of store.readAll({ categories: ['proxy', 'grant'], types: accessProjection.handles })) {
    if (++done % PROGRESS_EVERY === 0) onProgress?.(done);
    accessProjection.evolve(view, decodeRecorded(stored));
  }
  onProgress?.(done);
  return view;
};

/** Where a replay stops: after a store position, or after the events that occurred by a time. */
export type ReplayLimit = { readonly position: Position } | { readonly time: Timestamp };

/** A time if the text is one (RFC 3339, UTC), otherwise a position of this store; null if neither. */
export const replayLimitOf = (store: EventStore, text: string): ReplayLimit | null => {
  const time = normalizeTimestamp(text);
  if (time !== null) return { time };
  try {
    store.comparePositions(text, text);
    return { position: text };
  } catch {
    return null;
  }
};

/**
 * Every projection as it stood at `limit`. By position, the history up to and including it.
 * By time, the events that occurred at or before it: events are in the store's order, which
 * the clocks of several processes may not follow exactly, so each event is judged by its own time.
 */
export const replayViews = async (store: EventStore, limit: ReplayLimit, onProgress?: (done: number) => void): Promise<{ views: Views; lastOccurredAt: Timestamp | null }> => {
  const views = initialViews();
  let lastOccurredAt: Timestamp | null = null;
  let done = 0;
  for await (const stored of store.readAll()) {
    if ('position' in limit && store.comparePositions(stored.position, limit.position) > 0) break;
    if (++done % PROGRESS_EVERY === 0) onProgress?.(done);
    const event = decodeRecorded(stored);
    if ('time' in limit && event.metadata.occurredAt > limit.time) continue;
    applyToViews(views, event);
    if (lastOccurredAt === null || event.metadata.occurredAt > lastOccurredAt) lastOccurredAt = event.metadata.occurredAt;
  }
  onProgress?.(done);
  return { views, lastOccurredAt };
};
