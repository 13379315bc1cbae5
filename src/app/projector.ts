// Keeps every projection's view current: follows the store from the start and applies each
// event to every view. Queries read the views; a command's reply waits until its own events
// are applied, so a caller who authorizes and then lists grants sees the grant.
import { decodeRecorded } from '../store/recorded.js';
import type { EventStore, Position, Subscription } from '../store/types.js';
import {
  accessProjection,
  grantsProjection,
  keyIndexProjection,
  proxiesProjection,
  scheduleProjection,
  ticketsProjection,
  type Projection,
} from '../../projections/index.js';
import type { DomainEvent, Recorded } from '../../domain/index.js';

export interface Views {
  readonly proxies: ReturnType<typeof proxiesProjection.initial>;
  readonly grants: ReturnType<typeof grantsProjection.initial>;
  readonly tickets: ReturnType<typeof ticketsProjection.initial>;
  readonly keyIndex: ReturnType<typeof keyIndexProjection.initial>;
  readonly schedule: ReturnType<typeof scheduleProjection.initial>;
  readonly access: ReturnType<typeof accessProjection.initial>;
}

interface Waiter {
  readonly position: Position;
  readonly resolve: () => void;
}

export const initialViews = (): Views => ({
  proxies: proxiesProjection.initial(),
  grants: grantsProjection.initial(),
  tickets: ticketsProjection.initial(),
  keyIndex: keyIndexProjection.initial(),
  schedule: scheduleProjection.initial(),
  access: accessProjection.initial(),
});

/** One event into every view: what the service does as events arrive and an audit replay does over history. */
export const applyToViews = (v: Views, event: Recorded<DomainEvent>): void => {
  const apply = <View>(projection: Projection<View>, view: View): void => {
    projection.evolve(view, event);
  };
  apply(proxiesProjection, v.proxies);
  apply(grantsProjection, v.grants);
  apply(ticketsProjection, v.tickets);
  apply(keyIndexProjection, v.keyIndex);
  apply(scheduleProjection, v.schedule);
  apply(accessProjection, v.access);
};

export class Projector {
  readonly views: Views = initialViews();
  #position: Position | undefined;
  #waiters: Waiter[] = [];
  readonly #listeners = new Set<(event: Recorded<DomainEvent>) => void>();
  #subscription: Subscription | undefined;
  #running: Promise<void> | undefined;
  #failure: unknown;

  constructor(private readonly store: EventStore) {}

  /** The position of the last event applied; undefined before the first. */
  get position(): Position | undefined {
    return this.#position;
  }

  /** Why following the store stopped, if it did: queries must not answer from stale views. */
  get failure(): unknown {
    return this.#failure;
  }

  start(): void {
    const subscription = this.store.subscribe();
    this.#subscription = subscription;
    this.#running = (async () => {
      try {
        for await (const stored of subscription) this.#apply(decodeRecorded(stored));
      } catch (e) {
        this.#failure = e;
      }
    })();
  }

  #apply(event: Recorded<DomainEvent>): void {
    applyToViews(this.views, event);
    this.#position = event.position;
    for (const listener of this.#listeners) listener(event);
    if (this.#waiters.length > 0) {
      const done = this.#waiters.filter((w) => this.store.comparePositions(w.position, event.position) <= 0);
      if (done.length > 0) {
        this.#waiters = this.#waiters.filter((w) => !done.includes(w));
        for (const w of done) w.resolve();
      }
    }
  }

  /** Resolves once the event at `position` (and all before it) is in every view. */
  caughtUpTo(position: Position): Promise<void> {
    const at = this.#position;
    if (at !== undefined && this.store.comparePositions(position, at) <= 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ position, resolve }));
  }

  /** Resolves once everything recorded before the call is in every view. */
  async current(): Promise<void> {
    const last = await this.store.lastPosition();
    if (last !== undefined) await this.caughtUpTo(last);
  }

  /** Calls `listener` after each event is in every view; returns what removes it. */
  onApplied(listener: (event: Recorded<DomainEvent>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(): Promise<void> {
    await this.#subscription?.close();
    await this.#running;
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }
}
