// Tickets: a user asks for access to an instance; an admin, a dba or the owner decides.
import { randomUUID } from 'node:crypto';
import { apiCommand, type CliCommand } from '../command.js';
import { accountText, clip, fields, itemsOf, policyText, show, table } from '../format.js';
import { optionalAccountFrom, pageFlags, pageFrom, passwordFlag, policyFlags, policyFrom } from './inputs.js';

const GROUP = 'Tickets';
const ticketFlag = { name: 'ticket', value: 'ID', required: true, field: 'ticketId', help: 'ticketId' } as const;
const reasonFlag = { name: 'reason', value: 'TEXT', required: true, field: 'reason', help: 'reason: 1–1000 characters' } as const;

const list = apiCommand({
  words: ['tickets'],
  group: GROUP,
  summary: 'list tickets, oldest first',
  subject: 'query.tickets',
  flags: [
    { name: 'instance', value: 'ID', field: 'instanceId', help: 'instanceId: only tickets for this instance' },
    { name: 'status', value: 'pending|approved|rejected|all', field: 'status', help: 'status: which tickets (default all)' },
    ...pageFlags,
  ],
  build: (args) => ({ instanceId: args.text('instance'), status: args.choice('status', ['pending', 'approved', 'rejected', 'all'] as const), ...pageFrom(args) }),
  render: (r) =>
    table(
      ['TICKET', 'INSTANCE', 'REQUESTER', 'STATUS', 'POLICY', 'ACCOUNT', 'SUBMITTED', 'DECIDED BY', 'ACCESSID', 'REASON'],
      itemsOf(r).map((t) => [
        show(t.ticketId),
        show(t.instanceId),
        show(t.requesterId),
        show(t.status),
        policyText(t.policy),
        accountText(t.databaseAccount),
        show(t.submittedAt),
        show(t.decidedBy),
        show(t.accessId),
        clip(show(t.status === 'rejected' ? t.rejectionReason : t.reason), 40),
      ]),
      r.nextCursor,
    ),
});

const submit = apiCommand({
  words: ['ticket', 'submit'],
  group: GROUP,
  summary: 'ask for an AccessKey pair on an instance, for yourself',
  notes: 'Any role may, for themself (the --as user). Once approved, `keyward view` shows the pair.',
  subject: 'cmd.ticket.submit',
  flags: [
    { name: 'instance', value: 'ID', required: true, field: 'instanceId', help: 'instanceId: the database instance' },
    ...policyFlags,
    reasonFlag,
    { ...ticketFlag, required: false, help: 'ticketId (default: one made up here and printed)' },
    { name: 'db-user', value: 'NAME', field: 'databaseAccount.username', help: 'databaseAccount.username: a database account of your own' },
    passwordFlag,
  ],
  // The service would make up a ticketId too, but one made here lets a retry after a timeout
  // name the same ticket instead of opening a second one.
  build: async (args, io) => ({
    ticketId: args.text('ticket') ?? randomUUID().replaceAll('-', ''),
    instanceId: args.required('instance'),
    policy: policyFrom(args),
    reason: args.required('reason'),
    ...(await optionalAccountFrom(args, io)),
  }),
  retryFlags: (f) => ` --ticket ${show(f.ticketId)}`,
  render: (r) => fields([['Ticket', r.ticketId], ['Status', r.status]]),
});

const approve = apiCommand({
  words: ['ticket', 'approve'],
  group: GROUP,
  summary: "approve a ticket: the requester gets an AccessKey pair (see it with keyward view)",
  notes: "An admin, a dba or the proxy's owner may; never the requester.",
  subject: 'cmd.ticket.approve',
  flags: [ticketFlag],
  build: (args) => ({ ticketId: args.required('ticket') }),
  render: (r) => fields([['Ticket', r.ticketId], ['Status', r.status], ['AccessID', r.accessId]]),
});

const reject = apiCommand({
  words: ['ticket', 'reject'],
  group: GROUP,
  summary: 'reject a ticket, saying why',
  notes: "An admin, a dba or the proxy's owner may.",
  subject: 'cmd.ticket.reject',
  flags: [ticketFlag, reasonFlag],
  build: (args) => ({ ticketId: args.required('ticket'), reason: args.required('reason') }),
  render: (r) => fields([['Ticket', r.ticketId], ['Status', r.status]]),
});

export const TICKET_COMMANDS: readonly CliCommand[] = [list, submit, approve, reject];
