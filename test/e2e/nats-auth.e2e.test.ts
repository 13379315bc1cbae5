// keyward against a NATS server that wants credentials, as production ones do: the service,
// a proxy node and the CLI each authenticate with the settings of the environment, and each
// says plainly when it is refused.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { natsAuth, ConfigError } from '../../src/config.js';
import { SealingKey } from '../../src/crypto.js';
import { runCli } from '../support/cli.js';
import { startNatsServer } from '../support/nats-server.js';
import { startProxyNodeProcess } from '../support/proxy-node-process.js';
import { startProcess } from '../support/service-process.js';

const USER = { KEYWARD_NATS_USER: 'keyward', KEYWARD_NATS_PASSWORD: 'nats-password-1' };
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('NATS credentials', () => {
  it('are used by the service, a proxy node and the CLI, and a refusal is said as one', async () => {
    const nats = await startNatsServer({ args: ['--user', USER.KEYWARD_NATS_USER, '--pass', USER.KEYWARD_NATS_PASSWORD], probe: { user: USER.KEYWARD_NATS_USER, pass: USER.KEYWARD_NATS_PASSWORD } });
    cleanups.push(() => nats.dispose());
    const dir = mkdtempSync(join(tmpdir(), 'keyward-nats-auth-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const proxyKey = SealingKey.generate().exportBase64();
    const env = { KEYWARD_NATS_URL: nats.url, KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}`, KEYWARD_PROXY_KEY: proxyKey };

    const refused = startProcess(env);
    refused.serving.catch(() => undefined);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr.join('\n')).toMatch(/refused keyward's credentials/);

    const lines: string[] = [];
    const service = startProcess({ ...env, ...USER }, lines);
    cleanups.push(async () => {
      service.child.kill('SIGTERM');
      await service.exited;
    });
    await service.serving;

    const cli = ['proxy', 'enable', '--as', 'ada:admin', '--instance', 'orders-db', '--db-user', 'app', '--db-password-stdin', '--json'];
    const anonymous = await runCli(cli, { env: { KEYWARD_NATS_URL: nats.url }, stdin: 'app-password-1\n' });
    expect(anonymous.code).toBe(8);
    const enabled = await runCli(cli, { env: { KEYWARD_NATS_URL: nats.url, ...USER }, stdin: 'app-password-1\n' });
    expect({ code: enabled.code, stderr: enabled.stderr }).toMatchObject({ code: 0 });
    const authorized = await runCli(['authorize', '--as', 'ada:admin', '--instance', 'orders-db', '--user', 'bob', '--policy', 'system', '--json'], { env: { KEYWARD_NATS_URL: nats.url, ...USER } });
    expect(authorized.code).toBe(0);
    const pair = JSON.parse(authorized.stdout) as { accessId: string; accessSecret: string };

    const node = await startProxyNodeProcess({ natsUrl: nats.url, proxyKey, instances: ['orders-db'], nodeId: 'authed', env: USER });
    cleanups.push(() => node.stop());
    expect(await node.verify(pair.accessId, pair.accessSecret)).toMatchObject({ ok: true, userId: 'bob' });
    for (const output of [...lines, ...service.stderr, node.stderr(), enabled.stdout, enabled.stderr]) expect(output).not.toContain(USER.KEYWARD_NATS_PASSWORD);
  }, 90_000);
});

describe('natsAuth', () => {
  it('takes one way to authenticate, with both halves, and files it can read', () => {
    expect(natsAuth({})).toEqual({});
    expect(natsAuth({ KEYWARD_NATS_TOKEN: 't0ken' })).toEqual({ token: 't0ken' });
    expect(natsAuth(USER)).toEqual({ user: 'keyward', pass: 'nats-password-1' });
    const problems = (env: NodeJS.ProcessEnv): readonly string[] => {
      try {
        natsAuth(env);
        return [];
      } catch (e) {
        return e instanceof ConfigError ? e.problems : [String(e)];
      }
    };
    expect(problems({ ...USER, KEYWARD_NATS_TOKEN: 't' })).toEqual([expect.stringMatching(/give one way to authenticate/)]);
    expect(problems({ KEYWARD_NATS_USER: 'keyward' })).toEqual([expect.stringMatching(/go together/)]);
    expect(problems({ KEYWARD_NATS_CREDS: '/nonexistent.creds' })).toEqual(['KEYWARD_NATS_CREDS: cannot read /nonexistent.creds']);
    expect(problems({ KEYWARD_NATS_CERT: '/nonexistent.pem' })).toContain('KEYWARD_NATS_CERT and KEYWARD_NATS_KEY go together');
  });
});
