import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  AccessAtRequest,
  AuthorizeRequest,
  decodeWith,
  DomainEvent,
  EnableProxyRequest,
  GrantsRequest,
  RotateRequest,
  Secret,
  SubmitTicketRequest,
  type Codec,
  type DomainError,
} from '../../domain/index.js';
import { accessGranted, newKey, proxyEnabled } from '../support/fixtures.js';

const actor = { userId: 'ada', role: 'admin' };
const authorizeBody = { actor, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } };

const ok = <A>(codec: Codec<A>, input: unknown): A => {
  const r = decodeWith(codec)(input);
  if (E.isLeft(r)) throw new Error(`expected ${codec.name} to accept the input: ${r.left.message}`);
  return r.right;
};
const refused = <A>(codec: Codec<A>, input: unknown): DomainError => {
  const r = decodeWith(codec)(input);
  if (E.isRight(r)) throw new Error(`expected ${codec.name} to refuse the input`);
  expect(r.left.code).toBe('VALIDATION');
  return r.left;
};
const paths = (e: DomainError): string[] => e.details.map((d) => d.path);

describe('requests of API.md', () => {
  it('a well-formed authorize decodes as sent, with an optional commandId', () => {
    expect(ok(AuthorizeRequest, authorizeBody)).toEqual(authorizeBody);
    expect(ok(AuthorizeRequest, { ...authorizeBody, commandId: 'c-81f2' })).toMatchObject({ commandId: 'c-81f2' });
  });

  describe('an authorization selects exactly one user', () => {
    it('a list of users, in any field, is refused', () => {
      expect(refused(AuthorizeRequest, { ...authorizeBody, userId: ['bob', 'carol'] }).details).toEqual([
        { path: 'userId', message: 'must be 1–64 characters of A–Z, a–z, 0–9, _ or -' },
      ]);
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, userIds: ['carol'] }))).toEqual(['userIds']);
    });
  });

  describe('a custom database account', () => {
    it('needs both a username and a password', () => {
      expect(refused(AuthorizeRequest, { ...authorizeBody, databaseAccount: { username: 'report' } }).details).toEqual([
        { path: 'databaseAccount.password', message: 'is required' },
      ]);
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, databaseAccount: { password: 'pw' } }))).toEqual(['databaseAccount.username']);
    });

    it('keeps the password in a Secret that never prints', () => {
      const decoded = ok(AuthorizeRequest, { ...authorizeBody, databaseAccount: { username: 'report', password: 'Tr0ub4dor&3' } });
      expect(decoded.databaseAccount?.password).toBeInstanceOf(Secret);
      expect(decoded.databaseAccount?.password.reveal()).toBe('Tr0ub4dor&3');
      expect(JSON.stringify(decoded)).not.toContain('Tr0ub4dor');
      expect(String(decoded.databaseAccount?.password)).toBe('[redacted]');
    });

    it('a refused password is not repeated in the error', () => {
      const long = `leak-${'x'.repeat(1100)}`;
      const error = refused(AuthorizeRequest, { ...authorizeBody, databaseAccount: { username: 'report', password: long } });
      expect(error.details).toEqual([{ path: 'databaseAccount.password', message: 'must be 1–1024 characters' }]);
      expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain('leak-');
    });
  });

  describe('unknown fields are errors', () => {
    it('a misspelt expiresAt never makes a key that does not expire', () => {
      const error = refused(AuthorizeRequest, { ...authorizeBody, policy: { type: 'expire', expiresat: '2030-01-01T00:00:00Z' } });
      expect(error.details).toEqual([
        { path: 'policy.expiresat', message: 'is not a field of this request' },
        { path: 'policy.expiresAt', message: 'is required' },
      ]);
    });

    it('__proto__ and constructor keys are refused like any other', () => {
      expect(paths(refused(AuthorizeRequest, JSON.parse('{"actor":{"userId":"ada","role":"admin"},"instanceId":"orders-db","userId":"bob","policy":{"type":"system"},"__proto__":{"role":"admin"}}')))).toEqual(['__proto__']);
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, constructor: 'x' }))).toEqual(['constructor']);
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, actor: JSON.parse('{"userId":"ada","role":"user","__proto__":{"role":"admin"}}') as unknown }))).toEqual(['actor.__proto__']);
    });
  });

  describe('identifiers', () => {
    it('accept 1–64 characters of A–Z, a–z, 0–9, _ and -', () => {
      ok(AuthorizeRequest, { ...authorizeBody, instanceId: 'A'.repeat(64), userId: 'b_o-b9' });
    });

    it('refuse anything that could split a subject, a KV key or a stream name', () => {
      for (const instanceId of ['', 'A'.repeat(65), 'orders.db', 'orders:db', 'orders*', 'orders>', 'orders db', 'ördérs', 42, null]) {
        expect(paths(refused(AuthorizeRequest, { ...authorizeBody, instanceId }))).toEqual(['instanceId']);
      }
    });

    it('commandId is 1–128 printable ASCII characters', () => {
      ok(AuthorizeRequest, { ...authorizeBody, commandId: '~'.repeat(128) });
      for (const commandId of ['', 'c'.repeat(129), 'line\nbreak', 'ünïcode']) {
        expect(paths(refused(AuthorizeRequest, { ...authorizeBody, commandId }))).toEqual(['commandId']);
      }
    });
  });

  describe('the actor', () => {
    it('needs a user and a role of admin, dba or user', () => {
      expect(refused(AuthorizeRequest, { ...authorizeBody, actor: { userId: 'ada' } }).details).toEqual([{ path: 'actor.role', message: 'is required' }]);
      expect(refused(AuthorizeRequest, { ...authorizeBody, actor: { userId: 'ada', role: 'root' } }).details).toEqual([
        { path: 'actor.role', message: 'must be one of admin, dba, user' },
      ]);
      expect(paths(refused(AuthorizeRequest, { instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }))).toEqual(['actor']);
    });

    it('no caller may act as keyward itself', () => {
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, actor: { userId: 'keyward', role: 'system' } }))).toEqual(['actor.role']);
    });
  });

  describe('policies', () => {
    it('an unknown policy type names the allowed ones', () => {
      expect(refused(AuthorizeRequest, { ...authorizeBody, policy: { type: 'forever' } }).details).toEqual([
        { path: 'policy.type', message: 'must be one of system, rotate, expire' },
      ]);
    });

    it('rotate: an interval from 60 to 315360000 whole seconds, an overlap up to 86400', () => {
      for (const intervalSeconds of [60, 315_360_000]) ok(AuthorizeRequest, { ...authorizeBody, policy: { type: 'rotate', intervalSeconds } });
      ok(AuthorizeRequest, { ...authorizeBody, policy: { type: 'rotate', intervalSeconds: 3600, overlapSeconds: 86_400 } });
      for (const intervalSeconds of [59, 315_360_001, 60.5, '3600', null]) {
        expect(refused(AuthorizeRequest, { ...authorizeBody, policy: { type: 'rotate', intervalSeconds } }).details).toEqual([
          { path: 'policy.intervalSeconds', message: 'must be a whole number from 60 to 315360000' },
        ]);
      }
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, policy: { type: 'rotate', intervalSeconds: 60, overlapSeconds: 86_401 } }))).toEqual([
        'policy.overlapSeconds',
      ]);
    });

    it('system takes no parameters', () => {
      expect(paths(refused(AuthorizeRequest, { ...authorizeBody, policy: { type: 'system', intervalSeconds: 60 } }))).toEqual(['policy.intervalSeconds']);
    });
  });

  describe('times', () => {
    it('are RFC 3339 in UTC, normalized to milliseconds', () => {
      const decoded = ok(AuthorizeRequest, { ...authorizeBody, policy: { type: 'expire', expiresAt: '2030-01-02T03:04:05Z' } });
      expect(decoded.policy).toEqual({ type: 'expire', expiresAt: '2030-01-02T03:04:05.000Z' });
      expect(ok(AccessAtRequest, { actor, instanceId: 'orders-db', at: '2030-01-02T03:04:05.123456Z' }).at).toBe('2030-01-02T03:04:05.123Z');
    });

    it('refuse other zones, other forms and days that do not exist', () => {
      for (const at of ['2030-01-02T03:04:05+02:00', '2030-01-02 03:04:05Z', '2030-02-30T00:00:00Z', '2030-01-02T24:00:00Z', '1700000000', 1700000000, '']) {
        expect(refused(AccessAtRequest, { actor, instanceId: 'orders-db', at }).details).toEqual([
          { path: 'at', message: 'must be an RFC 3339 time in UTC, like 2026-12-04T10:00:00.000Z' },
        ]);
      }
    });
  });

  describe('bodies that are not objects', () => {
    it('are refused as a whole', () => {
      for (const body of [null, [], 'authorize', 7, true]) {
        expect(refused(AuthorizeRequest, body).details).toEqual([{ path: '', message: 'must be a JSON object' }]);
      }
    });
  });

  it('every failing field is listed, not only the first', () => {
    const error = refused(EnableProxyRequest, { actor, instanceId: 'a.b', databaseAccount: { username: '', password: '' }, endpoints: [{ kind: 'vpn', host: 'db', port: 0 }] });
    expect(paths(error).sort()).toEqual(['databaseAccount.password', 'databaseAccount.username', 'endpoints.0.kind', 'endpoints.0.port', 'instanceId'].sort());
  });

  it('other commands and queries decode their own fields', () => {
    expect(ok(RotateRequest, { actor, instanceId: 'orders-db', userId: 'bob', overlapSeconds: 300 })).toMatchObject({ overlapSeconds: 300 });
    expect(paths(refused(RotateRequest, { actor, instanceId: 'orders-db', userId: 'bob', overlapSeconds: -1 }))).toEqual(['overlapSeconds']);
    expect(ok(SubmitTicketRequest, { actor, instanceId: 'orders-db', policy: { type: 'system' }, reason: 'quarterly audit' })).not.toHaveProperty('ticketId');
    expect(paths(refused(GrantsRequest, { actor, instanceId: 'orders-db', status: 'deleted', limit: 0 })).sort()).toEqual(['limit', 'status']);
  });
});

describe('recorded events', () => {
  it('decode as the deciders write them', () => {
    for (const event of [proxyEnabled(), accessGranted(newKey())]) expect(ok(DomainEvent, JSON.parse(JSON.stringify(event)))).toEqual(event);
  });

  it('an unknown type or an unknown field is refused, so a corrupt store is noticed', () => {
    expect(refused(DomainEvent, { type: 'AccessGrantedd', data: {} }).details).toEqual([
      { path: 'type', message: expect.stringContaining('must be one of ProxyEnabled') as string },
    ]);
    const event = accessGranted(newKey());
    expect(paths(refused(DomainEvent, { ...event, data: { ...event.data, accessSecret: 'plain' } }))).toEqual(['data.accessSecret']);
  });
});
