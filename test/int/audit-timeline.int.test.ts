// `keyward audit timeline` against a real SQLite file holding a scripted history: two
// instances, bob's grant under every policy and account kind, views, rotations by hand and on
// schedule, recycle, re-authorization, expiry, release, tickets approved and rejected, a
// disable. Each output format is checked row by row against times, actors and AccessIDs
// written out by hand, and searched for every secret the history made.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../domain/index.js';
import type { TimelineEntry } from '../../src/audit/timeline.js';
import { approveTicket, authorize, disableProxy, enableProxy, rejectTicket, revoke, rotate, submitTicket, viewKey, type Reply } from '../../src/app/commands.js';
import type { AppContext } from '../../src/app/context.js';
import { Projector } from '../../src/app/projector.js';
import { AUDIT_TIMELINE } from '../../src/cli/commands/audit-timeline.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import type { Io } from '../../src/cli/io.js';
import { SealingKey } from '../../src/crypto.js';
import { createLogger } from '../../src/log.js';
import { startScheduler } from '../../src/scheduler/scheduler.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { StoredEvent } from '../../src/store/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { parseCsv } from '../support/csv.js';

const ada = { userId: 'ada', role: 'admin' as const };
const dan = { userId: 'dan', role: 'dba' as const };
const bob = { userId: 'bob', role: 'user' as const };
const T0 = '2027-03-01T09:00:00.000Z';
const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();

const right = (reply: Reply): Record<string, unknown> => {
  if (E.isLeft(reply)) throw new Error(`expected success, got ${reply.left.code}: ${reply.left.message}`);
  return reply.right;
};
const str = (v: unknown): string => {
  if (typeof v !== 'string' || v === '') throw new Error('expected a string');
  return v;
};

// Distinct, long and random, so finding one in the output can only mean it leaked.
const password = (name: string): string => `${name}-${randomBytes(16).toString('hex')}`;
const PASSWORDS = { orders: password('orders-pw'), billing: password('billing-pw'), bobRo: password('bob-ro-pw'), bobRw: password('bob-rw-pw') };

interface History {
  readonly path: string;
  readonly ids: { a1: string; a2: string; a3: string; a4: string; a5: string; carol: string };
  /** Every plaintext secret and password the history made, and every sealed value and verifier it recorded. */
  readonly secrets: readonly string[];
  readonly stored: readonly StoredEvent[];
}

let history: History;
let dir: string;

