/**
 * Moving a prefilled sequence from a prefill worker to a decode worker.
 *
 * Transfer envelope, version 1 (little-endian):
 *   0   8 B   magic "TNDMXFER"
 *   8   u32   envelope version (1)
 *   12  u32   state blob length S
 *   16  u32   logits count V
 *   20  S B   the sequence state, as model/state-codec.ts serializes it (it carries its own SHA-256)
 *       pad   zero bytes up to a multiple of 4
 *       f32×V last-token logits (the decode worker samples the first token from them)
 *   end 32 B  SHA-256 of every byte before it
 *
 * The prefill worker keeps each envelope under a lease (a random transfer id) until a decode worker pulls it, the
 * lease expires, or the request is cancelled. The decode worker pulls it straight from the prefill worker over a
 * pull connection (the frontend never touches the bytes), then checks both checksums before restoring anything.
 */
import { createHash, randomUUID } from 'node:crypto';
import { TandemError } from '../../errors.js';
import type { ModelConfig } from '../../formats/config.js';
import { deserializeState, serializeState } from '../../model/state-codec.js';
import type { SequenceState } from '../../model/state.js';
import type { TransferMeta } from './messages.js';
import { connect, encodeFrame, FrameType, type Connection } from './transport.js';

const MAGIC = 'TNDMXFER';
const VERSION = 1;
const HEAD = 20;
const HASH = 32;

export interface Prefilled {
  readonly state: SequenceState;
  readonly logits: Float32Array;
}

export function encodeTransfer(cfg: ModelConfig, p: Prefilled): Uint8Array {
  const blob = serializeState(cfg, p.state);
  const logitsOff = Math.ceil((HEAD + blob.length) / 4) * 4;
  const buf = new Uint8Array(logitsOff + 4 * p.logits.length + HASH);
  const dv = new DataView(buf.buffer);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, blob.length, true);
  dv.setUint32(16, p.logits.length, true);
  buf.set(blob, HEAD);
  for (let i = 0; i < p.logits.length; i++) dv.setFloat32(logitsOff + 4 * i, p.logits[i]!, true);
  const end = buf.length - HASH;
  buf.set(createHash('sha256').update(buf.subarray(0, end)).digest(), end);
  return buf;
}

const refuse = (why: string): TandemError => new TandemError('BAD_STATE', `state transfer refused: ${why}`);

/** Check and unpack an envelope; any flipped, missing or extra byte is a BAD_STATE error. */
export function decodeTransfer(cfg: ModelConfig, fingerprint: string, buf: Uint8Array): Prefilled {
  if (buf.length < HEAD + HASH || new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) {
    throw refuse('not a Tandem transfer envelope (bad magic or too short)');
  }
  const end = buf.length - HASH;
  const digest = createHash('sha256').update(buf.subarray(0, end)).digest();
  if (!digest.equals(buf.subarray(end))) throw refuse('checksum mismatch (the transferred state is corrupt or truncated)');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== VERSION) throw refuse(`envelope version ${version}, this Tandem reads version ${VERSION}`);
  const stateLen = dv.getUint32(12, true);
  const vocab = dv.getUint32(16, true);
  const logitsOff = Math.ceil((HEAD + stateLen) / 4) * 4;
  if (logitsOff + 4 * vocab !== end) throw refuse('its size does not match its header');
  if (vocab !== cfg.vocabSize) throw refuse(`it carries ${vocab} logits, this model has a vocabulary of ${cfg.vocabSize}`);
  const state = deserializeState(cfg, fingerprint, buf.subarray(HEAD, HEAD + stateLen));
  const logits = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) logits[i] = dv.getFloat32(logitsOff + 4 * i, true);
  return { state, logits };
}

interface Lease {
  readonly blob: Uint8Array;
  readonly owner: string;
  readonly reqId: string;
  readonly timer: NodeJS.Timeout;
}

/** Envelopes waiting to be pulled, each under a lease; `owner` is the job (connection + rid) that made it. */
export class LeaseStore {
  readonly #leases = new Map<string, Lease>();
  /** How leases ended so far. */
  readonly ended = { pulled: 0, cancelled: 0, expired: 0 };

  constructor(private readonly leaseMs: number) {}

  get size(): number {
    return this.#leases.size;
  }

