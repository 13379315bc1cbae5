// The NATS edge: every subject of API.md as an endpoint of the NATS service `keyward` in
// queue group `keyward`, so any number of processes share the load and $SRV.PING, INFO
// and STATS answer for them.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as E from 'fp-ts/lib/Either.js';
import type { KV, Msg, NatsConnection, Service, ServiceMsg, Subscription } from 'nats';
import type { Logger } from 'pino';
import { decodeWith, MAX_REQUEST_BYTES } from '../../domain/index.js';
import type { AppContext } from '../app/context.js';
import { Enforcement } from '../app/enforcement.js';
import { KEYS_BUCKET, kvKey } from '../keys/kv.js';
import type { EnforcementReport } from '../proxy-node/enforcement.js';
import { ROUTES, type Route } from '../app/routes.js';
import { StoreIncompatibleError, StoreUnavailableError } from '../store/errors.js';
import { headerCodeOf, type ApiError } from './errors.js';
import { health } from './health.js';

export const SERVICE_NAME = 'keyward';
export const QUEUE_GROUP = 'keyward';
export const SERVICE_VERSION = '1.0.0';

export interface Outcome {
  /** The endpoint, as `cmd.authorize`: a bounded set of values, fit for a metric label. */
  readonly endpoint: string;
  readonly outcome: string;
  readonly seconds: number;
}

export interface ServiceOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly ctx: AppContext;
  readonly log: Logger;
  /** Called once per request with its outcome (`ok` or an error code), for metrics. */
  readonly observe?: (o: Outcome) => void;
}

export interface RunningService {
  readonly service: Service;
  /** Stops taking requests, then waits for those in flight to be answered. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const failure = (code: ApiError['code'], message: string, details: ApiError['details'] = []): ApiError => ({ code, message, details });

/** The body as a JSON object, or the error that says why not. */
const parseBody = (data: Uint8Array): E.Either<ApiError, unknown> => {
  if (data.length > MAX_REQUEST_BYTES) return E.left(failure('PAYLOAD_TOO_LARGE', `a request may be at most ${MAX_REQUEST_BYTES} bytes; this one has ${data.length}`));
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch {
    return E.left(failure('BAD_JSON', 'the body is not valid UTF-8 JSON'));
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return E.left(failure('BAD_JSON', 'the body is not a JSON object'));
  return E.right(body);
};

const commandIdOf = (body: unknown): string | undefined => {
  const id = (body as { commandId?: unknown } | null)?.commandId;
  return typeof id === 'string' && id.length <= 128 ? id : undefined;
};

export const startService = async ({ nc, prefix, ctx: given, log, observe }: ServiceOptions): Promise<RunningService> => {
  const inFlight = new Set<Promise<void>>();
  const enforcement = new Enforcement();
  let kv: KV | undefined;
  const ctx: AppContext = {
    ...given,
    enforcement: {
      view: enforcement,
      kvRevisionOf: async (instanceId, accessId) => {
        try {
          kv ??= await nc.jetstream().views.kv(KEYS_BUCKET, { bindOnly: true });
          return (await kv.get(kvKey(instanceId, accessId)))?.revision;
        } catch {
          return undefined; // no bucket yet: no relay has run
        }
      },
    },
  };
  // Not in the queue group: every service process hears every node.
  const reports = nc.subscribe(`${prefix}.enforcement.>`, {
    callback: (_err, msg: Msg) => {
      try {
        // Reports come from proxy nodes, which are other programs: only their shape is trusted.
        const report = JSON.parse(decoder.decode(msg.data)) as { kind?: unknown; nodeId?: unknown };
        if ((report.kind === 'applied' || report.kind === 'heartbeat') && typeof report.nodeId === 'string') enforcement.record(report as EnforcementReport, Date.now());
      } catch {
        // a report that is not JSON is not ours to act on
      }
    },
  });

  const answer = async (route: Route, subject: string, msg: ServiceMsg): Promise<void> => {
    const started = performance.now();
    const parsed = parseBody(msg.data);
    let result: E.Either<ApiError, unknown>;
    if (E.isLeft(parsed)) {
      result = parsed;
    } else {
      const request = decodeWith(route.codec)(parsed.right);
      if (E.isLeft(request)) {
        result = E.left(failure('VALIDATION', request.left.message, request.left.details));
      } else {
        try {
          const reply = await route.run(ctx, request.right);
          result = E.isLeft(reply) ? E.left(failure(reply.left.code, reply.left.message, reply.left.details)) : reply;
        } catch (e) {
          if (e instanceof StoreUnavailableError || e instanceof StoreIncompatibleError) {
            log.error({ subject, err: { name: e.name, message: e.message } }, 'event store unavailable');
            result = E.left(failure('UNAVAILABLE', 'the event store cannot be reached; nothing was recorded'));
          } else {
            const incident = randomUUID();
            log.error({ subject, incident, err: e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : String(e) }, 'internal error');
            result = E.left(failure('INTERNAL', `internal error ${incident}; it was logged`));
          }
        }
      }
    }
    const body = E.isLeft(parsed) ? undefined : parsed.right;
    const seconds = (performance.now() - started) / 1000;
    const outcome = E.isLeft(result) ? result.left.code : 'ok';
    const actor = (body as { actor?: { userId?: unknown; role?: unknown } } | undefined)?.actor;
    log.info(
      { subject, commandId: commandIdOf(body), actor: typeof actor?.userId === 'string' ? `${actor.userId}/${String(actor.role)}` : undefined, outcome, ms: Math.round(seconds * 1000 * 10) / 10 },
      E.isLeft(result) ? result.left.message : 'ok',
    );
    observe?.({ endpoint: `${route.kind}.${route.name}`, outcome, seconds });
    if (E.isLeft(result)) {
      const { code, message, details } = result.left;
      msg.respondError(headerCodeOf(code), message, encoder.encode(JSON.stringify({ ok: false, error: { code, message, details } })));
    } else {
      msg.respond(encoder.encode(JSON.stringify({ ok: true, result: result.right })));
    }
  };

  const service = await nc.services.add({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    queue: QUEUE_GROUP,
    description: 'per-user AccessKey pairs for databases behind a secure access proxy',
  });
  for (const route of ROUTES) {
    const subject = `${prefix}.${route.kind}.${route.name}`;
    service.addEndpoint(`${route.kind}-${route.name.replaceAll('.', '-')}`, {
      subject,
      handler: (err, msg) => {
        if (err !== null) {
          log.error({ subject, err: { name: err.name, message: err.message } }, 'endpoint stopped');
          return;
        }
        const work = answer(route, subject, msg).catch((e: unknown) => {
          log.error({ subject, err: String(e) }, 'reply failed');
        });
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work));
      },
    });
  }

  const healthSubscription: Subscription = nc.subscribe(`${prefix}.health`, {
    queue: QUEUE_GROUP,
    callback: (_err, msg: Msg) => {
      void health(ctx, nc).then(({ ok, details }) => msg.respond(encoder.encode(JSON.stringify({ status: ok ? 'ok' : 'unavailable', ...details }))));
    },
  });

  // Subscriptions reach the server asynchronously: once this returns, requests find us.
  await nc.flush();

  return {
    service,
    stop: async () => {
      healthSubscription.unsubscribe();
      reports.unsubscribe();
      await service.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
};