/** Everything one run printed, and its exit code. */
const audit = async (argv: readonly string[], path = history.path) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    env: { KEYWARD_STORE: `sqlite:${path}` },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: () => Promise.resolve(''),
    stdinIsTerminal: false,
  };
  const code = await AUDIT_TIMELINE.run(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-audit-'));
  const path = join(dir, 'keyward.db');
  const clock = new ManualClock(T0);
  const store = SqliteEventStore.open({ path, pollIntervalMs: 10 });
  const projector = new Projector(store);
  projector.start();
  const ctx: AppContext = { store, masterKey: SealingKey.generate(), clock: clock.now, projector };
  const scheduler = startScheduler({ ctx, log: createLogger({ level: 'silent' }), clock });
  await scheduler.ready;
  const plain: string[] = Object.values(PASSWORDS);
  const keep = (reply: Record<string, unknown>): Record<string, unknown> => {
    plain.push(str(reply.accessSecret));
    return reply;
  };
  const step = async (seconds: number, act: () => Promise<Reply>): Promise<Record<string, unknown>> => {
    clock.set(at(seconds));
    await scheduler.idle();
    return right(await act());
  };
  const orders = { instanceId: 'orders-db' };
  const onBob = { ...orders, userId: 'bob' };
  const view = (actor: typeof ada | typeof bob) => viewKey(ctx, { actor, ...onBob });

  await step(0, () => enableProxy(ctx, { actor: ada, ...orders, databaseAccount: { username: 'proxy_acct', password: new Secret(PASSWORDS.orders) } }));
  await step(10, () =>
    enableProxy(ctx, {
      actor: ada,
      instanceId: 'billing-db',
      databaseAccount: { username: 'billing_acct', password: new Secret(PASSWORDS.billing) },
      endpoints: [{ kind: 'private', host: '10.0.0.5', port: 3306 }],
    }),
  );
  const a1 = str(
    keep(
      await step(60, () =>
        authorize(ctx, { actor: ada, ...onBob, policy: { type: 'rotate', intervalSeconds: 3600, overlapSeconds: 120 }, databaseAccount: { username: 'bob_ro', password: new Secret(PASSWORDS.bobRo) } }),
      ),
    ).accessId,
  );
  keep(await step(120, () => view(bob)));
  keep(await step(180, () => view(ada)));
  const a2 = str(keep(await step(300, () => rotate(ctx, { actor: bob, ...onBob }))).accessId);
  // The manual rotation restarted the cadence: the scheduler rotates at 300 + 3600.
  clock.set(at(3900));
  await scheduler.idle();
  const a3 = str(keep(await step(3950, () => view(bob))).accessId);
  await step(4000, () => revoke(ctx, { actor: ada, ...onBob, mode: 'recycle' }));
  const a4 = str(keep(await step(4100, () => authorize(ctx, { actor: dan, ...onBob, policy: { type: 'expire', expiresAt: at(5000) } }))).accessId);
  keep(await step(4200, () => view(bob)));
  // The scheduler records the expiry when it gets to it (here 30 s late), at the key's notAfter.
  clock.set(at(5030));
  await scheduler.idle();
  await step(5100, () => revoke(ctx, { actor: bob, ...onBob, mode: 'release' }));
  await step(5200, () => submitTicket(ctx, { actor: bob, ...orders, ticketId: 'tk-bob-orders', policy: { type: 'system' }, reason: 'monthly reports, read only' }));
  const a5 = str((await step(5300, () => approveTicket(ctx, { actor: ada, ticketId: 'tk-bob-orders' }))).accessId);
  keep(await step(5400, () => view(bob)));
  await step(5500, () =>
    submitTicket(ctx, {
      actor: bob,
      instanceId: 'billing-db',
      ticketId: 'tk-bob-billing',
      policy: { type: 'rotate', intervalSeconds: 86400 },
      reason: 'quarter-end "close" checks',
      databaseAccount: { username: 'bob_rw', password: new Secret(PASSWORDS.bobRw) },
    }),
  );
  await step(5600, () => rejectTicket(ctx, { actor: dan, ticketId: 'tk-bob-billing', reason: 'use the reports replica, not billing' }));
  const carol = str(keep(await step(5700, () => authorize(ctx, { actor: ada, ...orders, userId: 'carol', policy: { type: 'system' } }))).accessId);
  await step(6000, () => disableProxy(ctx, { actor: ada, ...orders }));
  await scheduler.stop();
  await projector.stop();

  const stored: StoredEvent[] = [];
  for await (const e of store.readAll()) stored.push(e);
  await store.close();
  // Every value under a sealed field or the verifiers, at any depth, as the store holds it.
  const recorded: string[] = [];
  const collect = (value: unknown, secret: boolean): void => {
    if (typeof value === 'string' && secret) recorded.push(value);
    else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) collect(v, secret || k === 'secretSealed' || k === 'passwordSealed' || k === 'verifiers');
    }
  };
  for (const e of stored) collect(e.data, false);
  history = { path, ids: { a1, a2, a3, a4, a5, carol }, secrets: [...plain, ...recorded], stored };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// What bob's history is, written out by hand: [at, event, instance, actor, accessId, detail].
