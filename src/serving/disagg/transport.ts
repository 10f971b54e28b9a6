/**
 * The disaggregation wire: length-prefixed binary frames over TCP or a unix socket.
 *
 *   frame = u32 LE payload length | u8 type | payload
 *
 *   0x01 CONTROL   UTF-8 JSON object with a string `t` (the message kind; see messages.ts). Small.
 *   0x02 DATA      raw bytes: one chunk (≤ 256 KiB) of the byte stream announced by the preceding CONTROL message
 *   0x03 DATA_END  empty: the byte stream is complete
 *
 * State payloads therefore never go through JSON or base64. The decoder is incremental (any split of the byte
 * stream gives the same frames), refuses frames above `maxFrame` before buffering them, and throws `FrameError` on
 * an unknown type or a CONTROL payload that is not a JSON object with a `t`. A connection that sees a FrameError is
 * destroyed: the peer observes a close, which every caller already treats as a failure.
 */
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';

export const FrameType = { CONTROL: 0x01, DATA: 0x02, DATA_END: 0x03 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const HEADER = 5;
export const DATA_CHUNK = 256 * 1024;
export const DEFAULT_MAX_FRAME = 1024 * 1024;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export interface ControlMessage {
  readonly t: string;
  readonly [key: string]: unknown;
}

export type Frame =
  | { readonly type: typeof FrameType.CONTROL; readonly msg: ControlMessage }
  | { readonly type: typeof FrameType.DATA; readonly bytes: Uint8Array }
  | { readonly type: typeof FrameType.DATA_END };

export function encodeFrame(type: FrameType, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(type, 4);
  out.set(payload, HEADER);
  return out;
}

export function encodeControl(msg: ControlMessage): Buffer {
  return encodeFrame(FrameType.CONTROL, Buffer.from(JSON.stringify(msg), 'utf8'));
}

function parseControl(payload: Buffer): ControlMessage {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new FrameError('CONTROL frame is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { t?: unknown }).t !== 'string') {
    throw new FrameError('CONTROL frame is not a JSON object with a string "t"');
  }
  return v as ControlMessage;
}

/** Incremental frame decoder: feed it whatever the socket delivers, get whole frames back. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrame = DEFAULT_MAX_FRAME) {}

  push(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER) break;
      const head = this.peek(HEADER);
      const len = head.readUInt32LE(0);
      const type = head.readUInt8(4);
      if (len > this.maxFrame) throw new FrameError(`frame of ${len} bytes exceeds the limit of ${this.maxFrame}`);
      if (type !== FrameType.CONTROL && type !== FrameType.DATA && type !== FrameType.DATA_END) {
        throw new FrameError(`unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
      }
      if (this.buffered < HEADER + len) break;
      const payload = this.take(HEADER + len).subarray(HEADER);
      if (type === FrameType.CONTROL) frames.push({ type, msg: parseControl(payload) });
      else if (type === FrameType.DATA) frames.push({ type, bytes: payload });
      else if (len !== 0) throw new FrameError('DATA_END frame with a payload');
      else frames.push({ type });
    }
    return frames;
  }

  /** Bytes buffered but not yet part of a whole frame (0 at a clean frame boundary). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

export interface ConnectionHandlers {
  onMessage?(msg: ControlMessage): void;
  onData?(bytes: Uint8Array): void;
  onDataEnd?(): void;
  /** Called once, when the socket is gone (peer closed, error, malformed frame, or `close()`). */
  onClose?(reason: string): void;
}

/** A framed, bidirectional connection. Handlers can be (re)set at any time; frames before that are dropped. */
export class Connection {
  handlers: ConnectionHandlers = {};
  private readonly decoder: FrameDecoder;
  private closed = false;

  constructor(readonly socket: Socket, maxFrame = DEFAULT_MAX_FRAME) {
    this.decoder = new FrameDecoder(maxFrame);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', (e) => this.finish(e.message));
    socket.on('close', () => this.finish('connection closed'));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(msg: ControlMessage): void {
    if (!this.closed) this.socket.write(encodeControl(msg));
  }

  /** Stream `bytes` as DATA frames then DATA_END, honouring back-pressure. Resolves false if the socket went away. */
  async sendBytes(bytes: Uint8Array, chunk = DATA_CHUNK): Promise<boolean> {
    for (let off = 0; off < bytes.length; off += chunk) {
      if (this.closed) return false;
      const ok = this.socket.write(encodeFrame(FrameType.DATA, bytes.subarray(off, off + chunk)));
      if (!ok) await this.drained();
    }
    if (this.closed) return false;
    this.socket.write(encodeFrame(FrameType.DATA_END));
    return true;
  }

  /** Flush what was sent, then close (destroyed after a short grace if the peer does not close its side). */
  close(reason = 'closed locally'): void {
    if (this.closed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.finish(reason, false);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private receive(d: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(d);
    } catch (e) {
      this.socket.destroy();
      this.finish(`malformed frame: ${(e as Error).message}`);
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      if (f.type === FrameType.CONTROL) this.handlers.onMessage?.(f.msg);
      else if (f.type === FrameType.DATA) this.handlers.onData?.(f.bytes);
      else this.handlers.onDataEnd?.();
    }
  }

  private finish(reason: string, destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    if (destroy) this.socket.destroy();
    this.handlers.onClose?.(reason);
  }
}

/** "HOST:PORT" (IPv6 as "[::1]:PORT") or a unix socket path (anything with a "/" or without a port). */
export type Address = { readonly host: string; readonly port: number } | { readonly path: string };

export function parseAddress(s: string): Address {
  const m = /^\[?([^[\]]*?)\]?:(\d{1,5})$/.exec(s);
  if (!s.includes('/') && m) {
    const port = Number(m[2]);
    if (port > 65535) throw new Error(`port ${port} is out of range in address "${s}"`);
    return { host: m[1] === '' ? '127.0.0.1' : m[1]!, port };
  }
  if (s.length === 0) throw new Error('empty address');
  return { path: s };
}

export function formatAddress(a: Address): string {
  if ('path' in a) return a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Listen on `addr` (port 0 = any free port); resolves with the server and the address actually bound. */
export function listen(addr: string, onConnection: (c: Connection) => void, maxFrame = DEFAULT_MAX_FRAME): Promise<{ server: Server; address: string }> {
  const a = parseAddress(addr);
  const server = createServer((s) => onConnection(new Connection(s, maxFrame)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const bound = (): void => {
      server.off('error', reject);
      const info = server.address();
      const actual = typeof info === 'object' && info !== null && 'host' in a ? formatAddress({ host: a.host, port: info.port }) : addr;
      resolve({ server, address: actual });
    };
    if ('path' in a) server.listen(a.path, bound);
    else server.listen(a.port, a.host, bound);
  });
}

/** Connect to `addr`, failing after `timeoutMs`. */
export function connect(addr: string, timeoutMs = 5000, maxFrame = DEFAULT_MAX_FRAME): Promise<Connection> {
  const a = parseAddress(addr);
  return new Promise((resolve, reject) => {
    const socket = 'path' in a ? netConnect(a.path) : netConnect(a.port, a.host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${addr} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(new Connection(socket, maxFrame));
    });
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${addr}: ${e.message}`));
    };
    socket.once('error', fail);
  });
}
