import { describe, expect, it } from 'vitest';
import { DomainError, type DomainEvent } from '../../../domain/index.js';
import { getTicket, listTickets, replay, ticketsProjection } from '../../../projections/index.js';
import { carol, later, newKey, OTHER_INSTANCE, owner, sealedAccount, SYSTEM_POLICY, T0 } from '../../support/fixtures.js';
import { recorder, ticketApproved, ticketRejected, ticketSubmitted, viewJson } from '../../support/recorded.js';

const build = (...events: DomainEvent[]) => {
  const store = recorder();
  return { store, view: replay(ticketsProjection, store.record(...events)) };
};

describe('Tickets', () => {
  describe('when a ticket is submitted', () => {
    it('is pending, with nothing decided', () => {
      const { view } = build(ticketSubmitted('t-1'));
      expect(getTicket(view, 't-1')).toEqual({
        ticketId: 't-1',
        instanceId: 'orders-db',
        requesterId: 'bob',
        status: 'pending',
        policy: SYSTEM_POLICY,
        databaseAccount: { custom: false },
        reason: 'monthly report',
        submittedAt: T0,
        decidedBy: null,
        decidedAt: null,
        rejectionReason: null,
        accessId: null,
      });
      expect(getTicket(view, 't-2')).toBeUndefined();
    });

    it('names a custom account by user name, never its sealed password', () => {
      const custom = sealedAccount('bob_ro', 'bob-password');
      const { view } = build(ticketSubmitted('t-1', { databaseAccount: custom }));
      expect(getTicket(view, 't-1')?.databaseAccount).toEqual({ custom: true, username: 'bob_ro' });
      expect(viewJson(view)).not.toContain(custom.passwordSealed);
    });
  });

  describe('when a ticket is approved', () => {
    it('shows who approved it, when, and the accessId it gave', () => {
      const key = newKey();
      const { view } = build(ticketSubmitted('t-1'), ticketApproved('t-1', key.accessId, { approvedAt: later(60) }));
      expect(getTicket(view, 't-1')).toMatchObject({ status: 'approved', decidedBy: owner.userId, decidedAt: later(60), accessId: key.accessId, rejectionReason: null });
    });
    it('stays approved if a rejection is recorded after all', () => {
      const key = newKey();
      const { view } = build(ticketSubmitted('t-1'), ticketApproved('t-1', key.accessId, { approvedAt: later(60) }), ticketRejected('t-1', { rejectedAt: later(90) }));
      expect(getTicket(view, 't-1')).toMatchObject({ status: 'approved', decidedAt: later(60), rejectionReason: null, accessId: key.accessId });
    });
  });

  describe('when a ticket is rejected', () => {
    it('shows who rejected it, when and why; a later decision changes nothing', () => {
      const { view } = build(
        ticketSubmitted('t-1'),
        ticketRejected('t-1', { reason: 'use the replica', rejectedAt: later(30) }),
        ticketApproved('t-1', newKey().accessId, { approvedAt: later(60) }),
      );
      expect(getTicket(view, 't-1')).toMatchObject({ status: 'rejected', decidedBy: owner.userId, decidedAt: later(30), rejectionReason: 'use the replica', accessId: null });
    });
  });

  describe('when tickets are listed', () => {
    // Submitted out of time order: the list follows the store's order.
    const setup = () =>
      build(
        ticketSubmitted('t-5', { submittedAt: later(50) }),
        ticketSubmitted('t-1', { submittedAt: later(10), instanceId: OTHER_INSTANCE }),
        ticketSubmitted('t-3', { submittedAt: later(30), requesterId: carol.userId }),
        ticketSubmitted('t-2', { submittedAt: later(20) }),
        ticketSubmitted('t-4', { submittedAt: later(40) }),
        ticketApproved('t-3', newKey().accessId),
        ticketRejected('t-2'),
      );

    it('gives them oldest first, page by page', () => {
      const { view } = setup();
      const first = listTickets(view, { limit: 2 });
      expect(first.items.map((t) => t.ticketId)).toEqual(['t-5', 't-1']);
      const second = listTickets(view, { limit: 2, cursor: first.nextCursor ?? '' });
      expect(second.items.map((t) => t.ticketId)).toEqual(['t-3', 't-2']);
      const third = listTickets(view, { limit: 2, cursor: second.nextCursor ?? '' });
      expect(third.items.map((t) => t.ticketId)).toEqual(['t-4']);
      expect(third.nextCursor).toBeNull();
    });

    it('filters by instance and status, and pages within the filter', () => {
      const { view } = setup();
      expect(listTickets(view, { instanceId: OTHER_INSTANCE }).items.map((t) => t.ticketId)).toEqual(['t-1']);
      expect(listTickets(view, { status: 'approved' }).items.map((t) => t.ticketId)).toEqual(['t-3']);
      expect(listTickets(view, { status: 'rejected' }).items.map((t) => t.ticketId)).toEqual(['t-2']);
      const first = listTickets(view, { instanceId: 'orders-db', status: 'pending', limit: 1 });
      expect(first.items.map((t) => t.ticketId)).toEqual(['t-5']);
      const second = listTickets(view, { instanceId: 'orders-db', status: 'pending', limit: 1, cursor: first.nextCursor ?? '' });
      expect(second.items.map((t) => t.ticketId)).toEqual(['t-4']);
      expect(second.nextCursor).toBeNull();
    });

    it('says there is no next page when the last match ends the page, however many others follow', () => {
      const { view } = setup();
      expect(listTickets(view, { status: 'approved', limit: 1 }).nextCursor).toBeNull();
    });

    it('refuses a cursor it did not give out', () => {
      const { view } = setup();
      expect(() => listTickets(view, { cursor: 'dC01' })).toThrow(DomainError);
    });

    it('lists a ticket once when its TicketSubmitted is delivered twice', () => {
      const { view, store } = setup();
      replay(ticketsProjection, store.events, view);
      expect(listTickets(view).items.map((t) => [t.ticketId, t.status])).toEqual([
        ['t-5', 'pending'],
        ['t-1', 'pending'],
        ['t-3', 'approved'],
        ['t-2', 'rejected'],
        ['t-4', 'pending'],
      ]);
    });
  });
});
