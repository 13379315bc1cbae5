// `keyward audit access-at | access | replay`: answers from the recorded history itself,
// replayed from the event store (KEYWARD_STORE), not from a running service's views.
import { MAX_PAGE_SIZE, type Timestamp } from '../../../domain/index.js';
import { accessAt, accessDuring, listGrants, type AccessInterval, type Grant } from '../../../projections/index.js';

import { replayAccess, replayLimitOf, replayViews } from '../../audit/replay.js';
import { openAuditedStore } from '../../audit/store.js';
import type { CliCommand } from '../command.js';
import { UsageError, type Args, type Flag } from '../flags.js';
import { accountText, originText, policyText, show, table } from '../format.js';
import type { Io } from '../io.js';
import { progress } from '../progress.js';
import { auditCommand, idFlag, requiredTimeOf } from './audit-inputs.js';

const instanceFlag: Flag = { name: 'instance', value: 'ID', required: true, help: 'the instance' };
const userFlag: Flag = { name: 'user', value: 'ID', help: 'only this user' };
const instanceOf = (args: Args): string => {
  const instanceId = idFlag(args, 'instance');
  if (instanceId === undefined) throw new UsageError('--instance is required');
  return instanceId;
};

const userOf = (args: Args): string | undefined => idFlag(args, 'user');

const requiredTime = (args: Args, name: string): Timestamp => {
  const text = args.required(name);
  return text === 'now' ? new Date().toISOString() : requiredTimeOf(text, name);
};

const intervals = (items: readonly AccessInterval[], json: boolean): string | undefined =>
  json
    ? items.length === 0
      ? undefined
      : items.map((i) => JSON.stringify(i)).join('\n')
    : table(['USER', 'ACCESSID', 'FROM', 'TO'], items.map((i) => [i.userId, i.accessId, i.from, show(i.to)]));

/** The access projection from the whole history, with progress on a terminal. */
const replayedAccess = async (io: Io) => {
  const { store } = openAuditedStore(io.env);
  const shown = progress('replaying');
  try {
    return await replayAccess(store, (done) => { shown.update(done); });
  } finally {
    shown.finish();
    await store.close();
  }
};

export const AUDIT_ACCESS_AT = auditCommand({
  words: ['audit', 'access-at'],
  summary: 'who held a valid AccessKey pair on an instance at a time, from the replayed history',
  flags: [instanceFlag, { name: 'at', value: 'TIME', required: true, help: 'an RFC 3339 UTC time, or now' }, userFlag],
  about: [
    'A key is valid from its issue to the first of: its replacement (or the end of an overlap),',
    'a revoke, a release, its expiry (notAfter, whether or not keyward recorded it), the disabling',
    'of its proxy. One row per key valid at TIME: from is inclusive, to exclusive (- : no end yet).',
  ],
  answer: async (args, io, json) => {
    const request = { instanceId: instanceOf(args), at: requiredTime(args, 'at'), userId: userOf(args) };
    return intervals(accessAt(await replayedAccess(io), request), json);
  },
});

export const AUDIT_ACCESS = auditCommand({
  words: ['audit', 'access'],
  summary: 'every interval in which each user could connect to an instance, within a time range',
  flags: [
    instanceFlag,
    { name: 'from', value: 'TIME', required: true, help: 'start of the range, inclusive (RFC 3339 UTC)' },
    { name: 'to', value: 'TIME', required: true, help: 'end of the range, exclusive (RFC 3339 UTC, or now)' },
    userFlag,
  ],
  about: ['One row per key that was valid at some moment of [from, to), with its whole interval, sorted by user then time.'],
  answer: async (args, io, json) => {
    const from = requiredTime(args, 'from');
    const to = requiredTime(args, 'to');
    if (to <= from) throw new UsageError('--to must be later than --from');
    return intervals(accessDuring(await replayedAccess(io), { instanceId: instanceOf(args), from, to, userId: userOf(args) }), json);
  },
});

export const AUDIT_REPLAY = auditCommand({
  words: ['audit', 'replay'],
  summary: 'rebuild every projection from the history as it stood at a time or position; print the grants then',
  flags: [
    { name: 'to', value: 'TIME|POSITION', required: true, help: 'an RFC 3339 UTC time (the events that occurred by then) or a store position (up to and including it)' },
    instanceFlag,
  ],
  about: ["The grants of the instance as the service's grants query would have shown them at that point, statuses judged at that time."],
  answer: async (args, io, json) => {
    const instanceId = instanceOf(args);
    const { store } = openAuditedStore(io.env);
    const shown = progress('replaying');
    try {
      const limit = replayLimitOf(store, args.required('to'));
      if (limit === null) throw new UsageError('--to must be an RFC 3339 UTC time or a position of this store');
      const { views, lastOccurredAt } = await replayViews(store, limit, (done) => { shown.update(done); });
      // Statuses at the time asked for; at a position, at the time of the newest event then.
      const at = 'time' in limit ? limit.time : (lastOccurredAt ?? new Date(0).toISOString());
      const grants: Grant[] = [];
      for (let cursor: string | undefined; ; ) {
        const page = listGrants(views.grants, { instanceId, status: 'all', limit: MAX_PAGE_SIZE, ...(cursor === undefined ? {} : { cursor }) }, at);
        grants.push(...page.items);
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      if (json) return grants.length === 0 ? undefined : grants.map((g) => JSON.stringify(g)).join('\n');
      return table(
        ['USER', 'STATUS', 'ACCESSID', 'POLICY', 'ACCOUNT', 'NEXT ROTATION', 'EXPIRES', 'ORIGIN'],
        grants.map((g) => [g.userId, g.status, g.accessId, policyText(g.policy), accountText(g.databaseAccount), show(g.rotatesAt), show(g.notAfter), originText(g.origin)]),
      );
    } finally {
      shown.finish();
      await store.close();
    }
  },
});

export const AUDIT_COMMANDS: readonly CliCommand[] = [AUDIT_ACCESS_AT, AUDIT_ACCESS, AUDIT_REPLAY];
