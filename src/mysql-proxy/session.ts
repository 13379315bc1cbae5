// One client connection of the MySQL proxy: the server side of the handshake (the client proves
// it holds the AccessSecret by mysql_native_password, checked against the key's verifier), then
// the client side towards the database with the grant's account, then a relay both ways that
// follows each command to its last packet, for the audit record and to know when it is idle.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Accepted, RefusalReason, VerifyResult } from '../proxy-node/index.js';
import { Refusal } from '../proxy-node/index.js';
import type { SqlAuditInput } from './audit-log.js';
import { recordedAccessId, recordedRefusal, recordedStatement } from './audit-log.js';
import {
  authSwitch, Cap, CAPS_REQUIRED, CAPS_WITHHELD, errPacket, greeting, handshakeResponse, isErr, isOk, NATIVE_PASSWORD, nativeScramble,
  packet, PacketReader, parseAuthSwitch, parseErr, parseGreeting, parseHandshakeResponse, type Greeting, type HandshakeResponse, type Packet,
} from './packets.js';
import { Command, Framer, ResponseTracker, UNANSWERED, type Done } from './responses.js';

/** Handshake packets are small; anything bigger is not a client. */
const HANDSHAKE_LIMIT = 16 * 1024;
/** A client command is relayed once whole; the protocol's own maximum per packet. */
const COMMAND_LIMIT = 0xffffff;
/** An ERR packet's header (9 bytes) and the first 512 bytes of its message. */
const ERROR_MESSAGE_BYTES = 9 + 512;
/** Enough bytes of a command to record its statement's first 1,000 characters (4 bytes each at most). */
const STATEMENT_BYTES = 1 + 4000;

export const ErrorCode = {
  ACCESS_DENIED: 1045,
  CONNECTION_KILLED: 1927,
  NOT_SUPPORTED: 1235,
  PACKET_TOO_LARGE: 1153,
  HANDSHAKE: 1043,
} as const;

export interface SessionDeps {
  readonly id: number;
  readonly instanceId: string;
  readonly database: { readonly host: string; readonly port: number };
  /** The database's greeting as last seen: its version and capabilities are offered to clients. */
  knownGreeting(): Greeting | undefined;
  learnGreeting(g: Greeting): void;
  verify(accessId: string, salt: Buffer, scramble: Buffer): VerifyResult;
  /** Stops what the database is still running for a session that was cut off. */
  kill(account: Accepted['databaseAccount'], threadId: number): void;
  readonly tls: SecureContext | undefined;
  readonly handshakeTimeoutMs: number;
  readonly nodeId: string;
  audit(input: SqlAuditInput): void;
  onLogin(outcome: 'ok' | RefusalReason | 'handshake'): void;
  onStatement(command: string, ok: boolean): void;
  opened(session: Session): void;
  closed(session: Session, reason: string): void;
}

export const refusalMessage = (r: Exclude<VerifyResult, Accepted>): string => {
  switch (r.reason) {
    case Refusal.UNKNOWN_KEY:
      return 'unknown AccessID';
    case Refusal.WRONG_SECRET:
      return 'wrong AccessSecret for this AccessID';
    case Refusal.REVOKED:
      return r.revokedReason === 'rotated' ? 'this AccessKey pair was replaced by a rotation: use the new pair' : `this AccessKey pair was revoked (${r.revokedReason})`;
    case Refusal.EXPIRED:
      return 'this AccessKey pair has expired';
    case Refusal.NOT_READY:
      return 'the proxy has not loaded its keys yet: try again in a moment';
    case Refusal.STALE:
      return 'the proxy has lost contact with keyward for too long to vouch for any key: try again later';
    case Refusal.INSTANCE_NOT_SERVED:
      return 'this proxy does not serve that instance';
    case Refusal.UNUSABLE_VALUE:
      return 'this key cannot be used at this proxy (see the proxy log)';
  }
};