  put(owner: string, reqId: string, blob: Uint8Array): string {
    const id = randomUUID();
    const timer = setTimeout(() => {
      if (this.#leases.delete(id)) this.ended.expired++;
    }, this.leaseMs);
    timer.unref();
    this.#leases.set(id, { blob, owner, reqId, timer });
    return id;
  }

  /** Remove and return the envelope (a transfer can be pulled once). */
  take(id: string): { blob: Uint8Array; reqId: string } | undefined {
    const l = this.#leases.get(id);
    if (!l) return undefined;
    this.#drop(id, l);
    this.ended.pulled++;
    return { blob: l.blob, reqId: l.reqId };
  }

  /** Free every lease whose owner matches (a cancelled job, or all jobs of a closed connection by prefix). */
  release(match: (owner: string) => boolean): number {
    let n = 0;
    for (const [id, l] of this.#leases) {
      if (!match(l.owner)) continue;
      this.#drop(id, l);
      this.ended.cancelled++;
      n++;
    }
    return n;
  }

  #drop(id: string, l: Lease): void {
    clearTimeout(l.timer);
    this.#leases.delete(id);
  }
}

/**
 * Test hook, active only when the prefill worker's environment has TANDEM_DISAGG_FAULTS=1: a request whose id starts
 * with "fault:flip" is served with one byte flipped, "fault:truncate" with its last third cut off (the announced size
 * is the cut size, so only the checksum can tell), "fault:drop" by a connection that closes halfway (servePull).
 */
export function injectFault(blob: Uint8Array, reqId: string): Uint8Array {
  if (reqId.startsWith('fault:flip')) {
    const copy = blob.slice();
    const i = copy.length >> 1;
    copy[i] = copy[i]! ^ 0x40;
    return copy;
  }
  if (reqId.startsWith('fault:truncate')) return blob.subarray(0, blob.length - Math.max(1, Math.floor(blob.length / 3)));
  return blob;
}

/** Prefill side of a pull connection: send the leased envelope (freeing the lease) or a pull-error. */
export async function servePull(conn: Connection, transferId: string, leases: LeaseStore, faults: boolean): Promise<void> {
  const got = leases.take(transferId);
  if (!got) {
    conn.send({ t: 'pull-error', message: `transfer ${transferId} is unknown: already pulled, cancelled, or its lease expired` });
    return;
  }
  const blob = faults ? injectFault(got.blob, got.reqId) : got.blob;
  conn.send({ t: 'transfer', bytes: blob.length });
  if (faults && got.reqId.startsWith('fault:drop')) {
    conn.socket.write(encodeFrame(FrameType.DATA, blob.subarray(0, blob.length >> 1)));
    return conn.close('fault injection: dropped halfway');
  }
  await conn.sendBytes(blob);
}

export interface PullOptions {
  readonly signal: AbortSignal;
  /** Fail when no byte arrives for this long. */
  readonly idleMs: number;
}

/** Decode side: fetch the envelope described by `meta` from its prefill worker. */
export async function pullTransfer(meta: TransferMeta, o: PullOptions): Promise<Uint8Array> {
  o.signal.throwIfAborted();
  const conn = await connect(meta.address, o.idleMs);
  if (o.signal.aborted) {
    conn.close();
    o.signal.throwIfAborted();
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    let buf: Uint8Array | undefined;
    let got = 0;
    let timer: NodeJS.Timeout | undefined;
    const fail = (e: Error): void => {
      cleanup();
      conn.close();
      reject(e);
    };
    const onAbort = (): void => fail(o.signal.reason instanceof Error ? o.signal.reason : new Error('aborted'));
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new Error(`state transfer from ${meta.address} stalled for ${o.idleMs} ms`)), o.idleMs);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      conn.handlers = {};
    };
    o.signal.addEventListener('abort', onAbort, { once: true });
    arm();
    conn.handlers = {
      onMessage: (m) => {
        arm();
        if (m.t === 'pull-error') fail(new Error(`state transfer failed: ${String(m.message)}`));
        else if (m.t === 'transfer' && typeof m.bytes === 'number' && buf === undefined) buf = new Uint8Array(m.bytes);
        else fail(new Error(`unexpected "${m.t}" message on a pull connection`));
      },
      onData: (bytes) => {
        arm();
        if (buf === undefined || got + bytes.length > buf.length) return fail(new Error('state transfer sent more bytes than it announced'));
        buf.set(bytes, got);
        got += bytes.length;
      },
      onDataEnd: () => {
        if (buf === undefined || got !== buf.length) return fail(new Error(`state transfer ended after ${got} of ${buf?.length ?? '?'} bytes`));
        cleanup();
        conn.close();
        resolve(buf);
      },
      onClose: (why) => fail(new Error(`state transfer from ${meta.address} interrupted: ${why}`)),
    };
    conn.send({ t: 'pull', transferId: meta.transferId });
  });
}
