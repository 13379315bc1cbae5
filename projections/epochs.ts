// Each instance's current proxy enablement. A grant's keys work only while the enablement
// they were made under lasts (domain: isEpochEnabled), so every projection that ends keys
// or grants on a disable keeps one of these in its view.
import type { ProxyDisabled, ProxyEnabled } from '../domain/index.js';

export interface Enablement {
  readonly epoch: number;
  readonly enabled: boolean;
}

export type Epochs = Map<string, Enablement>;

export const initialEpochs = (): Epochs => new Map();

/**
 * Applies a proxy event and says whether it changed anything. Epochs only grow and only the
 * current one can be disabled, so a stale or repeated event never re-enables an enablement
 * that has ended. When this returns true, the enablement the instance's keys belonged to
 * has ended: by a disable, or (defensively, the decider never records it) by the enable of
 * a newer epoch with no disable in between.
 */
export const trackEpoch = (epochs: Epochs, event: ProxyEnabled | ProxyDisabled): boolean => {
  const { instanceId, epoch } = event.data;
  const current = epochs.get(instanceId);
  switch (event.type) {
    case 'ProxyEnabled':
      if (current !== undefined && epoch <= current.epoch) return false;
      epochs.set(instanceId, { epoch, enabled: true });
      return true;
    case 'ProxyDisabled':
      if (current === undefined || current.epoch !== epoch || !current.enabled) return false;
      epochs.set(instanceId, { epoch, enabled: false });
      return true;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

export const isEnabledEpoch = (epochs: Epochs, instanceId: string, epoch: number): boolean => {
  const current = epochs.get(instanceId);
  return current !== undefined && current.enabled && current.epoch === epoch;
};
