// Bad input gets a clear 4xx answer and changes nothing, and no request, however malformed,
// takes the service down.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startKeyward, type Keyward } from '../support/keyward.js';

const admin = { userId: 'ada', role: 'admin' };
const valid = { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } };

let nats: NatsServer;
let kw: Keyward;
let baseline: number;
beforeAll(async () => {
  nats = await startNatsServer();
  kw = await startKeyward(nats.url);
  await kw.request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } });
  baseline = await kw.eventCount();
});
afterAll(async () => {
  await kw.stop();
  await nats.dispose();
});

const cases: [string, unknown, string, string, string?][] = [
  ['not JSON', '{"actor": ', 'BAD_JSON', '400'],
  ['not UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'BAD_JSON', '400'],
  ['JSON that is not an object', '[1,2,3]', 'BAD_JSON', '400'],
  ['JSON null', 'null', 'BAD_JSON', '400'],
  ['an unknown field', { ...valid, userIds: ['carol'] }, 'VALIDATION', '400', 'userIds'],
  ['a misspelt policy field', { ...valid, policy: { type: 'expire', expiresat: '2030-01-01T00:00:00Z' } }, 'VALIDATION', '400', 'policy.expiresat'],
  ['a wrong type', { ...valid, userId: 42 }, 'VALIDATION', '400', 'userId'],
  ['an id outside its pattern', { ...valid, instanceId: 'orders.db>' }, 'VALIDATION', '400', 'instanceId'],
  ['a __proto__ key', '{"actor":{"userId":"ada","role":"admin"},"instanceId":"orders-db","userId":"bob","policy":{"type":"system"},"__proto__":{"x":1}}', 'VALIDATION', '400', '__proto__'],
  ['a constructor key', { ...valid, constructor: { name: 'x' } }, 'VALIDATION', '400', 'constructor'],
  ['an expiry in the past', { ...valid, policy: { type: 'expire', expiresAt: '2020-01-01T00:00:00Z' } }, 'VALIDATION', '400', 'policy.expiresAt'],
  ['an actor without a role', { ...valid, actor: { userId: 'ada' } }, 'VALIDATION', '400', 'actor.role'],
  ['no actor', { instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }, 'VALIDATION', '400', 'actor'],
  ['an interval out of bounds', { ...valid, policy: { type: 'rotate', intervalSeconds: 30 } }, 'VALIDATION', '400', 'policy.intervalSeconds'],
  ['a custom account without a password', { ...valid, databaseAccount: { username: 'x' } }, 'VALIDATION', '400', 'databaseAccount.password'],
  ['over 64 KiB', { ...valid, padding: 'x'.repeat(70_000) }, 'PAYLOAD_TOO_LARGE', '413'],
];

describe('bad input to authorize', () => {
  it.each(cases)('%s: a clear error, nothing recorded', async (_name, body, code, header, path) => {
    const answer = await kw.request('cmd.authorize', body);
    expect(answer.ok).toBe(false);
    expect(answer.error?.code).toBe(code);
    expect(answer.headerCode).toBe(header);
    expect(answer.error?.message.length).toBeGreaterThan(0);
    if (path !== undefined) expect(answer.error?.details.map((d) => d.path)).toContain(path);
    expect(await kw.eventCount()).toBe(baseline);
  });

  it('a password that is refused is not repeated in the answer or the log', async () => {
    const password = `S3cr3t-${'p'.repeat(1100)}`;
    const answer = await kw.request('cmd.authorize', { ...valid, databaseAccount: { username: 'x', password } });
    expect(answer.error?.code).toBe('VALIDATION');
    expect(JSON.stringify(answer)).not.toContain('S3cr3t');
    expect(kw.logs.join('\n')).not.toContain('S3cr3t');
  });
});

describe('malformed requests, generated', () => {
  // Requests built from valid ones by dropping, retyping or adding fields, or from any JSON at all.
  const anyJson = fc.jsonValue({ maxDepth: 3 });
  const mutated = fc.record({ drop: fc.subarray(Object.keys(valid)), extra: fc.dictionary(fc.string({ maxLength: 12 }), anyJson, { maxKeys: 3 }), retype: fc.option(fc.tuple(fc.constantFrom(...Object.keys(valid)), anyJson)) }).map(
    ({ drop, extra, retype }) => {
      const body: Record<string, unknown> = { ...extra };
      for (const [k, v] of Object.entries(valid)) if (!drop.includes(k)) body[k] = v;
      if (retype !== null) body[retype[0]] = retype[1];
      return body;
    },
  );
  const subjects = ['cmd.authorize', 'cmd.rotate', 'cmd.revoke', 'cmd.proxy.enable', 'cmd.ticket.submit', 'query.grants', 'query.key', 'query.access-at'];

  it('are each answered with a 4xx code (or accepted when they happen to be valid), and the service stays up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...subjects), fc.oneof(mutated, anyJson), async (subject, body) => {
        const answer = await kw.request(subject, body);
        if (!answer.ok) expect(Number(answer.headerCode)).toBeGreaterThanOrEqual(400);
        if (!answer.ok) expect(Number(answer.headerCode)).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    expect((await kw.request('query.proxies', { actor: admin })).ok).toBe(true);
  });
});
