// Who may do what, in the words of the product's source document and API.md's "who may"
// column. Each rule is one function; deciders call them and say FORBIDDEN when they refuse.
import { Role, type Actor } from './actor.js';
import type { ProxyState } from './proxy/proxy.js';

const isAdminOrDba = (actor: Actor): boolean => actor.role === Role.admin || actor.role === Role.dba;

export const isProxyOwner = (actor: Actor, proxy: ProxyState): boolean =>
  proxy.status !== 'none' && proxy.ownerId === actor.userId;

/** Any role may enable a proxy; whoever does becomes its owner. */
export const mayEnableProxy = (actor: Actor): boolean => actor.role !== Role.system;

/** Disable the proxy, authorize users on it, decide its tickets: admin, dba, or the owner. */
export const mayManageProxy = (actor: Actor, proxy: ProxyState): boolean =>
  isAdminOrDba(actor) || isProxyOwner(actor, proxy);

/**
 * View, rotate or revoke a user's AccessKey pair: admin, dba, or that user. A regular user
 * who owns the proxy may not touch other users' keys, nor see their secrets.
 */
export const mayManageKeysOf = (actor: Actor, userId: string): boolean =>
  isAdminOrDba(actor) || (actor.role === Role.user && actor.userId === userId);

/** A ticket is approved by someone who manages the proxy, and never by the person who asked. */
export const mayApproveTicket = (actor: Actor, proxy: ProxyState, requesterId: string): boolean =>
  actor.userId !== requesterId && mayManageProxy(actor, proxy);

export const mayRejectTicket = (actor: Actor, proxy: ProxyState): boolean => mayManageProxy(actor, proxy);

/** Anyone may ask for access, for themself only (the requester is always the actor). */
export const maySubmitTicket = (actor: Actor): boolean => actor.role !== Role.system;

/** Point-in-time access (who could reach the database when) is for admins and dbas. */
export const mayAuditAccess = (actor: Actor): boolean => isAdminOrDba(actor);

/** Scheduled rotations, expiries and withdrawn ticket grants are keyward's own acts, never a caller's. */
export const mayActOnSchedule = (actor: Actor): boolean => actor.role === Role.system;
