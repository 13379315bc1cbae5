// The scheduler: what makes the two policies that act by themselves act. It follows the
// schedule projection and, when a rotation or an expiry falls due, runs RotateOnSchedule or
// ExpireKey through the command handling, as keyward itself, like any other command. The
// relay then carries the change to proxy nodes as it carries every other.
//
// Several schedulers may run at once (one in each service process, or `keyward scheduler`)
// with no lease between them. Each due time is one command whose commandId is derived from
// it, so the second scheduler to reach it either finds the first one's events in the stream
// (the handling's duplicate check) or loses the append on the expected revision, reloads and
// then finds them; and the decider ignores a due time the grant no longer has. Exactly one
// rotation per due time thus rests on what already makes every command safe. A lease would
// add a clock that every process must agree on and a holder whose death stalls the schedule
// until the lease runs out; optimistic concurrency only costs work done twice when two
// schedulers reach one grant at the same moment, which a random start in each batch makes rare.
//
// Time: the scheduler asks its clock, never its own memory, what is due, and every command
// is keyed by the due time it serves. A clock that jumps back finds nothing newly due (the
// schedule moved past the time served); one that jumps forward finds each due time once;
// an expiry stays in the schedule until it is recorded, so no clock skips it.
import { randomInt } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { grantStreamId, SYSTEM_ACTOR, type GrantCommand, type Timestamp } from '../../domain/index.js';
import { scheduled, type Due } from '../../projections/index.js';
import { onGrant } from '../app/commands.js';
import type { AppContext } from '../app/context.js';
import type { Logger } from '../log.js';
import type { Position } from '../store/types.js';

export interface SchedulerClock {
  now(): Timestamp;
  /** Resolves once `now()` has reached `at`, or earlier (the caller asks the clock again), or when `signal` aborts. */
  sleepUntil(at: Timestamp, signal: AbortSignal): Promise<void>;
}

// A timer counts elapsed time, not the wall clock: waking at least this often notices a wall
// clock that was set forward while the scheduler slept.
const MAX_SLEEP_MS = 1000;

export const wallClock: SchedulerClock = {
  now: () => new Date().toISOString(),
  sleepUntil: (at, signal) => sleep(Math.min(Math.max(Date.parse(at) - Date.now(), 0), MAX_SLEEP_MS), signal),
};

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });

export type ScheduledOutcome = 'done' | 'nothing' | 'failed';

export interface SchedulerOptions {
  /** The store, master key and projector; the scheduler's clock replaces ctx.clock for its commands. */
  readonly ctx: AppContext;
  readonly log: Logger;
  readonly clock?: SchedulerClock;
  /** Commands in flight at once (DEFAULT_CONCURRENCY): more makes a large batch faster and callers' commands slower. */
  readonly concurrency?: number;
  /** Each due time served: what came of it and how late it was, by the scheduler's clock. */
  readonly observe?: (kind: Due['kind'], outcome: ScheduledOutcome, lateSeconds: number) => void;
}

export interface RunningScheduler {
  /** Resolves once the views hold everything recorded before the scheduler started. */
  readonly ready: Promise<void>;
  /** Resolves after a pass that found nothing left to do at the clock's current time. */
  idle(): Promise<void>;
  /** Stops taking due times, lets the commands in flight finish. */
  stop(): Promise<void>;
}

const dueKey = (d: Due): string => `${d.kind}|${grantStreamId(d.instanceId, d.userId)}|${d.dueAt}`;

const commandOf = (d: Due): GrantCommand =>
  d.kind === 'rotate'
    ? { type: 'RotateOnSchedule', actor: SYSTEM_ACTOR, instanceId: d.instanceId, userId: d.userId, dueAt: d.dueAt }
    : { type: 'ExpireKey', actor: SYSTEM_ACTOR, instanceId: d.instanceId, userId: d.userId };

