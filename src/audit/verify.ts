// `keyward audit verify`: walks the whole recorded history and checks each stream's hash chain
// (DESIGN.md: every event's metadata.prevHash is the SHA-256 of the previous event of its
// stream, null at revision 0) and its revisions (0, 1, 2 … with no gap and no repeat).
//
// What a hash chain cannot see, so this never claims it:
// - the last events of a stream removed, or a whole stream removed: nothing after them refers
//   to them. Likewise a change to a stream's last event: no later event holds its hash.
// - a rewrite that recomputes every later prevHash: the hash is not keyed, so whoever can
//   write the store can forge a chain that holds. Only a copy of the hashes kept elsewhere
//   would show that.
// - the order of events across streams: each chain covers one stream only.
//
// The report names events (stream, revision, position, type) and says what is wrong in plain
// words; it never carries event data, which holds sealed secrets.
import * as E from 'fp-ts/lib/Either.js';
import { describeErrors, EventMetadata } from '../../domain/index.js';
import { eventHash } from '../handling/hash-chain.js';
import type { EventStore, Position, StoredEvent } from '../store/types.js';

export type BreakKind = 'edited' | 'removed' | 'reordered' | 'repeated' | 'malformed';

export interface Break {
  readonly streamId: string;
  /** The revision the event is recorded at, where its stream first fails a check. */
  readonly revision: number;
  readonly position: Position;
  readonly type: string;
  readonly kind: BreakKind;
  readonly reason: string;
}

export interface VerifyReport {
  readonly intact: boolean;
  readonly streams: number;
  /** Every event read, including those after a stream's first break. */
  readonly events: number;
  /** The first break of each broken stream, in the order they were found. */
  readonly breaks: readonly Break[];
}

export interface VerifyOptions {
  /** Called with the number of events read so far, for a progress line. */
  readonly onProgress?: (done: number) => void;
}

/** Where a stream's chain stands after its last good event. */
interface Chain {
  readonly next: number;
  readonly lastHash: string | null;
  readonly lastPosition: Position | null;
}

/**
 * A stream's first break, still open to a better explanation: the rest of the stream is read
 * only to say what happened (a "gap" whose revision turns up later was a move, not a removal).
 */
interface Open {
  brk: Break;
  /** A gap: these revisions were missing where the break was found. */
  readonly missing?: { readonly from: number; readonly to: number };
  /** A hash mismatch: the prevHash the broken event should have had, and its own hash. */
  readonly mismatch?: { readonly expected: string | null; readonly own: string; readonly previous: number; readonly previousPosition: Position | null; nextSeen: boolean };
}

const range = (from: number, to: number): string => (from === to - 1 ? `revision ${from} is` : `revisions ${from}–${to - 1} are`);

const prevHashOf = (e: StoredEvent): unknown => (typeof e.metadata === 'object' && e.metadata !== null ? (e.metadata as { prevHash?: unknown }).prevHash : undefined);

export const verifyHistory = async (store: EventStore, options: VerifyOptions = {}): Promise<VerifyReport> => {
  const chains = new Map<string, Chain>();
  const open = new Map<string, Open>();
  let events = 0;

  // Reads the rest of a broken stream for evidence; never a second break.
  const refine = (o: Open, e: StoredEvent): void => {
    if (o.brk.kind === 'reordered' || o.brk.kind === 'malformed' || o.brk.kind === 'repeated') return;
    if (o.missing !== undefined && e.revision >= o.missing.from && e.revision < o.missing.to) {
      o.brk = { ...o.brk, kind: 'reordered', reason: `revision ${e.revision} is recorded later, at position ${e.position}: the stream's events are out of order` };
      return;
    }
    const m = o.mismatch;
    if (m === undefined) return;
    const prevHash = prevHashOf(e);
    if (prevHash === m.expected) {
      const which = m.expected === null ? "the stream's first event" : `the event that follows revision ${m.previous}`;
      o.brk = { ...o.brk, kind: 'reordered', reason: `${which} is recorded at revision ${e.revision} (position ${e.position}): rows were swapped or moved` };
      return;
    }
    // The event right after the broken one tells which of the two changed.
    if (m.nextSeen || m.expected === null) return;
    m.nextSeen = true;
    o.brk = {
      ...o.brk,
      reason:
        prevHash === m.own
          ? `revision ${m.previous} (position ${m.previousPosition ?? '?'}) was changed after this event was recorded: its hash no longer matches this event's prevHash, and the next event still chains to this one`
          : `this event was changed: its prevHash does not match revision ${m.previous}, and the next event does not chain to it either`,
    };
  };

  for await (const e of store.readAll()) {
    events++;
    options.onProgress?.(events);
    const broken = open.get(e.streamId);
    if (broken !== undefined) {
      refine(broken, e);
      continue;
    }
    const chain = chains.get(e.streamId) ?? { next: 0, lastHash: null, lastPosition: null };
    chains.set(e.streamId, chain);
    const at = { streamId: e.streamId, revision: e.revision, position: e.position, type: e.type };
    const fail = (o: Omit<Open, 'brk'> & { kind: BreakKind; reason: string }): void => {
      const { kind, reason, ...evidence } = o;
      open.set(e.streamId, { ...evidence, brk: { ...at, kind, reason } });
    };

    const metadata = EventMetadata.decode(e.metadata);
    if (E.isLeft(metadata)) {
      // Paths only: the values are not repeated.
      const paths = [...new Set(describeErrors(metadata.left).map((d) => d.path || '(metadata)'))].join(', ');
      fail({ kind: 'malformed', reason: `its metadata is not keyward's event metadata (${paths})` });
      continue;
    }
    if (e.revision > chain.next) {
      fail({
        kind: 'removed',
        reason: chain.next === 0 ? `the stream starts at revision ${e.revision}: ${range(0, e.revision)} missing` : `${range(chain.next, e.revision)} missing: this event follows revision ${chain.next - 1}`,
        missing: { from: chain.next, to: e.revision },
      });
      continue;
    }
    if (e.revision < chain.next) {
      fail({ kind: 'repeated', reason: `revision ${e.revision} is recorded again, after revision ${chain.next - 1}` });
      continue;
    }
    const own = eventHash(e);
    if (metadata.right.prevHash !== chain.lastHash) {
      fail({
        kind: 'edited',
        reason:
          chain.lastHash === null
            ? 'the first event of a stream has no prevHash, and this one has one: it was changed'
            : `its prevHash does not match revision ${chain.next - 1} (position ${chain.lastPosition ?? '?'}): that event was changed, or this event's prevHash was`,
        mismatch: { expected: chain.lastHash, own, previous: chain.next - 1, previousPosition: chain.lastPosition, nextSeen: false },
      });
      continue;
    }
    chains.set(e.streamId, { next: e.revision + 1, lastHash: own, lastPosition: e.position });
  }

  const breaks = [...open.values()].map((o) => o.brk);
  return { intact: breaks.length === 0, streams: chains.size, events, breaks };
};
