// `keyward audit access-at | access | replay` against a real SQLite file holding a scripted
// history (rotations by hand with an overlap and on schedule, an expiry, recycle and
// re-authorization, release, a proxy disable), each answer checked against one worked out by
// hand from the script below.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../domain/index.js';
import { authorize, disableProxy, enableProxy, revoke, rotate, type Reply } from '../../src/app/commands.js';
import type { AppContext } from '../../src/app/context.js';
import { Projector } from '../../src/app/projector.js';
import { AUDIT_ACCESS, AUDIT_ACCESS_AT, AUDIT_REPLAY } from '../../src/cli/commands/audit.js';
import type { CliCommand } from '../../src/cli/command.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import type { Io } from '../../src/cli/io.js';
import { SealingKey } from '../../src/crypto.js';
import { createLogger } from '../../src/log.js';
import { startScheduler } from '../../src/scheduler/scheduler.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ManualClock } from '../support/manual-clock.js';

const ada = { userId: 'ada', role: 'admin' as const };
const bob = { userId: 'bob', role: 'user' as const };
const T0 = '2027-03-01T09:00:00.000Z';
const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const INSTANCE = 'orders-db';

const right = (reply: Reply): Record<string, unknown> => {
  if (E.isLeft(reply)) throw new Error(`expected success, got ${reply.left.code}: ${reply.left.message}`);
  return reply.right;
};

let dir: string;
let path: string;
const keys: Record<string, string> = {};
const secrets: string[] = [];
let recyclePosition = '';

// The script, in seconds after T0:
//     0  proxy enabled; bob authorized, hourly rotation            b1 from 0
//   100  carol authorized, expiring at 1800                         c1 [100, 1800)
//   600  bob rotates by hand, 300 s overlap                         b1 ends 900, b2 from 600
//  2000  dave authorized                                            d1 from 2000
//  2500  dave recycled                                              d1 ends 2500
//  3000  dave authorized again                                      d2 from 3000
//  4200  bob's scheduled rotation (an hour after the one by hand)   b2 ends 4200, b3 from 4200
//  5000  bob released                                               b3 ends 5000
//  6000  proxy disabled                                             d2 ends 6000
// (carol's expiry is recorded by the scheduler when the clock passes 1800)
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-audit-access-'));
  path = join(dir, 'keyward.db');
  const clock = new ManualClock(T0);
  const store = SqliteEventStore.open({ path });
  const projector = new Projector(store);
  projector.start();
  const ctx: AppContext = { store, masterKey: SealingKey.generate(), clock: clock.now, projector };
  const scheduler = startScheduler({ ctx, log: createLogger({ level: 'silent' }), clock });
  const to = async (seconds: number): Promise<void> => {
    clock.set(at(seconds));
    await scheduler.idle();
  };
  const keep = (name: string, reply: Record<string, unknown>): void => {
    keys[name] = String(reply.accessId);
    if (typeof reply.accessSecret === 'string') secrets.push(reply.accessSecret);
  };
  try {
    right(await enableProxy(ctx, { actor: ada, instanceId: INSTANCE, databaseAccount: { username: 'proxy_acct', password: new Secret('proxy-pw-5acd9f01') } }));
    keep('b1', right(await authorize(ctx, { actor: ada, instanceId: INSTANCE, userId: 'bob', policy: { type: 'rotate', intervalSeconds: 3600 } })));
    await to(100);
    keep('c1', right(await authorize(ctx, { actor: ada, instanceId: INSTANCE, userId: 'carol', policy: { type: 'expire', expiresAt: at(1800) } })));
    await to(600);
    keep('b2', right(await rotate(ctx, { actor: bob, instanceId: INSTANCE, userId: 'bob', overlapSeconds: 300 })));
    await to(2000);
    keep('d1', right(await authorize(ctx, { actor: ada, instanceId: INSTANCE, userId: 'dave', policy: { type: 'system' } })));
    await to(2500);
    right(await revoke(ctx, { actor: ada, instanceId: INSTANCE, userId: 'dave', mode: 'recycle' }));
    for await (const e of store.readAll()) if (e.type === 'AccessRevoked') recyclePosition = e.position;
    await to(3000);
    keep('d2', right(await authorize(ctx, { actor: ada, instanceId: INSTANCE, userId: 'dave', policy: { type: 'system' } })));
    await to(4200);
    const scheduled = (await store.readStream(`grant-${INSTANCE}:bob`)).find((e) => e.type === 'AccessKeyRotated' && (e.data as { reason: string }).reason === 'scheduled');
    keys.b3 = (scheduled?.data as { accessId: string } | undefined)?.accessId ?? 'no scheduled rotation';
    await to(5000);
    right(await revoke(ctx, { actor: ada, instanceId: INSTANCE, userId: 'bob', mode: 'release' }));
    await to(6000);
    right(await disableProxy(ctx, { actor: ada, instanceId: INSTANCE }));
  } finally {
    await scheduler.stop();
    await projector.stop();
    await store.close();
  }
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const run = async (command: CliCommand, argv: readonly string[], env: NodeJS.ProcessEnv = { KEYWARD_STORE: `sqlite:${path}` }) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { env, stdout: (t) => out.push(t), stderr: (t) => err.push(t), readStdin: () => Promise.resolve(''), stdinIsTerminal: false };
  const code = await command.run(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
};

const lines = (stdout: string): unknown[] => (stdout === '' ? [] : stdout.split('\n').map((l) => JSON.parse(l) as unknown));

