// The active-key index: what proxy nodes must know to check an AccessKey pair (API.md, "Keys
// for proxy nodes"), by accessId. The relay mirrors it into the KV bucket.
//
// The invariant this module exists for: an entry that is revoked is never active again,
// whatever comes later (a redelivered or replayed event, an accessId seen twice). Entries
// are never deleted, and a revocation is final: a later one does not rewrite it.
import { earliest, grantStreamId, type Sealed, type Timestamp, type Verifiers } from '../domain/index.js';
import { initialEpochs, isEnabledEpoch, trackEpoch, type Epochs } from './epochs.js';
import { addTo, firstDelivery, handledBy, removeFrom, takeAll, type RecordedEvent, type Revisions, KEY_LIFECYCLE_EVENTS } from './support.js';

export type RevocationReason = 'rotated' | 'recycled' | 'released' | 'expired' | 'proxy-disabled';

export interface ActiveKey {
  readonly state: 'active';
  readonly accessId: string;
  readonly instanceId: string;
  readonly userId: string;
  readonly verifiers: Verifiers;
  /** Sealed under the master key, as recorded; the relay reseals it for proxy nodes. */
  readonly databaseAccount: { readonly username: string; readonly passwordSealed: Sealed };
  readonly notAfter: Timestamp | null;
  readonly issuedAt: Timestamp;
  /** The store position of the event that last changed this entry. */
  readonly position: string;
}

export interface RevokedKey {
  readonly state: 'revoked';
  readonly accessId: string;
  readonly instanceId: string;
  readonly userId: string;
  readonly reason: RevocationReason;
  readonly at: Timestamp;
  readonly position: string;
}

export type KeyEntry = ActiveKey | RevokedKey;

interface GrantKeys {
  readonly proxyEpoch: number;
  readonly account: { readonly username: string; readonly passwordSealed: Sealed } | null;
  current: string;
  /** The key a rotation replaced, while it works out its overlap. */
  previous: string | null;
}

export interface KeyIndexView {
  readonly revisions: Revisions;
  readonly epochs: Epochs;
  /** The sealed password of each instance's current enablement: what keys of kind `proxy` open. */
  readonly proxyPasswords: Map<string, Sealed>;
  /** Every key ever issued, tombstones included. Entries are replaced, never edited. */
  readonly entries: Map<string, KeyEntry>;
  readonly byInstance: Map<string, Set<string>>;
  /** Each instance's active accessIds: all of them belong to its current enablement. */
  readonly live: Map<string, Set<string>>;
  /** By grantStreamId. */
  readonly grants: Map<string, GrantKeys>;
  /**
   * The accessIds whose entry the last event applied changed: what the relay writes to KV
   * for that event, without scanning an instance of many thousands of keys to find them.
   */
  readonly changed: string[];
}

export const handles = KEY_LIFECYCLE_EVENTS;
const isHandled = handledBy(handles);

export const initialKeyIndex = (): KeyIndexView => ({
  revisions: new Map(),
  epochs: initialEpochs(),
  proxyPasswords: new Map(),
  entries: new Map(),
  byInstance: new Map(),
  live: new Map(),
  grants: new Map(),
  changed: [],
});

