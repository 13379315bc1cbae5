// Commands on a Proxy and the decisions that answer them.
import * as E from 'fp-ts/lib/Either.js';
import type { Actor } from '../actor.js';
import type { Endpoint, SealedAccount } from '../account.js';
import { mayEnableProxy, mayManageProxy } from '../authorization.js';
import { conflict, forbidden, notFound, type DomainError } from '../errors.js';
import type { Timestamp } from '../time.js';
import type { ProxyEvent, ProxyState } from './proxy.js';

// ---- commands

export interface EnableProxy {
  readonly type: 'EnableProxy';
  readonly actor: Actor;
  readonly instanceId: string;
  /** The proxy's own database account: what grants use unless they name a custom one. */
  readonly databaseAccount: SealedAccount;
  readonly endpoints: readonly Endpoint[];
}

export interface DisableProxy {
  readonly type: 'DisableProxy';
  readonly actor: Actor;
  readonly instanceId: string;
}

export type ProxyCommand = EnableProxy | DisableProxy;

export interface ProxyContext {
  readonly now: Timestamp;
}

// ---- decide

export const decideProxy = (command: ProxyCommand, state: ProxyState, { now }: ProxyContext): E.Either<DomainError, ProxyEvent[]> => {
  switch (command.type) {
    case 'EnableProxy':
      if (!mayEnableProxy(command.actor)) return E.left(forbidden('a proxy is enabled by a person, who becomes its owner'));
      if (state.status === 'enabled') return E.left(conflict(`the proxy of instance ${command.instanceId} is already enabled`));
      return E.right([
        {
          type: 'ProxyEnabled',
          data: {
            instanceId: command.instanceId,
            ownerId: command.actor.userId,
            epoch: state.status === 'none' ? 1 : state.epoch + 1,
            databaseAccount: command.databaseAccount,
            endpoints: [...command.endpoints],
            enabledAt: now,
          },
        },
      ]);
    case 'DisableProxy':
      if (state.status === 'none') return E.left(notFound(`no proxy is enabled for instance ${command.instanceId}`));
      if (!mayManageProxy(command.actor, state)) {
        return E.left(forbidden(`only an admin, a dba or the proxy's owner may disable the proxy of instance ${command.instanceId}`));
      }
      if (state.status === 'disabled') return E.left(conflict(`the proxy of instance ${command.instanceId} is already disabled`));
      // Every grant made under this epoch stops being valid with this one event.
      return E.right([{ type: 'ProxyDisabled', data: { instanceId: command.instanceId, epoch: state.epoch, disabledBy: command.actor.userId, disabledAt: now } }]);
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
};
