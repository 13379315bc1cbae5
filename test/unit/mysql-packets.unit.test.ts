// The MySQL proxy's packet code against untrusted and arbitrarily chunked bytes: the handshake
// parsers never throw and never invent data, the builders and parsers agree, framing does not
// depend on where the network cut the stream, and the response tracker ends each command at its
// last packet.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../domain/index.js';
import { verifiersOf } from '../../src/crypto.js';
import {
  Cap, CAPS_REQUIRED, errPacket, greeting, handshakeResponse, MAX_PAYLOAD, NATIVE_PASSWORD, nativeScramble, packet, PacketReader, parseAuthSwitch, parseErr, parseGreeting,
  parseHandshakeResponse, parseOk, readLenenc, Status, type Greeting, type HandshakeResponse,
} from '../../src/mysql-proxy/packets.js';
import { Command, Framer, ResponseTracker, type Done, type FramedPacket } from '../../src/mysql-proxy/responses.js';
import { mysqlNativeProof, storedVerifiers } from '../../src/proxy-node/proofs.js';

const RUNS = 3000;
const U32 = 0xffffffff;

// ---- arbitraries

const noNul = (s: string): boolean => !s.includes('\0');
/** Any text a client could send as a name: every code point but NUL. */
const utf8Text = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength }).filter(noNul);
/** Latin-1 text without NUL (server versions, plugin names). */
const latin1Text = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength });
const bytes = (minLength: number, maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));

type ResponseFields = Omit<HandshakeResponse, 'kind'>;

const responseFields = (authMax: number): fc.Arbitrary<ResponseFields> =>
  fc.record({
    capabilities: fc.integer({ min: 0, max: U32 }).map((c) => (c | CAPS_REQUIRED) >>> 0),
    maxPacket: fc.integer({ min: 0, max: U32 }),
    charset: fc.integer({ min: 0, max: 0xff }),
    username: utf8Text(80),
    authResponse: bytes(0, authMax),
    database: fc.option(utf8Text(80).filter((s) => s.length > 0), { nil: null }),
    authPlugin: fc.option(latin1Text(40), { nil: null }),
  });

/** A valid HandshakeResponse41 as mysql2 or the mariadb client would send it. */
const typicalResponse = (): Buffer =>
  handshakeResponse({
    capabilities: Cap.LONG_PASSWORD | Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.CONNECT_WITH_DB | Cap.DEPRECATE_EOF,
    maxPacket: 0x1000000,
    charset: 45,
    username: 'AKIAEXAMPLEEXAMPLE000000',
    authResponse: nativeScramble('secret', Buffer.alloc(20, 0x41)),
    database: 'shop',
    authPlugin: NATIVE_PASSWORD,
  });

type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'set'; at: number; value: number } | { kind: 'truncate'; at: number } | { kind: 'extend'; with: Uint8Array } | { kind: 'splice'; at: number; with: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0xfb, 0xfc, 0xfd, 0xfe, 0xff) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), with: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), with: fc.uint8Array({ maxLength: 40 }) }),
);

const mutate = (original: Buffer, mutations: readonly Mutation[]): Buffer => {
  let b = Buffer.from(original);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : ('at' in m ? m.at : 0) % (b.length + 1);
    if (m.kind === 'flip' && at < b.length) b[at] = (b[at] ?? 0) ^ (1 << m.bit);
    else if (m.kind === 'set' && at < b.length) b[at] = m.value;
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'extend') b = Buffer.concat([b, m.with]);
    else if (m.kind === 'splice') b = Buffer.concat([b.subarray(0, at), m.with, b.subarray(at)]);
  }
  return b;
};

// ---- well-formedness of what the parsers return

const isUint = (n: unknown, max: number): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max;