const bobRows = (): (readonly [string, string, string, string, string, string])[] => {
  const { a1, a2, a3, a4, a5 } = history.ids;
  return [
    [at(60), 'AccessGranted', 'orders-db', 'ada (admin)', a1, 'granted directly by ada; policy rotate every 3600 s, overlap 120 s; custom account bob_ro'],
    [at(120), 'AccessKeyViewed', 'orders-db', 'bob (user)', a1, 'secret viewed by bob'],
    [at(180), 'AccessKeyViewed', 'orders-db', 'ada (admin)', a1, 'secret viewed by ada'],
    [at(300), 'AccessKeyRotated', 'orders-db', 'bob (user)', a2, `manual rotation; previous key ${a1} ends at once`],
    [at(3900), 'AccessKeyRotated', 'orders-db', 'keyward (system)', a3, `scheduled rotation; previous key ${a2} works until ${at(4020)}`],
    [at(3950), 'AccessKeyViewed', 'orders-db', 'bob (user)', a3, 'secret viewed by bob'],
    [at(4000), 'AccessRevoked', 'orders-db', 'ada (admin)', a3, 'revoked, mode recycle: the grant stays listed as revoked'],
    [at(4100), 'AccessGranted', 'orders-db', 'dan (dba)', a4, `granted directly by dan; policy expires ${at(5000)}; proxy account proxy_acct`],
    [at(4200), 'AccessKeyViewed', 'orders-db', 'bob (user)', a4, 'secret viewed by bob'],
    [at(5030), 'AccessKeyExpired', 'orders-db', 'keyward (system)', a4, `expired at ${at(5000)}`],
    [at(5100), 'AccessRevoked', 'orders-db', 'bob (user)', a4, 'revoked, mode release: the grant leaves the listings'],
    [at(5200), 'TicketSubmitted', 'orders-db', 'bob (user)', '-', `ticket tk-bob-orders submitted; policy system; the proxy's own account; reason "monthly reports, read only"`],
    [at(5300), 'AccessGranted', 'orders-db', 'ada (admin)', a5, 'granted from ticket tk-bob-orders approved by ada; policy system; proxy account proxy_acct'],
    [at(5300), 'TicketApproved', 'orders-db', 'ada (admin)', a5, 'ticket tk-bob-orders approved'],
    [at(5400), 'AccessKeyViewed', 'orders-db', 'bob (user)', a5, 'secret viewed by bob'],
    [at(5500), 'TicketSubmitted', 'billing-db', 'bob (user)', '-', 'ticket tk-bob-billing submitted; policy rotate every 86400 s; custom account bob_rw; reason "quarter-end \\"close\\" checks"'],
    [at(5600), 'TicketRejected', 'billing-db', 'dan (dba)', '-', 'ticket tk-bob-billing rejected; reason "use the reports replica, not billing"'],
  ];
};

const PROXY_ENABLED_ORDERS = [at(0), 'ProxyEnabled', 'orders-db', '-', 'ada (admin)', '-', 'proxy enabled, epoch 1; proxy account proxy_acct; owner ada'] as const;
const PROXY_DISABLED_ORDERS = [at(6000), 'ProxyDisabled', 'orders-db', '-', 'ada (admin)', '-', 'proxy disabled, epoch 1 ended: every grant made under it is revoked'] as const;
const asTableRow = ([when, event, instance, actor, accessId, detail]: readonly string[]) => [when, event, instance, 'bob', actor, accessId, detail];

/** The table's cells: columns are padded and separated by two spaces or more, and no cell holds two spaces. */
const tableRows = (text: string): string[][] => {
  const [header, ...rows] = text.split('\n');
  expect(header?.split(/ {2,}/)).toEqual(['AT', 'EVENT', 'INSTANCE', 'USER', 'ACTOR', 'ACCESSID', 'DETAIL']);
  return rows.map((r) => r.split(/ {2,}/));
};


const jsonLines = (text: string): TimelineEntry[] => text.split('\n').map((l) => JSON.parse(l) as TimelineEntry);

