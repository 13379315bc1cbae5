// Every listed grant as API.md's `grant` and `grants` queries give it, without secrets.
// A grant's status needs more than its own stream: a proxy disable revokes it, and a key past
// its notAfter has expired before anyone records AccessKeyExpired (domain: effectiveGrantStatus).
import { grantStreamId, type EventType, type GrantOrigin, type Policy, type Timestamp } from '../domain/index.js';
import { initialEpochs, isEnabledEpoch, trackEpoch, type Epochs } from './epochs.js';
import { ID_KEY, paginate, type Page, type PageRequest } from './page.js';
import { addTo, firstDelivery, handledBy, removeFrom, takeAll, type RecordedEvent, type Revisions } from './support.js';

export type GrantStatus = 'active' | 'revoked' | 'expired';

export interface Grant {
  readonly instanceId: string;
  readonly userId: string;
  readonly status: GrantStatus;
  readonly accessId: string;
  readonly policy: Policy;
  readonly databaseAccount: { readonly username: string; readonly custom: boolean };
  readonly origin: GrantOrigin;
  readonly notAfter: Timestamp | null;
  readonly rotatesAt: Timestamp | null;
  readonly grantedAt: Timestamp;
  readonly grantedBy: string;
  /** Present when the status is revoked. */
  readonly revokedAt?: Timestamp;
  /** The grant stream's revision of the last grant event applied: what a writer expects. */
  readonly version: number;
}

interface GrantRecord {
  readonly instanceId: string;
  readonly userId: string;
  readonly proxyEpoch: number;
  status: GrantStatus;
  accessId: string;
  readonly policy: Policy;
  readonly databaseAccount: { readonly username: string; readonly custom: boolean };
  readonly origin: GrantOrigin;
  notAfter: Timestamp | null;
  rotatesAt: Timestamp | null;
  readonly grantedAt: Timestamp;
  readonly grantedBy: string;
  revokedAt: Timestamp | null;
  version: number;
}

export interface GrantsView {
  readonly revisions: Revisions;
  readonly epochs: Epochs;
  /** By grantStreamId. A released grant is not here: it left the listings (its history stays in the store). */
  readonly grants: Map<string, GrantRecord>;
  /** Each instance's grants, by grantStreamId. */
  readonly byInstance: Map<string, Set<string>>;
  /** Each instance's grants active under its current enablement: what ending that enablement revokes. */
  readonly live: Map<string, Set<string>>;
}

export const handles = [
  'ProxyEnabled',
  'ProxyDisabled',
  'AccessGranted',
  'AccessKeyRotated',
  'AccessKeyViewed',
  'AccessRevoked',
  'AccessKeyExpired',
] as const satisfies readonly EventType[];
const isHandled = handledBy(handles);

export const initialGrants = (): GrantsView => ({ revisions: new Map(), epochs: initialEpochs(), grants: new Map(), byInstance: new Map(), live: new Map() });

