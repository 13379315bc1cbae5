// The MySQL-protocol endpoint of one instance: accepts clients, keeps their sessions by
// AccessID, and closes every session of a key the moment the proxy-node SDK says the key
// stopped being valid (or every session, once the node may no longer vouch for any key).
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Outcome, ProxyNode, ProxyNodeLogger } from '../proxy-node/index.js';
import type { SqlAuditLog } from './audit-log.js';
import { killQuery } from './kill.js';
import type { Greeting } from './packets.js';
import { listen } from '../service/http.js';
import { Session } from './session.js';

export interface MysqlProxyOptions {
  readonly node: Pick<ProxyNode, 'verifyMysqlNative' | 'onInvalidated' | 'nodeId' | 'metrics'>;
  readonly instanceId: string;
  readonly database: { readonly host: string; readonly port: number };
  readonly listen: { readonly host: string; readonly port: number };
  /** PEM certificate and key: clients must then use TLS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly audit: SqlAuditLog;
  readonly log?: ProxyNodeLogger;
  readonly handshakeTimeoutMs?: number;
  /** How often the node's staleness is looked at (default 1000 ms). */
  readonly staleCheckMs?: number;
}

export interface MysqlProxyCounts {
  readonly connections: number;
  readonly open: number;
  readonly logins: Readonly<Record<string, number>>;
  readonly statements: Readonly<Record<string, number>>;
  readonly closed: Readonly<Record<string, number>>;
}

export interface MysqlProxy {
  readonly port: number;
  counts(): MysqlProxyCounts;
  close(): Promise<void>;
}

const bump = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

// Session ids are handed to clients as the connection id. Far above the database's own thread
// ids, so a client's `KILL QUERY <id>` never names another user's connection on the database.
const FIRST_SESSION_ID = 0x80000000;

export const startMysqlProxy = async (options: MysqlProxyOptions): Promise<MysqlProxy> => {
  const { node, instanceId, audit, log } = options;
  const tls: SecureContext | undefined = options.tls === undefined ? undefined : createSecureContext({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' });
  const sessions = new Set<Session>();
  const sockets = new Set<Socket>();
  let known: Greeting | undefined;
  let nextId = FIRST_SESSION_ID;
  const stats = { connections: 0, logins: {} as Record<string, number>, statements: {} as Record<string, number>, closed: {} as Record<string, number> };

  const server: Server = createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const session = new Session(socket, {
      id: nextId++ >>> 0,
      instanceId,
      database: options.database,
      knownGreeting: () => known,
      learnGreeting: (g) => { known = g; },
      verify: (accessId, salt, scramble) => node.verifyMysqlNative(instanceId, accessId, salt, scramble),
      kill: (account, threadId) => {
        killQuery(options.database, account, threadId).catch((e: unknown) => {
          log?.warn({ instanceId, threadId, err: e instanceof Error ? e.message : String(e) }, 'mysql proxy: the statement of an invalidated session could not be killed');
        });
      },
      tls,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      nodeId: node.nodeId,
      audit: (input) => { audit.record(input); },
      onLogin: (outcome: Outcome | 'handshake') => { bump(stats.logins, outcome); },
      onStatement: (command, ok) => { bump(stats.statements, `${command}/${ok ? 'ok' : 'error'}`); },
      opened: (s) => sessions.add(s),
      closed: (s, reason) => {
        if (sessions.delete(s)) bump(stats.closed, reason.startsWith('invalidated') ? 'invalidated' : reason);
      },
    });
    session.start().catch(() => undefined);
  });

  const stopListening = node.onInvalidated((event) => {
    if (event.instanceId !== instanceId) return;
    for (const session of sessions) if (session.accessId === event.accessId) session.invalidate(event.reason);
  });
  // The SDK refuses new logins once stale; sessions it let in earlier are closed too, since a
  // revocation may be what it missed.
  const staleCheck = setInterval(() => {
    if (!node.metrics().stale) return;
    for (const session of sessions) session.invalidate('stale');
  }, options.staleCheckMs ?? 1000);
  staleCheck.unref();

  const port = await listen(server, options.listen.port, options.listen.host);

  return {
    port,
    counts: () => ({ connections: stats.connections, open: sessions.size, logins: { ...stats.logins }, statements: { ...stats.statements }, closed: { ...stats.closed } }),
    close: async () => {
      clearInterval(staleCheck);
      stopListening();
      const closed = new Promise<void>((resolve) => server.close(() => { resolve(); }));
      for (const session of sessions) session.end('proxy-stopping');
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
};
