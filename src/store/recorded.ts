// Stored events back into domain events. A stored event that does not decode means the
// store was written by something else or damaged: it stops the command, it is never guessed at.
import * as E from 'fp-ts/lib/Either.js';
import { describeErrors, DomainEvent, EventMetadata, type Recorded } from '../../domain/index.js';
import { StoreIncompatibleError } from './errors.js';
import type { StoredEvent } from './types.js';

export const decodeRecorded = (stored: StoredEvent): Recorded<DomainEvent> => {
  const event = DomainEvent.decode({ type: stored.type, data: stored.data });
  const metadata = EventMetadata.decode(stored.metadata);
  if (E.isLeft(event) || E.isLeft(metadata)) {
    const problems = [...(E.isLeft(event) ? describeErrors(event.left) : []), ...(E.isLeft(metadata) ? describeErrors(metadata.left) : [])];
    throw new StoreIncompatibleError(
      `event ${stored.id} (${stored.streamId}@${stored.revision}) is not a keyward event: ${problems.map((p) => `${p.path || '(event)'}: ${p.message}`).join('; ')}`,
    );
  }
  return { ...event.right, id: stored.id, streamId: stored.streamId, revision: stored.revision, position: stored.position, metadata: metadata.right };
};
