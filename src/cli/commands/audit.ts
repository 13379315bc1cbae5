// `keyward audit access-at | access | replay`: answers from the recorded history itself,
// replayed from the event store (KEYWARD_STORE), not from a running service's views.
import { InstanceId, MAX_PAGE_SIZE, UserId, type Timestamp } from '../../../domain/index.js';
import { accessAt, accessDuring, listGrants, type AccessInterval, type Grant } from '../../../projections/index.js';

import { replayAccess, replayLimitOf, replayViews } from '../../audit/replay.js';
import { openAuditedStore } from '../../audit/store.js';
import { printFailure, type CliCommand } from '../command.js';
import { EXIT_CODE_HELP, ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, usageLine, UsageError, type Args, type Flag } from '../flags.js';
import { accountText, originText, policyText, show, table } from '../format.js';
import type { Io } from '../io.js';
import { progress } from '../progress.js';
import { auditFailure, timeFlag } from './audit-inputs.js';

const instanceFlag: Flag = { name: 'instance', value: 'ID', required: true, help: 'the instance' };
const userFlag: Flag = { name: 'user', value: 'ID', help: 'only this user' };
const jsonFlag: Flag = { name: 'json', help: 'one JSON object per line (errors as JSON on stderr)' };
const helpFlag: Flag = { name: 'help', help: 'show this help' };

const STORE_NOTE = [
  'It replays the event store itself (KEYWARD_STORE, default sqlite:./data/keyward.db), not the',
  "service's views: it needs neither NATS nor the master key. Progress goes to stderr on a terminal only.",
];

const instanceOf = (args: Args): string => {
  const instanceId = args.required('instance');
  if (!InstanceId.is(instanceId)) throw new UsageError('--instance must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
  return instanceId;
};

const userOf = (args: Args): string | undefined => {
  const userId = args.text('user');
  if (userId !== undefined && !UserId.is(userId)) throw new UsageError('--user must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
  return userId;
};

const requiredTime = (args: Args, name: string): Timestamp => {
  const text = args.required(name);
  return (text === 'now' ? new Date().toISOString() : timeFlag(text, name)) ?? text;
};

const intervals = (items: readonly AccessInterval[], json: boolean): string | undefined =>
  json
    ? items.length === 0
      ? undefined
      : items.map((i) => JSON.stringify(i)).join('\n')
    : table(['USER', 'ACCESSID', 'FROM', 'TO'], items.map((i) => [i.userId, i.accessId, i.from, show(i.to)]));

/** One audit command: parse, read the store, print; the store's failures as exit codes. */
const auditCommand = (spec: {
  readonly words: readonly string[];
  readonly summary: string;
  readonly flags: readonly Flag[];
  readonly about: readonly string[];
  answer(args: Args, io: Io, json: boolean): Promise<string | undefined>;
}): CliCommand => {
  const flags = [...spec.flags, jsonFlag, helpFlag];
  const name = `keyward ${spec.words.join(' ')}`;
  return {
    words: spec.words,
    group: 'Auditors',
    summary: spec.summary,
    help: () => [`${name}: ${spec.summary}`, '', `Usage: ${name} ${usageLine(flags.filter((f) => f !== helpFlag))}`, '', ...spec.about, '', ...STORE_NOTE, '', 'Flags:', flagHelp(flags), '', EXIT_CODE_HELP].join('\n'),
    run: async (argv, io) => {
      const json = argv.includes('--json');
      let args: Args;
      try {
        args = parseFlags(flags, argv);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        return printFailure(io, json, { code: 'USAGE', message: `${e.message} (see ${name} --help)`, details: [] });
      }
      try {
        const text = await spec.answer(args, io, json);
        if (text !== undefined) io.stdout(text);
        return ExitCode.OK;
      } catch (e) {
        if (e instanceof UsageError) return printFailure(io, json, { code: 'USAGE', message: `${e.message} (see ${name} --help)`, details: [] });
        const code = auditFailure(io, json, e);
        if (code === undefined) throw e;
        return code;
      }
    },
  };
};

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
