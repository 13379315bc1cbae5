/**
 * Enforcement reports: what a proxy node has applied, so the service can answer which nodes
 * enforce a revocation (`query.enforcement`).
 *
 * Subject `<prefix>.enforcement.<nodeId>`, a plain NATS publish (at most once, nobody replies).
 * One JSON object per message, told apart by `kind`:
 *
 * - `{ kind: "applied", nodeId, instanceId, accessId, state: "revoked", kvRevision, appliedAt }`
 *   once the node has applied a revoked KV value it did not hold before: from then on it refuses
 *   the key. Not sent for the tombstones of a node's first load (it never accepted those keys).
 * - `{ kind: "heartbeat", nodeId, instances, keys, ready, stale, kvRevisions, sentAt }` every
 *   10 s, and at once when the node becomes ready or catches up after a reconnection.
 *   `instances` is the served instanceIds, or `"all"`. `kvRevisions` maps each watched KV key
 *   filter (`<instanceId>.>`, or `>`) to the highest KV revision applied from it: the node has
 *   applied every change to those keys up to that revision, so it covers a lost `applied`.
 *
 * `kvRevision` is the KV entry's revision (its JetStream stream sequence); times are RFC 3339 UTC.
 */
export const enforcementSubject = (prefix: string, nodeId: string): string => `${prefix}.enforcement.${nodeId}`;

export interface AppliedReport {
  readonly kind: 'applied';
  readonly nodeId: string;
  readonly instanceId: string;
  readonly accessId: string;
  readonly state: 'revoked';
  readonly kvRevision: number;
  readonly appliedAt: string;
}

export interface HeartbeatReport {
  readonly kind: 'heartbeat';
  readonly nodeId: string;
  readonly instances: readonly string[] | 'all';
  readonly keys: number;
  readonly ready: boolean;
  readonly stale: boolean;
  readonly kvRevisions: Readonly<Record<string, number>>;
  readonly sentAt: string;
}

export type EnforcementReport = AppliedReport | HeartbeatReport;

/** hostname-pid, with what a subject token may not hold (dots of a FQDN) made `_`. */
export const defaultNodeId = (hostname: string, pid: number): string => `${hostname}-${pid}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);

export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