// Mutates and returns `view`: a replay of millions of events must not copy the view per
// event. Deterministic (no clock, no randomness, no I/O), so every replay builds the same view.
export const evolveGrants = (view: GrantsView, event: RecordedEvent): GrantsView => {
  if (!isHandled(event) || !firstDelivery(view.revisions, event)) return view;
  switch (event.type) {
    case 'ProxyEnabled':
    case 'ProxyDisabled': {
      if (!trackEpoch(view.epochs, event)) return view;
      const at = event.type === 'ProxyDisabled' ? event.data.disabledAt : event.data.enabledAt;
      for (const key of takeAll(view.live, event.data.instanceId)) {
        const grant = view.grants.get(key);
        if (grant !== undefined) revoke(grant, at);
      }
      return view;
    }
    case 'AccessGranted': {
      const { instanceId, userId, proxyEpoch, accessId, policy, databaseAccount, origin, notAfter, rotatesAt, grantedAt, grantedBy } = event.data;
      const key = grantStreamId(instanceId, userId);
      // Made under an enablement that is not the current one (a race with a disable): revoked from birth.
      const live = isEnabledEpoch(view.epochs, instanceId, proxyEpoch);
      view.grants.set(key, {
        instanceId,
        userId,
        proxyEpoch,
        status: live ? 'active' : 'revoked',
        accessId,
        policy,
        databaseAccount: { username: databaseAccount.username, custom: databaseAccount.kind === 'custom' },
        origin,
        notAfter,
        rotatesAt: live ? rotatesAt : null,
        grantedAt,
        grantedBy,
        revokedAt: live ? null : grantedAt,
        version: event.revision,
      });
      addTo(view.byInstance, instanceId, key);
      if (live) addTo(view.live, instanceId, key);
      else removeFrom(view.live, instanceId, key);
      return view;
    }
    default:
      break;
  }
  const { instanceId, userId } = event.data;
  const key = grantStreamId(instanceId, userId);
  const grant = view.grants.get(key);
  if (grant === undefined) return view;
  grant.version = event.revision;
  switch (event.type) {
    case 'AccessKeyRotated':
      grant.accessId = event.data.accessId;
      grant.notAfter = event.data.notAfter;
      if (grant.status === 'active') grant.rotatesAt = event.data.rotatesAt;
      return view;
    case 'AccessKeyViewed':
      return view;
    case 'AccessRevoked':
      removeFrom(view.live, instanceId, key);
      if (event.data.mode === 'release') {
        view.grants.delete(key);
        removeFrom(view.byInstance, instanceId, key);
      } else {
        revoke(grant, event.data.revokedAt);
      }
      return view;
    case 'AccessKeyExpired':
      removeFrom(view.live, instanceId, key);
      // A grant its proxy's disable already revoked stays revoked: that came first.
      if (grant.status === 'active') {
        grant.status = 'expired';
        grant.rotatesAt = null;
      }
      return view;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

/** The first revocation stands: a later one does not move revokedAt. */
const revoke = (grant: GrantRecord, at: Timestamp): void => {
  if (grant.status !== 'revoked') grant.revokedAt = at;
  grant.status = 'revoked';
  grant.rotatesAt = null;
};

// ---- queries

const statusAt = (grant: GrantRecord, now: Timestamp): GrantStatus =>
  grant.status === 'active' && grant.notAfter !== null && now >= grant.notAfter ? 'expired' : grant.status;

const toGrant = (g: GrantRecord, now: Timestamp): Grant => {
  const status = statusAt(g, now);
  const grant: Grant = {
    instanceId: g.instanceId,
    userId: g.userId,
    status,
    accessId: g.accessId,
    policy: g.policy,
    databaseAccount: { ...g.databaseAccount },
    origin: g.origin,
    notAfter: g.notAfter,
    rotatesAt: status === 'active' ? g.rotatesAt : null,
    grantedAt: g.grantedAt,
    grantedBy: g.grantedBy,
    version: g.version,
  };
  return status === 'revoked' && g.revokedAt !== null ? { ...grant, revokedAt: g.revokedAt } : grant;
};

/** The grant at `now`; undefined if the user was never authorized or the grant was released. */
export const getGrant = (view: GrantsView, instanceId: string, userId: string, now: Timestamp): Grant | undefined => {
  const grant = view.grants.get(grantStreamId(instanceId, userId));
  return grant === undefined ? undefined : toGrant(grant, now);
};

export interface GrantListRequest extends PageRequest {
  readonly instanceId: string;
  readonly status?: GrantStatus | 'all';
}

/** The instance's grants with their status at `now`, sorted by userId. */
export const listGrants = (view: GrantsView, request: GrantListRequest, now: Timestamp): Page<Grant> => {
  const status = request.status ?? 'all';
  const matching: GrantRecord[] = [];
  for (const key of view.byInstance.get(request.instanceId) ?? []) {
    const grant = view.grants.get(key);
    if (grant !== undefined && (status === 'all' || statusAt(grant, now) === status)) matching.push(grant);
  }
  const page = paginate(matching, (g) => g.userId, request, ID_KEY);
  return { items: page.items.map((g) => toGrant(g, now)), nextCursor: page.nextCursor };
};
