// Shared people, times and events for the domain and projection suites. Key material is
// real: it comes from src/crypto.ts under a master key made for the test run.
import { issueKey, SealingKey } from '../../src/crypto.js';
import {
  addSeconds,
  Secret,
  type AccessGranted,
  type Actor,
  type GrantAccount,
  type IssuedKey,
  type Policy,
  type ProxyDisabled,
  type ProxyEnabled,
  type SealedAccount,
  type Timestamp,
} from '../../domain/index.js';

export const T0: Timestamp = '2026-12-04T10:00:00.000Z';
export const later = (seconds: number, from: Timestamp = T0): Timestamp => addSeconds(from, seconds);

export const INSTANCE = 'orders-db';
export const OTHER_INSTANCE = 'billing-db';

export const admin: Actor = { userId: 'ada', role: 'admin' };
export const dba: Actor = { userId: 'dmitri', role: 'dba' };
/** A regular user who enabled the proxy and so owns it. */
export const owner: Actor = { userId: 'olivia', role: 'user' };
export const bob: Actor = { userId: 'bob', role: 'user' };
export const carol: Actor = { userId: 'carol', role: 'user' };
export const system: Actor = { userId: 'keyward', role: 'system' };

export const masterKey = SealingKey.generate();
export const newKey = (): IssuedKey => issueKey(masterKey).key;

export const sealedAccount = (username: string, password: string): SealedAccount => ({
  username,
  passwordSealed: masterKey.seal(new Secret(password)),
});

export const PROXY_ACCOUNT = sealedAccount('keyward_proxy', 'proxy-account-password');

export const proxyEnabled = (over: Partial<ProxyEnabled['data']> = {}): ProxyEnabled => ({
  type: 'ProxyEnabled',
  data: { instanceId: INSTANCE, ownerId: owner.userId, epoch: 1, databaseAccount: PROXY_ACCOUNT, endpoints: [], enabledAt: T0, ...over },
});

export const proxyDisabled = (over: Partial<ProxyDisabled['data']> = {}): ProxyDisabled => ({
  type: 'ProxyDisabled',
  data: { instanceId: INSTANCE, epoch: 1, disabledBy: admin.userId, disabledAt: later(3600), ...over },
});

export const SYSTEM_POLICY: Policy = { type: 'system' };

/** An AccessGranted as the Authorize decision makes it: direct, proxy account, system policy. */
export const accessGranted = (key: IssuedKey, over: Partial<AccessGranted['data']> = {}): AccessGranted => {
  const databaseAccount: GrantAccount = { kind: 'proxy', username: PROXY_ACCOUNT.username };
  return {
    type: 'AccessGranted',
    data: {
      instanceId: INSTANCE,
      userId: bob.userId,
      proxyEpoch: 1,
      accessId: key.accessId,
      secretSealed: key.secretSealed,
      verifiers: key.verifiers,
      policy: SYSTEM_POLICY,
      databaseAccount,
      origin: { type: 'direct', by: admin.userId },
      notAfter: null,
      rotatesAt: null,
      grantedBy: admin.userId,
      grantedAt: T0,
      ...over,
    },
  };
};
