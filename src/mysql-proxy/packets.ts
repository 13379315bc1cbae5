// The parts of the MySQL client/server protocol a relaying proxy has to speak itself: packet
// framing, the handshake on both sides, OK and ERR. Everything after the handshake is relayed
// as it comes. Parsers take untrusted bytes from anyone who can reach the port: they return
// null on anything malformed and never throw, never read past the end, never allocate from a
// length the peer claims.
import { createHash } from 'node:crypto';

/** Capability flags (MySQL's CLIENT_* constants). */
export const Cap = {
  LONG_PASSWORD: 1,
  CONNECT_WITH_DB: 8,
  COMPRESS: 1 << 5,
  LOCAL_FILES: 1 << 7,
  PROTOCOL_41: 1 << 9,
  SSL: 1 << 11,
  SECURE_CONNECTION: 1 << 15,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  DEPRECATE_EOF: 1 << 24,
  OPTIONAL_RESULTSET_METADATA: 1 << 25,
  ZSTD: 1 << 26,
  QUERY_ATTRIBUTES: 1 << 27,
  SSL_VERIFY_SERVER_CERT: 1 << 30,
} as const;

/**
 * What the proxy never lets a client and the database agree on: compression and TLS are the
 * proxy's own business on each side; LOCAL INFILE would let the database ask the client for a
 * file; the others change packet shapes the proxy follows (or only MySQL 8 speaks).
 */
export const CAPS_WITHHELD = Cap.COMPRESS | Cap.SSL | Cap.LOCAL_FILES | Cap.CONNECT_ATTRS | Cap.OPTIONAL_RESULTSET_METADATA | Cap.ZSTD | Cap.QUERY_ATTRIBUTES | Cap.SSL_VERIFY_SERVER_CERT;
/** Without these a client cannot be served at all. */
export const CAPS_REQUIRED = Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION;

export const NATIVE_PASSWORD = 'mysql_native_password';
export const MAX_PAYLOAD = 0xffffff;
export const HEADER = 4;

/** Server status flags the proxy reads. */
export const Status = { MORE_RESULTS_EXIST: 0x0008, CURSOR_EXISTS: 0x0040 } as const;

export interface Packet {
  readonly seq: number;
  readonly payload: Buffer;
  /** The packet as it came, header included: relayed without being copied. */
  readonly raw: Buffer;
}

export const packet = (seq: number, payload: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = seq & 0xff;
  payload.copy(out, HEADER);
  return out;
};

/**
 * Whole packets out of a byte stream, for the handshake. A packet over `limit` bytes is an
 * error (`tooLarge`), noticed from its header before its body is waited for.
 */
