// `keyward <command>` as operators and scripts run it: a child process against a real
// nats-server and keyward, reading tables, JSON and exit codes.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { proxyStreamId } from '../../domain/index.js';
import { SealingKey } from '../../src/crypto.js';
import { runCli, type CliRun } from '../support/cli.js';
import { startKeyward, type Keyward } from '../support/keyward.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const INSTANCE = 'orders-db';
const admin = { userId: 'ada', role: 'admin' };
const owner = { userId: 'olivia', role: 'user' };
// Unlike anything else in the output, so a leak cannot hide behind a coincidence.
const PROXY_PASSWORD = `proxy-pw-${randomUUID()}`;
const CUSTOM_PASSWORD = `custom-pw-${randomUUID()}`;

let nats: NatsServer | undefined;
let kw: Keyward | undefined;
let runs: CliRun[] = [];

const service = (): Keyward => {
  if (kw === undefined) throw new Error('keyward is not running');
  return kw;
};

beforeEach(async () => {
  runs = [];
  nats = await startNatsServer();
  kw = await startKeyward(nats.url);
});

afterEach(async () => {
  try {
    await kw?.stop();
  } finally {
    kw = undefined;
    await nats?.dispose();
    nats = undefined;
  }
  const printed = runs.map((r) => r.stdout + r.stderr).join('\n');
  expect(printed).not.toContain(PROXY_PASSWORD);
  expect(printed).not.toContain(CUSTOM_PASSWORD);
});

