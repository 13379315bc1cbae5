// The console as operators start it: inside `npm start`'s process, and alone as
// `keyward console`, each found by what it prints and signed in to over HTTP.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { hashPassword, readAccounts, writeAccount } from '../../src/console/accounts.js';
import { runCli } from '../support/cli.js';
import { startNatsServer } from '../support/nats-server.js';
import { startProcess } from '../support/service-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PASSWORD = 'a console password';
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Signs in over HTTP and returns the proxies page's status and text. */
const signIn = async (base: string, userId: string): Promise<{ status: number; body: string }> => {
  const form = await fetch(`${base}/sign-in`);
  const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const preCookie = (form.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
  const posted = await fetch(`${base}/sign-in`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: preCookie },
    body: new URLSearchParams({ _csrf: token, userId, password: PASSWORD }).toString(),
  });
  const session = posted.headers.getSetCookie().find((c) => c.startsWith('__Host-kw_session='))?.split(';')[0] ?? '';
  const page = await fetch(`${base}/proxies`, { headers: { cookie: session }, redirect: 'manual' });
  return { status: page.status, body: await page.text() };
};

describe('the console as a process', () => {
  it('is served by npm start beside the service, with the accounts file beside the store', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.dispose());
    const dir = mkdtempSync(join(tmpdir(), 'keyward-console-process-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    writeAccount(join(dir, 'console-users.json'), { userId: 'ada', role: 'admin', passwordHash: await hashPassword(PASSWORD) });
    const lines: string[] = [];
    const p = startProcess({ KEYWARD_NATS_URL: nats.url, KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}`, KEYWARD_CONSOLE: '127.0.0.1:0' }, lines);
    cleanups.push(async () => {
      p.child.kill('SIGKILL');
      await p.exited;
    });
    await p.serving;
    const where = (JSON.parse(lines.find((l) => l.includes('keyward is serving')) ?? '{}') as { console?: string }).console ?? '';
    expect(where).toMatch(/^127\.0\.0\.1:\d+$/);
    const page = await signIn(`http://${where}`, 'ada');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Enable the proxy of an instance');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 60_000);

  it('runs alone as keyward console, and stops on SIGTERM', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.dispose());
    const dir = mkdtempSync(join(tmpdir(), 'keyward-console-alone-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const accounts = join(dir, 'users.json');
    writeAccount(accounts, { userId: 'ada', role: 'admin', passwordHash: await hashPassword(PASSWORD) });
    const env = { ...process.env, KEYWARD_NATS_URL: nats.url, KEYWARD_CONSOLE: '127.0.0.1:0', KEYWARD_CONSOLE_USERS: accounts, KEYWARD_STORE: `sqlite:${join(dir, 'missing.db')}` };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'console'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
    const base = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        const m = /^console ready (http:\/\/\S+)$/.exec(l);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      void exited.then((code) => { reject(new Error(`keyward console exited with ${String(code)}: ${stderr.join('\n')}`)); });
    });
    expect((await signIn(base, 'ada')).status).toBe(200);
    // Without an event store it says so, and serves everything but the history.
    expect(stderr.join('\n')).toContain('no history pages');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('add-user makes the accounts folder when missing, and leaves a malformed file as it is with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-console-add-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const fresh = join(dir, 'not', 'yet', 'users.json');
    const made = await runCli(['console', 'add-user', '--user', 'ada', '--role', 'admin', '--file', fresh], { stdin: `${PASSWORD}\n` });
    expect(made.code).toBe(0);
    expect(readAccounts(fresh).map((a) => a.userId)).toEqual(['ada']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{not json');
    const refused = await runCli(['console', 'add-user', '--user', 'ada', '--role', 'admin', '--file', bad], { stdin: `${PASSWORD}\n` });
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('is not JSON') as unknown });
    expect(readFileSync(bad, 'utf8')).toBe('{not json');
    expect(`${made.stdout}${made.stderr}${refused.stdout}${refused.stderr}`).not.toContain(PASSWORD);
  }, 60_000);
});
