// `keyward proxy` as an operator runs it: a process of its own beside keyward, found by the
// addresses it prints, serving MySQL clients and SQL over HTTP, with metrics, and ended by SIGTERM.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { INSTANCE, startProxyWorld, type ProxyWorld } from '../support/mysql-proxy-world.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let w: ProxyWorld;
beforeAll(async () => {
  w = await startProxyWorld();
}, 60_000);
afterAll(async () => {
  await (w as ProxyWorld | undefined)?.stop();
}, 60_000);

const hostPort = (text: string): { host: string; port: number } => {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) };
};

describe('keyward proxy', () => {
  it('serves MySQL and SQL over HTTP with the AccessKey pair, counts it in its metrics, and stops on SIGTERM', async () => {
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'proxy', '--instance', INSTANCE, '--listen', '127.0.0.1:0', '--https', '127.0.0.1:0', '--plain-http', '--metrics', '127.0.0.1:0', '--nats', w.nats.url];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, KEYWARD_PROXY_KEY: w.proxyKey.exportBase64() }, stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const ready = await new Promise<{ mysql: string; sql: string; metrics: string }>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (l) => {
          if (l.startsWith('proxy ready ')) resolve(JSON.parse(l.slice('proxy ready '.length)) as { mysql: string; sql: string; metrics: string });
        });
        void exited.then((code) => { reject(new Error(`keyward proxy exited with ${String(code)}: ${stderr.join('\n')}`)); });
      });
      const p = await w.authorize('olga');
      await w.atNode(p);
      const out = await w.mariadb(p, 'SELECT CURRENT_USER()', undefined, hostPort(ready.mysql).port);
      expect(out.trim()).toBe(`${w.accounts.proxy.username}@%`);
      const http = hostPort(ready.sql);
      const answer = await fetch(`http://${http.host}:${http.port}/v1/sql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-keyward-access-id': p.accessId, 'x-keyward-access-secret': p.secret },
        body: JSON.stringify({ sql: 'SELECT 6 * 7 AS answer' }),
      });
      expect(await answer.json()).toEqual({ columns: ['answer'], rows: [[42]] });
      const m = hostPort(ready.metrics);
      const metrics = await (await fetch(`http://${m.host}:${m.port}/metrics`)).text();
      expect(metrics).toContain('keyward_proxy_logins_total{via="mysql",outcome="ok"} 1');
      expect(metrics).toContain('keyward_proxy_statements_total{via="https",command="query",outcome="ok"} 1');
      expect(await (await fetch(`http://${m.host}:${m.port}/healthz`)).json()).toMatchObject({ status: 'ok', ready: true, stale: false });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      for (const s of w.secrets) expect(stderr.join('\n')).not.toContain(s);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('refuses unusable settings with exit 2 and says which', async () => {
    const env = { KEYWARD_PROXY_KEY: w.proxyKey.exportBase64() };
    const cases: [string[], RegExp][] = [
      [[], /give --instance ID/],
      [['--instance', INSTANCE, '--https', '127.0.0.1:0'], /--https needs --tls-cert and --tls-key/],
      [['--instance', INSTANCE, '--tls-cert', '/nonexistent.pem'], /give --tls-cert and --tls-key together/],
      [['--instance', INSTANCE, '--listen', 'nowhere'], /--listen must be HOST:PORT/],
    ];
    for (const [flags, message] of cases) {
      const run = await runCli(['proxy', ...flags], { env });
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 2, stderr: expect.stringMatching(message) as unknown });
    }
    const noKey = await runCli(['proxy', '--instance', INSTANCE]);
    expect(noKey).toMatchObject({ code: 2, stderr: expect.stringMatching(/KEYWARD_PROXY_KEY is not set/) as unknown });
  }, 60_000);
});
