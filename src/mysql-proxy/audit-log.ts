// What the proxy records for auditors: every login (accepted or refused), every statement,
// every session it ends, on JetStream (API.md, "SQL audit records"). Records carry who, which
// key, which instance, when, what and how it went; never the AccessSecret, never the database
// account's password, and string literals of statements that set passwords are blanked.
import { randomUUID } from 'node:crypto';
import { headers, type JetStreamManager, type NatsConnection } from 'nats';
import { AccessId } from '../../domain/index.js';
import { Refusal, type Refused } from '../proxy-node/index.js';
import { ensureStream } from '../relay/relay.js';

export const SQL_AUDIT_STREAM = 'KEYWARD_SQL_AUDIT';
export const sqlAuditSubjects = (prefix: string): string => `${prefix}.audit.sql.>`;
export const sqlAuditSubject = (prefix: string, instanceId: string): string => `${prefix}.audit.sql.${instanceId}`;
/** The statement as recorded: its first 1,000 characters. */
export const STATEMENT_CHARS = 1000;

interface Common {
  readonly id: string;
  readonly at: string;
  readonly instanceId: string;
  readonly accessId: string;
  /** Null when the AccessID is unknown to the node. */
  readonly userId: string | null;
  readonly nodeId: string;
  readonly session: string;
  readonly via: 'mysql' | 'https';
  readonly client: string;
}

export type SqlAuditRecord =
  | (Common & { readonly kind: 'login'; readonly ok: true; readonly databaseUser: string })
  | (Common & { readonly kind: 'login'; readonly ok: false; readonly reason: string })
  | (Common & {
      readonly kind: 'statement';
      readonly command: 'query' | 'prepare' | 'execute' | 'init-db';
      readonly statement: string;
      readonly truncated: boolean;
      /** Rows returned, or rows affected when there was no result set. */
      readonly rows: number;
      readonly durationMs: number;
      readonly error: { readonly code: number; readonly message: string } | null;
    })
  | (Common & { readonly kind: 'closed'; readonly reason: string });

export type SqlAuditInput = SqlAuditRecord extends infer R ? (R extends SqlAuditRecord ? Omit<R, 'id' | 'at'> : never) : never;

// A statement that sets a password carries it as a string literal: every literal of such a
// statement is blanked. Others are kept as they are, as database audit logs keep them.
const SETS_PASSWORD = /\b(IDENTIFIED|PASSWORD)\b/i;
const STRING_LITERAL = /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/g;

export const recordedStatement = (sql: string): { statement: string; truncated: boolean } => {
  const safe = SETS_PASSWORD.test(sql) ? sql.replace(STRING_LITERAL, "'<redacted>'") : sql;
  return { statement: safe.slice(0, STATEMENT_CHARS), truncated: safe.length > STATEMENT_CHARS };
};

/**
 * What a client gave as its AccessID, as recorded and repeated back: only something of an
 * AccessID's form; a client that pasted its secret there must not find it in the audit trail.
 */
export const recordedAccessId = (text: string | null): string => (text !== null && AccessId.is(text) ? text : '(malformed)');

/** Why a login was refused, as recorded. */
export const recordedRefusal = (r: Refused): string => (r.reason === Refusal.REVOKED ? `revoked: ${r.revokedReason}` : r.reason);

export interface SqlAuditLog {
  record(input: SqlAuditInput): void;
  /** Records handed to NATS, and those the NATS client refused. */
  counts(): { published: number; failed: number };
  /** Hands what is waiting to NATS now (before a drain at shutdown). */
  flush(): void;
}

/** A message carries one record per line; readers split it. */
export const recordsOf = (data: Uint8Array): unknown[] =>
  new TextDecoder()
    .decode(data)
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return undefined;
      }
    });

/** The stream that keeps the records; created, or given this prefix's subjects, by every proxy at start. */
export const ensureSqlAuditStream = (jsm: JetStreamManager, prefix: string): Promise<void> => ensureStream(jsm, SQL_AUDIT_STREAM, sqlAuditSubjects(prefix));

export interface SqlAuditBatching {
  /** Records per message at most (default 256). */
  readonly maxRecords?: number;
  /** How long a record may wait for others (default 20 ms). */
  readonly maxDelayMs?: number;
}

/**
 * Plain publishes the stream captures, never awaited: a statement's answer does not wait for
 * NATS. Records are sent in batches, one message of JSON lines per batch: a message per
 * statement would cost the NATS server more than the proxy spends relaying the statement.
 * While NATS is away the client buffers them and sends them on reconnection; past the
 * staleness bound the proxy refuses everything, so little can pile up. Nats-Msg-Id (the
 * first record's id) makes a resend after a reconnection count once.
 */
export const sqlAuditLog = (nc: NatsConnection, prefix: string, clock: () => number = Date.now, batching: SqlAuditBatching = {}): SqlAuditLog => {
  const maxRecords = batching.maxRecords ?? 256;
  const maxDelayMs = batching.maxDelayMs ?? 20;
  let published = 0;
  let failed = 0;
  const encoder = new TextEncoder();
  const waiting = new Map<string, { firstId: string; lines: string[] }>();
  let timer: NodeJS.Timeout | undefined;

  const send = (subject: string): void => {
    const batch = waiting.get(subject);
    if (batch === undefined) return;
    waiting.delete(subject);
    const h = headers();
    h.set('Nats-Msg-Id', batch.firstId);
    try {
      nc.publish(subject, encoder.encode(`${batch.lines.join('\n')}\n`), { headers: h });
      published += batch.lines.length;
    } catch {
      failed += batch.lines.length;
    }
  };
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    for (const subject of [...waiting.keys()]) send(subject);
  };

  return {
    record(input) {
      const record = { id: randomUUID(), at: new Date(clock()).toISOString(), ...input };
      const subject = sqlAuditSubject(prefix, input.instanceId);
      const batch = waiting.get(subject) ?? { firstId: record.id, lines: [] };
      waiting.set(subject, batch);
      batch.lines.push(JSON.stringify(record));
      if (batch.lines.length >= maxRecords) send(subject);
      else timer ??= setTimeout(flush, maxDelayMs);
    },
    counts: () => ({ published, failed }),
    flush,
  };
};
