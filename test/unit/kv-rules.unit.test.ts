import { describe, expect, it } from 'vitest';
import type { KeyValue } from '../../src/keys/kv.js';
import { mayReplace } from '../../src/relay/kv-rules.js';

const byNumber = (a: string, b: string): number => Number(a) - Number(b);
const active = (position: string): KeyValue => ({
  state: 'active',
  accessId: 'A'.repeat(24),
  instanceId: 'orders-db',
  userId: 'bob',
  verifiers: { sha256: '0'.repeat(64), mysqlNative: '0'.repeat(40) },
  databaseAccount: { username: 'p', passwordSealed: `v1.${'A'.repeat(16)}.${'B'.repeat(22)}` },
  notAfter: null,
  issuedAt: '2026-12-04T10:00:00.000Z',
  position,
});
const revoked = (position: string): KeyValue => ({ state: 'revoked', accessId: 'A'.repeat(24), instanceId: 'orders-db', userId: 'bob', reason: 'rotated', at: '2026-12-04T10:00:00.000Z', position });

describe('what a relay may write over a KV value', () => {
  it('a revoked value is final: never replaced, not even by a later revocation', () => {
    expect(mayReplace(revoked('5'), active('9'), byNumber)).toBe(false);
    expect(mayReplace(revoked('5'), revoked('9'), byNumber)).toBe(false);
  });

  it('an active value is revoked whatever the positions (a revocation is never undone)', () => {
    expect(mayReplace(active('9'), revoked('5'), byNumber)).toBe(true);
  });

  it('an active value is replaced only by a change from a later position', () => {
    expect(mayReplace(active('5'), active('9'), byNumber)).toBe(true);
    expect(mayReplace(active('9'), active('5'), byNumber)).toBe(false);
    expect(mayReplace(active('9'), active('9'), byNumber)).toBe(false);
  });
});
