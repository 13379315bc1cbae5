// The console in front of a real keyward: a nats-server, keyward with its relay on a SQLite
// file, the console with an accounts file of its own, and a proxy node for checking that a
// pair the console showed (or replaced) really works (or no longer does).
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { SealingKey } from '../../src/crypto.js';
import { hashPassword, writeAccount, type Role } from '../../src/console/accounts.js';
import { startConsole, type RunningConsole } from '../../src/console/server.js';
import { createLogger } from '../../src/log.js';
import { startProxyNode, type ProxyNode } from '../../src/proxy-node/index.js';
import { startKeyward, type Keyward } from './keyward.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

export const PASSWORD = 'correct horse battery staple';

export interface ConsoleWorld {
  readonly nats: NatsServer;
  readonly kw: Keyward;
  readonly node: ProxyNode;
  readonly console: RunningConsole;
  readonly url: string;
  readonly accountsFile: string;
  /** Adds a console account with PASSWORD. */
  addUser(userId: string, role: Role): Promise<void>;
  stop(): Promise<void>;
}

export const startConsoleWorld = async (options: { trustedHeaders?: { user: string; role: string }; instances?: readonly string[] } = {}): Promise<ConsoleWorld> => {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-console-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const nats = await startNatsServer();
    stops.push(() => nats.dispose());
    const proxyKey = SealingKey.generate();
    const kw = await startKeyward(nats.url, { proxyKey });
    stops.push(() => kw.stop());
    const node = startProxyNode({ instances: options.instances ?? 'all', proxyKey, servers: nats.url });
    stops.push(() => node.close());
    await node.ready;
    const nc: NatsConnection = await connect({ servers: nats.url });
    stops.push(() => nc.close());
    const accountsFile = join(dir, 'console-users.json');
    const running = await startConsole({ nc, prefix: 'keyward', listen: { host: '127.0.0.1', port: 0 }, accountsFile, trustedHeaders: options.trustedHeaders, store: kw.ctx.store, log: createLogger({ level: 'silent' }) });
    stops.push(() => running.close());
    return {
      nats, kw, node, console: running, url: `http://127.0.0.1:${running.port}`, accountsFile, stop,
      addUser: async (userId, role) => { writeAccount(accountsFile, { userId, role, passwordHash: await hashPassword(PASSWORD) }); },
    };
  } catch (e) {
    await stop();
    throw e;
  }
};
