// What the relay may write over what KV already holds. Several relays may run at once, one
// lagging behind another, and a restarted relay replays from the start; these rules make
// every such writer safe, because KV only ever moves forward:
//  - a revoked value is final: nothing replaces it (AccessIDs are never reused, so a later
//    "active" for the same key can only come from a writer that has not caught up);
//  - an active value is replaced only by a change from a later store position.
import type { KeyValue } from '../keys/kv.js';

export type Comparison = (a: string, b: string) => number;

export const mayReplace = (existing: KeyValue, desired: KeyValue, comparePositions: Comparison): boolean => {
  if (existing.state === 'revoked') return false;
  if (desired.state === 'revoked') return true;
  return comparePositions(desired.position, existing.position) > 0;
};