const saltBytes = (): Buffer => {
  // Printable, never NUL: some clients treat the salt as a C string.
  const salt = randomBytes(20);
  for (let i = 0; i < salt.length; i++) salt[i] = 33 + ((salt[i] ?? 0) % 94);
  return salt;
};

/** Reads whole packets from a socket until `take` returns a value; errors if the socket ends first. */
const readPackets = <T>(socket: Socket, reader: PacketReader, take: (p: Packet) => T | undefined, timeoutMs: number): Promise<T> =>
  new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      // Held until the next reader listens: bytes that arrive meanwhile (a client's first
      // command right behind its login) must wait, not flow past with no one listening.
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };
    const drain = (): boolean => {
      for (let p = reader.next(); p !== null; p = reader.next()) {
        let value: T | undefined;
        try {
          value = take(p);
        } catch (e) {
          done();
          reject(e instanceof Error ? e : new Error(String(e)));
          return true;
        }
        if (value !== undefined) {
          done();
          resolve(value);
          return true;
        }
      }
      if (reader.tooLarge) {
        done();
        reject(new HandshakeError(ErrorCode.PACKET_TOO_LARGE, '08S01', 'packet too large for a handshake'));
        return true;
      }
      return false;
    };
    const onData = (chunk: Buffer): void => {
      reader.push(chunk);
      drain();
    };
    const onClose = (): void => {
      done();
      reject(new HandshakeError(ErrorCode.HANDSHAKE, '08S01', 'connection closed during the handshake', false));
    };
    const timer = setTimeout(() => {
      done();
      reject(new HandshakeError(ErrorCode.HANDSHAKE, '08S01', 'handshake timed out'));
    }, timeoutMs);
    if (drain()) return;
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.resume();
  });

class HandshakeError extends Error {
  constructor(
    readonly code: number,
    readonly sqlState: string,
    message: string,
    readonly answerable = true,
  ) {
    super(message);
  }
}

interface Backend {
  readonly socket: Socket;
  readonly reader: PacketReader;
  readonly greeting: Greeting;
}

type Identity = { readonly instanceId: string; readonly accessId: string; readonly userId: string | null; readonly nodeId: string; readonly session: string; readonly via: 'mysql'; readonly client: string };

export class Session {
  readonly id: number;
  accessId: string | null = null;
  userId: string | null = null;
  #client: Socket;
  #backend: Socket | undefined;
  #tracker: ResponseTracker | undefined;
  /** The client's socket is done with. */
  #ended = false;
  #opened = false;
  /** Why the session ended for the database, once it has. */
  #over: string | null = null;
  /** Why the key stopped being valid while the client was idle: its next command hears it. */
  #invalidated: string | null = null;
  /** The seq of the last packet of the command in flight, either way: an error we send goes next. */
  #lastSeq = 0;
  readonly #inFlight: { command: number; statement: string | null; truncated: boolean; startedAt: number }[] = [];
  readonly #prepared = new Map<number, string>();
  #grant: Accepted | undefined;
  #threadId = 0;
  readonly #client_: string;

  constructor(
    socket: Socket,
    private readonly deps: SessionDeps,
  ) {
    this.id = deps.id;
    this.#client = socket;
    this.#client_ = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.on('error', () => { this.end('client-disconnected'); });
    socket.on('close', () => { this.end('client-disconnected'); });
  }

