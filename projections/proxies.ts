// The proxy of every instance, for the `proxies` query. The owner and times are those of the
// current enablement; the proxy's database password never enters this view.
import type { Endpoint, EventType, Timestamp } from '../domain/index.js';
import { initialEpochs, trackEpoch, type Epochs } from './epochs.js';
import { ID_KEY, paginate, type Page, type PageRequest } from './page.js';
import { firstDelivery, handledBy, type RecordedEvent, type Revisions } from './support.js';

export interface Proxy {
  readonly instanceId: string;
  readonly ownerId: string;
  readonly status: 'enabled' | 'disabled';
  readonly epoch: number;
  readonly enabledAt: Timestamp;
  readonly disabledAt: Timestamp | null;
  readonly endpoints: readonly Endpoint[];
  readonly databaseAccount: { readonly username: string };
}

interface Enabled {
  readonly ownerId: string;
  readonly enabledAt: Timestamp;
  readonly disabledAt: Timestamp | null;
  readonly endpoints: readonly Endpoint[];
  readonly username: string;
}

export interface ProxiesView {
  readonly revisions: Revisions;
  /** Status and epoch, by the rules every projection shares. */
  readonly epochs: Epochs;
  readonly proxies: Map<string, Enabled>;
}

export const handles = ['ProxyEnabled', 'ProxyDisabled'] as const satisfies readonly EventType[];
const isHandled = handledBy(handles);

export const initialProxies = (): ProxiesView => ({ revisions: new Map(), epochs: initialEpochs(), proxies: new Map() });

// Mutates and returns `view`: a replay of millions of events must not copy the view per
// event. Deterministic (no clock, no randomness, no I/O), so every replay builds the same view.
export const evolveProxies = (view: ProxiesView, event: RecordedEvent): ProxiesView => {
  if (!isHandled(event) || !firstDelivery(view.revisions, event)) return view;
  if (!trackEpoch(view.epochs, event)) return view;
  const { instanceId } = event.data;
  switch (event.type) {
    case 'ProxyEnabled': {
      const { ownerId, enabledAt, endpoints, databaseAccount } = event.data;
      view.proxies.set(instanceId, { ownerId, enabledAt, disabledAt: null, endpoints, username: databaseAccount.username });
      return view;
    }
    case 'ProxyDisabled': {
      const enabled = view.proxies.get(instanceId);
      if (enabled !== undefined) view.proxies.set(instanceId, { ...enabled, disabledAt: event.data.disabledAt });
      return view;
    }
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

// ---- queries

export const getProxy = (view: ProxiesView, instanceId: string): Proxy | undefined => {
  const enabled = view.proxies.get(instanceId);
  const epoch = view.epochs.get(instanceId);
  if (enabled === undefined || epoch === undefined) return undefined;
  return {
    instanceId,
    ownerId: enabled.ownerId,
    status: epoch.enabled ? 'enabled' : 'disabled',
    epoch: epoch.epoch,
    enabledAt: enabled.enabledAt,
    disabledAt: enabled.disabledAt,
    endpoints: enabled.endpoints.map((e) => ({ ...e })),
    databaseAccount: { username: enabled.username },
  };
};

export interface ProxyListRequest extends PageRequest {
  readonly ownerId?: string;
}

/** Sorted by instanceId. */
export const listProxies = (view: ProxiesView, request: ProxyListRequest = {}): Page<Proxy> => {
  const ids: string[] = [];
  for (const [instanceId, enabled] of view.proxies) {
    if (request.ownerId === undefined || enabled.ownerId === request.ownerId) ids.push(instanceId);
  }
  const page = paginate(ids, (id) => id, request, ID_KEY);
  return { items: page.items.flatMap((id) => getProxy(view, id) ?? []), nextCursor: page.nextCursor };
};
