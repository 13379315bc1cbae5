import { describe, expect, it } from 'vitest';
import type { Actor, Policy, SubmitTicket, TicketSubmitted } from '../../domain/index.js';
import { accessGranted, admin, bob, carol, dba, INSTANCE, later, newKey, owner, proxyDisabled, proxyEnabled, sealedAccount, system, T0 } from '../support/fixtures.js';
import { given } from '../support/spec.js';

const TICKET = 'tkt-0001';
const submit = (actor: Actor = bob, over: Partial<SubmitTicket> = {}): SubmitTicket => ({
  type: 'SubmitTicket',
  actor,
  ticketId: TICKET,
  instanceId: INSTANCE,
  databaseAccount: null,
  policy: { type: 'system' },
  reason: 'monthly revenue report',
  ...over,
});
const approve = (actor: Actor = admin) => ({ type: 'ApproveTicket' as const, actor, ticketId: TICKET });
const reject = (actor: Actor = admin) => ({ type: 'RejectTicket' as const, actor, ticketId: TICKET, reason: 'use the replica' });

const submitted = (over: Partial<TicketSubmitted['data']> = {}): TicketSubmitted => ({
  type: 'TicketSubmitted',
  data: { ticketId: TICKET, instanceId: INSTANCE, requesterId: bob.userId, databaseAccount: null, policy: { type: 'system' }, reason: 'monthly revenue report', submittedAt: T0, ...over },
});
const approved = (accessId: string, approver: Actor = admin, at = later(60)) => ({
  type: 'TicketApproved' as const,
  data: { ticketId: TICKET, instanceId: INSTANCE, requesterId: bob.userId, accessId, approvedBy: approver.userId, approvedAt: at },
});
const fromTicket = (key: ReturnType<typeof newKey>, approver: Actor = admin, at = later(60)) =>
  accessGranted(key, { origin: { type: 'ticket', ticketId: TICKET, approvedBy: approver.userId }, grantedBy: approver.userId, grantedAt: at });

describe('SubmitTicket', () => {
  describe('when the proxy is enabled', () => {
    it('any role may ask for access, for themself', () => {
      for (const actor of [bob, owner, admin]) {
        given(proxyEnabled()).when(submit(actor)).then(submitted({ requesterId: actor.userId }));
      }
    });

    it('keeps a custom account’s password sealed', () => {
      const account = sealedAccount('analyst', 'analyst-pass-1');
      const outcome = given(proxyEnabled()).when(submit(bob, { databaseAccount: account }));
      outcome.then(submitted({ databaseAccount: account }));
      expect(JSON.stringify(outcome.result)).not.toContain('analyst-pass-1');
    });

    it('an expiry that is not in the future is refused', () => {
      const policy: Policy = { type: 'expire', expiresAt: T0 };
      const error = given(proxyEnabled()).when(submit(bob, { policy })).thenFails('VALIDATION');
      expect(error.details).toEqual([{ path: 'policy.expiresAt', message: 'must be in the future' }]);
    });

    it('a user who already holds active access need not ask: conflict', () => {
      given(proxyEnabled(), accessGranted(newKey())).when(submit()).thenFails('CONFLICT', /already holds/);
    });

    it('keyward itself files no tickets', () => {
      given(proxyEnabled()).when(submit(system)).thenFails('FORBIDDEN');
    });
  });

  it('a ticket id already used: conflict', () => {
    given(proxyEnabled(), submitted()).when(submit(carol)).thenFails('CONFLICT', /already exists/);
  });

  it('no proxy: not found; a disabled proxy: conflict', () => {
    given().when(submit()).thenFails('NOT_FOUND');
    given(proxyEnabled(), proxyDisabled()).when(submit()).thenFails('CONFLICT', /disabled/);
  });
});