const checkHandshakeResponse = (input: Buffer, r: ReturnType<typeof parseHandshakeResponse>): void => {
  if (r === null) return;
  expect(isUint(r.capabilities, U32)).toBe(true);
  expect(r.capabilities & CAPS_REQUIRED).toBe(CAPS_REQUIRED);
  if (r.kind === 'ssl') {
    expect(r.capabilities & Cap.SSL).toBe(Cap.SSL);
    expect(input.length).toBe(32);
    return;
  }
  expect(r.kind).toBe('response');
  expect(isUint(r.maxPacket, U32)).toBe(true);
  expect(isUint(r.charset, 0xff)).toBe(true);
  expect(typeof r.username).toBe('string');
  expect(Buffer.isBuffer(r.authResponse)).toBe(true);
  // Nothing the peer did not send: 32 fixed bytes, the username's NUL, at least one length byte.
  expect(r.authResponse.length).toBeLessThanOrEqual(input.length - 34);
  expect(r.database === null || (typeof r.database === 'string' && r.database.length > 0)).toBe(true);
  expect(r.authPlugin === null || typeof r.authPlugin === 'string').toBe(true);
};

const checkGreeting = (r: Greeting | null): void => {
  if (r === null) return;
  expect(typeof r.serverVersion).toBe('string');
  expect(isUint(r.connectionId, U32)).toBe(true);
  expect(r.salt.length).toBe(20);
  expect(isUint(r.capabilities, U32)).toBe(true);
  expect(isUint(r.charset, 0xff)).toBe(true);
  expect(isUint(r.status, 0xffff)).toBe(true);
  expect(typeof r.authPlugin).toBe('string');
};