// Mutates and returns `view`: a replay of millions of events must not copy the view per
// event. Deterministic (no clock, no randomness, no I/O), so every replay builds the same view.
export const evolveKeyIndex = (view: KeyIndexView, event: RecordedEvent): KeyIndexView => {
  if (!isHandled(event) || !firstDelivery(view.revisions, event)) return view;
  view.changed.length = 0;
  const { position } = event;
  switch (event.type) {
    case 'ProxyEnabled':
    case 'ProxyDisabled': {
      const { instanceId } = event.data;
      if (!trackEpoch(view.epochs, event)) return view;
      const at = event.type === 'ProxyDisabled' ? event.data.disabledAt : event.data.enabledAt;
      for (const accessId of takeAll(view.live, instanceId)) revoke(view, accessId, 'proxy-disabled', at, position);
      if (event.type === 'ProxyEnabled') view.proxyPasswords.set(instanceId, event.data.databaseAccount.passwordSealed);
      return view;
    }
    case 'AccessGranted': {
      const { instanceId, userId, proxyEpoch, databaseAccount, grantedAt } = event.data;
      const key = grantStreamId(instanceId, userId);
      const before = view.grants.get(key);
      // Re-authorization follows a grant that ended; a key of it still marked active is one
      // past its notAfter that no AccessKeyExpired has ended yet.
      if (before !== undefined) for (const old of [before.current, before.previous]) endSuperseded(view, old, grantedAt, position);
      const passwordSealed = databaseAccount.kind === 'custom' ? databaseAccount.passwordSealed : view.proxyPasswords.get(instanceId);
      const grant: GrantKeys = {
        proxyEpoch,
        account: passwordSealed === undefined ? null : { username: databaseAccount.username, passwordSealed },
        current: event.data.accessId,
        previous: null,
      };
      view.grants.set(key, grant);
      issue(view, grant, event.data, grantedAt, position);
      return view;
    }
    case 'AccessKeyRotated': {
      const { instanceId, userId, accessId, previousAccessId, previousNotAfter, rotatedAt } = event.data;
      const grant = view.grants.get(grantStreamId(instanceId, userId));
      if (grant === undefined) return view;
      // One replaced key at a time works out an overlap: an older one ends now.
      for (const old of [grant.previous, grant.current]) {
        if (old !== null && old !== previousAccessId) revoke(view, old, 'rotated', rotatedAt, position);
      }
      const previous = view.entries.get(previousAccessId);
      if (previousNotAfter > rotatedAt && previous?.state === 'active') {
        view.entries.set(previousAccessId, { ...previous, notAfter: earliest(previousNotAfter, previous.notAfter), position });
        view.changed.push(previousAccessId);
        grant.previous = previousAccessId;
      } else {
        revoke(view, previousAccessId, 'rotated', rotatedAt, position);
        grant.previous = null;
      }
      grant.current = accessId;
      issue(view, grant, event.data, rotatedAt, position);
      return view;
    }
    case 'AccessRevoked': {
      const { mode, revokedAt } = event.data;
      endGrant(view, event.data, mode === 'recycle' ? 'recycled' : 'released', revokedAt, position);
      return view;
    }
    case 'AccessKeyExpired':
      endGrant(view, event.data, 'expired', event.data.expiredAt, position);
      return view;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

interface Issued {
  readonly instanceId: string;
  readonly userId: string;
  readonly accessId: string;
  readonly verifiers: Verifiers;
  readonly notAfter: Timestamp | null;
}

/**
 * A new key of `grant`: active only while the grant's enablement is the instance's current
 * one; one issued after that ended (a race with a disable) is revoked from birth. An
 * accessId already in the index keeps its entry: nothing reissues a key.
 */
const issue = (view: KeyIndexView, grant: GrantKeys, key: Issued, issuedAt: Timestamp, position: string): void => {
  const { instanceId, userId, accessId, verifiers, notAfter } = key;
  if (view.entries.has(accessId)) return;
  addTo(view.byInstance, instanceId, accessId);
  view.changed.push(accessId);
  if (grant.account === null || !isEnabledEpoch(view.epochs, instanceId, grant.proxyEpoch)) {
    view.entries.set(accessId, { state: 'revoked', accessId, instanceId, userId, reason: 'proxy-disabled', at: issuedAt, position });
    return;
  }
  view.entries.set(accessId, { state: 'active', accessId, instanceId, userId, verifiers, databaseAccount: grant.account, notAfter, issuedAt, position });
  addTo(view.live, instanceId, accessId);
};

/** Ends an active entry; a revoked one keeps its first reason and time. */
const revoke = (view: KeyIndexView, accessId: string, reason: RevocationReason, at: Timestamp, position: string): void => {
  const entry = view.entries.get(accessId);
  if (entry?.state !== 'active') return;
  const { instanceId, userId } = entry;
  view.entries.set(accessId, { state: 'revoked', accessId, instanceId, userId, reason, at, position });
  view.changed.push(accessId);
  removeFrom(view.live, instanceId, accessId);
};

/** Every key of the grant: the one an event names, its current one and one in overlap. */
const endGrant = (
  view: KeyIndexView,
  named: { readonly instanceId: string; readonly userId: string; readonly accessId: string },
  reason: RevocationReason,
  at: Timestamp,
  position: string,
): void => {
  const grant = view.grants.get(grantStreamId(named.instanceId, named.userId));
  for (const accessId of [named.accessId, grant?.current ?? null, grant?.previous ?? null]) {
    if (accessId !== null) revoke(view, accessId, reason, at, position);
  }
  if (grant !== undefined) grant.previous = null;
};

const endSuperseded = (view: KeyIndexView, accessId: string | null, at: Timestamp, position: string): void => {
  const entry = accessId === null ? undefined : view.entries.get(accessId);
  if (entry?.state !== 'active') return;
  if (entry.notAfter !== null && entry.notAfter <= at) revoke(view, entry.accessId, 'expired', entry.notAfter, position);
  else revoke(view, entry.accessId, 'rotated', at, position);
};

// ---- queries

export const keyEntry = (view: KeyIndexView, accessId: string): KeyEntry | undefined => view.entries.get(accessId);

/** Every key of the instance, revoked ones included: what the relay reconciles the bucket against. */
export const keysOfInstance = (view: KeyIndexView, instanceId: string): KeyEntry[] =>
  [...(view.byInstance.get(instanceId) ?? [])].flatMap((accessId) => view.entries.get(accessId) ?? []);

/** What a proxy node decides for itself: an active entry, and its notAfter (if any) still ahead. */
export const isKeyValidAt = (entry: KeyEntry, now: Timestamp): boolean =>
  entry.state === 'active' && (entry.notAfter === null || now < entry.notAfter);
