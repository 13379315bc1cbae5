// What the proxy records for auditors: every login (accepted or refused), every statement,
// every session it ends, on JetStream (API.md, "SQL audit records"). Records carry who, which
// key, which instance, when, what and how it went; never the AccessSecret, never the database
// account's password, and string literals of statements that set passwords are blanked.
import { randomUUID } from 'node:crypto';
import { headers, type JetStreamManager, type NatsConnection } from 'nats';
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

export interface SqlAuditLog {
  record(input: SqlAuditInput): void;
  /** Records published, and those the NATS client refused. */
  counts(): { published: number; failed: number };
}

/** The stream that keeps the records; created, or given this prefix's subjects, by every proxy at start. */
export const ensureSqlAuditStream = (jsm: JetStreamManager, prefix: string): Promise<void> => ensureStream(jsm, SQL_AUDIT_STREAM, sqlAuditSubjects(prefix));

/**
 * Plain publishes the stream captures, not a JetStream publish per statement: the statement's
 * answer never waits for NATS. While NATS is away the client buffers them and sends them on
 * reconnection; past the staleness bound the proxy refuses everything, so little can pile up.
 * Nats-Msg-Id makes a resend after a reconnection count once.
 */
export const sqlAuditLog = (nc: NatsConnection, prefix: string, clock: () => number = Date.now): SqlAuditLog => {
  let published = 0;
  let failed = 0;
  const encoder = new TextEncoder();
  return {
    record(input) {
      const record = { id: randomUUID(), at: new Date(clock()).toISOString(), ...input };
      const h = headers();
      h.set('Nats-Msg-Id', record.id);
      try {
        nc.publish(sqlAuditSubject(prefix, input.instanceId), encoder.encode(JSON.stringify(record)), { headers: h });
        published++;
      } catch {
        failed++;
      }
    },
    counts: () => ({ published, failed }),
  };
};