describe('keyward audit timeline', () => {
  it("--user: the user's every event on every instance, oldest first, with actors, AccessIDs and details", async () => {
    const r = await audit(['--user', 'bob']);
    expect(r).toMatchObject({ code: ExitCode.OK, stderr: '' });
    expect(tableRows(r.stdout)).toEqual(bobRows().map(asTableRow));
  });

  it("--instance: the instance's proxy events and everyone's grants on it, nothing of another instance", async () => {
    const r = await audit(['--instance', 'orders-db']);
    expect(r.code).toBe(ExitCode.OK);
    const ordersBob = bobRows().filter((row) => row[2] === 'orders-db').map(asTableRow);
    const carol = [at(5700), 'AccessGranted', 'orders-db', 'carol', 'ada (admin)', history.ids.carol, 'granted directly by ada; policy system; proxy account proxy_acct'];
    expect(tableRows(r.stdout)).toEqual([PROXY_ENABLED_ORDERS, ...ordersBob, carol, PROXY_DISABLED_ORDERS]);

    const billing = await audit(['--instance', 'billing-db']);
    expect(tableRows(billing.stdout).map((row) => [row[1], row[3], row[6]])).toEqual([
      ['ProxyEnabled', '-', 'proxy enabled, epoch 1; proxy account billing_acct; owner ada; endpoints private 10.0.0.5:3306'],
      ['TicketSubmitted', 'bob', bobRows()[15]?.[5]],
      ['TicketRejected', 'bob', bobRows()[16]?.[5]],
    ]);
  });

  it('--instance and --user: that user on that instance, with the proxy events that ended their access', async () => {
    const r = await audit(['--instance', 'orders-db', '--user', 'bob']);
    const ordersBob = bobRows().filter((row) => row[2] === 'orders-db').map(asTableRow);
    expect(tableRows(r.stdout)).toEqual([PROXY_ENABLED_ORDERS, ...ordersBob, PROXY_DISABLED_ORDERS]);
    // A user alone never brings in the proxy's events.
    expect(tableRows((await audit(['--user', 'carol'])).stdout).map((row) => row[1])).toEqual(['AccessGranted']);
  });

  it('--from is inclusive and --to exclusive, on the time each event happened', async () => {
    const r = await audit(['--user', 'bob', '--from', at(3900), '--to', at(5030)]);
    expect(tableRows(r.stdout)).toEqual(bobRows().slice(4, 9).map(asTableRow));
    // Any RFC 3339 UTC spelling of the same instant cuts at the same place.
    const same = await audit(['--user', 'bob', '--from', '2027-03-01t10:05:00z', '--to', '2027-03-01T10:23:50.000000Z']);
    expect(same.stdout).toBe(r.stdout);
    // Consecutive ranges share their boundary and count the event on it once.
    const before = tableRows((await audit(['--user', 'bob', '--to', at(5300)])).stdout);
    const after = tableRows((await audit(['--user', 'bob', '--from', at(5300)])).stdout);
    expect([...before, ...after]).toEqual(bobRows().map(asTableRow));
    expect(after[0]?.[1]).toBe('AccessGranted');
    const empty = await audit(['--user', 'bob', '--from', at(7000)]);
    expect(empty.stdout.split('\n').slice(1)).toEqual(['(none)']);
  });

  it('--json: one entry per line, the same rows, positions in the order recorded', async () => {
    const r = await audit(['--user', 'bob', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    const entries = jsonLines(r.stdout);
    const roles: Record<string, string> = { ada: 'admin', dan: 'dba', bob: 'user', keyward: 'system' };
    expect(entries).toEqual(
      bobRows().map(([when, event, instanceId, actor, accessId, detail]) => {
        const actorId = actor.split(' ')[0] ?? '';
        return {
          at: when,
          position: expect.any(String) as unknown,
          instanceId,
          userId: 'bob',
          event,
          actor: actorId,
          actorRole: roles[actorId],
          accessId: accessId === '-' ? null : accessId,
          previousAccessId: event === 'AccessKeyRotated' ? (when === at(300) ? history.ids.a1 : history.ids.a2) : null,
          detail,
        };
      }),
    );
    // Each position is where the store holds an event of that type, in the store's order.
    const byPosition = new Map(history.stored.map((e, i) => [e.position, { type: e.type, index: i }]));
    const found = entries.map((e) => byPosition.get(e.position));
    expect(found.map((f) => f?.type)).toEqual(entries.map((e) => e.event));
    const order = found.map((f) => f?.index ?? -1);
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(new Set(order).size).toBe(order.length);

    // Nothing at all when nothing matched: no blank line for a tool to trip on.
    expect(await audit(['--user', 'nobody', '--json'])).toEqual({ code: ExitCode.OK, stdout: '', stderr: '' });
  });

  it('--csv: a header and one row per entry, equal to the JSON lines; a detail with commas or quotes is quoted', async () => {
    const csv = await audit(['--instance', 'billing-db', '--user', 'bob', '--csv']);
    expect(csv.code).toBe(ExitCode.OK);
    const json = jsonLines((await audit(['--instance', 'billing-db', '--user', 'bob', '--json'])).stdout);
    const [header, ...rows] = parseCsv(csv.stdout);
    expect(header).toEqual(['at', 'position', 'instanceId', 'userId', 'event', 'actor', 'actorRole', 'accessId', 'previousAccessId', 'detail']);
    expect(rows).toEqual(json.map((e) => (header ?? []).map((k) => e[k as keyof TimelineEntry] ?? '')));
    expect(rows).toHaveLength(3);
    expect(csv.stdout).toContain(',"ticket tk-bob-billing rejected; reason ""use the reports replica, not billing"""\r\n');
    expect(csv.stdout).toContain(',"ticket tk-bob-billing submitted; policy rotate every 86400 s; custom account bob_rw; reason ""quarter-end \\""close\\"" checks"""\r\n');

    const all = parseCsv((await audit(['--user', 'bob', '--csv'])).stdout);
    expect(all.slice(1).map((row) => row[9])).toEqual(bobRows().map((row) => row[5]));
  });

  it('never prints a secret, a password, a sealed value or a verifier, in any format or filter', async () => {
    const { secrets } = history;
    // The five pairs handed out and viewed (A1 to A5), carol's, four passwords, and what the store holds sealed.
    const sealedFields = history.stored.flatMap((e) => JSON.stringify(e.data).match(/"(secretSealed|passwordSealed)"/g) ?? []);
    expect(sealedFields.length).toBeGreaterThanOrEqual(10);
    expect(secrets.length).toBeGreaterThanOrEqual(4 + 6 + sealedFields.length);
    expect(secrets.every((s) => s.length >= 20)).toBe(true);
    for (const filter of [['--user', 'bob'], ['--instance', 'orders-db'], ['--instance', 'billing-db'], ['--user', 'carol']]) {
      for (const format of [[], ['--json'], ['--csv']]) {
        const r = await audit([...filter, ...format]);
        expect(r.code).toBe(ExitCode.OK);
        const leaked = secrets.filter((s) => r.stdout.includes(s) || r.stderr.includes(s));
        expect(leaked, [...filter, ...format].join(' ')).toEqual([]);
        expect(r.stdout).not.toMatch(/sealed|verifier|password/i);
      }
    }
  });

  it('refuses bad flags with the usage exit code, printing nothing on stdout', async () => {
    const bad = [
      [],
      ['--from', at(0)],
      ['--user', 'bob', '--from', 'yesterday'],
      ['--user', 'bob', '--to', '2027-02-30T00:00:00Z'],
      ['--user', 'bob', '--from', '2027-03-01T10:00:00+01:00'],
      ['--user', 'bob', '--from', at(100), '--to', at(100)],
      ['--user', 'bob', '--json', '--csv'],
      ['--user', 'bob', '--since', at(0)],
      ['--user', 'bob', 'extra'],
      ['--instance', 'orders db'],
      ['--user'],
    ];
    for (const argv of bad) {
      const r = await audit(argv);
      expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: ExitCode.USAGE, stdout: '' });
      expect(r.stderr).toContain('(see keyward audit timeline --help)');
    }
    const json = await audit(['--user', 'bob', '--json', '--from', 'soon']);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toMatchObject({ code: 'USAGE' });
  });

  it('a store that is not there is an error, not an empty history, and is not created', async () => {
    const missing = join(dir, 'no-such.db');
    const r = await audit(['--user', 'bob'], missing);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.USAGE, stdout: '' });
    expect(r.stderr).toContain('no event store');
    expect(existsSync(missing)).toBe(false);
  });

  it('says in its help which end of the range is inclusive', () => {
    expect(AUDIT_TIMELINE.help()).toMatch(/--from T .*inclusive/);
    expect(AUDIT_TIMELINE.help()).toMatch(/--to T .*exclusive/);
  });
});
