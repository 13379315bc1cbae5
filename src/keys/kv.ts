// The KV layout proxy nodes read (API.md, "Keys for proxy nodes"): written only by the
// relay, read by the proxy-node SDK; both use these codecs, so they cannot drift apart.
import { AccessId, InstanceId, Sealed, Sha1Hex, Sha256Hex, struct, text, timestamp, nullable, literal, tagged, UserId, DbUsername, type Codec } from '../../domain/index.js';

export const KEYS_BUCKET = 'keyward-keys';

export const kvKey = (instanceId: string, accessId: string): string => `${instanceId}.${accessId}`;

export const ActiveKeyValue = struct('ActiveKeyValue', {
  state: literal('active'),
  accessId: AccessId,
  instanceId: InstanceId,
  userId: UserId,
  verifiers: struct('Verifiers', { sha256: Sha256Hex, mysqlNative: Sha1Hex }),
  /** The password sealed under the proxy sealing key (KEYWARD_PROXY_KEY), never the master key. */
  databaseAccount: struct('KvAccount', { username: DbUsername, passwordSealed: Sealed }),
  notAfter: nullable(timestamp),
  issuedAt: timestamp,
  /** The event store position of the change this value reflects. */
  position: text('Position', 1, 64),
});
export type ActiveKeyValue = typeof ActiveKeyValue._A;

export const RevokedKeyValue = struct(
  'RevokedKeyValue',
  {
    state: literal('revoked'),
    accessId: AccessId,
    instanceId: InstanceId,
    reason: text('Reason', 1, 64),
    at: timestamp,
  },
  // Added to API.md's revoked value (adding only): who it was, and the change it reflects.
  { userId: UserId, position: text('Position', 1, 64) },
);
export type RevokedKeyValue = typeof RevokedKeyValue._A;

export const KeyValue: Codec<ActiveKeyValue | RevokedKeyValue> = tagged('KeyValue', 'state', { active: ActiveKeyValue, revoked: RevokedKeyValue });
export type KeyValue = ActiveKeyValue | RevokedKeyValue;
