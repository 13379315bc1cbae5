// The requests of API.md, one codec per subject. Every request names its actor and may carry
// a commandId; any field a request does not define is refused, so a typo never changes
// what a command means.
import * as t from 'io-ts';
import { AccountRequest, Endpoint } from './account.js';
import { RequestActor } from './actor.js';
import { arrayOf, integer, oneOf, struct, text, timestamp } from './codec.js';
import { RevokeMode } from './grant/grant.js';
import { AccessId, CommandId, InstanceId, TicketId, UserId } from './ids.js';
import { OverlapSeconds, Policy } from './policy.js';
import { MAX_ENDPOINTS } from './proxy/proxy.js';
import { TicketReason } from './ticket/ticket.js';

/** API.md: a request over 64 KiB is refused before it is parsed. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 100;

type Props = Record<string, t.Mixed>;

// eslint-disable-next-line @typescript-eslint/no-generated-empty-object-type -- see struct()
const request = <R extends Props, O extends Props = Record<never, never>>(name: string, required: R, optional?: O) =>
  struct(name, { actor: RequestActor, ...required }, { commandId: CommandId, ...(optional ?? ({} as O)) });

const page = { limit: integer('Limit', 1, MAX_PAGE_SIZE), cursor: text('Cursor', 1, 512) };

// ---- commands (`<prefix>.cmd.*`)

export const EnableProxyRequest = request('proxy.enable', { instanceId: InstanceId, databaseAccount: AccountRequest }, { endpoints: arrayOf(Endpoint, MAX_ENDPOINTS) });
export const DisableProxyRequest = request('proxy.disable', { instanceId: InstanceId });
export const AuthorizeRequest = request('authorize', { instanceId: InstanceId, userId: UserId, policy: Policy }, { databaseAccount: AccountRequest });
export const RotateRequest = request('rotate', { instanceId: InstanceId, userId: UserId }, { overlapSeconds: OverlapSeconds });
export const RevokeRequest = request('revoke', { instanceId: InstanceId, userId: UserId, mode: RevokeMode });
export const SubmitTicketRequest = request(
  'ticket.submit',
  { instanceId: InstanceId, policy: Policy, reason: TicketReason },
  { ticketId: TicketId, databaseAccount: AccountRequest },
);
export const ApproveTicketRequest = request('ticket.approve', { ticketId: TicketId });
export const RejectTicketRequest = request('ticket.reject', { ticketId: TicketId, reason: TicketReason });


// ---- queries (`<prefix>.query.*`)

export const GrantListStatus = oneOf('GrantListStatus', ['active', 'revoked', 'expired', 'all']);
export const TicketListStatus = oneOf('TicketListStatus', ['pending', 'approved', 'rejected', 'all']);

export const ViewKeyRequest = request('key', { instanceId: InstanceId, userId: UserId });
export const GrantRequest = request('grant', { instanceId: InstanceId, userId: UserId });
export const GrantsRequest = request('grants', { instanceId: InstanceId }, { status: GrantListStatus, ...page });
export const ProxiesRequest = request('proxies', {}, { ownerId: UserId, ...page });
export const TicketsRequest = request('tickets', {}, { instanceId: InstanceId, status: TicketListStatus, ...page });
export const AccessAtRequest = request('access-at', { instanceId: InstanceId, at: timestamp }, { userId: UserId });


/** Added by the relay work (API.md allows adding): which proxy nodes enforce a key's revocation. */
export const EnforcementRequest = request('enforcement', { instanceId: InstanceId, accessId: AccessId });
