// The three security policies of the source product: "System" (no automatic rotation, no
// expiry), "Regularly Update AccessKey Pair" (rotate) and "Authentication Expires at
// Specific Time" (expire).
import * as E from 'fp-ts/lib/Either.js';
import { integer, literal, struct, tagged, timestamp } from './codec.js';
import { invalidField, type DomainError } from './errors.js';
import { addSeconds, isBefore, type Timestamp } from './time.js';

export const MIN_ROTATION_INTERVAL_SECONDS = 60;
export const MAX_ROTATION_INTERVAL_SECONDS = 315_360_000;
export const MAX_OVERLAP_SECONDS = 86_400;

export const OverlapSeconds = integer('OverlapSeconds', 0, MAX_OVERLAP_SECONDS);

export const Policy = tagged('Policy', 'type', {
  system: struct('SystemPolicy', { type: literal('system') }),
  rotate: struct(
    'RotatePolicy',
    { type: literal('rotate'), intervalSeconds: integer('IntervalSeconds', MIN_ROTATION_INTERVAL_SECONDS, MAX_ROTATION_INTERVAL_SECONDS) },
    { overlapSeconds: OverlapSeconds },
  ),
  expire: struct('ExpirePolicy', { type: literal('expire'), expiresAt: timestamp }),
});
export type Policy = typeof Policy._A;

/** When a key issued at `now` under `policy` stops working, and when it is next replaced. */
export interface KeyTimes {
  readonly notAfter: Timestamp | null;
  readonly rotatesAt: Timestamp | null;
}

export const keyTimes = (policy: Policy, now: Timestamp): KeyTimes => {
  switch (policy.type) {
    case 'system':
      return { notAfter: null, rotatesAt: null };
    case 'rotate':
      return { notAfter: null, rotatesAt: addSeconds(now, policy.intervalSeconds) };
    case 'expire':
      return { notAfter: policy.expiresAt, rotatesAt: null };
    default: {
      const _exhaustive: never = policy;
      return _exhaustive;
    }
  }
};

/**
 * The rotation after a scheduled one that fell due at `dueAt` and ran at `now`: the next
 * point of the same cadence after `now`. Anchored on the due time, so a scheduler that runs
 * a little late does not push every later rotation back by its lateness; and past every
 * point already gone, so a backlog (keyward was down for several intervals) is one
 * rotation, not one per missed interval.
 */
export const nextScheduledRotation = (policy: Policy, dueAt: Timestamp, now: Timestamp): Timestamp | null => {
  if (policy.type !== 'rotate') return null;
  const intervalMs = policy.intervalSeconds * 1000;
  const late = Math.max(Date.parse(now) - Date.parse(dueAt), 0);
  return new Date(Date.parse(dueAt) + (Math.floor(late / intervalMs) + 1) * intervalMs).toISOString();
};

/** The part of a policy only the clock can judge: an expiry must lie in the future. */
export const checkPolicyAt = (policy: Policy, now: Timestamp, path = 'policy'): E.Either<DomainError, Policy> =>
  policy.type === 'expire' && !isBefore(now, policy.expiresAt)
    ? E.left(invalidField(`${path}.expiresAt`, 'must be in the future'))
    : E.right(policy);

/** How long the replaced pair keeps working after a scheduled rotation. */
export const scheduledOverlapSeconds = (policy: Policy): number =>
  policy.type === 'rotate' ? (policy.overlapSeconds ?? 0) : 0;
