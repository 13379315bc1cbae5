// Real HTTP on a real socket: orchestrators and Prometheus judge keyward by status codes and
// content types, so those are what is checked.
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type Health, type HttpServer } from '../../src/service/http.js';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const start = async (health: () => Promise<Health>, metrics = () => '# TYPE up gauge\nup 1\n', onError?: (error: unknown) => void) => {
  server = await startHttpServer({ port: 0, health, metrics, ...(onError === undefined ? {} : { onError }) });
  return `http://127.0.0.1:${server.port}`;
};

const healthy = () => Promise.resolve({ ok: true, details: { nats: 'connected', position: '42' } });

describe('the health and metrics server', () => {
  it('listens on the port it reports when given port 0', async () => {
    const base = await start(healthy);
    expect(server?.port).toBeGreaterThan(0);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('answers /healthz with 200 and the details while healthy', async () => {
    const base = await start(healthy);
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ status: 'ok', nats: 'connected', position: '42' });
  });

  it('answers /healthz with 503 while unhealthy, and a detail cannot claim otherwise', async () => {
    const base = await start(() => Promise.resolve({ ok: false, details: { nats: 'disconnected', status: 'ok' } }));
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'unavailable', nats: 'disconnected' });
  });

  it('answers 503 without the message when the health check throws, and reports the error', async () => {
    const errors: unknown[] = [];
    const base = await start(() => Promise.reject(new Error('cannot reach nats://user:pw@host')), undefined, (error) => errors.push(error));
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('{"status":"unavailable"}');
    expect(errors).toHaveLength(1);
  });

  it('serves /metrics as Prometheus text 0.0.4, query string or not', async () => {
    const base = await start(healthy);
    for (const path of ['/metrics', '/metrics?x=1']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await response.text()).toBe('# TYPE up gauge\nup 1\n');
    }
  });

  it('answers 500 when rendering metrics throws', async () => {
    const base = await start(healthy, () => { throw new Error('broken'); }, () => undefined);
    expect((await fetch(`${base}/metrics`)).status).toBe(500);
  });

  it('answers 404 for any other path', async () => {
    const base = await start(healthy);
    for (const path of ['/', '/health', '/metrics/x', '/healthz/']) expect((await fetch(`${base}${path}`)).status).toBe(404);
  });

  it('answers 405 with Allow: GET for another method on a known path', async () => {
    const base = await start(healthy);
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const response = await fetch(`${base}/metrics`, { method });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET');
    }
  });

  it('closes while a client keeps its connection alive', async () => {
    const base = await start(healthy);
    await fetch(`${base}/healthz`, { headers: { connection: 'keep-alive' } });
    await server?.close();
    server = undefined;
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
