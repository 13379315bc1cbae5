// AccessKey pairs: authorize, view, rotate, revoke, and the grants they live in. Only
// authorize, view and rotate print an AccessSecret: they are how a person gets the pair.
import { apiCommand, type CliCommand } from '../command.js';
import { accountText, fields, itemsOf, originText, policyText, show, table } from '../format.js';
import { instanceFlag, optionalAccountFrom, pageFlags, pageFrom, passwordFlag, policyFlags, policyFrom, userFlag } from './inputs.js';

const GROUP = 'AccessKey pairs';
const SECRET_NOTE = 'Prints the AccessSecret: keep the output out of logs and shared terminals.';

const authorize = apiCommand({
  words: ['authorize'],
  group: GROUP,
  summary: 'authorize a user on an instance: a new AccessKey pair under a security policy',
  notes: `An admin, a dba or the proxy's owner may. Without --db-user the key opens the proxy's own database account.\n${SECRET_NOTE}`,
  subject: 'cmd.authorize',
  flags: [
    instanceFlag,
    userFlag,
    ...policyFlags,
    { name: 'db-user', value: 'NAME', field: 'databaseAccount.username', help: "databaseAccount.username: a database account of this user's own" },
    passwordFlag,
  ],
  build: async (args, io) => ({ instanceId: args.required('instance'), userId: args.required('user'), policy: policyFrom(args), ...(await optionalAccountFrom(args, io)) }),
  render: (r) =>
    fields([
      ['Instance', r.instanceId],
      ['User', r.userId],
      ['AccessID', r.accessId],
      ['AccessSecret', r.accessSecret],
      ['Policy', policyText(r.policy)],
      ['Next rotation', r.rotatesAt],
      ['Expires', r.notAfter],
    ]),
});

const view = apiCommand({
  words: ['view'],
  group: GROUP,
  summary: "show a user's AccessKey pair (recorded as viewed)",
  notes: `An admin, a dba or the user themself may; each view is recorded.\n${SECRET_NOTE}`,
  subject: 'query.key',
  flags: [instanceFlag, userFlag],
  build: (args) => ({ instanceId: args.required('instance'), userId: args.required('user') }),
  render: (r) => fields([['AccessID', r.accessId], ['AccessSecret', r.accessSecret], ['Next rotation', r.rotatesAt], ['Expires', r.notAfter]]),
});

const rotate = apiCommand({
  words: ['rotate'],
  group: GROUP,
  summary: "replace a user's AccessKey pair; the previous one stops working at once, or after --overlap",
  notes: `An admin, a dba or the user themself may.\n${SECRET_NOTE}`,
  subject: 'cmd.rotate',
  flags: [instanceFlag, userFlag, { name: 'overlap', value: 'SECONDS', field: 'overlapSeconds', help: 'overlapSeconds: how long the previous pair keeps working, 0–86400 (default 0)' }],
  build: (args) => ({ instanceId: args.required('instance'), userId: args.required('user'), overlapSeconds: args.integer('overlap') }),
  render: (r) =>
    fields([
      ['AccessID', r.accessId],
      ['AccessSecret', r.accessSecret],
      ['Previous AccessID', r.previousAccessId],
      ['Previous valid until', r.previousNotAfter],
      ['Next rotation', r.rotatesAt],
      ['Expires', r.notAfter],
    ]),
});

const revoke = apiCommand({
  words: ['revoke'],
  group: GROUP,
  summary: "revoke a user's AccessKey pair: recycle keeps the grant listed as revoked, release removes it",
  notes: 'An admin, a dba or the user themself may.',
  subject: 'cmd.revoke',
  flags: [instanceFlag, userFlag, { name: 'mode', value: 'recycle|release', required: true, field: 'mode', help: 'mode: recycle or release' }],
  build: (args) => ({ instanceId: args.required('instance'), userId: args.required('user'), mode: args.choice('mode', ['recycle', 'release'] as const) }),
  render: (r) => fields([['AccessID', r.accessId], ['Revoked at', r.revokedAt]]),
});

const grant = apiCommand({
  words: ['grant'],
  group: GROUP,
  summary: "show a user's grant on an instance, without secrets",
  subject: 'query.grant',
  flags: [instanceFlag, userFlag],
  build: (args) => ({ instanceId: args.required('instance'), userId: args.required('user') }),
  render: (r) =>
    fields([
      ['Instance', r.instanceId],
      ['User', r.userId],
      ['Status', r.status],
      ['AccessID', r.accessId],
      ['Policy', policyText(r.policy)],
      ['Account', accountText(r.databaseAccount)],
      ['Next rotation', r.rotatesAt],
      ['Expires', r.notAfter],
      ['Origin', originText(r.origin)],
      ['Granted', `${show(r.grantedAt)} by ${show(r.grantedBy)}`],
      ['Revoked at', r.revokedAt],
      ['Version', r.version],
    ]),
});

const grants = apiCommand({
  words: ['grants'],
  group: GROUP,
  summary: 'list the grants on an instance',
  subject: 'query.grants',
  flags: [instanceFlag, { name: 'status', value: 'active|revoked|expired|all', field: 'status', help: 'status: which grants (default all)' }, ...pageFlags],
  build: (args) => ({ instanceId: args.required('instance'), status: args.choice('status', ['active', 'revoked', 'expired', 'all'] as const), ...pageFrom(args) }),
  render: (r) =>
    table(
      ['USER', 'STATUS', 'ACCESSID', 'POLICY', 'ACCOUNT', 'NEXT ROTATION', 'EXPIRES', 'ORIGIN'],
      itemsOf(r).map((g) => [show(g.userId), show(g.status), show(g.accessId), policyText(g.policy), accountText(g.databaseAccount), show(g.rotatesAt), show(g.notAfter), originText(g.origin)]),
      r.nextCursor,
    ),
});

const accessAt = apiCommand({
  words: ['access-at'],
  group: GROUP,
  summary: 'who held a valid AccessKey pair on an instance at a time (audit)',
  notes: 'An admin or a dba may.',
  subject: 'query.access-at',
  flags: [
    instanceFlag,
    { name: 'at', value: 'TIME', required: true, field: 'at', help: 'at: an RFC 3339 UTC time, or now' },
    { name: 'user', value: 'ID', field: 'userId', help: 'userId: only this user' },
  ],
  build: (args) => {
    const at = args.required('at');
    return { instanceId: args.required('instance'), at: at === 'now' ? new Date().toISOString() : at, userId: args.text('user') };
  },
  render: (r) => table(['USER', 'ACCESSID', 'FROM', 'TO'], itemsOf(r).map((i) => [show(i.userId), show(i.accessId), show(i.from), show(i.to)])),
});

export const KEY_COMMANDS: readonly CliCommand[] = [authorize, view, rotate, revoke, grant, grants, accessAt];
