// DESIGN.md: each event's metadata carries `prevHash`, the SHA-256 of the stream's previous
// event, so an auditor can prove a stream was not edited, reordered or cut short in the middle.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../domain/index.js';

export interface Hashable {
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
  /** Including its own prevHash, which chains each hash to all before it. */
  readonly metadata: unknown;
}

export const eventHash = (e: Hashable): string =>
  createHash('sha256')
    .update(canonicalJson({ streamId: e.streamId, revision: e.revision, type: e.type, data: e.data, metadata: e.metadata }))
    .digest('hex');
