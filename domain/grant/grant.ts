// The Grant aggregate: one user's access to one instance through its proxy, and the
// AccessKey pair that carries it. Stream `grant-<instanceId>:<userId>` (ids never hold `:`).
import { integer, literal, nullable, oneOf, struct, tagged, timestamp } from '../codec.js';
import { eventCodec } from '../event.js';
import { AccessId, InstanceId, TicketId, UserId } from '../ids.js';
import { GrantAccount } from '../account.js';
import { Verifiers } from '../key.js';
import { Policy } from '../policy.js';
import { isEpochEnabled, type ProxyState } from '../proxy/proxy.js';
import { Sealed } from '../secret.js';
import { isAtOrAfter, type Timestamp } from '../time.js';

export const grantStreamId = (instanceId: string, userId: string): string => `grant-${instanceId}:${userId}`;

// ---- events

export const GrantOrigin = tagged('GrantOrigin', 'type', {
  direct: struct('DirectOrigin', { type: literal('direct'), by: UserId }),
  ticket: struct('TicketOrigin', { type: literal('ticket'), ticketId: TicketId, approvedBy: UserId }),
});
export type GrantOrigin = typeof GrantOrigin._A;

export const AccessGranted = eventCodec('AccessGranted', {
  instanceId: InstanceId,
  userId: UserId,
  /** The proxy enablement this grant belongs to; see ProxyEnabled.epoch. */
  proxyEpoch: integer('Epoch', 1, Number.MAX_SAFE_INTEGER),
  accessId: AccessId,
  secretSealed: Sealed,
  verifiers: Verifiers,
  policy: Policy,
  databaseAccount: GrantAccount,
  origin: GrantOrigin,
  notAfter: nullable(timestamp),
  rotatesAt: nullable(timestamp),
  grantedBy: UserId,
  grantedAt: timestamp,
});
export type AccessGranted = typeof AccessGranted._A;

export const RotationReason = oneOf('RotationReason', ['manual', 'scheduled']);

export const AccessKeyRotated = eventCodec('AccessKeyRotated', {
  instanceId: InstanceId,
  userId: UserId,
  accessId: AccessId,
  secretSealed: Sealed,
  verifiers: Verifiers,
  previousAccessId: AccessId,
  /** The replaced pair works until then: the rotation time itself unless an overlap was asked for. */
  previousNotAfter: timestamp,
  notAfter: nullable(timestamp),
  rotatesAt: nullable(timestamp),
  reason: RotationReason,
  rotatedBy: UserId,
  rotatedAt: timestamp,
});
export type AccessKeyRotated = typeof AccessKeyRotated._A;

export const AccessKeyViewed = eventCodec('AccessKeyViewed', {
  instanceId: InstanceId,
  userId: UserId,
  accessId: AccessId,
  viewedBy: UserId,
  viewedAt: timestamp,
});
export type AccessKeyViewed = typeof AccessKeyViewed._A;

export const RevokeMode = oneOf('RevokeMode', ['recycle', 'release']);
export type RevokeMode = typeof RevokeMode._A;

export const AccessRevoked = eventCodec('AccessRevoked', {
  instanceId: InstanceId,
  userId: UserId,
  accessId: AccessId,
  /** recycle: access ends, the grant stays listed as revoked; release: it also leaves the listings. */
  mode: RevokeMode,
  revokedBy: UserId,
  revokedAt: timestamp,
});
export type AccessRevoked = typeof AccessRevoked._A;

export const AccessKeyExpired = eventCodec('AccessKeyExpired', {
  instanceId: InstanceId,
  userId: UserId,
  accessId: AccessId,
  expiredAt: timestamp,
});
export type AccessKeyExpired = typeof AccessKeyExpired._A;

export type GrantEvent = AccessGranted | AccessKeyRotated | AccessKeyViewed | AccessRevoked | AccessKeyExpired;
export const GRANT_EVENT_TYPES = ['AccessGranted', 'AccessKeyRotated', 'AccessKeyViewed', 'AccessRevoked', 'AccessKeyExpired'] as const;

// ---- state

export interface GrantDetails {
  readonly instanceId: string;
  readonly userId: string;
  readonly proxyEpoch: number;
  readonly accessId: string;
  readonly secretSealed: string;
  readonly verifiers: Verifiers;
  readonly policy: Policy;
  readonly databaseAccount: GrantAccount;
  readonly origin: GrantOrigin;
  readonly notAfter: Timestamp | null;
  readonly rotatesAt: Timestamp | null;
  readonly grantedBy: string;
  readonly grantedAt: Timestamp;
  readonly revokedAt: Timestamp | null;
}

/**
 * `none`: never authorized. `released`: access ended and the grant left the listings; for
 * every decision it is as if there were none, but the history stays.
 */
export type GrantState =
  | { readonly status: 'none' | 'released' }
  | ({ readonly status: 'active' | 'revoked' | 'expired' } & GrantDetails);

export const initialGrantState: GrantState = { status: 'none' };

export const evolveGrant = (state: GrantState, event: GrantEvent): GrantState => {
  switch (event.type) {
    case 'AccessGranted': {
      const { instanceId, userId, proxyEpoch, accessId, secretSealed, verifiers, policy, databaseAccount, origin, notAfter, rotatesAt, grantedBy, grantedAt } =
        event.data;
      return { status: 'active', instanceId, userId, proxyEpoch, accessId, secretSealed, verifiers, policy, databaseAccount, origin, notAfter, rotatesAt, grantedBy, grantedAt, revokedAt: null };
    }
    case 'AccessKeyRotated': {
      if (!hasDetails(state)) return state;
      const { accessId, secretSealed, verifiers, notAfter, rotatesAt } = event.data;
      return { ...state, accessId, secretSealed, verifiers, notAfter, rotatesAt };
    }
    case 'AccessKeyViewed':
      return state;
    case 'AccessRevoked':
      if (event.data.mode === 'release') return { status: 'released' };
      return hasDetails(state) ? { ...state, status: 'revoked', rotatesAt: null, revokedAt: event.data.revokedAt } : state;
    case 'AccessKeyExpired':
      return hasDetails(state) ? { ...state, status: 'expired', rotatesAt: null } : state;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

export const hasDetails = (state: GrantState): state is Extract<GrantState, GrantDetails> =>
  state.status === 'active' || state.status === 'revoked' || state.status === 'expired';

/**
 * The status a grant has at `now`, which its own stream alone cannot tell: a grant made
 * under a proxy enablement that has since ended is revoked (DESIGN.md: disabling a proxy
 * revokes every active grant on it), and a key past its `notAfter` has expired even before
 * the scheduler records AccessKeyExpired (proxies enforce `notAfter` by themselves).
 */
export const effectiveGrantStatus = (grant: GrantState, proxy: ProxyState, now: Timestamp): GrantState['status'] => {
  if (grant.status !== 'active') return grant.status;
  if (!isEpochEnabled(proxy, grant.proxyEpoch)) return 'revoked';
  if (grant.notAfter !== null && isAtOrAfter(now, grant.notAfter)) return 'expired';
  return 'active';
};
