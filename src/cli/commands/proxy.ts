// Enabling and disabling an instance's proxy, and listing proxies.
import { apiCommand, type CliCommand } from '../command.js';
import { UsageError } from '../flags.js';
import { fields, itemsOf, show, table } from '../format.js';
import { accountFrom, instanceFlag, pageFlags, pageFrom, passwordFlag } from './inputs.js';

const GROUP = 'Proxies';
const KINDS = ['public', 'private'];

// KIND:HOST:PORT, split at the first and last colon so an IPv6 host ([::1]) keeps its own.
const endpointFrom = (text: string): Record<string, unknown> => {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  const kind = text.slice(0, first);
  const port = text.slice(last + 1);
  if (first < 0 || last === first || !KINDS.includes(kind) || !/^\d{1,5}$/.test(port)) {
    throw new UsageError('--endpoint must be KIND:HOST:PORT with KIND public or private, like private:10.0.0.5:3306');
  }
  return { kind, host: text.slice(first + 1, last), port: Number(port) };
};

const enable = apiCommand({
  words: ['proxy', 'enable'],
  group: GROUP,
  summary: 'enable the secure access proxy of an instance; you become its owner',
  notes: 'Any role may. The database account is the one keys open unless a grant names its own.',
  subject: 'cmd.proxy.enable',
  flags: [
    instanceFlag,
    { name: 'db-user', value: 'NAME', required: true, field: 'databaseAccount.username', help: "databaseAccount.username: the proxy's database account" },
    passwordFlag,
    { name: 'endpoint', value: 'KIND:HOST:PORT', multiple: true, field: 'endpoints', help: 'endpoints: where clients reach the proxy, KIND public or private' },
  ],
  build: async (args, io) => {
    const endpoints = args.list('endpoint').map(endpointFrom);
    return { instanceId: args.required('instance'), databaseAccount: await accountFrom(args, io), ...(endpoints.length === 0 ? {} : { endpoints }) };
  },
  render: (r) => fields([['Instance', r.instanceId], ['Owner', r.ownerId], ['Enabled at', r.enabledAt]]),
});

const disable = apiCommand({
  words: ['proxy', 'disable'],
  group: GROUP,
  summary: 'disable the proxy of an instance: every AccessKey pair on it stops working at once',
  notes: 'An admin, a dba or the owner may.',
  subject: 'cmd.proxy.disable',
  flags: [instanceFlag],
  build: (args) => ({ instanceId: args.required('instance') }),
  render: (r) => {
    const revoked = Array.isArray(r.revokedAccessIds) ? r.revokedAccessIds.map(show) : [];
    return fields([['Instance', r.instanceId], ['Revoked AccessIDs', revoked.length === 0 ? 'none' : revoked.join(', ')]]);
  },
});

const endpointsText = (v: unknown): string => {
  if (!Array.isArray(v) || v.length === 0) return show(v === undefined || Array.isArray(v) ? null : v);
  return v.map((e) => { const p = e as Record<string, unknown>; return `${show(p.kind)}:${show(p.host)}:${show(p.port)}`; }).join(', ');
};

const list = apiCommand({
  words: ['proxies'],
  group: GROUP,
  summary: 'list proxies, oldest first',
  subject: 'query.proxies',
  flags: [{ name: 'owner', value: 'ID', field: 'ownerId', help: 'ownerId: only the proxies this user owns' }, ...pageFlags],
  build: (args) => ({ ownerId: args.text('owner'), ...pageFrom(args) }),
  render: (r) =>
    table(
      ['INSTANCE', 'OWNER', 'STATUS', 'ACCOUNT', 'ENDPOINTS', 'ENABLED', 'DISABLED'],
      itemsOf(r).map((p) => [show(p.instanceId), show(p.ownerId), show(p.status), show((p.databaseAccount as Record<string, unknown> | undefined)?.username), endpointsText(p.endpoints), show(p.enabledAt), show(p.disabledAt)]),
      r.nextCursor,
    ),
});

export const PROXY_COMMANDS: readonly CliCommand[] = [enable, disable, list];
