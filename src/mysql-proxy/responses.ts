// Following a relayed MySQL conversation without holding it up: packet boundaries in a byte
// stream (whatever the chunking), and which packet ends each command's response, so the proxy
// knows when a statement is done, how many rows it returned, and when the connection is idle.
// Pure: bytes in, callbacks out.
import { MAX_PAYLOAD, parseErr, parseOk, Status } from './packets.js';

export interface FramedPacket {
  readonly seq: number;
  readonly length: number;
  /** The first bytes of the payload (up to the framer's capture size): valid during the callback only. */
  readonly head: Buffer;
  /** A payload of 0xFFFFFF bytes: the logical packet goes on in the next one. */
  readonly continues: boolean;
}

/** Finds packets in a stream of chunks without copying the chunks. */
export class Framer {
  readonly #header = Buffer.alloc(4);
  #headerHave = 0;
  #left = -1;
  #seq = 0;
  #length = 0;
  readonly #head: Buffer;
  #headHave = 0;

  /** `errorCapture`: more of an ERR packet (0xFF first), so its message is kept whole. */
  constructor(
    private readonly capture: number,
    private readonly onPacket: (p: FramedPacket) => void,
    private readonly errorCapture = capture,
  ) {
    this.#head = Buffer.alloc(Math.max(capture, errorCapture));
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#left < 0) {
        const n = Math.min(4 - this.#headerHave, chunk.length - i);
        chunk.copy(this.#header, this.#headerHave, i, i + n);
        this.#headerHave += n;
        i += n;
        if (this.#headerHave < 4) return;
        this.#length = this.#header.readUIntLE(0, 3);
        this.#seq = this.#header[3] ?? 0;
        this.#left = this.#length;
        this.#headHave = 0;
      }
      const n = Math.min(this.#left, chunk.length - i);
      const first = this.#headHave > 0 ? this.#head[0] : chunk[i];
      const limit = first === 0xff ? this.errorCapture : this.capture;
      const keep = Math.min(n, limit - this.#headHave);
      if (keep > 0) chunk.copy(this.#head, this.#headHave, i, i + keep);
      this.#headHave += keep;
      this.#left -= n;
      i += n;
      if (this.#left === 0) this.#emit();
    }
    // A packet with an empty payload ends with its header.
    if (this.#left === 0) this.#emit();
  }

  #emit(): void {
    const p = { seq: this.#seq, length: this.#length, head: this.#head.subarray(0, this.#headHave), continues: this.#length === MAX_PAYLOAD };
    this.#left = -1;
    this.#headerHave = 0;
    this.onPacket(p);
  }
}

/** Command bytes (COM_*). */
export const Command = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_FETCH: 0x1c,
  BINLOG_DUMP_GTID: 0x1e,
} as const;

/** Commands the database does not answer. */
export const UNANSWERED: ReadonlySet<number> = new Set([Command.QUIT, Command.STMT_SEND_LONG_DATA, Command.STMT_CLOSE]);

export interface Done {
  readonly rows: number;
  readonly error: { readonly code: number; readonly message: string } | null;
  /** COM_STMT_PREPARE's statement id. */
  readonly statementId: number | null;
}

type Phase =
  | { readonly kind: 'first' }
  | { readonly kind: 'columns'; left: number; readonly then: 'rows' | 'params-done' | 'done' }
  | { readonly kind: 'eof'; readonly then: 'rows' | 'columns' | 'done' }
  | { readonly kind: 'rows' }
  | { readonly kind: 'single' };

interface Waiting {
  readonly command: number;
  phase: Phase;
  rows: number;
  statementId: number | null;
  columnsAfterParams: number;
}

const isEof = (p: FramedPacket): boolean => p.head[0] === 0xfe && p.length < 9;

/**
 * The responses of the commands in flight, in order. `expect` when a command that gets an answer
 * is sent; `onDone` fires when its last packet has passed.
 */
export class ResponseTracker {
  readonly #waiting: Waiting[] = [];
  #continuing = false;

  constructor(
    private readonly deprecateEof: boolean,
    private readonly onDone: (command: number, done: Done) => void,
  ) {}

  get busy(): boolean {
    return this.#waiting.length > 0;
  }

  expect(command: number): void {
    let phase: Phase = { kind: 'single' };
    if (command === Command.QUERY || command === Command.STMT_EXECUTE || command === Command.STMT_PREPARE) phase = { kind: 'first' };
    else if (command === Command.STMT_FETCH) phase = { kind: 'rows' };
    else if (command === Command.FIELD_LIST) phase = { kind: 'columns', left: Number.POSITIVE_INFINITY, then: 'done' };
    this.#waiting.push({ command, phase, rows: 0, statementId: null, columnsAfterParams: 0 });
  }

  packet(p: FramedPacket): void {
    // The rest of a packet over 16 MiB: a row (or column) already counted.
    const continuation = this.#continuing;
    this.#continuing = p.continues;
    const w = this.#waiting[0];
    if (continuation || w === undefined) return;
    const first = p.head[0];
    if (first === 0xff && w.phase.kind !== 'columns') this.#finish(w, parseErr(p.head) ?? { code: 0, message: '' });
    else if (w.phase.kind === 'single') this.#finish(w, null);
    else if (w.phase.kind === 'first') this.#first(w, p);
    else if (w.phase.kind === 'columns') this.#column(w, w.phase, p);
    else if (w.phase.kind === 'eof') this.#eof(w, w.phase, p);
    else this.#row(w, p);
  }

  #first(w: Waiting, p: FramedPacket): void {
    const first = p.head[0];
    if (first === 0x00 && w.command === Command.STMT_PREPARE) {
      this.#prepared(w, p.head);
    } else if (first === 0x00) {
      const ok = parseOk(p.head);
      w.rows += ok?.affectedRows ?? 0;
      if (ok === null || (ok.status & Status.MORE_RESULTS_EXIST) === 0) this.#finish(w, null);
    } else {
      // A column count starts a result set.
      const count = first === undefined ? 0 : first < 0xfb ? first : first === 0xfc && p.head.length >= 3 ? p.head.readUInt16LE(1) : first === 0xfd && p.head.length >= 4 ? p.head.readUIntLE(1, 3) : 0;
      w.phase = { kind: 'columns', left: count, then: 'rows' };
    }
  }

  #column(w: Waiting, phase: Extract<Phase, { kind: 'columns' }>, p: FramedPacket): void {
    // COM_FIELD_LIST's column list ends with EOF (or ERR) rather than a count.
    if (phase.left === Number.POSITIVE_INFINITY) {
      if (p.head[0] === 0xff) this.#finish(w, parseErr(p.head));
      else if (isEof(p)) this.#finish(w, null);
    } else if (--phase.left <= 0) {
      this.#afterColumns(w, phase.then);
    }
  }

  #eof(w: Waiting, phase: Extract<Phase, { kind: 'eof' }>, p: FramedPacket): void {
    const status = p.head.length >= 5 ? p.head.readUInt16LE(3) : 0;
    if (phase.then === 'rows') {
      // A cursor was opened: rows come with COM_STMT_FETCH.
      if (status & Status.CURSOR_EXISTS) this.#finish(w, null);
      else w.phase = { kind: 'rows' };
    } else if (phase.then === 'columns' && w.columnsAfterParams > 0) {
      w.phase = { kind: 'columns', left: w.columnsAfterParams, then: 'done' };
      w.columnsAfterParams = 0;
    } else {
      this.#finish(w, null);
    }
  }

  #row(w: Waiting, p: FramedPacket): void {
    const end = this.deprecateEof ? p.head[0] === 0xfe && p.length < MAX_PAYLOAD : isEof(p);
    if (!end) {
      w.rows++;
      return;
    }
    const status = this.deprecateEof ? (parseOk(p.head)?.status ?? 0) : p.head.length >= 5 ? p.head.readUInt16LE(3) : 0;
    if (status & Status.MORE_RESULTS_EXIST) w.phase = { kind: 'first' };
    else this.#finish(w, null);
  }

  #prepared(w: Waiting, head: Buffer): void {
    if (head.length < 9) {
      this.#finish(w, null);
      return;
    }
    w.statementId = head.readUInt32LE(1);
    const columns = head.readUInt16LE(5);
    const params = head.readUInt16LE(7);
    if (params > 0) {
      w.columnsAfterParams = columns;
      w.phase = { kind: 'columns', left: params, then: 'params-done' };
    } else if (columns > 0) w.phase = { kind: 'columns', left: columns, then: 'done' };
    else this.#finish(w, null);
  }

  #afterColumns(w: Waiting, then: 'rows' | 'params-done' | 'done'): void {
    if (then === 'rows') {
      w.phase = this.deprecateEof ? { kind: 'rows' } : { kind: 'eof', then: 'rows' };
      return;
    }
    if (then === 'params-done') {
      if (!this.deprecateEof) {
        w.phase = { kind: 'eof', then: 'columns' };
        return;
      }
      if (w.columnsAfterParams > 0) {
        w.phase = { kind: 'columns', left: w.columnsAfterParams, then: 'done' };
        w.columnsAfterParams = 0;
        return;
      }
      this.#finish(w, null); return;
    }
    if (!this.deprecateEof) {
      w.phase = { kind: 'eof', then: 'done' };
      return;
    }
    this.#finish(w, null);
  }

  #finish(w: Waiting, error: Done['error']): void {
    this.#waiting.shift();
    this.onDone(w.command, { rows: w.rows, error, statementId: w.statementId });
  }
}
