import type { NatsConnection } from 'nats';
import type { AppContext } from '../app/context.js';

/**
 * Healthy while the projections follow the store, the store answers a read, and NATS is
 * connected: what a load balancer or supervisor needs to know to route or restart.
 */
/** `nc` absent: a process that needs no NATS (the scheduler alone) is judged without it. */
export const health = async (ctx: AppContext, nc?: NatsConnection): Promise<{ ok: boolean; details: Record<string, unknown> }> => {
  let store = 'ok';
  try {
    await ctx.store.readStream('health-probe');
  } catch (e) {
    store = e instanceof Error ? e.name : 'unavailable';
  }
  const projections = ctx.projector.failure === undefined ? 'ok' : 'stopped';
  const nats = nc === undefined ? 'not used' : nc.isClosed() ? 'closed' : 'connected';
  return { ok: store === 'ok' && projections === 'ok' && nats !== 'closed', details: { store, projections, nats, position: ctx.projector.position ?? null } };
};