const interval = (userId: string, key: string, from: number, to: number | null) => ({ userId, accessId: keys[key], from: at(from), to: to === null ? null : at(to) });

describe('audit access-at', () => {
  it('answers who held a valid key at each moment, as worked out by hand', async () => {
    const ask = async (seconds: number) => {
      const r = await run(AUDIT_ACCESS_AT, ['--instance', INSTANCE, '--at', at(seconds), '--json']);
      expect(r.code).toBe(ExitCode.OK);
      return lines(r.stdout);
    };
    expect(await ask(700)).toEqual([interval('bob', 'b1', 0, 900), interval('bob', 'b2', 600, 4200), interval('carol', 'c1', 100, 1800)]);
    expect(await ask(900)).toEqual([interval('bob', 'b2', 600, 4200), interval('carol', 'c1', 100, 1800)]);
    expect(await ask(1800)).toEqual([interval('bob', 'b2', 600, 4200)]);
    expect(await ask(2600)).toEqual([interval('bob', 'b2', 600, 4200)]);
    expect(await ask(4200)).toEqual([interval('bob', 'b3', 4200, 5000), interval('dave', 'd2', 3000, 6000)]);
    expect(await ask(5500)).toEqual([interval('dave', 'd2', 3000, 6000)]);
    expect(await ask(6000)).toEqual([]);
  });

  it('prints a table for people, and only the user asked about with --user', async () => {
    const r = await run(AUDIT_ACCESS_AT, ['--instance', INSTANCE, '--at', at(700), '--user', 'carol']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stdout.split('\n')).toEqual([expect.stringMatching(/^USER\s+ACCESSID\s+FROM\s+TO$/), `carol  ${keys.c1 ?? ''}  ${at(100)}  ${at(1800)}`]);
  });
});

describe('audit access', () => {
  it('lists every interval that touches the range, whole', async () => {
    const r = await run(AUDIT_ACCESS, ['--instance', INSTANCE, '--from', at(2400), '--to', at(3100), '--user', 'dave', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(lines(r.stdout)).toEqual([interval('dave', 'd1', 2000, 2500), interval('dave', 'd2', 3000, 6000)]);
    const all = await run(AUDIT_ACCESS, ['--instance', INSTANCE, '--from', at(0), '--to', at(10_000), '--json']);
    expect(lines(all.stdout)).toHaveLength(6);
  });

  it('refuses a range that ends before it starts, and a bad time, printing nothing', async () => {
    for (const argv of [['--instance', INSTANCE, '--from', at(10), '--to', at(5)], ['--instance', INSTANCE, '--from', 'yesterday', '--to', at(5)]]) {
      const r = await run(AUDIT_ACCESS, argv);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stdout).toBe('');
    }
  });
});

describe('audit replay', () => {
  it('shows the grants as the service showed them at a time', async () => {
    const r = await run(AUDIT_REPLAY, ['--instance', INSTANCE, '--to', at(2600), '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(lines(r.stdout)).toEqual([
      expect.objectContaining({ userId: 'bob', status: 'active', accessId: keys.b2, rotatesAt: at(4200) }),
      expect.objectContaining({ userId: 'carol', status: 'expired', accessId: keys.c1, notAfter: at(1800) }),
      expect.objectContaining({ userId: 'dave', status: 'revoked', accessId: keys.d1, revokedAt: at(2500) }),
    ]);
  });

  it('at a store position: everything up to and including that event', async () => {
    const r = await run(AUDIT_REPLAY, ['--instance', INSTANCE, '--to', recyclePosition, '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(lines(r.stdout)).toEqual([
      expect.objectContaining({ userId: 'bob', status: 'active', accessId: keys.b2 }),
      expect.objectContaining({ userId: 'carol', status: 'expired' }),
      expect.objectContaining({ userId: 'dave', status: 'revoked', accessId: keys.d1 }),
    ]);
  });

  it('at the end: released grants gone, the disable revoked the rest', async () => {
    const r = await run(AUDIT_REPLAY, ['--instance', INSTANCE, '--to', at(7000)]);
    expect(r.code).toBe(ExitCode.OK);
    const rows = r.stdout.split('\n').slice(1);
    expect(rows.map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['carol', 'expired', keys.c1],
      ['dave', 'revoked', keys.d2],
    ]);
  });

  it('refuses what is neither a time nor a position, and a store that is not there', async () => {
    expect((await run(AUDIT_REPLAY, ['--instance', INSTANCE, '--to', 'last-tuesday'])).code).toBe(ExitCode.USAGE);
    const missing = await run(AUDIT_REPLAY, ['--instance', INSTANCE, '--to', at(1)], { KEYWARD_STORE: `sqlite:${join(dir, 'nope.db')}` });
    expect(missing.code).toBe(ExitCode.USAGE);
    expect(missing.stderr).toContain('there is no event store');
  });
});

it('no answer holds a secret', async () => {
  const outputs = [
    (await run(AUDIT_ACCESS_AT, ['--instance', INSTANCE, '--at', at(700), '--json'])).stdout,
    (await run(AUDIT_ACCESS, ['--instance', INSTANCE, '--from', at(0), '--to', at(9000)])).stdout,
    (await run(AUDIT_REPLAY, ['--instance', INSTANCE, '--to', at(7000), '--json'])).stdout,
  ].join('\n');
  expect(secrets.length).toBeGreaterThan(3);
  for (const s of [...secrets, 'proxy-pw-5acd9f01']) expect(outputs).not.toContain(s);
});