const checkAll = (input: Buffer): void => {
  checkHandshakeResponse(input, parseHandshakeResponse(input));
  checkGreeting(parseGreeting(input));
  const sw = parseAuthSwitch(input);
  if (sw !== null) {
    expect(input[0]).toBe(0xfe);
    expect(typeof sw.plugin).toBe('string');
    expect(sw.data.length).toBeLessThanOrEqual(input.length - 1);
  }
  const err = parseErr(input);
  if (err !== null) {
    expect(input[0]).toBe(0xff);
    expect(isUint(err.code, 0xffff)).toBe(true);
    expect(typeof err.message).toBe('string');
  }
  const ok = parseOk(input);
  if (ok !== null) {
    expect([0x00, 0xfe]).toContain(input[0]);
    expect(isUint(ok.affectedRows, Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(isUint(ok.status, 0xffff)).toBe(true);
  }
  for (const offset of [-1, 0, 1, 2, input.length - 1, input.length, input.length + 1]) {
    const l = readLenenc(input, offset);
    if (l === null) continue;
    expect(isUint(l.value, Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(l.next).toBeGreaterThan(offset);
    expect(l.next).toBeLessThanOrEqual(input.length);
  }
};

describe('the handshake parsers with untrusted bytes', () => {
  it('never throw on arbitrary bytes and return null or a well-formed value', () => {
    fc.assert(fc.property(bytes(0, 2000), checkAll), { numRuns: RUNS });
  });

  it('never throw on bytes that start like the packets they parse', () => {
    const starts = fc.constantFrom([0x0a], [0x00], [0xfe], [0xff], [0xff, 0xff, 0xff, 0xff], [0x85, 0xa6, 0xff, 0x01], [0x0d, 0xa2, 0x3a, 0x00]);
    fc.assert(fc.property(starts, bytes(0, 200), (start, rest) => { checkAll(Buffer.concat([Buffer.from(start), rest])); }), { numRuns: RUNS });
  });

  it('never throw on mutations of a valid HandshakeResponse41', () => {
    const valid = typicalResponse();
    expect(parseHandshakeResponse(valid)).toMatchObject({ kind: 'response', username: 'AKIAEXAMPLEEXAMPLE000000', database: 'shop', authPlugin: NATIVE_PASSWORD });
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (ms) => { checkAll(mutate(valid, ms)); }), { numRuns: RUNS * 2 });
  });

  it('read no fields out of a response cut short before its auth data ends', () => {
    const valid = typicalResponse();
    // 32 fixed bytes, 24 + 1 of username, 1 + 20 of auth data.
    const authEnd = 32 + 25 + 21;
    for (let n = 0; n < authEnd; n++) {
      const r = parseHandshakeResponse(valid.subarray(0, n));
      expect(r, `cut at ${n}`).toBeNull();
    }
  });

  it('refuse a lenenc auth length beyond the packet, however large', () => {
    const head = handshakeResponse({ capabilities: CAPS_REQUIRED | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA, maxPacket: 0, charset: 8, username: 'u', authResponse: Buffer.alloc(0), database: null, authPlugin: null });
    const withoutLength = head.subarray(0, head.length - 1);
    for (const length of [[0xfc, 0xff, 0xff], [0xfd, 0xff, 0xff, 0xff], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], [0xfe, 0, 0, 0, 0, 1, 0, 0, 0], [0xfb], [0xff]]) {
      expect(parseHandshakeResponse(Buffer.concat([withoutLength, Buffer.from(length), Buffer.alloc(100, 0x61)])), String(length)).toBeNull();
    }
  });

  it('refuse a response that lacks protocol 4.1 or secure connection', () => {
    for (const caps of [Cap.PROTOCOL_41, Cap.SECURE_CONNECTION, 0]) {
      const r = handshakeResponse({ capabilities: caps, maxPacket: 0, charset: 8, username: 'u', authResponse: Buffer.alloc(20, 1), database: null, authPlugin: null });
      expect(parseHandshakeResponse(r)).toBeNull();
    }
  });

  it('tell an SSLRequest from a response', () => {
    const ssl = Buffer.alloc(32);
    ssl.writeUInt32LE(CAPS_REQUIRED | Cap.SSL, 0);
    expect(parseHandshakeResponse(ssl)).toEqual({ kind: 'ssl', capabilities: CAPS_REQUIRED | Cap.SSL });
    ssl.writeUInt32LE(CAPS_REQUIRED, 0);
    expect(parseHandshakeResponse(ssl)).toBeNull();
  });
});

describe('the handshake builders and parsers agree', () => {
  const roundTrip = (fields: ResponseFields): void => {
    const built = handshakeResponse(fields);
    const input = Buffer.from(built);
    const parsed = parseHandshakeResponse(input);
    expect(parsed).toEqual({
      kind: 'response',
      capabilities: fields.capabilities,
      maxPacket: fields.maxPacket,
      charset: fields.charset,
      username: fields.username,
      authResponse: fields.authResponse,
      database: fields.capabilities & Cap.CONNECT_WITH_DB ? fields.database : null,
      authPlugin: fields.capabilities & Cap.PLUGIN_AUTH ? (fields.authPlugin ?? NATIVE_PASSWORD) : null,
    });
    // The auth response is the parser's own copy, not a view of bytes the caller may reuse.
    input.fill(0);
    expect(parsed?.kind === 'response' ? parsed.authResponse : null).toEqual(fields.authResponse);
  };

  it('a HandshakeResponse41 with auth data of 0-250 bytes, with and without lenenc client data', () => {
    fc.assert(fc.property(responseFields(250), fc.boolean(), (fields, lenenc) => {
      const capabilities = (lenenc ? fields.capabilities | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA : fields.capabilities & ~Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) >>> 0;
      roundTrip({ ...fields, capabilities });
    }), { numRuns: RUNS });
  });

  it('a HandshakeResponse41 with auth data over 250 bytes under lenenc client data', () => {
    fc.assert(fc.property(responseFields(0), bytes(251, 70_000), (fields, auth) => {
      roundTrip({ ...fields, capabilities: (fields.capabilities | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) >>> 0, authResponse: auth });
    }), { numRuns: 200 });
  });

  it('a typical login with a database and the native plugin', () => {
    const fields: ResponseFields = { capabilities: CAPS_REQUIRED | Cap.CONNECT_WITH_DB | Cap.PLUGIN_AUTH, maxPacket: 1 << 24, charset: 224, username: 'Zoë 日本', authResponse: Buffer.alloc(20, 7), database: 'db-ü', authPlugin: NATIVE_PASSWORD };
    roundTrip(fields);
    roundTrip({ ...fields, database: null });
  });

  it('a greeting', () => {
    const greetingFields = fc.record({
      serverVersion: latin1Text(60),
      connectionId: fc.integer({ min: 0, max: U32 }),
      salt: bytes(20, 20),
      capabilities: fc.integer({ min: 0, max: U32 }),
      charset: fc.integer({ min: 0, max: 0xff }),
      status: fc.integer({ min: 0, max: 0xffff }),
      authPlugin: latin1Text(40),
    });
    fc.assert(fc.property(greetingFields, (g) => {
      const parsed = parseGreeting(greeting(g));
      expect(parsed).toEqual({ ...g, authPlugin: g.capabilities & Cap.PLUGIN_AUTH ? g.authPlugin : NATIVE_PASSWORD });
    }), { numRuns: RUNS });
  });

  it('an auth switch request and an ERR', () => {
    expect(parseAuthSwitch(Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${NATIVE_PASSWORD}\0`), Buffer.alloc(20, 0x33), Buffer.from([0])]))).toEqual({ plugin: NATIVE_PASSWORD, data: Buffer.alloc(20, 0x33) });
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.stringMatching(/^[0-9A-Z]{5}$/), utf8Text(200), (code, state, message) => {
      expect(parseErr(errPacket(code, state, message))).toEqual({ code, message });
    }), { numRuns: 500 });
  });
});

// ---- framing

const frames = (packets: readonly { seq: number; payload: Buffer }[]): Buffer => Buffer.concat(packets.map((p) => packet(p.seq, p.payload)));

const packetList = (maxLength: number): fc.Arbitrary<{ seq: number; payload: Buffer }[]> =>
  fc.array(fc.record({ seq: fc.integer({ min: 0, max: 0xff }), payload: fc.oneof(bytes(0, 16), bytes(0, maxLength), fc.constant(Buffer.alloc(0))) }), { maxLength: 12 });

/** The stream cut at `cuts` (positions taken modulo its length), empty chunks included. */
const chunked = (stream: Buffer, cuts: readonly number[]): Buffer[] => {
  const at = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1))))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    chunks.push(stream.subarray(from, c));
    from = c;
  }
  chunks.push(stream.subarray(from));
  return chunks;
};

describe('PacketReader', () => {
  const readAll = (reader: PacketReader, chunks: readonly Buffer[]): { seq: number; payload: string }[] => {
    const out: { seq: number; payload: string }[] = [];
    for (const chunk of chunks) {
      reader.push(chunk);
      for (let p = reader.next(); p !== null; p = reader.next()) {
        // The packet as it came, to be relayed as it is.
        expect(p.raw).toEqual(packet(p.seq, p.payload));
        out.push({ seq: p.seq, payload: p.payload.toString('hex') });
      }
    }
    return out;
  };

  it('reads the same packets however the stream is cut', () => {
    fc.assert(fc.property(packetList(3000), fc.array(fc.nat(), { maxLength: 30 }), (packets, cuts) => {
      const stream = frames(packets);
      const expected = packets.map((p) => ({ seq: p.seq, payload: p.payload.toString('hex') }));
      const reader = new PacketReader(4000);
      expect(readAll(reader, chunked(stream, cuts))).toEqual(expected);
      expect(reader.tooLarge).toBe(false);
      expect(reader.rest().length).toBe(0);
    }), { numRuns: 1000 });
  });

  it('one byte at a time, and keeps what follows the last whole packet', () => {
    fc.assert(fc.property(packetList(300), bytes(1, 3), (packets, tail) => {
      const stream = frames(packets);
      const reader = new PacketReader(4000);
      const oneByOne = [...stream, ...tail].map((b) => Buffer.from([b]));
      expect(readAll(reader, oneByOne)).toEqual(packets.map((p) => ({ seq: p.seq, payload: p.payload.toString('hex') })));
      expect(reader.rest()).toEqual(tail);
    }), { numRuns: 300 });
  });

  it('says a packet is too large from its header, without waiting for the body', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: MAX_PAYLOAD }), bytes(0, 10), (limit, over, body) => {
      const length = Math.min(MAX_PAYLOAD, limit + over);
      fc.pre(length > limit);
      const reader = new PacketReader(limit);
      const header = Buffer.alloc(4);
      header.writeUIntLE(length, 0, 3);
      reader.push(header.subarray(0, 3));
      expect(reader.next()).toBeNull();
      expect(reader.tooLarge).toBe(false);
      reader.push(Buffer.concat([header.subarray(3), body]));
      expect(reader.next()).toBeNull();
      expect(reader.tooLarge).toBe(true);
    }), { numRuns: 1000 });
  });

  it('takes a packet of exactly the limit', () => {
    const reader = new PacketReader(100);
    reader.push(packet(3, Buffer.alloc(100, 9)));
    expect(reader.next()).toEqual({ seq: 3, payload: Buffer.alloc(100, 9), raw: packet(3, Buffer.alloc(100, 9)) });
    expect(reader.tooLarge).toBe(false);
  });
});

describe('Framer', () => {
  interface Seen { seq: number; length: number; head: string; continues: boolean }
  const frameAll = (capture: number, chunks: readonly Buffer[]): Seen[] => {
    const seen: Seen[] = [];
    // The head is only valid during the callback: copy it out.
    const framer = new Framer(capture, (p) => seen.push({ seq: p.seq, length: p.length, head: p.head.toString('hex'), continues: p.continues }));
    for (const chunk of chunks) framer.push(chunk);
    return seen;
  };

  it('finds the same packets, with the same heads, however the stream is cut', () => {
    fc.assert(fc.property(packetList(3000), fc.array(fc.nat(), { maxLength: 30 }), fc.integer({ min: 0, max: 40 }), (packets, cuts, capture) => {
      const stream = frames(packets);
      const whole = frameAll(capture, [stream]);
      expect(whole).toEqual(packets.map((p) => ({ seq: p.seq, length: p.payload.length, head: p.payload.subarray(0, capture).toString('hex'), continues: false })));
      expect(frameAll(capture, chunked(stream, cuts))).toEqual(whole);
    }), { numRuns: 1000 });
  });

  it('one byte at a time', () => {
    fc.assert(fc.property(packetList(200), (packets) => {
      const stream = frames(packets);
      expect(frameAll(16, [...stream].map((b) => Buffer.from([b])))).toEqual(frameAll(16, [stream]));
    }), { numRuns: 300 });
  });

  it('marks a packet of 0xFFFFFF bytes as continued, and the next as its end', () => {
    // Pushed as one reused 64 KiB chunk: the framer copies nothing but the head.
    const header = Buffer.from([0xff, 0xff, 0xff, 0x05]);
    const body = Buffer.alloc(0x10000, 0x61);
    const seen: Seen[] = [];
    const framer = new Framer(4, (p) => seen.push({ seq: p.seq, length: p.length, head: p.head.toString('hex'), continues: p.continues }));
    framer.push(header);
    for (let left = MAX_PAYLOAD; left > 0; left -= body.length) framer.push(body.subarray(0, Math.min(left, body.length)));
    framer.push(packet(6, Buffer.from('end')));
    expect(seen).toEqual([
      { seq: 5, length: MAX_PAYLOAD, head: '61616161', continues: true },
      { seq: 6, length: 3, head: Buffer.from('end').toString('hex'), continues: false },
    ]);
  });
});

// ---- mysql_native_password

describe('nativeScramble', () => {
  const accepts = (secret: string, salt: Buffer, scramble: Buffer): boolean => {
    const v = verifiersOf(new Secret(secret));
    return mysqlNativeProof(salt, scramble)(storedVerifiers(v.sha256, v.mysqlNative));
  };

  it("is what the proxy node's check accepts, for the right secret only", () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), bytes(20, 20), bytes(20, 20), (secret, other, salt, otherSalt) => {
      const scramble = nativeScramble(secret, salt);
      expect(scramble.length).toBe(20);
      expect(accepts(secret, salt, scramble)).toBe(true);
      if (other !== secret) expect(accepts(other, salt, nativeScramble(other, salt))).toBe(true);
      if (other !== secret) expect(accepts(other, salt, scramble)).toBe(false);
      if (!otherSalt.equals(salt)) expect(accepts(secret, otherSalt, scramble)).toBe(false);
    }), { numRuns: 1000 });
  });

  it('matches the published mysql_native_password formula', () => {
    // SHA1(p) XOR SHA1(salt + SHA1(SHA1(p))), computed independently.
    const salt = Buffer.from('0123456789abcdefghij');
    expect(nativeScramble('secret', salt).toString('hex')).toBe(Buffer.from(nativeScrambleReference('secret', salt)).toString('hex'));
    expect(nativeScramble('', salt).length).toBe(0);
  });
});

const nativeScrambleReference = (password: string, salt: Buffer): Uint8Array => {
  const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const mask = sha1(Buffer.concat([salt, sha1(stage1)]));
  return stage1.map((b, i) => b ^ (mask[i] ?? 0));
};

// ---- following responses

const lenenc = (n: number): Buffer => (n < 0xfb ? Buffer.from([n]) : n < 0x10000 ? Buffer.from([0xfc, n & 0xff, n >> 8]) : Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]));
const lenencString = (s: string): Buffer => Buffer.concat([lenenc(Buffer.byteLength(s)), Buffer.from(s)]);

const S = {
  columnCount: (n: number): Buffer => lenenc(n),
  column: (name: string): Buffer => Buffer.concat([
    lenencString('def'), lenencString('shop'), lenencString('items'), lenencString('items'), lenencString(name), lenencString(name),
    Buffer.from([0x0c, 0x21, 0x00, 0xff, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00]),
  ]),
  textRow: (...values: (string | null)[]): Buffer => Buffer.concat(values.map((v) => (v === null ? Buffer.from([0xfb]) : lenencString(v)))),
  binaryRow: (id: number): Buffer => Buffer.concat([Buffer.from([0x00, 0x00]), Buffer.from(Uint32Array.of(id).buffer)]),
  eof: (status = 0x0002, warnings = 0): Buffer => Buffer.from([0xfe, warnings & 0xff, warnings >> 8, status & 0xff, status >> 8]),
  ok: (affected = 0, status = 0x0002, header = 0x00): Buffer => Buffer.concat([Buffer.from([header]), lenenc(affected), lenenc(0), Buffer.from([status & 0xff, status >> 8, 0, 0])]),
  /** The OK that ends rows under DEPRECATE_EOF. */
  okEnd: (status = 0x0002): Buffer => S.ok(0, status, 0xfe),
  err: (code: number, message: string): Buffer => errPacket(code, '42000', message),
  prepareOk: (id: number, columns: number, params: number): Buffer => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(id, 1);
    b.writeUInt16LE(columns, 5);
    b.writeUInt16LE(params, 7);
    return b;
  },
  text: (s: string): Buffer => Buffer.from(s),
};

const MORE = Status.MORE_RESULTS_EXIST | 0x0002;

interface Exchange {
  readonly command: number;
  readonly response: readonly Buffer[];
  readonly done: Done;
}

const resultSet = (deprecateEof: boolean, columns: number, rows: readonly Buffer[], status = 0x0002): Buffer[] => [
  S.columnCount(columns),
  ...Array.from({ length: columns }, (_, i) => S.column(`c${i}`)),
  ...(deprecateEof ? [] : [S.eof()]),
  ...rows,
  deprecateEof ? S.okEnd(status) : S.eof(status),
];

const rowsOf = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => S.textRow(`${i}`, i % 3 === 0 ? null : `item-${i}`, 'x'.repeat(i * 7)));

const prepare = (deprecateEof: boolean, id: number, columns: number, params: number): Buffer[] => [
  S.prepareOk(id, columns, params),
  ...Array.from({ length: params }, () => S.column('?')),
  ...(params > 0 && !deprecateEof ? [S.eof()] : []),
  ...Array.from({ length: columns }, (_, i) => S.column(`c${i}`)),
  ...(columns > 0 && !deprecateEof ? [S.eof()] : []),
];

const none = (rows = 0): Done => ({ rows, error: null, statementId: null });

const exchanges = (deprecateEof: boolean): Exchange[] => [
  { command: Command.QUERY, response: resultSet(deprecateEof, 3, rowsOf(5)), done: none(5) },
  { command: Command.QUERY, response: resultSet(deprecateEof, 1, []), done: none(0) },
  { command: Command.QUERY, response: resultSet(deprecateEof, 300, rowsOf(2)), done: none(2) },
  { command: Command.QUERY, response: [S.ok(42)], done: none(42) },
  { command: Command.QUERY, response: [S.err(1064, 'You have an error in your SQL syntax')], done: { rows: 0, error: { code: 1064, message: 'You have an error in your SQL syntax' }, statementId: null } },
  // A CALL: two result sets, then the procedure's OK.
  { command: Command.QUERY, response: [...resultSet(deprecateEof, 2, rowsOf(3), MORE), ...resultSet(deprecateEof, 1, rowsOf(4), MORE), S.ok(0)], done: none(7) },
  // Multi-statement: an OK with more results, then a result set.
  { command: Command.QUERY, response: [S.ok(2, MORE), ...resultSet(deprecateEof, 1, rowsOf(1))], done: none(3) },
  // An error partway: after one result set, and after some rows (a killed query).
  { command: Command.QUERY, response: [...resultSet(deprecateEof, 1, rowsOf(2), MORE), S.err(1146, "Table 'shop.nope' doesn't exist")], done: { rows: 2, error: { code: 1146, message: "Table 'shop.nope' doesn't exist" }, statementId: null } },
  { command: Command.QUERY, response: [...resultSet(deprecateEof, 2, rowsOf(4)).slice(0, -1), S.err(1317, 'Query execution was interrupted')], done: { rows: 4, error: { code: 1317, message: 'Query execution was interrupted' }, statementId: null } },
  { command: Command.STMT_PREPARE, response: prepare(deprecateEof, 7, 2, 3), done: { rows: 0, error: null, statementId: 7 } },
  { command: Command.STMT_PREPARE, response: prepare(deprecateEof, 8, 0, 2), done: { rows: 0, error: null, statementId: 8 } },
  { command: Command.STMT_PREPARE, response: prepare(deprecateEof, 9, 4, 0), done: { rows: 0, error: null, statementId: 9 } },
  { command: Command.STMT_PREPARE, response: prepare(deprecateEof, 0x80000001, 0, 0), done: { rows: 0, error: null, statementId: 0x80000001 } },
  { command: Command.STMT_PREPARE, response: [S.err(1064, 'bad')], done: { rows: 0, error: { code: 1064, message: 'bad' }, statementId: null } },
  { command: Command.STMT_EXECUTE, response: resultSet(deprecateEof, 1, [S.binaryRow(1), S.binaryRow(2), S.binaryRow(0xfe)]), done: none(3) },
  { command: Command.STMT_EXECUTE, response: [S.ok(3)], done: none(3) },
  { command: Command.INIT_DB, response: [S.ok()], done: none() },
  { command: Command.INIT_DB, response: [S.err(1049, "Unknown database 'nope'")], done: { rows: 0, error: { code: 1049, message: "Unknown database 'nope'" }, statementId: null } },
  { command: 0x0e /* PING */, response: [S.ok()], done: none() },
  { command: Command.STATISTICS, response: [S.text('Uptime: 5  Threads: 1')], done: none() },
  { command: Command.FIELD_LIST, response: [S.column('a'), S.column('b'), S.eof()], done: none() },
];

/** Every exchange's commands sent at once (pipelined), then the whole response stream, in `cuts`. */
const follow = (deprecateEof: boolean, list: readonly Exchange[], cuts: readonly number[]): { command: number; done: Done }[] => {
  const seen: { command: number; done: Done }[] = [];
  const tracker = new ResponseTracker(deprecateEof, (command, done) => seen.push({ command, done }));
  // Enough of each packet for an ERR's whole message (the tracker reads what the framer captured).
  const framer = new Framer(256, (p) => { tracker.packet(p); });
  for (const e of list) tracker.expect(e.command);
  expect(tracker.busy).toBe(list.length > 0);
  const stream = Buffer.concat(list.flatMap((e) => e.response.map((payload, i) => packet(i + 1, payload))));
  for (const chunk of chunked(stream, cuts)) framer.push(chunk);
  expect(tracker.busy).toBe(false);
  return seen;
};

describe('ResponseTracker', () => {
  for (const deprecateEof of [false, true]) {
    describe(deprecateEof ? 'with DEPRECATE_EOF' : 'with EOF packets', () => {
      for (const [i, e] of exchanges(deprecateEof).entries()) {
        it(`ends command 0x${e.command.toString(16)} (case ${i}) at its last packet, once`, () => {
          expect(follow(deprecateEof, [e], [])).toEqual([{ command: e.command, done: e.done }]);
        });
      }

      it('follows any sequence of commands in order, however the responses are cut', () => {
        const all = exchanges(deprecateEof);
        fc.assert(fc.property(fc.array(fc.constantFrom(...all), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (list, cuts) => {
          expect(follow(deprecateEof, list, cuts)).toEqual(list.map((e) => ({ command: e.command, done: e.done })));
        }), { numRuns: 500 });
      });

      it('ends an execute at a cursor, and the fetch at its rows', () => {
        const seen: { command: number; done: Done }[] = [];
        const tracker = new ResponseTracker(deprecateEof, (command, done) => seen.push({ command, done }));
        const framer = new Framer(16, (p) => { tracker.packet(p); });
        tracker.expect(Command.STMT_EXECUTE);
        const cursor = Status.CURSOR_EXISTS | 0x0002;
        // With a cursor the metadata ends with an EOF either way; rows come with COM_STMT_FETCH.
        for (const [i, p] of [S.columnCount(1), S.column('id'), deprecateEof ? S.okEnd(cursor) : S.eof(cursor)].entries()) framer.push(packet(i + 1, p));
        expect(seen).toEqual([{ command: Command.STMT_EXECUTE, done: none() }]);
        tracker.expect(Command.STMT_FETCH);
        for (const [i, p] of [S.binaryRow(1), S.binaryRow(2), deprecateEof ? S.okEnd(cursor | 0x80) : S.eof(cursor | 0x80)].entries()) framer.push(packet(i + 1, p));
        expect(seen).toEqual([{ command: Command.STMT_EXECUTE, done: none() }, { command: Command.STMT_FETCH, done: none(2) }]);
      });

      it('counts a row over 16 MiB once, whatever its first byte', () => {
        const seen: Done[] = [];
        const tracker = new ResponseTracker(deprecateEof, (_c, done) => seen.push(done));
        const framer = new Framer(16, (p) => { tracker.packet(p); });
        tracker.expect(Command.QUERY);
        const before = [S.columnCount(1), S.column('blob'), ...(deprecateEof ? [] : [S.eof()])];
        let seq = 1;
        for (const p of before) framer.push(packet(seq++, p));
        // A row of one 20 MiB string: lenenc 0xFE + 8 bytes, the rest in a second packet.
        const first = Buffer.from([0xfe, 0, 0, 0x40, 0x01, 0, 0, 0, 0]);
        const header = Buffer.from([0xff, 0xff, 0xff, seq++]);
        framer.push(Buffer.concat([header, first]));
        const body = Buffer.alloc(0x10000, 0xfe);
        for (let left = MAX_PAYLOAD - first.length; left > 0; left -= body.length) framer.push(body.subarray(0, Math.min(left, body.length)));
        // Its rest starts with 0xFE too, and is short: still not the end.
        framer.push(packet(seq++, Buffer.from([0xfe, 0xfe, 0xfe])));
        expect(seen).toEqual([]);
        framer.push(packet(seq++, S.textRow('small')));
        framer.push(packet(seq++, deprecateEof ? S.okEnd() : S.eof()));
        expect(seen).toEqual([none(2)]);
      });
    });
  }

  it('calls nothing for packets no command waits for', () => {
    const seen: unknown[] = [];
    const tracker = new ResponseTracker(false, (c, d) => seen.push([c, d]));
    const framer = new Framer(16, (p) => { tracker.packet(p); });
    framer.push(packet(1, S.ok()));
    framer.push(packet(1, S.err(1, 'x')));
    expect(seen).toEqual([]);
    expect(tracker.busy).toBe(false);
  });

  it('never throws on arbitrary packets from the database', () => {
    const commands = fc.constantFrom(Command.QUERY, Command.STMT_PREPARE, Command.STMT_EXECUTE, Command.STMT_FETCH, Command.FIELD_LIST, Command.INIT_DB, Command.STATISTICS);
    const packets = fc.array(fc.record({ length: fc.integer({ min: 0, max: MAX_PAYLOAD }), head: bytes(0, 16) }), { maxLength: 30 });
    fc.assert(fc.property(fc.boolean(), fc.array(commands, { maxLength: 5 }), packets, (deprecateEof, cmds, ps) => {
      let done = 0;
      const tracker = new ResponseTracker(deprecateEof, () => { done++; });
      for (const c of cmds) tracker.expect(c);
      for (const [i, p] of ps.entries()) {
        // What a Framer gives: the head is the payload's first bytes, never more than its length.
        const head = p.head.subarray(0, Math.min(p.head.length, p.length));
        const framed: FramedPacket = { seq: i & 0xff, length: Math.max(p.length, head.length), head, continues: p.length === MAX_PAYLOAD };
        tracker.packet(framed);
      }
      expect(done).toBeLessThanOrEqual(cmds.length);
    }), { numRuns: RUNS });
  });
});