describe('ApproveTicket', () => {
  describe('when the ticket is pending', () => {
    it('an admin, a dba or the proxy owner approves it, which authorizes the requester', () => {
      for (const approver of [admin, dba, owner]) {
        const key = newKey();
        given(proxyEnabled(), submitted())
          .when(approve(approver), { newKey: key, now: later(60) })
          .then(fromTicket(key, approver), approved(key.accessId, approver));
      }
    });

    it('the requester never approves their own ticket, whatever their role', () => {
      for (const requester of [admin, owner, bob]) {
        given(proxyEnabled(), submitted({ requesterId: requester.userId }))
          .when(approve(requester))
          .thenFails('FORBIDDEN', /submitted it/);
      }
    });

    it('a regular user who does not own the proxy may not approve', () => {
      given(proxyEnabled(), submitted()).when(approve(carol)).thenFails('FORBIDDEN');
    });

    it('grants the account and policy the ticket asked for', () => {
      const account = sealedAccount('analyst', 'analyst-pass-1');
      const policy: Policy = { type: 'rotate', intervalSeconds: 86400 };
      const key = newKey();
      given(proxyEnabled(), submitted({ databaseAccount: account, policy }))
        .when(approve(), { newKey: key, now: later(60) })
        .then(
          accessGranted(key, {
            origin: { type: 'ticket', ticketId: TICKET, approvedBy: admin.userId },
            databaseAccount: { kind: 'custom', username: 'analyst', passwordSealed: account.passwordSealed },
            policy,
            rotatesAt: later(86460),
            grantedAt: later(60),
          }),
          approved(key.accessId),
        );
    });

    it('an expiry that passed while the ticket waited: conflict, naming the ticket', () => {
      given(proxyEnabled(), submitted({ policy: { type: 'expire', expiresAt: later(30) } }))
        .when(approve(), { now: later(60) })
        .thenFails('CONFLICT', /tkt-0001 asks for access that expires at .* which has passed/);
    });

    it('the requester got access another way meanwhile: conflict', () => {
      given(proxyEnabled(), submitted(), accessGranted(newKey())).when(approve()).thenFails('CONFLICT', /already holds/);
    });

    it('a retry after the grant was recorded but the decision was not completes the ticket with the same key', () => {
      const key = newKey();
      given(proxyEnabled(), submitted(), fromTicket(key))
        .when(approve(), { newKey: newKey(), now: later(61) })
        .then(approved(key.accessId, admin, later(61)));
    });

    it('the proxy was disabled meanwhile: conflict', () => {
      given(proxyEnabled(), submitted(), proxyDisabled()).when(approve()).thenFails('CONFLICT', /disabled/);
    });
  });

  describe('when the ticket was decided', () => {
    it('approved or rejected, it cannot be decided again', () => {
      const key = newKey();
      given(proxyEnabled(), submitted(), fromTicket(key), approved(key.accessId)).when(approve(dba)).thenFails('CONFLICT', /already approved/);
      given(proxyEnabled(), submitted(), { type: 'TicketRejected', data: { ticketId: TICKET, instanceId: INSTANCE, requesterId: bob.userId, reason: 'no', rejectedBy: admin.userId, rejectedAt: later(5) } })
        .when(approve())
        .thenFails('CONFLICT', /already rejected/);
    });
  });

  it('an unknown ticket: not found', () => {
    given(proxyEnabled()).when(approve()).thenFails('NOT_FOUND');
  });
});

describe('RejectTicket', () => {
  it('an admin, a dba or the proxy owner rejects a pending ticket with a reason', () => {
    for (const actor of [admin, dba, owner]) {
      given(proxyEnabled(), submitted())
        .when(reject(actor), { now: later(5) })
        .then({ type: 'TicketRejected', data: { ticketId: TICKET, instanceId: INSTANCE, requesterId: bob.userId, reason: 'use the replica', rejectedBy: actor.userId, rejectedAt: later(5) } });
    }
  });

  it('a regular user who does not own the proxy may not reject', () => {
    given(proxyEnabled(), submitted()).when(reject(carol)).thenFails('FORBIDDEN');
  });

  it('a decided ticket cannot be rejected; an unknown one is not found', () => {
    const key = newKey();
    given(proxyEnabled(), submitted(), fromTicket(key), approved(key.accessId)).when(reject()).thenFails('CONFLICT', /already approved/);
    given(proxyEnabled()).when(reject()).thenFails('NOT_FOUND');
  });
});

describe('WithdrawTicketGrant', () => {
  const withdraw = (actor: Actor = system) => ({ type: 'WithdrawTicketGrant' as const, actor, instanceId: INSTANCE, userId: bob.userId, ticketId: TICKET });

  it('keyward takes back the grant a ticket made when the ticket was decided otherwise meanwhile', () => {
    const key = newKey();
    given(proxyEnabled(), fromTicket(key))
      .when(withdraw(), { now: later(61) })
      .then({ type: 'AccessRevoked', data: { instanceId: INSTANCE, userId: bob.userId, accessId: key.accessId, mode: 'recycle', revokedBy: system.userId, revokedAt: later(61) } });
  });

  it('leaves any other grant alone', () => {
    given(proxyEnabled(), accessGranted(newKey())).when(withdraw()).thenNothing();
    given(proxyEnabled(), accessGranted(newKey(), { origin: { type: 'ticket', ticketId: 'tkt-other', approvedBy: admin.userId } })).when(withdraw()).thenNothing();
    given(proxyEnabled()).when(withdraw()).thenNothing();
  });

  it('is for keyward itself only', () => {
    given(proxyEnabled(), fromTicket(newKey())).when(withdraw(admin)).thenFails('FORBIDDEN');
  });
});
