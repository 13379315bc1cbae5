// Every subject of API.md, the codec its requests must pass and what answers it.
import {
  AccessAtRequest,
  ApproveTicketRequest,
  AuthorizeRequest,
  DisableProxyRequest,
  EnableProxyRequest,
  EnforcementRequest,
  GrantRequest,
  GrantsRequest,
  ProxiesRequest,
  RejectTicketRequest,
  RevokeRequest,
  RotateRequest,
  SubmitTicketRequest,
  TicketsRequest,
  ViewKeyRequest,
  type Codec,
} from '../../domain/index.js';
import * as commands from './commands.js';
import type { AppContext } from './context.js';
import * as queries from './queries.js';

export interface Route {
  /** `cmd` or `query`: the subject is `<prefix>.<kind>.<name>`. */
  readonly kind: 'cmd' | 'query';
  readonly name: string;
  readonly codec: Codec<unknown>;
  readonly run: (ctx: AppContext, request: unknown) => Promise<commands.Reply> | commands.Reply;
}

const route = <A>(kind: Route['kind'], name: string, codec: Codec<A>, run: (ctx: AppContext, request: A) => Promise<commands.Reply> | commands.Reply): Route => ({
  kind,
  name,
  codec: codec as Codec<unknown>,
  // The codec has decoded `request` into an A before any route runs.
  run: run as Route['run'],
});

export const ROUTES: readonly Route[] = [
  route('cmd', 'proxy.enable', EnableProxyRequest, commands.enableProxy),
  route('cmd', 'proxy.disable', DisableProxyRequest, commands.disableProxy),
  route('cmd', 'authorize', AuthorizeRequest, commands.authorize),
  route('cmd', 'rotate', RotateRequest, commands.rotate),
  route('cmd', 'revoke', RevokeRequest, commands.revoke),
  route('cmd', 'ticket.submit', SubmitTicketRequest, commands.submitTicket),
  route('cmd', 'ticket.approve', ApproveTicketRequest, commands.approveTicket),
  route('cmd', 'ticket.reject', RejectTicketRequest, commands.rejectTicket),
  route('query', 'key', ViewKeyRequest, commands.viewKey),
  route('query', 'grant', GrantRequest, queries.grant),
  route('query', 'grants', GrantsRequest, queries.grants),
  route('query', 'proxies', ProxiesRequest, queries.proxies),
  route('query', 'tickets', TicketsRequest, queries.tickets),
  route('query', 'access-at', AccessAtRequest, queries.accessAtQuery),
  route('query', 'enforcement', EnforcementRequest, queries.enforcement),
];