export class PacketReader {
  // Chunks as they came, joined only once a whole packet is there: joining at every chunk
  // would copy a 16 MiB command over and over.
  #chunks: Buffer[] = [];
  #size = 0;
  tooLarge = false;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** The first chunk, holding at least `n` bytes (joined from the next ones if need be); null if fewer have come. */
  #first(n: number): Buffer | null {
    if (this.#size < n) return null;
    let first = this.#chunks[0] ?? Buffer.alloc(0);
    if (first.length < n) {
      first = Buffer.concat(this.#chunks);
      this.#chunks = [first];
    }
    return first;
  }

  next(): Packet | null {
    const header = this.#first(HEADER);
    if (header === null) return null;
    const length = header.readUIntLE(0, 3);
    if (length > this.limit) {
      this.tooLarge = true;
      return null;
    }
    const buffered = this.#first(HEADER + length);
    if (buffered === null) return null;
    const raw = buffered.subarray(0, HEADER + length);
    const left = buffered.subarray(HEADER + length);
    if (left.length > 0) this.#chunks[0] = left;
    else this.#chunks.shift();
    this.#size -= raw.length;
    return { seq: raw[3] ?? 0, payload: raw.subarray(HEADER), raw };
  }

  /** Bytes received past the last whole packet (the start of what follows the handshake). */
  rest(): Buffer {
    const rest = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#size = 0;
    return rest;
  }
}

// ---- reading

class Cursor {
  offset = 0;
  constructor(readonly buf: Buffer) {}
  get left(): number {
    return this.buf.length - this.offset;
  }
  u8(): number | null {
    if (this.left < 1) return null;
    return this.buf[this.offset++] ?? null;
  }
  uint(bytes: number): number | null {
    if (this.left < bytes) return null;
    const v = this.buf.readUIntLE(this.offset, bytes);
    this.offset += bytes;
    return v;
  }
  bytes(n: number): Buffer | null {
    if (n < 0 || this.left < n) return null;
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  /** Up to a NUL (consumed), or to the end when `orEnd`. */
  nulString(orEnd = false): Buffer | null {
    const end = this.buf.indexOf(0, this.offset);
    if (end === -1) return orEnd ? this.bytes(this.left) : null;
    const out = this.buf.subarray(this.offset, end);
    this.offset = end + 1;
    return out;
  }
  lenenc(): number | null {
    const first = this.u8();
    if (first === null) return null;
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.uint(2);
    if (first === 0xfd) return this.uint(3);
    if (first === 0xfe) {
      const low = this.uint(4);
      const high = this.uint(4);
      if (low === null || high === null) return null;
      // Nothing the proxy reads this way is anywhere near 2^53.
      return high === 0 ? low : Number.MAX_SAFE_INTEGER;
    }
    return null;
  }
}

/** A length-encoded integer at `offset`, or null if the bytes are not one. */
export const readLenenc = (buf: Buffer, offset: number): { value: number; next: number } | null => {
  const c = new Cursor(buf);
  c.offset = offset;
  const value = c.lenenc();
  return value === null ? null : { value, next: c.offset };
};

const lenencBytes = (n: number): Buffer => {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  const out = Buffer.alloc(4);
  out[0] = 0xfd;
  out.writeUIntLE(n, 1, 3);
  return out;
};

export interface Greeting {
  readonly serverVersion: string;
  readonly connectionId: number;
  /** The auth-plugin-data: 20 bytes for mysql_native_password. */
  readonly salt: Buffer;
  readonly capabilities: number;
  readonly charset: number;
  readonly status: number;
  readonly authPlugin: string;
}

export const parseGreeting = (payload: Buffer): Greeting | null => {
  const c = new Cursor(payload);
  if (c.u8() !== 10) return null;
  const version = c.nulString();
  const connectionId = c.uint(4);
  const salt1 = c.bytes(8);
  if (version === null || connectionId === null || salt1 === null || c.u8() === null) return null;
  const capLow = c.uint(2);
  const charset = c.u8();
  const status = c.uint(2);
  const capHigh = c.uint(2);
  const saltLength = c.u8();
  if (capLow === null || charset === null || status === null || capHigh === null || saltLength === null || c.bytes(10) === null) return null;
  const capabilities = (capLow | (capHigh << 16)) >>> 0;
  // The second part is max(13, length - 8) bytes, its last a NUL that is not part of the salt.
  const salt2 = c.bytes(Math.max(13, saltLength - 8));
  if (salt2 === null) return null;
  const plugin = capabilities & Cap.PLUGIN_AUTH ? c.nulString(true) : Buffer.from(NATIVE_PASSWORD);
  if (plugin === null) return null;
  return {
    serverVersion: version.toString('latin1'),
    connectionId,
    salt: Buffer.concat([salt1, salt2.subarray(0, 12)]),
    capabilities,
    charset,
    status,
    authPlugin: plugin.toString('latin1'),
  };
};

export const greeting = (g: Greeting): Buffer => {
  const version = Buffer.from(`${g.serverVersion}\0`, 'latin1');
  const fixed = Buffer.alloc(1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  let o = 0;
  fixed[o++] = 10;
  fixed.writeUInt32LE(g.connectionId >>> 0, o);
  o += 4;
  g.salt.copy(fixed, o, 0, 8);
  o += 8;
  fixed[o++] = 0;
  fixed.writeUInt16LE(g.capabilities & 0xffff, o);
  o += 2;
  fixed[o++] = g.charset;
  fixed.writeUInt16LE(g.status, o);
  o += 2;
  fixed.writeUInt16LE((g.capabilities >>> 16) & 0xffff, o);
  o += 2;
  fixed[o++] = g.salt.length + 1;
  // Ten reserved bytes; MariaDB's extended capabilities (the last four) stay zero: none offered.
  return Buffer.concat([fixed.subarray(0, 1), version, fixed.subarray(1), g.salt.subarray(8), Buffer.from([0]), Buffer.from(`${g.authPlugin}\0`, 'latin1')]);
};

export interface SslRequest {
  readonly kind: 'ssl';
  readonly capabilities: number;
}

export interface HandshakeResponse {
  readonly kind: 'response';
  readonly capabilities: number;
  readonly maxPacket: number;
  readonly charset: number;
  readonly username: string;
  readonly authResponse: Buffer;
  readonly database: string | null;
  readonly authPlugin: string | null;
}

/** The client's answer to the greeting: a full HandshakeResponse41, or the SSLRequest before TLS. */
export const parseHandshakeResponse = (payload: Buffer): SslRequest | HandshakeResponse | null => {
  const c = new Cursor(payload);
  const capabilities = c.uint(4);
  const maxPacket = c.uint(4);
  const charset = c.u8();
  if (capabilities === null || maxPacket === null || charset === null || c.bytes(23) === null) return null;
  if ((capabilities & CAPS_REQUIRED) !== CAPS_REQUIRED) return null;
  if (c.left === 0) return capabilities & Cap.SSL ? { kind: 'ssl', capabilities } : null;
  const username = c.nulString();
  if (username === null) return null;
  let authLength: number | null;
  if (capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) authLength = c.lenenc();
  else authLength = c.u8();
  const authResponse = authLength === null ? null : c.bytes(authLength);
  if (authResponse === null) return null;
  let database: string | null = null;
  if (capabilities & Cap.CONNECT_WITH_DB && c.left > 0) {
    const db = c.nulString(true);
    if (db === null) return null;
    database = db.length === 0 ? null : db.toString('utf8');
  }
  let authPlugin: string | null = null;
  if (capabilities & Cap.PLUGIN_AUTH && c.left > 0) {
    const plugin = c.nulString(true);
    if (plugin === null) return null;
    authPlugin = plugin.toString('latin1');
  }
  // Connection attributes are not offered; any sent anyway are ignored.
  return { kind: 'response', capabilities, maxPacket, charset, username: username.toString('utf8'), authResponse: Buffer.from(authResponse), database, authPlugin };
};

export const handshakeResponse = (r: Omit<HandshakeResponse, 'kind'>): Buffer => {
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE(r.capabilities >>> 0, 0);
  fixed.writeUInt32LE(r.maxPacket >>> 0, 4);
  fixed[8] = r.charset;
  const parts: Buffer[] = [fixed, Buffer.from(`${r.username}\0`, 'utf8')];
  parts.push(r.capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA ? lenencBytes(r.authResponse.length) : Buffer.from([r.authResponse.length]), r.authResponse);
  if (r.capabilities & Cap.CONNECT_WITH_DB) parts.push(Buffer.from(`${r.database ?? ''}\0`, 'utf8'));
  if (r.capabilities & Cap.PLUGIN_AUTH) parts.push(Buffer.from(`${r.authPlugin ?? NATIVE_PASSWORD}\0`, 'latin1'));
  return Buffer.concat(parts);
};

/** The database's request to go on with another auth method: 0xFE, plugin name, its data. */
export const parseAuthSwitch = (payload: Buffer): { plugin: string; data: Buffer } | null => {
  if (payload[0] !== 0xfe) return null;
  const c = new Cursor(payload);
  c.offset = 1;
  const plugin = c.nulString(true);
  if (plugin === null) return null;
  const data = c.bytes(c.left) ?? Buffer.alloc(0);
  // The salt is sent NUL-terminated.
  return { plugin: plugin.toString('latin1'), data: data.length > 0 && data[data.length - 1] === 0 ? data.subarray(0, -1) : data };
};

export const authSwitch = (plugin: string, salt: Buffer): Buffer => Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${plugin}\0`, 'latin1'), salt, Buffer.from([0])]);

const sha1 = (...parts: Buffer[]): Buffer => {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** The client side of mysql_native_password: SHA1(p) XOR SHA1(salt + SHA1(SHA1(p))). */
export const nativeScramble = (password: string, salt: Buffer): Buffer => {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const mask = sha1(salt, sha1(stage1));
  for (let i = 0; i < stage1.length; i++) stage1[i] = (stage1[i] ?? 0) ^ (mask[i] ?? 0);
  return stage1;
};

export const isOk = (payload: Buffer): boolean => payload[0] === 0x00;
export const isErr = (payload: Buffer): boolean => payload[0] === 0xff;

/** ERR in the 4.1 format: code, SQLSTATE, message. */
export const errPacket = (code: number, sqlState: string, message: string): Buffer => {
  const head = Buffer.alloc(9);
  head[0] = 0xff;
  head.writeUInt16LE(code, 1);
  head.write(`#${sqlState.padEnd(5, '0').slice(0, 5)}`, 3, 'latin1');
  return Buffer.concat([head, Buffer.from(message, 'utf8')]);
};

export const parseErr = (payload: Buffer): { code: number; message: string } | null => {
  if (payload[0] !== 0xff || payload.length < 3) return null;
  const code = payload.readUInt16LE(1);
  const text = payload[3] === 0x23 ? payload.subarray(9) : payload.subarray(3);
  return { code, message: text.toString('utf8') };
};

/** Affected rows and status flags of an OK packet (0x00, or 0xFE ending rows under DEPRECATE_EOF). */
export const parseOk = (payload: Buffer): { affectedRows: number; status: number } | null => {
  const c = new Cursor(payload);
  const head = c.u8();
  if (head !== 0x00 && head !== 0xfe) return null;
  const affectedRows = c.lenenc();
  if (affectedRows === null || c.lenenc() === null) return null;
  const status = c.uint(2);
  return status === null ? null : { affectedRows, status };
};
