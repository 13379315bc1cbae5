// `keyward audit timeline`: what happened to an instance or a user, read straight from the
// event store (auditors answer from the record itself, not from a service's views). Rows
// come from src/audit/timeline.ts, which leaves every sealed value and verifier out.
import { matches, TIMELINE_FIELDS, timelineEntry, type TimelineEntry, type TimelineFilter } from '../../audit/timeline.js';
import { openAuditedStore } from '../../audit/store.js';
import { decodeRecorded } from '../../store/recorded.js';
import { UsageError, type Args, type Flag } from '../flags.js';
import { show, table } from '../format.js';
import type { Io } from '../io.js';
import { progress } from '../progress.js';
import { auditCommand, idFlag, timeFlag } from './audit-inputs.js';

const FLAGS: readonly Flag[] = [
  { name: 'instance', value: 'ID', help: "only this instance: its grants, its tickets and its proxy's own events" },
  { name: 'user', value: 'ID', help: 'only this user: their grants and the tickets they submitted' },
  { name: 'from', value: 'T', help: 'only events at or after T (RFC 3339 UTC, like 2027-03-01T09:00:00Z): inclusive' },
  { name: 'to', value: 'T', help: 'only events before T: exclusive, so --to of one range is --from of the next' },
  { name: 'csv', help: 'CSV (RFC 4180): a header line, then one row per event (--json: one JSON object per line, no header)' },
];

interface Options {
  readonly filter: TimelineFilter;
  readonly format: 'table' | 'json' | 'csv';
}

const optionsFrom = (args: Args): Options => {
  const instanceId = idFlag(args, 'instance');
  const userId = idFlag(args, 'user');
  if (instanceId === undefined && userId === undefined) throw new UsageError('give --instance ID, --user ID or both');
  const from = timeFlag(args.text('from'), 'from');
  const to = timeFlag(args.text('to'), 'to');
  if (from !== undefined && to !== undefined && to <= from) throw new UsageError('--to must be later than --from');
  if (args.switch('json') && args.switch('csv')) throw new UsageError('give --json or --csv, not both');
  const format = args.switch('json') ? 'json' : args.switch('csv') ? 'csv' : 'table';
  return { filter: { instanceId, userId, from, to }, format };
};

// RFC 4180: a field holding a comma, a quote or a line break is quoted, quotes doubled.
export const csvField = (value: string | null): string => {
  const text = value ?? '';
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

const render = (entries: readonly TimelineEntry[], format: Options['format']): string | undefined => {
  switch (format) {
    case 'json':
      return entries.length === 0 ? undefined : entries.map((e) => JSON.stringify(e)).join('\n');
    case 'csv':
      return [TIMELINE_FIELDS, ...entries.map((e) => TIMELINE_FIELDS.map((f) => e[f]))].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
    case 'table':
      return table(
        ['AT', 'EVENT', 'INSTANCE', 'USER', 'ACTOR', 'ACCESSID', 'DETAIL'],
        entries.map((e) => [e.at, e.event, e.instanceId, show(e.userId), `${e.actor} (${e.actorRole})`, show(e.accessId), show(e.detail)]),
      );
    default: {
      const _exhaustive: never = format;
      return _exhaustive;
    }
  }
};

/** Every entry the filter lets through, in the order recorded (which is oldest first). */
const readTimeline = async (io: Io, filter: TimelineFilter): Promise<TimelineEntry[]> => {
  const { store } = openAuditedStore(io.env);
  const shown = progress('reading events');
  const entries: TimelineEntry[] = [];
  let read = 0;
  try {
    for await (const stored of store.readAll({ categories: ['proxy', 'grant', 'ticket'] })) {
      const entry = timelineEntry(decodeRecorded(stored));
      if (matches(entry, filter)) entries.push(entry);
      shown.update(++read);
    }
  } finally {
    shown.finish();
    await store.close();
  }
  return entries;
};

export const AUDIT_TIMELINE = auditCommand({
  words: ['audit', 'timeline'],
  summary: 'every event of an instance, a user or both, oldest first: when, what, who, which AccessID',
  flags: FLAGS,
  about: [
    'Give --instance, --user or both. A row says when it happened (the time the event was recorded',
    'with), what happened, the instance, the user (of the grant, or who submitted the ticket), who did',
    'it (ROLE system: keyward itself, as scheduled rotations and expiries are), the AccessID concerned',
    'and a detail: policy, database account (the user name only), rotation reason, revoke mode,',
    "ticket, and who viewed the secret. The proxy's own events (enable, disable) are listed when",
    '--instance is given. No secret, password or sealed value is ever printed.',
  ],
  answer: async (args, io) => {
    const options = optionsFrom(args);
    // Everything is read before anything is printed: a read that fails halfway prints no
    // partial timeline that could pass for a whole one.
    return render(await readTimeline(io, options.filter), options.format);
  },
});
