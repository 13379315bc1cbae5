// One request and its reply, as API.md writes them. Every way it can fail becomes a Failure the
// CLI prints and exits on; the connection lives only as long as the request.
import { natsServers, type NatsAuth } from '../config.js';
import { connect, ErrorCode, NatsError, type NatsConnection } from 'nats';
import { printableUrl } from './common.js';

export interface Failure {
  /** An API.md error code, or TIMEOUT / USAGE, which only the CLI can tell. */
  readonly code: string;
  readonly message: string;
  readonly details: readonly { readonly path: string; readonly message: string }[];
}

export type Reply = { readonly ok: true; readonly result: Record<string, unknown> } | { readonly ok: false; readonly error: Failure };

export interface Target {
  readonly natsUrl: string;
  readonly natsAuth: NatsAuth;
  readonly prefix: string;
  readonly timeoutMs: number;
}

export const failure = (code: string, message: string): Reply => ({ ok: false, error: { code, message, details: [] } });

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

export const readReply = (data: Uint8Array): Reply => {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    body = undefined;
  }
  if (isObject(body) && body.ok === true && isObject(body.result)) return { ok: true, result: body.result };
  const error = isObject(body) ? body.error : undefined;
  if (isObject(body) && body.ok === false && isObject(error) && typeof error.code === 'string' && typeof error.message === 'string') {
    const details = Array.isArray(error.details) ? error.details.filter((d): d is Failure['details'][number] => isObject(d) && typeof d.path === 'string' && typeof d.message === 'string') : [];
    return { ok: false, error: { code: error.code, message: error.message, details } };
  }
  return failure('INTERNAL', 'the reply is not a keyward reply (API.md, Replies)');
};

const natsCode = (e: unknown): string | undefined => (e instanceof NatsError ? e.code : undefined);

// nats.js's ErrorCode is an enum of strings, but its errors carry plain strings.
const REFUSED: readonly string[] = [ErrorCode.ConnectionRefused, ErrorCode.ConnectionTimeout, ErrorCode.Timeout];
const NO_RESPONDERS: string = ErrorCode.NoResponders;
const TIMEOUT: string = ErrorCode.Timeout;

export const send = async (target: Target, subject: string, body: Record<string, unknown>, retryHint: string): Promise<Reply> => {
  const where = printableUrl(target.natsUrl);
  const full = `${target.prefix}.${subject}`;
  let nc: NatsConnection;
  try {
    nc = await connect({ ...target.natsAuth, servers: natsServers(target.natsUrl), name: 'keyward-cli', timeout: target.timeoutMs, reconnect: false });
  } catch (e) {
    const code = natsCode(e);
    const refused = code === undefined || REFUSED.includes(code);
    return failure('UNAVAILABLE', refused ? `no NATS server answers at ${where}` : `the NATS server at ${where} refused the connection (${code})`);
  }
  try {
    const msg = await nc.request(full, new TextEncoder().encode(JSON.stringify(body)), { timeout: target.timeoutMs });
    return readReply(msg.data);
  } catch (e) {
    const code = natsCode(e);
    if (code === undefined) throw e;
    if (code === NO_RESPONDERS) return failure('UNAVAILABLE', `no keyward service answers on ${full} at ${where} (is it running, with this prefix?)`);
    if (code === TIMEOUT) return failure('TIMEOUT', `no reply on ${full} within ${target.timeoutMs} ms${retryHint}`);
    return failure('UNAVAILABLE', `NATS at ${where} failed the request (${code})`);
  } finally {
    await nc.close();
  }
};