  async start(): Promise<void> {
    const { deps } = this;
    let early: Promise<Backend> | undefined;
    // The first client of a proxy waits for the database's greeting, so what it is offered is
    // what the database speaks; later ones are offered that without a connection being opened
    // for a client that has not proven anything.
    let known = deps.knownGreeting();
    if (known === undefined) {
      early = this.#openBackend();
      known = (await early.catch((e: unknown) => { this.#refuseEarly(e); throw e; })).greeting;
    }
    const salt = saltBytes();
    const offered = ((known.capabilities & ~CAPS_WITHHELD) | (deps.tls ? Cap.SSL : 0)) >>> 0;
    const reader = new PacketReader(HANDSHAKE_LIMIT);
    this.#client.write(packet(0, greeting({ ...known, connectionId: this.id, salt, capabilities: offered, authPlugin: NATIVE_PASSWORD })));
    let response: HandshakeResponse;
    let seq = 1;
    try {
      let first = await readPackets(this.#client, reader, (p) => p, deps.handshakeTimeoutMs);
      let parsed = parseHandshakeResponse(first.payload);
      if (parsed?.kind === 'ssl') {
        if (deps.tls === undefined) throw new HandshakeError(ErrorCode.HANDSHAKE, '08S01', 'this proxy does not offer TLS');
        this.#client = await this.#startTls(reader);
        first = await readPackets(this.#client, reader, (p) => p, deps.handshakeTimeoutMs);
        parsed = parseHandshakeResponse(first.payload);
      } else if (deps.tls !== undefined && parsed !== null) {
        throw new HandshakeError(ErrorCode.ACCESS_DENIED, '28000', 'this proxy requires TLS: connect with SSL/TLS enabled');
      }
      if (parsed === null || parsed.kind !== 'response') throw new HandshakeError(ErrorCode.HANDSHAKE, '08S01', 'bad handshake');
      response = parsed;
      seq = first.seq;
      this.accessId = response.username;
      this.#identity = undefined;
      // A client that started with another method (caching_sha2_password, ed25519) is asked
      // to answer the same salt with mysql_native_password.
      if ((response.authPlugin !== null && response.authPlugin !== NATIVE_PASSWORD) || (response.authResponse.length !== 20 && response.authResponse.length !== 0)) {
        this.#client.write(packet(seq + 1, authSwitch(NATIVE_PASSWORD, salt)));
        const answer = await readPackets(this.#client, reader, (p) => p, deps.handshakeTimeoutMs);
        response = { ...response, authResponse: Buffer.from(answer.payload) };
        seq = answer.seq;
      }
    } catch (e) {
      void early?.then((b) => b.socket.destroy(), () => undefined);
      this.#failHandshake(e, seq); return;
    }
    const accessId = response.username;
    const verdict = deps.verify(accessId, salt, response.authResponse);
    if (!verdict.ok) {
      void early?.then((b) => b.socket.destroy(), () => undefined);
      deps.onLogin(verdict.reason);
      deps.audit({ kind: 'login', ok: false, reason: recordedRefusal(verdict), ...this.#who() });
      this.#client.end(packet(seq + 1, errPacket(ErrorCode.ACCESS_DENIED, '28000', `Access denied for AccessID '${recordedAccessId(accessId)}': ${refusalMessage(verdict)}`)));
      this.#ended = true;
      return;
    }
    this.userId = verdict.userId;
    this.#identity = undefined;
    this.#grant = verdict;
    let ok: Buffer;
    try {
      const backend = await (early ?? this.#openBackend());
      this.#threadId = backend.greeting.connectionId;
      ok = await this.#loginBackend(backend, response, verdict);
      const rest = reader.rest();
      this.#relay(backend, response.capabilities & backend.greeting.capabilities, rest);
    } catch (e) {
      deps.onLogin('handshake');
      const message = e instanceof HandshakeError ? e.message : 'the database could not be reached';
      const code = e instanceof HandshakeError ? e.code : 2003;
      deps.audit({ kind: 'login', ok: false, reason: `database: ${message}`, ...this.#who() });
      this.#client.end(packet(seq + 1, errPacket(code, e instanceof HandshakeError ? e.sqlState : 'HY000', message)));
      this.#ended = true;
      this.#backend?.destroy();
      return;
    }
    // The database's OK to the proxy's login is the client's OK, in the client's numbering.
    this.#client.write(packet(seq + 1, ok));
    deps.onLogin('ok');
    deps.audit({ kind: 'login', ok: true, databaseUser: verdict.databaseAccount.username, ...this.#who() });
    this.#opened = true;
    deps.opened(this);
  }

  /** Who the session's audit records name: made again only when the AccessID or the user is learnt, not per statement. */
  #identity: Identity | undefined;
  #who(): Identity {
    this.#identity ??= { instanceId: this.deps.instanceId, accessId: recordedAccessId(this.accessId), userId: this.userId, nodeId: this.deps.nodeId, session: String(this.id), via: 'mysql', client: this.#client_ };
    return this.#identity;
  }

  #refuseEarly(e: unknown): void {
    this.deps.onLogin('handshake');
    this.#client.end(packet(0, errPacket(2003, 'HY000', `the database behind this proxy cannot be reached${e instanceof HandshakeError ? `: ${e.message}` : ''}`)));
    this.#ended = true;
  }

  #failHandshake(e: unknown, seq: number): void {
    this.deps.onLogin('handshake');
    this.#ended = true;
    if (e instanceof HandshakeError && e.answerable && !this.#client.destroyed) this.#client.end(packet(seq + 1, errPacket(e.code, e.sqlState, e.message)));
    else this.#client.destroy();
  }

  async #startTls(reader: PacketReader): Promise<Socket> {
    const plain = this.#client;
    // A client may send its TLS hello right behind the SSLRequest, in the same segment, which
    // the proxy has then already read: TLS is laid over a stream that gives those bytes first.
    // Otherwise over the socket itself (nothing can arrive between the read of the SSLRequest
    // and this line: no I/O runs in between).
    const early = reader.rest();
    const secure = new TLSSocket(early.length === 0 ? plain : replaying(plain, early), { isServer: true, secureContext: this.deps.tls });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new HandshakeError(ErrorCode.HANDSHAKE, '08S01', 'TLS handshake timed out', false)); }, this.deps.handshakeTimeoutMs);
      secure.once('secure', () => { clearTimeout(timer); resolve(); });
      secure.once('error', () => { clearTimeout(timer); reject(new HandshakeError(ErrorCode.HANDSHAKE, '08S01', 'TLS handshake failed', false)); });
    });
    secure.setNoDelay(true);
    secure.on('error', () => { this.end('client-disconnected'); });
    secure.on('close', () => { this.end('client-disconnected'); });
    return secure;
  }

  #openBackend(): Promise<Backend> {
    const { host, port } = this.deps.database;
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      this.#backend = socket;
      socket.once('connect', () => { socket.off('error', reject); resolve(socket); });
      socket.once('error', reject);
    }).then(async (socket) => {
      const reader = new PacketReader(HANDSHAKE_LIMIT);
      const g = await readPackets(socket, reader, (p) => {
        if (isErr(p.payload)) throw new HandshakeError(parseErr(p.payload)?.code ?? 2003, 'HY000', `the database refused the connection: ${parseErr(p.payload)?.message ?? ''}`);
        const parsed = parseGreeting(p.payload);
        if (parsed === null) throw new HandshakeError(2003, 'HY000', 'the database sent a greeting the proxy cannot read');
        return parsed;
      }, this.deps.handshakeTimeoutMs);
      if ((g.capabilities & CAPS_REQUIRED) !== CAPS_REQUIRED) throw new HandshakeError(2003, 'HY000', 'the database does not speak protocol 4.1');
      this.deps.learnGreeting(g);
      return { socket, reader, greeting: g };
    });
  }

  /** Logs in to the database with the grant's account; resolves with the database's OK. */
  async #loginBackend(backend: Backend, client: HandshakeResponse, grant: Accepted): Promise<Buffer> {
    const caps = (client.capabilities & backend.greeting.capabilities & ~CAPS_WITHHELD) | Cap.PLUGIN_AUTH | (client.database === null ? 0 : Cap.CONNECT_WITH_DB);
    // The client chose from what the proxy offered, which came from this database's greeting;
    // a database that changed since (an upgrade) may not speak what the client now expects.
    if ((client.capabilities & ~CAPS_WITHHELD & ~backend.greeting.capabilities & ~Cap.PLUGIN_AUTH & ~Cap.CONNECT_WITH_DB) !== 0) {
      this.deps.learnGreeting(backend.greeting);
      throw new HandshakeError(2027, 'HY000', 'the database behind the proxy changed its capabilities: connect again');
    }
    const password = grant.databaseAccount.password.reveal();
    backend.socket.write(packet(1, handshakeResponse({
      capabilities: caps, maxPacket: client.maxPacket, charset: client.charset, username: grant.databaseAccount.username,
      authResponse: nativeScramble(password, backend.greeting.salt), database: client.database, authPlugin: NATIVE_PASSWORD,
    })));
    return readPackets(backend.socket, backend.reader, (p) => {
      if (isOk(p.payload)) return Buffer.from(p.payload);
      if (isErr(p.payload)) {
        const err = parseErr(p.payload);
        throw new HandshakeError(err?.code ?? ErrorCode.ACCESS_DENIED, '28000', `the database refused the grant's account: ${err?.message ?? ''}`);
      }
      const sw = parseAuthSwitch(p.payload);
      if (sw?.plugin === NATIVE_PASSWORD) {
        backend.socket.write(packet(p.seq + 1, nativeScramble(password, sw.data)));
        return undefined;
      }
      throw new HandshakeError(ErrorCode.NOT_SUPPORTED, 'HY000', `the database asked for the ${sw?.plugin ?? 'unknown'} method; the grant's account must use mysql_native_password`);
    }, this.deps.handshakeTimeoutMs);
  }

  #relay(backend: Backend, caps: number, early: Buffer): void {
    const client = this.#client;
    const server = backend.socket;
    this.#backend = server;
    server.on('error', () => { this.end('database-disconnected'); });
    server.on('close', () => { this.end('database-disconnected'); });
    this.#tracker = new ResponseTracker((caps & Cap.DEPRECATE_EOF) !== 0, (command, done) => { this.#done(command, done); });
    // 16 bytes tell every packet's kind and status; an error's message is kept for the audit.
    const framer = new Framer(16, (p) => {
      this.#lastSeq = p.seq;
      this.#tracker?.packet(p);
    }, ERROR_MESSAGE_BYTES);
    server.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      if (!client.write(chunk)) server.pause();
    });
    client.on('drain', () => server.resume());
    server.on('drain', () => client.resume());
    const commands = new PacketReader(COMMAND_LIMIT);
    const onData = (chunk: Buffer): void => {
      commands.push(chunk);
      for (let p = commands.next(); p !== null; p = commands.next()) this.#fromClient(p);
      if (commands.tooLarge) this.end('client-sent-oversized-packet');
      else if (server.writableNeedDrain) client.pause();
    };
    client.on('data', onData);
    server.resume();
    client.resume();
    const leftover = backend.reader.rest();
    if (leftover.length > 0) server.emit('data', leftover);
    if (early.length > 0) onData(early);
  }

  #fromClient(p: Packet): void {
    if (this.#ended) return;
    const command = p.seq === 0 ? (p.payload[0] ?? -1) : -1;
    if (command === Command.QUIT) {
      this.end('client-quit');
      return;
    }
    if (this.#invalidated !== null) {
      if (command !== -1) this.#refuse(1, this.#invalidated);
      return;
    }
    const server = this.#backend;
    if (server === undefined) return;
    if (command !== -1) {
      if (command === Command.CHANGE_USER || command === Command.BINLOG_DUMP || command === Command.BINLOG_DUMP_GTID) {
        // The session's database account is the grant's; a client may not become another.
        this.#client.write(packet(1, errPacket(ErrorCode.NOT_SUPPORTED, '42000', 'this command is not available through the keyward proxy: connect again with the AccessKey pair you need')));
        return;
      }
      this.#lastSeq = 0;
      this.#begin(command, p.payload);
    }
    server.write(p.raw);
  }

  #begin(command: number, payload: Buffer): void {
    if (command === Command.STMT_CLOSE) this.#prepared.delete(payload.length >= 5 ? payload.readUInt32LE(1) : -1);
    if (UNANSWERED.has(command)) return;
    let statement: string | null = null;
    let truncated = false;
    if (command === Command.QUERY || command === Command.STMT_PREPARE || command === Command.INIT_DB) {
      const text = payload.subarray(1, STATEMENT_BYTES).toString('utf8');
      ({ statement, truncated } = recordedStatement(text));
      truncated ||= payload.length > STATEMENT_BYTES;
    } else if (command === Command.STMT_EXECUTE && payload.length >= 5) {
      statement = this.#prepared.get(payload.readUInt32LE(1)) ?? null;
    }
    this.#inFlight.push({ command, statement, truncated, startedAt: performance.now() });
    this.#tracker?.expect(command);
  }

  #done(command: number, done: Done): void {
    const begun = this.#inFlight.shift();
    if (begun === undefined) return;
    if (command === Command.STMT_PREPARE && done.statementId !== null && begun.statement !== null) this.#prepared.set(done.statementId, begun.statement);
    const name = command === Command.QUERY ? 'query' : command === Command.STMT_PREPARE ? 'prepare' : command === Command.STMT_EXECUTE ? 'execute' : command === Command.INIT_DB ? 'init-db' : null;
    if (name === null) return;
    this.deps.onStatement(name, done.error === null);
    this.deps.audit({
      kind: 'statement', command: name, statement: begun.statement ?? '', truncated: begun.truncated, rows: done.rows,
      durationMs: Math.round((performance.now() - begun.startedAt) * 1000) / 1000, error: done.error, ...this.#who(),
    });
  }

  /**
   * The key stopped being valid: no statement of this session reaches the database from now
   * on. A client waiting for an answer gets the error at once; an idle one at its next command.
   */
  invalidate(reason: string): void {
    if (this.#over !== null) return;
    // Its close is the proxy's doing, not the database going away: the client is told why.
    this.#backend?.removeAllListeners('close').removeAllListeners('data').destroy();
    this.#backend = undefined;
    const waiting = this.#tracker?.busy === true;
    this.#finish(`invalidated: ${reason}`);
    if (waiting) {
      this.#refuse(this.#lastSeq + 1, reason);
      if (this.#grant !== undefined) this.deps.kill(this.#grant.databaseAccount, this.#threadId);
    } else {
      this.#invalidated = reason;
    }
  }

  #refuse(seq: number, reason: string): void {
    const message = reason === 'stale'
      ? 'keyward: this proxy lost contact with keyward for longer than it may vouch for keys; the session was closed: connect again later'
      : `keyward: the AccessKey pair of this session stopped being valid (${reason}); the session was closed: connect again with a valid pair`;
    this.#ended = true;
    this.#client.end(packet(seq, errPacket(ErrorCode.CONNECTION_KILLED, '70100', message)));
    this.#client.destroySoon();
  }

  /** The session is over for the database (once): recorded and counted. */
  #finish(reason: string): void {
    if (this.#over !== null) return;
    this.#over = reason;
    this.#backend?.destroy();
    if (!this.#opened) return;
    this.deps.audit({ kind: 'closed', reason, ...this.#who() });
    this.deps.closed(this, reason);
  }

  end(reason: string): void {
    this.#finish(reason);
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#client.writableEnded) this.#client.end();
    this.#client.destroySoon();
  }
}

/** The socket's stream with `early` in front of what it reads next. */
const replaying = (socket: Socket, early: Buffer): Duplex => {
  const stream = new Duplex({
    read: () => {
      socket.resume();
    },
    write: (chunk: Buffer, _encoding, done) => {
      socket.write(chunk, done);
    },
    final: (done) => {
      socket.end(done);
    },
    destroy: (error, done) => {
      socket.destroy(error ?? undefined);
      done(error);
    },
  });
  stream.push(early);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  return stream;
};