const keyward = async (args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliRun> => {
  const run = await runCli(args, { ...options, env: { KEYWARD_NATS_URL: nats?.url ?? '', ...options.env } });
  runs.push(run);
  return run;
};

const succeeded = (run: CliRun): string => {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return run.stdout;
};
const json = (run: CliRun): Record<string, unknown> => JSON.parse(succeeded(run)) as Record<string, unknown>;
const rowOf = (table: string, first: string): string => table.split('\n').find((l) => l.startsWith(`${first} `)) ?? '';

const enableProxy = async (): Promise<void> => {
  const r = await service().request('cmd.proxy.enable', { actor: owner, instanceId: INSTANCE, databaseAccount: { username: 'keyward_proxy', password: PROXY_PASSWORD } });
  expect(r.ok).toBe(true);
};

describe('the operator walk-through', () => {
  it('enables a proxy, authorizes, views, rotates, lists, revokes and decides a ticket', { timeout: 90_000 }, async () => {
    const enabled = succeeded(await keyward(['proxy', 'enable', '--instance', INSTANCE, '--db-user', 'keyward_proxy', '--db-password-stdin', '--endpoint', 'private:10.0.0.5:3306', '--as', 'olivia:user'], { stdin: `${PROXY_PASSWORD}\n` }));
    expect(enabled).toMatch(/^Owner\s+olivia$/m);
    // The line end that `echo` adds is not part of the password.
    const [proxyEnabled] = await service().ctx.store.readStream(proxyStreamId(INSTANCE));
    const sealed = (proxyEnabled?.data as { databaseAccount: { passwordSealed: string } }).databaseAccount.passwordSealed;
    expect(service().ctx.masterKey.unseal(sealed).reveal()).toBe(PROXY_PASSWORD);

    const bob = json(await keyward(['authorize', '--instance', INSTANCE, '--user', 'bob', '--policy', 'rotate', '--interval', '3600', '--as', 'olivia:user', '--json']));
    expect(Object.keys(bob).sort()).toEqual(['accessId', 'accessSecret', 'instanceId', 'notAfter', 'policy', 'rotatesAt', 'userId']);
    expect(bob).toMatchObject({ userId: 'bob', policy: { type: 'rotate', intervalSeconds: 3600 }, notAfter: null });
    expect(bob.accessSecret).toMatch(/^[A-Za-z0-9]{40}$/);

    const erin = succeeded(await keyward(['authorize', '--instance', INSTANCE, '--user', 'erin', '--policy', 'system', '--db-user', 'report_reader', '--db-password-stdin', '--as', 'ada:admin'], { stdin: CUSTOM_PASSWORD }));
    expect(erin).toMatch(/^AccessSecret\s+[A-Za-z0-9]{40}$/m);

    const viewed = succeeded(await keyward(['view', '--instance', INSTANCE, '--user', 'bob', '--as', 'bob:user']));
    expect(viewed).toMatch(new RegExp(`^AccessID\\s+${String(bob.accessId)}$`, 'm'));
    expect(viewed).toMatch(new RegExp(`^AccessSecret\\s+${String(bob.accessSecret)}$`, 'm'));

    const rotated = json(await keyward(['rotate', '--instance', INSTANCE, '--user', 'bob', '--as', 'bob:user', '--json']));
    expect(rotated.previousAccessId).toBe(bob.accessId);
    expect(rotated.accessSecret).not.toBe(bob.accessSecret);

    const table = succeeded(await keyward(['grants', '--instance', INSTANCE, '--as', 'ada:admin']));
    expect(table.split('\n')[0]).toMatch(/^USER\s+STATUS\s+ACCESSID\s+POLICY\s+ACCOUNT\s+NEXT ROTATION\s+EXPIRES\s+ORIGIN$/);
    expect(rowOf(table, 'bob')).toMatch(new RegExp(`^bob\\s+active\\s+${String(rotated.accessId)}\\s+rotate every 1h\\s+keyward_proxy \\(default\\)\\s+\\S+Z\\s+-\\s+direct by olivia$`));
    expect(rowOf(table, 'erin')).toMatch(/^erin\s+active\s+\w{24}\s+system\s+report_reader \(custom\)\s+-\s+-\s+direct by ada$/);
    // A listing is never a way to a secret.
    expect(table).not.toContain(String(rotated.accessSecret));

    const listed = json(await keyward(['grants', '--instance', INSTANCE, '--as', 'ada:admin', '--json']));
    const direct = await service().request('query.grants', { actor: admin, instanceId: INSTANCE });
    expect(listed).toEqual(direct.result);

    expect(succeeded(await keyward(['revoke', '--instance', INSTANCE, '--user', 'erin', '--mode', 'recycle', '--as', 'erin:user']))).toMatch(/^Revoked at\s+\S+Z$/m);
    const revoked = json(await keyward(['grants', '--instance', INSTANCE, '--status', 'revoked', '--as', 'ada:admin', '--json']));
    expect(revoked.items).toMatchObject([{ userId: 'erin', status: 'revoked' }]);

    expect(succeeded(await keyward(['ticket', 'submit', '--instance', INSTANCE, '--policy', 'system', '--reason', 'quarterly report', '--ticket', 'tkt-1', '--as', 'frank:user']))).toMatch(/^Status\s+pending$/m);
    const approved = json(await keyward(['ticket', 'approve', '--ticket', 'tkt-1', '--as', 'olivia:user', '--json']));
    expect(approved).toMatchObject({ ticketId: 'tkt-1', status: 'approved' });
    expect(rowOf(succeeded(await keyward(['tickets', '--instance', INSTANCE, '--as', 'frank:user'])), 'tkt-1')).toMatch(new RegExp(`^tkt-1\\s+${INSTANCE}\\s+frank\\s+approved\\s+.*\\s+olivia\\s+${String(approved.accessId)}\\s+quarterly report$`));
  });
});

describe('exit codes follow the error codes', () => {
  const authorizeBob = ['authorize', '--instance', INSTANCE, '--user', 'bob', '--policy', 'system', '--as', 'ada:admin'];

  it('FORBIDDEN 4, NOT_FOUND 5, CONFLICT 6, VALIDATION 3, each one line on stderr', { timeout: 60_000 }, async () => {
    await enableProxy();
    succeeded(await keyward(authorizeBob));

    const forbidden = await keyward(['view', '--instance', INSTANCE, '--user', 'bob', '--as', 'olivia:user']);
    expect(forbidden).toMatchObject({ code: 4, stdout: '' });
    expect(forbidden.stderr).toMatch(/^keyward: FORBIDDEN: .+\n$/);

    const notFound = await keyward(['grant', '--instance', INSTANCE, '--user', 'nobody', '--as', 'ada:admin', '--json']);
    expect(notFound).toMatchObject({ code: 5, stdout: '' });
    expect(JSON.parse(notFound.stderr)).toMatchObject({ code: 'NOT_FOUND', details: [] });

    const conflict = await keyward(authorizeBob);
    expect(conflict).toMatchObject({ code: 6, stdout: '' });
    expect(conflict.stderr).toMatch(/^keyward: CONFLICT: /);

    const invalid = await keyward(['authorize', '--instance', INSTANCE, '--user', 'carol', '--policy', 'rotate', '--interval', '5', '--as', 'ada:admin']);
    expect(invalid).toMatchObject({ code: 3, stdout: '' });
    // The refused field is named by the flag that set it.
    expect(invalid.stderr).toContain('--interval (policy.intervalSeconds): must be');
    const invalidJson = await keyward(['authorize', '--instance', 'no such id', '--user', 'carol', '--policy', 'system', '--as', 'ada:admin', '--json']);
    expect(invalidJson.code).toBe(3);
    expect(JSON.parse(invalidJson.stderr)).toMatchObject({ code: 'VALIDATION', details: [{ path: 'instanceId' }] });
  });

  it('2 for a command line it cannot use, and nothing is sent', { timeout: 60_000 }, async () => {
    await enableProxy();
    const events = await service().eventCount();
    const logged = service().logs.length;
    const bad: (readonly string[])[] = [
      ['authorize', '--instance', INSTANCE, '--policy', 'system', '--as', 'ada:admin'],
      ['authorize', '--instance', INSTANCE, '--user', 'bob', '--policy', 'rotate', '--expires-at', '2030-01-01T00:00:00Z', '--as', 'ada:admin'],
      ['authorize', '--instance', INSTANCE, '--user', 'bob', '--policy', 'system'],
      ['revoke', '--instance', INSTANCE, '--user', 'bob', '--mode', 'shred', '--as', 'ada:admin'],
      ['grants', '--instance', INSTANCE, '--limit', 'ten', '--as', 'ada:admin'],
      // A password is never a flag; the refusal does not repeat it.
      ['proxy', 'enable', '--instance', 'x', '--db-user', 'u', `--db-password=${PROXY_PASSWORD}`, '--as', 'ada:admin'],
      ['proxy', 'enable', '--instance', 'x', '--db-user', 'u', PROXY_PASSWORD, '--as', 'ada:admin'],
      ['proxy', 'enable', '--instance', 'x', '--db-user', 'u', '--as', 'ada:admin'],
      ['no-such-command'],
    ];
    for (const args of bad) {
      const run = await keyward(args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toMatch(/^keyward: .+\n$/);
    }
    const asJson = await keyward(['grants', '--as', 'ada:admin', '--json']);
    expect(asJson.code).toBe(2);
    expect(JSON.parse(asJson.stderr)).toMatchObject({ code: 'USAGE' });
    expect(await service().eventCount()).toBe(events);
    expect(service().logs.length).toBe(logged);
  });

  it('8 when no NATS server answers, in one line that names the URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => { resolve(free); });
      });
    });
    const url = `nats://127.0.0.1:${port}`;
    const run = await keyward(['grants', '--instance', INSTANCE, '--as', 'ada:admin', '--nats', url]);
    expect(run).toEqual({ code: 8, stdout: '', stderr: `keyward: UNAVAILABLE: no NATS server answers at ${url}\n` });
  });

  it('8 when no keyward service listens on the prefix, 10 when the reply does not come in time', async () => {
    const none = await keyward(['grants', '--instance', INSTANCE, '--as', 'ada:admin', '--prefix', 'elsewhere']);
    expect(none.code).toBe(8);
    expect(none.stderr).toMatch(/^keyward: UNAVAILABLE: no keyward service answers on elsewhere\.query\.grants at nats:\/\/127\.0\.0\.1:\d+ .*\n$/);

    const silent = service().client.subscribe('slow.cmd.revoke');
    await service().client.flush();
    try {
      const late = await keyward(['revoke', '--instance', INSTANCE, '--user', 'bob', '--mode', 'recycle', '--as', 'ada:admin', '--prefix', 'slow', '--timeout', '300']);
      expect(late.code).toBe(10);
      // A command that timed out may have been recorded: the way to retry it safely is printed.
      expect(late.stderr).toMatch(/^keyward: TIMEOUT: no reply on slow\.cmd\.revoke within 300 ms; .* --command-id cli-[0-9a-f-]{36} /);
    } finally {
      silent.unsubscribe();
    }
  });
});

describe('long-running commands', () => {
  it('a proxy node told to stop before NATS ever answered exits at once, with 0', { timeout: 30_000 }, async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => { resolve(free); });
      });
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'proxy-node', '--instance', INSTANCE, '--nats', `nats://127.0.0.1:${port}`], {
      env: { ...process.env, KEYWARD_PROXY_KEY: SealingKey.generate().exportBase64(), KEYWARD_LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => { r('still running'); }, 8000))]);
    if (code === 'still running') child.kill('SIGKILL');
    expect(code).toBe(0);
  });
});

describe('keyward serve', () => {
  it('keeps serving until told to stop, then exits with 0', { timeout: 30_000 }, async () => {
    const nats = await startNatsServer();
    const dir = mkdtempSync(join(tmpdir(), 'keyward-serve-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      env: { ...process.env, KEYWARD_NATS_URL: nats.url, KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}`, KEYWARD_HTTP_PORT: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (l) => { if (l.includes('keyward is serving')) resolve(); });
        void exited.then(() => { reject(new Error('keyward serve exited before serving')); });
      });
      const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => { r('running'); }, 3000))]);
      expect(early).toBe('running');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
