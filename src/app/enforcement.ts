// Which proxy nodes enforce a revocation: what the nodes report on
// `<prefix>.enforcement.<nodeId>` (src/proxy-node/enforcement.ts), kept in memory by each
// service process. A node enforces a revoked key once it reported applying it, or once its
// heartbeat says it applied the bucket up to (or past) the KV revision of that revocation.
import type { EnforcementReport, HeartbeatReport } from '../proxy-node/enforcement.js';

/** A node that has not been heard from for this long is listed as silent. */
const SILENT_AFTER_MS = 35_000;

export interface NodeEnforcement {
  readonly nodeId: string;
  readonly status: 'enforcing' | 'pending' | 'stale' | 'silent';
  readonly appliedAt: string | null;
  readonly lastSeen: string;
}

export class Enforcement {
  readonly #nodes = new Map<string, { heartbeat: HeartbeatReport | undefined; lastSeen: number }>();
  readonly #applied = new Map<string, Map<string, string>>();

  record(report: EnforcementReport, receivedAt: number): void {
    const node = this.#nodes.get(report.nodeId) ?? { heartbeat: undefined, lastSeen: receivedAt };
    node.lastSeen = receivedAt;
    if (report.kind === 'heartbeat') node.heartbeat = report;
    else {
      const byNode = this.#applied.get(report.accessId) ?? new Map<string, string>();
      byNode.set(report.nodeId, report.appliedAt);
      this.#applied.set(report.accessId, byNode);
    }
    this.#nodes.set(report.nodeId, node);
  }

  /** Every node known to serve the instance, and where it stands on this key's current KV value. */
  nodesFor(instanceId: string, accessId: string, kvRevision: number | undefined, now: number): NodeEnforcement[] {
    const out: NodeEnforcement[] = [];
    for (const [nodeId, { heartbeat, lastSeen }] of this.#nodes) {
      const instances = heartbeat?.instances;
      if (instances !== undefined && instances !== 'all' && !instances.includes(instanceId)) continue;
      const appliedAt = this.#applied.get(accessId)?.get(nodeId) ?? null;
      const covered = kvRevision !== undefined && Object.entries(heartbeat?.kvRevisions ?? {}).some(([filter, rev]) => (filter === '>' || filter === `${instanceId}.>`) && rev >= kvRevision);
      const status: NodeEnforcement['status'] =
        appliedAt !== null || covered ? 'enforcing' : now - lastSeen > SILENT_AFTER_MS ? 'silent' : heartbeat?.stale === true ? 'stale' : 'pending';
      out.push({ nodeId, status, appliedAt, lastSeen: new Date(lastSeen).toISOString() });
    }
    return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }
}
