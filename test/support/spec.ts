// given / when / then over the three deciders. `given` takes the recorded events of the
// proxy, the grant and the ticket a command concerns (in any mix); `when` runs the command
// through the decider of its aggregate with the others' state as context, as the command
// handling does; `then` names the events expected, `thenFails` the error code.
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import {
  decideApproval,
  foldEvents,
  grantDecider,
  proxyDecider,
  ticketDecider,
  type DomainError,
  type DomainEvent,
  type ErrorCode,
  type GrantCommand,
  type GrantEvent,
  type IssuedKey,
  type ProxyCommand,
  type ProxyEvent,
  type TicketCommand,
  type TicketEvent,
  type Timestamp,
} from '../../domain/index.js';
import { newKey, T0 } from './fixtures.js';

type Command = ProxyCommand | GrantCommand | TicketCommand;

const isProxyEvent = (e: DomainEvent): e is ProxyEvent => e.type === 'ProxyEnabled' || e.type === 'ProxyDisabled';
const isTicketEvent = (e: DomainEvent): e is TicketEvent => e.type.startsWith('Ticket');
const isGrantEvent = (e: DomainEvent): e is GrantEvent => !isProxyEvent(e) && !isTicketEvent(e);

export interface When {
  /** The clock of the decision; T0 unless given. */
  readonly now?: Timestamp;
  /** The key material the decision may issue; a fresh one unless given. */
  readonly newKey?: IssuedKey;
}

export interface Outcome {
  readonly result: E.Either<DomainError, DomainEvent[]>;
  then(...expected: DomainEvent[]): void;
  thenFails(code: ErrorCode, message?: RegExp): DomainError;
  thenNothing(): void;
}

export const given = (...history: DomainEvent[]) => ({
  when(command: Command, at: When = {}): Outcome {
    const now = at.now ?? T0;
    const key = at.newKey ?? newKey();
    const proxy = foldEvents(proxyDecider, history.filter(isProxyEvent));
    const grant = foldEvents(grantDecider, history.filter(isGrantEvent));
    const ticket = foldEvents(ticketDecider, history.filter(isTicketEvent));
    const decide = (): E.Either<DomainError, DomainEvent[]> => {
      switch (command.type) {
        case 'EnableProxy':
        case 'DisableProxy':
          return proxyDecider.decide(command, proxy, { now });
        case 'SubmitTicket':
        case 'RejectTicket':
          return ticketDecider.decide(command, ticket, { now, proxy, grant, newKey: key });
        case 'ApproveTicket':
          // As the handler records them: the requester's grant first, then the ticket's decision.
          return E.map((a: { grant: GrantEvent[]; ticket: TicketEvent[] }) => [...a.grant, ...a.ticket])(
            decideApproval(command, ticket, { now, proxy, grant, newKey: key }),
          );
        default:
          return grantDecider.decide(command, grant, { now, proxy, newKey: key });
      }
    };
    const result = decide();
    return {
      result,
      then(...expected) {
        if (E.isLeft(result)) throw new Error(`expected events, but the command failed: ${result.left.code} ${result.left.message}`);
        expect(result.right).toEqual(expected);
      },
      thenFails(code, message) {
        if (E.isRight(result)) throw new Error(`expected ${code}, but the command succeeded with ${result.right.map((e) => e.type).join(', ') || 'no events'}`);
        expect(result.left.code).toBe(code);
        if (message !== undefined) expect(result.left.message).toMatch(message);
        return result.left;
      },
      thenNothing() {
        this.then();
      },
    };
  },
});
