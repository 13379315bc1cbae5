// Health and metrics for the orchestrator and Prometheus. It listens on loopback unless told
// otherwise: it needs no authentication only because it tells nothing secret, and it is
// still nobody else's business how many commands keyward refused.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';

export interface Health {
  readonly ok: boolean;
  readonly details: Record<string, unknown>;
}

export interface HttpServerOptions {
  /** 0 picks a free port; the one chosen is in the result. */
  readonly port: number;
  readonly host?: string;
  readonly health: () => Promise<Health>;
  readonly metrics: () => string;
  /** A failing health check or metrics render is answered without its message; this is where it goes. */
  readonly onError?: (error: unknown) => void;
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

const send = (res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void => {
  // Probes and scrapes must always see the current state, never a cached one.
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(body);
};

const sendJson = (res: ServerResponse, status: number, body: Record<string, unknown>): void => {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
};

const ROUTES = ['/healthz', '/metrics'] as const;
type Route = (typeof ROUTES)[number];
const isRoute = (path: string): path is Route => (ROUTES as readonly string[]).includes(path);

/**
 * A request's body, never more than `limit` bytes of it kept: 'too-large' as soon as it passes
 * them (said before the whole body has come: the rest is read and dropped, so the client
 * hears the answer), 'cut-off' when the request broke off.
 */
export const bodyOf = (req: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'cut-off'> => {
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => { resolve(Buffer.concat(chunks)); });
    req.once('error', () => { resolve('cut-off'); });
  });
};

/** Listens on host:port (port 0: a free one) and resolves with the port; rejects with the error (a port in use). */
export const listen = (server: NetServer, port: number, host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

export const startHttpServer = async (options: HttpServerOptions): Promise<HttpServer> => {
  const { health, metrics, onError = () => undefined } = options;

  const healthz = async (res: ServerResponse): Promise<void> => {
    let result: Health;
    try {
      result = await health();
    } catch (error) {
      onError(error);
      result = { ok: false, details: {} };
    }
    const status = result.ok ? 'ok' : 'unavailable';
    // `status` first and not overridable by a detail of the same name.
    sendJson(res, result.ok ? 200 : 503, Object.assign({ status }, result.details, { status }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!isRoute(path)) {
      sendJson(res, 404, { status: 'not found' });
      return;
    }
    if (req.method !== 'GET') {
      send(res, 405, 'application/json; charset=utf-8', JSON.stringify({ status: 'method not allowed' }), { allow: 'GET' });
      return;
    }
    switch (path) {
      case '/healthz':
        await healthz(res);
        return;
      case '/metrics':
        send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics());
        return;
      default: {
        const _: never = path;
        return;
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      onError(error);
      if (!res.headersSent) sendJson(res, 500, { status: 'error' });
      else res.destroy();
    });
  });

  const port = await listen(server, options.port, options.host ?? '127.0.0.1');

  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => { if (error === undefined) resolve(); else reject(error); });
        // A scraper's keep-alive connection would otherwise hold close() open until it times out.
        server.closeIdleConnections();
      }),
  };
};
