// The Proxy aggregate: the secure access proxy of one database instance. Stream `proxy-<instanceId>`.
import { arrayOf, integer, timestamp } from '../codec.js';
import { eventCodec } from '../event.js';
import { InstanceId, UserId, type UserId as UserIdT } from '../ids.js';
import { Endpoint, SealedAccount } from '../account.js';
import type { Timestamp } from '../time.js';

export const proxyStreamId = (instanceId: string): string => `proxy-${instanceId}`;

// ---- events

export const MAX_ENDPOINTS = 16;

export const ProxyEnabled = eventCodec('ProxyEnabled', {
  instanceId: InstanceId,
  ownerId: UserId,
  /**
   * Counts the times the proxy was enabled. A grant records the epoch it was made under and
   * stays valid only while that epoch is enabled, so a disable revokes every grant of the
   * instance in one event, including one appended concurrently with the disable.
   */
  epoch: integer('Epoch', 1, Number.MAX_SAFE_INTEGER),
  databaseAccount: SealedAccount,
  endpoints: arrayOf(Endpoint, MAX_ENDPOINTS),
  enabledAt: timestamp,
});
export type ProxyEnabled = typeof ProxyEnabled._A;

export const ProxyDisabled = eventCodec('ProxyDisabled', {
  instanceId: InstanceId,
  epoch: integer('Epoch', 1, Number.MAX_SAFE_INTEGER),
  disabledBy: UserId,
  disabledAt: timestamp,
});
export type ProxyDisabled = typeof ProxyDisabled._A;

export type ProxyEvent = ProxyEnabled | ProxyDisabled;
export const PROXY_EVENT_TYPES = ['ProxyEnabled', 'ProxyDisabled'] as const;

// ---- state

export type ProxyState =
  | { readonly status: 'none' }
  | {
      readonly status: 'enabled' | 'disabled';
      readonly instanceId: string;
      readonly ownerId: UserIdT;
      readonly epoch: number;
      readonly databaseAccount: SealedAccount;
      readonly endpoints: readonly Endpoint[];
      readonly enabledAt: Timestamp;
      readonly disabledAt: Timestamp | null;
    };

export const initialProxyState: ProxyState = { status: 'none' };

export const evolveProxy = (state: ProxyState, event: ProxyEvent): ProxyState => {
  switch (event.type) {
    case 'ProxyEnabled':
      return { status: 'enabled', ...event.data, disabledAt: null };
    case 'ProxyDisabled':
      return state.status === 'none' ? state : { ...state, status: 'disabled', disabledAt: event.data.disabledAt };
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

/** Whether keys made under `epoch` may still work: only while that very enablement lasts. */
export const isEpochEnabled = (proxy: ProxyState, epoch: number): boolean =>
  proxy.status === 'enabled' && proxy.epoch === epoch;