/**
 * Measured (npm run bench -- scheduler): every command in flight takes a place in the store's
 * group commits, and a caller's append waits for the commit under way. At 2, callers' commands
 * take about twice as long while a large batch runs; at 4 three times, for a third more speed.
 */
export const DEFAULT_CONCURRENCY = 2;

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

export const startScheduler = (options: SchedulerOptions): RunningScheduler => {
  const clock = options.clock ?? wallClock;
  const { log, observe } = options;
  const ctx: AppContext = { ...options.ctx, clock: () => clock.now() };
  const { projector } = ctx;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;

  let stopped = false;
  let onStop: () => void = () => undefined;
  const stopSignalled = new Promise<void>((resolve) => (onStop = resolve));
  // One per sleep, aborted when the sleep ends whatever ended it, so no listener outlives it.
  let wake = new AbortController();
  /** When the loop sleeps, the due time it sleeps until (null: nothing scheduled). */
  let sleepingUntil: Timestamp | null | undefined;
  // Due times served with nothing to record: the decider saw them as stale before the views
  // did. Kept while the views still list them, so the loop does not serve them again.
  const served = new Set<string>();
  // Due times whose command failed (the store unavailable, say): tried again after a pause
  // that grows, measured by a timer since the wall clock may move.
  const retries = new Map<string, { readonly attempts: number; readonly at: number }>();
  let idleWaiters: (() => void)[] = [];

  const interrupt = (): void => {
    wake.abort();
  };
  // A grant or rotation that falls due before the time the loop sleeps until must wake it;
  // anything else (revokes, views) only removes due times, which the loop finds when it wakes.
  const offApplied = projector.onApplied((event) => {
    if (sleepingUntil === undefined || (event.type !== 'AccessGranted' && event.type !== 'AccessKeyRotated')) return;
    const { rotatesAt, notAfter } = event.data;
    const earliest = [rotatesAt, notAfter].filter((t): t is Timestamp => t !== null).sort()[0];
    if (earliest !== undefined && (sleepingUntil === null || earliest < sleepingUntil)) interrupt();
  });

  const serve = async (d: Due): Promise<Position | undefined> => {
    const key = dueKey(d);
    const now = clock.now();
    const lateSeconds = Math.max(Date.parse(now) - Date.parse(d.dueAt), 0) / 1000;
    const meta = { commandId: `scheduled-${key}`, actor: SYSTEM_ACTOR };
    let failure: string;
    try {
      const result = await onGrant(ctx, commandOf(d), meta);
      if (E.isRight(result)) {
        retries.delete(key);
        const { events, duplicate } = result.right;
        const last = events[events.length - 1];
        if (last === undefined || duplicate) {
          served.add(key);
          observe?.(d.kind, 'nothing', lateSeconds);
          return last?.position;
        }
        for (const e of events) {
          if (e.type === 'AccessKeyRotated') {
            log.info({ instanceId: d.instanceId, userId: d.userId, previousAccessId: e.data.previousAccessId, accessId: e.data.accessId, dueAt: d.dueAt, lateSeconds, rotatesAt: e.data.rotatesAt }, 'scheduled rotation');
          } else if (e.type === 'AccessKeyExpired') {
            log.info({ instanceId: d.instanceId, userId: d.userId, accessId: e.data.accessId, expiredAt: e.data.expiredAt, lateSeconds }, 'key expired');
          }
        }
        observe?.(d.kind, 'done', lateSeconds);
        return last.position;
      }
      failure = `${result.left.code}: ${result.left.message}`;
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    const attempts = (retries.get(key)?.attempts ?? 0) + 1;
    const pauseMs = Math.min(RETRY_FIRST_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
    retries.set(key, { attempts, at: performance.now() + pauseMs });
    log.warn({ instanceId: d.instanceId, userId: d.userId, kind: d.kind, dueAt: d.dueAt, attempts, retryInSeconds: pauseMs / 1000, err: failure }, 'scheduled command failed; will try again');
    observe?.(d.kind, 'failed', lateSeconds);
    return undefined;
  };

  /** Serves every due time of a pass, a few at a time, each scheduler from its own random point. */
  const serveAll = async (due: readonly Due[]): Promise<void> => {
    const start = randomInt(due.length);
    const order = [...due.slice(start), ...due.slice(0, start)];
    let next = 0;
    let last: Position | undefined;
    const worker = async (): Promise<void> => {
      for (let d = order[next++]; d !== undefined && !stopped; d = order[next++]) {
        const position = await serve(d);
        if (position !== undefined && (last === undefined || ctx.store.comparePositions(position, last) > 0)) last = position;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, order.length) }, worker));
    // The next pass reads the views: they must hold what this one recorded, or it would serve it again.
    if (last !== undefined) await Promise.race([projector.caughtUpTo(last), stopSignalled]);
    log.info({ served: order.length }, 'scheduler pass done');
  };

  const pass = (now: Timestamp): { due: Due[]; next: Timestamp | null; retryAt: number | null } => {
    const due: Due[] = [];
    let next: Timestamp | null = null;
    let retryAt: number | null = null;
    const listed = new Set<string>();
    const monotonicNow = performance.now();
    for (const d of scheduled(projector.views.schedule)) {
      const key = dueKey(d);
      listed.add(key);
      if (served.has(key)) continue;
      const retry = retries.get(key);
      if (d.dueAt > now) {
        if (next === null || d.dueAt < next) next = d.dueAt;
      } else if (retry !== undefined && retry.at > monotonicNow) {
        if (retryAt === null || retry.at < retryAt) retryAt = retry.at;
      } else {
        due.push(d);
      }
    }
    for (const key of served) if (!listed.has(key)) served.delete(key);
    for (const key of retries.keys()) if (!listed.has(key)) retries.delete(key);
    return { due, next, retryAt };
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      // Waiters registered before this pass learn that it found nothing; later ones wait for the next.
      const waiting = idleWaiters;
      idleWaiters = [];
      const { due, next, retryAt } = pass(clock.now());
      if (due.length > 0) {
        await serveAll(due);
        idleWaiters.unshift(...waiting);
        continue;
      }
      for (const resolve of waiting) resolve();
      sleepingUntil = next;
      const signal = wake.signal;
      const woken = aborted(signal);
      const isDue = (): boolean => (next !== null && clock.now() >= next) || (retryAt !== null && performance.now() >= retryAt);
      // The wall clock's timer wakes the loop at least every second; a pass (a scan of every
      // scheduled grant) is only worth it once something is due or an event or stop woke it.
      while (!signal.aborted && !isDue()) {
        const waits = [woken];
        if (next !== null) waits.push(clock.sleepUntil(next, signal));
        if (retryAt !== null) waits.push(sleep(retryAt - performance.now(), signal));
        await Promise.race(waits);
      }
      sleepingUntil = undefined;
      wake.abort();
      wake = new AbortController();
    }
  };

  // The views must hold what was recorded before the start, or the first pass would serve
  // due times that are long gone. A store that cannot answer yet is asked again.
  const caughtUp = async (): Promise<void> => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await Promise.race([projector.current(), stopSignalled]);
        return;
      } catch (e) {
        log.warn({ attempt, err: e instanceof Error ? e.message : String(e) }, 'scheduler cannot read the store yet; trying again');
        await Promise.race([new Promise((r) => setTimeout(r, Math.min(RETRY_FIRST_MS * attempt, RETRY_MAX_MS))), stopSignalled]);
      }
    }
  };
  let running: Promise<void> | undefined;
  const ready = caughtUp().then(() => {
    if (!stopped) running = loop();
  });

  return {
    ready,
    idle: async () => {
      await ready;
      const done = new Promise<void>((resolve) => idleWaiters.push(resolve));
      interrupt();
      await done;
    },
    stop: async () => {
      stopped = true;
      onStop();
      interrupt();
      offApplied();
      await ready;
      await running;
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    },
  };
};

const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => { resolve(); }, { once: true });
  });
