// What a proxy (MySQL front end, HTTPS gateway, ...) sees of the proxy-node SDK.
import type { NatsConnection } from 'nats';
import type { Secret } from '../../domain/index.js';
import type { NatsAuth } from '../config.js';
import type { SealingKey } from '../crypto.js';

/** Why a verification failed. A proxy maps these to its own messages; none names the secret. */
export const Refusal = {
  /** The first load of the watched keys is not finished: nothing is known yet. */
  NOT_READY: 'not-ready',
  /** Cut off from NATS (or out of step with KV) for longer than the staleness bound. */
  STALE: 'stale',
  UNKNOWN_KEY: 'unknown-key',
  /** The KV value is revoked; `revokedReason` says why (rotated, recycled, released, expired, proxy-disabled). */
  REVOKED: 'revoked',
  /** Past `notAfter` by the node's own clock, whatever KV still says. */
  EXPIRED: 'expired',
  WRONG_SECRET: 'wrong-secret',
  INSTANCE_NOT_SERVED: 'instance-not-served',
  /**
   * The value cannot be used: it does not decode, or its database password does not open with
   * this node's proxy key (KEYWARD_PROXY_KEY differs from the relay's). Logged as an error.
   */
  UNUSABLE_VALUE: 'unusable-value',
} as const;
export type RefusalReason = (typeof Refusal)[keyof typeof Refusal];

export interface Accepted {
  readonly ok: true;
  readonly instanceId: string;
  readonly accessId: string;
  readonly userId: string;
  /** The account the proxy logs in to the database with; the user never sees it. */
  readonly databaseAccount: { readonly username: string; readonly password: Secret };
}

export type Refused =
  | { readonly ok: false; readonly reason: typeof Refusal.REVOKED; readonly revokedReason: string }
  | { readonly ok: false; readonly reason: Exclude<RefusalReason, typeof Refusal.REVOKED> };

export type VerifyResult = Accepted | Refused;

/** A key that was valid at this node stopped being valid: a proxy closes its sessions. */
export interface Invalidated {
  readonly instanceId: string;
  readonly accessId: string;
  readonly userId: string;
  /** The revoked value's reason, or `expired` (notAfter passed), `deleted` (gone from KV), `unusable-value`. */
  readonly reason: string;
}

export interface ProxyNodeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ProxyNodeOptions {
  /** The instanceIds this node serves, or `all` to watch the whole bucket. */
  readonly instances: readonly string[] | 'all';
  /** Opens `databaseAccount.passwordSealed` (KEYWARD_PROXY_KEY). */
  readonly proxyKey: SealingKey;
  /** NATS to connect to (default nats://127.0.0.1:4222); ignored when `connection` is given. */
  readonly servers?: string | readonly string[];
  /** Credentials and TLS for that connection (src/config.ts natsAuth); ignored with `connection`. */
  readonly natsAuth?: NatsAuth;
  /**
   * A connection of the caller's, left open by close(). It should reconnect forever
   * (maxReconnectAttempts: -1): once it closes for good the node turns stale.
   */
  readonly connection?: NatsConnection;
  /** First token of the enforcement subject (default `keyward`). */
  readonly prefix?: string;
  /** Names this node in enforcement reports: `[A-Za-z0-9_-]{1,64}` (default hostname-pid). */
  readonly nodeId?: string;
  /** How long the node answers from memory after losing NATS (default 30000 ms). */
  readonly stalenessMs?: number;
  /** How often it publishes a heartbeat report (default 10000 ms). */
  readonly heartbeatMs?: number;
  /** Milliseconds since the epoch; tests inject one. Expiry and staleness are judged by it. */
  readonly clock?: () => number;
  readonly logger?: ProxyNodeLogger;
}

export type Outcome = 'ok' | RefusalReason;

export interface ProxyNodeMetrics {
  /** Keys held in memory, revoked ones included (they are kept for good). */
  readonly keys: number;
  readonly activeKeys: number;
  readonly ready: boolean;
  readonly connected: boolean;
  readonly stale: boolean;
  readonly verifications: Readonly<Record<Outcome, number>>;
  /** `active` values that arrived for an AccessID already revoked here, and were ignored. */
  readonly ignoredAfterRevoke: number;
  readonly unusableValues: number;
  readonly invalidations: number;
  /** Full reloads of the watched keys: one per (re)connection or failed watch. */
  readonly resyncs: number;
}

export interface ProxyNode {
  readonly nodeId: string;
  /** Resolves when the first load of every watched prefix is done; rejects if closed before. */
  readonly ready: Promise<void>;
  /** For protocols where the client sends the AccessSecret itself (over TLS). */
  verify(instanceId: string, accessId: string, accessSecret: string | Secret): VerifyResult;
  /**
   * The server side of mysql_native_password: `salt` is the 20-byte nonce the server sent
   * (without the trailing NUL), `scramble` the client's 20-byte auth response.
   */
  verifyMysqlNative(instanceId: string, accessId: string, salt: Buffer, scramble: Buffer): VerifyResult;
  /** Returns the function that removes the listener. */
  onInvalidated(listener: (event: Invalidated) => void): () => void;
  metrics(): ProxyNodeMetrics;
  close(): Promise<void>;
}
