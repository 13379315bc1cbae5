// The proxy-node SDK: what any Node proxy imports to check AccessKey pairs (README, DESIGN.md
// "Proxy nodes"). Start a node, await `ready`, call `verify` per connection.
export { startProxyNode, ProxyNodeError } from './node.js';
export { Refusal } from './types.js';
export type { Accepted, Invalidated, Outcome, ProxyNode, ProxyNodeLogger, ProxyNodeMetrics, ProxyNodeOptions, Refused, RefusalReason, VerifyResult } from './types.js';
export { enforcementSubject } from './enforcement.js';
export type { AppliedReport, EnforcementReport, HeartbeatReport } from './enforcement.js';
