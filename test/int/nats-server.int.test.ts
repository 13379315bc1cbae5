// The launcher other NATS tests stand on: if it leaks servers or directories, or restarts
// somewhere else, every suite above it inherits the fault.
import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect, Events, StringCodec, type NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { startNatsServer } from '../support/nats-server.js';

const sc = StringCodec();

const echo = (nc: NatsConnection, subject: string) =>
  nc.subscribe(subject, { callback: (_error, msg) => { msg.respond(sc.encode(`echo ${sc.decode(msg.data)}`)); } });

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const refusesConnections = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => { resolve(true); });
  });

const nextReconnect = async (nc: NatsConnection): Promise<void> => {
  for await (const status of nc.status()) if (status.type === Events.Reconnect) return;
};

describe('a nats-server started for a test', () => {
  it('answers request/reply on 127.0.0.1', async () => {
    const server = await startNatsServer();
    try {
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
      const nc = await connect({ servers: server.url });
      try {
        echo(nc, 'test.echo');
        const reply = await nc.request('test.echo', sc.encode('hi'), { timeout: 2000 });
        expect(sc.decode(reply.data)).toBe('echo hi');
      } finally {
        await nc.close();
      }
    } finally {
      await server.dispose();
    }
  });

  it('works with await using', async () => {
    let pid: number | undefined;
    {
      await using server = await startNatsServer();
      pid = server.pid;
    }
    expect(pid).toBeDefined();
    expect(isAlive(pid ?? 0)).toBe(false);
  });

  it('comes back on the same port with the same JetStream data, and a reconnecting client carries on', async () => {
    const server = await startNatsServer();
    try {
      const { port } = server;
      const firstPid = server.pid;
      const nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      try {
        echo(nc, 'test.echo');
        const jsm = await nc.jetstreamManager();
        await jsm.streams.add({ name: 'KEPT', subjects: ['kept.>'] });
        await nc.jetstream().publish('kept.one', sc.encode('1'));

        const reconnected = nextReconnect(nc);
        await server.restart();
        await reconnected;

        expect(server.port).toBe(port);
        expect(server.pid).not.toBe(firstPid);
        const reply = await nc.request('test.echo', sc.encode('again'), { timeout: 2000 });
        expect(sc.decode(reply.data)).toBe('echo again');
        expect((await jsm.streams.info('KEPT')).state.messages).toBe(1);
      } finally {
        await nc.close();
      }
    } finally {
      await server.dispose();
    }
  });

  it('after dispose leaves no process, no directory and nothing listening', async () => {
    const server = await startNatsServer();
    const { pid, storeDir, port } = server;
    try {
      expect(pid !== undefined && isAlive(pid)).toBe(true);
      expect(existsSync(storeDir)).toBe(true);
    } finally {
      await server.dispose();
    }
    expect(isAlive(pid ?? 0)).toBe(false);
    expect(server.pid).toBeUndefined();
    expect(existsSync(storeDir)).toBe(false);
    expect(await refusesConnections(port)).toBe(true);
    await server.dispose();
  });

  it('stop is idempotent and restart brings a stopped server back', async () => {
    const server = await startNatsServer();
    try {
      await server.stop();
      await server.stop();
      expect(await refusesConnections(server.port)).toBe(true);
      await server.restart();
      const nc = await connect({ servers: server.url });
      await nc.close();
    } finally {
      await server.dispose();
    }
  });

  it('a server that cannot start fails with its stderr in the message and leaves nothing behind', async () => {
    const failure = await startNatsServer({ args: ['--no_such_flag'] }).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toMatch(/exited before it was ready/);
    expect(message).toMatch(/nats-server stderr[\s\S]*no_such_flag/);
    const dir = /-sd (\S+)/.exec(message)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir ?? '')).toBe(false);
  });

  it('a missing binary says how to install one', async () => {
    await expect(startNatsServer({ binary: '/nonexistent/nats-server' })).rejects.toThrow(/ENOENT[\s\S]*apt-get install nats-server/);
  });
});
