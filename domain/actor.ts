import { oneOf, struct, type Codec } from './codec.js';
import { UserId } from './ids.js';

export const Role = {
  admin: 'admin',
  dba: 'dba',
  user: 'user',
  /** keyward itself (the scheduler); never accepted from a request. */
  system: 'system',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface Actor {
  readonly userId: string;
  readonly role: Role;
}

/** The actor of a request: a trusted service vouches for the person, so `system` is not on offer. */
export const RequestActor = struct('Actor', {
  userId: UserId,
  role: oneOf('Role', [Role.admin, Role.dba, Role.user]),
});

/** The actor as recorded in event metadata, the scheduler included. */
export const RecordedActor: Codec<Actor> = struct('Actor', {
  userId: UserId,
  role: oneOf('Role', [Role.admin, Role.dba, Role.user, Role.system]),
});

export const SYSTEM_ACTOR: Actor = { userId: 'keyward', role: Role.system };
