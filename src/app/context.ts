import { randomUUID } from 'node:crypto';
import type { AccountRequest, Actor, SealedAccount, Timestamp } from '../../domain/index.js';
import type { SealingKey } from '../crypto.js';
import type { CommandMeta } from '../handling/handle.js';
import type { EventStore } from '../store/types.js';
import type { Enforcement } from './enforcement.js';
import type { Projector } from './projector.js';

/** What the application layer runs on; the NATS edge, the CLI's tests and the benchmarks build one. */
export interface AppContext {
  readonly store: EventStore;
  readonly masterKey: SealingKey;
  readonly clock: () => Timestamp;
  readonly projector: Projector;
  /** What proxy nodes report, where the NATS edge listens for it. */
  readonly enforcement?: {
    readonly view: Enforcement;
    /** The KV revision of the key's current value, if the bucket holds one. */
    kvRevisionOf(instanceId: string, accessId: string): Promise<number | undefined>;
  };
}

export const systemClock = (): Timestamp => new Date().toISOString();

/** A request without a commandId gets a fresh one: it is then simply not idempotent. */
export const metaOf = (request: { readonly commandId?: string; readonly actor: Actor }): CommandMeta => ({
  commandId: request.commandId ?? randomUUID(),
  actor: request.actor,
});

export const sealAccount = (masterKey: SealingKey, account: AccountRequest): SealedAccount => ({
  username: account.username,
  passwordSealed: masterKey.seal(account.password),
});
